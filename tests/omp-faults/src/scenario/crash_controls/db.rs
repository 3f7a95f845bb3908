//! The OMP's `controls` and `control_events` tables, read directly once
//! the server is dead (the checker's ground truth), and `PRAGMA
//! integrity_check`.

use std::collections::HashMap;
use std::path::Path;

use sqlx::FromRow;

use crate::error::FaultError;

/// A control as the database holds it, with its timeline.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct DbControl {
    /// Row id.
    pub id: i64,
    /// GW ID.
    pub gw_id: String,
    /// Device ID, `""` for the gateway.
    pub device_id: String,
    /// GMMP control type.
    pub control_type: i64,
    /// Control data.
    pub data: Option<Vec<u8>>,
    /// OMP T-ID of its last sending.
    pub tid: Option<i64>,
    /// State.
    pub state: String,
    /// rc of the 0x0E or 0x17.
    pub result_code: Option<i64>,
    /// The 0x17's body.
    pub result_data: Option<Vec<u8>>,
    /// Unix ms of the insert.
    pub created_at: i64,
    /// Unix ms of the final state.
    pub completed_at: Option<i64>,
    /// The POST's Idempotency-Key.
    pub idempotency_key: Option<String>,
    /// `control_events`: (state, Unix ms), in order.
    #[sqlx(skip)]
    pub timeline: Vec<(String, i64)>,
}

/// Reads every control with its timeline, and `PRAGMA integrity_check`
/// (lines joined with `; `), from the database at `path` (the OMP must be
/// stopped).
pub async fn read_database(path: &Path) -> Result<(Vec<DbControl>, String), FaultError> {
    let db_err = |source| FaultError::Db {
        path: path.to_path_buf(),
        source,
    };
    let mut conn = crate::verify::open_after_kill(path).await?;
    let mut controls: Vec<DbControl> = sqlx::query_as(
        "SELECT id, gw_id, device_id, control_type, data, tid, state, result_code, result_data,
                created_at, completed_at, idempotency_key
         FROM controls ORDER BY id",
    )
    .fetch_all(&mut conn)
    .await
    .map_err(db_err)?;
    let events: Vec<(i64, String, i64)> =
        sqlx::query_as("SELECT control_id, state, at FROM control_events ORDER BY control_id, id")
            .fetch_all(&mut conn)
            .await
            .map_err(db_err)?;
    let position: HashMap<i64, usize> = controls
        .iter()
        .enumerate()
        .map(|(i, c)| (c.id, i))
        .collect();
    let mut orphans = 0u64;
    for (control_id, state, at) in events {
        match position.get(&control_id) {
            Some(&i) => controls[i].timeline.push((state, at)),
            None => orphans += 1,
        }
    }
    let mut integrity: Vec<String> = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_all(&mut conn)
        .await
        .map_err(db_err)?;
    if orphans > 0 {
        integrity.push(format!("{orphans} control_events rows name no control"));
    }
    Ok((controls, integrity.join("; ")))
}
