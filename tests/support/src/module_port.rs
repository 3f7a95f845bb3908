//! The emulator driven over its pty as a host drives the module: a started
//! emulator, its port opened like a driver would, AT commands.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_serial::{SerialPortBuilderExt, SerialStream};
use wizfi310_sim::{SimConfig, Simulator};

use crate::wait::GUARD;

/// The host side of the module's serial line.
pub struct Port {
    stream: SerialStream,
    buf: Vec<u8>,
}

impl Port {
    pub async fn open(path: &std::path::Path) -> Port {
        let stream = tokio_serial::new(path.to_string_lossy(), 115_200)
            .open_native_async()
            .expect("open the pty slave");
        Port {
            stream,
            buf: Vec::new(),
        }
    }

    pub async fn write(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.unwrap();
    }

    async fn fill(&mut self, deadline: tokio::time::Instant) {
        let mut chunk = [0u8; 4096];
        let n = tokio::time::timeout_at(deadline, self.stream.read(&mut chunk))
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "expected output did not come; so far: {:?}",
                    String::from_utf8_lossy(&self.buf)
                )
            })
            .unwrap();
        assert!(n > 0, "pty closed");
        self.buf.extend_from_slice(&chunk[..n]);
    }

    /// Everything up to and including the first `pattern`.
    pub async fn read_until(&mut self, pattern: &[u8]) -> Vec<u8> {
        let deadline = tokio::time::Instant::now() + GUARD;
        loop {
            if let Some(i) = self.buf.windows(pattern.len()).position(|w| w == pattern) {
                let rest = self.buf.split_off(i + pattern.len());
                return std::mem::replace(&mut self.buf, rest);
            }
            self.fill(deadline).await;
        }
    }

    pub async fn read_until_str(&mut self, pattern: &str) -> String {
        String::from_utf8_lossy(&self.read_until(pattern.as_bytes()).await).into_owned()
    }

    /// Exactly `n` bytes.
    pub async fn read_exact(&mut self, n: usize) -> Vec<u8> {
        let deadline = tokio::time::Instant::now() + GUARD;
        while self.buf.len() < n {
            self.fill(deadline).await;
        }
        let rest = self.buf.split_off(n);
        std::mem::replace(&mut self.buf, rest)
    }

    /// Sends a command line and returns the output up to its final `[OK]`.
    pub async fn command(&mut self, line: &str) -> String {
        self.write(format!("{line}\r").as_bytes()).await;
        self.read_until_str("[OK]\r\n").await
    }
}

pub fn quick_config() -> SimConfig {
    SimConfig {
        join_delay: Duration::from_millis(10),
        reset_delay: Duration::from_millis(10),
        ..SimConfig::default()
    }
}

/// A started emulator with its port open, echo off and Wi-Fi joined.
pub async fn joined(config: SimConfig) -> (Simulator, Port) {
    let sim = Simulator::start(config).await.unwrap();
    let mut port = Port::open(sim.tty_path()).await;
    port.command("AT+MECHO=0").await;
    port.command("AT+WSET=0,testnet").await;
    port.command("AT+WSEC=0,,12345678").await;
    let out = port.command("AT+WJOIN").await;
    assert!(out.contains("[Link-Up Event]"), "{out}");
    (sim, port)
}
