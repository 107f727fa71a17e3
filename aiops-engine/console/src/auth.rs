//! People in the console: users with argon2 password hashes (or a name a
//! trusted authenticating proxy sets), server-side sessions behind a
//! random HTTP-only cookie, a CSRF token per session for every form, and a
//! throttle on failed logins. Time is an argument.

use std::collections::HashMap;

use argon2::{Argon2, PasswordHasher, PasswordVerifier};
use parking_lot::Mutex;
use serde::Deserialize;
use subtle::ConstantTimeEq;

/// What a person or token may do; each role may do what the ones before it may.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Read incidents, signals, actions.
    Viewer,
    /// Also acknowledge, mitigate, resolve, approve and deny actions.
    Responder,
    /// Also switch remediation off and on.
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Responder => "responder",
            Role::Admin => "admin",
        }
    }

    pub fn parse(raw: &str) -> Option<Role> {
        match raw.trim() {
            "viewer" => Some(Role::Viewer),
            "responder" => Some(Role::Responder),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

/// A console user from the configuration.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct User {
    pub name: String,
    pub role: Role,
    /// `$argon2id$...` (make one with `aiops console hash-password`).
    pub password_hash: String,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "User({}, {})", self.name, self.role.as_str())
    }
}

/// An argon2id hash of `password` with a fresh salt.
pub fn hash_password(password: &str) -> Result<String, String> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

/// Whether `hash` is an argon2 hash this console can check.
pub fn valid_hash(hash: &str) -> bool {
    hash.starts_with("$argon2") && argon2::password_hash::phc::PasswordHash::new(hash).is_ok()
}

fn verify(hash: &str, password: &str) -> bool {
    Argon2::default()
        .verify_password(password.as_bytes(), hash)
        .is_ok()
}

/// A signed-in person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub user: String,
    pub role: Role,
    /// Every form carries it; a POST without it is refused.
    pub csrf: String,
    pub expires_ms: i64,
}

/// Sessions kept at most; the oldest go first.
pub const MAX_SESSIONS: usize = 10_000;

fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::fill(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[derive(Default)]
pub struct Sessions {
    by_id: Mutex<HashMap<String, Session>>,
}

impl Sessions {
    /// A new session; returns its id (the cookie's value).
    pub fn create(&self, user: &str, role: Role, now_ms: i64, ttl_ms: i64) -> (String, Session) {
        let id = random_token();
        let session = Session {
            user: user.to_owned(),
            role,
            csrf: random_token(),
            expires_ms: now_ms + ttl_ms,
        };
        let mut map = self.by_id.lock();
        map.retain(|_, s| s.expires_ms > now_ms);
        if map.len() >= MAX_SESSIONS
            && let Some(oldest) = map
                .iter()
                .min_by_key(|(_, s)| s.expires_ms)
                .map(|(k, _)| k.clone())
        {
            map.remove(&oldest);
        }
        map.insert(id.clone(), session.clone());
        (id, session)
    }

    /// The session, if the id is known and it has not expired.
    pub fn get(&self, id: &str, now_ms: i64) -> Option<Session> {
        let mut map = self.by_id.lock();
        match map.get(id) {
            Some(s) if s.expires_ms > now_ms => Some(s.clone()),
            Some(_) => {
                map.remove(id);
                None
            }
            None => None,
        }
    }

    pub fn remove(&self, id: &str) {
        self.by_id.lock().remove(id);
    }
}

/// The CSRF token a form carried is the session's.
pub fn csrf_ok(session: &Session, presented: &str) -> bool {
    !presented.is_empty() && bool::from(presented.as_bytes().ct_eq(session.csrf.as_bytes()))
}

/// Failed logins allowed per name and address in [`THROTTLE_WINDOW_MS`].
pub const MAX_FAILURES: usize = 5;
pub const THROTTLE_WINDOW_MS: i64 = 5 * 60_000;
/// Names and addresses remembered at most.
const MAX_THROTTLED: usize = 10_000;

#[derive(Default)]
pub struct Throttle {
    failures: Mutex<HashMap<String, Vec<i64>>>,
}

impl Throttle {
    /// `Err(seconds)` while too many recent failures block `key`.
    pub fn check(&self, key: &str, now_ms: i64) -> Result<(), i64> {
        let map = self.failures.lock();
        let Some(times) = map.get(key) else {
            return Ok(());
        };
        let recent: Vec<i64> = times
            .iter()
            .copied()
            .filter(|t| now_ms - t < THROTTLE_WINDOW_MS)
            .collect();
        if recent.len() >= MAX_FAILURES {
            let oldest = recent.iter().min().copied().unwrap_or(now_ms);
            Err(((oldest + THROTTLE_WINDOW_MS - now_ms) / 1000).max(1))
        } else {
            Ok(())
        }
    }

    pub fn failed(&self, key: &str, now_ms: i64) {
        let mut map = self.failures.lock();
        if map.len() >= MAX_THROTTLED && !map.contains_key(key) {
            map.retain(|_, t| t.iter().any(|x| now_ms - x < THROTTLE_WINDOW_MS));
            if map.len() >= MAX_THROTTLED {
                return;
            }
        }
        let times = map.entry(key.to_owned()).or_default();
        times.retain(|t| now_ms - t < THROTTLE_WINDOW_MS);
        times.push(now_ms);
    }

    pub fn succeeded(&self, key: &str) {
        self.failures.lock().remove(key);
    }
}

/// A valid hash of a password nobody has: an unknown name costs the same
/// verification as a known one.
const DECOY: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$3nX3Ai2J0H6pS6UXiPdzjHOIaE2Wx9q0K+1s1Wk3rJg";
#[cfg(test)]
const DECOY_FOR_TESTS: &str = DECOY;

/// The users of the configuration, checked.
#[derive(Debug, Default)]
pub struct Users {
    users: Vec<User>,
}

impl Users {
    pub fn new(users: Vec<User>) -> Users {
        Users { users }
    }

    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    /// The user, if the password is theirs. Every attempt costs one argon2
    /// verification, known name or not, so timing does not say which names exist.
    pub fn login(&self, name: &str, password: &str) -> Option<&User> {
        match self.users.iter().find(|u| u.name == name) {
            Some(user) if verify(&user.password_hash, password) => Some(user),
            Some(_) => None,
            None => {
                let _ = verify(DECOY, password);
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn passwords_hash_and_verify() {
        let hash = hash_password("correct horse").unwrap();
        assert!(hash.starts_with("$argon2id$") && valid_hash(&hash));
        let users = Users::new(vec![User {
            name: "alice".into(),
            role: Role::Responder,
            password_hash: hash,
        }]);
        assert_eq!(
            users.login("alice", "correct horse").map(|u| u.role),
            Some(Role::Responder)
        );
        assert!(users.login("alice", "wrong").is_none());
        assert!(users.login("mallory", "correct horse").is_none());
        assert!(!valid_hash("plaintext"));
        assert!(
            valid_hash(DECOY_FOR_TESTS),
            "the decoy costs a real verification"
        );
        assert!(!format!("{:?}", users).contains("argon2"));
    }

    #[test]
    fn sessions_expire_and_csrf_must_match() {
        let s = Sessions::default();
        let (id, session) = s.create("alice", Role::Viewer, 1_000, 60_000);
        assert_eq!(s.get(&id, 2_000).map(|x| x.user), Some("alice".into()));
        assert!(csrf_ok(&session, &session.csrf));
        assert!(!csrf_ok(&session, "forged"));
        assert!(!csrf_ok(&session, ""));
        assert_eq!(s.get(&id, 61_001), None, "expired");
        assert_eq!(s.get(&id, 2_000), None, "and forgotten");
        assert_eq!(s.get("made-up", 2_000), None);
        let (a, _) = s.create("a", Role::Viewer, 0, 10);
        let (b, _) = s.create("b", Role::Viewer, 0, 10);
        assert_ne!(a, b);
        assert_eq!(a.len(), 64);
    }

    #[test]
    fn logins_are_throttled_per_name_and_address() {
        let t = Throttle::default();
        for i in 0..MAX_FAILURES as i64 {
            assert!(t.check("alice@1.2.3.4", i).is_ok());
            t.failed("alice@1.2.3.4", i);
        }
        let wait = t.check("alice@1.2.3.4", 10).unwrap_err();
        assert!(wait > 200 && wait <= 300, "{wait}");
        assert!(
            t.check("alice@5.6.7.8", 10).is_ok(),
            "another address is not blocked"
        );
        assert!(
            t.check("alice@1.2.3.4", THROTTLE_WINDOW_MS + 5).is_ok(),
            "the window passes"
        );
        t.succeeded("alice@1.2.3.4");
        assert!(t.check("alice@1.2.3.4", 10).is_ok());
    }
}
