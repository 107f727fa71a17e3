//! Durations as operators write them in `rules/` (`500ms`, `30s`, `30m`,
//! `2h`, `1d`), held as milliseconds.

/// Parses `<number><unit>` with unit `ms`, `s`, `m`, `h` or `d`. A unit is
/// required: a bare `30` could mean seconds or milliseconds.
pub fn parse_duration_ms(raw: &str) -> Result<i64, String> {
    let raw = raw.trim();
    let split = raw
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .ok_or_else(|| format!("duration {raw:?} needs a unit: ms, s, m, h or d"))?;
    let (number, unit) = raw.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("duration {raw:?} does not start with a number"))?;
    let unit_ms = match unit {
        "ms" => 1.0,
        "s" => 1_000.0,
        "m" => 60_000.0,
        "h" => 3_600_000.0,
        "d" => 86_400_000.0,
        _ => return Err(format!("duration {raw:?}: unit must be ms, s, m, h or d")),
    };
    let ms = value * unit_ms;
    // a year is far beyond any period or window we could keep
    if !(ms.is_finite() && (0.0..=365.0 * 86_400_000.0).contains(&ms)) {
        return Err(format!("duration {raw:?} must be between 0 and 365d"));
    }
    Ok(ms.round() as i64)
}

/// The shortest exact form: `1d`, `30m`, `90s`, `1500ms`. Parses back to
/// the same value.
pub fn format_duration_ms(ms: i64) -> String {
    for (unit, size) in [
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
    ] {
        if ms != 0 && ms % size == 0 {
            return format!("{}{unit}", ms / size);
        }
    }
    format!("{ms}ms")
}

/// A human reading for explanations: `1h5m`, `45s`, `2d3h`; drops the
/// smaller parts, which don't matter at that scale.
pub fn describe_duration_ms(ms: i64) -> String {
    let ms = ms.max(0);
    let s = ms / 1000;
    let (d, h, m, sec) = (s / 86_400, s / 3_600 % 24, s / 60 % 60, s % 60);
    match (d, h, m) {
        (0, 0, 0) if s == 0 => format!("{ms}ms"),
        (0, 0, 0) => format!("{sec}s"),
        (0, 0, _) if sec == 0 => format!("{m}m"),
        (0, 0, _) => format!("{m}m{sec}s"),
        (0, _, 0) => format!("{h}h"),
        (0, _, _) => format!("{h}h{m}m"),
        (_, 0, _) => format!("{d}d"),
        _ => format!("{d}d{h}h"),
    }
}

pub(crate) mod serde_ms {
    //! `rebaseline_after: 30m` and `period: 1d` in the config.
    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(ms: &i64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::format_duration_ms(*ms))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
        let raw = String::deserialize(d)?;
        super::parse_duration_ms(&raw).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_format_round_trip() {
        for (raw, ms) in [
            ("500ms", 500),
            ("30s", 30_000),
            ("30m", 1_800_000),
            ("1.5h", 5_400_000),
            ("1d", 86_400_000),
            ("0s", 0),
        ] {
            assert_eq!(parse_duration_ms(raw), Ok(ms), "{raw}");
            assert_eq!(parse_duration_ms(&format_duration_ms(ms)), Ok(ms));
        }
        assert_eq!(format_duration_ms(90_000), "90s");
        for bad in ["", "30", "x1s", "1y", "-5m", "400d"] {
            assert!(parse_duration_ms(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn describe_is_short() {
        assert_eq!(describe_duration_ms(250), "250ms");
        assert_eq!(describe_duration_ms(45_000), "45s");
        assert_eq!(describe_duration_ms(1_800_000), "30m");
        assert_eq!(describe_duration_ms(3_900_000), "1h5m");
        assert_eq!(describe_duration_ms(86_400_000 + 3 * 3_600_000), "1d3h");
    }
}
