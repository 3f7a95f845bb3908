//! The in-memory gateway directory: auth_id → GW ID, auth key, domain and
//! devices, so authenticating a frame is a hash lookup and the hot path
//! does no database read. Loaded at start-up, updated on (de)registration;
//! the database stays the source of truth.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};

use crate::store::gateways::GatewayRecord;

/// What authentication needs to know about a registered GW.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayEntry {
    /// GW ID.
    pub gw_id: String,
    /// Auth key, plain (registration answers it; see `GatewayRecord::auth_key`).
    pub auth_key: String,
    /// Domain code it registered with.
    pub domain: String,
    /// Active device IDs under it.
    pub devices: HashSet<String>,
    /// A registration must carry `auth_key` in its header.
    pub registration_lock: bool,
}

/// auth_id → registered GW.
#[derive(Debug, Default)]
pub struct Directory {
    by_auth_id: RwLock<HashMap<String, Arc<GatewayEntry>>>,
}

impl Directory {
    /// A directory of these gateways and `(gw_id, device_id)` devices.
    pub fn load(gateways: Vec<GatewayRecord>, devices: Vec<(String, String)>) -> Directory {
        let mut by_gw: HashMap<String, HashSet<String>> = HashMap::new();
        for (gw_id, device_id) in devices {
            by_gw.entry(gw_id).or_default().insert(device_id);
        }
        let map = gateways
            .into_iter()
            .filter(|g| g.deregistered_at.is_none())
            .map(|g| {
                let devices = by_gw.remove(&g.gw_id).unwrap_or_default();
                let entry = GatewayEntry {
                    gw_id: g.gw_id,
                    auth_key: g.auth_key,
                    domain: g.domain,
                    devices,
                    registration_lock: g.registration_lock,
                };
                (g.auth_id, Arc::new(entry))
            })
            .collect();
        Directory {
            by_auth_id: RwLock::new(map),
        }
    }

    /// The registered GW of `auth_id`.
    pub fn get(&self, auth_id: &str) -> Option<Arc<GatewayEntry>> {
        self.read().get(auth_id).cloned()
    }

    /// Adds or replaces the GW of `auth_id`, keeping known devices when the
    /// GW ID is unchanged.
    pub fn upsert(&self, auth_id: &str, record: &GatewayRecord) -> Arc<GatewayEntry> {
        let mut map = self.write();
        let devices = map
            .get(auth_id)
            .filter(|e| e.gw_id == record.gw_id)
            .map(|e| e.devices.clone())
            .unwrap_or_default();
        let entry = Arc::new(GatewayEntry {
            gw_id: record.gw_id.clone(),
            auth_key: record.auth_key.clone(),
            domain: record.domain.clone(),
            devices,
            registration_lock: record.registration_lock,
        });
        map.insert(auth_id.to_owned(), entry.clone());
        entry
    }

    /// Sets the registration lock of the GW of `auth_id`, if it is here.
    pub fn set_registration_lock(&self, auth_id: &str, locked: bool) {
        let mut map = self.write();
        if let Some(entry) = map.get_mut(auth_id) {
            let mut changed = GatewayEntry::clone(entry);
            changed.registration_lock = locked;
            *entry = Arc::new(changed);
        }
    }

    /// Forgets the GW of `auth_id` (deregistration).
    pub fn remove(&self, auth_id: &str) {
        self.write().remove(auth_id);
    }

    /// Adds (`true`) or removes (`false`) a device of the GW of `auth_id`.
    pub fn set_device(&self, auth_id: &str, device_id: &str, active: bool) {
        let mut map = self.write();
        if let Some(entry) = map.get_mut(auth_id) {
            let e = Arc::make_mut(entry);
            if active {
                e.devices.insert(device_id.to_owned());
            } else {
                e.devices.remove(device_id);
            }
        }
    }

    /// Number of registered GWs.
    pub fn len(&self) -> usize {
        self.read().len()
    }

    /// True when no GW is registered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, Arc<GatewayEntry>>> {
        // Single-call updates cannot leave the map half-changed.
        self.by_auth_id.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, Arc<GatewayEntry>>> {
        self.by_auth_id.write().unwrap_or_else(|e| e.into_inner())
    }
}
