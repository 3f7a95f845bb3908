//! Management and function commands: AT+MMAC, AT+MINFO, AT+MECHO, AT+MMSG,
//! AT+MRESET, AT+USET, AT+FGETADC, AT+FGPIO.

use super::params::{at_most, field, flag, format_mac, mac, number};
use super::{Action, AtError, Busy, CommandLine, CommandResult, Interpreter, Outcome, Timer};
use crate::control::GPIO_PINS;

const BAUD_RATES: [u32; 15] = [
    300, 600, 1200, 2400, 4800, 9600, 14400, 19200, 38400, 57600, 115_200, 230_400, 460_800,
    921_600, 1_843_200,
];

/// The AT+USET settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UartSettings {
    baud: u32,
    parity: String,
    word_len: String,
    stop_bits: String,
    flow: String,
}

impl UartSettings {
    pub(crate) fn new(baud: u32) -> Self {
        UartSettings {
            baud,
            parity: "N".into(),
            word_len: "8".into(),
            stop_bits: "1".into(),
            flow: "N".into(),
        }
    }
}

impl Interpreter {
    pub(super) fn cmd_mmac(&mut self, cmd: &CommandLine) -> CommandResult {
        if cmd.is_query() {
            let mac = self.board.with(|v| v.mac);
            self.line(&format_mac(&mac));
            return Ok(Outcome::Ok);
        }
        let fields = cmd.fields()?;
        at_most(&fields, 1)?;
        let mac = mac(field(&fields, 0))?;
        self.board.with(|v| v.mac = mac);
        Ok(Outcome::Ok)
    }

    pub(super) fn cmd_minfo(&mut self, cmd: &CommandLine) -> CommandResult {
        if cmd.params.is_some() {
            return Err(AtError::InvalidInput);
        }
        self.line("FW version / HW version");
        let fw = self.board.with(|v| v.fw_version.clone());
        let versions = format!("{fw} / {}", self.config.hw_version);
        self.line(&versions);
        Ok(Outcome::Ok)
    }

    pub(super) fn cmd_mecho(&mut self, cmd: &CommandLine) -> CommandResult {
        if cmd.is_query() {
            self.line(if self.echo { "1" } else { "0" });
            return Ok(Outcome::Ok);
        }
        let fields = cmd.fields()?;
        at_most(&fields, 1)?;
        self.echo = flag(field(&fields, 0))?;
        Ok(Outcome::Ok)
    }

    pub(super) fn cmd_mmsg(&mut self, cmd: &CommandLine) -> CommandResult {
        if cmd.is_query() {
            self.line(&self.msg_level.to_string());
            return Ok(Outcome::Ok);
        }
        let fields = cmd.fields()?;
        at_most(&fields, 1)?;
        self.msg_level = number(field(&fields, 0), 1..=3)?;
        Ok(Outcome::Ok)
    }

    pub(super) fn cmd_mreset(&mut self, cmd: &CommandLine) -> CommandResult {
        if cmd.params.is_some() {
            return Err(AtError::InvalidInput);
        }
        self.ok();
        let token = self.token();
        self.busy = Some(Busy::Resetting(token));
        self.schedule(self.config.reset_delay, Timer::Reset(token));
        Ok(Outcome::Pending)
    }

    pub(super) fn cmd_uset(&mut self, cmd: &CommandLine) -> CommandResult {
        if cmd.is_query() {
            let u = &self.uart;
            let text = format!(
                "{},{},{},{},{}",
                u.baud, u.parity, u.word_len, u.stop_bits, u.flow
            );
            self.line(&text);
            return Ok(Outcome::Ok);
        }
        let fields = cmd.fields()?;
        if fields.len() != 5 {
            return Err(AtError::InvalidInput);
        }
        let baud: u32 = number(fields[0], 300..=1_843_200)?;
        let valid = BAUD_RATES.contains(&baud)
            && matches!(fields[1], "N" | "O" | "E")
            && matches!(fields[2], "7" | "8")
            && matches!(fields[3], "1" | "2")
            && matches!(fields[4], "N" | "HW");
        if !valid {
            return Err(AtError::InvalidInput);
        }
        self.uart = UartSettings {
            baud,
            parity: fields[1].into(),
            word_len: fields[2].into(),
            stop_bits: fields[3].into(),
            flow: fields[4].into(),
        };
        // The [OK] still goes out at the old rate; the new one applies after.
        self.ok();
        self.actions.push(Action::SetBaud(baud));
        Ok(Outcome::Pending)
    }

    pub(super) fn cmd_fgetadc(&mut self, cmd: &CommandLine) -> CommandResult {
        if !cmd.is_query() {
            return Err(AtError::InvalidInput);
        }
        let value = self.board.with(|v| v.adc);
        self.line(&value.to_string());
        Ok(Outcome::Ok)
    }

    pub(super) fn cmd_fgpio(&mut self, cmd: &CommandLine) -> CommandResult {
        if cmd.is_query() {
            let pins: Vec<String> = GPIO_PINS.iter().map(|p| p.to_string()).collect();
            self.line(&pins.join(","));
            return Ok(Outcome::Ok);
        }
        let fields = cmd.fields()?;
        if fields.len() != 3 {
            return Err(AtError::InvalidInput);
        }
        let pin: u8 = number(fields[0], 0..=255)?;
        if !GPIO_PINS.contains(&pin) {
            return Err(AtError::InvalidInput);
        }
        let action: u8 = number(fields[1], 0..=3)?;
        let value: u8 = match action {
            0 | 1 => number(fields[2], 0..=3)?,
            _ => number(fields[2], 0..=1)?,
        };
        let result = self.board.with(|v| {
            let p = v.pin_mut(pin).ok_or(AtError::InvalidInput)?;
            match action {
                0 => {
                    p.config = value;
                    p.output = None;
                    Ok(None)
                }
                1 => {
                    p.config = value;
                    p.output = Some(p.output.unwrap_or(false));
                    Ok(None)
                }
                2 => Ok(Some(p.level())),
                _ => match p.output {
                    Some(_) => {
                        p.output = Some(value == 1);
                        Ok(None)
                    }
                    // Driving a pin set up as input: the firmware refuses.
                    None => Err(AtError::Failed),
                },
            }
        })?;
        if let Some(level) = result {
            self.line(if level { "1" } else { "0" });
        }
        Ok(Outcome::Ok)
    }
}
