//! Server-rendered SVG: line charts of a service's signals around an
//! incident's onset, with markers for the onset, deploys and actions, and
//! the dependency graph the engine learned. No chart library in the
//! browser; every text that came from outside is escaped.

use std::fmt::Write as _;

/// Escapes text for XML (SVG) content and attributes.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// A vertical line at a time, labelled (onset, deploy, an action).
#[derive(Debug, Clone, PartialEq)]
pub struct Marker {
    pub at_ms: i64,
    pub label: String,
    /// `onset`, `deploy`, `action`: the CSS class it is drawn with.
    pub kind: &'static str,
}

/// One chart: a title and one series of (unix ms, value).
#[derive(Debug, Clone, PartialEq)]
pub struct Chart {
    pub title: String,
    pub unit: String,
    pub points: Vec<(i64, f64)>,
}

const W: f64 = 560.0;
const H: f64 = 160.0;
const LEFT: f64 = 56.0;
const RIGHT: f64 = 10.0;
const TOP: f64 = 22.0;
const BOTTOM: f64 = 24.0;
/// Points drawn at most; more are thinned evenly.
const MAX_POINTS: usize = 400;

fn fmt_value(v: f64) -> String {
    let a = v.abs();
    if a >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if a >= 1e3 {
        format!("{:.1}k", v / 1e3)
    } else if a >= 10.0 || a == 0.0 {
        format!("{v:.0}")
    } else if a >= 0.1 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

/// The chart as an `<svg>` element, `from_ms..to_ms` on the x axis.
pub fn line_chart(chart: &Chart, markers: &[Marker], from_ms: i64, to_ms: i64) -> String {
    let span = (to_ms - from_ms).max(1) as f64;
    let step = (chart.points.len() / MAX_POINTS).max(1);
    let points: Vec<(i64, f64)> = chart
        .points
        .iter()
        .copied()
        .filter(|(t, v)| (from_ms..=to_ms).contains(t) && v.is_finite())
        .step_by(step)
        .collect();
    let (lo, hi) = points
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), (_, v)| {
            (lo.min(*v), hi.max(*v))
        });
    let (lo, hi) = if lo.is_finite() {
        (lo.min(0.0), if hi > lo { hi } else { lo + 1.0 })
    } else {
        (0.0, 1.0)
    };
    let x = |t: i64| LEFT + (t - from_ms) as f64 / span * (W - LEFT - RIGHT);
    let y = |v: f64| TOP + (1.0 - (v - lo) / (hi - lo)) * (H - TOP - BOTTOM);
    let title = escape(&chart.title);
    let mut out = String::new();
    let _ = write!(
        out,
        r#"<svg class="chart" viewBox="0 0 {W} {H}" width="{W}" height="{H}" role="img" aria-label="{title}"><title>{title}</title>"#
    );
    let _ = write!(
        out,
        r#"<text class="chart-title" x="{LEFT}" y="14">{title} ({})</text>"#,
        escape(&chart.unit)
    );
    for (v, label) in [(lo, fmt_value(lo)), (hi, fmt_value(hi))] {
        let _ = write!(
            out,
            r#"<text class="axis" x="{:.0}" y="{:.1}" text-anchor="end">{label}</text>"#,
            LEFT - 4.0,
            y(v) + 4.0
        );
        let _ = write!(
            out,
            r#"<line class="grid" x1="{LEFT}" x2="{:.0}" y1="{:.1}" y2="{:.1}"/>"#,
            W - RIGHT,
            y(v),
            y(v)
        );
    }
    for m in markers
        .iter()
        .filter(|m| (from_ms..=to_ms).contains(&m.at_ms))
    {
        let mx = x(m.at_ms);
        let _ = write!(
            out,
            r#"<line class="marker {kind}" x1="{mx:.1}" x2="{mx:.1}" y1="{TOP}" y2="{:.0}"><title>{label}</title></line>"#,
            H - BOTTOM,
            kind = m.kind,
            label = escape(&m.label)
        );
    }
    if points.is_empty() {
        let _ = write!(
            out,
            r#"<text class="axis" x="{:.0}" y="{:.0}">no data recorded</text>"#,
            W / 2.0 - 40.0,
            H / 2.0
        );
    } else {
        let path: Vec<String> = points
            .iter()
            .map(|(t, v)| format!("{:.1},{:.1}", x(*t), y(*v)))
            .collect();
        let _ = write!(
            out,
            r#"<polyline class="series" fill="none" points="{}"/>"#,
            path.join(" ")
        );
    }
    out.push_str("</svg>");
    out
}

/// A service in the graph, with its health (`healthy`, `degraded`, `down`).
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub name: String,
    pub health: String,
}

/// The dependency graph: callers above the services they call (layers by
/// the longest path from a service nobody calls), edges as arrows.
pub fn dependency_graph(nodes: &[Node], edges: &[(String, String)]) -> String {
    let index = |name: &str| nodes.iter().position(|n| n.name == name);
    // layer = longest chain of callers above a service (bounded: cycles stop)
    let mut layer = vec![0usize; nodes.len()];
    for _ in 0..nodes.len() {
        for (caller, callee) in edges {
            if let (Some(a), Some(b)) = (index(caller), index(callee))
                && layer[b] < layer[a] + 1
                && layer[a] + 1 < nodes.len()
            {
                layer[b] = layer[a] + 1;
            }
        }
    }
    let layers = layer.iter().max().map_or(1, |m| m + 1);
    let mut per_layer: Vec<Vec<usize>> = vec![Vec::new(); layers];
    for (i, l) in layer.iter().enumerate() {
        per_layer[*l].push(i);
    }
    let width = 640.0;
    let row = 80.0;
    let height = row * layers as f64 + 20.0;
    let mut pos = vec![(0.0, 0.0); nodes.len()];
    for (l, members) in per_layer.iter().enumerate() {
        for (k, i) in members.iter().enumerate() {
            let gap = width / (members.len() as f64 + 1.0);
            pos[*i] = (gap * (k as f64 + 1.0), 30.0 + row * l as f64);
        }
    }
    let mut out = String::new();
    let _ = write!(
        out,
        r#"<svg class="graph" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" aria-label="dependency graph"><title>services and the calls between them</title><defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="6" markerHeight="6" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z"/></marker></defs>"#
    );
    for (caller, callee) in edges {
        if let (Some(a), Some(b)) = (index(caller), index(callee)) {
            let ((x1, y1), (x2, y2)) = (pos[a], pos[b]);
            let _ = write!(
                out,
                r#"<line class="edge" x1="{x1:.0}" y1="{:.0}" x2="{x2:.0}" y2="{:.0}" marker-end="url(#arrow)"/>"#,
                y1 + 14.0,
                y2 - 16.0
            );
        }
    }
    for (i, n) in nodes.iter().enumerate() {
        let (x, y) = pos[i];
        let name = escape(&n.name);
        let health = match n.health.as_str() {
            "healthy" | "degraded" | "down" => n.health.as_str(),
            _ => "unknown",
        };
        let _ = write!(
            out,
            r##"<a href="#svc-{name}"><rect class="node {health}" x="{:.0}" y="{:.0}" width="120" height="28" rx="6"/><text x="{x:.0}" y="{:.0}" text-anchor="middle">{name}</text></a>"##,
            x - 60.0,
            y - 14.0,
            y + 5.0
        );
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_escape_what_came_from_outside() {
        let chart = Chart {
            title: "payments <script>alert(1)</script> & co".into(),
            unit: "\"ratio\"".into(),
            points: vec![(0, 0.0), (1_000, 0.5), (2_000, f64::NAN), (3_000, 0.25)],
        };
        let svg = line_chart(
            &chart,
            &[Marker {
                at_ms: 1_000,
                label: "<b>deploy</b>".into(),
                kind: "deploy",
            }],
            0,
            3_000,
        );
        assert!(!svg.contains("<script>") && !svg.contains("<b>"), "{svg}");
        assert!(svg.contains("&lt;script&gt;") && svg.contains("&amp; co"));
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert_eq!(svg.matches("<polyline").count(), 1);
        assert!(svg.contains("marker deploy"));
        let empty = line_chart(
            &Chart {
                title: "x".into(),
                unit: "s".into(),
                points: vec![],
            },
            &[],
            0,
            1,
        );
        assert!(empty.contains("no data recorded"));
    }

    #[test]
    fn the_graph_puts_callers_above_callees() {
        let nodes: Vec<Node> = ["frontend", "checkout", "payments", "evil\"<x>"]
            .iter()
            .map(|n| Node {
                name: (*n).into(),
                health: "healthy".into(),
            })
            .collect();
        let edges = vec![
            ("frontend".to_string(), "checkout".to_string()),
            ("checkout".to_string(), "payments".to_string()),
            ("payments".to_string(), "frontend".to_string()), // a cycle must not loop
        ];
        let svg = dependency_graph(&nodes, &edges);
        assert_eq!(svg.matches("class=\"edge\"").count(), 3);
        assert!(svg.contains("evil&quot;&lt;x&gt;") && !svg.contains("<x>"));
    }
}
