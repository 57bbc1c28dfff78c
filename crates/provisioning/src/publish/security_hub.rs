//! The drift check's findings in Security Hub (`SECURITY_HUB=true`), in the AWS Security Finding Format,
//! so that they sit beside AWS Config's, Prowler's and GuardDuty's findings. Each finding keeps one id per
//! rule, resource and message across runs: a re-run updates it instead of adding a duplicate, and a
//! finding that is gone (fixed by hand, or repaired by this run) is archived.

use std::collections::{BTreeMap, HashMap};

use aws_config::SdkConfig;
use aws_sdk_securityhub::types::{
    AwsSecurityFinding, AwsSecurityFindingFilters, Compliance, ComplianceStatus, Partition,
    Recommendation, RecordState, Remediation as AsffRemediation, Resource,
    Severity as AsffSeverity, SeverityLabel, StringFilter, StringFilterComparison,
};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::account::Account;
use crate::drift::{Finding, Remediation, Report, Severity};
use crate::error::{Error, Result};
use crate::sdk_error::aws_error;

/// Every finding's `GeneratorId` starts with it; the rule id follows.
pub const GENERATOR_PREFIX: &str = "iam-onboarding/";

/// BatchImportFindings takes at most 100 findings a call.
const IMPORT_BATCH: usize = 100;

/// What one synchronisation did, for the log and the report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct SecurityHubSync {
    /// Findings present in this run, created or updated.
    pub imported: usize,
    /// Findings of earlier runs that are gone, and findings this run repaired.
    pub archived: usize,
}

#[derive(Clone, Debug)]
pub struct SecurityHub {
    client: aws_sdk_securityhub::Client,
    account: Account,
    region: String,
}

impl SecurityHub {
    pub fn new(sdk_config: &SdkConfig, account: &Account) -> Self {
        SecurityHub {
            client: aws_sdk_securityhub::Client::new(sdk_config),
            account: account.clone(),
            region: sdk_config
                .region()
                .map(|region| region.to_string())
                .unwrap_or_default(),
        }
    }

    /// The default product of an account: the one its own findings are imported under.
    pub fn product_arn(&self) -> String {
        format!(
            "arn:{}:securityhub:{}:{}:product/{}/default",
            self.account.partition, self.region, self.account.id, self.account.id
        )
    }

    /// Imports the report's findings and archives the active ones of earlier checks of the same account
    /// that it no longer has (a member account's report leaves the hub's findings alone, and the other way
    /// round). Every finding is imported as this account's product; its resource names its own account.
    pub async fn sync(&self, report: &Report) -> Result<SecurityHubSync> {
        let earlier = self.active_findings(&report.account_id).await?;
        let mut current: Vec<AwsSecurityFinding> = Vec::with_capacity(report.findings.len());
        for finding in &report.findings {
            let id = finding_id(&report.account_id, finding);
            let created_at = earlier
                .get(&id)
                .and_then(|existing| existing.created_at.clone())
                .unwrap_or_else(|| report.checked_at.clone());
            current.push(self.asff(finding, id, &created_at, &report.checked_at));
        }
        let mut sync = SecurityHubSync::default();
        for finding in &current {
            match finding.record_state {
                Some(RecordState::Archived) => sync.archived += 1,
                _ => sync.imported += 1,
            }
        }
        let gone: Vec<AwsSecurityFinding> = earlier
            .into_values()
            .filter(|existing| current.iter().all(|finding| finding.id != existing.id))
            .map(|mut existing| {
                existing.record_state = Some(RecordState::Archived);
                existing.updated_at = Some(report.checked_at.clone());
                existing.compliance = Some(compliance(ComplianceStatus::Passed));
                existing
            })
            .collect();
        sync.archived += gone.len();
        current.extend(gone);
        for batch in current.chunks(IMPORT_BATCH) {
            self.import(batch).await?;
        }
        Ok(sync)
    }

    /// The active findings of earlier checks of `checked_account`, by id. The filters are also applied
    /// here: not every Security Hub implementation applies them.
    async fn active_findings(
        &self,
        checked_account: &str,
    ) -> Result<BTreeMap<String, AwsSecurityFinding>> {
        let id_prefix = format!("{GENERATOR_PREFIX}{checked_account}/");
        let product_arn = self.product_arn();
        let filters = AwsSecurityFindingFilters::builder()
            .product_arn(string_filter(&product_arn, StringFilterComparison::Equals))
            .aws_account_id(string_filter(
                &self.account.id,
                StringFilterComparison::Equals,
            ))
            .generator_id(string_filter(
                GENERATOR_PREFIX,
                StringFilterComparison::Prefix,
            ))
            .id(string_filter(&id_prefix, StringFilterComparison::Prefix))
            .record_state(string_filter("ACTIVE", StringFilterComparison::Equals))
            .build();
        let mut pages = self
            .client
            .get_findings()
            .filters(filters)
            .max_results(100)
            .into_paginator()
            .send();
        let mut active = BTreeMap::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| aws_error("securityhub:GetFindings", e))?;
            for finding in page.findings.unwrap_or_default() {
                let ours = finding.product_arn.as_deref() == Some(product_arn.as_str())
                    && finding.aws_account_id.as_deref() == Some(self.account.id.as_str())
                    && finding
                        .generator_id
                        .as_deref()
                        .is_some_and(|generator| generator.starts_with(GENERATOR_PREFIX))
                    && finding
                        .id
                        .as_deref()
                        .is_some_and(|id| id.starts_with(&id_prefix))
                    && finding.record_state != Some(RecordState::Archived);
                if let (true, Some(id)) = (ours, finding.id.clone()) {
                    active.insert(id, finding);
                }
            }
        }
        Ok(active)
    }

    async fn import(&self, batch: &[AwsSecurityFinding]) -> Result<()> {
        let output = self
            .client
            .batch_import_findings()
            .set_findings(Some(batch.to_vec()))
            .send()
            .await
            .map_err(|e| aws_error("securityhub:BatchImportFindings", e))?;
        // Like PutEvents, BatchImportFindings answers 200 and lists what it refused.
        match output.failed_findings.unwrap_or_default().first() {
            None if output.failed_count.unwrap_or_default() == 0 => Ok(()),
            refused => Err(Error::aws(
                "securityhub:BatchImportFindings",
                refused
                    .map(|refused| {
                        format!(
                            "{} {}: {}",
                            refused.id.as_deref().unwrap_or_default(),
                            refused.error_code.as_deref().unwrap_or_default(),
                            refused.error_message.as_deref().unwrap_or_default()
                        )
                    })
                    .unwrap_or_else(|| "findings were not accepted".to_string()),
                true,
            )),
        }
    }

    fn asff(
        &self,
        finding: &Finding,
        id: String,
        created_at: &str,
        updated_at: &str,
    ) -> AwsSecurityFinding {
        let resource = Resource::builder()
            .r#type(resource_type(&finding.resource_arn))
            .id(&finding.resource_arn)
            .partition(Partition::from(self.account.partition.as_str()))
            .region(&self.region)
            .build();
        // A finding this run repaired is already fixed: it is recorded, and archived at once.
        let (record_state, status) = if finding.remediated {
            (RecordState::Archived, ComplianceStatus::Passed)
        } else {
            (RecordState::Active, ComplianceStatus::Failed)
        };
        let mut description = finding.message.clone();
        truncate(&mut description, 1024);
        AwsSecurityFinding::builder()
            .schema_version("2018-10-08")
            .id(id)
            .product_arn(self.product_arn())
            .generator_id(format!("{GENERATOR_PREFIX}{}", finding.rule))
            .aws_account_id(&self.account.id)
            .types("Software and Configuration Checks/AWS Security Best Practices")
            .created_at(created_at)
            .updated_at(updated_at)
            .severity(
                AsffSeverity::builder()
                    .label(severity_label(finding.severity))
                    .build(),
            )
            .title(format!("IAM onboarding drift: {}", finding.rule))
            .description(description)
            .remediation(
                AsffRemediation::builder()
                    .recommendation(
                        Recommendation::builder()
                            .text(recommendation(finding.remediation))
                            .build(),
                    )
                    .build(),
            )
            .set_product_fields(Some(HashMap::from([
                ("iam-onboarding/rule".to_string(), finding.rule.to_string()),
                (
                    "iam-onboarding/remediation".to_string(),
                    recommendation_kind(finding.remediation).to_string(),
                ),
            ])))
            .resources(resource)
            .compliance(compliance(status))
            .record_state(record_state)
            .build()
    }
}

/// The same rule on the same resource with the same message is the same finding, run after run. The
/// message tells apart two findings of one rule on one resource (two old keys of a user, say); it holds no
/// dates or counts that change by themselves.
pub fn finding_id(checked_account: &str, finding: &Finding) -> String {
    let digest = Sha256::new()
        .chain_update(finding.rule)
        .chain_update([0])
        .chain_update(&finding.resource_arn)
        .chain_update([0])
        .chain_update(&finding.message)
        .finalize();
    format!(
        "{GENERATOR_PREFIX}{}/{}/{}",
        checked_account,
        finding.rule,
        hex::encode(&digest[..16])
    )
}

fn resource_type(arn: &str) -> &'static str {
    let resource = arn.splitn(6, ':').nth(5).unwrap_or_default();
    match resource.split('/').next() {
        Some("user") => "AwsIamUser",
        Some("role") => "AwsIamRole",
        Some("group") => "AwsIamGroup",
        Some("policy") => "AwsIamPolicy",
        _ => "Other",
    }
}

fn severity_label(severity: Severity) -> SeverityLabel {
    match severity {
        Severity::Low => SeverityLabel::Low,
        Severity::Medium => SeverityLabel::Medium,
        Severity::High => SeverityLabel::High,
        Severity::Critical => SeverityLabel::Critical,
    }
}

fn recommendation_kind(remediation: Remediation) -> &'static str {
    match remediation {
        Remediation::Automatic => "automatic",
        Remediation::Manual => "manual",
    }
}

fn recommendation(remediation: Remediation) -> &'static str {
    match remediation {
        Remediation::Automatic => {
            "The drift check repairs this itself when REMEDIATE is true; otherwise re-run onboarding for the user or repair it by hand as the finding describes."
        }
        Remediation::Manual => {
            "Needs a person: the drift check never repairs this itself. Act as the finding describes."
        }
    }
}

fn compliance(status: ComplianceStatus) -> Compliance {
    Compliance::builder().status(status).build()
}

fn string_filter(value: &str, comparison: StringFilterComparison) -> StringFilter {
    StringFilter::builder()
        .value(value)
        .comparison(comparison)
        .build()
}

fn truncate(text: &mut String, max_chars: usize) {
    if let Some((cut, _)) = text.char_indices().nth(max_chars) {
        text.truncate(cut);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn finding(rule: &'static str, resource_arn: &str, message: &str) -> Finding {
        Finding {
            rule,
            severity: Severity::High,
            resource_arn: resource_arn.to_string(),
            message: message.to_string(),
            expected: Value::Null,
            actual: Value::Null,
            remediation: Remediation::Manual,
            remediated: false,
            repair: Vec::new(),
        }
    }

    const ACCOUNT: &str = "123456789012";

    #[test]
    fn a_finding_keeps_its_id_from_run_to_run_and_two_findings_of_one_rule_on_one_user_differ() {
        let arn = "arn:aws:iam::123456789012:user/onboarding/alice";
        let first = finding(
            "user.access-key-too-old",
            arn,
            "access key 1 is older than 90 days",
        );
        let again = finding(
            "user.access-key-too-old",
            arn,
            "access key 1 is older than 90 days",
        );
        let second_key = finding(
            "user.access-key-too-old",
            arn,
            "access key 2 is older than 90 days",
        );
        assert_eq!(finding_id(ACCOUNT, &first), finding_id(ACCOUNT, &again));
        assert_ne!(
            finding_id(ACCOUNT, &first),
            finding_id(ACCOUNT, &second_key)
        );
        assert!(
            finding_id(ACCOUNT, &first)
                .starts_with("iam-onboarding/123456789012/user.access-key-too-old/")
        );
    }

    #[test]
    fn resources_are_typed_as_security_hub_names_them() {
        assert_eq!(
            resource_type("arn:aws:iam::1:user/onboarding/a"),
            "AwsIamUser"
        );
        assert_eq!(
            resource_type("arn:aws:iam::1:role/ResourceCreatorRole"),
            "AwsIamRole"
        );
        assert_eq!(
            resource_type("arn:aws:iam::1:group/onboarding-X"),
            "AwsIamGroup"
        );
        assert_eq!(resource_type("arn:aws:iam::1:mfa/onboarding/a"), "Other");
        assert_eq!(resource_type("not an arn"), "Other");
    }

    #[test]
    fn a_long_description_is_cut_on_a_character_boundary() {
        let mut text = "é".repeat(2000);
        truncate(&mut text, 1024);
        assert_eq!(text.chars().count(), 1024);
    }
}
