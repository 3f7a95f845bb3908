//! Layering flags and environment over the file over the defaults.

use super::file::FileValues;
use super::*;

impl Config {
    /// Merges flags/environment over the file named by `--config` (if any)
    /// over the defaults, and checks the result.
    pub fn load(settings: &Settings) -> Result<Config, ConfigError> {
        let mut file = match &settings.config {
            Some(path) => FileValues::read(path)?,
            None => FileValues::default(),
        };
        let config = Config::resolve(settings, &mut file)?;
        file.finish()?;
        config.check()?;
        Ok(config)
    }
}
