//! Topic names and topic filters (§4.7): what may be published to and what
//! may be subscribed to.

use crate::error::MqttError;
use crate::packet::PacketType;

/// Checks a PUBLISH topic name: at least one character, no `+` or `#`.
pub fn check_topic_name(topic: &str) -> Result<(), MqttError> {
    let reason = if topic.is_empty() {
        "empty"
    } else if topic.contains(['+', '#']) {
        "wildcard in a topic name"
    } else {
        return Ok(());
    };
    Err(MqttError::InvalidTopicName {
        topic: topic.to_owned(),
        reason,
    })
}

/// Checks a topic filter: at least one character; `+` only as a whole
/// level; `#` only as the whole last level.
pub fn check_topic_filter(packet_type: PacketType, filter: &str) -> Result<(), MqttError> {
    let err = |reason| MqttError::InvalidTopicFilter {
        packet_type,
        filter: filter.to_owned(),
        reason,
    };
    if filter.is_empty() {
        return Err(err("empty"));
    }
    let mut levels = filter.split('/').peekable();
    while let Some(level) = levels.next() {
        if level.contains('#') && (level != "#" || levels.peek().is_some()) {
            return Err(err("'#' is not the whole last level"));
        }
        if level.contains('+') && level != "+" {
            return Err(err("'+' is not a whole level"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in ["$dp", "a/b", "/", "dddrrrggghhhk", "$creq/81572aae"] {
            check_topic_name(ok).unwrap();
        }
        for bad in ["", "a/+", "#", "a#"] {
            assert!(check_topic_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn filters() {
        let t = PacketType::Subscribe;
        for ok in [
            "#",
            "+",
            "a/#",
            "a/+/b",
            "+/+",
            "/",
            "a//b",
            "sport/tennis/#",
        ] {
            check_topic_filter(t, ok).unwrap();
        }
        for bad in ["", "a#", "a/#/b", "a+", "a/b+/c", "##"] {
            assert!(check_topic_filter(t, bad).is_err(), "{bad}");
        }
    }
}
