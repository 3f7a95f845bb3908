//! AT+FGETADC=?, AT+FGPIO.

use super::{Command, ParseFail, Reply, single_line};
use crate::wizfi310::error::Error;

/// `AT+FGETADC=?`: the ADC reading (e.g. `1697`).
#[derive(Debug, Clone, Copy)]
pub struct ReadAdc;

impl Command for ReadAdc {
    type Output = u16;
    fn line(&self) -> Result<String, Error> {
        Ok("AT+FGETADC=?".into())
    }
    fn parse(&self, reply: &Reply) -> Result<u16, ParseFail> {
        let line = single_line(reply, "an ADC value")?;
        line.parse()
            .map_err(|_| ParseFail::new(line, "an ADC value"))
    }
}

/// A GPIO level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GpioLevel {
    /// 0.
    Low = 0,
    /// 1.
    High = 1,
}

/// AT+FGPIO `<config_value>` for actions 0 and 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GpioConfig {
    /// 0: no pull resistor.
    PullNone = 0,
    /// 1: pull-up.
    PullUp = 1,
    /// 2: pull-down.
    PullDown = 2,
    /// 3: open drain output.
    OpenDrain = 3,
}

/// `AT+FGPIO=<pin>,<action>,<value>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gpio {
    /// Action 0: initialise `pin` as input.
    ConfigureInput(u8, GpioConfig),
    /// Action 1: initialise `pin` as output.
    ConfigureOutput(u8, GpioConfig),
    /// Action 2: read `pin`.
    Read(u8),
    /// Action 3: set `pin`.
    Write(u8, GpioLevel),
}

impl Command for Gpio {
    /// The level for [`Gpio::Read`], `None` for the other actions.
    type Output = Option<GpioLevel>;
    fn line(&self) -> Result<String, Error> {
        let (pin, action, value) = match *self {
            Gpio::ConfigureInput(pin, c) => (pin, 0, c as u8),
            Gpio::ConfigureOutput(pin, c) => (pin, 1, c as u8),
            Gpio::Read(pin) => (pin, 2, 0),
            Gpio::Write(pin, level) => (pin, 3, level as u8),
        };
        Ok(format!("AT+FGPIO={pin},{action},{value}"))
    }
    fn parse(&self, reply: &Reply) -> Result<Option<GpioLevel>, ParseFail> {
        if !matches!(self, Gpio::Read(_)) {
            return Ok(None);
        }
        let line = single_line(reply, "a GPIO level 0 or 1")?;
        match line {
            "0" => Ok(Some(GpioLevel::Low)),
            "1" => Ok(Some(GpioLevel::High)),
            _ => Err(ParseFail::new(line, "a GPIO level 0 or 1")),
        }
    }
}
