//! Topic filters against topic names (MQTT 3.1.1 §4.7): `+` matches one
//! level, `#` the rest (the parent level included), and a topic starting
//! with `$` is matched only by a filter that names its first level.
//! [`granted_qos`]: the QoS a client's filters grant it for a topic.

use mqtt_codec::QoS;

/// True when `filter` matches `topic`.
pub fn matches(filter: &str, topic: &str) -> bool {
    if topic.starts_with('$') && (filter.starts_with('+') || filter.starts_with('#')) {
        return false;
    }
    let mut levels = topic.split('/');
    for want in filter.split('/') {
        match (want, levels.next()) {
            ("#", _) => return true,
            ("+", Some(_)) => {}
            (w, Some(l)) if w == l => {}
            _ => return false,
        }
    }
    levels.next().is_none()
}

/// The QoS granted for `topic` by `filters` (each with its granted QoS):
/// the highest among the filters that match it; `None` when none does. A
/// message goes to the client at the lower of its own QoS and this.
pub fn granted_qos(filters: &[(String, QoS)], topic: &str) -> Option<QoS> {
    filters
        .iter()
        .filter(|(f, _)| matches(f, topic))
        .map(|(_, q)| *q)
        .max()
}

#[cfg(test)]
mod tests {
    use super::{QoS, granted_qos, matches};

    #[test]
    fn the_granted_qos_is_the_highest_among_the_matching_filters() {
        let filters = vec![
            ("cmd/#".to_owned(), QoS::AtMostOnce),
            ("cmd/led".to_owned(), QoS::AtLeastOnce),
            ("other".to_owned(), QoS::ExactlyOnce),
        ];
        assert_eq!(granted_qos(&filters, "cmd/led"), Some(QoS::AtLeastOnce));
        assert_eq!(granted_qos(&filters, "cmd/relay"), Some(QoS::AtMostOnce));
        assert_eq!(granted_qos(&filters, "nothing"), None);
    }

    #[test]
    fn wildcards_as_the_specification_says() {
        let yes = [
            ("led2", "led2"),
            ("a/+/c", "a/b/c"),
            ("a/#", "a"),
            ("a/#", "a/b/c"),
            ("#", "a/b"),
            ("+/+", "/x"),
            ("+", ""),
            ("$dp", "$dp"),
            ("$SYS/#", "$SYS/x"),
        ];
        for (f, t) in yes {
            assert!(matches(f, t), "{f} should match {t}");
        }
        let no = [
            ("led2", "led3"),
            ("a/+", "a/b/c"),
            ("a/+/c", "a/b"),
            ("a/b", "a"),
            ("#", "$dp"),
            ("+/x", "$SYS/x"),
            ("led2", "led2/x"),
        ];
        for (f, t) in no {
            assert!(!matches(f, t), "{f} should not match {t}");
        }
    }
}
