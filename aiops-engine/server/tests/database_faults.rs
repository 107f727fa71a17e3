//! The incidents database failing under a running engine: PostgreSQL
//! stopped for a minute, and SQLite's disk full (a small tmpfs). Intake and
//! detection go on, readiness says what is wrong, the changes made
//! meanwhile are queued and written when the database is back, and nothing
//! is lost or corrupted. A real `aiops serve`, a real PostgreSQL started
//! for the test alone (the shared one must not stop under other tests), a
//! real tmpfs.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use aiops_incident_db::{IncidentDb, IncidentRow, ListFilter};
use common::engine::{Engine, fire_alert, wait_ready};
use common::{free_port, in_ci};
use serde_json::{Value, json};

const API_TOKEN: &str = "responder-token-for-db-faults";

/// How long PostgreSQL stays stopped: the minute.
const OUTAGE: Duration = Duration::from_secs(60);

/// The engine under test and its log.
struct Served {
    _engine: Engine,
    log: PathBuf,
}

impl Served {
    fn start(dir: &Path, database: &str, port: u16) -> Served {
        let config = dir.join("aiops.yaml");
        std::fs::write(
            &config,
            format!(
                "listen: \"127.0.0.1:{port}\"\n\
                 auth:\n  api_tokens:\n    - {{name: rita, role: responder, token: {API_TOKEN}}}\n\
                 scrape:\n  interval: 1s\n  jobs:\n    - {{job: engine, targets: [\"127.0.0.1:{port}\"]}}\n\
                 incidents:\n  database: \"{database}\"\n  evaluation_interval: 1s\n"
            ),
        )
        .expect("config");
        let log = dir.join("engine.log");
        Served {
            _engine: Engine::start(&config, &log),
            log,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// PostgreSQL from the Debian package, in a directory of its own, on a
/// free port; run as `postgres` when the test runs as root (PostgreSQL
/// refuses root).
struct PrivatePostgres {
    bin: PathBuf,
    data: PathBuf,
    port: u16,
    _dir: tempfile::TempDir,
}

impl PrivatePostgres {
    fn start() -> Option<PrivatePostgres> {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
            .filter(|b| b.join("postgres").is_file())
            .max()?;
        let dir = tempfile::tempdir().expect("tempdir");
        let data = dir.path().join("data");
        let sockets = dir.path().join("run");
        std::fs::create_dir_all(&sockets).expect("socket dir");
        if is_root() {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
                .expect("chmod");
            std::fs::create_dir_all(&data).expect("data dir");
            run(Command::new("chown").args(["postgres:postgres"]).arg(&data));
            run(Command::new("chown")
                .args(["postgres:postgres"])
                .arg(&sockets));
        }
        let pg = PrivatePostgres {
            port: free_port(),
            data,
            bin,
            _dir: dir,
        };
        run(pg
            .command("initdb")
            .args(["-U", "postgres", "--auth=trust", "-D"])
            .arg(&pg.data));
        std::fs::write(
            pg.data.join("postgresql.auto.conf"),
            format!(
                "port = {}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{}'\nfsync = off\n",
                pg.port,
                sockets.display()
            ),
        )
        .expect("postgres settings");
        if is_root() {
            run(Command::new("chown")
                .args(["postgres:postgres"])
                .arg(pg.data.join("postgresql.auto.conf")));
        }
        pg.up();
        Some(pg)
    }

    fn command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(path);
            c
        } else {
            Command::new(path)
        }
    }

    fn up(&self) {
        run(self
            .command("pg_ctl")
            .arg("-D")
            .arg(&self.data)
            .args(["-w", "-l"])
            .arg(self.data.join("server.log"))
            .arg("start"));
    }

    fn down(&self) {
        run(self
            .command("pg_ctl")
            .arg("-D")
            .arg(&self.data)
            .args(["-w", "-m", "fast", "stop"]));
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let _ = self
            .command("pg_ctl")
            .arg("-D")
            .arg(&self.data)
            .args(["-m", "immediate", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    // a process's own /proc entry belongs to its effective user
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

fn run(command: &mut Command) {
    let out = command.output().expect("run");
    assert!(
        out.status.success(),
        "{command:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

async fn readiness(client: &reqwest::Client, engine: &str) -> (u16, String) {
    let r = client
        .get(format!("{engine}/readyz"))
        .send()
        .await
        .expect("readyz");
    let status = r.status().as_u16();
    (status, r.text().await.unwrap_or_default())
}

/// Waits until readiness answers 200 with a body that satisfies `test`.
async fn until_ready_says(
    client: &reqwest::Client,
    engine: &str,
    within: Duration,
    test: impl Fn(&str) -> bool,
) -> String {
    let deadline = Instant::now() + within;
    loop {
        let (status, body) = readiness(client, engine).await;
        if status == 200 && test(&body) {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "readiness did not change within {within:?}: {status} {body}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Pushes one log line (Loki's JSON push); intake must take it.
async fn push_line(client: &reqwest::Client, engine: &str, n: usize) {
    let ns = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_nanos()
        .to_string();
    let body = json!({"streams":[{"stream":{"service":"gamma"},"values":[[ns, format!("level=info msg=\"order placed\" n={n}")]]}]});
    let r = client
        .post(format!("{engine}/loki/api/v1/push"))
        .json(&body)
        .send()
        .await
        .expect("push");
    assert_eq!(
        r.status().as_u16(),
        204,
        "intake refused a line: {:?}",
        r.text().await
    );
}

/// The engine's incidents as its API answers.
async fn incidents(client: &reqwest::Client, engine: &str) -> Vec<Value> {
    let r = client
        .get(format!("{engine}/api/v1/incidents"))
        .bearer_auth(API_TOKEN)
        .send()
        .await
        .expect("incidents");
    assert!(r.status().is_success(), "{}", r.status());
    let body: Value = r.json().await.expect("json");
    body["data"].as_array().cloned().unwrap_or_default()
}

async fn incident_of(client: &reqwest::Client, engine: &str, service: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(id) = incidents(client, engine)
            .await
            .iter()
            .find(|i| {
                i["services"]
                    .as_array()
                    .is_some_and(|s| s.contains(&json!(service)))
            })
            .and_then(|i| i["id"].as_str().map(str::to_owned))
        {
            return id;
        }
        assert!(Instant::now() < deadline, "no incident for {service}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn acknowledge(client: &reqwest::Client, engine: &str, id: &str) {
    let r = client
        .post(format!("{engine}/api/v1/incidents/{id}/acknowledge"))
        .bearer_auth(API_TOKEN)
        .json(&json!({"note": "looking"}))
        .send()
        .await
        .expect("acknowledge");
    assert!(
        r.status().is_success(),
        "an acknowledgement while the database fails is taken: {}",
        r.text().await.unwrap_or_default()
    );
}

async fn stored(db: &IncidentDb) -> Vec<IncidentRow> {
    db.list(&ListFilter::default()).await.expect("list")
}

async fn until_stored(db: &IncidentDb, id: &str, state: &str) -> IncidentRow {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(row) = db.get(id).await.expect("read").filter(|r| r.state == state) {
            return row;
        }
        assert!(
            Instant::now() < deadline,
            "incident {id} not stored as {state}: {:?}",
            stored(db)
                .await
                .iter()
                .map(|r| (&r.id, &r.state))
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Opens an incident, makes the database fail, and while it fails: opens a
/// second, acknowledges the first, pushes lines for `hold`, and reads the
/// incidents back from the API. Returns the two ids.
async fn changes_while_failing(
    client: &reqwest::Client,
    engine: &str,
    fail: impl FnOnce(),
    hold: Duration,
    says: &str,
) -> (String, String) {
    fire_alert(client, engine, "ServiceBroken", "alpha").await;
    let first = incident_of(client, engine, "alpha").await;
    // written before the failure: the engine's writer had its chance
    tokio::time::sleep(Duration::from_secs(3)).await;
    fail();
    let failed_at = Instant::now();
    fire_alert(client, engine, "ServiceBroken", "beta").await;
    let second = incident_of(client, engine, "beta").await;
    acknowledge(client, engine, &first).await;
    let body = until_ready_says(client, engine, Duration::from_secs(40), |b| {
        b.contains("degraded")
    })
    .await;
    assert!(
        body.contains(says) && body.contains("incident writes queued"),
        "{body}"
    );
    let mut n = 0;
    while failed_at.elapsed() < hold {
        push_line(client, engine, n).await;
        n += 1;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let now = incidents(client, engine).await;
    let state_of = |id: &str| {
        now.iter()
            .find(|i| i["id"] == id)
            .map(|i| i["state"].clone())
    };
    assert_eq!(state_of(&first), Some(json!("acknowledged")));
    assert_eq!(state_of(&second), Some(json!("open")));
    let metrics = client
        .get(format!("{engine}/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics text");
    assert!(
        metrics.lines().any(|l| l == "aiops_incident_database_up 0"),
        "the database is reported down"
    );
    (first, second)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_stopped_for_a_minute_loses_no_incident_change() {
    let Some(pg) = PrivatePostgres::start() else {
        assert!(
            !in_ci(),
            "PostgreSQL is not installed (/usr/lib/postgresql/*/bin)"
        );
        eprintln!("SKIPPED: PostgreSQL is not installed");
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let engine_url = format!("http://127.0.0.1:{port}");
    let engine = Served::start(dir.path(), &pg.url(), port);
    let client = reqwest::Client::new();
    wait_ready(&client, &engine_url).await;

    let (first, second) = changes_while_failing(
        &client,
        &engine_url,
        || pg.down(),
        OUTAGE,
        "incidents database failing",
    )
    .await;

    pg.up();
    let body = until_ready_says(&client, &engine_url, Duration::from_secs(40), |b| {
        b == "ready\n"
    })
    .await;
    assert_eq!(body, "ready\n");
    let db = IncidentDb::connect(&pg.url()).await.expect("connect");
    until_stored(&db, &first, "acknowledged").await;
    until_stored(&db, &second, "open").await;
    let log = engine.log();
    assert!(log.contains("incidents database failing"), "{log}");
    assert!(log.contains("incidents database back"), "{log}");
    db.close().await;
}

/// A tmpfs of a few MiB mounted for the test; unmounted when dropped.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount() -> Result<SmallDisk, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=4m", "tmpfs"])
            .arg(dir.path())
            .output()
            .map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).into_owned());
        }
        Ok(SmallDisk { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes a filler file until the disk refuses more.
    fn fill(&self) {
        use std::io::Write;
        let mut filler = std::fs::File::create(self.path().join("filler")).expect("filler");
        let chunk = vec![0u8; 16 << 10];
        loop {
            if let Err(e) = filler.write_all(&chunk).and_then(|()| filler.sync_all()) {
                assert_eq!(
                    e.kind(),
                    std::io::ErrorKind::StorageFull,
                    "the filler stopped for another reason: {e}"
                );
                return;
            }
        }
    }

    fn free(&self) {
        std::fs::remove_file(self.path().join("filler")).expect("remove the filler");
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_under_sqlite_loses_no_incident_change_and_corrupts_nothing() {
    let disk = match SmallDisk::mount() {
        Ok(disk) => disk,
        Err(why) => {
            assert!(
                !in_ci(),
                "a tmpfs could not be mounted (run as root): {why}"
            );
            eprintln!("SKIPPED: a tmpfs could not be mounted (needs root): {why}");
            return;
        }
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let database = format!("sqlite:{}", disk.path().join("incidents.db").display());
    let port = free_port();
    let engine_url = format!("http://127.0.0.1:{port}");
    let engine = Served::start(dir.path(), &database, port);
    let client = reqwest::Client::new();
    wait_ready(&client, &engine_url).await;

    let (first, second) = changes_while_failing(
        &client,
        &engine_url,
        || disk.fill(),
        Duration::from_secs(10),
        "full",
    )
    .await;

    disk.free();
    until_ready_says(&client, &engine_url, Duration::from_secs(40), |b| {
        b == "ready\n"
    })
    .await;
    let db = IncidentDb::connect(&database).await.expect("connect");
    until_stored(&db, &first, "acknowledged").await;
    until_stored(&db, &second, "open").await;
    db.close().await;
    drop(engine);

    // no corruption: SQLite's own check of the file the engine wrote
    let mut conn = <sqlx::SqliteConnection as sqlx::Connection>::connect(&database)
        .await
        .expect("open the file");
    let check: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&mut conn)
        .await
        .expect("integrity check");
    assert_eq!(check, "ok");
}
