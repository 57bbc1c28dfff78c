//! Servers the CLI's end-to-end tests run against: the local OpenID provider (tests/oidc/provider.mjs),
//! each killed when its value is dropped.

#![allow(dead_code)] // each test binary uses its own part

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

pub fn workspace() -> PathBuf {
    test_support::workspace_root()
}

/// A child process that prints `listening <url>` on stdout once it serves.
pub struct Server {
    pub url: String,
    child: Child,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    pub fn start(mut command: Command) -> Server {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{command:?}: {e}"));
        let stdout = child.stdout.take().unwrap();
        let url = listening_line(stdout, Duration::from_secs(120))
            .unwrap_or_else(|| panic!("{command:?} printed no `listening` line"));
        Server { url, child }
    }
}

fn listening_line(stdout: ChildStdout, timeout: Duration) -> Option<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        // Reads to the end, so the server never blocks on a full pipe.
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(url) = line.strip_prefix("listening ") {
                let _ = tx.send(url.trim().to_string());
            }
        }
    });
    rx.recv_timeout(timeout).ok()
}

pub fn provider() -> Server {
    let mut command = Command::new("node");
    command
        .arg(workspace().join("tests/oidc/provider.mjs"))
        .args(["--port", "0"])
        // Short-lived ID tokens, so every command after the sign-in has to refresh.
        .env("OIDC_ID_TOKEN_TTL", "30");
    Server::start(command)
}

/// The passphrase the tests' CLI encrypts its files with: no keyring here, as on a headless box.
pub const PASSPHRASE: &str = "correct horse battery staple";

/// The binary, with HOME and its config, state and cache directories in `home`, no OS keyring, and
/// the file passphrase in its environment.
pub fn onboarding(home: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_onboarding"));
    command
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env("XDG_STATE_HOME", home.join(".local/state"))
        .env("XDG_CACHE_HOME", home.join(".cache"))
        .env("ONBOARDING_FILE_PASSPHRASE", PASSPHRASE)
        .env_remove("DBUS_SESSION_BUS_ADDRESS")
        .env_remove("AWS_CONFIG_FILE")
        .env_remove("AWS_PROFILE");
    command
}

/// The CLI's state directory in `home` (tokens, the file key, a key without a keyring).
pub fn state(home: &Path) -> PathBuf {
    home.join(".local/state/onboarding")
}

/// The CLI's cache directory in `home` (sessions).
pub fn cache(home: &Path) -> PathBuf {
    home.join(".cache/onboarding")
}

/// The vault the binary run by [`onboarding`] opens, for a test to put files there or read them.
pub fn vault(home: &Path) -> onboarding_cli::vault::Vault {
    onboarding_cli::vault::Vault::with_passphrase(state(home).join("file-key.age"), PASSPHRASE)
}

/// The key store of `profile` as the binary run by [`onboarding`] finds it on a machine without a keyring.
pub fn key_store(home: &Path, profile: &str) -> onboarding_cli::secrets::KeyStore {
    onboarding_cli::secrets::KeyStore::with_entry(
        None,
        state(home).join(format!("keys/{profile}")),
        vault(home),
    )
}

pub fn write_config(home: &Path, api_url: &str, issuer: &str) {
    let dir = home.join(".config/onboarding");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("config.json"),
        serde_json::json!({"api_url": api_url, "issuer": issuer, "client_id": "onboarding-cli", "audience": ["onboarding-cli"]})
            .to_string(),
    )
    .unwrap();
}

/// Plays the person in the browser: follows the sign-in address the CLI printed, fills the provider's
/// sign-in form, and follows the redirects back to the CLI's loopback listener.
pub fn sign_in_in_browser(url: &str, email: &str) {
    let browser = reqwest::blocking::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap();
    let page = browser.get(url).send().unwrap();
    let base = page.url().clone();
    let html = page.text().unwrap();
    let action = html
        .split("action=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("no sign-in form in {html}"));
    let done = browser
        .post(base.join(action).unwrap())
        .form(&[("login", email), ("password", "onboarding-test-password")])
        .send()
        .unwrap();
    let text = done.text().unwrap();
    assert!(text.contains("Signed in"), "the browser ended at {text}");
}

/// Reads the child's stderr until a line starting with `http`, returning it; the rest is collected in
/// the returned receiver's thread.
pub fn address_on_stderr(stderr: impl Read + Send + 'static) -> (String, mpsc::Receiver<String>) {
    line_on_stderr(stderr, |line| line.starts_with("http"))
}

/// Reads the child's stderr until a line `wanted` accepts, returning it; the rest (that line included)
/// is collected in the returned receiver's thread.
pub fn line_on_stderr(
    stderr: impl Read + Send + 'static,
    wanted: impl Fn(&str) -> bool + Send + 'static,
) -> (String, mpsc::Receiver<String>) {
    let (tx, rx) = mpsc::channel();
    let (rest_tx, rest_rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut all = String::new();
        let mut sent = false;
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if !sent && wanted(&line) {
                let _ = tx.send(line.clone());
                sent = true;
            }
            all.push_str(&line);
            all.push('\n');
        }
        let _ = rest_tx.send(all);
    });
    let url = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the CLI printed the line awaited");
    (url, rest_rx)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap()
}

/// moto_server, started as every other test of the workspace starts it.
pub use test_support::Moto;

/// With AWS's managed policies: local-api runs the default catalog, whose role gets PowerUserAccess.
pub fn moto() -> Moto {
    Moto::start()
}

pub fn local_api(issuer: &str, moto: &Moto) -> Server {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "-p", "local-api", "--bin", "local-api"])
        .current_dir(workspace())
        .status()
        .unwrap();
    assert!(status.success(), "cargo build -p local-api");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target"));
    let mut api = Command::new(target.join("debug/local-api"));
    api.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("JWT_ISSUER", issuer)
        .env("JWT_AUDIENCE", "onboarding-cli")
        .env("LISTEN_ADDR", "127.0.0.1:0")
        .env("ELIGIBLE_EMAIL_DOMAINS", r#"["example.com"]"#)
        .env("AWS_ENDPOINT_URL", &moto.endpoint);
    Server::start(api)
}

/// The form `id` (or the first form) of an HTML page: its action and its inputs that carry a value.
pub fn form(html: &str, id: Option<&str>) -> (String, Vec<(String, String)>) {
    let start = match id {
        Some(id) => html
            .find(&format!("id=\"{id}\""))
            .and_then(|at| html[..at].rfind("<form"))
            .unwrap_or_else(|| panic!("no form {id} in {html}")),
        None => html
            .find("<form")
            .unwrap_or_else(|| panic!("no form in {html}")),
    };
    let body = &html[start..];
    let body = &body[..body.find("</form>").unwrap_or(body.len())];
    let attribute = |tag: &str, name: &str| {
        tag.split(&format!("{name}=\"")[..])
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .map(str::to_string)
    };
    let action = attribute(body, "action").unwrap_or_else(|| panic!("no action in {body}"));
    let inputs = body
        .split("<input")
        .skip(1)
        .filter_map(|tag| Some((attribute(tag, "name")?, attribute(tag, "value")?)))
        .collect();
    (action, inputs)
}
