//! Merging flags and environment over the file over the defaults.

use std::time::Duration;

use super::file::{FileSettings, read_file};
use super::*;

impl Config {
    /// Merges flags/environment over the file named by `--config` (if any)
    /// over the defaults, and checks the result.
    pub fn load(settings: &Settings) -> Result<Config, ConfigError> {
        let file = match &settings.config {
            Some(path) => read_file(path)?,
            None => FileSettings::default(),
        };
        let mut c = Config::defaults();
        let ff_timeout = pick_duration(
            "first_frame_timeout",
            settings.first_frame_timeout,
            &file.first_frame_timeout,
        )?;
        macro_rules! pick {
            ($($field:ident),*) => {$(
                if let Some(v) = settings.$field.clone().or(file.$field.clone()) {
                    c.$field = v;
                }
            )*};
        }
        pick!(
            gmmp_listen,
            http_listen,
            data_dir,
            provisioning,
            heartbeat_grace,
            max_connections,
            max_connection_buffer,
            max_unauthenticated,
            max_unauthenticated_per_ip,
            http_max_connections,
            http_body_limit,
            writer_batch_max,
            writer_queue_capacity,
            backoff_seconds,
            allowed_domains,
            trace_gmmp
        );
        if let Some(v) = settings.mqtt_listen.or(file.mqtt_listen) {
            c.mqtt_listen = v.0;
        }
        c.api_key = settings.api_key.clone().or(file.api_key.clone());
        if let Some(d) = pick_duration("control_ttl", settings.control_ttl, &file.control_ttl)? {
            c.control.ttl = d;
        }
        if let Some(d) = pick_duration(
            "control_completion_timeout",
            settings.control_completion_timeout,
            &file.control_completion_timeout,
        )? {
            c.control.completion_timeout = d;
        }
        if let Some(n) = settings
            .control_max_in_flight
            .or(file.control_max_in_flight)
        {
            c.control.max_in_flight = n;
        }
        if let Some(d) = ff_timeout {
            c.first_frame_timeout = d;
        }
        if let Some(d) =
            pick_duration("frame_timeout", settings.frame_timeout, &file.frame_timeout)?
        {
            c.frame_timeout = d;
        }
        if let Some(d) = pick_duration("split_expiry", settings.split_expiry, &file.split_expiry)? {
            c.split_expiry = d;
        }
        if let Some(d) = pick_duration("auth_timeout", settings.auth_timeout, &file.auth_timeout)? {
            c.auth_timeout = d;
        }
        if let Some(d) = pick_duration(
            "http_idle_timeout",
            settings.http_idle_timeout,
            &file.http_idle_timeout,
        )? {
            c.http_idle_timeout = d;
        }
        if let Some(d) = pick_duration(
            "http_body_deadline",
            settings.http_body_deadline,
            &file.http_body_deadline,
        )? {
            c.http_body_deadline = d;
        }
        macro_rules! pick_profile {
            ($($field:ident => $target:ident),*) => {$(
                if let Some(v) = settings.$field.clone().or(file.$field.clone()) {
                    c.profile_defaults.$target = v;
                }
            )*};
        }
        pick_profile!(
            default_heartbeat_period => heartbeat_period,
            default_report_period => report_period,
            default_report_offset => report_offset,
            default_response_timeout => response_timeout,
            default_model => model,
            default_firmware_version => firmware_version,
            default_software_version => software_version,
            default_hardware_version => hardware_version
        );
        c.check()?;
        Ok(c)
    }
}

/// A duration setting: the flag/environment value, else the file's
/// humantime string (a bad one names `key`).
fn pick_duration(
    key: &'static str,
    given: Option<Duration>,
    file: &Option<String>,
) -> Result<Option<Duration>, ConfigError> {
    match (given, file) {
        (Some(d), _) => Ok(Some(d)),
        (None, Some(s)) => {
            humantime::parse_duration(s)
                .map(Some)
                .map_err(|e| ConfigError::BadValue {
                    key,
                    value: s.clone(),
                    reason: e.to_string(),
                })
        }
        (None, None) => Ok(None),
    }
}
