//! The status file: what the session loop reports after each step.

use super::*;

impl Agent {
    pub(super) fn status_snapshot_depth(&self) -> Status {
        let mut s = self.last_status.clone();
        s.spool_depth = self.spool.len();
        s.spool_bytes = self.spool.pending_bytes();
        s
    }

    pub(super) fn report_status<T: Transport>(&mut self, engine: &Engine, transport: &T) {
        let link = transport.link_status();
        let omp = match (engine.state(), self.omp_note) {
            (SessionState::Disconnected, note) if !note.is_empty() => note.to_string(),
            (state, _) => state.name().to_string(),
        };
        let status = Status {
            transport: transport.name().to_string(),
            module: link.module,
            wifi: link.wifi,
            omp,
            gw_id: engine.identity().map(|i| i.gw_id.to_string()),
            spool_depth: self.spool.len(),
            spool_bytes: self.spool.pending_bytes(),
            report_on: engine.report_on(),
            running: engine.running(),
            pid: std::process::id(),
            updated: 0,
        };
        self.last_status = status.clone();
        self.status.update(status, Instant::now());
    }
}
