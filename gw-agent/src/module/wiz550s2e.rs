//! The WIZ550S2E as the agent keeps it: the serial port, start-up (AT, or
//! `+++` first when it booted into data mode), the Ethernet link as
//! AT+NSTAT shows it, resets, and the module and link state the status
//! line shows. The `bridge` transport sits on a [`Wiz550s2eModule`]
//! (`transport::bridge_wiz550s2e`).
//!
//! ```text
//! ensure_ready:  [port closed] ──open──▶ [needs init] ──AT (+++, AT)──▶ [ready]
//!                [ready] ──AT+NSTAT?: an address──▶ link up    (0.0.0.0: link down)
//! failures:      a command and its re-sync unanswered → unresponsive → start-up
//!                again at the next ensure_ready (escaping data mode: the
//!                module may have rebooted into it); start-up unanswered too →
//!                the port is closed and opened again on the next attempt
//! ```
//!
//! Decisions:
//! - The module's network settings (AT+NSET, kept in its EEPROM with
//!   AT+MSAVE) are left as the user made them; the agent only reads the
//!   addresses in use, and counts the link up when it has an address.
//! - The MAC is asked once (AT+NMAC?), as for the WizFi310.
//! - Data mode ([`enter_data_mode`](Wiz550s2eModule::enter_data_mode)):
//!   every command first leaves it with `+++` (which closes the module's
//!   connection). The firmware version is read (AT+MSTAT) each time data
//!   mode is entered, so that the data-mode bridge can answer it without
//!   leaving data mode: a firmware changes only with a reboot, which ends
//!   data mode's set-up too.

use std::net::SocketAddrV4;

use crate::config::Config;
use crate::wiz550s2e::data_mode::GetWorkingMode;
use crate::wiz550s2e::{self, Driver, Event, EventReceiver, Timeouts};
use crate::wizfi310::{MacAddress, SerialConfig};

use super::{ModuleError, ModuleState};

/// What the WIZ550S2E bridge needs to reach the module.
#[derive(Debug, Clone)]
pub struct Wiz550s2eSettings {
    /// The serial port.
    pub serial: SerialConfig,
    /// Driver timeouts.
    pub timeouts: Timeouts,
}

impl Wiz550s2eSettings {
    /// The settings of a validated config.
    pub fn from_config(config: &Config) -> Self {
        Wiz550s2eSettings {
            serial: super::ModuleSettings::from_config(config).serial,
            timeouts: Timeouts::default(),
        }
    }
}

/// A WIZ550S2E on a serial port; see the module documentation.
#[derive(Debug)]
pub struct Wiz550s2eModule {
    settings: Wiz550s2eSettings,
    driver: Option<Driver>,
    events: Option<EventReceiver>,
    state: ModuleState,
    /// What AT+NSTAT last said (`None`: not asked since start-up).
    link_up: Option<bool>,
    mac: Option<MacAddress>,
    /// AT+MSTAT at the last entry into data mode.
    firmware: Option<String>,
    starts: u64,
}

impl Wiz550s2eModule {
    /// A module on `settings.serial` (the port is opened on first use).
    pub fn new(settings: Wiz550s2eSettings) -> Self {
        Wiz550s2eModule {
            settings,
            driver: None,
            events: None,
            state: ModuleState::Closed,
            link_up: None,
            mac: None,
            firmware: None,
            starts: 0,
        }
    }

    /// The module's state.
    pub fn state(&self) -> ModuleState {
        self.state
    }

    /// How many times the module was started (a new value: a new port, a
    /// reset, or the agent's first start).
    pub fn starts(&self) -> u64 {
        self.starts
    }

    /// The driver timeouts in use.
    pub fn timeouts(&self) -> &Timeouts {
        &self.settings.timeouts
    }

    /// `(module, link)` for the status line: the link is `up` (an address),
    /// `down` (0.0.0.0) or `unknown`.
    pub fn status_words(&self) -> (String, String) {
        let link = match (self.state, self.link_up) {
            (ModuleState::Ready, Some(true)) => "up",
            (ModuleState::Ready, Some(false)) => "down",
            _ => "unknown",
        };
        (self.state.name().to_string(), link.to_string())
    }

    fn open(&mut self) -> Result<Driver, ModuleError> {
        if let Some(driver) = &self.driver
            && self.state != ModuleState::Closed
        {
            return Ok(driver.clone());
        }
        let (driver, events) = Driver::open(&self.settings.serial, self.settings.timeouts.clone())?;
        tracing::info!(port = %self.settings.serial.path, baud = self.settings.serial.baud, "serial port open (WIZ550S2E)");
        self.driver = Some(driver.clone());
        self.events = Some(events);
        self.state = ModuleState::NeedsInit;
        self.link_up = None;
        Ok(driver)
    }

    fn close_port(&mut self) {
        self.driver = None;
        self.events = None;
        self.state = ModuleState::Closed;
        self.link_up = None;
    }

    /// Records what a failed driver call says about the module.
    pub fn note_error(&mut self, error: &wiz550s2e::Error) {
        match error {
            wiz550s2e::Error::Closed | wiz550s2e::Error::Io(_) => {
                tracing::warn!(error = %error, "serial port lost");
                self.close_port();
            }
            wiz550s2e::Error::Unresponsive { .. } => {
                tracing::warn!(error = %error, "the module stopped answering; it will be started again");
                if self.state != ModuleState::Closed {
                    self.state = ModuleState::Unresponsive;
                }
                self.link_up = None;
            }
            _ => {}
        }
    }

    fn fail<T>(&mut self, error: wiz550s2e::Error) -> Result<T, ModuleError> {
        self.note_error(&error);
        Err(error.into())
    }

    /// Drops the events that queued up while nobody listened: data and
    /// closes of a connection that is over.
    fn drain_events(&mut self) {
        let mut closed = false;
        if let Some(events) = self.events.as_mut() {
            loop {
                match events.try_recv() {
                    Ok(event) => {
                        tracing::debug!(?event, "dropping an event of an earlier connection")
                    }
                    Err(tokio::sync::mpsc::error::TryRecvError::Empty) => break,
                    Err(tokio::sync::mpsc::error::TryRecvError::Disconnected) => {
                        closed = true;
                        break;
                    }
                }
            }
        }
        if closed {
            tracing::warn!(port = %self.settings.serial.path, "serial port closed");
            self.close_port();
        }
    }

    /// The next event from the module; an error when the port closed.
    /// Cancel-safe.
    pub async fn next_event(&mut self) -> Result<Event, ModuleError> {
        let received = match self.events.as_mut() {
            Some(events) => events.recv().await,
            None => None,
        };
        match received {
            Some(event) => Ok(event),
            None => {
                self.close_port();
                Err(ModuleError::PortClosed {
                    path: self.settings.serial.path.clone(),
                })
            }
        }
    }

    /// Whether the module's port carries its data-mode connection.
    pub fn in_data_mode(&self) -> bool {
        self.driver.as_ref().is_some_and(Driver::in_data_mode)
    }

    /// Leaves data mode (`+++` with its guard times) when the port is in it.
    async fn command_mode(&mut self, driver: &Driver) -> Result<(), ModuleError> {
        if driver.in_data_mode() {
            tracing::info!("leaving data mode with +++ for a command");
            if let Err(e) = driver.escape().await {
                return self.fail(e);
            }
        }
        Ok(())
    }

    /// Sets the module up as a TCP client of `target` (AT+MMODE, when it
    /// holds another) and enters data mode (AT+MDATA): the module connects
    /// on its own from then on. Starts it first as needed (an address is
    /// required).
    pub async fn enter_data_mode(&mut self, target: SocketAddrV4) -> Result<(), ModuleError> {
        let driver = self.ensure_ready().await?;
        let current = match driver.execute(&GetWorkingMode).await {
            Ok(mode) => mode,
            Err(e) => return self.fail(e),
        };
        if let Some(set) = current.client_of(target).change_from(&current)
            && let Err(e) = driver.execute(&set).await
        {
            return self.fail(e);
        }
        match driver.firmware_version().await {
            Ok(version) => self.firmware = Some(version),
            Err(e) => return self.fail(e),
        }
        // What the last connection sent before +++ is not the new one's.
        self.drain_events();
        if let Err(e) = driver.enter_data_mode().await {
            return self.fail(e);
        }
        tracing::info!(omp = %target, "WIZ550S2E in data mode (its own TCP client)");
        Ok(())
    }

    /// Writes bytes to the data-mode connection.
    pub async fn write_stream(&mut self, bytes: &[u8]) -> Result<(), ModuleError> {
        let Some(driver) = self.driver.clone() else {
            return Err(ModuleError::PortClosed {
                path: self.settings.serial.path.clone(),
            });
        };
        match driver.write_stream(bytes).await {
            Ok(()) => Ok(()),
            Err(e) => self.fail(e),
        }
    }

    /// Opens and starts the module as needed, in command mode.
    pub async fn ensure_started(&mut self) -> Result<Driver, ModuleError> {
        self.drain_events();
        let driver = self.open()?;
        self.command_mode(&driver).await?;
        if matches!(
            self.state,
            ModuleState::NeedsInit | ModuleState::Unresponsive
        ) {
            if let Err(e) = driver.init().await {
                if matches!(e, wiz550s2e::Error::Unresponsive { .. }) {
                    // Not even after +++: try the port from scratch next time.
                    self.close_port();
                    return Err(e.into());
                }
                return self.fail(e);
            }
            self.state = ModuleState::Ready;
            self.starts += 1;
            tracing::info!("WIZ550S2E ready (command mode)");
        }
        Ok(driver)
    }

    /// Starts the module as needed and checks it has an address
    /// (AT+NSTAT?); returns the driver.
    pub async fn ensure_ready(&mut self) -> Result<Driver, ModuleError> {
        let driver = self.ensure_started().await?;
        match driver.net_status().await {
            Ok(net) => {
                let up = net.has_address();
                if self.link_up != Some(up) {
                    tracing::info!(ip = %net.ip, dhcp = net.dhcp, up, "Ethernet link (AT+NSTAT)");
                }
                self.link_up = Some(up);
                if up {
                    Ok(driver)
                } else {
                    Err(ModuleError::NoAddress)
                }
            }
            Err(e) => self.fail(e),
        }
    }

    /// The module's MAC (AT+NMAC?), asked once.
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

    /// The firmware version (AT+MSTAT); in data mode the reading taken
    /// when it was entered, since asking would leave data mode and close
    /// the module's connection.
    pub async fn firmware_version(&mut self) -> Result<String, ModuleError> {
        if let Some(version) = &self.firmware
            && self.driver.as_ref().is_some_and(Driver::in_data_mode)
        {
            return Ok(version.clone());
        }
        let driver = self.ensure_started().await?;
        match driver.firmware_version().await {
            Ok(version) => Ok(version),
            Err(e) => self.fail(e),
        }
    }

    /// AT+MRST and start-up again; the connection is gone afterwards.
    pub async fn reset(&mut self) -> Result<(), ModuleError> {
        let driver = self.open()?;
        self.command_mode(&driver).await?;
        self.link_up = None;
        match driver.reset().await {
            Ok(()) => {
                self.state = ModuleState::Ready;
                self.starts += 1;
                tracing::info!("WIZ550S2E reset done");
                Ok(())
            }
            Err(e) => {
                self.state = ModuleState::NeedsInit;
                self.fail(e)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_words_follow_the_state_and_the_address() {
        let mut m = Wiz550s2eModule::new(Wiz550s2eSettings {
            serial: SerialConfig::new("/dev/null-test"),
            timeouts: Timeouts::default(),
        });
        assert_eq!(m.status_words(), ("closed".into(), "unknown".into()));
        m.state = ModuleState::Ready;
        m.link_up = Some(true);
        assert_eq!(m.status_words(), ("ready".into(), "up".into()));
        m.link_up = Some(false);
        assert_eq!(m.status_words(), ("ready".into(), "down".into()));
        m.note_error(&wiz550s2e::Error::Unresponsive {
            command: "AT".into(),
        });
        assert_eq!(m.status_words(), ("unresponsive".into(), "unknown".into()));
        m.note_error(&wiz550s2e::Error::Closed);
        assert_eq!(m.state(), ModuleState::Closed);
    }
}
