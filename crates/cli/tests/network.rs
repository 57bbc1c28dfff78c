//! What a person is told when the API is slow or not there: a timeout and an unreachable host are two
//! different failures, with their own message, exit code and next step.

mod common;

use std::time::Duration;

use common::onboarding;
use onboarding_cli::api::Api;
use onboarding_cli::commands;
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
        region: None,
        mfa_max_age_seconds: None,
    }
}

/// An HTTP/1.1 answer carrying `body` as JSON, the connection closed after it.
fn json_answer(body: &str) -> String {
    format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
}

/// A local API that answers every request with `document` as its discovery document.
async fn discovery_at(document: Value) -> (String, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let document = document.to_string();
    let server = tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request).await;
            let answer = json_answer(&document);
            let _ = stream.write_all(answer.as_bytes()).await;
        }
    });
    (url, server)
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

    let (url, server) = discovery_at(json!({
        "api_url": "https://onboarding.evil.example.net",
        "issuer": "https://idp.example.com",
        "client_id": "onboarding-cli",
        "audience": "onboarding-cli",
    }))
    .await;
    let error = Config::discover(&http, &url).await.unwrap_err();
    assert_eq!(error.code(), "unexpected_answer", "{error}");
    assert!(error.to_string().contains("another host"), "{error}");
    server.abort();
}

/// The region is written into ~/.aws/config: a region name is taken, anything else refused.
#[tokio::test]
async fn the_discovery_documents_region_is_a_region_name_or_refused() {
    let http = reqwest::Client::new();
    for (region, taken) in [
        ("eu-central-1", true),
        ("us-gov-west-1", true),
        ("us-east-1\ncredential_process = sh -c evil", false),
        ("US-EAST-1", false),
        ("local", false),
    ] {
        let (url, server) = discovery_at(json!({
            "issuer": "https://idp.example.com",
            "client_id": "onboarding-cli",
            "audience": "onboarding-cli",
            "region": region,
        }))
        .await;
        let found = Config::discover(&http, &url).await;
        server.abort();
        match found {
            Ok(config) => {
                assert!(taken, "{region:?} was taken");
                assert_eq!(config.region.as_deref(), Some(region));
            }
            Err(error) => {
                assert!(!taken, "{region:?}: {error}");
                assert_eq!(error.code(), "unexpected_answer");
            }
        }
    }
}

#[tokio::test]
async fn an_api_of_another_major_version_is_refused_naming_the_cli_to_get() {
    let http = reqwest::Client::new();
    for (api_version, taken) in [
        (Some("1.0.0"), true),
        (Some("1.7.2"), true),
        (None, true),
        (Some("2.0.0"), false),
    ] {
        let mut document = json!({"issuer": "https://idp.example.com", "client_id": "onboarding-cli",
            "audience": "onboarding-cli"});
        if let Some(version) = api_version {
            document["api_version"] = json!(version);
        }
        let (url, server) = discovery_at(document).await;
        let found = Config::discover(&http, &url).await;
        server.abort();
        match found {
            Ok(_) => assert!(taken, "{api_version:?} was taken"),
            Err(error) => {
                assert!(!taken, "{api_version:?}: {error}");
                assert_eq!(error.code(), "incompatible_api");
                assert!(error.hint().contains("CLI for API 2.x"), "{}", error.hint());
            }
        }
    }
}

/// A TLS server's side for `host`: its certificate (self-signed, so also the CA a client must be told to
/// trust) and the acceptor that presents it.
fn tls_acceptor(host: &str) -> (rcgen::Certificate, tokio_rustls::TlsAcceptor) {
    let rcgen::CertifiedKey { cert, signing_key } =
        rcgen::generate_simple_self_signed(vec![host.to_string()]).unwrap();
    let server_config = rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![cert.der().clone()],
        rustls::pki_types::PrivateKeyDer::Pkcs8(signing_key.serialize_der().into()),
    )
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(server_config));
    (cert, acceptor)
}

/// A TLS-inspecting proxy's CA is not among the bundled roots: `AWS_CA_BUNDLE` (or `SSL_CERT_FILE`) names
/// it, and the CLI then trusts an API whose certificate it signed, and refuses that API without it.
#[tokio::test]
async fn a_ca_named_by_aws_ca_bundle_is_trusted_and_nothing_else_is() {
    let (cert, acceptor) = tls_acceptor("localhost");
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "https://localhost:{}",
        listener.local_addr().unwrap().port()
    );
    let document = json!({"issuer": "https://idp.example.com", "client_id": "onboarding-cli",
        "audience": "onboarding-cli"})
    .to_string();
    let server = tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        while let Ok((stream, _)) = listener.accept().await {
            let Ok(mut stream) = acceptor.accept(stream).await else {
                continue;
            };
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request).await;
            let answer = json_answer(&document);
            let _ = stream.write_all(answer.as_bytes()).await;
            let _ = stream.shutdown().await;
        }
    });

    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("corporate-ca.pem");
    std::fs::write(&bundle, cert.pem()).unwrap();
    for variable in ["AWS_CA_BUNDLE", "SSL_CERT_FILE"] {
        let roots =
            commands::ca_bundle(|name| (name == variable).then(|| bundle.clone().into_os_string()))
                .unwrap();
        let http = commands::http_trusting(roots).unwrap();
        let found = Config::discover(&http, &url).await;
        assert!(found.is_ok(), "{variable}: {found:?}");
    }
    let untrusted = Config::discover(&commands::http_trusting(Vec::new()).unwrap(), &url)
        .await
        .unwrap_err();
    assert_eq!(untrusted.exit_code(), exit::UNREACHABLE, "{untrusted}");
    assert!(commands::ca_bundle(|_| None).unwrap().is_empty());
    let not_pem = dir.path().join("not.pem");
    std::fs::write(&not_pem, "no certificate here").unwrap();
    assert!(commands::ca_bundle(|_| Some(not_pem.clone().into_os_string())).is_err());
    server.abort();
}

/// `console --print` through a stand-in of the federation endpoint: reached as every HTTPS call is, through
/// `HTTPS_PROXY` (a CONNECT tunnel here) and a CA named by `SSL_CERT_FILE`; the request carries the cached
/// role session, and the link printed carries the token the endpoint answered with.
#[tokio::test]
async fn console_print_asks_the_federation_endpoint_for_a_token_with_the_role_session() {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
    let (cert, acceptor) = tls_acceptor("signin.aws.amazon.com");
    let proxy = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy_url = format!("http://{}", proxy.local_addr().unwrap());
    let (asked, mut requests) = tokio::sync::mpsc::unbounded_channel::<(String, String)>();
    let stand_in = tokio::spawn(async move {
        while let Ok((stream, _)) = proxy.accept().await {
            let mut stream = BufReader::new(stream);
            let mut connect = String::new();
            let _ = stream.read_line(&mut connect).await;
            loop {
                let mut header = String::new();
                if stream.read_line(&mut header).await.unwrap_or(0) <= 2 {
                    break;
                }
            }
            let mut stream = stream.into_inner();
            let _ = stream
                .write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n")
                .await;
            let Ok(mut tls) = acceptor.accept(stream).await else {
                continue;
            };
            let mut request = vec![0u8; 16384];
            let read = tls.read(&mut request).await.unwrap_or(0);
            let request_line = String::from_utf8_lossy(&request[..read])
                .lines()
                .next()
                .unwrap_or_default()
                .to_string();
            let _ = asked.send((connect.trim().to_string(), request_line));
            let body = r#"{"SigninToken":"stand-in-token"}"#;
            let answer = json_answer(body);
            let _ = tls.write_all(answer.as_bytes()).await;
            let _ = tls.shutdown().await;
        }
    });

    let home = tempfile::tempdir().unwrap();
    common::vault(home.path())
        .write(
            &common::cache(home.path()).join("sessions/onboarding/ResourceCreatorRole"),
            &json!({"credentials": {"Version": 1, "AccessKeyId": "ASIASESSION", "SecretAccessKey": "session-secret",
                "SessionToken": "session-token", "Expiration": "2099-01-01T00:00:00Z"},
                "assumed_role_arn": "arn:aws:sts::123456789012:assumed-role/ResourceCreatorRole/dev"}),
        )
        .unwrap();
    let ca = home.path().join("ca.pem");
    std::fs::write(&ca, cert.pem()).unwrap();
    let mut console = onboarding(home.path());
    console
        .args(["console", "--role", "ResourceCreatorRole", "--print"])
        .env("HTTPS_PROXY", &proxy_url)
        .env("SSL_CERT_FILE", &ca)
        .env_remove("NO_PROXY");
    let out = tokio::task::spawn_blocking(move || console.output().unwrap())
        .await
        .unwrap();
    stand_in.abort();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let link = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let link = reqwest::Url::parse(&link).unwrap();
    assert_eq!(
        link.as_str().split('?').next(),
        Some("https://signin.aws.amazon.com/federation")
    );
    let query: std::collections::HashMap<String, String> =
        link.query_pairs().into_owned().collect();
    assert_eq!(query["Action"], "login");
    assert_eq!(query["SigninToken"], "stand-in-token");
    assert_eq!(query["Destination"], "https://console.aws.amazon.com/");

    let (connect, request_line) = requests.recv().await.unwrap();
    assert_eq!(connect, "CONNECT signin.aws.amazon.com:443 HTTP/1.1");
    let path = request_line.split(' ').nth(1).unwrap();
    let asked = reqwest::Url::parse(&format!("https://signin.aws.amazon.com{path}")).unwrap();
    let asked: std::collections::HashMap<String, String> =
        asked.query_pairs().into_owned().collect();
    assert_eq!(asked["Action"], "getSigninToken");
    let session: Value = serde_json::from_str(&asked["Session"]).unwrap();
    assert_eq!(
        session,
        json!({"sessionId": "ASIASESSION", "sessionKey": "session-secret", "sessionToken": "session-token"})
    );
}

/// STS behind a TLS-inspecting proxy: the SDK's own client, which makes the role session, trusts the CA
/// `AWS_CA_BUNDLE` names as the CLI's other calls do, and refuses the stand-in without it.
#[tokio::test]
async fn sts_calls_trust_the_ca_bundle_too() {
    let (cert, acceptor) = tls_acceptor("localhost");
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!(
        "https://localhost:{}",
        listener.local_addr().unwrap().port()
    );
    let (asked, mut actions) = tokio::sync::mpsc::unbounded_channel();
    let stand_in = tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        while let Ok((stream, _)) = listener.accept().await {
            let Ok(mut tls) = acceptor.accept(stream).await else {
                continue;
            };
            // The whole request (headers and form body) before the answer: the SDK is still writing.
            let mut request = Vec::new();
            let mut chunk = [0u8; 4096];
            while !whole_request(&request) {
                match tls.read(&mut chunk).await {
                    Ok(0) | Err(_) => break,
                    Ok(read) => request.extend_from_slice(&chunk[..read]),
                }
            }
            let text = String::from_utf8_lossy(&request).into_owned();
            let _ = asked.send(text.contains("Action=AssumeRole"));
            let body = "<AssumeRoleResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><AssumeRoleResult>\
                <Credentials><AccessKeyId>ASIASTANDIN</AccessKeyId><SecretAccessKey>stand-in-secret</SecretAccessKey>\
                <SessionToken>stand-in-token</SessionToken><Expiration>2099-01-01T00:00:00Z</Expiration></Credentials>\
                <AssumedRoleUser><Arn>arn:aws:sts::123456789012:assumed-role/ResourceCreatorRole/dev</Arn>\
                <AssumedRoleId>AROAEXAMPLE:dev</AssumedRoleId></AssumedRoleUser></AssumeRoleResult>\
                <ResponseMetadata><RequestId>stand-in</RequestId></ResponseMetadata></AssumeRoleResponse>";
            let answer = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: text/xml\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = tls.write_all(answer.as_bytes()).await;
            let _ = tls.shutdown().await;
        }
    });

    let home = tempfile::tempdir().unwrap();
    let config = home.path().join(".config/onboarding/profiles");
    std::fs::create_dir_all(&config).unwrap();
    std::fs::write(
        config.join("onboarding.json"),
        r#"{"username":"dev","user_arn":"arn:aws:iam::123456789012:user/dev",
            "roles":[{"name":"ResourceCreatorRole","arn":"arn:aws:iam::123456789012:role/ResourceCreatorRole"}],
            "mfa_serial":"arn:aws:iam::123456789012:mfa/dev"}"#,
    )
    .unwrap();
    let started_at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    common::vault(home.path())
        .write(
            &common::cache(home.path()).join("sessions/onboarding.mfa-session"),
            &json!({"credentials": {"Version": 1, "AccessKeyId": "ASIAMFASESSION", "SecretAccessKey": "mfa-secret",
                "SessionToken": "mfa-token", "Expiration": "2099-01-01T00:00:00Z"}, "started_at": started_at}),
        )
        .unwrap();
    let ca = home.path().join("corporate-ca.pem");
    std::fs::write(&ca, cert.pem()).unwrap();
    let role = |trusted: bool| {
        let mut command = onboarding(home.path());
        command
            .args(["credential-process", "--role", "ResourceCreatorRole"])
            .env("AWS_ENDPOINT_URL", &endpoint)
            .env("AWS_REGION", "us-east-1")
            .env("AWS_MAX_ATTEMPTS", "1")
            .env_remove("SSL_CERT_FILE")
            .env_remove("AWS_CA_BUNDLE")
            .stdin(std::process::Stdio::null());
        if trusted {
            command.env("AWS_CA_BUNDLE", &ca);
        }
        command
    };

    let mut untrusted = role(false);
    let out = tokio::task::spawn_blocking(move || untrusted.output().unwrap())
        .await
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(i32::from(exit::AWS_REFUSED)),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let mut trusted = role(true);
    let out = tokio::task::spawn_blocking(move || trusted.output().unwrap())
        .await
        .unwrap();
    stand_in.abort();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let session: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(session["AccessKeyId"], "ASIASTANDIN");
    assert_eq!(
        actions.recv().await,
        Some(true),
        "an AssumeRole reached the stand-in"
    );
}

/// Whether `request` holds its headers and as much body as its `content-length` says.
fn whole_request(request: &[u8]) -> bool {
    let text = String::from_utf8_lossy(request);
    let Some((head, body)) = text.split_once("\r\n\r\n") else {
        return false;
    };
    let length = head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0);
    body.len() >= length
}
