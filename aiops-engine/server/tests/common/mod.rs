//! What the process-level tests that run the shop share: its fixed ports,
//! a machine-wide lock on them, and the `shop` binary beside `aiops`.
#![allow(dead_code)]

pub mod api;
pub mod demo;
pub mod engine;

use std::path::{Path, PathBuf};
use std::process::Command;

/// The shop's services and fixed ports, from its one topology.
pub use shop_topology::SERVICES;

pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// Held for the whole test: no other run of it may use the shop's ports.
pub fn exclusive() -> std::fs::File {
    let path = std::env::temp_dir().join("aiops-demo-test.lock");
    let file = std::fs::File::create(&path).expect("lock file");
    file.lock().expect("lock");
    file
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

pub fn busy_shop_port() -> Option<u16> {
    SERVICES
        .iter()
        .map(|s| s.port)
        .find(|p| std::net::TcpListener::bind(("127.0.0.1", *p)).is_err())
}

/// `shop` beside `aiops` in the target dir; built there when missing (a
/// `cargo test -p aiops-server` does not build other packages' binaries).
pub fn ensure_shop_binary() -> Result<PathBuf, String> {
    let aiops = Path::new(env!("CARGO_BIN_EXE_aiops"));
    let dir = aiops.parent().ok_or("aiops has no parent dir")?;
    let shop = dir.join("shop");
    if shop.is_file() {
        return Ok(shop);
    }
    let target = dir.parent().ok_or("the profile dir has no parent")?;
    let profile = dir.file_name().and_then(|n| n.to_str()).unwrap_or("debug");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut build = Command::new(cargo);
    build
        .args(["build", "-p", "shop", "--bin", "shop", "--target-dir"])
        .arg(target)
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    match profile {
        "debug" => {}
        "release" => {
            build.arg("--release");
        }
        other => {
            build.args(["--profile", other]);
        }
    }
    eprintln!("building the shop binary into {}", target.display());
    let status = build
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !status.success() || !shop.is_file() {
        return Err(format!("`cargo build -p shop` failed ({status})"));
    }
    Ok(shop)
}
