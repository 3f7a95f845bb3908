//! Checking values that parse but make no sense, each error naming its
//! setting.

use super::*;

/// Smallest `http_body_limit`: room for any JSON request but control data.
const MIN_BODY_LIMIT: usize = 1024;
/// Smallest `mqtt_max_packet_size`: room for a CONNECT with a client id,
/// a username and a password of ordinary lengths.
const MIN_MQTT_PACKET_SIZE: usize = 128;

impl Config {
    /// Checks values that parse but make no sense.
    pub fn check(&self) -> Result<(), ConfigError> {
        // A certificate is of no use without its key, nor a key without
        // its certificate.
        match (&self.mqtts_cert, &self.mqtts_key) {
            (Some(_), None) => {
                return Err(ConfigError::MissingPair {
                    missing: "mqtts_key",
                    given: "mqtts_cert",
                });
            }
            (None, Some(_)) => {
                return Err(ConfigError::MissingPair {
                    missing: "mqtts_cert",
                    given: "mqtts_key",
                });
            }
            _ => {}
        }
        if let Some(url) = &self.database_url
            && !(url.starts_with("postgres://") || url.starts_with("postgresql://"))
        {
            // The value itself may hold a password: name only its scheme.
            let scheme = url.split_once("://").map_or("none", |(scheme, _)| scheme);
            return Err(ConfigError::BadValue {
                key: "database_url",
                value: format!("a URL of scheme {scheme}"),
                reason: "must be a PostgreSQL URL, postgres://user:password@host:port/database \
                         (leave it unset for the SQLite file in the data directory)"
                    .into(),
            });
        }
        let positive = [
            ("max_connections", self.max_connections),
            ("writer_batch_max", self.writer_batch_max),
            ("writer_queue_capacity", self.writer_queue_capacity),
            ("max_connection_buffer", self.max_connection_buffer),
            ("max_unauthenticated", self.max_unauthenticated),
            (
                "max_unauthenticated_per_ip",
                self.max_unauthenticated_per_ip,
            ),
            ("control_max_in_flight", self.control.max_in_flight),
            (
                "registration_rate_per_ip",
                self.registration_rate_per_ip as usize,
            ),
            (
                "registration_burst_per_ip",
                self.registration_burst_per_ip as usize,
            ),
            ("http_max_connections", self.http_max_connections),
            ("retention_batch", self.retention_batch as usize),
        ];
        for (key, value) in positive {
            if value == 0 {
                return Err(ConfigError::BadValue {
                    key,
                    value: "0".into(),
                    reason: "must be at least 1".into(),
                });
            }
        }
        if self.first_frame_timeout.is_zero() {
            return Err(ConfigError::BadValue {
                key: "first_frame_timeout",
                value: "0s".into(),
                reason: "must be longer than zero".into(),
            });
        }
        // The longest `?wait=` long-poll is silent on its connection by design.
        let longest_wait = Duration::from_secs(crate::http::controls::MAX_WAIT_SECONDS);
        if self.http_request_deadline <= longest_wait {
            return Err(ConfigError::BadValue {
                key: "http_request_deadline",
                value: humantime::format_duration(self.http_request_deadline).to_string(),
                reason: format!(
                    "must be longer than the longest ?wait= long-poll ({}s)",
                    longest_wait.as_secs()
                ),
            });
        }
        if self.http_idle_timeout <= longest_wait {
            return Err(ConfigError::BadValue {
                key: "http_idle_timeout",
                value: humantime::format_duration(self.http_idle_timeout).to_string(),
                reason: format!(
                    "must be longer than the longest ?wait= long-poll ({}s)",
                    longest_wait.as_secs()
                ),
            });
        }
        let durations = [
            ("control_ttl", self.control.ttl),
            (
                "control_completion_timeout",
                self.control.completion_timeout,
            ),
        ];
        for (key, value) in durations {
            if value < Duration::from_secs(1) {
                return Err(ConfigError::BadValue {
                    key,
                    value: humantime::format_duration(value).to_string(),
                    reason: "must be at least 1s".into(),
                });
            }
        }
        if self.mqtt_max_packet_size < MIN_MQTT_PACKET_SIZE {
            return Err(ConfigError::BadValue {
                key: "mqtt_max_packet_size",
                value: self.mqtt_max_packet_size.to_string(),
                reason: format!("must be at least {MIN_MQTT_PACKET_SIZE} bytes"),
            });
        }
        if self.http_body_limit < MIN_BODY_LIMIT {
            return Err(ConfigError::BadValue {
                key: "http_body_limit",
                value: self.http_body_limit.to_string(),
                reason: format!("must be at least {MIN_BODY_LIMIT} bytes"),
            });
        }
        for (key, value) in [
            ("frame_timeout", self.frame_timeout),
            ("split_expiry", self.split_expiry),
            ("auth_timeout", self.auth_timeout),
            ("http_body_deadline", self.http_body_deadline),
            ("http_header_timeout", self.http_header_timeout),
            ("retention_interval", self.retention_interval),
            ("instance_heartbeat", self.instance_heartbeat),
            // Zero would remove each row as it is stored; `none` keeps all.
            (
                "retention_deliveries",
                self.retention_deliveries.unwrap_or(Duration::MAX),
            ),
            (
                "retention_events",
                self.retention_events.unwrap_or(Duration::MAX),
            ),
            (
                "retention_controls",
                self.retention_controls.unwrap_or(Duration::MAX),
            ),
        ] {
            if value.is_zero() {
                return Err(ConfigError::BadValue {
                    key,
                    value: "0s".into(),
                    reason: "must be longer than zero".into(),
                });
            }
        }
        if self.heartbeat_grace == 0 {
            return Err(ConfigError::BadValue {
                key: "heartbeat_grace",
                value: "0".into(),
                reason: "must be at least 1".into(),
            });
        }
        let p = &self.profile_defaults;
        let widths = [
            ("default_model", &p.model, 32),
            ("default_firmware_version", &p.firmware_version, 16),
            ("default_software_version", &p.software_version, 16),
            ("default_hardware_version", &p.hardware_version, 16),
        ];
        for (key, value, width) in widths {
            if value.len() > width {
                return Err(ConfigError::BadValue {
                    key,
                    value: value.clone(),
                    reason: format!("longer than its {width}-byte GMMP field"),
                });
            }
        }
        for domain in &self.allowed_domains {
            if domain.is_empty() || domain.len() > 10 {
                return Err(ConfigError::BadValue {
                    key: "allowed_domains",
                    value: domain.clone(),
                    reason: "a domain code is 1..=10 bytes".into(),
                });
            }
        }
        Ok(())
    }
}
