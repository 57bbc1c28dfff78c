//! local-api against the real OpenID provider (tests/oidc, node's oidc-provider) and moto: a token the
//! provider issues is accepted and the real onboard handler answers 201; tokens differing from an
//! accepted one in one respect only (minted with the provider's own signing key, which the test gives
//! it) are refused with API Gateway's 401, as are unsigned tokens, tokens signed with another key, and
//! requests without a token.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use sha2::Digest;

const CLIENT_ID: &str = "onboarding-cli";

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A child process killed when the value is dropped, also on a failed assertion.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

fn start_moto() -> (Running, String) {
    let port = free_port();
    let venv = workspace().join(".venv/bin/moto_server");
    let binary = if venv.exists() {
        venv
    } else {
        PathBuf::from("moto_server")
    };
    let child = Command::new(binary)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .env("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("moto_server (scripts/setup installs it)");
    let running = Running(child);
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "moto_server did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    (running, format!("http://127.0.0.1:{port}"))
}

/// Starts `command` and waits for its `listening <url>` line.
fn start_listening(mut command: Command, what: &str) -> (Running, String) {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|error| panic!("{what} did not start: {error}"));
    let stdout = child.stdout.take().expect("piped stdout");
    let running = Running(child);
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .unwrap_or_else(|error| panic!("{what}: {error}"));
    let url = line
        .trim()
        .strip_prefix("listening ")
        .unwrap_or_else(|| panic!("{what} printed {line:?}, not `listening <url>`"))
        .to_string();
    (running, url)
}

/// An RSA private key (PKCS#8 PEM), made by node, which the tests need anyway.
fn throwaway_key() -> String {
    let output = Command::new("node")
        .args([
            "-e",
            "process.stdout.write(require('crypto').generateKeyPairSync('rsa',{modulusLength:2048})\
             .privateKey.export({type:'pkcs8',format:'pem'}))",
        ])
        .output()
        .expect("node");
    assert!(output.status.success());
    String::from_utf8(output.stdout).expect("a PEM")
}

struct Stack {
    issuer: String,
    api: String,
    aws_endpoint: String,
    provider_key: String,
    _processes: Vec<Running>,
}

/// The provider, moto and local-api, on a port known before local-api starts: the provider registers the
/// page's URL (`<api>/`) as a redirect URI, as the README's IdP examples do.
fn start_stack() -> Stack {
    let api_port = free_port();
    let provider_key = throwaway_key();
    let key_file = std::env::temp_dir().join(format!(
        "local-api-test-{}-{}.pem",
        std::process::id(),
        free_port()
    ));
    std::fs::write(&key_file, &provider_key).expect("key file");
    let mut provider = Command::new("node");
    provider
        .arg(workspace().join("tests/oidc/provider.mjs"))
        .args(["--port", "0"])
        .env("OIDC_SIGNING_KEY_FILE", &key_file)
        .env(
            "OIDC_PAGE_REDIRECT_URIS",
            format!("http://127.0.0.1:{api_port}/"),
        );
    let (provider, issuer) = start_listening(provider, "the OpenID provider (scripts/setup)");
    let _ = std::fs::remove_file(&key_file);
    let (moto, endpoint) = start_moto();
    let mut api = Command::new(env!("CARGO_BIN_EXE_local-api"));
    api.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("JWT_ISSUER", &issuer)
        .env("JWT_AUDIENCE", CLIENT_ID)
        .env("LISTEN_ADDR", format!("127.0.0.1:{api_port}"))
        .env("ELIGIBLE_EMAIL_DOMAINS", r#"["example.com"]"#)
        .env("AWS_ENDPOINT_URL", &endpoint);
    let (api, api_url) = start_listening(api, "local-api");
    Stack {
        issuer,
        api: api_url,
        aws_endpoint: endpoint,
        provider_key,
        _processes: vec![api, moto, provider],
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Signs in as `email` at the provider: authorization code with PKCE (S256) on a loopback redirect, the
/// sign-in done by login_hint, every redirect followed with the provider's cookies. The ID token.
async fn sign_in(issuer: &str, email: &str) -> String {
    let http = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let verifier = b64(&rand_bytes());
    let challenge = b64(&sha2::Sha256::digest(verifier.as_bytes()));
    // One of the callbacks the provider registers, as the README's Cognito app client does; nothing needs
    // to listen there, the redirect is read, not followed.
    let redirect_uri = "http://localhost:47951/callback";
    let mut location = reqwest::Url::parse_with_params(
        &format!("{issuer}/auth"),
        &[
            ("client_id", CLIENT_ID),
            ("response_type", "code"),
            ("scope", "openid email"),
            ("redirect_uri", redirect_uri),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
            ("login_hint", email),
            ("state", "s"),
            ("nonce", "n"),
        ],
    )
    .unwrap()
    .to_string();
    for _ in 0..10 {
        if location.starts_with(redirect_uri) {
            break;
        }
        let answer = http.get(&location).send().await.unwrap();
        let next = answer
            .headers()
            .get("location")
            .unwrap_or_else(|| panic!("no redirect from {location}: {}", answer.status()))
            .to_str()
            .unwrap();
        location = reqwest::Url::parse(&location)
            .unwrap()
            .join(next)
            .unwrap()
            .to_string();
    }
    let callback = reqwest::Url::parse(&location).unwrap();
    let code = callback
        .query_pairs()
        .find(|(name, _)| name == "code")
        .unwrap_or_else(|| panic!("no code in {location}"))
        .1
        .into_owned();
    let tokens: Value = http
        .post(format!("{issuer}/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("client_id", CLIENT_ID),
            ("redirect_uri", redirect_uri),
            ("code_verifier", &verifier),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(tokens["refresh_token"].is_string(), "{tokens}");
    tokens["id_token"]
        .as_str()
        .expect("an ID token")
        .to_string()
}

fn rand_bytes() -> [u8; 32] {
    let mut bytes = [0u8; 32];
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos()
        .to_le_bytes();
    for (i, byte) in bytes.iter_mut().enumerate() {
        *byte = seed[i % seed.len()] ^ (i as u8).wrapping_mul(37);
    }
    bytes
}

fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("a JWT");
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap()
}

fn kid_of(token: &str) -> String {
    jsonwebtoken::decode_header(token).unwrap().kid.unwrap()
}

fn mint(key_pem: &str, kid: &str, claims: &Value) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(kid.to_string());
    jsonwebtoken::encode(
        &header,
        claims,
        &EncodingKey::from_rsa_pem(key_pem.as_bytes()).unwrap(),
    )
    .unwrap()
}

async fn onboard(api: &str, authorization: Option<&str>) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .post(format!("{api}/users"))
        .json(&json!({"roles": ["ResourceCreatorRole"]}));
    if let Some(value) = authorization {
        request = request.header("authorization", value);
    }
    let answer = request.send().await.unwrap();
    let status = answer.status().as_u16();
    (status, answer.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn tokens_from_the_provider_are_accepted_and_forged_ones_refused() {
    let stack = start_stack();

    // The discovery document, without a token.
    let answer = reqwest::get(format!("{}/.well-known/onboarding", stack.api))
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.headers()["cache-control"], "public, max-age=300");
    let discovery: Value = answer.json().await.unwrap();
    assert_eq!(
        discovery,
        json!({"api_url": stack.api, "api_version": functions::discovery::API_VERSION,
               "issuer": stack.issuer, "client_id": CLIENT_ID,
               "audience": [CLIENT_ID], "region": "us-east-1"})
    );

    let token = sign_in(&stack.issuer, "developer@example.com").await;
    let real = claims_of(&token);
    assert_eq!(real["cognito:groups"], json!([]));
    assert_eq!(real["token_use"], "id");
    let kid = kid_of(&token);

    let refusals = [
        ("expired", json!({"exp": now() - 120, "iat": now() - 3720})),
        ("not yet valid", json!({"nbf": now() + 600})),
        ("issued in the future", json!({"iat": now() + 600})),
        ("another audience", json!({"aud": "another-app"})),
        ("another issuer", json!({"iss": "http://127.0.0.1:1"})),
        ("an access token's use", json!({"token_use": "refresh"})),
    ];
    let (status, body) = onboard(&stack.api, Some(&format!("Bearer {token}"))).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["user"]["name"], "developer@example.com", "{body}");
    // Minted like the refusals below, unchanged: they are refused for what they change, not for the
    // minting. Sent without the Bearer prefix, which API Gateway also accepts.
    let control = mint(&stack.provider_key, &kid, &real);
    let answer = reqwest::Client::new()
        .get(format!("{}/users/developer%40example.com", stack.api))
        .header("authorization", control)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200, "{}", answer.text().await.unwrap());

    let unauthorized = |what: &str, (status, body): (u16, Value)| {
        assert_eq!(status, 401, "{what}: {body}");
        assert_eq!(body, json!({"message": "Unauthorized"}), "{what}");
    };
    for (what, change) in refusals {
        let mut claims = real.clone();
        for (name, value) in change.as_object().unwrap() {
            claims[name] = value.clone();
        }
        let forged = mint(&stack.provider_key, &kid, &claims);
        unauthorized(
            what,
            onboard(&stack.api, Some(&format!("Bearer {forged}"))).await,
        );
    }
    // A client_id stands for a missing aud, as API Gateway reads it; a wrong one does not.
    let mut without_aud = real.clone();
    without_aud.as_object_mut().unwrap().remove("aud");
    without_aud["client_id"] = json!("another-app");
    unauthorized(
        "client_id of another app",
        onboard(
            &stack.api,
            Some(&format!(
                "Bearer {}",
                mint(&stack.provider_key, &kid, &without_aud)
            )),
        )
        .await,
    );

    // Unsigned: the provider's claims with alg none and no signature.
    let unsigned = format!(
        "{}.{}.",
        b64(json!({"alg": "none", "typ": "JWT", "kid": kid})
            .to_string()
            .as_bytes()),
        b64(real.to_string().as_bytes())
    );
    unauthorized(
        "alg none",
        onboard(&stack.api, Some(&format!("Bearer {unsigned}"))).await,
    );
    // Signed with a key the issuer never published: under the provider's kid, and under another.
    let stranger = throwaway_key();
    unauthorized(
        "another key, the provider's kid",
        onboard(
            &stack.api,
            Some(&format!("Bearer {}", mint(&stranger, &kid, &real))),
        )
        .await,
    );
    unauthorized(
        "another key, its own kid",
        onboard(
            &stack.api,
            Some(&format!("Bearer {}", mint(&stranger, "stranger", &real))),
        )
        .await,
    );
    // The provider's signature over other claims.
    let mut parts: Vec<String> = token.split('.').map(String::from).collect();
    let mut tampered = real.clone();
    tampered["email"] = json!("admin@example.com");
    parts[1] = b64(tampered.to_string().as_bytes());
    unauthorized(
        "claims changed after signing",
        onboard(&stack.api, Some(&format!("Bearer {}", parts.join(".")))).await,
    );
    unauthorized("no Authorization header", onboard(&stack.api, None).await);
    unauthorized(
        "Bearer and nothing",
        onboard(&stack.api, Some("Bearer ")).await,
    );

    // A route API Gateway does not have.
    let answer = reqwest::get(format!("{}/nothing", stack.api))
        .await
        .unwrap();
    assert_eq!(answer.status(), 404);
}

/// The page in Debian's chromium, as a person uses it (tests/browser/page.mjs): sign in through the
/// provider's form, pick a role, read the QR code off the screen, enable MFA, take the key from the page and
/// assume the role with it; the secret encrypted on the wire and gone from storage, the CSP refusing an
/// injected script, no CORS grant to another origin, axe-core on every step, an admin revoking and
/// offboarding. Screenshots of each step in target/page-screenshots.
#[test]
fn the_page_onboards_a_person_in_a_real_browser() {
    let stack = start_stack();
    let venv = workspace().join(".venv/bin");
    let path = std::env::join_paths(std::iter::once(venv).chain(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    )))
    .expect("PATH");
    let status = Command::new("node")
        .arg(workspace().join("tests/browser/page.mjs"))
        .current_dir(workspace())
        .env("PATH", path)
        .env("API_URL", &stack.api)
        .env("AWS_ENDPOINT_URL", &stack.aws_endpoint)
        .env("SCREENSHOTS", workspace().join("target/page-screenshots"))
        .status()
        .expect("node (scripts/setup installs tests/browser)");
    assert!(
        status.success(),
        "the browser test failed (its output names the step)"
    );
}
