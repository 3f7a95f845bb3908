//! The `declare_settings!` macro: from one line per setting (key, type,
//! default, `OMP_…` variable, help) it writes
//!
//! - [`Settings`](super::Settings): the clap flags and environment
//!   variables, each `Option<T>` (`None` = not given), the help ending in
//!   the default;
//! - [`Config`](super::Config) and its groups: the typed values the
//!   server reads;
//! - `Config::defaults()` and `Config::resolve()`, which layers
//!   flag/environment over the TOML file over the default;
//! - [`SETTINGS`](super::SETTINGS): each setting's key, variable, default
//!   and help, for documentation and its test.
//!
//! A setting's default is one of
//! - `parsed("30s")`: written as a user would write it, parsed by the
//!   setting's own parser (a test parses them all);
//! - `computed("shown", function)`: computed at run time;
//! - `optional("shown")`: none; the [`Config`](super::Config) field is
//!   an `Option`.
//!
//! A setting inside `group field: Type { … }` is written
//! `field as key: …`: its key (flag, TOML key) is flat, its value lands in
//! `config.field.field`.

/// See the module documentation.
macro_rules! declare_settings {
    (
        $(#[$config_attr:meta])*
        pub struct $config:ident {
            $(
                $key:ident : $ty:ty = $kind:ident ( $($default:tt)* ),
                env $env:literal, $help:literal $(, arg($($arg:tt)*))? ;
            )*
        }
        $(
            $(#[$group_attr:meta])*
            group $group:ident : $group_ty:ident {
                $(
                    $gfield:ident as $gkey:ident : $gty:ty = $gkind:ident ( $($gdefault:tt)* ),
                    env $genv:literal, $ghelp:literal $(, arg($($garg:tt)*))? ;
                )*
            }
        )*
    ) => {
        /// Every setting as given by flag or environment; `None` = not
        /// given.
        #[derive(Debug, Default, Clone, clap::Args)]
        pub struct Settings {
            /// TOML file with settings (keys as the flags, with `_` for `-`).
            #[arg(long, env = "OMP_CONFIG", global = true)]
            pub config: Option<std::path::PathBuf>,
            $(
                #[arg(
                    long,
                    env = $env,
                    value_parser = <$ty as $crate::config::value::Setting>::parse,
                    help = declare_settings!(@help $help, $kind($($default)*)),
                    $($($arg)*)?
                )]
                #[doc = $help]
                pub $key: Option<$ty>,
            )*
            $($(
                #[arg(
                    long,
                    env = $genv,
                    value_parser = <$gty as $crate::config::value::Setting>::parse,
                    help = declare_settings!(@help $ghelp, $gkind($($gdefault)*)),
                    $($($garg)*)?
                )]
                #[doc = $ghelp]
                pub $gkey: Option<$gty>,
            )*)*
        }

        $(#[$config_attr])*
        pub struct $config {
            $(
                #[doc = $help]
                pub $key: declare_settings!(@type $kind, $ty),
            )*
            $(
                #[doc = concat!("The [`", stringify!($group_ty), "`] settings.")]
                pub $group: $group_ty,
            )*
        }

        $(
            $(#[$group_attr])*
            pub struct $group_ty {
                $(
                    #[doc = $ghelp]
                    pub $gfield: declare_settings!(@type $gkind, $gty),
                )*
            }
        )*

        /// Every setting: key, variable, default and help.
        pub const SETTINGS: &[$crate::config::SettingInfo] = &[
            $($crate::config::SettingInfo {
                key: stringify!($key),
                env: $env,
                default: declare_settings!(@shown $kind($($default)*)),
                help: $help,
            },)*
            $($($crate::config::SettingInfo {
                key: stringify!($gkey),
                env: $genv,
                default: declare_settings!(@shown $gkind($($gdefault)*)),
                help: $ghelp,
            },)*)*
        ];

        impl $config {
            /// The built-in defaults (what `omp-server` with no arguments
            /// runs with).
            pub fn defaults() -> $config {
                $config {
                    $($key: declare_settings!(@default $key, $ty, $kind($($default)*)),)*
                    $($group: $group_ty {
                        $($gfield: declare_settings!(@default $gkey, $gty, $gkind($($gdefault)*)),)*
                    },)*
                }
            }

            /// Each setting from `settings` (flag or environment), else
            /// from `file` (the TOML keys not yet taken; any left over are
            /// unknown), else its default.
            pub(super) fn resolve(
                settings: &Settings,
                file: &mut $crate::config::file::FileValues,
            ) -> Result<$config, $crate::config::ConfigError> {
                Ok($config {
                    $($key: declare_settings!(
                        @resolve settings.$key.clone(), file.take::<$ty>(stringify!($key))?,
                        $key, $ty, $kind($($default)*)
                    ),)*
                    $($group: $group_ty {
                        $($gfield: declare_settings!(
                            @resolve settings.$gkey.clone(), file.take::<$gty>(stringify!($gkey))?,
                            $gkey, $gty, $gkind($($gdefault)*)
                        ),)*
                    },)*
                })
            }
        }
    };

    (@type optional, $ty:ty) => { Option<$ty> };
    (@type $kind:ident, $ty:ty) => { $ty };

    (@shown $kind:ident($shown:literal $(, $function:path)?)) => { $shown };

    (@help $help:literal, optional($shown:literal)) => { $help };
    (@help $help:literal, $kind:ident($shown:literal $(, $function:path)?)) => {
        concat!($help, " [default: ", $shown, "]")
    };

    (@default $key:ident, $ty:ty, parsed($text:literal)) => {
        <$ty as $crate::config::value::Setting>::parse($text).unwrap_or_else(|e| {
            panic!("built-in default of {} ({:?}): {e}", stringify!($key), $text)
        })
    };
    (@default $key:ident, $ty:ty, computed($shown:literal, $function:path)) => { $function() };
    (@default $key:ident, $ty:ty, optional($shown:literal)) => { None };

    (@resolve $given:expr, $file:expr, $key:ident, $ty:ty, optional($shown:literal)) => {
        $given.or($file)
    };
    (@resolve $given:expr, $file:expr, $key:ident, $ty:ty, $kind:ident($($default:tt)*)) => {
        match $given.or($file) {
            Some(value) => value,
            None => declare_settings!(@default $key, $ty, $kind($($default)*)),
        }
    };
}

pub(super) use declare_settings;
