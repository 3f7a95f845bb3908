//! Module readings as deliveries: every `sources.module.interval` the
//! WizFi310's ADC (AT+FGETADC=?) and the configured GPIO pins
//! (`AT+FGPIO=<pin>,2,0`) are read and delivered as one JSON text, media
//! type 0x65 (JSON), report type from the config:
//!
//! ```text
//! {"adc":1697,"gpio":{"3":0,"4":1}}
//! ```
//!
//! A reading that fails (module resetting, Wi-Fi join holding the port,
//! pin missing) is left out of that delivery and logged; when every
//! reading fails nothing is delivered for that tick. Readings go through
//! the shared [`ModuleHandle`], so they interleave with the transport's
//! AT commands (the driver serialises them) and go on while the OMP is
//! unreachable — they wait in the spool like any delivery. The pins are
//! read as they are configured: the agent does not switch them to input.

use std::collections::BTreeMap;

use bytes::Bytes;
use serde::Serialize;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::{MEDIA_TYPE_JSON, SourceMessage};
use crate::config::ModuleSourceConfig;
use crate::module::ModuleHandle;
use crate::spool::SpooledDelivery;
use crate::wizfi310::{Driver, GpioLevel};

/// One set of readings, as delivered.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Readings {
    /// The ADC value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub adc: Option<u16>,
    /// Pin → level (0/1).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub gpio: BTreeMap<String, u8>,
}

impl Readings {
    /// True when nothing could be read.
    pub fn is_empty(&self) -> bool {
        self.adc.is_none() && self.gpio.is_empty()
    }

    /// The JSON text (`{"adc":1697,"gpio":{"3":0}}`).
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".into())
    }
}

/// Reads what `config` asks for through `driver`.
pub async fn read(driver: &Driver, config: &ModuleSourceConfig) -> Readings {
    let mut readings = Readings::default();
    if config.adc {
        match driver.adc().await {
            Ok(v) => readings.adc = Some(v),
            Err(e) => tracing::warn!(error = %e, "ADC reading failed"),
        }
    }
    for &pin in &config.gpio {
        match driver.gpio_read(pin).await {
            Ok(level) => {
                let bit = u8::from(level == GpioLevel::High);
                readings.gpio.insert(pin.to_string(), bit);
            }
            Err(e) => tracing::warn!(pin, error = %e, "GPIO reading failed"),
        }
    }
    readings
}

/// Reads on the schedule and sends each set to the agent until the
/// channel closes.
pub fn spawn(
    handle: ModuleHandle,
    config: ModuleSourceConfig,
    report_type: u8,
    tx: mpsc::Sender<SourceMessage>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(config.interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The first tick is immediate: let the transport start the module.
        ticker.tick().await;
        loop {
            ticker.tick().await;
            let Some(driver) = handle.driver() else {
                tracing::debug!("module readings skipped: the serial port is not open");
                continue;
            };
            let readings = read(&driver, &config).await;
            if readings.is_empty() {
                continue;
            }
            let delivery = SpooledDelivery {
                device: config.device.clone(),
                report_type,
                media_type: MEDIA_TYPE_JSON,
                payload: Bytes::from(readings.to_json().into_bytes()),
                spooled_at: 0,
            };
            let msg = SourceMessage {
                delivery,
                reply: None,
            };
            if tx.send(msg).await.is_err() {
                return;
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readings_serialise_compactly() {
        let mut r = Readings {
            adc: Some(1697),
            ..Readings::default()
        };
        assert_eq!(r.to_json(), r#"{"adc":1697}"#);
        r.gpio.insert("3".into(), 1);
        r.gpio.insert("4".into(), 0);
        assert_eq!(r.to_json(), r#"{"adc":1697,"gpio":{"3":1,"4":0}}"#);
        assert!(Readings::default().is_empty());
    }
}
