//! A log the test can read: a `tracing` subscriber writing plain text
//! (no ANSI) into a shared buffer.

use std::io::Write;
use std::sync::{Arc, Mutex};

use tracing::Level;

/// Everything a subscriber made by [`CapturedLog::subscriber`] or
/// [`CapturedLog::init`] wrote. Cheap to clone; the clones share it.
#[derive(Clone, Default)]
pub struct CapturedLog(Arc<Mutex<Vec<u8>>>);

impl CapturedLog {
    /// A subscriber writing into this log at `level` and above (for
    /// `tracing::subscriber::set_default`, one thread's).
    pub fn subscriber(&self, level: Level) -> impl tracing::Subscriber + Send + Sync + 'static {
        let writer = self.clone();
        tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .with_max_level(level)
            .finish()
    }

    /// Makes this log the process's global subscriber at `level`.
    pub fn init(&self, level: Level) {
        let writer = self.clone();
        tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .with_max_level(level)
            .init();
    }

    /// Bytes written so far.
    pub fn len(&self) -> usize {
        self.buffer().len()
    }

    /// Whether nothing was written yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bytes written from `start` on.
    pub fn since(&self, start: usize) -> Vec<u8> {
        self.buffer()[start..].to_vec()
    }

    /// Everything written, as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.buffer()).into_owned()
    }

    /// Everything written, line by line.
    pub fn lines(&self) -> Vec<String> {
        self.text().lines().map(str::to_owned).collect()
    }

    fn buffer(&self) -> std::sync::MutexGuard<'_, Vec<u8>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Write for CapturedLog {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.buffer().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
