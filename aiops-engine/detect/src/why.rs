//! Numbers in explanations, in the unit a person reads for each signal.

use crate::config::SignalKind;

/// A plain number with as many decimals as its size deserves.
pub(crate) fn num(v: f64) -> String {
    let a = v.abs();
    if v == 0.0 {
        "0.00".to_owned()
    } else if !v.is_finite() || !(1e-3..1e7).contains(&a) {
        format!("{v:.3e}")
    } else if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else if a >= 0.01 {
        format!("{v:.2}")
    } else {
        format!("{v:.4}")
    }
}

/// A value of `signal` with its unit: `240 ms`, `1.50 cores`, `512.0 MiB`.
pub(crate) fn value(signal: SignalKind, v: f64) -> String {
    match signal {
        SignalKind::Latency | SignalKind::PeerLatency => seconds(v),
        SignalKind::Cpu => format!("{} cores", num(v)),
        SignalKind::Memory => bytes(v),
        SignalKind::RequestRate => format!("{} req/s", num(v)),
        _ => num(v),
    }
}

/// A signed change of `signal`: `+0.48 absolute`, `+720 ms`, `-12.0 req/s`.
pub(crate) fn change(signal: SignalKind, delta: f64) -> String {
    let sign = if delta < 0.0 { "-" } else { "+" };
    match signal {
        SignalKind::ErrorRatio
        | SignalKind::PeerErrorRatio
        | SignalKind::Up
        | SignalKind::Restarts
        | SignalKind::OpenFds
        | SignalKind::Other => format!("{sign}{} absolute", num(delta.abs())),
        _ => format!("{sign}{}", value(signal, delta.abs())),
    }
}

/// ` (+250%)` when the baseline is not zero, else nothing.
pub(crate) fn relative(delta: f64, baseline: f64) -> String {
    if baseline == 0.0 || !(delta / baseline).is_finite() {
        return String::new();
    }
    format!(" ({:+.0}%)", delta / baseline.abs() * 100.0)
}

fn seconds(v: f64) -> String {
    let a = v.abs();
    if !v.is_finite() || a >= 1e6 {
        format!("{v:.3e} s")
    } else if a >= 1.0 {
        format!("{v:.2} s")
    } else if a >= 0.01 {
        format!("{:.0} ms", v * 1000.0)
    } else {
        format!("{:.2} ms", v * 1000.0)
    }
}

fn bytes(v: f64) -> String {
    const MIB: f64 = 1024.0 * 1024.0;
    const GIB: f64 = 1024.0 * MIB;
    let a = v.abs();
    if !v.is_finite() || a >= 1e6 * GIB {
        format!("{v:.3e} bytes")
    } else if a >= GIB {
        format!("{:.2} GiB", v / GIB)
    } else {
        format!("{:.1} MiB", v / MIB)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_read_naturally() {
        assert_eq!(value(SignalKind::ErrorRatio, 0.48), "0.48");
        assert_eq!(value(SignalKind::ErrorRatio, 0.0), "0.00");
        assert_eq!(value(SignalKind::Latency, 0.24), "240 ms");
        assert_eq!(value(SignalKind::Latency, 1.5), "1.50 s");
        assert_eq!(
            value(SignalKind::Memory, 512.0 * 1024.0 * 1024.0),
            "512.0 MiB"
        );
        assert_eq!(value(SignalKind::Cpu, 1.5), "1.50 cores");
        assert_eq!(change(SignalKind::ErrorRatio, 0.48), "+0.48 absolute");
        assert_eq!(change(SignalKind::Latency, -0.72), "-720 ms");
        assert_eq!(relative(0.5, 0.25), " (+200%)");
        assert_eq!(relative(0.5, 0.0), "");
        assert_eq!(num(1e300), "1.000e300");
    }
}
