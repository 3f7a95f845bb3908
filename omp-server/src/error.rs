//! The server's error types, one per layer: [`ConfigError`] (settings),
//! [`StoreError`] (database), [`ServerError`] (start-up and run).

use std::path::PathBuf;

/// A setting could not be read or makes no sense; names the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The `--config` file could not be read.
    #[error("cannot read config file {path}: {source}")]
    ReadFile {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The `--config` file is not valid (unknown key, bad value); the
    /// message from the TOML parser names the key and line.
    #[error("config file {path}: {message}")]
    File {
        /// The file.
        path: PathBuf,
        /// The parser's message.
        message: String,
    },
    /// A value parses but is out of range.
    #[error("setting {key} = {value:?}: {reason}")]
    BadValue {
        /// The setting's key (as in the TOML file).
        key: &'static str,
        /// The value given.
        value: String,
        /// Why it is refused.
        reason: String,
    },
    /// One of two settings that go together is given alone.
    #[error(
        "setting {missing} is missing: {given} is set, and the two are given together or not at all"
    )]
    MissingPair {
        /// The key not given.
        missing: &'static str,
        /// The key given.
        given: &'static str,
    },
}

/// A database operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The writer lost its database connection and waits before trying
    /// to make it again; the batch was not written.
    #[error("the database connection is lost; trying again in {} ms", retry_in.as_millis())]
    Reconnecting {
        /// Until the next attempt.
        retry_in: std::time::Duration,
    },
    /// SQLite / sqlx failed.
    #[error("database: {0}")]
    Sqlx(#[from] sqlx::Error),
    /// Migrations failed to apply.
    #[error("migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The database file exists but this user cannot open it for writing.
    #[error(
        "database file {path} is not writable by this user ({source}): fix its owner (chown it \
         to the user the server runs as) or permissions, or pass another --data-dir"
    )]
    FileNotWritable {
        /// The file.
        path: std::path::PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// SQLite could not open the database file (or its `-wal` / `-shm`).
    #[error(
        "cannot open database {path}: {source}; the user the server runs as needs to read and \
         write it, its -wal and -shm files and its directory (check owner and permissions), or \
         pass another --data-dir"
    )]
    CannotOpen {
        /// The file.
        path: std::path::PathBuf,
        /// SQLite's error.
        source: sqlx::Error,
    },
    /// The database file could not be created.
    #[error("cannot create database file {path}: {source}")]
    File {
        /// The file.
        path: std::path::PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The writer's thread or runtime could not be started.
    #[error("cannot start the database writer's thread: {source}")]
    WriterThread {
        /// The OS error.
        source: std::io::Error,
    },
    /// A PostgreSQL URL that does not parse.
    #[error(
        "the PostgreSQL URL does not parse: {reason} (the form is postgres://user:password@host:port/database)"
    )]
    PostgresUrl {
        /// The parser's reason.
        reason: String,
    },
    /// PostgreSQL could not be reached or refused the connection.
    #[error("cannot connect to PostgreSQL at {target}: {source}")]
    PostgresUnreachable {
        /// Host, port and database (never the password).
        target: crate::store::postgres::Target,
        /// The driver's error.
        source: sqlx::Error,
    },
    /// The database has a migration this binary does not know.
    #[error(
        "the database at {target} has schema migration {version}, which this omp-server does not \
         know: a newer omp-server has run on it; run that version (or newer) instead"
    )]
    SchemaNewer {
        /// Host, port and database.
        target: crate::store::postgres::Target,
        /// The unknown migration.
        version: i64,
    },
    /// The group-commit writer has stopped (shutdown or a fatal error).
    #[error("the delivery writer has stopped")]
    WriterGone,
    /// A statement's answer does not match what it was asked (the batch
    /// is rolled back).
    #[error("database answered unexpectedly: {0}")]
    Unexpected(String),
    /// A value read from the database does not fit its GMMP field.
    #[error("stored {field} {value:?} does not fit its GMMP field")]
    BadStoredValue {
        /// The field.
        field: &'static str,
        /// The value.
        value: String,
    },
}

/// Start-up or run failure of the server.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// Bad settings.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Database failure.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The data directory could not be created.
    #[error("cannot create data directory {path}: {source}")]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The data directory's path names something other than a directory.
    #[error(
        "data directory {path} exists but is not a directory: remove it, or pass another \
         --data-dir (OMP_DATA_DIR, data_dir in the file)"
    )]
    DataDirNotADirectory {
        /// The path.
        path: PathBuf,
    },
    /// The data directory exists but this user cannot write in it.
    #[error(
        "data directory {path} is not writable by this user ({source}): fix its owner or \
         permissions, or pass another --data-dir"
    )]
    DataDirNotWritable {
        /// The directory.
        path: PathBuf,
        /// The error creating a file in it.
        source: std::io::Error,
    },
    /// A `provision` command names a data directory that does not exist.
    #[error(
        "data directory {path} does not exist, and `omp-server provision` does not create one: \
         pass the --data-dir the server runs with (OMP_DATA_DIR, data_dir in its config file), \
         or start the server once first to create it"
    )]
    ProvisionWithoutDataDir {
        /// The directory, made absolute.
        path: PathBuf,
    },
    /// `omp-server export` found no database in the data directory.
    #[error(
        "no database at {path}: pass the --data-dir the server runs with (OMP_DATA_DIR, \
         data_dir in its config file)"
    )]
    ExportWithoutDatabase {
        /// The database file, made absolute.
        path: PathBuf,
    },
    /// `omp-server migrate --from` names a directory without a database.
    #[error("no database at {path}: pass the data directory the server ran with as --from")]
    MigrateWithoutDatabase {
        /// The database file, made absolute.
        path: PathBuf,
    },
    /// `omp-server migrate` found rows in the target.
    #[error(
        "the PostgreSQL database at {target} already holds rows (tables {tables}): migrate into \
         an empty database, or pass --replace-target to empty it first"
    )]
    MigrateTargetNotEmpty {
        /// Host, port and database.
        target: crate::store::postgres::Target,
        /// The tables with rows.
        tables: String,
    },
    /// A copied table did not read back as it was read (rolled back).
    #[error(
        "table {table} did not verify: {source_rows} rows read from SQLite, {target_rows} read \
         back from PostgreSQL, or their checksums differ; nothing was committed"
    )]
    MigrateVerify {
        /// The table.
        table: &'static str,
        /// Rows read from the source.
        source_rows: u64,
        /// Rows read back from the target.
        target_rows: u64,
    },
    /// `omp-server export` could not write its output.
    #[error("cannot write the export: {0}")]
    ExportWrite(#[source] std::io::Error),
    /// Another server holds the data directory.
    #[error(
        "data directory {path} is in use by another omp-server (pid {holder}): stop that one, \
         or give this one another --data-dir"
    )]
    DataDirInUse {
        /// The directory.
        path: PathBuf,
        /// The PID written by the holder (empty if it could not be read).
        holder: String,
    },
    /// A listen address could not be bound.
    #[error(
        "cannot listen on {addr}: {source}; if another program (or another omp-server) holds \
         the port, give this one another address with --gmmp-listen, --mqtt-listen, \
         --mqtts-listen or --http-listen (`--mqtt-listen none` runs without MQTT, \
         `--mqtts-listen none` without MQTTS)"
    )]
    Bind {
        /// The address.
        addr: std::net::SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// A server task panicked or was cancelled.
    #[error("server task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
    /// No usable MQTTS certificate (settings `mqtts_cert`, `mqtts_key`
    /// or the generated pair).
    #[error(transparent)]
    Tls(#[from] crate::mqtt::tls::certificate::TlsError),
    /// No usable API key (setting `api_key` or the key file).
    #[error("api_key: {0}")]
    ApiKey(#[from] crate::http::auth::ApiKeyError),
    /// The HTTP API failed while serving.
    #[error("HTTP API on {addr}: {source}")]
    Http {
        /// The HTTP listen address.
        addr: std::net::SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}
