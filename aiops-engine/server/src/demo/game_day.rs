//! The game day's edge: follows the planner's schedule against the real
//! clock and the shop's chaos API. Failures are reported and skipped; the
//! game day never stops the demo.

use std::time::Duration;

use chrono::{DateTime, Local};
use tokio::time::Instant;

use super::chaos::{Injection, Planner};
use super::output;

pub async fn run(planner: Planner, started: Instant, token: String) {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap_or_default();
    for injection in planner {
        tokio::time::sleep_until(started + injection.at).await;
        let Some(id) = inject(&client, &token, &injection).await else {
            continue;
        };
        if let Some(clears_at) = injection.clears_at {
            tokio::time::sleep_until(started + clears_at).await;
            clear(&client, &token, &injection, id).await;
        }
    }
}

fn base(injection: &Injection) -> String {
    format!("http://127.0.0.1:{}/admin/chaos", injection.port)
}

fn clock(at: DateTime<Local>) -> String {
    at.format("%H:%M:%S").to_string()
}

/// Posts the fault; returns its id (0 when the reply had none, which
/// `clear` takes as "clear them all").
async fn inject(client: &reqwest::Client, token: &str, injection: &Injection) -> Option<u64> {
    let what = injection.fault.describe();
    let service = injection.service;
    let sent = client
        .post(base(injection))
        .bearer_auth(token)
        .json(&injection.fault.to_json())
        .send()
        .await;
    let now = Local::now();
    let response = match sent {
        Ok(r) if r.status().is_success() => r,
        Ok(r) => {
            let status = r.status();
            let body = r.text().await.unwrap_or_default();
            output::say(
                "chaos",
                &format!(
                    "could not inject {what} into {service}: {status} {}",
                    body.trim()
                ),
            );
            return None;
        }
        Err(e) => {
            output::say(
                "chaos",
                &format!("could not inject {what} into {service}: {e}"),
            );
            return None;
        }
    };
    let id = response
        .json::<serde_json::Value>()
        .await
        .ok()
        .and_then(|v| v["data"][0]["id"].as_u64())
        .unwrap_or(0);
    let after = match injection.clears_at {
        Some(clears_at) => {
            let lasts = chrono::Duration::from_std(clears_at.saturating_sub(injection.at))
                .unwrap_or_default();
            format!("clears at {}", clock(now + lasts))
        }
        None => "the shop's supervisor restarts it".into(),
    };
    output::say(
        "chaos",
        &format!(
            ">>> injected {what} into {service} at {}; {after}",
            clock(now)
        ),
    );
    Some(id)
}

async fn clear(client: &reqwest::Client, token: &str, injection: &Injection, id: u64) {
    let what = injection.fault.describe();
    let service = injection.service;
    // Only our fault: one injected by hand meanwhile stays.
    let url = if id == 0 {
        base(injection)
    } else {
        format!("{}/{id}", base(injection))
    };
    let sent = client.delete(&url).bearer_auth(token).send().await;
    let now = clock(Local::now());
    let message = match sent {
        Ok(r) if r.status().is_success() => format!("<<< cleared {what} from {service} at {now}"),
        Ok(r) if r.status() == reqwest::StatusCode::NOT_FOUND => {
            format!("<<< {what} on {service} was already gone at {now} (restarted?)")
        }
        Ok(r) => format!(
            "could not clear {what} from {service}: {}; clear it by hand: curl -X DELETE -H \"Authorization: Bearer $SHOP_ADMIN_TOKEN\" {}",
            r.status(),
            base(injection)
        ),
        Err(e) => format!(
            "could not clear {what} from {service}: {e}; clear it by hand: curl -X DELETE -H \"Authorization: Bearer $SHOP_ADMIN_TOKEN\" {}",
            base(injection)
        ),
    };
    output::say("chaos", &message);
}
