//! `onboarding`: sign in, get set up, and serve `credential_process`. Exit codes: README, "For the people
//! being onboarded".

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};
use onboarding_cli::commands::{self, LoginOptions, Outcome, SetupOptions};
use onboarding_cli::error::{Error, Result};
use onboarding_cli::profile::Profile;
use onboarding_cli::role_env::{self, Format};
use serde_json::json;

#[derive(Parser)]
#[command(
    name = "onboarding",
    version,
    about = "Sign in, get your AWS access set up, and use it"
)]
struct Cli {
    /// Print the answer as JSON on stdout (errors too), for scripts.
    #[arg(long, global = true)]
    json: bool,
    /// Write sign-in tokens, sessions and a key without a keyring unencrypted (not recommended: say it on
    /// every run; setup writes it into the profiles' credential_process).
    #[arg(long, global = true)]
    insecure_plaintext_store: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args)]
struct Login {
    /// Sign in with a code on another device (no browser on this machine).
    #[arg(long)]
    device: bool,
    /// Print the sign-in address instead of opening a browser.
    #[arg(long)]
    no_browser: bool,
}

impl Login {
    fn options(&self) -> LoginOptions {
        LoginOptions {
            device: self.device,
            no_browser: self.no_browser,
        }
    }
}

#[derive(Subcommand)]
enum Command {
    /// Everything at once: remember the API, sign in, create your user and key, write ~/.aws/config,
    /// enrol MFA, and prove it by assuming your first role.
    Setup {
        /// The URL your platform team gave you (only needed the first time).
        api_url: Option<String>,
        /// Name of the AWS profile to write; each role gets `<profile>-<role>`.
        #[arg(long, default_value_t = default_profile())]
        profile: String,
        /// A role to ask for (repeatable); default: every self-service role.
        #[arg(long = "role")]
        roles: Vec<String>,
        #[command(flatten)]
        login: Login,
    },
    /// Sign in with your company's identity provider.
    Login(Login),
    /// Print credentials for the AWS CLI and SDKs (`credential_process` in ~/.aws/config).
    CredentialProcess {
        #[arg(long, default_value_t = default_profile())]
        profile: String,
        /// Assume this role with MFA (the code is asked on the terminal once per session).
        #[arg(long)]
        role: Option<String>,
    },
    /// Assume a role with MFA now and cache the session, for tools that cannot ask for a code.
    Assume {
        #[arg(long, default_value_t = default_profile())]
        profile: String,
        #[arg(long)]
        role: String,
    },
    /// Run one command with a role session's keys in its environment only (exit code passed through).
    Exec {
        #[arg(long, default_value_t = default_profile())]
        profile: String,
        #[arg(long)]
        role: String,
        /// The command and its arguments, after `--`.
        #[arg(last = true, required = true)]
        command: Vec<String>,
    },
    /// Print a role session as environment variables for a shell to evaluate.
    Env {
        #[arg(long, default_value_t = default_profile())]
        profile: String,
        #[arg(long)]
        role: String,
        #[arg(long, value_enum, default_value = "sh")]
        format: Format,
    },
    /// Open the AWS console as a role (a sign-in link from the role session; never the long-term key).
    Console {
        #[arg(long, default_value_t = default_profile())]
        profile: String,
        #[arg(long)]
        role: String,
        /// Print the link (valid 15 minutes, once) instead of opening a browser.
        #[arg(long)]
        print: bool,
    },
    /// Print the manual page (roff), e.g. `onboarding man > ~/.local/share/man/man1/onboarding.1`.
    Man,
    /// Print the completion script for a shell (e.g. `onboarding completions bash > /etc/bash_completion.d/onboarding`).
    Completions { shell: clap_complete::Shell },
    /// A new access key, stored and proven with AWS, then the old one deleted: one key left.
    Rotate {
        #[arg(long, default_value_t = default_profile())]
        profile: String,
        #[command(flatten)]
        login: Login,
    },
    /// Your user as AWS has it: roles, MFA, keys, anything out of place.
    Status {
        #[arg(long, default_value_t = default_profile())]
        profile: String,
        #[command(flatten)]
        login: Login,
    },
    /// Forget the sign-in and cached role sessions (the access key stays unless --forget-keys).
    Logout {
        #[arg(long, default_value_t = default_profile())]
        profile: String,
        /// Also remove the access key's secret from this machine.
        #[arg(long)]
        forget_keys: bool,
    },
}

/// `--profile`'s default: `AWS_PROFILE` when it names a profile `setup` wrote here (a person who exported
/// it expects every command to follow), else `onboarding`.
fn default_profile() -> String {
    std::env::var("AWS_PROFILE")
        .ok()
        .filter(|name| matches!(Profile::load(name), Ok(Some(_))))
        .unwrap_or_else(|| onboarding_cli::profile::DEFAULT_PROFILE.to_string())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let json = cli.json;
    onboarding_cli::vault::choose(cli.insecure_plaintext_store);
    match run(cli.command).await {
        Ok(Ran::Child(code)) => ExitCode::from(code),
        Ok(Ran::Outcome(Some(outcome))) => {
            if json {
                println!("{}", outcome.json);
            } else {
                println!("{}", outcome.text);
            }
            ExitCode::SUCCESS
        }
        Ok(Ran::Outcome(None)) => ExitCode::SUCCESS,
        Err(error) => {
            report(&error, json);
            ExitCode::from(error.exit_code())
        }
    }
}

enum Ran {
    /// `None` when the command printed its own answer (credential-process, env: their text is the
    /// contract).
    Outcome(Option<Outcome>),
    /// `exec`: the child's exit code, which becomes ours.
    Child(u8),
}

async fn run(command: Command) -> Result<Ran> {
    Ok(Ran::Outcome(Some(match command {
        Command::Setup {
            api_url,
            profile,
            roles,
            login,
        } => {
            commands::setup(&SetupOptions {
                api_url,
                profile,
                roles,
                login: login.options(),
            })
            .await?
        }
        Command::Login(login) => commands::login(&login.options()).await?,
        Command::CredentialProcess { profile, role } => {
            let credentials = commands::credential_process(&profile, role.as_deref()).await?;
            let text =
                serde_json::to_string(&credentials).map_err(|e| Error::Input(e.to_string()))?;
            println!("{text}");
            return Ok(Ran::Outcome(None));
        }
        Command::Exec {
            profile,
            role,
            command,
        } => return Ok(Ran::Child(commands::exec(&profile, &role, &command).await?)),
        Command::Env {
            profile,
            role,
            format,
        } => {
            let credentials = commands::credential_process(&profile, Some(&role)).await?;
            println!("{}", role_env::render(&credentials, format)?);
            return Ok(Ran::Outcome(None));
        }
        Command::Man => {
            clap_mangen::Man::new(Cli::command())
                .render(&mut std::io::stdout())
                .map_err(|e| Error::Input(format!("the manual page: {e}")))?;
            return Ok(Ran::Outcome(None));
        }
        Command::Completions { shell } => {
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "onboarding",
                &mut std::io::stdout(),
            );
            return Ok(Ran::Outcome(None));
        }
        Command::Assume { profile, role } => commands::assume(&profile, &role).await?,
        Command::Console {
            profile,
            role,
            print,
        } => commands::console(&profile, &role, print).await?,
        Command::Rotate { profile, login } => commands::rotate(&profile, &login.options()).await?,
        Command::Status { profile, login } => commands::status(&profile, &login.options()).await?,
        Command::Logout {
            profile,
            forget_keys,
        } => commands::logout(&profile, forget_keys).await?,
    })))
}

fn report(error: &Error, json: bool) {
    if json {
        println!(
            "{}",
            json!({"error": {"code": error.code(), "message": error.to_string(), "next": error.hint()}})
        );
    } else {
        eprintln!("error: {error} [{}]\nnext: {}", error.code(), error.hint());
    }
}
