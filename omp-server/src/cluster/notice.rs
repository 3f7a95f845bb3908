//! The word an instance sends on each claim: `NOTIFY omp_sessions` with
//! `<kind> <key> <epoch> <instance id>`. The key (an MQTT client id may
//! hold spaces) is everything between the first space and the last two,
//! since kind, epoch and instance id never hold one.

use super::local::Kind;

/// The channel claims are announced on.
pub const CHANNEL: &str = "omp_sessions";

/// One claim, as announced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// The key's kind.
    pub kind: Kind,
    /// The GW ID or client id.
    pub key: String,
    /// The claim's epoch.
    pub epoch: i64,
    /// The claiming instance.
    pub instance: String,
}

impl Notice {
    /// The notice of `payload`; `None` for one not in this format.
    pub fn parse(payload: &str) -> Option<Notice> {
        let (kind, rest) = payload.split_once(' ')?;
        let mut tail = rest.rsplitn(3, ' ');
        let instance = tail.next()?;
        let epoch = tail.next()?.parse().ok()?;
        let key = tail.next()?;
        Some(Notice {
            kind: Kind::parse(kind)?,
            key: key.to_owned(),
            epoch,
            instance: instance.to_owned(),
        })
    }
}

impl std::fmt::Display for Notice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {} {} {}",
            self.kind.as_str(),
            self.key,
            self.epoch,
            self.instance
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_notice_reads_back_even_with_spaces_in_its_key() {
        for key in ["SC10010001", "a client id", " x "] {
            let notice = Notice {
                kind: Kind::Mqtt,
                key: key.into(),
                epoch: 42,
                instance: "0123456789abcdef".into(),
            };
            assert_eq!(Notice::parse(&notice.to_string()), Some(notice));
        }
    }

    #[test]
    fn a_payload_of_another_format_is_no_notice() {
        for payload in ["", "gmmp", "gmmp SC1 x abc", "http SC1 1 abc", "gmmp 1 abc"] {
            assert_eq!(Notice::parse(payload), None, "{payload:?}");
        }
    }
}
