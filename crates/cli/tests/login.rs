//! `onboarding login` against a real OpenID provider (node's oidc-provider, tests/oidc/provider.mjs):
//! authorization code + PKCE on the loopback redirect, the browser played by an HTTP client.

mod common;

use std::process::Stdio;

use common::{address_on_stderr, onboarding, provider, sign_in_in_browser, write_config};

#[test]
fn login_with_pkce_on_a_loopback_redirect_keeps_a_verified_token_0600() {
    let issuer = provider();
    let home = tempfile::tempdir().unwrap();
    write_config(home.path(), "http://127.0.0.1:9", &issuer.url);

    let mut child = onboarding(home.path())
        .args(["--json", "login", "--no-browser"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (url, rest) = address_on_stderr(child.stderr.take().unwrap());
    assert!(url.contains("code_challenge_method=S256"), "{url}");
    assert!(
        url.contains("redirect_uri=http%3A%2F%2F127.0.0.1%3A"),
        "{url}"
    );
    sign_in_in_browser(&url, "developer@example.com");

    let out = child.wait_with_output().unwrap();
    let stderr = rest.recv().unwrap_or_default();
    assert!(out.status.success(), "{stderr}");
    let answer: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(answer["signed_in"], "developer@example.com");

    let tokens = home.path().join(".config/onboarding/tokens.json");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&tokens).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let kept: serde_json::Value = serde_json::from_slice(&std::fs::read(&tokens).unwrap()).unwrap();
    assert!(kept["refresh_token"].is_string(), "{kept}");
}
