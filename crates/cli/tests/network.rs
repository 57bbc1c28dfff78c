//! What a person is told when the API is slow or not there: a timeout and an unreachable host are two
//! different failures, with their own message, exit code and next step.

mod common;

use std::time::Duration;

use common::onboarding;
use onboarding_cli::api::Api;
use onboarding_cli::config::Config;
use onboarding_cli::error::{Error, exit};
use serde_json::{Value, json};
use tokio::net::TcpListener;

fn config(api_url: String) -> Config {
    Config {
        api_url,
        issuer: "http://127.0.0.1:1".into(),
        client_id: "onboarding-cli".into(),
        audience: vec!["onboarding-cli".into()],
    }
}

/// A port that was free a moment ago and now has nobody listening on it.
async fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap().port()
}

#[tokio::test]
async fn a_server_that_accepts_but_never_answers_is_a_timeout() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    // Accepts each connection and holds it open without a byte of answer, like a function still compiling.
    let server = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    let http = reqwest::Client::new();
    let config = config(url.clone());
    let api = Api::new(&http, &config, "token").with_timeout(Duration::from_secs(1));

    let error = api.post("/users", &json!({})).await.unwrap_err();

    assert!(matches!(error, Error::TimedOut { .. }), "{error:?}");
    assert_eq!(
        error.to_string(),
        "timed out after 1 s waiting for POST /users"
    );
    assert_eq!(error.code(), "timed_out");
    assert_eq!(error.exit_code(), exit::TIMED_OUT);
    assert_ne!(exit::TIMED_OUT, exit::UNREACHABLE);
    assert!(error.hint().contains("again"), "{}", error.hint());
    assert!(error.hint().contains("starting"), "{}", error.hint());
    server.abort();
}

#[tokio::test]
async fn a_port_nobody_listens_on_is_unreachable_at_once() {
    let url = format!("http://127.0.0.1:{}", closed_port().await);
    let http = reqwest::Client::new();
    let config = config(url.clone());
    let api = Api::new(&http, &config, "token").with_timeout(Duration::from_secs(30));

    let started = std::time::Instant::now();
    let error = api.get("/users/me").await.unwrap_err();

    assert!(matches!(error, Error::Http { .. }), "{error:?}");
    assert!(
        error
            .to_string()
            .starts_with(&format!("cannot reach {url}/users/me")),
        "{error}"
    );
    assert_eq!(error.code(), "unreachable");
    assert_eq!(error.exit_code(), exit::UNREACHABLE);
    assert!(error.hint().contains("API URL"), "{}", error.hint());
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "not waited out"
    );
}

#[tokio::test]
async fn setup_against_a_closed_port_exits_unreachable_with_its_next_step() {
    let url = format!("http://127.0.0.1:{}", closed_port().await);
    let home = tempfile::tempdir().unwrap();
    let out = onboarding(home.path())
        .args(["--json", "setup", &url, "--no-browser"])
        .output()
        .unwrap();

    assert_eq!(out.status.code(), Some(i32::from(exit::UNREACHABLE)));
    let answer: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(answer["error"]["code"], "unreachable");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("/.well-known/onboarding"),
        "{answer}"
    );
}

/// The one URL a person is given decides where their token goes: it must be https (http only to this
/// machine), and the discovery document may not send later requests to another host.
#[tokio::test]
async fn the_api_is_https_and_its_discovery_document_cannot_move_it_to_another_host() {
    let http = reqwest::Client::new();
    for url in [
        "http://onboarding.example.com",
        "ftp://onboarding.example.com",
        "not a url",
    ] {
        let error = Config::discover(&http, url).await.unwrap_err();
        assert_eq!(error.code(), "invalid_input", "{url}: {error}");
    }

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let document = json!({
        "api_url": "https://onboarding.evil.example.net",
        "issuer": "https://idp.example.com",
        "client_id": "onboarding-cli",
        "audience": "onboarding-cli",
    })
    .to_string();
    let server = tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request).await;
            let answer = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{document}",
                document.len()
            );
            let _ = stream.write_all(answer.as_bytes()).await;
        }
    });
    let error = Config::discover(&http, &url).await.unwrap_err();
    assert_eq!(error.code(), "unexpected_answer", "{error}");
    assert!(error.to_string().contains("another host"), "{error}");
    server.abort();
}
