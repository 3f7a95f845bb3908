//! [`ClientError`]: why a simulated gateway could not go on.

use gmmp_codec::CodecError;

/// Why a simulated gateway's step failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// A socket operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done (`connect 127.0.0.1:31002`).
        what: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The OMP sent bytes that are not a GMMP frame.
    #[error("gateway {auth_id}: bad frame from the OMP: {source}")]
    Codec {
        /// The simulated gateway's auth ID.
        auth_id: String,
        /// What the codec found.
        #[source]
        source: CodecError,
    },
    /// The OMP answered something the protocol does not allow here.
    #[error("gateway {auth_id}: {detail}")]
    Protocol {
        /// The simulated gateway's auth ID.
        auth_id: String,
        /// What was expected and what came.
        detail: String,
    },
    /// The OMP closed a session the bench was using.
    #[error("gateway {auth_id}: the OMP closed the session while {during}")]
    Closed {
        /// The simulated gateway's auth ID.
        auth_id: String,
        /// What the gateway was waiting for.
        during: &'static str,
    },
    /// GW registration was refused.
    #[error("gateway {auth_id}: registration refused with rc 0x{rc:02x} ({name})")]
    RegistrationRefused {
        /// The simulated gateway's auth ID.
        auth_id: String,
        /// The result code of the 0x02 response.
        rc: u8,
        /// Its name.
        name: &'static str,
    },
    /// No answer in time.
    #[error("{what}: no answer within {secs} s")]
    Timeout {
        /// What was waited for.
        what: String,
        /// The limit.
        secs: u64,
    },
}

impl ClientError {
    /// Wraps an IO error with what was being done.
    pub fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        ClientError::Io {
            what: what.into(),
            source,
        }
    }
}
