//! Encryption info and key (0x19..0x1C). The setting is per GW (default
//! off) and answered as stored; a key the GW sets is stored as received.
//! Encrypted deliveries are stored as received with their flag: the OMP
//! never decrypts.

use gmmp_codec::{
    EncryptionInfoRequest, EncryptionInfoResponse, EncryptionKeyRequest, EncryptionKeyResponse,
    Message, ResultCode,
};

use crate::directory::GatewayEntry;
use crate::error::StoreError;
use crate::state::Shared;
use crate::store::gateways;

/// Handles 0x19.
pub async fn info(
    state: &Shared,
    entry: &GatewayEntry,
    req: &EncryptionInfoRequest,
) -> Result<Message, StoreError> {
    let (enabled, algorithm) = gateways::encryption(&state.db, &entry.gw_id).await?;
    Ok(EncryptionInfoResponse {
        domain_code: req.domain_code,
        gw_id: req.gw_id,
        device_id: req.device_id,
        result_code: ResultCode::OK,
        encryption_flag: enabled,
        algorithm,
    }
    .into())
}

/// Handles 0x1B.
pub async fn set_key(
    state: &Shared,
    entry: &GatewayEntry,
    req: &EncryptionKeyRequest,
) -> Result<Message, StoreError> {
    gateways::set_encryption_key(&state.db, &entry.gw_id, req.key.as_bytes()).await?;
    tracing::info!(gw_id = %entry.gw_id, key_bytes = req.key.as_bytes().len(), "encryption key stored");
    Ok(EncryptionKeyResponse {
        domain_code: req.domain_code,
        gw_id: req.gw_id,
        device_id: req.device_id,
        result_code: ResultCode::OK,
    }
    .into())
}
