//! The flags and `GW_AGENT_…` variables, built from the declared settings
//! ([`super::keys::ALL`]): one global flag per setting that has one, its
//! variable, its help with its default, and its values checked as the
//! setting's type reads them.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::PathBuf;

use clap::parser::ValueSource;
use clap::{Arg, ArgAction, ArgMatches, Command, FromArgMatches};

use super::keys::ALL;
use super::setting::{Fallback, Setting, env_name};

/// The id and name of the flag naming the TOML file.
const CONFIG_FLAG: &str = "config";

/// What the flags and variables give; each wins over the file.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// The TOML file (`--config`).
    pub config: Option<PathBuf>,
    /// Each setting given, by key: its text and where it came from.
    pub(super) given: BTreeMap<&'static str, Given>,
}

/// A setting's value from a flag or a variable.
#[derive(Debug, Clone)]
pub(super) struct Given {
    /// As typed (a switch: the value it stands for).
    pub(super) text: String,
    /// `--baud` or `GW_AGENT_BAUD`, for errors.
    pub(super) origin: String,
}

impl Overrides {
    /// Parses flags as `gw-agent` would (the first item is the program's
    /// name), with the environment's `GW_AGENT_…` variables.
    pub fn try_parse_from<I, T>(args: I) -> Result<Overrides, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString> + Clone,
    {
        let command = <Overrides as clap::Args>::augment_args(Command::new("gw-agent"));
        Overrides::from_arg_matches(&command.try_get_matches_from(args)?)
    }
}

/// `--help`'s words for a setting: its help, then its default.
fn help(setting: &Setting) -> String {
    let sentence = setting.help.trim_end_matches('.');
    match setting.fallback {
        Fallback::Absent(words) if words.starts_with("required") => {
            format!("{sentence} [{}]", words.replace('`', ""))
        }
        Fallback::Absent(words) => {
            format!("{sentence} [default: {}]", words.replace('`', ""))
        }
        fallback => {
            let text = fallback.text().unwrap_or_default();
            match setting.switch {
                // A switch has no value of its own: show the setting's.
                Some(_) => format!("{sentence} [default: {} = {text}]", setting.key),
                None => format!("{sentence} [default: {text}]"),
            }
        }
    }
}

fn arg(setting: &'static Setting, flag: &'static str) -> Arg {
    let arg = Arg::new(flag)
        .long(flag)
        .global(true)
        .env(env_name(flag))
        .hide_env_values(setting.secret)
        .help(help(setting));
    if setting.switch.is_some() {
        return arg.action(ArgAction::SetTrue);
    }
    let check = setting.check_text;
    let arg = arg
        .action(ArgAction::Set)
        .value_name(flag.to_ascii_uppercase().replace('-', "_"));
    if setting.choices.is_empty() {
        arg.value_parser(move |text: &str| check(text).map(|()| text.to_owned()))
    } else {
        arg.value_parser(clap::builder::PossibleValuesParser::new(setting.choices))
    }
}

impl clap::Args for Overrides {
    fn augment_args(command: Command) -> Command {
        let config = Arg::new(CONFIG_FLAG)
            .long(CONFIG_FLAG)
            .global(true)
            .env(env_name(CONFIG_FLAG))
            .value_name("CONFIG")
            .value_parser(clap::value_parser!(PathBuf))
            .help("TOML configuration file");
        ALL.iter()
            .filter_map(|s| s.flag.map(|flag| arg(s, flag)))
            .fold(command.arg(config), Command::arg)
    }

    fn augment_args_for_update(command: Command) -> Command {
        Self::augment_args(command)
    }
}

impl FromArgMatches for Overrides {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        let mut overrides = Overrides::default();
        overrides.update_from_arg_matches(matches)?;
        Ok(overrides)
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        if let Some(path) = matches.get_one::<PathBuf>(CONFIG_FLAG) {
            self.config = Some(path.clone());
        }
        for setting in ALL {
            let Some(flag) = setting.flag else { continue };
            let origin = match matches.value_source(flag) {
                Some(ValueSource::CommandLine) => format!("--{flag}"),
                Some(ValueSource::EnvVariable) => env_name(flag),
                _ => continue,
            };
            let text = match setting.switch {
                Some(value) if matches.get_flag(flag) => value.to_owned(),
                Some(_) => continue,
                None => match matches.get_one::<String>(flag) {
                    Some(text) => text.clone(),
                    None => continue,
                },
            };
            self.given.insert(setting.key, Given { text, origin });
        }
        Ok(())
    }
}
