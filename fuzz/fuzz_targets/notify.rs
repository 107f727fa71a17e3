//! What reaches the notifications from outside: the routing file
//! (rules/notify.yaml), a request claiming to be Slack's (headers and body,
//! signature checked), and the `/aiops` command's text. Ok or Err, never a
//! panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = aiops_notify::Routing::parse(text);
        let _ = aiops_notify::slack::parse_command(text);
        // the first two lines as the timestamp and signature headers
        let mut lines = text.splitn(3, '\n');
        let (ts, sig, body) = (lines.next(), lines.next(), lines.next().unwrap_or(""));
        let _ = aiops_notify::slack::verify(b"secret", ts, sig, body.as_bytes(), 1_700_000_000);
    }
});
