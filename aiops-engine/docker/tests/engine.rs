//! Against the real Docker engine: a throwaway one-service "stack" (a
//! container labelled as compose labels them, from an image of the static
//! busybox) is read, restarted by Docker's restart policy after its process
//! fails, restarted through the API, watched through Docker's events, cut
//! off its network and put back, and recreated from another image; each
//! change is reported for its service.
//! Needs the Docker socket and `/bin/busybox` (Debian's busybox-static):
//! skips loudly without them, and fails when `CI` is set.

use std::collections::HashMap;
use std::time::Duration;

use aiops_docker::{
    ChangeTracker, ContainerChangeKind, DockerError, DockerTarget, RunState, Selector, WatchConfig,
};
use bollard::Docker;
use bollard::models::{
    ContainerCreateBody, HostConfig, NetworkConnectRequest, NetworkDisconnectRequest,
    RestartPolicy, RestartPolicyNameEnum,
};
use bollard::query_parameters::{
    BuildImageOptions, CreateContainerOptionsBuilder, RemoveContainerOptionsBuilder,
    RemoveImageOptions,
};
use futures::StreamExt;

const SOCKET: &str = "/var/run/docker.sock";
const BUSYBOX: &str = "/bin/busybox";
const SERVICE: &str = "svc-under-test";

fn missing(what: &str) {
    if std::env::var_os("CI").is_some() {
        panic!("{what}: CI must provide it for the Docker engine test");
    }
    eprintln!("SKIPPED: {what}; the Docker engine test did not run");
}

/// A static busybox has no program interpreter to load it.
fn static_busybox() -> Option<Vec<u8>> {
    let bytes = std::fs::read(BUSYBOX).ok()?;
    let dynamic = bytes.windows(12).any(|w| w == b"/lib64/ld-li");
    (!dynamic).then_some(bytes)
}

fn tar_context(busybox: &[u8], marker: &str) -> Vec<u8> {
    let dockerfile = "FROM scratch\nCOPY busybox /bin/busybox\nCOPY marker /marker\nENTRYPOINT [\"/bin/busybox\"]\n";
    let mut builder = tar::Builder::new(Vec::new());
    for (name, data, mode) in [
        ("Dockerfile", dockerfile.as_bytes(), 0o644),
        ("busybox", busybox, 0o755),
        ("marker", marker.as_bytes(), 0o644),
    ] {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(mode);
        header.set_cksum();
        builder
            .append_data(&mut header, name, data)
            .expect("tar entry");
    }
    builder.into_inner().expect("tar")
}

async fn build_image(docker: &Docker, tag: &str, busybox: &[u8], marker: &str) {
    let options = BuildImageOptions {
        t: Some(tag.to_owned()),
        dockerfile: "Dockerfile".into(),
        rm: true,
        ..BuildImageOptions::default()
    };
    let body = bollard::body_full(tar_context(busybox, marker).into());
    let mut stream = docker.build_image(options, None, Some(body));
    while let Some(step) = stream.next().await {
        let step = step.unwrap_or_else(|e| panic!("building {tag}: {e}"));
        if let Some(detail) = step.error_detail {
            panic!("building {tag}: {detail:?}");
        }
    }
}

/// The first run fails after a second (exit 3); every later run stays up,
/// so Docker's on-failure policy restarts it exactly once.
const FAIL_ONCE: &str = "mkdir -p /state; if [ ! -f /state/ran ]; then touch /state/ran; sleep 1; exit 3; fi; exec sleep 3600";

async fn create(docker: &Docker, name: &str, image: &str, labels: HashMap<String, String>) {
    let body = ContainerCreateBody {
        image: Some(image.to_owned()),
        cmd: Some(["sh", "-c", FAIL_ONCE].map(String::from).to_vec()),
        labels: Some(labels),
        host_config: Some(HostConfig {
            restart_policy: Some(RestartPolicy {
                name: Some(RestartPolicyNameEnum::ON_FAILURE),
                maximum_retry_count: Some(5),
            }),
            ..HostConfig::default()
        }),
        ..ContainerCreateBody::default()
    };
    docker
        .create_container(
            Some(CreateContainerOptionsBuilder::new().name(name).build()),
            body,
        )
        .await
        .unwrap_or_else(|e| panic!("create {name}: {e}"));
    docker
        .start_container(
            name,
            None::<bollard::query_parameters::StartContainerOptions>,
        )
        .await
        .unwrap_or_else(|e| panic!("start {name}: {e}"));
}

async fn remove_container(docker: &Docker, name: &str) {
    let options = RemoveContainerOptionsBuilder::new()
        .force(true)
        .v(true)
        .build();
    let _ = docker.remove_container(name, Some(options)).await;
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

#[tokio::test]
async fn restarts_and_image_changes_of_a_real_container_are_reported() {
    if !std::path::Path::new(SOCKET).exists() {
        return missing("no Docker socket at /var/run/docker.sock");
    }
    let Some(busybox) = static_busybox() else {
        return missing("no static /bin/busybox (Debian: busybox-static)");
    };
    let run = std::process::id();
    let project = format!("aiopsdockertest{run}");
    let selector = Selector {
        project: Some(project.clone()),
        ..Selector::default()
    };
    let target = DockerTarget::connect(SOCKET, selector)
        .await
        .expect("the Docker engine answers");
    let docker = target.client().clone();
    let (v1, v2) = (
        format!("aiops-docker-test:{run}-v1"),
        format!("aiops-docker-test:{run}-v2"),
    );
    let name = format!("{project}_{SERVICE}_1");
    let stranger = format!("{project}_unlabelled");

    let body = {
        let (target, docker, name, stranger) = (
            target.clone(),
            docker.clone(),
            name.clone(),
            stranger.clone(),
        );
        let (v1, v2, project) = (v1.clone(), v2.clone(), project.clone());
        tokio::spawn(async move {
            build_image(&docker, &v1, &busybox, "v1").await;
            build_image(&docker, &v2, &busybox, "v2").await;
            let labels: HashMap<String, String> = [
                (
                    "com.docker.compose.service".to_string(),
                    SERVICE.to_string(),
                ),
                ("com.docker.compose.project".to_string(), project.clone()),
            ]
            .into();
            create(&docker, &name, &v1, labels.clone()).await;
            let mut tracker = ChangeTracker::new();
            let first = target.containers().await.expect("list the stack");
            assert_eq!(first.len(), 1, "only this project's containers: {first:?}");
            assert_eq!(first[0].service, SERVICE);
            assert!(
                tracker.observe(&first, now_ms()).is_empty(),
                "a first look is no change"
            );

            // the process fails once; Docker's policy starts it again
            let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
            let restarted = loop {
                if let Ok(facts) = target.inspect(&name).await
                    && facts.restart_count >= 1
                    && facts.state == RunState::Running
                {
                    break facts;
                }
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "no on-failure restart within 30 s"
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            };
            assert_eq!(restarted.restart_count, 1);
            let changes = tracker.observe(&target.containers().await.expect("list"), now_ms());
            assert_eq!(changes.len(), 1, "{changes:?}");
            assert_eq!(changes[0].kind, ContainerChangeKind::Restart);
            assert_eq!(changes[0].service, SERVICE);
            assert!(
                changes[0].why.contains("restart policy"),
                "{}",
                changes[0].why
            );

            // a restart through the API, seen by the watcher through events:
            // its poll interval is far too long to see it otherwise
            let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
            let (seen_tx, mut seen_rx) = tokio::sync::mpsc::unbounded_channel();
            let watcher = tokio::spawn(aiops_docker::watch(
                target.clone(),
                WatchConfig {
                    poll_every: Duration::from_secs(600),
                },
                now_ms,
                move |changes, _| {
                    for change in changes {
                        let _ = seen_tx.send(change);
                    }
                },
                stop_rx,
            ));
            // the watcher's first look (its ticker fires at once) remembers the container
            tokio::time::sleep(Duration::from_millis(1_500)).await;
            let after = target
                .restart(&name, Duration::from_secs(1))
                .await
                .expect("restart");
            assert_eq!(after.state, RunState::Running);
            assert!(after.started_at_ms > restarted.started_at_ms, "a new run");
            let seen = tokio::time::timeout(Duration::from_secs(15), seen_rx.recv())
                .await
                .expect("the watcher reports the API restart within 15 s")
                .expect("a change");
            assert_eq!(seen.kind, ContainerChangeKind::Restart);
            assert_eq!(seen.container, name);

            // cut off its network, then put back: the network's events
            // (not the container's) make the watcher look
            let network = after.networks.first().cloned().expect("on a network");
            docker
                .disconnect_network(
                    &network,
                    NetworkDisconnectRequest {
                        container: name.clone(),
                        force: Some(true),
                    },
                )
                .await
                .expect("disconnect");
            let cut = tokio::time::timeout(Duration::from_secs(15), seen_rx.recv())
                .await
                .expect("the watcher reports the cut within 15 s")
                .expect("a change");
            assert_eq!(cut.kind, ContainerChangeKind::LeftNetwork);
            assert!(
                cut.why
                    .contains(&format!("disconnected from network {network}")),
                "{}",
                cut.why
            );
            docker
                .connect_network(
                    &network,
                    NetworkConnectRequest {
                        container: name.clone(),
                        endpoint_config: None,
                    },
                )
                .await
                .expect("connect");
            let back = tokio::time::timeout(Duration::from_secs(15), seen_rx.recv())
                .await
                .expect("the watcher reports the return within 15 s")
                .expect("a change");
            assert_eq!(back.kind, ContainerChangeKind::JoinedNetwork);
            let _ = stop_tx.send(true);
            watcher.await.expect("the watcher stops");

            let changes = tracker.observe(&target.containers().await.expect("list"), now_ms());
            assert_eq!(changes.len(), 1, "{changes:?}");
            assert!(
                changes[0].why.contains("started again"),
                "{}",
                changes[0].why
            );

            // recreated from another image: an image change
            remove_container(&docker, &name).await;
            create(&docker, &name, &v2, labels).await;
            let changes = tracker.observe(&target.containers().await.expect("list"), now_ms());
            assert_eq!(changes.len(), 1, "{changes:?}");
            assert_eq!(changes[0].kind, ContainerChangeKind::ImageChange);
            assert!(
                changes[0].why.contains(&v2) && changes[0].why.contains(&v1),
                "{}",
                changes[0].why
            );

            // a roll-back recreates the service's container from the image
            // it ran before (its looks at the stack remembered v1, then v2),
            // keeping its name and labels; a second one goes forward again
            let v1_id = docker.inspect_image(&v1).await.expect("v1").id.expect("id");
            let v2_id = docker.inspect_image(&v2).await.expect("v2").id.expect("id");
            let said = target
                .rollback_service(SERVICE, Duration::from_secs(1))
                .await
                .expect("roll back");
            assert!(said.contains(&name), "{said}");
            let back = target
                .inspect(&name)
                .await
                .expect("the service's container");
            assert_eq!(back.image_id, v1_id, "runs the image before");
            assert_eq!(back.service, SERVICE, "labels kept");
            assert!(
                target.containers().await.expect("list").len() == 1,
                "the old container is gone"
            );
            target
                .rollback_service(SERVICE, Duration::from_secs(1))
                .await
                .expect("roll forward");
            assert_eq!(target.inspect(&name).await.expect("again").image_id, v2_id);
            let restarted = target
                .restart_service(SERVICE, Duration::from_secs(1))
                .await
                .expect("restart by service");
            assert!(restarted.contains(&name), "{restarted}");
            match target
                .rollback_service("no-such-service", Duration::from_secs(1))
                .await
            {
                Err(DockerError::Refused(why)) => assert!(why.contains("no container"), "{why}"),
                other => panic!("rolling back a missing service: {other:?}"),
            }

            // the remediation target refuses containers outside the stack
            let body = ContainerCreateBody {
                image: Some(v1.clone()),
                cmd: Some(["sleep", "60"].map(String::from).to_vec()),
                ..ContainerCreateBody::default()
            };
            docker
                .create_container(
                    Some(CreateContainerOptionsBuilder::new().name(&stranger).build()),
                    body,
                )
                .await
                .expect("create the unlabelled container");
            match target.restart(&stranger, Duration::from_secs(1)).await {
                Err(DockerError::NotWatched(c)) => assert_eq!(c, stranger),
                other => panic!(
                    "restarting an unlabelled container: {:?}",
                    other.map(|f| f.name)
                ),
            }
            match target.inspect("aiops-no-such-container").await {
                Err(DockerError::Api { action, .. }) => {
                    assert!(action.contains("aiops-no-such-container"))
                }
                other => panic!(
                    "inspecting a missing container: {:?}",
                    other.map(|f| f.name)
                ),
            }
        })
    }
    .await;

    remove_container(&docker, &name).await;
    remove_container(&docker, &stranger).await;
    for tag in [&v1, &v2] {
        let _ = docker
            .remove_image(tag, None::<RemoveImageOptions>, None)
            .await;
    }
    if let Err(e) = body {
        std::panic::resume_unwind(e.into_panic());
    }
}
