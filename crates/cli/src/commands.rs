//! One function per subcommand. Each returns an [`Outcome`]: the answer as JSON (`--json`) and as text.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::api::{Api, REQUEST_TIMEOUT, user_path};
use crate::auth::{self, Tokens};
use crate::awsconfig::{self, Section};
use crate::config::Config;
use crate::console;
use crate::error::{Error, Result};
use crate::profile::{DEFAULT_PROFILE, Profile, Role};
use crate::prompt;
use crate::role_env;
use crate::secrets::{AccessKey, KeyStore, Receiver, Stored};
use crate::sts::{self, MfaSession, ProcessCredentials, Session};

pub struct Outcome {
    pub json: Value,
    pub text: String,
}

/// The client of every HTTPS call the CLI makes (the API, the identity provider). It trusts the system's
/// CA roots beside the bundled ones (a TLS-inspecting corporate proxy's CA is installed there) and the
/// bundle `AWS_CA_BUNDLE` or `SSL_CERT_FILE` names, as the AWS CLI and OpenSSL do.
pub fn http() -> Result<reqwest::Client> {
    http_trusting(ca_bundle(|name| std::env::var_os(name))?)
}

pub fn http_trusting(extra_roots: Vec<reqwest::Certificate>) -> Result<reqwest::Client> {
    extra_roots
        .into_iter()
        .fold(reqwest::Client::builder(), |builder, root| {
            builder.add_root_certificate(root)
        })
        // Following redirects would let a token endpoint send the code elsewhere (SSRF).
        .redirect(reqwest::redirect::Policy::none())
        .timeout(REQUEST_TIMEOUT)
        .build()
        .map_err(|source| Error::Http {
            url: String::new(),
            source,
        })
}

/// The certificates of the PEM bundle `AWS_CA_BUNDLE` (else `SSL_CERT_FILE`) names; none when neither is
/// set. A bundle that cannot be read is an error: silently trusting less than asked breaks sign-in in ways
/// that are hard to see.
pub fn ca_bundle(
    lookup: impl Fn(&str) -> Option<std::ffi::OsString>,
) -> Result<Vec<reqwest::Certificate>> {
    let Some((path, pem)) = ca_bundle_pem(lookup)? else {
        return Ok(Vec::new());
    };
    let roots = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| Error::Corrupt {
        path: path.clone(),
        message: format!("not a PEM certificate bundle: {e}"),
    })?;
    if roots.is_empty() {
        return Err(Error::Corrupt {
            path,
            message: "holds no PEM certificate".into(),
        });
    }
    Ok(roots)
}

/// The file `AWS_CA_BUNDLE` (else `SSL_CERT_FILE`) names, and its bytes.
pub fn ca_bundle_pem(
    lookup: impl Fn(&str) -> Option<std::ffi::OsString>,
) -> Result<Option<(std::path::PathBuf, Vec<u8>)>> {
    let Some(path) = ["AWS_CA_BUNDLE", "SSL_CERT_FILE"]
        .into_iter()
        .find_map(|name| lookup(name).filter(|value| !value.is_empty()))
        .map(std::path::PathBuf::from)
    else {
        return Ok(None);
    };
    let pem = std::fs::read(&path).map_err(crate::error::io_err(&path))?;
    Ok(Some((path, pem)))
}

pub struct LoginOptions {
    pub device: bool,
    pub no_browser: bool,
}

async fn login_with(
    config: &Config,
    http: &reqwest::Client,
    options: &LoginOptions,
) -> Result<Tokens> {
    if options.device {
        auth::login_device(config, http).await
    } else {
        auth::login_browser(config, http, !options.no_browser).await
    }
}

pub async fn login(options: &LoginOptions) -> Result<Outcome> {
    let config = Config::load()?;
    let tokens = login_with(&config, &http()?, options).await?;
    Ok(signed_in(&tokens))
}

fn signed_in(tokens: &Tokens) -> Outcome {
    let who = tokens
        .email
        .clone()
        .unwrap_or_else(|| tokens.subject.clone());
    Outcome {
        json: json!({"signed_in": who, "expires_at": tokens.expires_at}),
        text: format!("signed in as {who}"),
    }
}

/// A token for the API, signing in first when there is none or it cannot be refreshed.
async fn token_or_login(
    config: &Config,
    http: &reqwest::Client,
    options: &LoginOptions,
) -> Result<Tokens> {
    match auth::id_token(config, http).await {
        Err(Error::NotLoggedIn) => login_with(config, http, options).await,
        other => other,
    }
}

pub struct SetupOptions {
    pub api_url: Option<String>,
    pub profile: String,
    pub roles: Vec<String>,
    pub login: LoginOptions,
}

/// The one command: configuration, sign-in, onboarding, key, `~/.aws/config`, MFA, proof.
pub async fn setup(options: &SetupOptions) -> Result<Outcome> {
    let http = http()?;
    let config = match &options.api_url {
        Some(url) => {
            let config = Config::discover(&http, url).await?;
            config.save()?;
            eprintln!("API {} (sign-in at {})", config.api_url, config.issuer);
            config
        }
        None => Config::load()?,
    };
    let tokens = token_or_login(&config, &http, &options.login).await?;
    let api = Api::new(&http, &config, &tokens.id_token);
    let keys = KeyStore::open(&options.profile)?;

    let receiver = Receiver::default();
    let mut body = json!({"wait_until_usable": true, "encrypt_to": receiver.recipient()});
    if !options.roles.is_empty() {
        body["roles"] = json!(options.roles);
    }
    let spinner = prompt::spinner("Creating your IAM user and waiting for AWS to accept its key…");
    let answer = api.post("/users", &body).await;
    spinner.finish_and_clear();
    let (_, answer) = answer?;

    let profile = Profile::from_answer(&answer)?;
    let username = profile.username.clone();

    let (key, stored, mut usable) = collect_key(&api, &keys, &receiver, &username, &answer).await?;
    if let Some(stored) = &stored {
        warn_without_keyring(stored)?;
    }
    profile.save(&options.profile)?;

    let aws_config = awsconfig::path()?;
    let backup = awsconfig::write(
        &aws_config,
        &sections(&options.profile, &profile, config.region.as_deref())?,
    )?;
    eprintln!("Wrote profiles to {}", aws_config.display());
    if let Some(backup) = &backup {
        eprintln!("(the file as it was is in {})", backup.display());
    }

    let mut mfa_status = answer
        .pointer("/mfa/status")
        .and_then(Value::as_str)
        .unwrap_or("none")
        .to_string();
    if mfa_status == "pending" {
        enrol_mfa(&api, &username, &answer).await?;
        mfa_status = "enabled".into();
    }

    if !usable {
        usable = wait_usable(&key).await;
    }
    let mut assumed = None;
    if let (Some(role), Some(_), true) = (profile.roles.first(), &profile.mfa_serial, usable) {
        let Some(code) = prompt::mfa_code(&format!(
            "Prove it works: the next code from your app (not one used above) for {}: ",
            role.name
        ))?
        else {
            return Err(Error::NoTerminal {
                role: role.name.clone(),
            });
        };
        // The proof starts the day's MFA session: the other roles need no code today.
        let mfa = start_mfa_session(
            &options.profile,
            &profile,
            &code,
            config.mfa_max_age_seconds,
        )
        .await?;
        let session = sts::assume_role(&mfa, &role.arn, &profile.session_identity()).await?;
        session.save(&options.profile, &role.name)?;
        assumed = Some(session.assumed_role_arn);
    }

    let mut text = format!(
        "{username} is set up: profile {} and one per role in {}",
        options.profile,
        aws_config.display()
    );
    if let Some(arn) = &assumed {
        text.push_str(&format!("\nassumed {arn}"));
    }
    Ok(Outcome {
        json: json!({
            "username": username,
            "profile": options.profile,
            "roles": profile.roles.iter().map(|r| json!({"name": r.name, "arn": r.arn, "profile": role_profile(&options.profile, r, account_of(&profile.user_arn).unwrap_or_default())})).collect::<Vec<_>>(),
            "mfa": mfa_status,
            "access_key_id": key.access_key_id,
            "secret_stored_in": match stored {
                Some(Stored::Keyring) => json!("keyring"),
                Some(Stored::File(p)) => json!(p),
                None => json!("unchanged"),
            },
            "aws_config": aws_config,
            "aws_config_backup": backup,
            "assumed_role_arn": assumed,
        }),
        text,
    })
}

fn text(answer: &Value, pointer: &str) -> Result<String> {
    answer
        .pointer(pointer)
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| Error::Protocol("the API".into(), format!("no {pointer} in its answer")))
}

/// Tells the person where a secret went when there was no keyring to take it, and how it is kept there.
fn warn_without_keyring(stored: &Stored) -> Result<()> {
    if let Stored::File(path) = stored {
        let kept = if crate::vault::this_process()?.is_plaintext() {
            "unencrypted: --insecure-plaintext-store"
        } else {
            "encrypted, readable by you only"
        };
        eprintln!(
            "warning: no OS keyring here; the secret key is in {} ({kept})",
            path.display()
        );
    }
    Ok(())
}

/// The key this machine will use: the one in the answer, the one already stored when the API replays
/// (it shows a secret once), or a new one when the secret is not here (`secret_lost`, another machine).
/// Returns the key, where a new secret was stored, and whether STS already accepts it.
async fn collect_key(
    api: &Api<'_>,
    keys: &KeyStore,
    receiver: &Receiver,
    username: &str,
    answer: &Value,
) -> Result<(AccessKey, Option<Stored>, bool)> {
    let id = answer
        .pointer("/access_key/access_key_id")
        .and_then(Value::as_str);
    if let Some(key) = receiver.key_in(answer)? {
        let stored = keys.save(&key)?;
        return Ok((key, Some(stored), usable(answer)));
    }
    if let Some(key) = keys
        .load()?
        .filter(|k| Some(k.access_key_id.as_str()) == id)
    {
        return Ok((key, None, true));
    }
    let spinner = prompt::spinner("This machine has no secret for your key: asking for a new one…");
    let fresh = api
        .post(
            &user_path(username, "/access-keys"),
            &json!({"wait_until_usable": true, "encrypt_to": receiver.recipient()}),
        )
        .await;
    spinner.finish_and_clear();
    let (_, fresh) = fresh?;
    let key = receiver.key_in(&fresh)?.ok_or_else(|| {
        Error::Protocol(
            "the API".into(),
            "a new access key without its secret".into(),
        )
    })?;
    let stored = keys.save(&key)?;
    Ok((key, Some(stored), usable(&fresh)))
}

fn usable(answer: &Value) -> bool {
    answer
        .pointer("/access_key/usable")
        .and_then(Value::as_bool)
        .unwrap_or(true)
}

/// IAM needs 10–15 s before STS accepts a new key; the API's own wait may have ended before that.
async fn wait_usable(key: &AccessKey) -> bool {
    let spinner = prompt::spinner("Waiting for AWS to accept your new key…");
    let deadline = Instant::now() + Duration::from_secs(90);
    let ok = loop {
        if sts::caller_arn(key).await.is_ok() {
            break true;
        }
        if Instant::now() > deadline {
            break false;
        }
        tokio::time::sleep(Duration::from_secs(3)).await;
    };
    spinner.finish_and_clear();
    if !ok {
        eprintln!(
            "AWS does not accept the new key yet; `onboarding assume` will work in a minute."
        );
    }
    ok
}

async fn enrol_mfa(api: &Api<'_>, username: &str, answer: &Value) -> Result<()> {
    let path = user_path(username, "/mfa");
    let uri = match answer.pointer("/mfa/otpauth_uri").and_then(Value::as_str) {
        Some(uri) => uri.to_string(),
        // A replay carries no seed: the device is issued again (the API allows it while none is enabled).
        None => text(&api.post(&path, &json!({})).await?.1, "/otpauth_uri")?,
    };
    eprintln!(
        "Scan this with your authenticator app:\n{}\nor add this address by hand:\n{uri}\n",
        prompt::qr(&uri)?
    );
    for attempt in 1..=3 {
        let first = prompt::mfa_code("First code from your app: ")?;
        let second = prompt::mfa_code("Wait for the next code, and type it: ")?;
        let (Some(code1), Some(code2)) = (first, second) else {
            return Err(Error::Input(
                "MFA needs two codes typed in a terminal: run `onboarding setup` in one".into(),
            ));
        };
        match api
            .post(&path, &json!({"code1": code1, "code2": code2}))
            .await
        {
            Ok(_) => {
                eprintln!("MFA enabled.");
                return Ok(());
            }
            Err(Error::Api { code, .. }) if code == "invalid_mfa_codes" && attempt < 3 => {
                eprintln!("AWS did not accept these codes; try two new consecutive ones.");
            }
            Err(e) => return Err(e),
        }
    }
    Err(Error::Input("MFA was not enabled".into()))
}

/// `<profile>-<Role>` for a role in the person's own account, `<profile>-<account id>-<Role>` for one in
/// a member account: the name says where the session goes, and two accounts' roles of one name never
/// share a profile.
pub fn role_profile(profile: &str, role: &Role, home_account: &str) -> String {
    match account_of(&role.arn) {
        Some(account) if account != home_account => format!("{profile}-{account}-{}", role.name),
        _ => format!("{profile}-{}", role.name),
    }
}

/// The account id of an ARN (`arn:partition:service:region:account:resource`).
pub fn account_of(arn: &str) -> Option<&str> {
    arn.split(':').nth(4).filter(|account| !account.is_empty())
}

/// The base profile gets its key from this binary, and so does each role profile: a `role_arn` profile
/// cannot set the source identity the catalog roles require (botocore #2486), and through this binary the
/// AWS CLI, Terraform and every SDK share one session cache and one prompt.
/// `--profile` is written for every profile but the default one.
fn sections(name: &str, profile: &Profile, region: Option<&str>) -> Result<Vec<Section>> {
    let mut exe = this_binary()?;
    // Said on every use, so a profile written by a plaintext run goes on being one, visibly.
    if crate::vault::this_process()?.is_plaintext() {
        exe.push_str(" --insecure-plaintext-store");
    }
    let command = if name == DEFAULT_PROFILE {
        format!("{exe} credential-process")
    } else {
        format!("{exe} credential-process --profile {name}")
    };
    // The stack's region where the API names it: a tool run with the profile works without AWS_REGION.
    let settings = |credential_process: String| {
        let mut settings = vec![("credential_process".to_string(), credential_process)];
        if let Some(region) = region {
            settings.push(("region".to_string(), region.to_string()));
        }
        settings
    };
    let mut sections = vec![Section::profile(name, settings(command.clone()))];
    for role in &profile.roles {
        sections.push(Section::profile(
            &role_profile(
                name,
                role,
                account_of(&profile.user_arn).unwrap_or_default(),
            ),
            settings(format!("{command} --role {}", role.name)),
        ));
    }
    Ok(sections)
}

/// How `credential_process` names this binary: bare `onboarding` when that is what `PATH` finds (an
/// upgrade in place keeps working), else its absolute path, quoted when it has spaces (the AWS CLI splits
/// the line as a shell does).
fn this_binary() -> Result<String> {
    let exe = std::env::current_exe().map_err(crate::error::io_err("the running binary"))?;
    let exe = exe.canonicalize().unwrap_or(exe);
    let on_path = std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(BINARY_NAME))
            .find(|candidate| candidate.is_file())
            .and_then(|found| found.canonicalize().ok())
            .is_some_and(|found| found == exe)
    });
    if on_path {
        return Ok(BINARY_NAME.to_string());
    }
    let exe = exe.to_string_lossy();
    Ok(if exe.contains(char::is_whitespace) {
        format!("\"{exe}\"")
    } else {
        exe.into_owned()
    })
}

const BINARY_NAME: &str = if cfg!(windows) {
    "onboarding.exe"
} else {
    "onboarding"
};

/// `credential_process`'s answer for the profile's key, or for a role session assumed with MFA.
pub async fn credential_process(profile: &str, role: Option<&str>) -> Result<ProcessCredentials> {
    let Some(role) = role else {
        let key = KeyStore::open(profile)?
            .load()?
            .ok_or_else(|| Error::NoKey(profile.to_string()))?;
        return Ok(ProcessCredentials::long_term(&key));
    };
    Ok(session(profile, role, false).await?.credentials)
}

/// A role session: the cached one while it lasts, else one made from the day's MFA session, for which a
/// code is asked only when there is none (`fresh`: a new code and new sessions, whatever is cached). One
/// caller at a time per profile: parallel callers (Terraform's providers, an IDE and a shell) wait on the
/// lock for the one prompt, then find its sessions cached.
async fn session(profile: &str, role: &str, fresh: bool) -> Result<Session> {
    let _one_at_a_time = sts::lock_sessions(profile)?;
    if !fresh && let Some(session) = Session::cached(profile, role)? {
        return Ok(session);
    }
    let state = Profile::load(profile)?.ok_or_else(|| Error::NoKey(profile.to_string()))?;
    let arn = state
        .roles
        .iter()
        .find(|r| r.name == role || r.arn == role)
        .map(|r| r.arn.clone())
        .ok_or_else(|| Error::UnknownRole {
            profile: profile.to_string(),
            role: role.to_string(),
        })?;
    let max_age = match Config::load() {
        Ok(config) => config.mfa_max_age_seconds,
        Err(Error::NotConfigured) => None,
        Err(e) => return Err(e),
    };
    let mfa = match MfaSession::cached(profile, max_age)?.filter(|_| !fresh) {
        Some(mfa) => mfa,
        None => {
            let code = match prompt::mfa_code_from_process()? {
                Some(code) => code,
                None => prompt::mfa_code(&format!("MFA code for {role}: "))?.ok_or_else(|| {
                    Error::NoTerminal {
                        role: role.to_string(),
                    }
                })?,
            };
            start_mfa_session(profile, &state, &code, max_age).await?
        }
    };
    let session = sts::assume_role(&mfa, &arn, &state.session_identity()).await?;
    session.save(profile, role)?;
    Ok(session)
}

/// `GetSessionToken` with the code, cached as the day's MFA session.
async fn start_mfa_session(
    profile: &str,
    state: &Profile,
    code: &str,
    max_age: Option<u64>,
) -> Result<MfaSession> {
    let serial = state.mfa_serial.as_deref().ok_or_else(|| {
        Error::Input("this profile has no MFA device: run `onboarding setup`".into())
    })?;
    let key = KeyStore::open(profile)?
        .load()?
        .ok_or_else(|| Error::NoKey(profile.to_string()))?;
    let mfa = sts::mfa_session(&key, serial, code, sts::mfa_session_seconds(max_age)?).await?;
    mfa.save(profile)?;
    Ok(mfa)
}

/// Runs `command` with the role session's keys in its environment (and nowhere else): the profile
/// variables that would shadow them are unset for it. Its exit code is passed through.
pub async fn exec(profile: &str, role: &str, command: &[String]) -> Result<u8> {
    let credentials = credential_process(profile, Some(role)).await?;
    let (program, args) = command.split_first().ok_or_else(|| {
        Error::Input("no command to run: onboarding exec --role R -- cmd…".into())
    })?;
    let mut child = std::process::Command::new(program);
    child.args(args).envs(role_env::variables(&credentials));
    for name in role_env::SHADOWING_VARIABLES {
        child.env_remove(name);
    }
    let status = child.status().map_err(|source| Error::File {
        path: program.into(),
        source,
    })?;
    Ok(exit_code_of(status))
}

#[cfg(unix)]
fn exit_code_of(status: std::process::ExitStatus) -> u8 {
    use std::os::unix::process::ExitStatusExt;
    // A child killed by a signal exits as shells report it: 128 + the signal.
    let code = status
        .code()
        .or_else(|| status.signal().map(|signal| 128 + signal))
        .unwrap_or(1);
    u8::try_from(code & 0xff).unwrap_or(1)
}

#[cfg(not(unix))]
fn exit_code_of(status: std::process::ExitStatus) -> u8 {
    u8::try_from(status.code().unwrap_or(1) & 0xff).unwrap_or(1)
}

/// The AWS console as `role`: its session (cached, or made as `credential-process` makes it) exchanged at
/// the federation endpoint for a sign-in link, opened in the browser or, with `print`, printed.
pub async fn console(profile: &str, role: &str, print: bool) -> Result<Outcome> {
    let session = session(profile, role, false).await?;
    let url = console::sign_in_url(&http()?, &session.credentials).await?;
    let opened = !print && open::that_detached(&url).is_ok();
    Ok(Outcome {
        json: json!({"sign_in_url": url, "opened": opened}),
        text: if opened {
            format!("opened the console as {}", session.assumed_role_arn)
        } else {
            url
        },
    })
}

pub async fn assume(profile: &str, role: &str) -> Result<Outcome> {
    let session = session(profile, role, true).await?;
    let expires = session.credentials.expiration.clone().unwrap_or_default();
    Ok(Outcome {
        json: json!({"assumed_role_arn": session.assumed_role_arn, "expiration": expires}),
        text: format!(
            "assumed {} (cached until {expires})",
            session.assumed_role_arn
        ),
    })
}

pub async fn status(profile: &str, login: &LoginOptions) -> Result<Outcome> {
    let http = http()?;
    let config = Config::load()?;
    let tokens = token_or_login(&config, &http, login).await?;
    let username = match Profile::load(profile)? {
        Some(p) => p.username,
        None => tokens.email.clone().ok_or(Error::NotLoggedIn)?,
    };
    let api = Api::new(&http, &config, &tokens.id_token);
    let (_, answer) = api.get(&user_path(&username, "")).await?;
    let text = describe(&answer);
    Ok(Outcome { json: answer, text })
}

/// A new access key, stored, proven with STS, and only then the old one deleted: at every step the
/// person has a key that works on this machine, and at the end exactly one key. Needs no role and no
/// MFA code (the API call is made with the sign-in, the check with the new key itself), so it works
/// however strictly the roles demand MFA (aws-vault #132/#182: rotation that needed a role failed).
pub async fn rotate(profile: &str, login: &LoginOptions) -> Result<Outcome> {
    let http = http()?;
    let config = Config::load()?;
    let state = Profile::load(profile)?.ok_or_else(|| Error::NoKey(profile.to_string()))?;
    let keys = KeyStore::open(profile)?;
    let tokens = token_or_login(&config, &http, login).await?;
    let api = Api::new(&http, &config, &tokens.id_token);
    let spinner = prompt::spinner("Asking for a new access key…");
    let receiver = Receiver::default();
    let answer = api
        .post(
            &user_path(&state.username, "/access-keys"),
            &json!({"wait_until_usable": true, "encrypt_to": receiver.recipient()}),
        )
        .await;
    spinner.finish_and_clear();
    let (_, answer) = answer?;
    let key = receiver.key_in(&answer)?.ok_or_else(|| {
        Error::Protocol(
            "the API".into(),
            "a new access key without its secret".into(),
        )
    })?;
    // The secret exists only in this answer: stored before anything else can fail.
    let stored = keys.save(&key)?;
    warn_without_keyring(&stored)?;
    if !usable(&answer) && !wait_usable(&key).await {
        return Err(Error::KeyNotVerified {
            new_key: key.access_key_id,
        });
    }
    let arn = sts::caller_arn(&key).await?;
    if arn != state.user_arn {
        return Err(Error::Aws(format!(
            "the new key signs in as {arn}, not as {}",
            state.user_arn
        )));
    }
    let previous = answer
        .pointer("/previous_access_key/access_key_id")
        .and_then(Value::as_str);
    let mut deleted = Vec::new();
    if let Some(id) = answer
        .pointer("/deleted_access_key_id")
        .and_then(Value::as_str)
    {
        deleted.push(id.to_string());
    }
    if let Some(id) = previous {
        match api
            .delete(&format!(
                "{}/{}",
                user_path(&state.username, "/access-keys"),
                urlencoding::encode(id)
            ))
            .await
        {
            Ok(_) => {}
            // Our own DELETE retried after a lost answer, or the key deleted meanwhile: it is gone.
            Err(Error::Api { code, .. }) if code == "access_key_not_found" => {}
            Err(error) => return Err(error),
        }
        deleted.push(id.to_string());
    }
    let place = match &stored {
        Stored::Keyring => "the OS keyring".to_string(),
        Stored::File(path) => path.display().to_string(),
    };
    let text = match deleted.as_slice() {
        [] => format!(
            "new access key {} in use (in {place}); there was no old key to delete",
            key.access_key_id
        ),
        ids => format!(
            "new access key {} in use (in {place}); deleted the old one: {}",
            key.access_key_id,
            ids.join(", ")
        ),
    };
    Ok(Outcome {
        json: json!({
            "username": state.username,
            "access_key_id": key.access_key_id,
            "verified_as": arn,
            "deleted_access_key_ids": deleted,
            "secret_stored_in": match stored {
                Stored::Keyring => json!("keyring"),
                Stored::File(p) => json!(p),
            },
        }),
        text,
    })
}

/// The status answer in lines a person reads.
fn describe(answer: &Value) -> String {
    let get = |p: &str| answer.pointer(p).and_then(Value::as_str).unwrap_or("?");
    let mut lines = vec![format!(
        "user    {} ({})",
        get("/user/name"),
        get("/user/arn")
    )];
    for role in answer
        .get("roles")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        lines.push(format!(
            "role    {}",
            role.get("name").and_then(Value::as_str).unwrap_or("?")
        ));
    }
    lines.push(format!("mfa     {}", get("/mfa/status")));
    for key in answer
        .get("access_keys")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let field = |f: &str| key.get(f).and_then(Value::as_str).unwrap_or("?");
        lines.push(format!(
            "key     {} {} created {}",
            field("access_key_id"),
            field("status"),
            field("created")
        ));
    }
    let findings = answer
        .get("findings")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    let differences = answer
        .get("differences")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    lines.push(if findings + differences == 0 {
        "all as it should be".into()
    } else {
        format!(
            "{findings} finding(s), {differences} difference(s): `onboarding status --json` shows them; \
             `onboarding setup` repairs what you may repair"
        )
    });
    lines.join("\n")
}

pub async fn logout(profile: &str, forget_keys: bool) -> Result<Outcome> {
    // Revoked first, while the token is still here to name; the local files go whatever the provider
    // answers, and the answer says whether it was revoked.
    // Tokens that cannot be read (a forgotten passphrase) cannot be revoked, and are removed all the same.
    let refresh_token = Tokens::load().ok().flatten().and_then(|t| t.refresh_token);
    let revoked = match (refresh_token, Config::load()) {
        (Some(refresh_token), Ok(config)) => {
            match auth::revoke_refresh_token(&config, &http()?, &refresh_token).await {
                Ok(true) => json!(true),
                Ok(false) => json!("the identity provider names no revocation endpoint"),
                Err(error) => json!(error.to_string()),
            }
        }
        _ => json!(false),
    };
    let tokens = Tokens::remove()?;
    let mut had_sessions = false;
    for sessions in [sts::sessions_dir()?, sts::legacy_sessions_dir()?] {
        if sessions.exists() {
            had_sessions = true;
            std::fs::remove_dir_all(&sessions).map_err(crate::error::io_err(&sessions))?;
        }
    }
    let mut keys = false;
    if forget_keys {
        keys = KeyStore::open(profile)?.delete()?;
        Profile::remove(profile)?;
    }
    let mut text = String::from("signed out; the day's MFA session and the role sessions removed");
    match &revoked {
        serde_json::Value::Bool(true) => {
            text.push_str("; the refresh token is revoked at the identity provider")
        }
        serde_json::Value::String(why) => {
            text.push_str(&format!("; the refresh token was not revoked ({why})"))
        }
        _ => {}
    }
    text.push_str(if forget_keys {
        "; the access key is forgotten on this machine (it still exists in AWS)"
    } else {
        "; the access key is kept (`--forget-keys` removes it)"
    });
    Ok(Outcome {
        json: json!({"tokens_removed": tokens, "refresh_token_revoked": revoked,
            "sessions_removed": had_sessions, "key_removed": keys}),
        text,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each written profile's `credential_process` after the binary's name, and its region.
    fn written(name: &str) -> Vec<(String, String)> {
        let profile = Profile {
            username: "dev".into(),
            user_arn: "arn:aws:iam::123456789012:user/dev".into(),
            roles: vec![Role {
                name: "ResourceCreatorRole".into(),
                arn: "arn:aws:iam::123456789012:role/ResourceCreatorRole".into(),
            }],
            mfa_serial: None,
            source_identity: None,
        };
        let value = |section: &Section, key: &str| {
            section
                .entries
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        sections(name, &profile, Some("eu-west-1"))
            .unwrap()
            .iter()
            .map(|section| {
                let command = value(section, "credential_process");
                let arguments = command
                    .split_once(" credential-process")
                    .map(|(_, rest)| rest.to_string())
                    .unwrap_or(command);
                (arguments, value(section, "region"))
            })
            .collect()
    }

    #[test]
    fn the_default_profile_is_not_named_and_any_other_is() {
        let region = || "eu-west-1".to_string();
        assert_eq!(
            written(DEFAULT_PROFILE),
            [
                (String::new(), region()),
                (" --role ResourceCreatorRole".to_string(), region())
            ]
        );
        assert_eq!(
            written("team"),
            [
                (" --profile team".to_string(), region()),
                (
                    " --profile team --role ResourceCreatorRole".to_string(),
                    region()
                )
            ]
        );
    }
}
