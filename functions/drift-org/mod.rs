//! `drift-org`: the two steps of the drift state machine (template.yaml, DriftStateMachine) around its
//! Map, which invokes `drift-check` once per account.
//!
//! - `{"step": "accounts", "run_id": "<execution name>"}`: the accounts this run checks (the hub and each
//!   live account holding catalog roles, the Organization or `SPOKE_ACCOUNT_IDS` saying which are live),
//!   and the Map's limits; the hub's users, read once, go to the report bucket for the member accounts'
//!   checks.
//! - `{"step": "summary", "run_id": "<execution name>", "run": <the run's state>}`: reads every account
//!   report of the run from the report bucket, writes the run's summary beside them, and sends the run's
//!   one alert.

use std::collections::BTreeSet;

use provisioning::Error;
use provisioning::drift::organization::{
    AccountsToCheck, HubUser, OrganizationSummary, RunId, StoredReport, accounts_to_check,
};
use provisioning::iam::organization::active_accounts;
use provisioning::publish::{AlertTopic, ReportBucket};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::app::App;
use crate::runtime::within_deadline;

/// How many of the most drifted accounts the alert names.
const ALERT_ACCOUNTS: usize = 10;

#[derive(Debug, Deserialize)]
#[serde(tag = "step", rename_all = "lowercase", deny_unknown_fields)]
enum Step {
    Accounts { run_id: String },
    Summary { run_id: String, run: RunState },
}

/// The state the Map leaves: what the accounts step listed, and the Map's error if it stopped. The
/// execution's own input (the schedule's event) is in it too, and ignored.
#[derive(Debug, Deserialize)]
struct RunState {
    listed: AccountsToCheck,
    #[serde(default)]
    map_error: Option<MapError>,
}

/// A Catch's `ResultPath` value: Step Functions' error name and cause.
#[derive(Debug, Deserialize)]
struct MapError {
    #[serde(rename = "Error", default)]
    error: String,
    #[serde(rename = "Cause", default)]
    cause: String,
}

#[derive(Debug, Serialize)]
pub struct Listed {
    #[serde(flatten)]
    accounts: AccountsToCheck,
    max_concurrency: u32,
    tolerated_failure_percentage: u32,
}

#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum Answer {
    Listed(Listed),
    Summary(Box<OrganizationSummary>),
}

pub async fn handle(app: &App, event: Value) -> provisioning::Result<Answer> {
    let step: Step = serde_json::from_value(event).map_err(|error| {
        Error::InvalidRequest(format!(
            "expected {{\"step\": \"accounts\"}} or {{\"step\": \"summary\", \"run_id\", \"run\"}}: {error}"
        ))
    })?;
    match step {
        Step::Accounts { run_id } => {
            let run_id = RunId::parse(&run_id)?;
            within_deadline(list(app, &run_id))
                .await
                .map(Answer::Listed)
        }
        Step::Summary { run_id, run } => {
            let run_id = RunId::parse(&run_id)?;
            within_deadline(summarize(app, &run_id, run))
                .await
                .map(|summary| Answer::Summary(Box::new(summary)))
        }
    }
}

async fn list(app: &App, run_id: &RunId) -> provisioning::Result<Listed> {
    let live: BTreeSet<String> = if app.drift.organization_accounts {
        active_accounts(app.iam.sdk_config()).await?
    } else {
        app.drift.spoke_account_ids.clone()
    };
    let accounts = accounts_to_check(&app.account, &app.config, &live);
    if accounts.accounts.len() > 1 {
        let users: Vec<HubUser> = app
            .iam
            .hub_users(&app.config)
            .await?
            .iter()
            .map(HubUser::from)
            .collect();
        report_bucket(app)?
            .put(&run_id.hub_users_key(), &users)
            .await?;
    }
    tracing::info!(
        accounts = accounts.accounts.len(),
        not_live = accounts.not_live.len(),
        "accounts to check"
    );
    Ok(Listed {
        accounts,
        max_concurrency: app.drift.max_concurrency,
        tolerated_failure_percentage: app.drift.tolerated_failure_percentage,
    })
}

fn report_bucket(app: &App) -> provisioning::Result<ReportBucket> {
    let bucket = app.drift.report_bucket.as_ref().ok_or_else(|| {
        Error::InvalidRequest(
            "drift-org needs REPORT_BUCKET, where a run's reports are".to_string(),
        )
    })?;
    Ok(ReportBucket::new(app.iam.sdk_config(), bucket))
}

async fn summarize(
    app: &App,
    run_id: &RunId,
    run: RunState,
) -> provisioning::Result<OrganizationSummary> {
    let bucket = report_bucket(app)?;
    let reports: Vec<StoredReport> = bucket.read_all(&run_id.accounts_prefix()).await?;
    let run_failed = run
        .map_error
        .map(|failure| format!("{}: {}", failure.error, failure.cause));
    let summary = OrganizationSummary::new(
        run_id,
        &run.listed,
        &reports,
        run_failed,
        provisioning::timestamps::rfc3339((app.clock)()),
    );
    bucket.put(&run_id.summary_key(), &summary).await?;
    if let Some(topic) = &app.drift.alert_topic_arn
        && let Some((subject, message)) = summary.alert(ALERT_ACCOUNTS)
    {
        AlertTopic::new(app.iam.sdk_config(), topic)
            .publish(&subject, &message)
            .await?;
    }
    tracing::info!(
        run_id = run_id.as_str(),
        accounts = summary.accounts,
        checked = summary.checked,
        findings = summary.findings,
        not_checked = summary.not_checked.len(),
        "organisation run summarized"
    );
    Ok(summary)
}
