#![allow(clippy::unwrap_used)]

use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

use super::*;
use crate::client::SupervisorClient;

/// A shell script as the process: real fork, exec, signals and exits.
fn sh(script: &str) -> Spec {
    Spec {
        program: "/bin/sh".into(),
        args: vec!["-c".into(), script.into()],
        env: vec![("BASE".into(), "base".into())],
    }
}

fn quick() -> Options {
    Options {
        output: Output::Discard,
        backoff_min: Duration::from_millis(50),
        backoff_max: Duration::from_millis(200),
        stop_grace: Duration::from_secs(5),
        version_env: Some("VERSION".into()),
        ..Options::default()
    }
}

async fn until(what: &str, mut ok: impl FnMut() -> bool) {
    for _ in 0..200 {
        if ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("timed out waiting for {what}");
}

fn alive(pid: u32) -> bool {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), None).is_ok()
}

#[tokio::test]
async fn a_restart_starts_a_new_process_and_counts_as_asked() {
    let sup = Supervisor::new();
    sup.start("napper", sh("exec sleep 30"), quick()).unwrap();
    until("first start", || sup.state("napper").unwrap().starts == 1).await;
    let first = sup.state("napper").unwrap();
    let old_pid = first.pid.unwrap();
    let after = sup.restart("napper").await.unwrap();
    assert_eq!(after.starts, 2);
    assert_eq!(after.restarts, 1);
    assert_eq!(after.crashes, 0, "a restart asked for is no crash");
    assert_eq!(after.status, Status::Running);
    assert_ne!(after.pid, Some(old_pid));
    until("the old process gone", || !alive(old_pid)).await;
    assert_eq!(
        sup.restart("nobody").await,
        Err(ControlError::Unknown("nobody".into()))
    );
    sup.stop_all(&[]).await;
    assert!(!alive(after.pid.unwrap()), "stopped for good");
    assert_eq!(sup.state("napper").unwrap().status, Status::Stopped);
    assert!(matches!(
        sup.restart("napper").await,
        Err(ControlError::Stopped(_))
    ));
}

#[tokio::test]
async fn a_crashing_process_is_started_again_with_back_off_unless_told_not_to() {
    let sup = Supervisor::new();
    sup.start("crasher", sh("exit 3"), quick()).unwrap();
    until("three crashes", || {
        sup.state("crasher").unwrap().crashes >= 3
    })
    .await;
    let state = sup.state("crasher").unwrap();
    assert!(
        state.last_exit.as_deref().unwrap_or("").contains('3'),
        "{state:?}"
    );
    assert_eq!(state.restarts, 0);

    let once = Options {
        restart: false,
        ..quick()
    };
    sup.start("once", sh("exit 0"), once).unwrap();
    until("exited", || {
        sup.state("once").unwrap().status == Status::Exited
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(sup.state("once").unwrap().starts, 1, "not restarted");
    // but it can be started again on request
    let again = sup.restart("once").await.unwrap();
    assert_eq!(again.starts, 2);
    assert!(matches!(
        sup.start("once", sh("true"), quick()),
        Err(ControlError::Duplicate(_))
    ));
    sup.stop_all(&[]).await;
}

#[tokio::test]
async fn releases_deploy_roll_back_and_roll_forward() {
    let dir = tempfile::tempdir().unwrap();
    let seen = dir.path().join("seen");
    let script = format!(
        "echo \"${{VERSION:-none}} ${{FLAG:-unset}} $BASE\" >> {}; exec sleep 30",
        seen.display()
    );
    let lines = || std::fs::read_to_string(&seen).unwrap_or_default();
    let sup = Supervisor::new();
    sup.start("svc", sh(&script), quick()).unwrap();
    until("first start", || lines().lines().count() == 1).await;
    assert!(matches!(
        sup.rollback("svc").await,
        Err(ControlError::NoPreviousRelease(_))
    ));
    let release = Release {
        version: "2.0.0-bad".into(),
        env: [("FLAG".to_owned(), "on".to_owned())].into(),
    };
    let deployed = sup.deploy("svc", release.clone()).await.unwrap();
    assert_eq!(deployed.release, release);
    assert_eq!(deployed.previous_release, Some(Release::default()));
    until("second start", || lines().lines().count() == 2).await;
    let back = sup.rollback("svc").await.unwrap();
    assert_eq!(back.release, Release::default());
    assert_eq!(
        back.previous_release,
        Some(release.clone()),
        "a roll-back can be undone"
    );
    until("third start", || lines().lines().count() == 3).await;
    let forward = sup.rollback("svc").await.unwrap();
    assert_eq!(forward.release, release);
    until("fourth start", || lines().lines().count() == 4).await;
    assert_eq!(
        lines(),
        "none unset base\n2.0.0-bad on base\nnone unset base\n2.0.0-bad on base\n"
    );
    assert_eq!(sup.state("svc").unwrap().restarts, 3);
    sup.stop_all(&["svc"]).await;
}

#[tokio::test]
async fn output_goes_to_its_file_whole_lines() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("out.log");
    let options = Options {
        output: Output::File(log.clone()),
        restart: false,
        ..quick()
    };
    let sup = Supervisor::new();
    sup.start("talker", sh("echo one; echo two >&2; exit 5"), options)
        .unwrap();
    until("exited", || {
        sup.state("talker").unwrap().status == Status::Exited
    })
    .await;
    until("lines written", || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .count()
            >= 3
    })
    .await;
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("one\n") && text.contains("two\n"), "{text}");
    assert!(text.contains("supervisor: talker exited"), "{text}");
    sup.stop_all(&[]).await;
}

async fn send(
    app: &axum::Router,
    method: &str,
    uri: &str,
    token: Option<&str>,
    body: &str,
) -> (StatusCode, Value) {
    let mut request = Request::builder().method(method).uri(uri);
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let response = app
        .clone()
        .oneshot(request.body(Body::from(body.to_owned())).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn the_control_api_needs_the_token_and_says_what_was_wrong() {
    let sup = Supervisor::new();
    sup.start("svc", sh("exec sleep 30"), quick()).unwrap();
    let app = control::router(sup.clone(), "s3cret-token");
    let (status, body) = send(&app, "GET", "/v1/processes", None, "").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let (status, _) = send(
        &app,
        "POST",
        "/v1/processes/svc/restart",
        Some("s3cret-tokeX"),
        "",
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(sup.state("svc").unwrap().restarts, 0, "nothing done");

    let (status, body) = send(&app, "GET", "/v1/processes", Some("s3cret-token"), "").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["data"][0]["name"], "svc");
    let (status, body) = send(&app, "GET", "/v1/processes/nope", Some("s3cret-token"), "").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("unknown_process"))
    );
    let (status, body) = send(
        &app,
        "POST",
        "/v1/processes/svc/rollback",
        Some("s3cret-token"),
        "",
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("no_previous_release"))
    );
    for bad in [
        "not json",
        r#"{"version":"1","env":{"1BAD":"x"}}"#,
        r#"{"version":"1","surprise":true}"#,
        r#"{"version":"a\u0000b"}"#,
    ] {
        let (status, body) = send(
            &app,
            "POST",
            "/v1/processes/svc/deploy",
            Some("s3cret-token"),
            bad,
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        assert_eq!(body["error"]["code"], "invalid_release");
    }
    let huge = format!(r#"{{"version":"{}"}}"#, "x".repeat(control::MAX_BODY_BYTES));
    let (status, _) = send(
        &app,
        "POST",
        "/v1/processes/svc/deploy",
        Some("s3cret-token"),
        &huge,
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        sup.state("svc").unwrap().restarts,
        0,
        "no bad request did anything"
    );
    let (status, body) = send(
        &app,
        "POST",
        "/v1/processes/svc/deploy",
        Some("s3cret-token"),
        r#"{"version":"1.1.0","env":{"FLAG":"x"}}"#,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["release"]["version"], "1.1.0");
    sup.stop_all(&[]).await;
}

#[tokio::test]
async fn the_client_speaks_the_api_over_loopback() {
    let sup = Supervisor::new();
    sup.start("svc", sh("exec sleep 30"), quick()).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(control::serve(
        listener,
        sup.clone(),
        "tok-tok-tok",
        async {
            let _ = stopped.await;
        },
    ));
    let client = SupervisorClient::new(&base, "tok-tok-tok", Duration::from_secs(10)).unwrap();
    until("started", || sup.state("svc").unwrap().starts == 1).await;
    assert_eq!(client.list().await.unwrap().len(), 1);
    let restarted = client.restart("svc").await.unwrap();
    assert_eq!(restarted.starts, 2);
    let err = client.rollback("svc").await.unwrap_err();
    assert_eq!(
        (err.status, err.code.as_str()),
        (Some(409), "no_previous_release")
    );
    let deployed = client
        .deploy(
            "svc",
            &Release {
                version: "9".into(),
                env: Default::default(),
            },
        )
        .await
        .unwrap();
    assert_eq!(deployed.release.version, "9");
    assert_eq!(client.rollback("svc").await.unwrap().release.version, "");
    let err = client.state("../etc").await.unwrap_err();
    assert_eq!(err.status, Some(404));
    let wrong = SupervisorClient::new(&base, "nope-nope", Duration::from_secs(10)).unwrap();
    assert_eq!(wrong.restart("svc").await.unwrap_err().status, Some(401));
    let _ = stop.send(());
    server.await.unwrap().unwrap();
    let gone = client.list().await.unwrap_err();
    assert_eq!((gone.status, gone.code.as_str()), (None, "unreachable"));
    sup.stop_all(&[]).await;
}
