//! The executor against a loopback stand-in for the Kubernetes API server
//! (none can run here): it records every request (verb, path, query,
//! content type, body) and answers in the real API's JSON: objects,
//! lists, `Status` refusals (403, 404, 409), dry runs that change nothing,
//! and a rollout that never completes.

use std::sync::Arc;
use std::time::Duration;

use aiops_kube::{Change, KubeChange, KubeChangeKind, KubeError, KubeTarget, Rollout};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{OriginalUri, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use parking_lot::Mutex;
use serde_json::{Value, json};

#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    query: String,
    content_type: String,
    body: Value,
}

#[derive(Clone)]
struct Api {
    seen: Arc<Mutex<Vec<Seen>>>,
    deployment: Arc<Mutex<Value>>,
    /// Answer writes with this Status code (403, 409) when set.
    refuse_writes: Arc<Mutex<Option<u16>>>,
    /// The rollout never finishes.
    stuck: Arc<Mutex<bool>>,
    /// Someone else writes the Deployment right before each patch.
    raced: Arc<Mutex<bool>>,
    /// The namespace's events, all of them (the API filters by type).
    events: Arc<Mutex<Vec<Value>>>,
    /// Restarts of the second pod since it was first listed.
    crashed: Arc<Mutex<i32>>,
}

const NS: &str = "shop";

fn status(code: u16, reason: &str, message: &str) -> Response {
    let body = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": message, "reason": reason, "code": code});
    (
        StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        axum::Json(body),
    )
        .into_response()
}

fn template(image: &str, hash: Option<&str>) -> Value {
    let mut labels = json!({"app": "payments"});
    if let Some(h) = hash {
        labels["pod-template-hash"] = json!(h);
    }
    json!({"metadata": {"labels": labels},
        "spec": {"containers": [{"name": "payments", "image": image, "args": ["run", "payments"]}]}})
}

fn deployment() -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "payments", "namespace": NS, "uid": "d-uid-1", "resourceVersion": "100", "generation": 4,
            "annotations": {"deployment.kubernetes.io/revision": "3"}},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "payments"}}, "template": template("aiops/shop:v3", None)},
        "status": {"observedGeneration": 4, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 2, "readyReplicas": 2}})
}

fn replica_set(revision: u64, image: &str, hash: &str, owner: &str) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": format!("payments-{hash}"), "namespace": NS,
            "labels": {"app": "payments", "pod-template-hash": hash},
            "annotations": {"deployment.kubernetes.io/revision": revision.to_string()},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "payments", "uid": owner, "controller": true}]},
        "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "payments", "pod-template-hash": hash}},
            "template": template(image, Some(hash))}})
}

fn pod(name: &str, ready: bool, restarts: i32) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": NS, "labels": {"app": "payments"}, "creationTimestamp": "2026-12-01T10:00:00Z"},
        "spec": {"containers": [{"name": "payments", "image": "aiops/shop:v3"}]},
        "status": {"phase": "Running", "containerStatuses": [{"name": "payments", "ready": ready, "restartCount": restarts,
            "image": "aiops/shop:v3", "imageID": "", "started": true}]}})
}

/// RFC 7386 merge, which is what a strategic merge does for these maps.
fn merge(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(t), Value::Object(p)) => {
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    merge(t.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        (t, p) => *t = p.clone(),
    }
}

async fn answer(
    State(api): State<Api>,
    method: Method,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_owned();
    let query = uri.query().unwrap_or("").to_owned();
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let body_json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    api.seen.lock().push(Seen {
        method: method.to_string(),
        path: path.clone(),
        query: query.clone(),
        content_type: content_type.clone(),
        body: body_json.clone(),
    });
    let dry_run = query.split('&').any(|p| p == "dryRun=All");
    let deployments = format!("/apis/apps/v1/namespaces/{NS}/deployments");
    let write = method == Method::PATCH || method == Method::DELETE;
    if write && let Some(code) = *api.refuse_writes.lock() {
        return match code {
            403 => status(
                403,
                "Forbidden",
                "deployments.apps \"payments\" is forbidden: User \"system:serviceaccount:aiops:aiops\" cannot patch resource \"deployments\" in API group \"apps\" in the namespace \"shop\"",
            ),
            _ => status(
                409,
                "Conflict",
                "Operation cannot be fulfilled on deployments.apps \"payments\": the object has been modified; please apply your changes to the latest version and try again",
            ),
        };
    }
    match (method.as_str(), path.as_str()) {
        ("GET", p) if p == deployments => axum::Json(json!({
            "kind": "DeploymentList", "apiVersion": "apps/v1", "metadata": {"resourceVersion": "100"},
            "items": [api.deployment.lock().clone()]}))
        .into_response(),
        ("GET", p) if p == format!("{deployments}/payments") => {
            let mut d = api.deployment.lock().clone();
            if *api.stuck.lock() {
                d["status"]["updatedReplicas"] = json!(1);
                d["status"]["availableReplicas"] = json!(1);
                d["status"]["replicas"] = json!(3);
            }
            axum::Json(d).into_response()
        }
        ("GET", p) if p.starts_with(&deployments) && !p.ends_with("/scale") => status(
            404,
            "NotFound",
            &format!(
                "deployments.apps \"{}\" not found",
                p.rsplit('/').next().unwrap_or("")
            ),
        ),
        ("PATCH", p) if p == format!("{deployments}/payments") => {
            if *api.raced.lock() {
                api.deployment.lock()["metadata"]["resourceVersion"] = json!("150");
            }
            let mut d = api.deployment.lock().clone();
            if content_type.starts_with("application/json-patch+json") {
                let Ok(patch) = serde_json::from_value::<json_patch::Patch>(body_json) else {
                    return status(400, "BadRequest", "not a json patch");
                };
                if let Err(e) = json_patch::patch(&mut d, &patch) {
                    // a failed test op is what a concurrent change looks like
                    return status(422, "Invalid", &format!("the json patch failed: {e}"));
                }
            } else {
                merge(&mut d, &body_json);
            }
            d["metadata"]["resourceVersion"] = json!("101");
            if !dry_run {
                *api.deployment.lock() = d.clone();
            }
            axum::Json(d).into_response()
        }
        ("GET" | "PATCH", p) if p == format!("{deployments}/payments/scale") => {
            let mut replicas = api.deployment.lock()["spec"]["replicas"].clone();
            if method == Method::PATCH {
                replicas = body_json["spec"]["replicas"].clone();
                if !dry_run {
                    api.deployment.lock()["spec"]["replicas"] = replicas.clone();
                }
            }
            axum::Json(json!({"kind": "Scale", "apiVersion": "autoscaling/v1",
                "metadata": {"name": "payments", "namespace": NS, "resourceVersion": "100"},
                "spec": {"replicas": replicas}, "status": {"replicas": 2, "selector": "app=payments"}}))
            .into_response()
        }
        ("GET", p) if p == format!("/apis/apps/v1/namespaces/{NS}/replicasets") => {
            axum::Json(json!({"kind": "ReplicaSetList", "apiVersion": "apps/v1", "metadata": {"resourceVersion": "100"},
                "items": [
                    replica_set(3, "aiops/shop:v3", "ccc", "d-uid-1"),
                    replica_set(2, "aiops/shop:v2", "bbb", "d-uid-1"),
                    replica_set(1, "aiops/shop:v1", "aaa", "d-uid-1"),
                    // another Deployment's, with the same labels: never chosen
                    replica_set(2, "evil/image:v9", "zzz", "someone-else"),
                ]}))
            .into_response()
        }
        ("GET", p) if p == format!("/api/v1/namespaces/{NS}/pods") => {
            let crashed = *api.crashed.lock();
            let mut second = pod("payments-ccc-2", false, 7 + crashed);
            if crashed > 0 {
                second["status"]["containerStatuses"][0]["lastState"] = json!({"terminated": {
                    "exitCode": 137, "reason": "OOMKilled",
                    "startedAt": "2026-12-07T09:58:00Z", "finishedAt": "2026-12-07T10:00:00Z"}});
            }
            axum::Json(json!({
                "kind": "PodList", "apiVersion": "v1", "metadata": {"resourceVersion": "100"},
                "items": [pod("payments-ccc-1", true, 0), second]}))
            .into_response()
        }
        ("GET", p) if p == format!("/api/v1/namespaces/{NS}/events") => {
            let warnings_only = query.split('&').any(|q| q == "fieldSelector=type%3DWarning");
            let items: Vec<Value> = api
                .events
                .lock()
                .iter()
                .filter(|e| !warnings_only || e["type"] == "Warning")
                .cloned()
                .collect();
            axum::Json(json!({"kind": "EventList", "apiVersion": "v1",
                "metadata": {"resourceVersion": "100"}, "items": items}))
            .into_response()
        }
        ("GET", p) if p.starts_with(&format!("/api/v1/namespaces/{NS}/pods/")) => {
            let name = p.rsplit('/').next().unwrap_or("");
            axum::Json(pod(name, false, 7)).into_response()
        }
        ("DELETE", p) if p.starts_with(&format!("/api/v1/namespaces/{NS}/pods/")) => {
            let name = p.rsplit('/').next().unwrap_or("");
            let mut gone = pod(name, false, 7);
            gone["metadata"]["deletionTimestamp"] = json!("2026-12-07T10:00:00Z");
            axum::Json(gone).into_response()
        }
        _ => status(
            404,
            "NotFound",
            &format!("the server could not find the requested resource ({path})"),
        ),
    }
}

async fn start() -> (KubeTarget, Api) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let api = Api {
        seen: Arc::default(),
        deployment: Arc::new(Mutex::new(deployment())),
        refuse_writes: Arc::default(),
        stuck: Arc::default(),
        raced: Arc::default(),
        events: Arc::default(),
        crashed: Arc::default(),
    };
    let app = Router::new().fallback(answer).with_state(api.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    let mut config = kube::Config::new(url.parse().expect("a uri"));
    config.default_namespace = NS.into();
    let client = kube::Client::try_from(config).expect("a client");
    let target = KubeTarget::new(client, NS, &[NS.to_owned()]).expect("allowed");
    (target, api)
}

fn writes(api: &Api) -> Vec<Seen> {
    api.seen
        .lock()
        .iter()
        .filter(|s| s.method != "GET")
        .cloned()
        .collect()
}

#[tokio::test]
async fn a_restart_is_the_rollout_restart_annotation_by_strategic_merge() {
    let (target, api) = start().await;
    let at = chrono::DateTime::parse_from_rfc3339("2026-12-07T10:00:00Z")
        .expect("time")
        .with_timezone(&chrono::Utc);
    let plan = target
        .plan("payments", &Change::Restart { at })
        .await
        .expect("a plan");
    assert_eq!(
        plan,
        vec![
            "/spec/template/metadata/annotations/kubectl.kubernetes.io~1restartedAt: (absent) -> \"2026-12-07T10:00:00Z\""
                .to_owned()
        ]
    );
    let done = target
        .apply("payments", &Change::Restart { at })
        .await
        .expect("restarted");
    assert!(
        done.starts_with("restarted deployment payments in shop"),
        "{done}"
    );
    let w = writes(&api);
    assert_eq!(w.len(), 2, "{w:?}");
    for (i, s) in w.iter().enumerate() {
        assert_eq!(s.method, "PATCH");
        assert_eq!(s.path, "/apis/apps/v1/namespaces/shop/deployments/payments");
        assert_eq!(s.content_type, "application/strategic-merge-patch+json");
        assert!(s.query.contains("fieldManager=aiops"), "{}", s.query);
        assert_eq!(
            s.query.contains("dryRun=All"),
            i == 0,
            "only the plan is a dry run"
        );
        assert_eq!(
            s.body,
            json!({"spec": {"template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": "2026-12-07T10:00:00Z"}}}}})
        );
    }
}

#[tokio::test]
async fn scaling_patches_the_scale_subresource() {
    let (target, api) = start().await;
    let plan = target
        .plan("payments", &Change::Scale { replicas: 4 })
        .await
        .expect("a plan");
    assert_eq!(plan, vec!["/spec/replicas: 2 -> 4".to_owned()]);
    assert_eq!(
        api.deployment.lock()["spec"]["replicas"],
        2,
        "a dry run changes nothing"
    );
    target
        .apply("payments", &Change::Scale { replicas: 4 })
        .await
        .expect("scaled");
    assert_eq!(api.deployment.lock()["spec"]["replicas"], 4);
    let w = writes(&api);
    assert_eq!(
        w[1].path,
        "/apis/apps/v1/namespaces/shop/deployments/payments/scale"
    );
    assert_eq!(w[1].content_type, "application/merge-patch+json");
    assert_eq!(w[1].body, json!({"spec": {"replicas": 4}}));
}

#[tokio::test]
async fn a_rollback_restores_the_previous_revisions_template_as_kubectl_does() {
    let (target, api) = start().await;
    let plan = target
        .plan("payments", &Change::Rollback)
        .await
        .expect("a plan");
    assert_eq!(
        plan,
        vec![
            "/spec/template/spec/containers/0/image: \"aiops/shop:v3\" -> \"aiops/shop:v2\""
                .to_owned()
        ],
        "revision 2, the Deployment's own, without its pod-template-hash"
    );
    target
        .apply("payments", &Change::Rollback)
        .await
        .expect("rolled back");
    let w = writes(&api);
    let patch = &w[1];
    assert_eq!(patch.content_type, "application/json-patch+json");
    assert_eq!(
        patch.body[0],
        json!({"op": "test", "path": "/metadata/resourceVersion", "value": "100"})
    );
    assert_eq!(patch.body[1]["op"], "replace");
    assert_eq!(patch.body[1]["path"], "/spec/template");
    assert!(
        patch.body[1]["value"]["metadata"]["labels"]
            .get("pod-template-hash")
            .is_none()
    );
    let lists: Vec<Seen> = api
        .seen
        .lock()
        .iter()
        .filter(|s| s.path.ends_with("/replicasets"))
        .cloned()
        .collect();
    assert!(
        lists[0].query.contains("labelSelector=app%3Dpayments"),
        "{}",
        lists[0].query
    );
    // written by someone else meanwhile: the guarded patch fails, nothing changes
    *api.raced.lock() = true;
    let before = api.deployment.lock()["spec"].clone();
    let e = target
        .apply("payments", &Change::Rollback)
        .await
        .expect_err("raced");
    assert!(e.to_string().contains("422"), "{e}");
    assert_eq!(api.deployment.lock()["spec"], before);
    *api.raced.lock() = false;
    // at the oldest revision: nothing older to go to
    api.deployment.lock()["metadata"]["annotations"]["deployment.kubernetes.io/revision"] =
        json!("1");
    let e = target
        .apply("payments", &Change::Rollback)
        .await
        .expect_err("nothing older");
    assert!(e.to_string().contains("no older ReplicaSet"), "{e}");
}

#[tokio::test]
async fn a_pod_is_deleted_least_healthy_first() {
    let (target, api) = start().await;
    let done = target
        .apply("payments", &Change::DeletePod { pod: None })
        .await
        .expect("deleted");
    assert!(done.contains("deleted a pod of payments"), "{done}");
    let w = writes(&api);
    assert_eq!(w[0].method, "DELETE");
    assert_eq!(
        w[0].path, "/api/v1/namespaces/shop/pods/payments-ccc-2",
        "the unready, restarted one"
    );
}

#[tokio::test]
async fn the_apis_refusals_say_what_to_do_and_change_nothing() {
    let (target, api) = start().await;
    let at = chrono::Utc::now();
    let e = target
        .apply("missing", &Change::Restart { at })
        .await
        .expect_err("no such deployment");
    assert!(matches!(e, KubeError::NotFound { .. }), "{e}");
    assert_eq!(
        e.to_string(),
        "no deployment \"missing\" in namespace \"shop\""
    );
    *api.refuse_writes.lock() = Some(403);
    let e = target
        .apply("payments", &Change::Restart { at })
        .await
        .expect_err("forbidden");
    assert!(
        e.to_string()
            .starts_with("forbidden: the engine's service account may not do this"),
        "{e}"
    );
    *api.refuse_writes.lock() = Some(409);
    let e = target
        .apply("payments", &Change::Scale { replicas: 3 })
        .await
        .expect_err("conflict");
    assert!(matches!(e, KubeError::Conflict { .. }), "{e}");
    assert_eq!(api.deployment.lock().clone(), deployment());
    let client = kube::Client::try_from(kube::Config::new(
        "http://127.0.0.1:1".parse().expect("uri"),
    ))
    .expect("client");
    let refused = KubeTarget::new(client, "kube-system", &[NS.to_owned()])
        .err()
        .expect("not allowed");
    assert!(
        refused.to_string().contains("not among the allowed"),
        "{refused}"
    );
}

#[tokio::test]
async fn a_rollout_is_followed_until_complete_or_reported_stuck() {
    let (target, api) = start().await;
    let fast = Rollout {
        poll: Duration::from_millis(20),
        timeout: Duration::from_millis(300),
    };
    let done = target
        .wait_rollout("payments", fast)
        .await
        .expect("complete");
    assert!(done.contains("2 of 2 replicas updated"), "{done}");
    *api.stuck.lock() = true;
    let e = target
        .wait_rollout("payments", fast)
        .await
        .expect_err("stuck");
    assert!(
        e.to_string()
            .contains("1 of 2 replicas updated, 1 available, 3 in all"),
        "{e}"
    );
    api.deployment.lock()["status"]["conditions"] = json!([{"type": "Progressing", "status": "False",
        "reason": "ProgressDeadlineExceeded", "message": "ReplicaSet \"payments-ddd\" has timed out progressing."}]);
    let e = target
        .wait_rollout("payments", fast)
        .await
        .expect_err("deadline");
    assert!(e.to_string().contains("has timed out progressing"), "{e}");
}

fn event(uid: &str, kind: &str, object: &str, type_: &str, reason: &str, count: i32) -> Value {
    json!({"apiVersion": "v1", "kind": "Event",
        "metadata": {"name": format!("{object}.{uid}"), "namespace": NS, "uid": uid},
        "involvedObject": {"kind": kind, "name": object, "namespace": NS},
        "type": type_, "reason": reason, "count": count,
        "message": format!("{reason} of {object}"),
        "firstTimestamp": "2026-12-07T09:50:00Z", "lastTimestamp": "2026-12-07T10:00:30Z"})
}

/// The watcher's looks: three bounded lists (Warning events only); the
/// first look remembers; then a new image, a scale, an OOM-killed
/// container and a new Warning event each come back as a change of the
/// service, once.
#[tokio::test]
async fn the_watcher_reports_rollouts_scales_restarts_and_warnings() {
    let (target, api) = start().await;
    api.events.lock().extend([
        event("e1", "Pod", "payments-ccc-2", "Warning", "BackOff", 3),
        event("e2", "Pod", "payments-ccc-1", "Normal", "Pulled", 1),
    ]);
    let seen_changes: Arc<Mutex<Vec<KubeChange>>> = Arc::default();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let sink = seen_changes.clone();
    let watcher = tokio::spawn(aiops_kube::watch(
        target,
        Duration::from_millis(100),
        || 1_796_637_700_000,
        move |changes, _| sink.lock().extend(changes),
        stop_rx,
    ));
    let looked = |n: usize| {
        api.seen
            .lock()
            .iter()
            .filter(|s| s.path.ends_with("/events"))
            .count()
            >= n
    };
    for _ in 0..100 {
        if looked(2) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(looked(2), "the watcher looks again and again");
    assert!(
        seen_changes.lock().is_empty(),
        "the first looks only remember"
    );
    {
        let mut d = api.deployment.lock();
        d["metadata"]["annotations"]["deployment.kubernetes.io/revision"] = json!("4");
        d["spec"]["template"] = template("aiops/shop:v4", None);
        d["spec"]["replicas"] = json!(3);
    }
    *api.crashed.lock() = 1;
    api.events.lock().extend([
        event("e1", "Pod", "payments-ccc-2", "Warning", "BackOff", 5),
        event("e3", "Pod", "payments-ccc-2", "Warning", "Unhealthy", 1),
        event("e4", "Pod", "payments-ccc-1", "Normal", "Started", 1),
    ]);
    api.events.lock().remove(0);
    for _ in 0..100 {
        if seen_changes.lock().len() >= 5 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let _ = stop_tx.send(true);
    watcher.await.expect("the watcher stops");
    let changes = seen_changes.lock().clone();
    let mut got: Vec<(KubeChangeKind, String, String)> = changes
        .iter()
        .map(|c| (c.kind, c.subject.clone(), c.why.clone()))
        .collect();
    got.sort_by(|a, b| a.1.cmp(&b.1));
    assert_eq!(
        got,
        vec![
            (
                KubeChangeKind::Rollout,
                "deployment/payments".to_owned(),
                "deployment payments rolled out revision 4: payments=aiops/shop:v4, was payments=aiops/shop:v3".to_owned()
            ),
            (
                KubeChangeKind::Scaled,
                "deployment/payments".to_owned(),
                "deployment payments scaled from 2 to 3 replicas".to_owned()
            ),
            (
                KubeChangeKind::Warning,
                "event/BackOff".to_owned(),
                "kubernetes warning BackOff on pod/payments-ccc-2 (2 more times, 5 in all): BackOff of payments-ccc-2".to_owned()
            ),
            (
                KubeChangeKind::Warning,
                "event/Unhealthy".to_owned(),
                "kubernetes warning Unhealthy on pod/payments-ccc-2: Unhealthy of payments-ccc-2".to_owned()
            ),
            (
                KubeChangeKind::PodRestart,
                "pod/payments-ccc-2".to_owned(),
                "pod payments-ccc-2 restarted (7 -> 8 restarts, last exit: OOMKilled (exit 137))".to_owned()
            ),
        ],
        "each change once"
    );
    assert!(changes.iter().all(|c| c.service == "payments"));
    let restart = changes
        .iter()
        .find(|c| c.kind == KubeChangeKind::PodRestart);
    assert_eq!(
        restart.map(|c| c.at_ms),
        Some(1_796_637_600_000),
        "when the container stopped, by the kubelet's account"
    );
    for s in api.seen.lock().iter().filter(|s| s.method == "GET") {
        if s.path.ends_with("/events") {
            assert!(
                s.query.contains("fieldSelector=type%3DWarning"),
                "{}",
                s.query
            );
        }
        if s.path.ends_with("/events")
            || s.path.ends_with("/pods")
            || s.path.ends_with("/deployments")
        {
            assert!(
                s.query.contains("limit=500"),
                "every list is one bounded page: {}",
                s.query
            );
        }
    }
    assert!(writes(&api).is_empty(), "watching writes nothing");
}
