//! The prompt templates of `prompts/`, compiled in, rendered with
//! minijinja: each yields a system and a user message. A template's name
//! carries its version, and every summary records it.

use minijinja::Environment;
use serde::Serialize;

/// (name, version, text) of every template.
pub const TEMPLATES: [(&str, &str, &str); 3] = [
    (
        "incident-summary",
        "incident-summary/v1",
        include_str!("../../../prompts/incident-summary.v1.j2"),
    ),
    (
        "log-digest",
        "log-digest/v1",
        include_str!("../../../prompts/log-digest.v1.j2"),
    ),
    (
        "action-explanation",
        "action-explanation/v1",
        include_str!("../../../prompts/action-explanation.v1.j2"),
    ),
];

/// Where a template's system message ends and the user message begins.
const USER_MARKER: &str = "=====USER=====\n";

/// A rendered prompt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prompt {
    pub version: &'static str,
    pub system: String,
    pub user: String,
}

impl Prompt {
    /// Both messages as one text (the golden fixtures' form).
    pub fn text(&self) -> String {
        format!("{}{USER_MARKER}{}", self.system, self.user)
    }
}

/// Renders template `name` with `context`.
pub fn render<C: Serialize>(name: &str, context: &C) -> Result<Prompt, String> {
    let (_, version, source) = TEMPLATES
        .iter()
        .find(|(n, _, _)| *n == name)
        .ok_or_else(|| format!("no prompt template {name:?}"))?;
    let mut env = Environment::new();
    // no HTML escaping: the text goes to a model, and untrusted strings are
    // placed with `tojson` (quoted and escaped)
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
    env.add_template(name, source)
        .map_err(|e| format!("prompt {name}: {e}"))?;
    let text = env
        .get_template(name)
        .and_then(|t| t.render(minijinja::value::Serde(context)))
        .map_err(|e| format!("prompt {name}: {e}"))?;
    let (system, user) = text
        .split_once(USER_MARKER)
        .ok_or_else(|| format!("prompt {name} has no user part"))?;
    Ok(Prompt {
        version,
        system: system.trim_start().to_owned(),
        user: user.to_owned(),
    })
}
