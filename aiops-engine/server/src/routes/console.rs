//! The incident console's routes: `/` (incidents), `/incidents/{id}`,
//! `/services`, `/playbooks`, `/login`, the forms behind every button, the
//! live updates (`/events`, server-sent events) and the static files.
//!
//! Who is asking: a session cookie (after `/login`), a name set by a
//! trusted authenticating proxy (`console.trusted_user_header`), or an API
//! bearer token (scripts and checks see the page as that token's role).
//! Every form carries the session's CSRF token; a form posted with a token
//! instead of a cookie needs none (nothing a browser sends by itself).

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use aiops_analysis::{Incident, SignalKind};
use aiops_console::askama::{self, Template};
use aiops_console::auth::{Session, Sessions, Throttle, Users, csrf_ok};
use aiops_console::views::{self, Chrome, Filter, IncidentParts, TemplateView, Who};
use aiops_console::{CONSOLE_CSS, CONSOLE_JS, Role};
use axum::Router;
use axum::body::Bytes;
use axum::extract::connect_info::ConnectInfo;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use futures::Stream;

use crate::config::ConsoleConfig;
use crate::remediation::{self, ActionRefusal};
use crate::routes::incidents::{ApiError, Transition, change_state, param, params};
use crate::state::AppState;

const SESSION_COOKIE: &str = "aiops_session";
const LOGIN_COOKIE: &str = "aiops_login";
/// Forms are small; a playbook being tried is the largest.
const MAX_FORM_BYTES: usize = 256 * 1024;

/// Sessions, users and the login throttle.
pub struct ConsoleState {
    pub sessions: Sessions,
    pub throttle: Throttle,
    pub users: Users,
    config: ConsoleConfig,
}

impl ConsoleState {
    pub fn new(config: &ConsoleConfig) -> ConsoleState {
        ConsoleState {
            sessions: Sessions::default(),
            throttle: Throttle::default(),
            users: Users::new(config.users.clone()),
            config: config.clone(),
        }
    }
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(incidents))
        .route("/incidents/{id}", get(incident))
        .route(
            "/incidents/{id}/{verb}",
            post(lifecycle).route_layer(axum::middleware::from_fn_with_state(
                state.clone(),
                crate::routes::access::leader_only,
            )),
        )
        .route(
            "/actions/{id}/{verb}",
            post(decide).route_layer(axum::middleware::from_fn_with_state(
                state.clone(),
                crate::routes::access::leader_only,
            )),
        )
        .route("/services", get(services))
        .route("/playbooks", get(playbooks))
        .route("/playbooks/check", post(check_playbook))
        .route("/playbooks/validate", post(validate_live))
        .route("/playbooks/{name}", get(playbook))
        .route("/login", get(login_page).post(login))
        .route("/logout", post(logout))
        .route("/events", get(events))
        .route(
            "/static/console.css",
            get(|| async { asset(CONSOLE_CSS, "text/css; charset=utf-8") }),
        )
        .route(
            "/static/console.js",
            get(|| async { asset(CONSOLE_JS, "text/javascript; charset=utf-8") }),
        )
        .layer(axum::extract::DefaultBodyLimit::max(MAX_FORM_BYTES))
        .layer(tower_http::compression::CompressionLayer::new())
        .with_state(state)
}

fn asset(body: &'static str, kind: &'static str) -> Response {
    let mut r = body.into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    r
}

/// A rendered page with the headers every page carries.
fn page(status: StatusCode, html: Result<String, askama::Error>) -> Response {
    let html = match html {
        Ok(h) => h,
        Err(e) => {
            tracing::error!(error = %e, "a console page did not render");
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the page could not be rendered",
            )
                .into_response();
        }
    };
    let mut r = (status, Html(html)).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

fn set_cookie(
    state: &AppState,
    name: &str,
    value: &str,
    path: &str,
    max_age_s: i64,
) -> HeaderValue {
    let secure = if state.console.config.secure_cookies {
        "; Secure"
    } else {
        ""
    };
    HeaderValue::from_str(&format!(
        "{name}={value}; Path={path}; HttpOnly; SameSite=Strict; Max-Age={max_age_s}{secure}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// How the caller is known.
enum Caller {
    Session { id: String, session: Session },
    Token { name: String, role: Role },
}

impl Caller {
    fn role(&self) -> Role {
        match self {
            Caller::Session { session, .. } => session.role,
            Caller::Token { role, .. } => *role,
        }
    }

    fn name(&self) -> &str {
        match self {
            Caller::Session { session, .. } => &session.user,
            Caller::Token { name, .. } => name,
        }
    }

    fn who(&self) -> Who {
        match self {
            Caller::Session { session, .. } => Who {
                name: session.user.clone(),
                role: session.role.as_str(),
                csrf: session.csrf.clone(),
                session: true,
            },
            Caller::Token { name, role } => Who {
                name: name.clone(),
                role: role.as_str(),
                csrf: String::new(),
                session: false,
            },
        }
    }
}

/// The caller, and a cookie to set when a trusted proxy's name got a
/// fresh session.
fn caller(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<(Option<Caller>, Option<HeaderValue>), Box<Response>> {
    let now = state.clock.now_ms();
    if headers.contains_key(header::AUTHORIZATION) {
        return match state.api_auth.caller(headers) {
            Ok(Some(c)) => Ok((
                Some(Caller::Token {
                    name: c.name,
                    role: c.role,
                }),
                None,
            )),
            Ok(None) => Ok((None, None)),
            Err(_) => Err(Box::new(message(
                StatusCode::UNAUTHORIZED,
                "Not signed in",
                "The bearer token is not one of this engine's.",
                "/login",
            ))),
        };
    }
    if let Some(id) = cookie(headers, SESSION_COOKIE)
        && let Some(session) = state.console.sessions.get(&id, now)
    {
        return Ok((Some(Caller::Session { id, session }), None));
    }
    let cfg = &state.console.config;
    if let Some(header_name) = &cfg.trusted_user_header
        && let Some(user) = headers
            .get(header_name.as_str())
            .and_then(|v| v.to_str().ok())
    {
        let user = user.trim();
        if !user.is_empty() && user.len() <= 128 {
            let role = cfg
                .trusted_roles
                .get(user)
                .copied()
                .unwrap_or(cfg.trusted_default_role);
            let ttl = i64::try_from(cfg.session_ttl.as_millis()).unwrap_or(i64::MAX);
            let (id, session) = state.console.sessions.create(user, role, now, ttl);
            let set = set_cookie(state, SESSION_COOKIE, &id, "/", ttl / 1000);
            return Ok((Some(Caller::Session { id, session }), Some(set)));
        }
    }
    Ok((None, None))
}

fn message(status: StatusCode, heading: &str, text: &str, back: &str) -> Response {
    page(
        status,
        views::MessagePage {
            c: Chrome::default(),
            heading: heading.into(),
            text: text.into(),
            back: back.into(),
        }
        .render(),
    )
}

/// A local path to return to after login (never another site).
fn local_path(raw: &str) -> String {
    if raw.starts_with('/') && !raw.starts_with("//") && !raw.contains('\\') && raw.len() <= 2048 {
        raw.to_owned()
    } else {
        "/".to_owned()
    }
}

/// Signed in (or a token), or off to the login page.
fn signed_in(
    state: &AppState,
    headers: &HeaderMap,
    here: &str,
) -> Result<(Caller, Option<HeaderValue>), Box<Response>> {
    match caller(state, headers)? {
        (Some(c), set) => Ok((c, set)),
        (None, _) => {
            let next = form_urlencoded::byte_serialize(here.as_bytes()).collect::<String>();
            Err(Box::new(
                Redirect::to(&format!("/login?next={next}")).into_response(),
            ))
        }
    }
}

fn chrome(caller: &Caller, page: &'static str, flash: Option<String>) -> Chrome {
    Chrome {
        page,
        live: true,
        who: Some(caller.who()),
        flash,
    }
}

fn with_cookie(mut r: Response, set: Option<HeaderValue>) -> Response {
    if let Some(set) = set {
        r.headers_mut().append(header::SET_COOKIE, set);
    }
    r
}

fn flash(query: &Option<String>) -> Option<String> {
    let params = params(query.clone());
    param(&params, "done").map(|d| match d {
        "acknowledge" => "Acknowledged.".to_owned(),
        "mitigate" => "Marked mitigated.".to_owned(),
        "resolve" => "Resolved.".to_owned(),
        "silence" => {
            "Silenced: no notifications about it for an hour (resolutions still go out).".to_owned()
        }
        "approve" => "Approved: the engine carries it out now.".to_owned(),
        "deny" => "Denied: it will not run.".to_owned(),
        _ => "Done.".to_owned(),
    })
}

async fn incidents(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let (caller, set) = match signed_in(&state, &headers, "/") {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let params = params(query.clone());
    let take = |name: &str| {
        param(&params, name)
            .unwrap_or("")
            .chars()
            .take(128)
            .collect::<String>()
    };
    let filter = Filter {
        state: take("state"),
        service: take("service"),
        since: take("since"),
    };
    let now = state.clock.now_ms();
    let all = state.analysis.lock().correlator().incidents().to_vec();
    let view = views::incidents_page(
        chrome(&caller, "incidents", flash(&query)),
        &all,
        &filter,
        now,
    );
    with_cookie(page(StatusCode::OK, view.render()), set)
}

/// The incident with every string redacted (a log line or a label may
/// hold a secret).
fn redacted(state: &AppState, incident: Incident) -> Incident {
    let Ok(mut value) = serde_json::to_value(&incident) else {
        return incident;
    };
    state.redactor.redact_json(&mut value);
    serde_json::from_value(value).unwrap_or(incident)
}

/// The log templates that changed in the incident, with their counts and
/// example lines (redacted).
fn incident_templates(state: &AppState, incident: &Incident) -> Vec<TemplateView> {
    let analysis = state.analysis.lock();
    let templates = analysis.templates();
    let mut out = Vec::new();
    for s in incident.signals.iter().map(|m| &m.signal) {
        if !matches!(
            s.kind,
            SignalKind::NewLogTemplate | SignalKind::LogRateShift
        ) || out.len() >= 20
        {
            continue;
        }
        let Some(id) = s.key.split('/').nth(2) else {
            continue;
        };
        let Some(miner) = templates.miner(&s.service) else {
            continue;
        };
        if let Some(info) = miner
            .templates()
            .find(|t| t.id.to_string().to_lowercase() == id)
        {
            out.push(TemplateView {
                service: s.service.clone(),
                template: info.template.to_string(),
                count: info.count,
                why: s.why.clone(),
                exemplars: info
                    .exemplars
                    .iter()
                    .take(3)
                    .map(|e| e.to_string())
                    .collect(),
            });
        }
    }
    out
}

async fn incident(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let (caller, set) = match signed_in(&state, &headers, &format!("/incidents/{id}")) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let now = state.clock.now_ms();
    let found = state.analysis.lock().correlator().get(&id).cloned();
    let incident = match found {
        Some(i) => i,
        None => match stored_incident(&state, &id).await {
            Some(i) => i,
            None => {
                return message(
                    StatusCode::NOT_FOUND,
                    "No such incident",
                    &format!("There is no incident {id}."),
                    "/",
                );
            }
        },
    };
    // what the page shows is redacted, whatever a log line or label held
    let incident = redacted(&state, incident);
    let (evidence, summary) = crate::summaries::of(&state, &incident);
    let summary_view = views::SummaryView {
        text: summary.text.clone(),
        probable_cause: summary.probable_cause.clone(),
        next_steps: summary.next_steps.clone(),
        source: match &summary.model {
            Some(model) => format!(
                "written by {} ({model}, {})",
                summary.source, summary.prompt_version
            ),
            None => summary.source.clone(),
        },
        cited: summary
            .evidence_ids
            .iter()
            .filter_map(|id| {
                evidence
                    .iter()
                    .find(|e| &e.id == id)
                    .map(|e| (e.id.clone(), e.text.clone()))
            })
            .collect(),
    };
    let services: Vec<String> = incident
        .root_cause
        .iter()
        .take(3)
        .map(|c| c.service.clone())
        .collect();
    let onset = aiops_playbooks::matching::onset_ms(&incident);
    let history =
        state
            .analysis
            .lock()
            .history()
            .columns(onset - 11 * 60_000, now, Some(&services));
    let actions = state.remediation.records(Some(&incident.id), 500);
    let templates = incident_templates(&state, &incident);
    let api_base = format!("http://{}", state.config.listen);
    let view = views::incident_page(
        chrome(&caller, "incidents", flash(&query)),
        &incident,
        IncidentParts {
            actions: &actions,
            history: &history,
            templates,
            api_base: &api_base,
            summary: summary_view,
            notifications: state
                .notifier
                .log(&incident.id)
                .iter()
                .map(|e| (e.at_ms, crate::notifications::describe(e)))
                .collect(),
            similar: crate::similar::of(&state, &incident)
                .iter()
                .map(views::SimilarView::of)
                .collect(),
            can_silence: state.config.notifications.is_some()
                && !state.notifier.silences().iter().any(|s| {
                    s.until_ms > now && s.incident_id.as_deref() == Some(incident.id.as_str())
                }),
        },
        caller.role() >= Role::Responder,
        now,
    );
    with_cookie(page(StatusCode::OK, view.render()), set)
}

async fn stored_incident(state: &AppState, id: &str) -> Option<Incident> {
    let db = state.incident_db.get()?;
    let row = db.get(id).await.ok()??;
    serde_json::from_value(row.document).ok()
}

fn form(body: &Bytes) -> HashMap<String, String> {
    form_urlencoded::parse(body).into_owned().collect()
}

/// A change from a form: the caller may make it, and (with a session) the
/// form carries the session's CSRF token.
fn may_change(
    state: &AppState,
    headers: &HeaderMap,
    body: &Bytes,
    needs: Role,
    back: &str,
) -> Result<Caller, Box<Response>> {
    let (caller, _) = caller(state, headers)?;
    let Some(caller) = caller else {
        return Err(Box::new(message(
            StatusCode::UNAUTHORIZED,
            "Not signed in",
            "Your session has ended; sign in again.",
            "/login",
        )));
    };
    if let Caller::Session { session, .. } = &caller
        && !csrf_ok(
            session,
            form(body).get("csrf").map(String::as_str).unwrap_or(""),
        )
    {
        return Err(Box::new(message(
            StatusCode::FORBIDDEN,
            "Refused",
            "The form did not carry this session's token (it may be from another site, or an old page). Nothing was changed.",
            back,
        )));
    }
    if caller.role() < needs {
        return Err(Box::new(message(
            StatusCode::FORBIDDEN,
            "Not allowed",
            &format!(
                "{} is a {}; this needs a {}. Nothing was changed.",
                caller.name(),
                caller.role().as_str(),
                needs.as_str()
            ),
            back,
        )));
    }
    Ok(caller)
}

fn api_error(e: ApiError, back: &str) -> Response {
    let (status, text) = match e {
        ApiError::BadRequest(m) => (StatusCode::BAD_REQUEST, m),
        ApiError::NotFound(m) => (StatusCode::NOT_FOUND, m),
        ApiError::Conflict(m) => (StatusCode::CONFLICT, m),
        ApiError::Storage(m) => (StatusCode::SERVICE_UNAVAILABLE, m),
    };
    message(status, "Not done", &text, back)
}

async fn lifecycle(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((id, verb)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let back = format!("/incidents/{id}");
    let to = match verb.as_str() {
        "acknowledge" => Some(Transition::Acknowledge),
        "mitigate" => Some(Transition::Mitigate),
        "resolve" => Some(Transition::Resolve),
        "silence" => None,
        _ => {
            return message(
                StatusCode::NOT_FOUND,
                "No such action",
                "Incidents can be acknowledged, mitigated, resolved or silenced.",
                &back,
            );
        }
    };
    let caller = match may_change(&state, &headers, &body, Role::Responder, &back) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let Some(to) = to else {
        return silence(&state, &id, caller.name(), &back).await;
    };
    match change_state(&state, &id, &format!("{} (console)", caller.name()), to).await {
        Ok(_) => Redirect::to(&format!("{back}?done={verb}")).into_response(),
        Err(e) => api_error(e, &back),
    }
}

/// Silences one incident's notifications for an hour.
async fn silence(state: &AppState, id: &str, by: &str, back: &str) -> Response {
    if state.config.notifications.is_none() {
        return message(
            StatusCode::NOT_FOUND,
            "Not done",
            "Notifications are not configured: there is nothing to silence.",
            back,
        );
    }
    let known = state.analysis.lock().correlator().get(id).is_some();
    if !known {
        return message(
            StatusCode::NOT_FOUND,
            "Not done",
            &format!("No open incident {id}."),
            back,
        );
    }
    let until_ms = state.clock.now_ms() + 3_600_000;
    let silence = aiops_notify::Silence {
        id: format!("console-{id}-{until_ms}"),
        services: Vec::new(),
        incident_id: Some(id.to_owned()),
        until_ms,
        by: format!("{by} (console)"),
        reason: "silenced for 1 h from the console".into(),
    };
    match crate::notifications::add_silence(state, silence).await {
        Ok(()) => Redirect::to(&format!("{back}?done=silence")).into_response(),
        Err(e) => message(StatusCode::SERVICE_UNAVAILABLE, "Not done", &e, back),
    }
}

async fn decide(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((id, verb)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let back = state
        .remediation
        .record(&id)
        .map(|r| format!("/incidents/{}", r.incident_id))
        .unwrap_or_else(|| "/".into());
    let approve = match verb.as_str() {
        "approve" => true,
        "deny" => false,
        _ => {
            return message(
                StatusCode::NOT_FOUND,
                "No such decision",
                "An action can be approved or denied.",
                &back,
            );
        }
    };
    let caller = match may_change(&state, &headers, &body, Role::Responder, &back) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    match remediation::decide_approval(&state, &id, approve, caller.name(), "in the console").await
    {
        Ok(_) => Redirect::to(&format!("{back}?done={verb}")).into_response(),
        Err(ActionRefusal::NotFound) => message(
            StatusCode::NOT_FOUND,
            "No such action",
            &format!("There is no action {id}."),
            &back,
        ),
        Err(ActionRefusal::Conflict(why)) => message(StatusCode::CONFLICT, "Not done", &why, &back),
        Err(ActionRefusal::Storage(why)) => {
            message(StatusCode::SERVICE_UNAVAILABLE, "Not done", &why, &back)
        }
    }
}

async fn services(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let (caller, set) = match signed_in(&state, &headers, "/services") {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let digests: HashMap<String, (String, String)> = state
        .digests
        .lock()
        .latest()
        .into_iter()
        .map(|d| {
            let source = match &d.model {
                Some(model) => format!("{} ({model})", d.source),
                None => d.source.clone(),
            };
            (
                d.service.clone(),
                (state.redactor.redact(&d.text).into_owned(), source),
            )
        })
        .collect();
    let (facts, incidents) = {
        let analysis = state.analysis.lock();
        let facts: Vec<views::ServiceFacts> = analysis
            .services()
            .into_iter()
            .map(|s| views::ServiceFacts {
                logs: digests.get(&s.name).cloned(),
                name: s.name,
                health: s.health.to_owned(),
                signals: s.active_signals,
                calls: s.calls,
            })
            .collect();
        (facts, analysis.correlator().incidents().to_vec())
    };
    let view = views::services_page(chrome(&caller, "services", None), &facts, &incidents);
    with_cookie(page(StatusCode::OK, view.render()), set)
}

fn playbooks_view(
    state: &AppState,
    caller: &Caller,
    draft: String,
    problems: Vec<String>,
    checked: bool,
    chosen: &str,
    report: Option<String>,
) -> views::PlaybooksPage {
    let rem = &state.remediation;
    let switch = rem.switch();
    let incidents = state.analysis.lock().correlator().incidents().to_vec();
    views::PlaybooksPage {
        c: Chrome {
            page: "playbooks",
            live: false,
            who: Some(caller.who()),
            flash: None,
        },
        switch: if switch.enabled {
            "on".into()
        } else {
            format!("switched off by {} ({})", switch.by, switch.reason)
        },
        executor: rem.capability().map(|c| c.executor.as_str().to_owned()),
        playbooks: rem
            .remediator()
            .playbooks()
            .iter()
            .map(|p| views::PlaybookRow {
                name: p.name.value.clone(),
                mode: p.mode.as_str(),
                description: p.description.clone(),
            })
            .collect(),
        csrf: caller.who().csrf,
        draft,
        problems,
        checked,
        incidents: views::incident_options(&incidents, chosen),
        report,
        ledger: rem
            .records(None, 100)
            .iter()
            .map(views::ActionView::of)
            .collect(),
    }
}

async fn playbooks(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let (caller, set) = match signed_in(&state, &headers, "/playbooks") {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let draft = "name: my-playbook\nmode: dry-run\nwhen:\n  severity: warning\nsteps:\n  - action: restart\n".to_owned();
    let view = playbooks_view(&state, &caller, draft, Vec::new(), false, "", None);
    with_cookie(page(StatusCode::OK, view.render()), set)
}

/// Validates a draft and, when an incident is chosen, dry-runs it with the
/// code of `aiops playbook test`: nothing is recorded, nothing is done.
async fn check_playbook(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let caller = match may_change(&state, &headers, &body, Role::Viewer, "/playbooks") {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let fields = form(&body);
    let draft = fields.get("yaml").cloned().unwrap_or_default();
    let chosen = fields.get("incident").cloned().unwrap_or_default();
    let problems = views::validate(&draft);
    let mut report = None;
    if problems.is_empty()
        && !chosen.is_empty()
        && let Ok(playbook) = aiops_playbooks::load::parse(&draft)
    {
        let incident = state.analysis.lock().correlator().get(&chosen).cloned();
        report = Some(match incident {
            None => format!("no incident {chosen} in memory"),
            Some(incident) => {
                let now = state.clock.now_ms();
                let cap = state
                    .remediation
                    .capability()
                    .cloned()
                    .unwrap_or_else(|| crate::playbook_cli::capability("process"));
                let r = aiops_playbooks::rehearse(
                    &playbook,
                    &incident,
                    now,
                    Some(&cap),
                    state.remediation.remediator().settings(),
                );
                crate::playbook_cli::report(&playbook, &incident, now, &r)
            }
        });
    }
    let view = playbooks_view(&state, &caller, draft, problems, true, &chosen, report);
    page(StatusCode::OK, view.render())
}

/// The live validation while a playbook is edited: a fragment of problems.
async fn validate_live(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(r) = may_change(&state, &headers, &body, Role::Viewer, "/playbooks") {
        return *r;
    }
    let draft = form(&body).get("yaml").cloned().unwrap_or_default();
    page(
        StatusCode::OK,
        views::Validation {
            problems: views::validate(&draft),
        }
        .render(),
    )
}

async fn playbook(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Response {
    let (caller, set) = match signed_in(&state, &headers, &format!("/playbooks/{name}")) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let Some(p) = state
        .remediation
        .remediator()
        .playbooks()
        .iter()
        .find(|p| p.name.value == name)
        .cloned()
    else {
        return message(
            StatusCode::NOT_FOUND,
            "No such playbook",
            &format!("No playbook named {name} is loaded."),
            "/playbooks",
        );
    };
    let view = views::PlaybookPage {
        c: chrome(&caller, "playbooks", None),
        name: p.name.value.clone(),
        mode: p.mode.as_str(),
        yaml: serde_json::to_string_pretty(&p).unwrap_or_default(),
    };
    with_cookie(page(StatusCode::OK, view.render()), set)
}

fn login_form(state: &AppState, next: &str, error: Option<String>, status: StatusCode) -> Response {
    let mut token = [0u8; 24];
    rand::fill(&mut token);
    let token: String = token.iter().map(|b| format!("{b:02x}")).collect();
    let view = views::LoginPage {
        c: Chrome::default(),
        error,
        csrf: token.clone(),
        next: local_path(next),
    };
    let mut r = page(status, view.render());
    r.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(state, LOGIN_COOKIE, &token, "/login", 600),
    );
    r
}

async fn login_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let params = params(query);
    let next = local_path(param(&params, "next").unwrap_or("/"));
    if let Ok((Some(_), set)) = caller(&state, &headers) {
        return with_cookie(Redirect::to(&next).into_response(), set);
    }
    let note = state.console.users.is_empty().then(|| {
        "No console users are configured (console.users); sign-in works for them, or through an authenticating proxy.".to_owned()
    });
    login_form(&state, &next, note, StatusCode::OK)
}

async fn login(State(state): State<AppState>, headers: HeaderMap, request: Request) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string())
        .unwrap_or_else(|| "local".into());
    let Ok(body) = axum::body::to_bytes(request.into_body(), MAX_FORM_BYTES).await else {
        return message(
            StatusCode::PAYLOAD_TOO_LARGE,
            "Refused",
            "The form is too large.",
            "/login",
        );
    };
    let fields = form(&body);
    let get = |k: &str| fields.get(k).map(String::as_str).unwrap_or("");
    let next = local_path(get("next"));
    let presented = get("csrf");
    let expected = cookie(&headers, LOGIN_COOKIE).unwrap_or_default();
    if presented.is_empty()
        || !bool::from(subtle::ConstantTimeEq::ct_eq(
            presented.as_bytes(),
            expected.as_bytes(),
        ))
    {
        return login_form(
            &state,
            &next,
            Some("The form expired or came from elsewhere; try again.".into()),
            StatusCode::FORBIDDEN,
        );
    }
    let name = get("name");
    if name.is_empty() || name.len() > 64 || get("password").len() > 1024 {
        return login_form(
            &state,
            &next,
            Some("Name or password is wrong.".into()),
            StatusCode::UNAUTHORIZED,
        );
    }
    let now = state.clock.now_ms();
    let key = format!("{name}@{peer}");
    if let Err(wait) = state.console.throttle.check(&key, now) {
        let mut r = login_form(
            &state,
            &next,
            Some(format!("Too many failed attempts; try again in {wait} s.")),
            StatusCode::TOO_MANY_REQUESTS,
        );
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(wait));
        return r;
    }
    // argon2 is slow on purpose: off the async workers
    let console = state.console.clone();
    let (name_owned, password) = (name.to_owned(), get("password").to_owned());
    let user = tokio::task::spawn_blocking(move || {
        console
            .users
            .login(&name_owned, &password)
            .map(|u| (u.name.clone(), u.role))
    })
    .await
    .ok()
    .flatten();
    let Some((user, role)) = user else {
        state.console.throttle.failed(&key, now);
        tracing::warn!(user = %name, peer = %peer, "console login failed");
        return login_form(
            &state,
            &next,
            Some("Name or password is wrong.".into()),
            StatusCode::UNAUTHORIZED,
        );
    };
    state.console.throttle.succeeded(&key);
    let ttl = i64::try_from(state.console.config.session_ttl.as_millis()).unwrap_or(i64::MAX);
    let (id, _) = state.console.sessions.create(&user, role, now, ttl);
    tracing::info!(user = %user, role = role.as_str(), "console login");
    let mut r = Redirect::to(&next).into_response();
    r.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(&state, SESSION_COOKIE, &id, "/", ttl / 1000),
    );
    r.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(&state, LOGIN_COOKIE, "", "/login", 0),
    );
    r
}

async fn logout(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    match may_change(&state, &headers, &body, Role::Viewer, "/") {
        Ok(Caller::Session { id, .. }) => {
            state.console.sessions.remove(&id);
            let mut r = Redirect::to("/login").into_response();
            r.headers_mut().append(
                header::SET_COOKIE,
                set_cookie(&state, SESSION_COOKIE, "", "/", 0),
            );
            r
        }
        Ok(Caller::Token { .. }) => Redirect::to("/").into_response(),
        Err(r) => *r,
    }
}

/// Server-sent events: `event: incident` with the id of each incident that
/// changed, as it changes.
async fn events(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Err(r) = signed_in(&state, &headers, "/") {
        return *r;
    }
    let rx = state.events.subscribe();
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        let event = match rx.recv().await {
            Ok(id) => Event::default().event("incident").data(id),
            // behind: the page fetches everything anyway
            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                Event::default().event("incident").data("*")
            }
            Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
        };
        Some((Ok::<Event, Infallible>(event), rx))
    });
    sse(stream).into_response()
}

fn sse<S: Stream<Item = Result<Event, Infallible>> + Send + 'static>(
    stream: S,
) -> impl IntoResponse {
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}
