//! [`SimControl`]: the test's hand on the emulated board — MAC, firmware
//! version, ADC, RSSI and GPIO values, and [`Fault`] injection.
//!
//! Values live in a [`Board`] shared with the interpreter, so a value set
//! before a command is written is the value that command reads. Faults are
//! queued here and taken by the IO shell before it handles the next input
//! or event, which keeps "inject, then write the command" ordered.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use module_sim::faults::FaultQueue;

/// GPIO pins the module exposes to AT+FGPIO.
pub const GPIO_PINS: [u8; 2] = [3, 4];

/// A fault to inject into the emulated module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// An unsolicited system reset: sockets dropped, state reset,
    /// `[Reset Event]` printed.
    ResetEvent,
    /// The AP is lost: `[Link-Down Event]`, then `[DISCONNECT n]` for every
    /// open socket.
    LinkDown,
    /// The TCP connection of this socket is closed, as if the peer had
    /// closed it: `[DISCONNECT n]`.
    CloseSocket(u8),
    /// The next command's response lines (not its echo, not events) are
    /// never written.
    DropNextResponse,
    /// The next command's response is written only after this delay.
    DelayNextResponse(Duration),
    /// The next response or event line is garbled (see the crate docs).
    GarbleNextLine,
}

/// How a GPIO pin is set up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GpioPin {
    /// The level applied from outside (SimControl), read in input mode.
    pub external: bool,
    /// `Some(level)` when the pin is an output driving `level`.
    pub output: Option<bool>,
    /// The pull / drive configuration value of AT+FGPIO (0..=3).
    pub config: u8,
}

impl GpioPin {
    /// The level the pin shows: driven level for outputs, else the outside one.
    pub fn level(&self) -> bool {
        self.output.unwrap_or(self.external)
    }
}

/// Values of the emulated board.
#[derive(Debug, Clone)]
pub struct BoardValues {
    /// MAC address (AT+MMAC; kept across resets like the module's flash).
    pub mac: [u8; 6],
    /// Firmware version printed by AT+MINFO.
    pub fw_version: String,
    /// Raw ADC reading printed by AT+FGETADC=? (12 bits on the module).
    pub adc: u16,
    /// Received signal strength in dBm, printed by AT+WSTAT.
    pub rssi: i16,
    /// Pins 3 and 4, in the order of [`GPIO_PINS`].
    pub gpio: [GpioPin; 2],
    /// The access point is on the air: while false, AT+WJOIN fails.
    pub ap_on_air: bool,
    /// Reboots since power-up (AT+MRESET or a reset fault).
    pub boots: u32,
}

impl Default for BoardValues {
    fn default() -> Self {
        let pin = GpioPin {
            external: false,
            output: None,
            config: 0,
        };
        BoardValues {
            mac: [0x00, 0x08, 0xDC, 0x1E, 0x32, 0x22],
            fw_version: "1.1.1.0".into(),
            adc: 1697,
            rssi: -55,
            gpio: [pin; 2],
            ap_on_air: true,
            boots: 0,
        }
    }
}

impl BoardValues {
    /// The pin record for a module pin number, if the module has that pin.
    pub fn pin_mut(&mut self, pin: u8) -> Option<&mut GpioPin> {
        let index = GPIO_PINS.iter().position(|&p| p == pin)?;
        self.gpio.get_mut(index)
    }
}

/// The shared board: values plus the queue of injected faults.
#[derive(Debug, Clone, Default)]
pub struct Board {
    values: Arc<Mutex<BoardValues>>,
    faults: FaultQueue<Fault>,
}

impl Board {
    fn lock(&self) -> MutexGuard<'_, BoardValues> {
        // A panic while holding this lock leaves plain values behind, which
        // stay usable; recover them instead of propagating the poison.
        self.values
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Runs `f` on the board values.
    pub fn with<R>(&self, f: impl FnOnce(&mut BoardValues) -> R) -> R {
        f(&mut self.lock())
    }

    /// Queues a fault and wakes the IO shell.
    pub fn push_fault(&self, fault: Fault) {
        self.faults.push(fault);
    }

    /// Takes every queued fault, oldest first.
    pub fn take_faults(&self) -> Vec<Fault> {
        self.faults.take_all()
    }

    /// Resolves when a fault has been queued.
    pub async fn fault_queued(&self) {
        self.faults.queued().await
    }
}

/// Cheap, cloneable handle to the running emulator's board.
#[derive(Debug, Clone)]
pub struct SimControl {
    board: Board,
}

impl SimControl {
    pub(crate) fn new(board: Board) -> Self {
        SimControl { board }
    }

    /// Sets the MAC address AT+MMAC=? prints.
    pub fn set_mac(&self, mac: [u8; 6]) {
        self.board.with(|v| v.mac = mac);
    }

    /// The current MAC address (as changed by AT+MMAC too).
    pub fn mac(&self) -> [u8; 6] {
        self.board.with(|v| v.mac)
    }

    /// Sets the firmware version AT+MINFO prints.
    pub fn set_fw_version(&self, version: impl Into<String>) {
        let version = version.into();
        self.board.with(|v| v.fw_version = version);
    }

    /// Sets the value AT+FGETADC=? prints.
    pub fn set_adc(&self, value: u16) {
        self.board.with(|v| v.adc = value);
    }

    /// The current ADC value.
    pub fn adc(&self) -> u16 {
        self.board.with(|v| v.adc)
    }

    /// Sets the RSSI (dBm, e.g. -55) AT+WSTAT prints.
    pub fn set_rssi(&self, dbm: i16) {
        self.board.with(|v| v.rssi = dbm);
    }

    /// The current RSSI in dBm.
    pub fn rssi(&self) -> i16 {
        self.board.with(|v| v.rssi)
    }

    /// Applies `level` from outside to GPIO `pin` (3 or 4); an input pin then
    /// reads it. Returns false for a pin the module does not have.
    pub fn set_gpio(&self, pin: u8, level: bool) -> bool {
        self.board.with(|v| match v.pin_mut(pin) {
            Some(p) => {
                p.external = level;
                true
            }
            None => false,
        })
    }

    /// The level GPIO `pin` shows (its driven level when it is an output).
    pub fn gpio(&self, pin: u8) -> Option<bool> {
        self.board.with(|v| v.pin_mut(pin).map(|p| p.level()))
    }

    /// Whether GPIO `pin` is configured as an output.
    pub fn gpio_is_output(&self, pin: u8) -> Option<bool> {
        self.board
            .with(|v| v.pin_mut(pin).map(|p| p.output.is_some()))
    }

    /// Takes the access point off the air (`false`: the link goes down as
    /// with [`Fault::LinkDown`] and every AT+WJOIN fails) or puts it back.
    pub fn set_access_point(&self, on_air: bool) {
        self.board.with(|v| v.ap_on_air = on_air);
        if !on_air {
            self.board.push_fault(Fault::LinkDown);
        }
    }

    /// Reboots since power-up (AT+MRESET or [`Fault::ResetEvent`]).
    pub fn boots(&self) -> u32 {
        self.board.with(|v| v.boots)
    }

    /// Whether the access point is on the air.
    pub fn access_point(&self) -> bool {
        self.board.with(|v| v.ap_on_air)
    }

    /// Injects a fault; see [`Fault`] for what each does.
    pub fn inject(&self, fault: Fault) {
        self.board.push_fault(fault);
    }
}
