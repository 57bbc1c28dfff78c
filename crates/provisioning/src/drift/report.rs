//! The report of one check: findings, summary, metrics (Embedded Metric Format) and the alert text.

use super::*;

#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub users: usize,
    pub groups: usize,
    pub roles: usize,
    pub findings: usize,
    pub by_severity: BTreeMap<Severity, usize>,
    pub iam_calls: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub checked_at: String,
    pub account_id: String,
    pub summary: Summary,
    pub findings: Vec<Finding>,
}

/// What an operator's invocation gets back: Lambda refuses a result above 6 MB, and only after the repairs
/// have run, so the answer is kept well under that whatever the account holds.
pub const RESULT_LIMIT_BYTES: usize = 256 * 1024;

/// The report as an invocation's result: the summary and as many findings as fit under a limit, worst
/// first, with how many were left out and where the whole report is, when it was kept.
#[derive(Debug, Clone, Serialize)]
pub struct BoundedReport {
    #[serde(flatten)]
    pub report: Report,
    #[serde(skip_serializing_if = "is_zero")]
    pub findings_omitted: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report_key: Option<String>,
}

fn is_zero(count: &usize) -> bool {
    *count == 0
}

impl Report {
    /// The whole report when it fits in `limit` bytes of JSON; otherwise its worst findings that do (the
    /// summary still counts them all), and how many were left out.
    pub fn bounded(&self, limit: usize, report_key: Option<String>) -> BoundedReport {
        let size =
            |report: &Report| serde_json::to_vec(report).map_or(usize::MAX, |json| json.len());
        let mut kept = self.clone();
        if size(&kept) > limit {
            kept.findings
                .sort_by(|a, b| b.severity.cmp(&a.severity).then(a.rule.cmp(b.rule)));
            let mut head = kept.clone();
            head.findings.clear();
            // Room for the two extra fields the answer then carries.
            let mut used = size(&head) + 200 + report_key.as_ref().map_or(0, String::len);
            let mut fitting = 0;
            for finding in &kept.findings {
                let cost = serde_json::to_vec(finding).map_or(usize::MAX, |json| json.len() + 1);
                if used.saturating_add(cost) > limit {
                    break;
                }
                used += cost;
                fitting += 1;
            }
            kept.findings.truncate(fitting);
        }
        BoundedReport {
            findings_omitted: self.findings.len() - kept.findings.len(),
            report: kept,
            report_key,
        }
    }

    pub fn new(
        snapshot: &AccountSnapshot,
        config: &Config,
        account: &Account,
        findings: Vec<Finding>,
        iam_calls: usize,
        now: SystemTime,
    ) -> Self {
        let mut by_severity = BTreeMap::new();
        for finding in &findings {
            *by_severity.entry(finding.severity).or_insert(0) += 1;
        }
        Report {
            checked_at: crate::timestamps::rfc3339(now),
            account_id: account.id.clone(),
            summary: Summary {
                users: snapshot
                    .users
                    .iter()
                    .filter(|user| user.is_managed(config))
                    .count(),
                groups: snapshot.groups.len(),
                roles: snapshot.roles.len(),
                findings: findings.len(),
                by_severity,
                iam_calls,
            },
            findings,
        }
    }

    /// One CloudWatch Embedded Metric Format document per rule, zero counts included so that alarms
    /// see data every day.
    pub fn metric_lines(&self, now: SystemTime) -> Vec<String> {
        let millis = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or_default();
        RULES
            .iter()
            .map(|rule| {
                let count = self.findings.iter().filter(|f| f.rule == *rule).count();
                json!({
                    "_aws": {
                        "Timestamp": millis,
                        "CloudWatchMetrics": [{
                            "Namespace": "IamOnboarding/Drift",
                            "Dimensions": [["Rule"]],
                            "Metrics": [{"Name": "Findings", "Unit": "Count"}]
                        }]
                    },
                    "Rule": rule,
                    "Findings": count
                })
                .to_string()
            })
            .collect()
    }

    /// The SNS alert: the summary and the worst findings first. Findings never hold secrets.
    pub fn alert(&self, worst: usize) -> (String, String) {
        let mut findings: Vec<&Finding> = self.findings.iter().collect();
        findings.sort_by_key(|finding| std::cmp::Reverse(finding.severity));
        let subject = format!(
            "IAM drift in {}: {} finding(s)",
            self.account_id, self.summary.findings
        );
        let body = json!({
            "checked_at": self.checked_at,
            "account_id": self.account_id,
            "summary": self.summary,
            "worst_findings": findings.into_iter().take(worst).map(|f| json!({
                "rule": f.rule, "severity": f.severity, "resource_arn": f.resource_arn, "message": f.message,
                "remediation": f.remediation, "remediated": f.remediated
            })).collect::<Vec<_>>()
        });
        (
            subject,
            serde_json::to_string_pretty(&body).unwrap_or_default(),
        )
    }
}
