//! Start-up, done once per Lambda execution environment: logging, configuration, AWS clients, and the
//! account id. Anything invalid here fails the init, never a later request.

use std::time::SystemTime;

use aws_config::SdkConfig;
use provisioning::account::Account;
use provisioning::config::{CatalogRole, Config, ConfigError, DriftSettings};
use provisioning::iam::events::EventBus;
use provisioning::iam::{Iam, load_sdk_config};
use provisioning::outcomes::event_bus_name;
use tracing_subscriber::util::SubscriberInitExt;

pub struct App {
    pub config: Config,
    pub iam: Iam,
    pub account: Account,
    pub clock: fn() -> SystemTime,
    /// `EVENT_BUS_NAME`: where onboarding and offboarding outcomes are published; `None` publishes nothing.
    pub events: Option<EventBus>,
    /// The drift rules' limits and, for `drift-check`, whether to repair; `status` applies the same rules.
    pub drift: DriftSettings,
}

#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("could not discover the AWS account: {0}")]
    Account(#[from] provisioning::Error),
    #[error("could not read the role catalog from ROLE_CATALOG_PARAMETER {name}: {source}")]
    CatalogParameter {
        name: String,
        #[source]
        source: provisioning::Error,
    },
}

impl App {
    pub async fn from_env() -> Result<Self, InitError> {
        let sdk_config = load_sdk_config().await;
        let config = config_from(&sdk_config, |name| std::env::var(name).ok()).await?;
        let drift = DriftSettings::from_env()?;
        let bus = event_bus_name(|name| std::env::var(name).ok())?;
        let app = App {
            drift,
            ..Self::new(config, &sdk_config).await?
        };
        Ok(match bus {
            Some(name) => app.with_event_bus(EventBus::new(&sdk_config, name)),
            None => app,
        })
    }

    pub fn with_event_bus(self, events: EventBus) -> Self {
        App {
            events: Some(events),
            ..self
        }
    }

    pub async fn new(config: Config, sdk_config: &SdkConfig) -> Result<Self, InitError> {
        let iam = Iam::new(sdk_config);
        let account = iam.account().await?;
        let iam = iam.with_catalog(&config, &account);
        Ok(App {
            config,
            iam,
            account,
            clock: SystemTime::now,
            events: None,
            drift: DriftSettings::default(),
        })
    }
}

/// The configuration from `lookup` (the environment), the catalog from the SSM parameter
/// `ROLE_CATALOG_PARAMETER` names when it is set (it then wins over `ROLE_CATALOG`): read once, here, so
/// that a catalog the functions cannot use fails the init, never a request.
pub async fn config_from(
    sdk_config: &SdkConfig,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<Config, InitError> {
    let parameter = lookup("ROLE_CATALOG_PARAMETER").filter(|name| !name.trim().is_empty());
    let catalog = match &parameter {
        Some(name) => Some(
            provisioning::iam::catalog_parameter::read(sdk_config, name.trim())
                .await
                .map_err(|source| InitError::CatalogParameter {
                    name: name.clone(),
                    source,
                })?,
        ),
        None => None,
    };
    Ok(Config::from_lookup(|name| match (name, &catalog) {
        ("ROLE_CATALOG", Some(catalog)) => Some(catalog.clone()),
        _ => lookup(name),
    })?)
}

impl App {
    /// The IAM adapter for one request, reaching the accounts `roles` live in besides the hub (their
    /// spoke roles assumed in a session named after `request_id`).
    pub async fn iam_for<'a>(
        &self,
        roles: impl IntoIterator<Item = &'a CatalogRole>,
        request_id: &str,
    ) -> provisioning::Result<Iam> {
        self.iam
            .reach_spokes(&self.account, roles, request_id)
            .await
    }
}

/// What a function answers, which decides what its init requires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Serves {
    /// A self-service route (`POST /users`, `POST /users/{u}/mfa`, `GET /users/{u}`,
    /// `POST|DELETE /users/{u}/access-keys`): without an eligibility rule it must not start at all.
    SelfService,
    /// Admin routes, EventBridge requests, the schedule.
    Others,
}

/// What every function's `main` does before serving: logging first, so that a failed init is logged too.
pub async fn init(serves: Serves) -> Result<App, InitError> {
    init_tracing();
    App::from_env()
        .await
        .and_then(|app| {
            if serves == Serves::SelfService {
                app.config.eligibility.require_a_rule()?;
            }
            Ok(app)
        })
        .inspect_err(|error| tracing::error!(error = %error, "init failed"))
}

/// JSON logs, one object per line, as CloudWatch Logs Insights reads them, at the level `log_level` picks;
/// plain text when the function's log format is set to Text in Lambda's logging configuration.
fn init_tracing() {
    let lookup = |name: &str| std::env::var(name).ok();
    let filter = tracing_subscriber::EnvFilter::new(log_level(lookup));
    let _ = if lookup("AWS_LAMBDA_LOG_FORMAT")
        .is_some_and(|format| format.eq_ignore_ascii_case("text"))
    {
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_target(false)
            .with_ansi(false)
            .finish()
            .try_init()
    } else {
        json_logs(filter, std::io::stdout).try_init()
    };
}

/// The log level: the one an operator set in Lambda's logging configuration (`AWS_LAMBDA_LOG_LEVEL`,
/// which Lambda sets only then: it wins over the template's default), else `RUST_LOG`, else `info`.
pub fn log_level(lookup: impl Fn(&str) -> Option<String>) -> String {
    let from_lambda = lookup("AWS_LAMBDA_LOG_LEVEL").and_then(|level| {
        match level.trim().to_ascii_uppercase().as_str() {
            "TRACE" => Some("trace"),
            "DEBUG" => Some("debug"),
            "INFO" => Some("info"),
            "WARN" => Some("warn"),
            // tracing has no level above error.
            "ERROR" | "FATAL" => Some("error"),
            _ => None,
        }
    });
    match from_lambda {
        Some(level) => level.to_string(),
        None => lookup("RUST_LOG")
            .filter(|directives| !directives.trim().is_empty())
            .unwrap_or_else(|| "info".to_string()),
    }
}

/// The functions' log format, writing to `writer` (tests read it back).
pub fn json_logs<W>(
    filter: tracing_subscriber::EnvFilter,
    writer: W,
) -> impl tracing::Subscriber + Send + Sync
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(false)
        .with_target(false)
        .with_writer(writer)
        .finish()
}

/// How a failed invocation (not an HTTP refusal) is reported to Lambda, and counted: the error type says
/// whether a retry can help, so that EventBridge retries and alarms can tell throttling from a broken
/// deployment.
pub fn diagnostic(error: provisioning::Error) -> lambda_runtime::Diagnostic {
    crate::metrics::count_failure(&error);
    let kind = if error.is_retryable() {
        "Retryable"
    } else {
        "NonRetryable"
    };
    lambda_runtime::Diagnostic {
        error_type: format!("{kind}.{}", error.code()),
        error_message: error.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn the_log_level_set_in_lambdas_console_wins_over_the_templates_default() {
        assert_eq!(log_level(env(&[])), "info");
        assert_eq!(log_level(env(&[("RUST_LOG", "debug")])), "debug");
        assert_eq!(
            log_level(env(&[
                ("RUST_LOG", "info"),
                ("AWS_LAMBDA_LOG_LEVEL", "DEBUG")
            ])),
            "debug"
        );
        assert_eq!(
            log_level(env(&[("AWS_LAMBDA_LOG_LEVEL", "FATAL")])),
            "error"
        );
        assert_eq!(log_level(env(&[("AWS_LAMBDA_LOG_LEVEL", "warn")])), "warn");
        assert_eq!(
            log_level(env(&[
                ("RUST_LOG", "trace"),
                ("AWS_LAMBDA_LOG_LEVEL", "LOUD")
            ])),
            "trace",
            "an unknown level is ignored"
        );
    }
}
