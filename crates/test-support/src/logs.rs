//! The functions' log output, captured in memory: a writer for `functions::app::json_logs`.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::Value;

/// Every line written to it until [`CapturedLogs::stop`]; clones share the same record.
#[derive(Clone, Default)]
pub struct CapturedLogs {
    bytes: Arc<Mutex<Vec<u8>>>,
    stopped: Arc<AtomicBool>,
}

impl Write for CapturedLogs {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        if !self.stopped.load(Ordering::Relaxed) {
            self.bytes
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .extend_from_slice(bytes);
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl CapturedLogs {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes.lock().unwrap_or_else(|p| p.into_inner())).into_owned()
    }

    /// Each line as the JSON it must be.
    pub fn lines(&self) -> Vec<Value> {
        self.text()
            .lines()
            .map(|line| serde_json::from_str(line).expect("a JSON log line"))
            .collect()
    }

    /// Records nothing more: a subscriber installed for the whole process keeps writing here after its
    /// test has read what it needs.
    pub fn stop(&self) {
        self.stopped.store(true, Ordering::Relaxed);
    }
}
