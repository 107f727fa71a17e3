//! The `llm:` section: the model that writes incident summaries, and what
//! summaries may cost. Absent, every summary is the deterministic one.
//! `AIOPS_LLM_URL` and `AIOPS_LLM_MODEL` set (or override) the endpoint.

use std::time::Duration;

use aiops_summarise::{Api, Budgets, ModelEndpoint};
use serde::Deserialize;

use super::{ConfigError, EnvSource, duration};

#[derive(Debug, Clone, PartialEq)]
pub struct LlmConfig {
    pub endpoint: ModelEndpoint,
    pub budgets: Budgets,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLlm {
    api: Option<Api>,
    url: Option<String>,
    model: Option<String>,
    /// The environment variable holding the API key (never the key itself).
    api_key_env: Option<String>,
    timeout: Option<String>,
    attempts: Option<u32>,
    max_output_tokens: Option<u32>,
    context_tokens: Option<usize>,
    tokens_per_incident: Option<u64>,
    tokens_per_hour: Option<u64>,
    min_interval: Option<String>,
}

fn within<T: PartialOrd + std::fmt::Display + Copy>(
    field: &str,
    value: Option<T>,
    default: T,
    min: T,
    max: T,
) -> Result<T, ConfigError> {
    let v = value.unwrap_or(default);
    if v < min || v > max {
        return Err(ConfigError::new(
            field,
            format!("{v} is outside {min} to {max}"),
        ));
    }
    Ok(v)
}

pub(super) fn llm(
    raw: Option<RawLlm>,
    env: &dyn EnvSource,
) -> Result<Option<LlmConfig>, ConfigError> {
    let env_url = env.var("AIOPS_LLM_URL");
    let env_model = env.var("AIOPS_LLM_MODEL");
    let raw = match raw {
        Some(r) => r,
        None if env_url.is_some() => RawLlm::default(),
        None => return Ok(None),
    };
    let url = env_url
        .or(raw.url)
        .ok_or_else(|| ConfigError::new("llm.url", "the model server's URL is required"))?;
    match reqwest::Url::parse(&url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => {}
        Ok(_) => {
            return Err(ConfigError::new(
                "llm.url",
                format!("{url:?} is not an http(s) URL"),
            ));
        }
        Err(e) => return Err(ConfigError::new("llm.url", format!("{url:?}: {e}"))),
    }
    let model = env_model
        .or(raw.model)
        .filter(|m| !m.trim().is_empty())
        .ok_or_else(|| {
            ConfigError::new("llm.model", "a model name is required (e.g. llama3.2:3b)")
        })?;
    let api_key = match raw.api_key_env {
        None => None,
        Some(name) => Some(env.var(&name).ok_or_else(|| {
            ConfigError::new(
                "llm.api_key_env",
                format!("the environment variable {name} is not set"),
            )
        })?),
    };
    let defaults = Budgets::default();
    let endpoint = ModelEndpoint {
        api: raw.api.unwrap_or(Api::Ollama),
        url,
        model,
        api_key,
        timeout: duration(
            "llm.timeout",
            raw.timeout.as_deref(),
            Duration::from_secs(60),
            Duration::from_secs(1),
            Duration::from_secs(600),
        )?,
        attempts: within("llm.attempts", raw.attempts, 2, 1, 5)?,
        max_output_tokens: within(
            "llm.max_output_tokens",
            raw.max_output_tokens,
            400,
            50,
            4_000,
        )?,
    };
    let budgets = Budgets {
        context_tokens: within(
            "llm.context_tokens",
            raw.context_tokens,
            defaults.context_tokens,
            500,
            100_000,
        )?,
        tokens_per_incident: within(
            "llm.tokens_per_incident",
            raw.tokens_per_incident,
            defaults.tokens_per_incident,
            1_000,
            10_000_000,
        )?,
        tokens_per_hour: within(
            "llm.tokens_per_hour",
            raw.tokens_per_hour,
            defaults.tokens_per_hour,
            1_000,
            100_000_000,
        )?,
        min_interval: duration(
            "llm.min_interval",
            raw.min_interval.as_deref(),
            defaults.min_interval,
            Duration::ZERO,
            Duration::from_secs(3600),
        )?,
    };
    if budgets.context_tokens as u64 + u64::from(endpoint.max_output_tokens)
        > budgets.tokens_per_incident
    {
        return Err(ConfigError::new(
            "llm.tokens_per_incident",
            "is smaller than one call (context_tokens + max_output_tokens)",
        ));
    }
    Ok(Some(LlmConfig { endpoint, budgets }))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::collections::HashMap;

    use super::*;

    fn parse(yaml: &str, env: &[(&str, &str)]) -> Result<Option<LlmConfig>, ConfigError> {
        let raw: Option<RawLlm> = serde_saphyr::from_str(yaml).unwrap();
        let env: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect();
        llm(raw, &env)
    }

    #[test]
    fn absent_means_no_model() {
        assert_eq!(parse("null", &[]).unwrap(), None);
    }

    #[test]
    fn the_environment_can_name_the_endpoint() {
        let c = parse(
            "null",
            &[
                ("AIOPS_LLM_URL", "http://127.0.0.1:11434"),
                ("AIOPS_LLM_MODEL", "smollm2"),
            ],
        )
        .unwrap()
        .unwrap();
        assert_eq!(c.endpoint.api, Api::Ollama);
        assert_eq!(c.endpoint.model, "smollm2");
        assert_eq!(c.budgets, Budgets::default());
    }

    #[test]
    fn a_full_section_is_read_and_the_key_comes_from_the_environment() {
        let c = parse(
            "{api: openai, url: 'https://llm.internal:8443', model: m, api_key_env: KEY, timeout: 20s, attempts: 3, max_output_tokens: 300, context_tokens: 2000, tokens_per_incident: 10000, tokens_per_hour: 50000, min_interval: 2m}",
            &[("KEY", "sk-1")],
        )
        .unwrap()
        .unwrap();
        assert_eq!(c.endpoint.api, Api::Openai);
        assert_eq!(c.endpoint.api_key.as_deref(), Some("sk-1"));
        assert_eq!(c.endpoint.timeout, Duration::from_secs(20));
        assert_eq!(c.budgets.min_interval, Duration::from_secs(120));
    }

    #[test]
    fn bad_values_name_the_field() {
        for (yaml, field) in [
            ("{model: m}", "llm.url"),
            ("{url: 'ftp://x', model: m}", "llm.url"),
            ("{url: 'http://x'}", "llm.model"),
            (
                "{url: 'http://x', model: m, api_key_env: NOPE}",
                "llm.api_key_env",
            ),
            ("{url: 'http://x', model: m, timeout: soon}", "llm.timeout"),
            ("{url: 'http://x', model: m, attempts: 50}", "llm.attempts"),
            (
                "{url: 'http://x', model: m, tokens_per_incident: 1000}",
                "llm.tokens_per_incident",
            ),
        ] {
            assert_eq!(parse(yaml, &[]).unwrap_err().field, field, "{yaml}");
        }
    }
}
