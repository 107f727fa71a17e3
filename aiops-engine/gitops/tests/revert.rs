//! The GitOps executor against a real local bare repository (push, revert,
//! a conflict, a dirty tree, a refused push) and a loopback stand-in for
//! Argo CD's API answering in its JSON.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use aiops_gitops::{ArgoCd, DeployRepo, GitOpsError, SyncWait};
use axum::Router;
use axum::extract::State;
use axum::routing::get;
use parking_lot::Mutex;
use serde_json::{Value, json};

const FILE: &str = "deploy/k8s/overlays/prod/shop/kustomization.yaml";

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["-c", "user.name=ci", "-c", "user.email=ci@shop.example"])
        .args(args)
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn kustomization(tag: &str, extra: &str) -> String {
    format!(
        "resources: [../../../base/shop]\nimages:\n  - name: aiops/shop\n    newName: 123456789012.dkr.ecr.eu-west-1.amazonaws.com/aiops/shop\n    newTag: {tag}{extra}\n  - name: aiops/engine\n    newTag: e1\n"
    )
}

fn commit(seed: &Path, file: &str, text: &str, message: &str) {
    let path = seed.join(file);
    std::fs::create_dir_all(path.parent().expect("parent")).expect("dirs");
    std::fs::write(&path, text).expect("write");
    git(seed, &["add", "-A"]);
    git(seed, &["commit", "-q", "-m", message]);
    git(seed, &["push", "-q", "origin", "HEAD:main"]);
}

/// A bare "deployment repository", a person's clone that pushed v1 then
/// v2 of the shop's image and an unrelated change, and the engine's clone.
fn repos(dir: &Path) -> (PathBuf, PathBuf, DeployRepo) {
    let remote = dir.join("deploy.git");
    let seed = dir.join("seed");
    git(
        dir,
        &[
            "init",
            "-q",
            "--bare",
            "-b",
            "main",
            &remote.display().to_string(),
        ],
    );
    git(
        dir,
        &[
            "clone",
            "-q",
            &remote.display().to_string(),
            &seed.display().to_string(),
        ],
    );
    git(&seed, &["checkout", "-q", "-b", "main"]);
    commit(
        &seed,
        FILE,
        &kustomization("v1", ""),
        "deploy: prod images at v1",
    );
    commit(
        &seed,
        FILE,
        &kustomization("v2", ""),
        "deploy: prod images at v2",
    );
    commit(
        &seed,
        "README.md",
        "the deployment repository\n",
        "docs: a readme",
    );
    let engine = dir.join("engine");
    git(
        dir,
        &[
            "clone",
            "-q",
            &remote.display().to_string(),
            &engine.display().to_string(),
        ],
    );
    let repo = DeployRepo {
        dir: engine,
        remote: "origin".into(),
        branch: "main".into(),
        author: ("aiops".into(), "aiops@shop.example".into()),
    };
    (remote, seed, repo)
}

fn remote_file(remote: &Path) -> String {
    git(remote, &["show", &format!("main:{FILE}")])
}

#[tokio::test]
async fn a_roll_back_reverts_the_last_tag_change_and_pushes_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (remote, _seed, repo) = repos(dir.path());
    let done = repo
        .roll_back(Path::new(FILE), "aiops/shop")
        .await
        .expect("rolled back");
    assert_eq!((done.from_tag.as_str(), done.to_tag.as_str()), ("v2", "v1"));
    assert_eq!(done.subject, "deploy: prod images at v2");
    assert_eq!(
        remote_file(&remote),
        kustomization("v1", "").trim_end(),
        "the remote has v1 again"
    );
    assert_eq!(git(&remote, &["rev-parse", "main"]), done.revision);
    let subject = git(&remote, &["log", "-n1", "--format=%s %an", "main"]);
    assert!(
        subject.starts_with("Revert \"deploy: prod images at v2\" aiops"),
        "{subject}"
    );
    // the image that did not change has no tag change to revert
    let e = repo
        .roll_back(Path::new(FILE), "redis")
        .await
        .expect_err("no change");
    assert!(matches!(e, GitOpsError::NoTagChange { .. }), "{e}");
}

#[tokio::test]
async fn a_dirty_tree_is_refused_and_a_conflict_aborted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (remote, seed, repo) = repos(dir.path());
    std::fs::write(repo.dir.join("notes.txt"), "someone's edit").expect("write");
    let e = repo
        .roll_back(Path::new(FILE), "aiops/shop")
        .await
        .expect_err("dirty");
    assert!(matches!(e, GitOpsError::Dirty(_)), "{e}");
    std::fs::remove_file(repo.dir.join("notes.txt")).expect("clean");
    // a later commit touched the same line without changing the tag
    commit(
        &seed,
        FILE,
        &kustomization("v2", "  # pinned for the sale"),
        "deploy: pin v2",
    );
    let before = git(&remote, &["rev-parse", "main"]);
    let e = repo
        .roll_back(Path::new(FILE), "aiops/shop")
        .await
        .expect_err("conflict");
    assert!(matches!(e, GitOpsError::Conflict { .. }), "{e}");
    assert!(e.to_string().contains(FILE), "{e}");
    assert_eq!(
        git(&remote, &["rev-parse", "main"]),
        before,
        "nothing pushed"
    );
    assert_eq!(
        git(&repo.dir, &["status", "--porcelain"]),
        "",
        "the revert was aborted"
    );
}

#[tokio::test]
async fn a_refused_push_leaves_nothing_behind() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (remote, _seed, repo) = repos(dir.path());
    let hook = remote.join("hooks/pre-receive");
    std::fs::write(&hook, "#!/bin/sh\necho 'main is protected' >&2\nexit 1\n").expect("hook");
    Command::new("chmod")
        .arg("+x")
        .arg(&hook)
        .status()
        .expect("chmod");
    let before = git(&remote, &["rev-parse", "main"]);
    let e = repo
        .roll_back(Path::new(FILE), "aiops/shop")
        .await
        .expect_err("refused");
    assert!(matches!(e, GitOpsError::PushRefused(_)), "{e}");
    assert!(e.to_string().contains("main is protected"), "{e}");
    assert_eq!(
        git(&repo.dir, &["rev-parse", "HEAD"]),
        before,
        "the local revert is undone"
    );
}

#[derive(Clone, Default)]
struct Argo {
    /// The answers, one per request, the last repeated.
    answers: Arc<Mutex<Vec<Value>>>,
    queries: Arc<Mutex<Vec<(String, String)>>>,
}

fn application(revision: &str, sync: &str, health: &str, operation: Value) -> Value {
    json!({"metadata": {"name": "shop", "namespace": "argocd"},
        "spec": {"project": "shop-apps", "source": {"repoURL": "https://git.example/deploy.git", "path": "deploy/k8s/overlays/prod/shop", "targetRevision": "main"}},
        "status": {"sync": {"status": sync, "revision": revision},
            "health": {"status": health}, "operationState": operation}})
}

async fn argo(answers: Vec<Value>) -> (ArgoCd, Argo) {
    let state = Argo {
        answers: Arc::new(Mutex::new(answers)),
        queries: Arc::default(),
    };
    let app = Router::new()
        .route(
            "/api/v1/applications/shop",
            get(
                |State(s): State<Argo>,
                 headers: axum::http::HeaderMap,
                 axum::extract::RawQuery(q): axum::extract::RawQuery| async move {
                    let auth = headers
                        .get("authorization")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                        .to_owned();
                    s.queries.lock().push((auth, q.unwrap_or_default()));
                    let mut answers = s.answers.lock();
                    let next = if answers.len() > 1 {
                        answers.remove(0)
                    } else {
                        answers[0].clone()
                    };
                    axum::Json(next)
                },
            ),
        )
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (
        ArgoCd::new(&url, "argo-token", "shop").expect("client"),
        state,
    )
}

const FAST: SyncWait = SyncWait {
    poll: Duration::from_millis(10),
    timeout: Duration::from_millis(300),
};

#[tokio::test]
async fn argo_cd_is_waited_for_until_the_revision_is_synced_and_healthy() {
    let rev = "0123456789abcdef0123456789abcdef01234567";
    let (argocd, state) = argo(vec![
        application("aaaa", "OutOfSync", "Healthy", json!({})),
        application(rev, "Synced", "Progressing", json!({"phase": "Running"})),
        application(
            rev,
            "Synced",
            "Healthy",
            json!({"phase": "Succeeded", "syncResult": {"revision": rev}}),
        ),
    ])
    .await;
    let done = argocd.wait_synced(rev, FAST).await.expect("synced");
    assert_eq!(
        done,
        "argo cd application shop synced 0123456789ab and healthy"
    );
    let queries = state.queries.lock().clone();
    assert_eq!(
        queries[0],
        ("Bearer argo-token".into(), "refresh=normal".into())
    );
    assert_eq!(queries.len(), 3);

    let (failing, _) = argo(vec![application(
        "aaaa",
        "OutOfSync",
        "Degraded",
        json!({"phase": "Failed", "message": "one or more objects failed to apply", "syncResult": {"revision": rev}}),
    )])
    .await;
    let e = failing.wait_synced(rev, FAST).await.expect_err("failed");
    assert!(
        e.to_string()
            .contains("one or more objects failed to apply"),
        "{e}"
    );

    let (never, _) = argo(vec![application("aaaa", "OutOfSync", "Healthy", json!({}))]).await;
    let e = never.wait_synced(rev, FAST).await.expect_err("timeout");
    assert!(
        e.to_string()
            .contains("not synced to 0123456789ab and healthy"),
        "{e}"
    );
}
