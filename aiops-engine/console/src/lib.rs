//! The incident console: the pages on-call engineers work incidents in,
//! rendered on the server (askama templates, escaped by default), charts
//! and the dependency graph as SVG, and the people side: users with argon2
//! hashes, sessions, CSRF tokens, login throttling. The engine's router
//! (in the server crate) feeds these with its state; nothing here does I/O.

pub mod auth;
pub mod svg;
pub mod views;

pub use askama;
pub use auth::Role;

/// The stylesheet and the script, served under `/static/`.
pub const CONSOLE_CSS: &str = include_str!("../static/console.css");
pub const CONSOLE_JS: &str = include_str!("../static/console.js");
