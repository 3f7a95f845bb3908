//! [`ControlKey`]: which control of the run a piece of data names.
//!
//! The control's `data` (what the OMP puts in the 0x0D and the gateway
//! echoes in its 0x17) and the POST's `Idempotency-Key` both name the
//! gateway index and the gateway's control sequence number, so a 0x0D
//! arriving at a gateway, a row in the database and a result can each be
//! traced to the POST that asked for it, whatever id or T-ID the OMP gave
//! it.

const DATA_MAGIC: &str = "omp-faults control g=";
const KEY_MAGIC: &str = "omp-faults-g";
const GATEWAY_DIGITS: usize = 5;
const SEQ_DIGITS: usize = 9;

/// One control the run asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ControlKey {
    /// Index of the gateway it is for.
    pub gateway: u32,
    /// The gateway's control sequence number.
    pub seq: u64,
}

impl ControlKey {
    /// The control data: `omp-faults control g=00003 c=000000012`.
    pub fn data(&self) -> Vec<u8> {
        format!(
            "{DATA_MAGIC}{:05} c={:09}",
            self.gateway % 100_000,
            self.seq % 1_000_000_000
        )
        .into_bytes()
    }

    /// The POST's Idempotency-Key: `omp-faults-g00003-c000000012`.
    pub fn idempotency_key(&self) -> String {
        format!(
            "{KEY_MAGIC}{:05}-c{:09}",
            self.gateway % 100_000,
            self.seq % 1_000_000_000
        )
    }

    /// The key named by control data, if it is ours.
    pub fn from_data(data: &[u8]) -> Option<ControlKey> {
        let text = std::str::from_utf8(data).ok()?;
        let rest = text.strip_prefix(DATA_MAGIC)?;
        let (gateway, rest) = rest.split_at_checked(GATEWAY_DIGITS)?;
        let seq = rest.strip_prefix(" c=")?;
        Self::from_parts(gateway, seq)
    }

    /// The key named by an Idempotency-Key, if it is ours.
    pub fn from_idempotency_key(key: &str) -> Option<ControlKey> {
        let rest = key.strip_prefix(KEY_MAGIC)?;
        let (gateway, rest) = rest.split_at_checked(GATEWAY_DIGITS)?;
        let seq = rest.strip_prefix("-c")?;
        Self::from_parts(gateway, seq)
    }

    fn from_parts(gateway: &str, seq: &str) -> Option<ControlKey> {
        let digits = |s: &str, n: usize| {
            (s.len() == n && s.bytes().all(|b| b.is_ascii_digit()))
                .then(|| s.parse::<u64>().ok())
                .flatten()
        };
        Some(ControlKey {
            gateway: u32::try_from(digits(gateway, GATEWAY_DIGITS)?).ok()?,
            seq: digits(seq, SEQ_DIGITS)?,
        })
    }
}

impl std::fmt::Display for ControlKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "g{}c{}", self.gateway, self.seq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_and_key_name_the_control() {
        let k = ControlKey {
            gateway: 3,
            seq: 12,
        };
        assert_eq!(k.data(), b"omp-faults control g=00003 c=000000012");
        assert_eq!(k.idempotency_key(), "omp-faults-g00003-c000000012");
        assert_eq!(ControlKey::from_data(&k.data()), Some(k));
        assert_eq!(
            ControlKey::from_idempotency_key(&k.idempotency_key()),
            Some(k)
        );
    }

    #[test]
    fn foreign_text_is_not_a_key() {
        assert_eq!(
            ControlKey::from_data(b"omp-faults control g=00003 c=12"),
            None
        );
        assert_eq!(ControlKey::from_data(&[0xff, 0x00]), None);
        assert_eq!(ControlKey::from_idempotency_key("retry-1"), None);
        assert_eq!(
            ControlKey::from_idempotency_key("omp-faults-g0000x-c000000012"),
            None
        );
    }
}
