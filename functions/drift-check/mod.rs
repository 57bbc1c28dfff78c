//! `drift-check`: the scheduled comparison of every managed user, grant group and catalog role with its
//! desired state. What the check does (and whether it repairs) comes from the configuration only, so
//! nobody can widen it by sending an event: the one thing an event may say is `{"account_id": "…"}`,
//! which of the configured accounts to check — the hub (the default) or a member account that holds
//! catalog roles, reached through its spoke role.

use provisioning::Error;
use provisioning::account::Account;
use provisioning::drift::{Report, run, run_for_account};
use provisioning::publish::SecurityHub;
use serde_json::Value;

use crate::app::App;
use crate::runtime::within_deadline;

/// How many findings the SNS alert lists, worst first.
const ALERT_FINDINGS: usize = 10;

pub async fn handle(app: &App, event: Value) -> provisioning::Result<Report> {
    let now = (app.clock)();
    let report = match member_account(app, &event)? {
        None => within_deadline(run(&app.iam, &app.config, &app.drift, &app.account, now)).await?,
        Some(member) => {
            within_deadline(async {
                let roles = app
                    .config
                    .spoke_roles()
                    .filter(|role| role.account.as_deref() == Some(member.id.as_str()));
                let iam = app.iam_for(roles, "drift-check").await?;
                run_for_account(&iam, &app.config, &app.drift, &app.account, &member, now).await
            })
            .await?
        }
    };
    for finding in &report.findings {
        tracing::warn!(
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
    for line in report.metric_lines(now) {
        println!("{line}");
    }
    if let Some(topic) = &app.drift.alert_topic_arn
        && !report.findings.is_empty()
    {
        let (subject, message) = report.alert(ALERT_FINDINGS);
        provisioning::publish::AlertTopic::new(app.iam.sdk_config(), topic)
            .publish(&subject, &message)
            .await?;
    }
    if app.drift.security_hub {
        let sync = SecurityHub::new(app.iam.sdk_config(), &app.account)
            .sync(&report)
            .await?;
        tracing::info!(
            imported = sync.imported,
            archived = sync.archived,
            "findings in Security Hub"
        );
    }
    tracing::info!(
        findings = report.summary.findings,
        iam_calls = report.summary.iam_calls,
        "drift check done"
    );
    Ok(report)
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
