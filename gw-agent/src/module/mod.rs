//! The WizFi310 as the agent keeps it: the serial port, start-up (AT, echo
//! off, AT+SFORM check), the Wi-Fi join, resets, and the module and Wi-Fi
//! state the status line shows. The `bridge` and `native` transports sit on
//! a [`Module`]; the module data sources read through a [`ModuleHandle`].
//!
//! ```text
//! ensure_ready:  [port closed] ──open──▶ [needs init] ──AT, AT+MECHO=0, AT+SFORM=?──▶ [ready]
//!                [ready, Wi-Fi down] ──AT+WSET, AT+WSEC, AT+WNET=1, AT+WJOIN──▶ [joined]
//! events:        [Reset Event] → needs init, Wi-Fi down     [Link-Down Event] → Wi-Fi down
//!                the serial port ends → closed (re-opened by the next ensure_ready)
//! ```
//!
//! Decisions:
//! - Wi-Fi is joined in station mode with DHCP (AT+WNET=1); the settings
//!   are written before every join (the module keeps them in flash anyway,
//!   and a replaced module then joins too).
//! - `open` security still sends an 8-character dummy key: the module
//!   refuses AT+WSEC=0,OPEN, without one (docs/wizfi310.md §2).
//! - A module that stops answering (a command timed out and the bare-AT
//!   re-sync went unanswered too) gets AT+MRESET at the next
//!   [`Module::ensure_ready`]; if that is not answered either the serial
//!   port is closed and opened again on the following attempt. A module
//!   that never answers again needs its reset pin, which the AT interface
//!   does not reach: the agent keeps retrying with back-off.
//! - The event channel is drained only by [`Module::next_event`] and at the
//!   start of [`Module::ensure_ready`]; socket data found then belongs to a
//!   connection that is over and is dropped.
//!
//! The WIZ550S2E, kept the same way for its `bridge`, is [`wiz550s2e`].

pub mod wiz550s2e;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::{Instant, timeout_at};

use crate::config::Config;
use crate::wizfi310::{
    self, Driver, DriverConfig, Event, EventReceiver, JoinOutcome, MacAddress, Security,
    SerialConfig, WifiMode, WifiNet, WifiSecurity, WifiSet,
};

/// The dummy key AT+WSEC needs for an open network (docs/wizfi310.md §2).
const OPEN_DUMMY_KEY: &str = "12345678";

/// Why a module step failed.
#[derive(Debug, thiserror::Error)]
pub enum ModuleError {
    /// A driver call failed (the error keeps the command and the module's words).
    #[error(transparent)]
    Driver(#[from] wizfi310::Error),
    /// AT+WJOIN answered, but not with a link.
    #[error("Wi-Fi join of {ssid:?} failed: {words}")]
    Join {
        /// The network.
        ssid: String,
        /// What the module said.
        words: String,
    },
    /// AT+MRESET was answered but `[Reset Event]` did not follow.
    #[error("no [Reset Event] within {after:?} of AT+MRESET")]
    NoResetEvent {
        /// The time waited.
        after: Duration,
    },
    /// The serial port ended (unplugged, or the emulator stopped).
    #[error("the serial port {path} closed")]
    PortClosed {
        /// The port.
        path: String,
    },
    /// The Wi-Fi link went down (`[Link-Down Event]`).
    #[error("Wi-Fi link down")]
    LinkDown,
    /// The answer needs a Wi-Fi link and there is none.
    #[error("{0}: Wi-Fi is not joined")]
    NotJoined(&'static str),
    /// The module rebooted on its own (`[Reset Event]`).
    #[error("the module reset itself")]
    Reset,
    /// A WIZ550S2E driver call failed (the error keeps the command and
    /// the module's error code).
    #[error(transparent)]
    Wiz550s2e(#[from] crate::wiz550s2e::Error),
    /// The WIZ550S2E has no IP address (AT+NSTAT: 0.0.0.0): no Ethernet
    /// link, or no DHCP lease yet.
    #[error(
        "the WIZ550S2E has no IP address (AT+NSTAT? shows 0.0.0.0): Ethernet link down or no DHCP lease"
    )]
    NoAddress,
}

/// What the module transports need to reach the module and the network.
#[derive(Debug, Clone)]
pub struct ModuleSettings {
    /// The serial port.
    pub serial: SerialConfig,
    /// Driver timeouts and receive form.
    pub driver: DriverConfig,
    /// Network name.
    pub ssid: String,
    /// AT+WSEC security type.
    pub security: Security,
    /// Passphrase (`None` for an open network).
    pub passphrase: Option<String>,
}

impl ModuleSettings {
    /// The settings of a validated config (the path and SSID are checked
    /// to be there for the module transports; empty strings otherwise).
    pub fn from_config(config: &Config) -> Self {
        let s = &config.serial;
        ModuleSettings {
            serial: SerialConfig {
                path: s.path.clone().unwrap_or_default(),
                baud: s.baud,
                parity: s.parity,
                data_bits: s.data_bits,
                stop_bits: s.stop_bits,
                flow_control: s.flow_control,
            },
            driver: DriverConfig::default(),
            ssid: config.wifi.ssid.clone().unwrap_or_default(),
            security: config.wifi.security,
            passphrase: config.wifi.passphrase.clone(),
        }
    }
}

/// The current driver, shared with the module data sources; empty while
/// the port is closed. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct ModuleHandle(Arc<Mutex<Option<Driver>>>);

impl ModuleHandle {
    /// The driver, if the port is open.
    pub fn driver(&self) -> Option<Driver> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn set(&self, driver: Option<Driver>) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = driver;
    }
}

/// Where the module stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModuleState {
    /// The port is not open.
    Closed,
    /// Open; AT start-up needed (first open, or after a reset).
    NeedsInit,
    /// Answering, echo off, receive form checked.
    Ready,
    /// A command went unanswered: reset at the next start-up.
    Unresponsive,
}

impl ModuleState {
    /// Name for the status line.
    pub fn name(self) -> &'static str {
        match self {
            ModuleState::Closed => "closed",
            ModuleState::NeedsInit => "starting",
            ModuleState::Ready => "ready",
            ModuleState::Unresponsive => "unresponsive",
        }
    }
}

/// A WizFi310 on a serial port; see the module documentation.
#[derive(Debug)]
pub struct Module {
    settings: ModuleSettings,
    handle: ModuleHandle,
    events: Option<EventReceiver>,
    state: ModuleState,
    joined: bool,
    mac: Option<MacAddress>,
    starts: u64,
}

impl Module {
    /// A module on `settings.serial` (the port is opened on first use).
    pub fn new(settings: ModuleSettings) -> Self {
        Module {
            settings,
            handle: ModuleHandle::default(),
            events: None,
            state: ModuleState::Closed,
            joined: false,
            mac: None,
            starts: 0,
        }
    }

    /// The handle the module data sources read through.
    pub fn handle(&self) -> ModuleHandle {
        self.handle.clone()
    }

    /// The module's state.
    pub fn state(&self) -> ModuleState {
        self.state
    }

    /// How many times the module was started (AT start-up done): a new
    /// value means a new port, a reset, or the agent's first start.
    pub fn starts(&self) -> u64 {
        self.starts
    }

    /// True while Wi-Fi is joined (as far as the events told).
    pub fn joined(&self) -> bool {
        self.joined
    }

    /// `(module, wifi)` for the status line.
    pub fn status_words(&self) -> (String, String) {
        let wifi = match (self.state, self.joined) {
            (ModuleState::Ready, true) => "joined",
            (ModuleState::Ready, false) => "down",
            _ => "unknown",
        };
        (self.state.name().to_string(), wifi.to_string())
    }

    /// The driver timeouts in use.
    pub fn timeouts(&self) -> &wizfi310::Timeouts {
        &self.settings.driver.timeouts
    }

    /// Opens the port when closed; returns the driver.
    fn open(&mut self) -> Result<Driver, ModuleError> {
        if let Some(driver) = self.handle.driver()
            && self.state != ModuleState::Closed
        {
            return Ok(driver);
        }
        let (driver, events) = Driver::open(&self.settings.serial, self.settings.driver.clone())?;
        tracing::info!(port = %self.settings.serial.path, baud = self.settings.serial.baud, "serial port open");
        self.handle.set(Some(driver.clone()));
        self.events = Some(events);
        self.state = ModuleState::NeedsInit;
        self.joined = false;
        Ok(driver)
    }

    fn close_port(&mut self) {
        self.handle.set(None);
        self.events = None;
        self.state = ModuleState::Closed;
        self.joined = false;
    }

    /// Records what a failed driver call says about the module.
    pub fn note_error(&mut self, error: &wizfi310::Error) {
        match error {
            wizfi310::Error::Closed | wizfi310::Error::Io(_) => {
                tracing::warn!(error = %error, "serial port lost");
                self.close_port();
            }
            wizfi310::Error::Unresponsive { .. } => {
                tracing::warn!(error = %error, "the module stopped answering; it will be reset");
                self.state = ModuleState::Unresponsive;
            }
            _ => {}
        }
    }

    /// The module said the link is gone (`[ERROR: WiFi Status]`).
    pub fn note_link_down(&mut self) {
        self.joined = false;
    }

    fn fail<T>(&mut self, error: wizfi310::Error) -> Result<T, ModuleError> {
        self.note_error(&error);
        Err(error.into())
    }

    /// Applies what an event says about the module.
    fn apply(&mut self, event: &Event) {
        match event {
            Event::Reset => {
                tracing::warn!("[Reset Event]: the module rebooted");
                if self.state != ModuleState::Closed {
                    self.state = ModuleState::NeedsInit;
                }
                self.joined = false;
            }
            Event::LinkDown => {
                if self.joined {
                    tracing::warn!("[Link-Down Event]: Wi-Fi lost");
                }
                self.joined = false;
            }
            Event::LinkUp { ip, .. } => {
                tracing::info!(ip = ?ip, "[Link-Up Event]");
                self.joined = true;
            }
            _ => {}
        }
    }

    /// Takes the events that queued up while nobody listened.
    fn drain_events(&mut self) {
        let mut seen = Vec::new();
        let mut closed = false;
        if let Some(events) = self.events.as_mut() {
            loop {
                match events.try_recv() {
                    Ok(event) => seen.push(event),
                    Err(tokio::sync::mpsc::error::TryRecvError::Empty) => break,
                    Err(tokio::sync::mpsc::error::TryRecvError::Disconnected) => {
                        closed = true;
                        break;
                    }
                }
            }
        }
        for event in &seen {
            self.apply(event);
        }
        if closed {
            tracing::warn!(port = %self.settings.serial.path, "serial port closed");
            self.close_port();
        }
    }

    /// The next event from the module (state applied); an error when the
    /// port closed. Cancel-safe.
    pub async fn next_event(&mut self) -> Result<Event, ModuleError> {
        let received = match self.events.as_mut() {
            Some(events) => events.recv().await,
            None => None,
        };
        match received {
            Some(event) => {
                self.apply(&event);
                Ok(event)
            }
            None => {
                self.close_port();
                Err(ModuleError::PortClosed {
                    path: self.settings.serial.path.clone(),
                })
            }
        }
    }

    /// Opens and starts the module as needed, without joining Wi-Fi.
    pub async fn ensure_started(&mut self) -> Result<Driver, ModuleError> {
        self.drain_events();
        let driver = self.open()?;
        if self.state == ModuleState::Unresponsive {
            tracing::info!("resetting the module (AT+MRESET)");
            match self.reset().await {
                Ok(()) => {}
                Err(ModuleError::Driver(e)) => {
                    // Not even AT+MRESET: try the port from scratch next time.
                    self.close_port();
                    return Err(e.into());
                }
                Err(e) => return Err(e),
            }
        }
        if self.state == ModuleState::NeedsInit {
            if let Err(e) = driver.init(&self.settings.driver.data_form).await {
                return self.fail(e);
            }
            self.state = ModuleState::Ready;
            self.starts += 1;
            tracing::info!("module ready (echo off, receive form checked)");
        }
        Ok(driver)
    }

    /// Opens, starts and joins Wi-Fi as needed; returns the driver.
    pub async fn ensure_ready(&mut self) -> Result<Driver, ModuleError> {
        let driver = self.ensure_started().await?;
        if !self.joined {
            self.join(&driver).await?;
        }
        Ok(driver)
    }

    async fn join(&mut self, driver: &Driver) -> Result<(), ModuleError> {
        let s = &self.settings;
        let set = WifiSet {
            mode: WifiMode::Station,
            ssid: s.ssid.clone(),
            bssid: None,
            channel: None,
        };
        let key = s
            .passphrase
            .clone()
            .unwrap_or_else(|| OPEN_DUMMY_KEY.to_string());
        let sec = WifiSecurity {
            mode: WifiMode::Station,
            security: s.security,
            key,
        };
        tracing::info!(ssid = %s.ssid, "joining Wi-Fi");
        let joined = async {
            driver.wifi_set(&set).await?;
            driver.wifi_security(&sec).await?;
            driver.wifi_net(&WifiNet::Dhcp).await?;
            driver.join().await
        }
        .await;
        match joined {
            Ok(JoinOutcome::Joined { ip, .. }) => {
                tracing::info!(ip = ?ip, "Wi-Fi joined");
                self.joined = true;
                Ok(())
            }
            Ok(JoinOutcome::AlreadyAssociated(mode)) => {
                tracing::info!(%mode, "Wi-Fi already joined");
                self.joined = true;
                Ok(())
            }
            Err(wizfi310::Error::Module { words, .. }) => Err(ModuleError::Join {
                ssid: self.settings.ssid.clone(),
                words,
            }),
            Err(e) => self.fail(e),
        }
    }

    /// The module's MAC (AT+MMAC=?), asked once.
    pub async fn mac(&mut self) -> Result<MacAddress, ModuleError> {
        if let Some(mac) = self.mac {
            return Ok(mac);
        }
        let driver = self.ensure_started().await?;
        match driver.mac().await {
            Ok(mac) => {
                self.mac = Some(mac);
                Ok(mac)
            }
            Err(e) => self.fail(e),
        }
    }

    /// AT+MRESET, then waits for `[Reset Event]`; the module then needs
    /// start-up and a join again.
    pub async fn reset(&mut self) -> Result<(), ModuleError> {
        let driver = self.open()?;
        if let Err(e) = driver.reset().await {
            return self.fail(e);
        }
        self.joined = false;
        self.state = ModuleState::NeedsInit;
        let after = self.settings.driver.timeouts.reset;
        let deadline = Instant::now() + after;
        loop {
            let Some(events) = self.events.as_mut() else {
                return Err(ModuleError::PortClosed {
                    path: self.settings.serial.path.clone(),
                });
            };
            match timeout_at(deadline, events.recv()).await {
                Ok(Some(Event::Reset)) => {
                    tracing::info!("module reset done");
                    return Ok(());
                }
                Ok(Some(other)) => self.apply(&other),
                Ok(None) => {
                    self.close_port();
                    return Err(ModuleError::PortClosed {
                        path: self.settings.serial.path.clone(),
                    });
                }
                Err(_) => return Err(ModuleError::NoResetEvent { after }),
            }
        }
    }

    /// The driver if the module is started (for one-off commands).
    pub async fn driver(&mut self) -> Result<Driver, ModuleError> {
        self.ensure_started().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_words_follow_the_state() {
        let settings = ModuleSettings {
            serial: SerialConfig::new("/dev/null-test"),
            driver: DriverConfig::default(),
            ssid: "testnet".into(),
            security: Security::Auto,
            passphrase: Some("12345678".into()),
        };
        let mut m = Module::new(settings);
        assert_eq!(m.status_words(), ("closed".into(), "unknown".into()));
        m.state = ModuleState::Ready;
        m.apply(&Event::LinkUp {
            ip: None,
            gateway: None,
        });
        assert_eq!(m.status_words(), ("ready".into(), "joined".into()));
        m.apply(&Event::LinkDown);
        assert_eq!(m.status_words(), ("ready".into(), "down".into()));
        m.apply(&Event::Reset);
        assert_eq!(m.state(), ModuleState::NeedsInit);
    }
}
