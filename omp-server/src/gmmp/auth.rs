//! Authentication of a request after registration (docs/gmmp.md §6.3): the
//! header's auth_id must be registered, its auth_key must be that GW's
//! key, and the body's GW ID and domain must be that GW's. A plain
//! function over the directory: no IO.

use std::sync::Arc;

use gmmp_codec::{Header, Message};

use crate::directory::{Directory, GatewayEntry};

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// No registered GW has this auth_id.
    #[error("auth_id {auth_id} is not registered")]
    UnknownAuthId {
        /// The auth_id (escaped for display).
        auth_id: String,
    },
    /// The auth_key is not the one assigned.
    #[error("wrong auth_key {got:?} for auth_id {auth_id}")]
    WrongKey {
        /// The auth_id.
        auth_id: String,
        /// The key sent (escaped).
        got: String,
    },
    /// The body names another GW.
    #[error("auth_id {auth_id} is GW {expected}, but the request names GW {got}")]
    WrongGwId {
        /// The auth_id.
        auth_id: String,
        /// Its GW ID.
        expected: String,
        /// The GW ID in the body.
        got: String,
    },
    /// The body names another domain.
    #[error("GW {gw_id} registered in domain {expected}, but the request names {got}")]
    WrongDomain {
        /// The GW.
        gw_id: String,
        /// Its domain.
        expected: String,
        /// The domain in the body.
        got: String,
    },
    /// A response (0x0E) on a connection not bound to a GW: it answers
    /// nothing this server asked.
    #[error("a {message_type} on a connection not bound to a GW")]
    NotBound {
        /// The message's operation name.
        message_type: &'static str,
    },
    /// The connection is bound to another GW.
    #[error("this connection belongs to GW {bound}, not to auth_id {got}")]
    OtherSession {
        /// The GW the connection is bound to.
        bound: String,
        /// The auth_id of this request.
        got: String,
    },
}

/// Checks `header` and `message` against the directory; the GW on success.
pub fn authenticate(
    directory: &Directory,
    header: &Header,
    message: &Message,
) -> Result<Arc<GatewayEntry>, Refusal> {
    let auth_id = header.auth_id.to_display_string();
    let entry = header
        .auth_id
        .as_str()
        .and_then(|id| directory.get(id))
        .ok_or_else(|| Refusal::UnknownAuthId {
            auth_id: auth_id.to_string(),
        })?;
    // Constant time: how fast a wrong key is refused says nothing of it.
    if !crate::secret::same(entry.auth_key.as_bytes(), header.auth_key.as_bytes()) {
        return Err(Refusal::WrongKey {
            auth_id: auth_id.to_string(),
            got: header.auth_key.to_display_string().into_owned(),
        });
    }
    if let Some(gw_id) = message.gw_id()
        && gw_id.as_bytes() != entry.gw_id.as_bytes()
    {
        return Err(Refusal::WrongGwId {
            auth_id: auth_id.to_string(),
            expected: entry.gw_id.clone(),
            got: gw_id.to_display_string().into_owned(),
        });
    }
    if message.domain_code().as_bytes() != entry.domain.as_bytes() {
        return Err(Refusal::WrongDomain {
            gw_id: entry.gw_id.clone(),
            expected: entry.domain.clone(),
            got: message.domain_code().to_display_string().into_owned(),
        });
    }
    Ok(entry)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::gateways::GatewayRecord;
    use gmmp_codec::{FixedStr, HeartbeatRequest};

    fn directory() -> Directory {
        Directory::load(
            vec![GatewayRecord {
                gw_id: "SC10010001".into(),
                auth_id: "0008dc1e3222".into(),
                auth_key: "SPabcdefghijklmn".into(),
                domain: "ThingPlug".into(),
                manufacture_id: "WIZnet".into(),
                registered_at: 0,
                deregistered_at: None,
                last_seen: None,
                last_peer: None,
                registration_lock: false,
            }],
            vec![],
        )
    }

    fn heartbeat(auth_id: &str, key: &str, gw_id: &str, domain: &str) -> (Header, Message) {
        let header = Header::new(
            FixedStr::new("auth_id", auth_id).unwrap(),
            FixedStr::new("auth_key", key).unwrap(),
            1,
        );
        let body = HeartbeatRequest {
            domain_code: FixedStr::new("domain_code", domain).unwrap(),
            gw_id: FixedStr::new("gw_id", gw_id).unwrap(),
        };
        (header, body.into())
    }

    #[test]
    fn the_right_key_and_gw_id_pass() {
        let (h, m) = heartbeat(
            "0008dc1e3222",
            "SPabcdefghijklmn",
            "SC10010001",
            "ThingPlug",
        );
        assert_eq!(
            authenticate(&directory(), &h, &m).unwrap().gw_id,
            "SC10010001"
        );
    }

    #[test]
    fn a_wrong_key_is_refused() {
        let (h, m) = heartbeat("0008dc1e3222", "SP10033827key", "SC10010001", "ThingPlug");
        assert!(matches!(
            authenticate(&directory(), &h, &m),
            Err(Refusal::WrongKey { .. })
        ));
    }

    #[test]
    fn another_gws_id_is_refused() {
        let (h, m) = heartbeat(
            "0008dc1e3222",
            "SPabcdefghijklmn",
            "SC10010002",
            "ThingPlug",
        );
        assert!(matches!(
            authenticate(&directory(), &h, &m),
            Err(Refusal::WrongGwId { .. })
        ));
    }

    #[test]
    fn an_unregistered_auth_id_is_refused() {
        let (h, m) = heartbeat(
            "ffffffffffff",
            "SPabcdefghijklmn",
            "SC10010001",
            "ThingPlug",
        );
        assert!(matches!(
            authenticate(&directory(), &h, &m),
            Err(Refusal::UnknownAuthId { .. })
        ));
    }

    #[test]
    fn another_domain_is_refused() {
        let (h, m) = heartbeat("0008dc1e3222", "SPabcdefghijklmn", "SC10010001", "Other");
        assert!(matches!(
            authenticate(&directory(), &h, &m),
            Err(Refusal::WrongDomain { .. })
        ));
    }
}
