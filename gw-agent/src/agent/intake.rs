//! Deliveries in and out of the spool outside the engine: what the
//! sources send is spooled (dropping the oldest, recorded, when full), and
//! what the OMP will never take is set aside in `rejected.jsonl`.

use super::*;

impl Agent {
    /// Spools `first` and whatever else the sources have ready (up to
    /// [`ACCEPT_BATCH`]), so that the engine gets them together and their
    /// frames can leave in one write.
    pub(super) fn accept_ready(&mut self, first: SourceMessage) {
        self.accept(first);
        for _ in 1..ACCEPT_BATCH {
            match self.sources_rx.try_recv() {
                Ok(msg) => self.accept(msg),
                Err(_) => break,
            }
        }
    }

    /// Spools one delivery from a source and answers the source.
    pub(super) fn accept(&mut self, msg: SourceMessage) {
        let result = self.spool_delivery(&msg.delivery);
        if let Some(reply) = msg.reply {
            let _ = reply.send(result);
        } else if let Err(e) = result {
            tracing::warn!(error = %e, "delivery not spooled");
        }
    }

    pub(super) fn spool_delivery(&mut self, delivery: &SpooledDelivery) -> Result<u64, String> {
        if let Some(name) = &delivery.device
            && !self.config.devices.iter().any(|d| &d.name == name)
        {
            return Err(format!("unknown device {name:?}"));
        }
        let in_flight = &self.in_flight;
        let victims = self
            .spool
            .room_for(delivery, |seq| in_flight.binary_search(&seq).is_ok());
        if !victims.is_empty() {
            let records: Vec<_> = victims
                .iter()
                .map(|&seq| self.record(seq, "spool full (drop-oldest)"))
                .collect();
            let path = self.config.state_dir.join(DROPPED_FILE);
            if let Err(e) = append_records(&path, &records) {
                tracing::error!(path = %path.display(), error = %e, "cannot record the deliveries a full spool would drop; refusing the new one");
                return Err(format!(
                    "spool full and {} cannot be written: {e}",
                    path.display()
                ));
            }
            tracing::warn!(
                dropped = victims.len(),
                first = victims[0],
                last = victims[victims.len() - 1],
                "spool full: dropping the oldest deliveries (recorded in {DROPPED_FILE})"
            );
            for &seq in &victims {
                self.spool.remove(seq).map_err(|e| e.to_string())?;
                self.abandoned.push(seq);
            }
        }
        match self.spool.append(delivery) {
            Ok(appended) => {
                if !appended.dropped.is_empty() {
                    // Not expected: room was made above. Still reported.
                    tracing::error!(
                        dropped = ?appended.dropped,
                        "spool dropped deliveries not recorded in {DROPPED_FILE}"
                    );
                    self.abandoned.extend_from_slice(&appended.dropped);
                }
                if self.spool.pending_bytes() * 10 >= self.spool.limits().max_bytes * 9 {
                    if !self.spool_full_warned {
                        tracing::warn!(
                            pending = self.spool.len(),
                            bytes = self.spool.pending_bytes(),
                            "spool is 90% full"
                        );
                        self.spool_full_warned = true;
                    }
                } else {
                    self.spool_full_warned = false;
                }
                Ok(appended.seq)
            }
            Err(e) => {
                tracing::warn!(error = %e, "delivery refused by the spool");
                Err(e.to_string())
            }
        }
    }

    /// A spooled delivery as one JSON line of `rejected.jsonl` /
    /// `dropped.jsonl`.
    pub(super) fn record(&self, seq: u64, reason: &str) -> serde_json::Value {
        match self.spool.read(seq) {
            Ok(d) => serde_json::json!({
                "seq": seq,
                "reason": reason,
                "device": d.device,
                "report_type": d.report_type,
                "media_type": d.media_type,
                "payload_hex": hex::encode(&d.payload),
            }),
            Err(e) => {
                serde_json::json!({ "seq": seq, "reason": reason, "unreadable": e.to_string() })
            }
        }
    }

    /// Moves a delivery the OMP will never take into `rejected.jsonl`.
    pub(super) fn set_aside(&mut self, seq: u64, reason: &str) -> Result<(), AgentError> {
        tracing::warn!(seq, reason, "delivery set aside in {REJECTED_FILE}");
        let record = self.record(seq, reason);
        let path = self.config.state_dir.join(REJECTED_FILE);
        if let Err(source) = append_records(&path, &[record]) {
            // Keep it in the spool rather than lose it.
            return Err(AgentError::StateDir { path, source });
        }
        match self.spool.remove(seq) {
            Ok(()) | Err(SpoolError::NotPending { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

/// Appends JSON lines to `path` and syncs them.
pub(super) fn append_records(
    path: &std::path::Path,
    records: &[serde_json::Value],
) -> std::io::Result<()> {
    use std::io::Write;
    let mut text = String::new();
    for r in records {
        text.push_str(&r.to_string());
        text.push('\n');
    }
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    f.write_all(text.as_bytes())?;
    f.sync_data()
}
