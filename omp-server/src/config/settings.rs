//! Every setting, written once: its key (the TOML key; the flag is the
//! key with `-` for `_`), type, default, `OMP_…` variable and help.
//! [`declare_settings!`](super::declare) makes the flags, the file keys,
//! the defaults and the typed [`Config`] from this table.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::declare::declare_settings;
use super::defaults::default_max_connections;
use super::value::{List, Listen, Retention};
use super::{LogFormat, ProvisioningMode};

declare_settings! {
    /// The merged settings the server runs with.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct Config {
        gmmp_listen: SocketAddr = parsed("0.0.0.0:31002"), env "OMP_GMMP_LISTEN",
            "GMMP listen address.";
        mqtt_listen: Listen = parsed("0.0.0.0:1883"), env "OMP_MQTT_LISTEN",
            "MQTT listen address (MQTT 3.1 and 3.1.1 devices); `none` = no MQTT listener.";
        mqtts_listen: Listen = parsed("0.0.0.0:8883"), env "OMP_MQTTS_LISTEN",
            "MQTTS listen address: MQTT over TLS, and plain MQTT from clients that open without a TLS handshake; `none` = no MQTTS listener.";
        mqtts_cert: PathBuf = optional("none"), env "OMP_MQTTS_CERT",
            "PEM certificate (chain, leaf first) of the MQTTS port; with `mqtts_key`. Without both, a self-signed one made at the first start in the data directory.";
        mqtts_key: PathBuf = optional("none"), env "OMP_MQTTS_KEY",
            "PEM private key of `mqtts_cert` (PKCS#8, PKCS#1 or SEC1).";
        mqtt_max_packet_size: usize = parsed("262144"), env "OMP_MQTT_MAX_PACKET_SIZE",
            "Largest MQTT packet a client may send, bytes, fixed header included (at least 128); a longer remaining length closes the connection on the header alone, before anything is allocated.";
        http_listen: SocketAddr = parsed("127.0.0.1:8080"), env "OMP_HTTP_LISTEN",
            "HTTP API listen address.";
        data_dir: PathBuf = parsed("./omp-data"), env "OMP_DATA_DIR",
            "Data directory (the SQLite database `omp.sqlite3`, the API key file).",
            arg(global = true);
        database_url: String = optional("none"), env "OMP_DATABASE_URL",
            "PostgreSQL database to store everything in (`postgres://user:password@host:5432/db`, `?sslmode=require` for TLS); without it, the SQLite file in the data directory.",
            arg(global = true);
        instance_heartbeat: Duration = parsed("2s"), env "OMP_INSTANCE_HEARTBEAT",
            "On PostgreSQL, how often this instance says in the database that it is alive (its row in `instances`, and `last_seen` of its sessions); unused on SQLite.";
        provisioning: ProvisioningMode = parsed("approved"), env "OMP_PROVISIONING",
            "Who may register: `approved` (auth_ids added with `omp-server provision add`) or `open` (anyone).";
        api_key: String = optional("none"), env "OMP_API_KEY",
            "Key the HTTP API requires (`Authorization: Bearer <key>`); without it, the key kept in the data directory (made at the first start).";
        first_frame_timeout: Duration = parsed("30s"), env "OMP_FIRST_FRAME_TIMEOUT",
            "Time a new connection has to send its first valid frame (and idle limit of a connection not yet bound to a GW).";
        heartbeat_grace: u32 = parsed("2"), env "OMP_HEARTBEAT_GRACE",
            "A GW's session silent for heartbeat period × this factor is closed; period 0 = never.";
        max_connections: usize = computed("open-file limit − 500", default_max_connections),
            env "OMP_MAX_CONNECTIONS",
            "Most concurrent GMMP connections.";
        max_connection_buffer: usize = parsed("131072"), env "OMP_MAX_CONNECTION_BUFFER",
            "Most bytes one split delivery may carry in all; a part beyond it is refused.";
        frame_timeout: Duration = parsed("20s"), env "OMP_FRAME_TIMEOUT",
            "Time from a frame's first byte to its last; a slower frame closes the connection (slowloris guard).";
        split_expiry: Duration = parsed("120s"), env "OMP_SPLIT_EXPIRY",
            "A split delivery with no new part for this long is abandoned; its parts stay readable.";
        auth_timeout: Duration = parsed("60s"), env "OMP_AUTH_TIMEOUT",
            "Time a connection has to register or authenticate, whatever it sends meanwhile; refused frames do not extend it.";
        max_unauthenticated: usize = parsed("4096"), env "OMP_MAX_UNAUTHENTICATED",
            "Most connections not yet bound to a GW, whole server; a new one over it closes the oldest of them.";
        max_unauthenticated_per_ip: usize = parsed("512"), env "OMP_MAX_UNAUTHENTICATED_PER_IP",
            "Most connections not yet bound to a GW from one IPv4 address or IPv6 /64; a new one over it closes the oldest of that source.";
        registration_rate_per_ip: u32 = parsed("20"), env "OMP_REGISTRATION_RATE_PER_IP",
            "GW registrations per second from one IPv4 address or IPv6 /64 (mode `open`: all; mode `approved`: refused ones only); more are answered rc 0x0F and closed.";
        registration_burst_per_ip: u32 = parsed("100"), env "OMP_REGISTRATION_BURST_PER_IP",
            "GW registrations one IPv4 address or IPv6 /64 may make at once before `registration_rate_per_ip` applies.";
        http_max_connections: usize = parsed("1024"), env "OMP_HTTP_MAX_CONNECTIONS",
            "Most HTTP API connections open at once; more wait in the backlog.";
        http_header_timeout: Duration = parsed("10s"), env "OMP_HTTP_HEADER_TIMEOUT",
            "Time an HTTP request head has to arrive whole (and a keep-alive connection to start its next request); a slower one is closed.";
        http_request_deadline: Duration = parsed("90s"), env "OMP_HTTP_REQUEST_DEADLINE",
            "Time an HTTP request has from its head to its answer, body included, else 503; must exceed 60s, the longest `?wait=`.";
        http_idle_timeout: Duration = parsed("75s"), env "OMP_HTTP_IDLE_TIMEOUT",
            "An HTTP connection with no byte read or written for this long is closed; must exceed 60s, the longest `?wait=`.";
        http_body_limit: usize = parsed("65536"), env "OMP_HTTP_BODY_LIMIT",
            "Largest HTTP request body in bytes (at least 1024); a larger one gets 413, refused before it is read when its length is declared. A control with the largest data (32 KiB, Base64 in JSON) needs about 45 KB.";
        http_body_deadline: Duration = parsed("30s"), env "OMP_HTTP_BODY_DEADLINE",
            "Time an HTTP request body has to arrive whole from the request's start, else 400.";
        writer_batch_max: usize = parsed("1000"), env "OMP_WRITER_BATCH_MAX",
            "Most deliveries committed in one transaction.";
        writer_queue_capacity: usize = parsed("20000"), env "OMP_WRITER_QUEUE_CAPACITY",
            "Deliveries queued for the writer before answering rc 0x0F.";
        backoff_seconds: u32 = parsed("5"), env "OMP_BACKOFF_SECONDS",
            "Back-off time sent with rc 0x0F, seconds.";
        allowed_domains: List = computed("any", List::new), env "OMP_ALLOWED_DOMAINS",
            "Domain codes accepted at registration (comma-separated; a TOML array); none = any.";
        log_format: LogFormat = parsed("text"), env "OMP_LOG_FORMAT",
            "Log lines on stderr: `text` (coloured only on a terminal) or `json` (one object per line: timestamp, level, target, message and the line's fields).";
        summary_interval: Duration = parsed("1m"), env "OMP_SUMMARY_INTERVAL",
            "A one-line summary at info this often (deliveries and their rate, sessions, controls, writer queue); `0s` = none.";
        retention_deliveries: Retention = parsed("none"), env "OMP_RETENTION_DELIVERIES",
            "GMMP deliveries (abandoned split deliveries too) and MQTT messages with their data points older than this are removed (each topic's newest retained message stays); `none` = kept for ever.";
        retention_events: Retention = parsed("none"), env "OMP_RETENTION_EVENTS",
            "Events (`/api/v1/events`) older than this are removed; `none` = kept for ever.";
        retention_controls: Retention = parsed("none"), env "OMP_RETENTION_CONTROLS",
            "Controls ended (SUCCESS, FAILED, TIMEOUT, EXPIRED, CANCELLED) longer ago than this are removed with their timeline; open ones never; `none` = kept for ever.";
        retention_batch: u32 = parsed("1000"), env "OMP_RETENTION_BATCH",
            "Most rows one retention batch removes, in one short transaction of the writer.";
        retention_interval: Duration = parsed("1m"), env "OMP_RETENTION_INTERVAL",
            "How often a retention pass runs (when any retention period is set).";
        trace_gmmp: bool = parsed("false"), env "OMP_TRACE_GMMP",
            "Print the WizFi310-style trace of every GMMP frame.",
            arg(num_args = 0..=1, default_missing_value = "true");
    }

    /// Profile values answered when no profile is stored (docs/gmmp.md §4,
    /// 0x06).
    #[derive(Debug, Clone, PartialEq, Eq)]
    group profile_defaults: ProfileDefaults {
        heartbeat_period as default_heartbeat_period: u32 = parsed("10"),
            env "OMP_DEFAULT_HEARTBEAT_PERIOD",
            "Default profile heartbeat period, minutes; 0 = no heartbeats.";
        report_period as default_report_period: u32 = parsed("10"),
            env "OMP_DEFAULT_REPORT_PERIOD",
            "Default profile report period, minutes.";
        report_offset as default_report_offset: u32 = parsed("0"),
            env "OMP_DEFAULT_REPORT_OFFSET",
            "Default profile report offset, seconds.";
        response_timeout as default_response_timeout: u32 = parsed("30"),
            env "OMP_DEFAULT_RESPONSE_TIMEOUT",
            "Default profile response timeout, seconds.";
        model as default_model: String = computed("empty", String::new),
            env "OMP_DEFAULT_MODEL",
            "Default profile model (at most 32 bytes).";
        firmware_version as default_firmware_version: String = computed("empty", String::new),
            env "OMP_DEFAULT_FIRMWARE_VERSION",
            "Default profile firmware version (at most 16 bytes).";
        software_version as default_software_version: String = computed("empty", String::new),
            env "OMP_DEFAULT_SOFTWARE_VERSION",
            "Default profile software version (at most 16 bytes).";
        hardware_version as default_hardware_version: String = computed("empty", String::new),
            env "OMP_DEFAULT_HARDWARE_VERSION",
            "Default profile hardware version (at most 16 bytes).";
    }

    /// Settings of the control queue (GMMP 0x0D → 0x0E → 0x17).
    ///
    /// The time a gateway has to answer a control (0x0E) is not here: it
    /// is the gateway's profile `response_timeout` (GMMP 0x06), as for any
    /// GMMP request.
    #[derive(Debug, Clone, PartialEq, Eq)]
    group control: ControlConfig {
        ttl as control_ttl: Duration = parsed("1d"), env "OMP_CONTROL_TTL",
            "How long a control may wait QUEUED before it is EXPIRED, when its request gives no ttl_seconds.";
        completion_timeout as control_completion_timeout: Duration = parsed("5m"),
            env "OMP_CONTROL_COMPLETION_TIMEOUT",
            "Time from a gateway's control response (0x0E, PROGRESS) to its notification (0x17) before TIMEOUT; the 0x0E itself must come within the gateway's profile response timeout.";
        max_in_flight as control_max_in_flight: usize = parsed("1"),
            env "OMP_CONTROL_MAX_IN_FLIGHT",
            "Controls in flight (SENT or PROGRESS) at once per gateway or device; the rest wait in order.";
    }

    /// Settings of webhook deliveries (`/api/v1/webhooks`).
    #[derive(Debug, Clone, PartialEq, Eq)]
    group webhook: WebhookConfig {
        timeout as webhook_timeout: Duration = parsed("10s"), env "OMP_WEBHOOK_TIMEOUT",
            "Time a webhook receiver has to answer one POST (connect included); longer counts as a failed attempt.";
        retry_min as webhook_retry_min: Duration = parsed("1s"), env "OMP_WEBHOOK_RETRY_MIN",
            "Wait after a webhook's first failed attempt; it doubles (with jitter) on each further failure up to `webhook_retry_max`.";
        retry_max as webhook_retry_max: Duration = parsed("60s"), env "OMP_WEBHOOK_RETRY_MAX",
            "Longest wait between a webhook's attempts.";
        disable_after as webhook_disable_after: Duration = parsed("1d"), env "OMP_WEBHOOK_DISABLE_AFTER",
            "A webhook failing without a success for this long is disabled, the reason shown in its GET; enabling it again resumes from its cursor.";
    }
}
