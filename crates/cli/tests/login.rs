//! `onboarding login` against a real OpenID provider (node's oidc-provider, tests/oidc/provider.mjs):
//! authorization code + PKCE on the loopback redirect, and the device grant (RFC 8628) completed on the
//! provider's own pages; the browser played by an HTTP client.

mod common;

use std::process::Stdio;

use common::{
    address_on_stderr, form, line_on_stderr, onboarding, provider, sign_in_in_browser, write_config,
};

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
        // The first free one of the fixed callback ports the README's app client registers.
        url.contains("redirect_uri=http%3A%2F%2Flocalhost%3A4795"),
        "{url}"
    );
    sign_in_in_browser(&url, "developer@example.com");

    let out = child.wait_with_output().unwrap();
    let stderr = rest.recv().unwrap_or_default();
    assert!(out.status.success(), "{stderr}");
    let answer: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(answer["signed_in"], "developer@example.com");

    let tokens = common::state(home.path()).join("tokens");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&tokens).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let kept: serde_json::Value = common::vault(home.path()).read(&tokens).unwrap().unwrap();
    assert!(kept["refresh_token"].is_string(), "{kept}");

    // logout revokes the refresh token at the provider (RFC 7009): a copy left anywhere signs nobody in.
    let http = reqwest::blocking::Client::new();
    let refresh = || {
        let metadata: serde_json::Value = http
            .get(format!("{}/.well-known/openid-configuration", issuer.url))
            .send()
            .unwrap()
            .json()
            .unwrap();
        http.post(metadata["token_endpoint"].as_str().unwrap())
            .form(&[
                ("grant_type", "refresh_token"),
                ("client_id", "onboarding-cli"),
                ("refresh_token", kept["refresh_token"].as_str().unwrap()),
            ])
            .send()
            .unwrap()
            .status()
    };
    assert!(refresh().is_success(), "the token works before logout");
    let out = onboarding(home.path())
        .args(["--json", "logout"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let answer: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(answer["refresh_token_revoked"], true, "{answer}");
    assert!(!tokens.exists());
    assert_eq!(refresh().as_u16(), 400, "revoked at the provider");
}

#[test]
fn login_with_the_device_grant_completed_on_another_device() {
    let issuer = provider();
    let home = tempfile::tempdir().unwrap();
    write_config(home.path(), "http://127.0.0.1:9", &issuer.url);

    let mut child = onboarding(home.path())
        .args(["--json", "login", "--device"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (line, rest) = line_on_stderr(child.stderr.take().unwrap(), |line| {
        line.starts_with("On any device, open ")
    });
    let (uri, user_code) = line
        .strip_prefix("On any device, open ")
        .and_then(|rest| rest.split_once(" and enter the code "))
        .unwrap_or_else(|| panic!("{line}"));
    assert_eq!(uri, format!("{}/device", issuer.url));

    // The person, on another device: the code typed into the provider's page, the device confirmed,
    // then the sign-in form (no login_hint here: the device flow has no authorization request).
    let browser = reqwest::blocking::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap();
    let page = browser.get(uri).send().unwrap().text().unwrap();
    let (action, mut fields) = form(&page, Some("op.deviceInputForm"));
    fields.push(("user_code".into(), user_code.trim().to_string()));
    let page = browser
        .post(&action)
        .form(&fields)
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(page.contains(user_code.trim()), "{page}");
    let (action, fields) = form(&page, Some("op.deviceConfirmForm"));
    assert!(
        fields.contains(&("confirm".into(), "yes".into())),
        "{fields:?}"
    );
    let page = browser.post(&action).form(&fields).send().unwrap();
    let base = page.url().clone();
    let page = page.text().unwrap();
    let (action, _) = form(&page, None);
    assert!(action.contains("/interaction/"), "the sign-in form: {page}");
    let done = browser
        .post(base.join(&action).unwrap())
        .form(&[
            ("login", "developer@example.com"),
            ("password", "onboarding-test-password"),
        ])
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        done.contains("Signed in"),
        "the device page ended at {done}"
    );

    // Meanwhile the CLI polled the token endpoint; it now holds verified tokens.
    let out = child.wait_with_output().unwrap();
    let stderr = rest.recv().unwrap_or_default();
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("?user_code="),
        "the complete address too: {stderr}"
    );
    let answer: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(answer["signed_in"], "developer@example.com");
    let tokens = common::state(home.path()).join("tokens");
    let kept: serde_json::Value = common::vault(home.path()).read(&tokens).unwrap().unwrap();
    assert!(kept["refresh_token"].is_string(), "{kept}");
}
