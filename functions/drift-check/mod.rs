//! `drift-check`: the scheduled comparison of every managed user, grant group and catalog role with its
//! desired state. The event's content is ignored: what the check does (and whether it repairs) comes
//! from the configuration only, so nobody can widen it by sending an event.

use provisioning::drift::{Report, run};
use provisioning::publish::SecurityHub;
use serde_json::Value;

use crate::app::App;
use crate::runtime::within_deadline;

/// How many findings the SNS alert lists, worst first.
const ALERT_FINDINGS: usize = 10;

pub async fn handle(app: &App, _event: Value) -> provisioning::Result<Report> {
    let now = (app.clock)();
    let report = within_deadline(run(&app.iam, &app.config, &app.drift, &app.account, now)).await?;
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
