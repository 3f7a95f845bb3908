//! Topic filters against topic names (MQTT 3.1.1 §4.7): `+` matches one
//! level, `#` the rest (the parent level included), and a topic starting
//! with `$` is matched only by a filter that names its first level.

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

#[cfg(test)]
mod tests {
    use super::matches;

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
