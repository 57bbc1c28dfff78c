//! `drift-check`: the comparison of every managed user, grant group and catalog role with its desired
//! state. What the check does (and whether it repairs) comes from the configuration only, so nobody can
//! widen it by sending an event. An event may say two things: `{"account_id": "…"}`, which of the
//! configured accounts to check — the hub (the default) or a member account that holds catalog roles,
//! reached through its spoke role — and `{"run_id": "…"}`, that the check is one account of an
//! organisation run (the drift state machine's Map sends both): its report then goes to the report
//! bucket, an unreachable account is reported there rather than failed, and the alert is left to the
//! run's summary (`drift-org`).

use provisioning::Error;
use provisioning::account::Account;
use provisioning::drift::organization::{
    AccountOutcome, AccountReport, AccountStatus, HubUser, RunId,
};
use provisioning::drift::{BoundedReport, RESULT_LIMIT_BYTES, Report, run, run_for_account};
use provisioning::publish::{ReportBucket, SecurityHub};
use provisioning::state::ObservedUser;
use serde::Serialize;
use serde_json::Value;

use crate::app::App;
use crate::runtime::within_deadline;

/// How many findings the SNS alert lists, worst first.
const ALERT_FINDINGS: usize = 10;

/// The report to an operator's invocation (whole when it fits, see [`bounded`]); to the state machine, the
/// little its Map keeps.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum Answer {
    Report(Box<BoundedReport>),
    Outcome(AccountOutcome),
}

/// What `main` serves: an organisation run's check of one account when the event has a `run_id`,
/// otherwise [`handle`].
pub async fn invoke(app: &App, event: Value) -> provisioning::Result<Answer> {
    let Some(run_id) = run_id(&event)? else {
        let report = handle(app, event).await?;
        return Ok(Answer::Report(Box::new(bounded(app, report).await?)));
    };
    let member = member_account(app, &event)?;
    let Some(bucket) = &app.drift.report_bucket else {
        return Err(Error::InvalidRequest(
            "run_id needs REPORT_BUCKET, where the run's reports are kept".to_string(),
        ));
    };
    let account_id = member.as_ref().unwrap_or(&app.account).id.clone();
    let bucket = ReportBucket::new(app.iam.sdk_config(), bucket);
    // Read once by the run's first step, so that a thousand member accounts do not each read the hub.
    let hub_users = match &member {
        Some(_) => bucket
            .get_if_present::<Vec<HubUser>>(&run_id.hub_users_key())
            .await?
            .map(|users| users.into_iter().map(ObservedUser::from).collect()),
        None => None,
    };
    let (report, error) = match check(app, member.as_ref(), hub_users).await {
        Ok(report) => (Some(report), None),
        // The run goes on without this account; the summary names it.
        Err(unreachable @ Error::AccountUnreachable { .. }) => {
            tracing::warn!(account_id, error = %unreachable, "account unreachable");
            (None, Some(unreachable.to_string()))
        }
        Err(other) => return Err(other),
    };
    if let Some(report) = &report {
        publish(app, report, false).await?;
    }
    let status = if report.is_some() {
        AccountStatus::Checked
    } else {
        AccountStatus::Unreachable
    };
    let key = run_id.account_key(&account_id);
    bucket
        .put(
            &key,
            &AccountReport {
                run_id: run_id.as_str(),
                account_id: report.is_none().then_some(account_id.as_str()),
                status,
                error,
                report: report.as_ref(),
            },
        )
        .await?;
    Ok(Answer::Outcome(AccountOutcome {
        account_id,
        status,
        findings: report.map_or(0, |report| report.findings.len()),
        report_key: key,
    }))
}

/// An operator's result, which Lambda refuses above 6 MB, and only after the repairs ran: a report above
/// [`RESULT_LIMIT_BYTES`] is answered with its worst findings and the count of the others, and, with
/// `REPORT_BUCKET`, kept whole there as a run of its own (`runs/manual-<time>/accounts/<account>.json`,
/// where drift-check may already write), whose key the answer gives.
async fn bounded(app: &App, report: Report) -> provisioning::Result<BoundedReport> {
    let answer = report.bounded(RESULT_LIMIT_BYTES, None);
    let Some(bucket) = app
        .drift
        .report_bucket
        .as_ref()
        .filter(|_| answer.findings_omitted > 0)
    else {
        return Ok(answer);
    };
    let time: String = report
        .checked_at
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect();
    let key = RunId::parse(&format!("manual-{time}"))?.account_key(&report.account_id);
    ReportBucket::new(app.iam.sdk_config(), bucket)
        .put(&key, &report)
        .await?;
    Ok(report.bounded(RESULT_LIMIT_BYTES, Some(key)))
}

/// An operator's check of one account: the whole report back, and the alert sent.
pub async fn handle(app: &App, event: Value) -> provisioning::Result<Report> {
    let member = member_account(app, &event)?;
    let report = check(app, member.as_ref(), None).await?;
    publish(app, &report, true).await?;
    Ok(report)
}

/// The hub's check, or the member account's through its spoke role (judged against `hub_users` when
/// given, otherwise against the hub's users read now).
async fn check(
    app: &App,
    member: Option<&Account>,
    hub_users: Option<Vec<ObservedUser>>,
) -> provisioning::Result<Report> {
    let now = (app.clock)();
    let Some(member) = member else {
        return within_deadline(run(&app.iam, &app.config, &app.drift, &app.account, now)).await;
    };
    within_deadline(async {
        let roles = app
            .config
            .spoke_roles()
            .filter(|role| role.account.as_deref() == Some(member.id.as_str()));
        let iam = app.iam_for(roles, "drift-check").await?;
        run_for_account(
            &iam,
            &app.config,
            &app.drift,
            &app.account,
            member,
            hub_users,
            now,
        )
        .await
    })
    .await
}

/// The findings to the log, the metrics, Security Hub, and (`alert`) the SNS topic.
async fn publish(app: &App, report: &Report, alert: bool) -> provisioning::Result<()> {
    for finding in &report.findings {
        tracing::warn!(
            account_id = %report.account_id,
            rule = finding.rule,
            severity = ?finding.severity,
            resource_arn = %finding.resource_arn,
            remediation = ?finding.remediation,
            remediated = finding.remediated,
            message = %finding.message,
            "drift finding"
        );
    }
    // Embedded Metric Format must be the whole log line, so it bypasses the JSON log formatter.
    for line in report.metric_lines((app.clock)()) {
        println!("{line}");
    }
    if let Some(topic) = &app.drift.alert_topic_arn
        && alert
        && !report.findings.is_empty()
    {
        let (subject, message) = report.alert(ALERT_FINDINGS);
        provisioning::publish::AlertTopic::new(app.iam.sdk_config(), topic)
            .publish(&subject, &message)
            .await?;
    }
    if app.drift.security_hub {
        let sync = SecurityHub::new(app.iam.sdk_config(), &app.account)
            .sync(report)
            .await?;
        tracing::info!(
            imported = sync.imported,
            archived = sync.archived,
            "findings in Security Hub"
        );
    }
    tracing::info!(
        account_id = %report.account_id,
        findings = report.summary.findings,
        iam_calls = report.summary.iam_calls,
        "drift check done"
    );
    Ok(())
}

/// `run_id`, when the check is one account of an organisation run.
fn run_id(event: &Value) -> provisioning::Result<Option<RunId>> {
    match event.get("run_id") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => RunId::parse(text).map(Some),
        Some(_) => Err(Error::InvalidRequest(
            "run_id must be the execution name, as a string".to_string(),
        )),
    }
}

/// The member account `event` asks to check; `None` for the hub (no `account_id`, or the hub's). Any
/// other account is refused: only the accounts the catalog names are checked.
fn member_account(app: &App, event: &Value) -> provisioning::Result<Option<Account>> {
    let Some(requested) = event.get("account_id") else {
        return Ok(None);
    };
    let requested = requested.as_str().ok_or_else(|| {
        Error::InvalidRequest("account_id must be a 12-digit account id as a string".to_string())
    })?;
    if requested == app.account.id {
        return Ok(None);
    }
    if !app
        .config
        .spoke_roles()
        .any(|role| role.account.as_deref() == Some(requested))
    {
        return Err(Error::InvalidRequest(format!(
            "account_id {requested:?} is neither this account nor one that holds a catalog role"
        )));
    }
    Ok(Some(Account {
        id: requested.to_string(),
        partition: app.account.partition.clone(),
    }))
}
