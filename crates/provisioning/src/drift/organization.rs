//! The organisation-wide run (the drift state machine in template.yaml): which accounts one run checks,
//! the report each account leaves in the report bucket, and the one summary — and one alert — per run.
//!
//! The Organization (or `SPOKE_ACCOUNT_IDS`) says which accounts are live; the catalog says which hold
//! roles. A run checks the hub and every live account that holds a catalog role, and reports the catalog's
//! accounts that are not live instead of failing on them.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::account::Account;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::state::ObservedUser;

use super::Report;

/// The accounts one run checks, and those the catalog names that it cannot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountsToCheck {
    /// The hub first, then the member accounts holding catalog roles, each once.
    pub accounts: Vec<String>,
    /// Catalog accounts that are not live: not an active account of the Organization, or not in
    /// `SPOKE_ACCOUNT_IDS` (so the hub's functions may not assume their spoke role).
    pub not_live: Vec<String>,
}

pub fn accounts_to_check(
    hub: &Account,
    config: &Config,
    live: &BTreeSet<String>,
) -> AccountsToCheck {
    let catalog_accounts: BTreeSet<&str> = config
        .spoke_roles()
        .filter_map(|role| role.account.as_deref())
        .filter(|account| *account != hub.id)
        .collect();
    let (checked, not_live): (Vec<&str>, Vec<&str>) = catalog_accounts
        .into_iter()
        .partition(|account| live.contains(*account));
    AccountsToCheck {
        accounts: std::iter::once(hub.id.clone())
            .chain(checked.into_iter().map(str::to_string))
            .collect(),
        not_live: not_live.into_iter().map(str::to_string).collect(),
    }
}

/// A run's name, which names its objects in the report bucket: the state machine's execution name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunId(String);

impl RunId {
    /// Letters, digits, `-`, `_` and `.`, at most 80 (an execution name's limit): nothing that could
    /// step outside `runs/<run id>/` in a key.
    pub fn parse(text: &str) -> Result<Self> {
        let plausible = !text.is_empty()
            && text.len() <= 80
            && text != "."
            && text != ".."
            && text
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if plausible {
            Ok(RunId(text.to_string()))
        } else {
            Err(Error::InvalidRequest(format!(
                "run_id {text:?} must be 1 to 80 letters, digits, '-', '_' or '.'"
            )))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Where each account's report of this run is kept.
    pub fn accounts_prefix(&self) -> String {
        format!("runs/{}/accounts/", self.0)
    }

    pub fn account_key(&self, account_id: &str) -> String {
        format!("{}{account_id}.json", self.accounts_prefix())
    }

    pub fn summary_key(&self) -> String {
        format!("runs/{}/summary.json", self.0)
    }

    /// The hub's users as the run's first step read them, for every member account's check.
    pub fn hub_users_key(&self) -> String {
        format!("runs/{}/hub-users.json", self.0)
    }
}

/// A hub user as a member account's check needs it: who it is, and the marks that say which catalog
/// roles it holds (tags, grant groups, inline grant policies).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HubUser {
    pub name: String,
    pub arn: String,
    pub path: String,
    pub tags: BTreeMap<String, String>,
    pub groups: Vec<String>,
    pub inline_policies: BTreeMap<String, serde_json::Value>,
}

impl From<&ObservedUser> for HubUser {
    fn from(user: &ObservedUser) -> Self {
        HubUser {
            name: user.name.clone(),
            arn: user.arn.clone(),
            path: user.path.clone(),
            tags: user.tags.clone(),
            groups: user.groups.clone(),
            inline_policies: user.inline_policies.clone(),
        }
    }
}

impl From<HubUser> for ObservedUser {
    fn from(user: HubUser) -> Self {
        ObservedUser {
            name: user.name,
            arn: user.arn,
            path: user.path,
            tags: user.tags,
            groups: user.groups,
            inline_policies: user.inline_policies,
            ..ObservedUser::default()
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AccountStatus {
    Checked,
    /// Its spoke role could not be assumed: nothing there was read.
    Unreachable,
}

/// What one account's check of a run leaves in the bucket: the whole report, or why there is none.
#[derive(Debug, Clone, Serialize)]
pub struct AccountReport<'a> {
    pub run_id: &'a str,
    pub status: AccountStatus,
    /// The report's own `account_id` when there is a report.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", flatten)]
    pub report: Option<&'a Report>,
}

/// The little the Map keeps of each account (its execution history), the report being in the bucket.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AccountOutcome {
    pub account_id: String,
    pub status: AccountStatus,
    pub findings: usize,
    pub report_key: String,
}

/// An account's report as read back from the bucket: only what the summary counts.
#[derive(Debug, Clone, Deserialize)]
pub struct StoredReport {
    pub account_id: String,
    pub status: AccountStatus,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub findings: Vec<StoredFinding>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct StoredFinding {
    pub rule: String,
    #[serde(default)]
    pub remediated: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NotChecked {
    pub account_id: String,
    pub reason: String,
}

/// The organisation summary of one run (`runs/<run id>/summary.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OrganizationSummary {
    pub run_id: String,
    pub summarized_at: String,
    /// Accounts the run set out to check (the hub and the live catalog accounts).
    pub accounts: usize,
    pub checked: usize,
    pub findings: usize,
    pub repaired: usize,
    pub by_rule: BTreeMap<String, usize>,
    /// Every checked account, with its number of findings (zero included).
    pub by_account: BTreeMap<String, usize>,
    /// Accounts with no findings to show: unreachable, not live, or whose check failed after its retries.
    pub not_checked: Vec<NotChecked>,
    /// Why the Map itself stopped (more failures than tolerated), if it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_failed: Option<String>,
}

impl OrganizationSummary {
    pub fn new(
        run_id: &RunId,
        listed: &AccountsToCheck,
        reports: &[StoredReport],
        run_failed: Option<String>,
        summarized_at: String,
    ) -> Self {
        let mut summary = OrganizationSummary {
            run_id: run_id.as_str().to_string(),
            summarized_at,
            accounts: listed.accounts.len(),
            checked: 0,
            findings: 0,
            repaired: 0,
            by_rule: BTreeMap::new(),
            by_account: BTreeMap::new(),
            not_checked: Vec::new(),
            run_failed,
        };
        // Only the accounts this run listed: an object under the run's prefix for any other account was
        // not written by this run's checks.
        let reports: BTreeMap<&str, &StoredReport> = reports
            .iter()
            .filter(|report| listed.accounts.contains(&report.account_id))
            .map(|report| (report.account_id.as_str(), report))
            .collect();
        for account in &listed.accounts {
            match reports.get(account.as_str()) {
                Some(report) if report.status == AccountStatus::Checked => {
                    summary.checked += 1;
                    summary
                        .by_account
                        .insert(account.clone(), report.findings.len());
                    for finding in &report.findings {
                        summary.findings += 1;
                        summary.repaired += usize::from(finding.remediated);
                        *summary.by_rule.entry(finding.rule.clone()).or_insert(0) += 1;
                    }
                }
                Some(report) => summary.not_checked.push(NotChecked {
                    account_id: account.clone(),
                    reason: report
                        .error
                        .clone()
                        .unwrap_or_else(|| "its spoke role could not be assumed".to_string()),
                }),
                None => summary.not_checked.push(NotChecked {
                    account_id: account.clone(),
                    reason: "no report: its check failed after its retries (see the execution's map run)"
                        .to_string(),
                }),
            }
        }
        summary
            .not_checked
            .extend(listed.not_live.iter().map(|account| NotChecked {
                account_id: account.clone(),
                reason: "holds catalog roles but is not live (not an active account of the Organization, \
                         or not in SpokeAccountIds)"
                    .to_string(),
            }));
        summary
    }

    /// The run's one alert, or none when every account was checked and clean.
    pub fn alert(&self, worst_accounts: usize) -> Option<(String, String)> {
        if self.findings == 0 && self.not_checked.is_empty() && self.run_failed.is_none() {
            return None;
        }
        let drifted = self.by_account.values().filter(|count| **count > 0).count();
        let subject = format!(
            "IAM drift: {} finding(s) in {drifted} of {} account(s), {} not checked",
            self.findings,
            self.accounts,
            self.not_checked.len()
        );
        let mut accounts: Vec<(&String, &usize)> = self
            .by_account
            .iter()
            .filter(|(_, count)| **count > 0)
            .collect();
        accounts.sort_by_key(|(_, count)| std::cmp::Reverse(**count));
        let body = serde_json::json!({
            "run_id": self.run_id,
            "findings": self.findings,
            "repaired": self.repaired,
            "by_rule": self.by_rule,
            "most_drifted_accounts": accounts
                .into_iter()
                .take(worst_accounts)
                .map(|(account, count)| serde_json::json!({"account_id": account, "findings": count}))
                .collect::<Vec<_>>(),
            "not_checked": self.not_checked,
            "run_failed": self.run_failed,
            "summary": format!("runs/{}/summary.json", self.run_id),
        });
        Some((
            subject,
            serde_json::to_string_pretty(&body).unwrap_or_default(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hub() -> Account {
        Account {
            id: "123456789012".into(),
            partition: "aws".into(),
        }
    }

    fn catalog() -> Config {
        let catalog = r#"[
            {"name":"Hub","managed_policy_arns":["arn:aws:iam::aws:policy/ReadOnlyAccess"]},
            {"name":"A","managed_policy_arns":["arn:aws:iam::aws:policy/ReadOnlyAccess"],"account":"111111111111"},
            {"name":"B","managed_policy_arns":["arn:aws:iam::aws:policy/ReadOnlyAccess"],"account":"111111111111"},
            {"name":"C","managed_policy_arns":["arn:aws:iam::aws:policy/ReadOnlyAccess"],"account":"222222222222"},
            {"name":"D","managed_policy_arns":["arn:aws:iam::aws:policy/ReadOnlyAccess"],"account":"123456789012"}
        ]"#;
        Config::from_lookup(|name| (name == "ROLE_CATALOG").then(|| catalog.to_string()))
            .expect("a valid catalog")
    }

    #[test]
    fn a_run_checks_the_hub_and_each_live_catalog_account_once_and_reports_the_others() {
        let live: BTreeSet<String> = ["111111111111", "333333333333"].map(String::from).into();
        let listed = accounts_to_check(&hub(), &catalog(), &live);
        assert_eq!(listed.accounts, ["123456789012", "111111111111"]);
        assert_eq!(listed.not_live, ["222222222222"]);
        let nothing_live = accounts_to_check(&hub(), &catalog(), &BTreeSet::new());
        assert_eq!(nothing_live.accounts, ["123456789012"]);
    }

    #[test]
    fn a_run_id_names_only_its_own_prefix() {
        for bad in ["", ".", "..", "../x", "a/b", "a b", "x\n", &"r".repeat(81)] {
            assert!(RunId::parse(bad).is_err(), "{bad:?}");
        }
        let run = RunId::parse("7bf73129-1428_4cd3.a780").expect("an execution name");
        assert_eq!(
            run.account_key("111111111111"),
            "runs/7bf73129-1428_4cd3.a780/accounts/111111111111.json"
        );
        assert_eq!(
            run.summary_key(),
            "runs/7bf73129-1428_4cd3.a780/summary.json"
        );
    }

    fn stored(account: &str, status: AccountStatus, rules: &[(&str, bool)]) -> StoredReport {
        StoredReport {
            account_id: account.into(),
            status,
            error: (status == AccountStatus::Unreachable).then(|| "AccessDenied".to_string()),
            findings: rules
                .iter()
                .map(|(rule, remediated)| StoredFinding {
                    rule: rule.to_string(),
                    remediated: *remediated,
                })
                .collect(),
        }
    }

    #[test]
    fn the_summary_counts_by_rule_and_account_and_names_every_account_not_checked() {
        let listed = AccountsToCheck {
            accounts: [
                "123456789012",
                "111111111111",
                "222222222222",
                "444444444444",
            ]
            .map(String::from)
            .into(),
            not_live: vec!["333333333333".into()],
        };
        let reports = [
            stored("123456789012", AccountStatus::Checked, &[]),
            stored(
                "111111111111",
                AccountStatus::Checked,
                &[
                    ("role.policy-drift", true),
                    ("role.trust-mfa-not-enforced", false),
                ],
            ),
            stored("222222222222", AccountStatus::Unreachable, &[]),
            // Not listed by this run: not counted.
            stored(
                "555555555555",
                AccountStatus::Checked,
                &[("role.policy-drift", false)],
            ),
        ];
        let run = RunId::parse("run").expect("a run id");
        let summary = OrganizationSummary::new(&run, &listed, &reports, None, "t".into());
        assert_eq!((summary.accounts, summary.checked), (4, 2));
        assert_eq!((summary.findings, summary.repaired), (2, 1));
        assert_eq!(summary.by_rule["role.policy-drift"], 1);
        assert_eq!(
            summary.by_account,
            [
                ("111111111111".to_string(), 2),
                ("123456789012".to_string(), 0)
            ]
            .into()
        );
        let not_checked: Vec<&str> = summary
            .not_checked
            .iter()
            .map(|entry| entry.account_id.as_str())
            .collect();
        assert_eq!(
            not_checked,
            ["222222222222", "444444444444", "333333333333"]
        );
        assert_eq!(summary.not_checked[0].reason, "AccessDenied");
        assert!(summary.not_checked[1].reason.starts_with("no report"));
        let (subject, _) = summary.alert(10).expect("an alert");
        assert_eq!(
            subject,
            "IAM drift: 2 finding(s) in 1 of 4 account(s), 3 not checked"
        );

        let clean = AccountsToCheck {
            accounts: vec!["123456789012".into()],
            not_live: Vec::new(),
        };
        let summary = OrganizationSummary::new(&run, &clean, &reports[..1], None, "t".into());
        assert_eq!(summary.alert(10), None, "a clean run sends nothing");
    }
}
