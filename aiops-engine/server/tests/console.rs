//! The console as a browser and an attacker would use it, in memory: a
//! stranger is sent to the login page; a wrong password is refused and,
//! repeated, throttled; a login sets an HTTP-only cookie; every form needs
//! the session's CSRF token (a forged one changes nothing); an expired
//! session is signed out; a viewer cannot approve or resolve; an API token
//! renders the page for its role; hostile text in log lines and labels is
//! shown as text.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use aiops_server::app::app;
use aiops_server::config::Config;
use aiops_server::state::{AppState, Clock};
use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use tower::ServiceExt;

struct TestClock(AtomicI64);

impl Clock for TestClock {
    fn now_ms(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }
}

const T0: i64 = 1_800_000_000_000;

fn config() -> Config {
    let alice = aiops_console::auth::hash_password("alice password").expect("hash");
    let vic = aiops_console::auth::hash_password("vic password").expect("hash");
    let yaml = format!(
        "auth:\n  api_tokens:\n    - {{name: ci, role: viewer, token: ci-viewer-token-0123}}\n\
         console:\n  secure_cookies: false\n  session_ttl: 1h\n  users:\n    - {{name: alice, role: responder, password_hash: '{alice}'}}\n    - {{name: vic, role: viewer, password_hash: '{vic}'}}\n"
    );
    Config::parse(&yaml, &std::collections::HashMap::new()).expect("config")
}

struct Browser {
    app: Router,
    cookies: Vec<(String, String)>,
}

struct Page {
    status: StatusCode,
    location: String,
    body: String,
}

impl Browser {
    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn send(
        &mut self,
        method: &str,
        uri: &str,
        form: Option<&str>,
        extra: &[(&str, &str)],
    ) -> Page {
        let mut req = Request::builder().method(method).uri(uri);
        if !self.cookies.is_empty() {
            req = req.header(header::COOKIE, self.cookie_header());
        }
        if form.is_some() {
            req = req.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        }
        for (k, v) in extra {
            req = req.header(*k, *v);
        }
        let response = self
            .app
            .clone()
            .oneshot(
                req.body(Body::from(form.unwrap_or("").to_owned()))
                    .expect("request"),
            )
            .await
            .expect("infallible");
        for set in response.headers().get_all(header::SET_COOKIE) {
            let text = set.to_str().unwrap_or("").to_owned();
            assert!(
                text.contains("HttpOnly") && text.contains("SameSite=Strict"),
                "{text}"
            );
            let (kv, _) = text.split_once(';').unwrap_or((&text, ""));
            if let Some((k, v)) = kv.split_once('=') {
                self.cookies.retain(|(n, _)| n != k);
                if !v.is_empty() {
                    self.cookies.push((k.to_owned(), v.to_owned()));
                }
            }
        }
        let status = response.status();
        let location = response
            .headers()
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        Page {
            status,
            location,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }

    async fn get(&mut self, uri: &str) -> Page {
        self.send("GET", uri, None, &[]).await
    }

    async fn post(&mut self, uri: &str, form: &str) -> Page {
        self.send("POST", uri, Some(form), &[]).await
    }
}

fn field(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    html.split(&marker)
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or("")
        .to_owned()
}

async fn log_in(b: &mut Browser, name: &str, password: &str) -> Page {
    let form = b.get("/login?next=/services").await;
    let csrf = field(&form.body, "csrf");
    b.post(
        "/login",
        &format!(
            "csrf={csrf}&next=%2Fservices&name={name}&password={}",
            password.replace(' ', "+")
        ),
    )
    .await
}

const ALERT: &str = r#"{"version":"4","groupKey":"g","truncatedAlerts":0,"status":"firing","receiver":"aiops",
  "groupLabels":{},"commonLabels":{},"commonAnnotations":{},"externalURL":"http://am:9093",
  "alerts":[{"status":"firing","labels":{"alertname":"PaymentsDown<script>alert(1)</script>","service":"payments","severity":"critical","team":"\"><img src=x onerror=alert(2)>"},
  "annotations":{"summary":"<script>alert(3)</script>"},"startsAt":"2026-01-01T00:00:00Z","endsAt":"0001-01-01T00:00:00Z","generatorURL":"http://prom","fingerprint":"00000000000000bb"}]}"#;

#[tokio::test]
async fn a_person_logs_in_works_an_incident_and_forgeries_change_nothing() {
    let clock = Arc::new(TestClock(AtomicI64::new(T0)));
    let state = AppState::with_clock(config(), clock.clone());
    let router = app(state.clone());
    let mut b = Browser {
        app: router.clone(),
        cookies: Vec::new(),
    };

    // a stranger is sent to the login page, which asks for a password
    let p = b.get("/").await;
    assert_eq!(p.status, StatusCode::SEE_OTHER);
    assert!(p.location.starts_with("/login?next="), "{}", p.location);
    let p = b.get("/login").await;
    assert!(p.body.contains("type=\"password\""));

    // a wrong password, then too many
    for _ in 0..5 {
        let p = log_in(&mut b, "alice", "guess").await;
        assert_eq!(p.status, StatusCode::UNAUTHORIZED);
        assert!(p.body.contains("Name or password is wrong"));
    }
    let p = log_in(&mut b, "alice", "alice password").await;
    assert_eq!(
        p.status,
        StatusCode::TOO_MANY_REQUESTS,
        "throttled even with the right password"
    );
    clock.0.fetch_add(6 * 60_000, Ordering::Relaxed);
    // a login form from elsewhere (no matching cookie token)
    let mut other = Browser {
        app: router.clone(),
        cookies: Vec::new(),
    };
    let p = other
        .post("/login", "csrf=made-up&name=alice&password=alice+password")
        .await;
    assert_eq!(p.status, StatusCode::FORBIDDEN);
    // the real login, back to where the person was going
    let p = log_in(&mut b, "alice", "alice password").await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.body);
    assert_eq!(p.location, "/services");
    assert!(b.cookies.iter().any(|(k, _)| k == "aiops_session"));

    // an incident with hostile text in its alert's labels
    let alert = Request::builder()
        .method("POST")
        .uri("/api/v1/alerts/alertmanager")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(ALERT))
        .expect("request");
    assert!(
        router
            .clone()
            .oneshot(alert)
            .await
            .expect("ok")
            .status()
            .is_success()
    );
    let id = state.analysis.lock().correlator().incidents()[0].id.clone();
    let list = b.get("/").await;
    assert_eq!(list.status, StatusCode::OK);
    assert!(list.body.contains(&format!("/incidents/{id}")));
    let page = b.get(&format!("/incidents/{id}")).await;
    assert_eq!(page.status, StatusCode::OK);
    for raw in ["<script>alert", "<img src=x"] {
        assert!(
            !page.body.contains(raw) && !list.body.contains(raw),
            "{raw} is inert"
        );
    }
    let csrf = field(&page.body, "csrf");
    assert_eq!(csrf.len(), 64);

    // a forged form (another site cannot know the token) changes nothing
    let p = b
        .post(&format!("/incidents/{id}/acknowledge"), "csrf=forged")
        .await;
    assert_eq!(p.status, StatusCode::FORBIDDEN);
    let p = b.post(&format!("/incidents/{id}/acknowledge"), "").await;
    assert_eq!(p.status, StatusCode::FORBIDDEN);
    assert_eq!(
        state
            .analysis
            .lock()
            .correlator()
            .get(&id)
            .map(|i| i.state.as_str()),
        Some("open")
    );
    // the real one
    let p = b
        .post(
            &format!("/incidents/{id}/acknowledge"),
            &format!("csrf={csrf}"),
        )
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER);
    let p = b.get(&p.location).await;
    assert!(p.body.contains("Acknowledged."), "{}", p.body);
    assert!(p.body.contains("acknowledged by alice (console)"));

    // a viewer sees the page but may not change it
    let mut vic = Browser {
        app: router.clone(),
        cookies: Vec::new(),
    };
    assert_eq!(
        log_in(&mut vic, "vic", "vic password").await.status,
        StatusCode::SEE_OTHER
    );
    let page = vic.get(&format!("/incidents/{id}")).await;
    assert!(
        !page.body.contains("/resolve\""),
        "no resolve button for a viewer"
    );
    let vic_csrf = field(&page.body, "csrf");
    let p = vic
        .post(
            &format!("/incidents/{id}/resolve"),
            &format!("csrf={vic_csrf}"),
        )
        .await;
    assert_eq!(p.status, StatusCode::FORBIDDEN);
    assert!(p.body.contains("vic is a viewer"));
    let p = vic
        .post(
            "/actions/act-0000000000000000/approve",
            &format!("csrf={vic_csrf}"),
        )
        .await;
    assert!(
        matches!(p.status, StatusCode::FORBIDDEN | StatusCode::NOT_FOUND),
        "{}",
        p.status
    );

    // a token renders the page as its role (a viewer: no buttons)
    let mut script = Browser {
        app: router.clone(),
        cookies: Vec::new(),
    };
    let p = script
        .send(
            "GET",
            &format!("/incidents/{id}"),
            None,
            &[("authorization", "Bearer ci-viewer-token-0123")],
        )
        .await;
    assert_eq!(p.status, StatusCode::OK);
    assert!(!p.body.contains("/acknowledge\"") && p.body.contains("ci (viewer)"));
    let p = script
        .send(
            "GET",
            "/",
            None,
            &[("authorization", "Bearer wrong-token-000000")],
        )
        .await;
    assert_eq!(p.status, StatusCode::UNAUTHORIZED);

    // the session expires: signed out, and its forms no longer count
    clock.0.fetch_add(2 * 3_600_000, Ordering::Relaxed);
    let p = b
        .post(&format!("/incidents/{id}/resolve"), &format!("csrf={csrf}"))
        .await;
    assert_eq!(p.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        state
            .analysis
            .lock()
            .correlator()
            .get(&id)
            .map(|i| i.state.as_str()),
        Some("acknowledged")
    );
    assert_eq!(b.get("/").await.status, StatusCode::SEE_OTHER);

    // logging out ends the session
    let mut c = Browser {
        app: router,
        cookies: Vec::new(),
    };
    assert_eq!(
        log_in(&mut c, "alice", "alice password").await.status,
        StatusCode::SEE_OTHER
    );
    let page = c.get("/").await;
    let csrf = field(&page.body, "csrf");
    assert_eq!(
        c.post("/logout", &format!("csrf={csrf}")).await.status,
        StatusCode::SEE_OTHER
    );
    assert_eq!(c.get("/").await.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn pages_are_served_with_protective_headers_and_assets() {
    let state = AppState::with_clock(config(), Arc::new(TestClock(AtomicI64::new(T0))));
    let mut b = Browser {
        app: app(state),
        cookies: Vec::new(),
    };
    let r = b
        .app
        .clone()
        .oneshot(
            Request::builder()
                .uri("/login")
                .body(Body::empty())
                .expect("request"),
        )
        .await
        .expect("ok");
    let csp = r
        .headers()
        .get(header::CONTENT_SECURITY_POLICY)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    assert!(
        csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert_eq!(
        r.headers()
            .get(header::X_CONTENT_TYPE_OPTIONS)
            .map(|v| v.as_bytes()),
        Some(&b"nosniff"[..])
    );
    assert!(
        b.get("/static/console.js")
            .await
            .body
            .contains("EventSource")
    );
    assert!(
        b.get("/static/console.css")
            .await
            .body
            .contains(":focus-visible")
    );
    // an open redirect through ?next= is refused
    let p = b.get("/login?next=//evil.example/").await;
    assert!(p.body.contains("name=\"next\" value=\"/\""), "{}", p.body);
}
