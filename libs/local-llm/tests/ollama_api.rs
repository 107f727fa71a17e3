//! The server over real HTTP with the real model: Ollama's client library
//! talks to it, a schema is followed, streaming and non-streaming agree,
//! and bad requests get Ollama's error shape without harming the server.

use std::time::Duration;

use local_llm::{LoopbackServer, model_for_tests, serve_on_loopback};
use ollama_rs::Ollama;
use ollama_rs::generation::chat::ChatMessage;
use ollama_rs::generation::chat::request::ChatMessageRequest;
use ollama_rs::generation::parameters::{FormatType, JsonStructure};
use ollama_rs::models::ModelOptions;
use serde_json::{Value, json};

/// The server with the test model, or `None` (skipped) outside CI when the
/// model is not there. CI downloads it; there a missing model fails.
async fn server() -> Option<LoopbackServer> {
    let path = model_for_tests()?;
    Some(
        serve_on_loopback(&path, "smollm2")
            .await
            .expect("model loads"),
    )
}

fn ollama(url: &str) -> Ollama {
    Ollama::try_new(url).expect("url")
}

#[tokio::test]
async fn ollamas_client_lists_the_model_and_gets_json_that_follows_the_schema() {
    let Some(server) = server().await else { return };
    let client = ollama(&server.url);
    let models = client.list_local_models().await.expect("tags");
    assert_eq!(models.len(), 1);
    assert_eq!(models[0].name, "smollm2");

    let schema: JsonStructure = serde_json::from_value(json!({
        "type": "object",
        "properties": {
            "service": {"type": "string", "enum": ["payments", "cart"]},
            "evidence_ids": {"type": "array", "items": {"type": "string", "enum": ["s1", "s2", "l1"]}, "maxItems": 3},
            "confidence": {"type": "number"}
        },
        "required": ["service", "evidence_ids", "confidence"]
    }))
    .expect("schema");
    let request = ChatMessageRequest::new(
        "smollm2".into(),
        vec![
            ChatMessage::system("You answer in JSON.".into()),
            ChatMessage::user(
                "Signals: s1 payments error ratio 0.5; s2 payments latency; l1 log burst in payments. Which service failed?"
                    .into(),
            ),
        ],
    )
    .format(FormatType::StructuredJson(Box::new(schema)))
    .options(ModelOptions::default().temperature(0.0).seed(0).num_predict(128));
    let answer = client.send_chat_messages(request).await.expect("chat");
    let parsed: Value = serde_json::from_str(&answer.message.content)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", answer.message.content));
    let service = parsed["service"].as_str().expect("service");
    assert!(["payments", "cart"].contains(&service), "{parsed}");
    for id in parsed["evidence_ids"].as_array().expect("ids") {
        assert!(
            ["s1", "s2", "l1"].contains(&id.as_str().unwrap_or("")),
            "{parsed}"
        );
    }
    assert!(parsed["confidence"].is_number(), "{parsed}");
    let stats = answer.final_data.expect("final data");
    assert!(stats.prompt_eval_count > 10, "{stats:?}");
    assert!(stats.eval_count > 0, "{stats:?}");
}

#[tokio::test]
async fn streamed_and_whole_answers_agree() {
    let Some(server) = server().await else { return };
    let http = reqwest::Client::new();
    let ask = |stream: bool| {
        json!({
            "model": "smollm2", "prompt": "Name three colours.", "stream": stream,
            "options": {"temperature": 0, "num_predict": 24}
        })
    };
    let whole: Value = http
        .post(format!("{}/api/generate", server.url))
        .json(&ask(false))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(whole["done"], true, "{whole}");
    assert!(whole["eval_count"].as_u64().unwrap_or(0) > 0, "{whole}");
    let streamed = http
        .post(format!("{}/api/generate", server.url))
        .json(&ask(true))
        .send()
        .await
        .expect("send");
    assert_eq!(
        streamed.headers()["content-type"].to_str().unwrap_or(""),
        "application/x-ndjson"
    );
    let body = streamed.text().await.expect("body");
    let lines: Vec<Value> = body
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect();
    assert!(lines.len() > 2, "{body}");
    assert_eq!(lines.last().map(|l| l["done"].clone()), Some(json!(true)));
    let text: String = lines
        .iter()
        .filter_map(|l| l["response"].as_str())
        .collect();
    assert_eq!(text, whole["response"].as_str().unwrap_or(""));
}

#[tokio::test]
async fn bad_requests_get_a_clear_error_and_the_server_keeps_serving() {
    let Some(server) = server().await else { return };
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()
        .expect("client");
    let chat = format!("{}/api/chat", server.url);
    let cases: Vec<(reqwest::RequestBuilder, u16, &str)> = vec![
        (
            http.post(&chat)
                .header("content-type", "application/json")
                .body("{\"model\":"),
            400,
            "EOF",
        ),
        (http.post(&chat).body("{}"), 415, "Content-Type"),
        (
            http.post(&chat)
                .json(&json!({"model": "llama9", "messages": [{"role": "user", "content": "hi"}]})),
            404,
            "not found",
        ),
        (
            http.post(&chat)
                .json(&json!({"model": "smollm2", "messages": []})),
            400,
            "empty",
        ),
        (
            http.post(&chat).json(
                &json!({"model": "smollm2", "messages": [{"role": "root", "content": "hi"}]}),
            ),
            400,
            "invalid role",
        ),
        (
            http.post(&chat)
                .json(&json!({"model": "smollm2", "stream": false, "format": 7,
                "messages": [{"role": "user", "content": "hi"}]})),
            400,
            "format",
        ),
        (
            http.post(&chat).json(
                &json!({"model": "smollm2", "stream": false, "options": {"num_ctx": -5},
                "messages": [{"role": "user", "content": "hi"}]}),
            ),
            400,
            "num_ctx",
        ),
        (
            http.post(&chat).json(
                &json!({"model": "smollm2", "stream": false, "options": {"num_ctx": 256},
                "messages": [{"role": "user", "content": "word ".repeat(2000)}]}),
            ),
            400,
            "exceeds the context",
        ),
        (
            http.post(&chat)
                .header("content-type", "application/json")
                .body(vec![b' '; 5 * 1024 * 1024]),
            413,
            "",
        ),
    ];
    for (request, status, says) in cases {
        let reply = request.send().await.expect("reply");
        let got = reply.status().as_u16();
        let text = reply.text().await.unwrap_or_default();
        assert_eq!(got, status, "{text}");
        assert!(text.contains(says), "{status}: {text}");
        // Ollama's shape: {"error": "..."}
        let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
        assert!(v["error"].is_string(), "{text}");
    }
    // still serving
    let ok: Value = http
        .post(&chat)
        .json(&json!({"model": "smollm2:latest", "stream": false, "options": {"temperature": 0, "num_predict": 8},
            "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(ok["done"], true, "{ok}");
    assert_eq!(ok["message"]["role"], "assistant", "{ok}");
}
