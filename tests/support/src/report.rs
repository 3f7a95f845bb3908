//! [`Report`]: the figures of one scenario run, printed as one line
//! (`ingest deliveries_per_sec=51234.5 p99_ms=3.1 …`) or, with `--json`, as
//! one JSON object whose keys name the figures.

use std::fmt;

use serde_json::{Map, Value};

/// The figures one scenario measured, in the order they were added.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// The scenario's name (`ingest`, `tcp-ceiling`, …).
    pub scenario: &'static str,
    figures: Vec<(String, Value)>,
}

impl Report {
    /// An empty report for `scenario`.
    pub fn new(scenario: &'static str) -> Self {
        Report {
            scenario,
            figures: Vec::new(),
        }
    }

    /// Adds (or replaces) a figure.
    pub fn set(&mut self, key: impl Into<String>, value: impl Into<Value>) -> &mut Self {
        let key = key.into();
        let value = value.into();
        match self.figures.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => self.figures.push((key, value)),
        }
        self
    }

    /// Adds a rate or duration rounded to `decimals` places, so that lines
    /// stay readable.
    pub fn set_f64(&mut self, key: impl Into<String>, value: f64, decimals: i32) -> &mut Self {
        let scale = 10f64.powi(decimals);
        let rounded = (value * scale).round() / scale;
        let value = serde_json::Number::from_f64(rounded).map_or(Value::Null, Value::Number);
        self.set(key, value)
    }

    /// Adds every figure of `other`, each key prefixed with `prefix`.
    pub fn merge(&mut self, prefix: &str, other: &Report) -> &mut Self {
        for (k, v) in &other.figures {
            self.set(format!("{prefix}{k}"), v.clone());
        }
        self
    }

    /// The value of a figure.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.figures.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// All figures in order.
    pub fn figures(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.figures.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// The JSON object: `{"scenario": "...", <figures>}`.
    pub fn to_json(&self) -> Value {
        let mut map = Map::new();
        map.insert("scenario".into(), Value::String(self.scenario.into()));
        for (k, v) in &self.figures {
            map.insert(k.clone(), v.clone());
        }
        Value::Object(map)
    }
}

impl fmt::Display for Report {
    /// One line: the scenario then `key=value` pairs; strings unquoted when
    /// they have no space.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.scenario)?;
        for (k, v) in &self.figures {
            match v {
                Value::String(s) if !s.contains(' ') => write!(f, " {k}={s}")?,
                other => write!(f, " {k}={other}")?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_json_carry_the_same_figures() {
        let mut r = Report::new("ingest");
        r.set("gateways", 3).set_f64("p99_ms", 1.23456, 3);
        r.set("codes", "0x00:5,0x0f:1");
        assert_eq!(
            r.to_string(),
            "ingest gateways=3 p99_ms=1.235 codes=0x00:5,0x0f:1"
        );
        let j = r.to_json();
        assert_eq!(j["scenario"], "ingest");
        assert_eq!(j["gateways"], 3);
        assert_eq!(j["p99_ms"], 1.235);
    }

    #[test]
    fn set_replaces_and_merge_prefixes() {
        let mut a = Report::new("api");
        a.set("x", 1).set("x", 2);
        assert_eq!(a.get("x"), Some(&Value::from(2)));
        let mut b = Report::new("api");
        b.merge("latest_", &a);
        assert_eq!(b.to_string(), "api latest_x=2");
    }
}
