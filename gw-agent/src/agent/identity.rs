//! The identity file (`identity.json` in the state directory): the GW ID,
//! auth key and device IDs the OMP assigned, so a restart reuses them.
//! Written atomically and synced; the IDs are kept as hex of their bytes so
//! that they re-encode exactly. An identity stored for another auth ID is
//! ignored.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use gmmp_codec::FixedStr;
use serde::{Deserialize, Serialize};

use crate::engine::Identity;
use crate::status::write_atomic;

/// Name of the identity file.
pub(crate) const IDENTITY_FILE: &str = "identity.json";

#[derive(Debug, Serialize, Deserialize)]
struct Stored {
    auth_id: String,
    gw_id_hex: String,
    auth_key_hex: String,
    devices_hex: BTreeMap<String, String>,
}

fn path(state_dir: &Path) -> PathBuf {
    state_dir.join(IDENTITY_FILE)
}

/// Loads the identity stored for `auth_id`; `None` when there is none, it
/// is for another auth ID, or it cannot be read (logged).
pub(crate) fn load(state_dir: &Path, auth_id: &str) -> Option<Identity> {
    let path = path(state_dir);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "cannot read the identity; registering anew");
            return None;
        }
    };
    let stored: Stored = match serde_json::from_str(&text) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "identity file is invalid; registering anew");
            return None;
        }
    };
    if stored.auth_id != auth_id {
        tracing::info!(stored = %stored.auth_id, auth_id, "identity belongs to another auth ID; registering anew");
        return None;
    }
    let field = |name: &'static str, h: &str| -> Option<FixedStr<16>> {
        FixedStr::new(name, hex::decode(h).ok()?).ok()
    };
    let mut devices = BTreeMap::new();
    for (name, h) in &stored.devices_hex {
        devices.insert(name.clone(), field("device_id", h)?);
    }
    Some(Identity {
        gw_id: field("gw_id", &stored.gw_id_hex)?,
        auth_key: field("auth_key", &stored.auth_key_hex)?,
        devices,
    })
}

/// Stores `identity` for `auth_id` (synced).
pub(crate) fn save(state_dir: &Path, auth_id: &str, identity: &Identity) -> std::io::Result<()> {
    let stored = Stored {
        auth_id: auth_id.to_owned(),
        gw_id_hex: hex::encode(identity.gw_id.as_bytes()),
        auth_key_hex: hex::encode(identity.auth_key.as_bytes()),
        devices_hex: identity
            .devices
            .iter()
            .map(|(k, v)| (k.clone(), hex::encode(v.as_bytes())))
            .collect(),
    };
    let text = serde_json::to_vec_pretty(&stored).map_err(std::io::Error::other)?;
    write_atomic(&path(state_dir), &text, true)
}

/// Forgets the stored identity.
pub(crate) fn remove(state_dir: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(path(state_dir)) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_identity_round_trips_for_its_auth_id_only() {
        let dir = tempfile::tempdir().unwrap();
        let id = Identity {
            gw_id: FixedStr::new("gw_id", "SC10010254").unwrap(),
            auth_key: FixedStr::new("auth_key", "SP10033827key").unwrap(),
            devices: BTreeMap::from([("s".to_string(), FixedStr::new("d", "AD1").unwrap())]),
        };
        save(dir.path(), "0008dc1e3222", &id).unwrap();
        assert_eq!(load(dir.path(), "0008dc1e3222"), Some(id));
        assert_eq!(load(dir.path(), "other"), None);
        remove(dir.path()).unwrap();
        assert_eq!(load(dir.path(), "0008dc1e3222"), None);
    }
}
