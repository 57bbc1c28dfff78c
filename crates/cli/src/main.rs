//! `onboarding`: sign in, get set up, and serve `credential_process`. Exit codes: README, "For the people
//! being onboarded".

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use onboarding_cli::commands::{self, LoginOptions, Outcome, SetupOptions};
use onboarding_cli::error::{Error, Result};
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
        #[arg(long, default_value = "onboarding")]
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
        #[arg(long, default_value = "onboarding")]
        profile: String,
        /// Assume this role with MFA (the code is asked on the terminal once per session).
        #[arg(long)]
        role: Option<String>,
    },
    /// Assume a role with MFA now and cache the session, for tools that cannot ask for a code.
    Assume {
        #[arg(long, default_value = "onboarding")]
        profile: String,
        #[arg(long)]
        role: String,
    },
    /// A new access key, stored and proven with AWS, then the old one deleted: one key left.
    Rotate {
        #[arg(long, default_value = "onboarding")]
        profile: String,
        #[command(flatten)]
        login: Login,
    },
    /// Your user as AWS has it: roles, MFA, keys, anything out of place.
    Status {
        #[arg(long, default_value = "onboarding")]
        profile: String,
        #[command(flatten)]
        login: Login,
    },
    /// Forget the sign-in and cached role sessions (the access key stays unless --forget-keys).
    Logout {
        #[arg(long, default_value = "onboarding")]
        profile: String,
        /// Also remove the access key's secret from this machine.
        #[arg(long)]
        forget_keys: bool,
    },
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let json = cli.json;
    match run(cli.command).await {
        Ok(Some(outcome)) => {
            if json {
                println!("{}", outcome.json);
            } else {
                println!("{}", outcome.text);
            }
            ExitCode::SUCCESS
        }
        Ok(None) => ExitCode::SUCCESS,
        Err(error) => {
            report(&error, json);
            ExitCode::from(error.exit_code())
        }
    }
}

/// `None` when the command printed its own answer (credential-process: its JSON is the contract).
async fn run(command: Command) -> Result<Option<Outcome>> {
    Ok(Some(match command {
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
            return Ok(None);
        }
        Command::Assume { profile, role } => commands::assume(&profile, &role).await?,
        Command::Rotate { profile, login } => commands::rotate(&profile, &login.options()).await?,
        Command::Status { profile, login } => commands::status(&profile, &login.options()).await?,
        Command::Logout {
            profile,
            forget_keys,
        } => commands::logout(&profile, forget_keys)?,
    }))
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
