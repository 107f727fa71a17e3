//! Faults on demand: the `/admin/chaos` API, the request middleware that
//! applies latency, errors and crashes, and the background workers for memory
//! leaks and CPU burn. Nothing here logs or labels a fault: the service's
//! telemetry shows only the symptoms, as it would in a real failure.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::error::{ApiError, Json, Path};

/// At most this many faults are active at once.
pub const MAX_ACTIVE_FAULTS: usize = 32;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Fault {
    /// Adds `ms` (plus up to `jitter_ms`) to a `rate` share of requests.
    Latency {
        ms: u64,
        #[serde(default)]
        jitter_ms: u64,
        #[serde(default = "full_rate")]
        rate: f64,
    },
    /// Answers a `rate` share of requests with `status`.
    Errors {
        #[serde(default = "default_error_status")]
        status: u16,
        #[serde(default = "full_rate")]
        rate: f64,
    },
    /// Aborts the process now, or after `after_requests` more requests.
    Crash {
        #[serde(default)]
        after_requests: Option<u64>,
    },
    /// Allocates and touches memory it never frees while active.
    Leak { mb_per_min: f64 },
    /// Keeps one core busy `percent` of the time.
    Cpu { percent: u8 },
    /// Calls to the named peer fail (`error`) or hang until their timeout (`timeout`).
    Peer {
        name: String,
        #[serde(default)]
        mode: PeerMode,
        #[serde(default = "full_rate")]
        rate: f64,
    },
    /// `/readyz` answers 503.
    Readiness,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PeerMode {
    #[default]
    Error,
    Timeout,
}

fn full_rate() -> f64 {
    1.0
}
fn default_error_status() -> u16 {
    500
}

impl Fault {
    pub fn validate(&self) -> Result<(), String> {
        let rate_ok = |rate: f64| {
            if (0.0..=1.0).contains(&rate) {
                Ok(())
            } else {
                Err(format!("rate must be within 0..=1, got {rate}"))
            }
        };
        match self {
            Fault::Latency {
                ms,
                jitter_ms,
                rate,
            } => {
                if *ms > 60_000 || *jitter_ms > 60_000 {
                    return Err("ms and jitter_ms must be at most 60000".into());
                }
                rate_ok(*rate)
            }
            Fault::Errors { status, rate } => {
                if !(400..=599).contains(status) {
                    return Err(format!("status must be a 4xx or 5xx code, got {status}"));
                }
                rate_ok(*rate)
            }
            Fault::Crash { after_requests } => match after_requests {
                Some(0) => Err("after_requests must be at least 1 (omit it to crash now)".into()),
                _ => Ok(()),
            },
            Fault::Leak { mb_per_min } => {
                if !(mb_per_min.is_finite() && *mb_per_min > 0.0 && *mb_per_min <= 1024.0) {
                    return Err(format!(
                        "mb_per_min must be within (0, 1024], got {mb_per_min}"
                    ));
                }
                Ok(())
            }
            Fault::Cpu { percent } => {
                if !(1..=100).contains(percent) {
                    return Err(format!("percent must be within 1..=100, got {percent}"));
                }
                Ok(())
            }
            Fault::Peer { name, rate, .. } => {
                if name.is_empty()
                    || name.len() > 64
                    || !name
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                {
                    return Err("name must be 1 to 64 letters, digits, '-' or '_'".into());
                }
                rate_ok(*rate)
            }
            Fault::Readiness => Ok(()),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ActiveFault {
    pub id: u64,
    pub fault: Fault,
    pub since: String,
    #[serde(skip)]
    requests_seen: Arc<AtomicU64>,
}

pub struct Chaos {
    /// A snapshot swapped whole on change, so the request path only clones an Arc.
    faults: RwLock<Arc<Vec<ActiveFault>>>,
    next_id: AtomicU64,
    admin_token: Option<String>,
    leaked: Mutex<Vec<Vec<u8>>>,
    leak_cap_bytes: usize,
}

impl Chaos {
    pub fn new(admin_token: Option<String>, leak_cap_mb: u64) -> Arc<Self> {
        Arc::new(Self {
            faults: RwLock::new(Arc::new(Vec::new())),
            next_id: AtomicU64::new(1),
            admin_token,
            leaked: Mutex::new(Vec::new()),
            leak_cap_bytes: (leak_cap_mb as usize).saturating_mul(1 << 20),
        })
    }

    pub fn snapshot(&self) -> Arc<Vec<ActiveFault>> {
        match self.faults.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn replace(&self, f: impl FnOnce(&mut Vec<ActiveFault>)) {
        let mut guard = match self.faults.write() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        let mut next = (**guard).clone();
        f(&mut next);
        *guard = Arc::new(next);
    }

    fn is_active(&self, id: u64) -> bool {
        self.snapshot().iter().any(|f| f.id == id)
    }

    /// Validates and activates a fault; starts its worker when it has one.
    pub fn add(self: &Arc<Self>, fault: Fault) -> Result<ActiveFault, String> {
        fault.validate()?;
        if self.snapshot().len() >= MAX_ACTIVE_FAULTS {
            return Err(format!(
                "at most {MAX_ACTIVE_FAULTS} faults may be active; delete some first"
            ));
        }
        let active = ActiveFault {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            fault,
            since: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            requests_seen: Arc::new(AtomicU64::new(0)),
        };
        self.replace(|faults| faults.push(active.clone()));
        match active.fault {
            Fault::Crash {
                after_requests: None,
            } => {
                // Give the admin reply a moment to leave, then die as a crash would.
                std::thread::spawn(|| {
                    std::thread::sleep(Duration::from_millis(100));
                    std::process::abort();
                });
            }
            Fault::Leak { mb_per_min } => self.spawn_leak(active.id, mb_per_min),
            Fault::Cpu { percent } => self.spawn_cpu_burn(active.id, percent),
            _ => {}
        }
        Ok(active)
    }

    pub fn remove(&self, id: u64) -> bool {
        let mut found = false;
        self.replace(|faults| {
            let before = faults.len();
            faults.retain(|f| f.id != id);
            found = faults.len() != before;
        });
        self.release_leak_if_idle();
        found
    }

    pub fn clear(&self) {
        self.replace(Vec::clear);
        self.release_leak_if_idle();
    }

    fn release_leak_if_idle(&self) {
        if !self
            .snapshot()
            .iter()
            .any(|f| matches!(f.fault, Fault::Leak { .. }))
            && let Ok(mut leaked) = self.leaked.lock()
        {
            *leaked = Vec::new();
        }
    }

    pub fn readiness_failing(&self) -> bool {
        self.snapshot()
            .iter()
            .any(|f| matches!(f.fault, Fault::Readiness))
    }

    /// The mode of a peer fault that hits this call, if one does.
    pub fn peer_fault(&self, peer: &str) -> Option<PeerMode> {
        let faults = self.snapshot();
        faults.iter().find_map(|f| match &f.fault {
            Fault::Peer { name, mode, rate } if name == peer && hit(*rate) => Some(*mode),
            _ => None,
        })
    }

    pub fn leaked_bytes(&self) -> usize {
        self.leaked
            .lock()
            .map(|l| l.iter().map(Vec::len).sum())
            .unwrap_or(0)
    }

    fn spawn_leak(self: &Arc<Self>, id: u64, mb_per_min: f64) {
        let chaos = Arc::downgrade(self);
        let per_tick = ((mb_per_min * f64::from(1u32 << 20)) / 60.0) as usize;
        std::thread::spawn(move || {
            loop {
                std::thread::sleep(Duration::from_secs(1));
                let Some(chaos) = chaos.upgrade() else { return };
                if !chaos.is_active(id) {
                    return;
                }
                let Ok(mut leaked) = chaos.leaked.lock() else {
                    return;
                };
                let held: usize = leaked.iter().map(Vec::len).sum();
                let grant = per_tick.min(chaos.leak_cap_bytes.saturating_sub(held));
                if grant > 0 {
                    // Non-zero bytes so every page is really resident.
                    leaked.push(vec![0xA5u8; grant]);
                }
            }
        });
    }

    fn spawn_cpu_burn(self: &Arc<Self>, id: u64, percent: u8) {
        let chaos = Arc::downgrade(self);
        let busy = Duration::from_millis(u64::from(percent));
        let idle = Duration::from_millis(100 - u64::from(percent));
        std::thread::spawn(move || {
            let mut x: u64 = 1;
            loop {
                match chaos.upgrade() {
                    Some(c) if c.is_active(id) => {}
                    _ => return,
                }
                let start = std::time::Instant::now();
                while start.elapsed() < busy {
                    x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
                }
                if !idle.is_zero() {
                    std::thread::sleep(idle);
                }
            }
        });
    }

    fn authorize(&self, headers: &HeaderMap) -> Result<(), ApiError> {
        let Some(expected) = self.admin_token.as_deref() else {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "admin_disabled",
                "the admin api is disabled: SHOP_ADMIN_TOKEN is not set",
            ));
        };
        let presented = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or_else(|| ApiError::unauthorized("missing bearer token"))?;
        if constant_time_eq(presented.trim().as_bytes(), expected.as_bytes()) {
            Ok(())
        } else {
            Err(ApiError::unauthorized("wrong bearer token"))
        }
    }
}

fn hit(rate: f64) -> bool {
    rate >= 1.0 || (rate > 0.0 && rand::rng().random_bool(rate))
}

/// Compares without an early exit, so timing does not reveal a matching prefix.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = a.len() ^ b.len();
    for i in 0..a.len().max(b.len()) {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0xff);
        diff |= usize::from(x ^ y);
    }
    diff == 0
}

/// Request middleware for the business routes.
pub async fn inject_faults(
    State(chaos): State<Arc<Chaos>>,
    request: Request,
    next: Next,
) -> Response {
    let faults = chaos.snapshot();
    if faults.is_empty() {
        return next.run(request).await;
    }
    let mut delay = Duration::ZERO;
    let mut failure = None;
    for active in faults.iter() {
        match &active.fault {
            Fault::Latency {
                ms,
                jitter_ms,
                rate,
            } if hit(*rate) => {
                let jitter = if *jitter_ms > 0 {
                    rand::rng().random_range(0..=*jitter_ms)
                } else {
                    0
                };
                delay += Duration::from_millis(ms + jitter);
            }
            Fault::Errors { status, rate } if failure.is_none() && hit(*rate) => {
                failure = Some(*status)
            }
            Fault::Crash {
                after_requests: Some(n),
            } if active.requests_seen.fetch_add(1, Ordering::Relaxed) + 1 >= *n => {
                std::process::abort();
            }
            _ => {}
        }
    }
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    if let Some(status) = failure {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let message = status.canonical_reason().unwrap_or("error").to_lowercase();
        return ApiError::new(status, "internal", message).into_response();
    }
    next.run(request).await
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum FaultRequest {
    One(Fault),
    Many(Vec<Fault>),
}

#[derive(Debug, Serialize)]
struct FaultList {
    data: Vec<ActiveFault>,
}

async fn list(
    State(chaos): State<Arc<Chaos>>,
    headers: HeaderMap,
) -> Result<Json<FaultList>, ApiError> {
    chaos.authorize(&headers)?;
    Ok(Json(FaultList {
        data: chaos.snapshot().to_vec(),
    }))
}

async fn add(
    State(chaos): State<Arc<Chaos>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<FaultList>), ApiError> {
    chaos.authorize(&headers)?;
    let parsed: FaultRequest = serde_json::from_slice::<Fault>(&body)
        .map(FaultRequest::One)
        .or_else(|one_err| {
            serde_json::from_slice::<Vec<Fault>>(&body)
                .map(FaultRequest::Many)
                .map_err(|_| one_err)
        })
        .map_err(|e| ApiError::unprocessable("invalid_fault", format!("not a fault: {e}")))?;
    let faults = match parsed {
        FaultRequest::One(f) => vec![f],
        FaultRequest::Many(list) => list,
    };
    // All or nothing: validate every fault before activating any.
    for fault in &faults {
        fault
            .validate()
            .map_err(|e| ApiError::unprocessable("invalid_fault", e))?;
    }
    if chaos.snapshot().len() + faults.len() > MAX_ACTIVE_FAULTS {
        return Err(ApiError::conflict(
            "too_many_faults",
            format!("at most {MAX_ACTIVE_FAULTS} faults may be active"),
        ));
    }
    let mut added = Vec::with_capacity(faults.len());
    for fault in faults {
        added.push(
            chaos
                .add(fault)
                .map_err(|e| ApiError::unprocessable("invalid_fault", e))?,
        );
    }
    Ok((StatusCode::CREATED, Json(FaultList { data: added })))
}

async fn clear(
    State(chaos): State<Arc<Chaos>>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    chaos.authorize(&headers)?;
    chaos.clear();
    Ok(StatusCode::NO_CONTENT)
}

async fn remove_one(
    State(chaos): State<Arc<Chaos>>,
    headers: HeaderMap,
    Path(id): Path<u64>,
) -> Result<StatusCode, ApiError> {
    chaos.authorize(&headers)?;
    if chaos.remove(id) {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(
            "no_such_fault",
            format!("no active fault {id}"),
        ))
    }
}

/// `GET`, `POST`, `DELETE /admin/chaos` and `DELETE /admin/chaos/{id}`.
pub fn admin_router(chaos: Arc<Chaos>) -> Router {
    Router::new()
        .route("/admin/chaos", get(list).post(add).delete(clear))
        .route("/admin/chaos/{id}", delete(remove_one))
        .layer(axum::extract::DefaultBodyLimit::max(64 * 1024))
        .with_state(chaos)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_parse_from_the_documented_json() {
        let cases = [
            r#"{"kind":"errors","status":500,"rate":0.5}"#,
            r#"{"kind":"latency","ms":800,"jitter_ms":100,"rate":1.0}"#,
            r#"{"kind":"crash"}"#,
            r#"{"kind":"crash","after_requests":10}"#,
            r#"{"kind":"leak","mb_per_min":50}"#,
            r#"{"kind":"cpu","percent":90}"#,
            r#"{"kind":"peer","name":"payments","mode":"timeout"}"#,
            r#"{"kind":"readiness"}"#,
        ];
        for c in cases {
            let f: Fault = serde_json::from_str(c).unwrap_or_else(|e| panic!("{c}: {e}"));
            f.validate().unwrap_or_else(|e| panic!("{c}: {e}"));
        }
    }

    #[test]
    fn bad_faults_are_refused() {
        for c in [
            r#"{"kind":"errors","status":200}"#,
            r#"{"kind":"errors","rate":2}"#,
            r#"{"kind":"latency","ms":-1}"#,
            r#"{"kind":"latency","ms":1,"bogus":1}"#,
            r#"{"kind":"cpu","percent":0}"#,
            r#"{"kind":"leak","mb_per_min":0}"#,
            r#"{"kind":"peer","name":"../x"}"#,
            r#"{"kind":"crash","after_requests":0}"#,
            r#"{"kind":"teleport"}"#,
        ] {
            let ok = serde_json::from_str::<Fault>(c)
                .map_err(|e| e.to_string())
                .and_then(|f| f.validate());
            assert!(ok.is_err(), "{c} accepted");
        }
    }

    #[test]
    fn constant_time_eq_matches_eq() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert!(!constant_time_eq(b"", b"a"));
        assert!(constant_time_eq(b"", b""));
    }

    #[test]
    fn peer_faults_match_by_name_and_removal_stops_them() {
        let chaos = Chaos::new(None, 16);
        let f = chaos
            .add(Fault::Peer {
                name: "payments".into(),
                mode: PeerMode::Timeout,
                rate: 1.0,
            })
            .expect("valid");
        assert_eq!(chaos.peer_fault("payments"), Some(PeerMode::Timeout));
        assert_eq!(chaos.peer_fault("catalog"), None);
        assert!(chaos.remove(f.id));
        assert_eq!(chaos.peer_fault("payments"), None);
        assert!(!chaos.remove(f.id));
    }

    #[test]
    fn leak_grows_until_removed_and_is_capped() {
        let chaos = Chaos::new(None, 2);
        let f = chaos.add(Fault::Leak { mb_per_min: 600.0 }).expect("valid");
        std::thread::sleep(Duration::from_millis(2500));
        let held = chaos.leaked_bytes();
        assert!(held > 0, "nothing leaked");
        assert!(held <= 2 << 20, "cap exceeded: {held}");
        chaos.remove(f.id);
        assert_eq!(chaos.leaked_bytes(), 0);
    }
}
