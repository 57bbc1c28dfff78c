//! Start-up, done once per Lambda execution environment: logging, configuration, AWS clients, and the
//! account id. Anything invalid here fails the init, never a later request.

use std::time::SystemTime;

use aws_config::SdkConfig;
use provisioning::account::Account;
use provisioning::config::{Config, ConfigError};
use provisioning::iam::{Iam, load_sdk_config};

pub struct App {
    pub config: Config,
    pub iam: Iam,
    pub account: Account,
    pub clock: fn() -> SystemTime,
}

#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("could not discover the AWS account: {0}")]
    Account(#[from] provisioning::Error),
}

impl App {
    pub async fn from_env() -> Result<Self, InitError> {
        let config = Config::from_env()?;
        Self::new(config, &load_sdk_config().await).await
    }

    pub async fn new(config: Config, sdk_config: &SdkConfig) -> Result<Self, InitError> {
        let iam = Iam::new(sdk_config);
        let account = iam.account().await?;
        Ok(App {
            config,
            iam,
            account,
            clock: SystemTime::now,
        })
    }
}

/// What every function's `main` does before serving: logging first, so that a failed init is logged too.
pub async fn init() -> Result<App, InitError> {
    init_tracing();
    App::from_env()
        .await
        .inspect_err(|error| tracing::error!(error = %error, "init failed"))
}

/// JSON logs, one object per line, as CloudWatch Logs Insights reads them. `RUST_LOG` sets the level.
fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(false)
        .with_target(false)
        .init();
}
