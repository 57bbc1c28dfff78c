//! The Organization's active accounts (Organizations `ListAccounts`, all pages), for the organisation
//! drift run, and its management account (`DescribeOrganization`). Only the management account and a
//! delegated administrator may list the accounts.

use std::collections::BTreeSet;

use aws_config::SdkConfig;
use aws_sdk_organizations::types::{AccountState, AccountStatus};

use crate::error::Result;
use crate::sdk_error::aws_error;

pub async fn active_accounts(sdk_config: &SdkConfig) -> Result<BTreeSet<String>> {
    let client = aws_sdk_organizations::Client::new(sdk_config);
    let mut accounts = BTreeSet::new();
    let mut pages = client.list_accounts().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| aws_error("organizations:ListAccounts", e))?;
        for account in page.accounts() {
            // `State` replaces `Status`; an Organization answering with either is read.
            let active = match (account.state(), account.status()) {
                (Some(state), _) => *state == AccountState::Active,
                (None, Some(status)) => *status == AccountStatus::Active,
                (None, None) => false,
            };
            if let Some(id) = account.id().filter(|_| active) {
                accounts.insert(id.to_string());
            }
        }
    }
    Ok(accounts)
}

/// The Organization's management account, or `None` when this account belongs to none.
pub async fn management_account_id(sdk_config: &SdkConfig) -> Result<Option<String>> {
    let client = aws_sdk_organizations::Client::new(sdk_config);
    match client.describe_organization().send().await {
        Ok(answer) => Ok(answer
            .organization()
            .and_then(|organization| organization.master_account_id())
            .map(str::to_string)),
        Err(error)
            if error
                .as_service_error()
                .is_some_and(|e| e.is_aws_organizations_not_in_use_exception()) =>
        {
            Ok(None)
        }
        Err(error) => Err(aws_error("organizations:DescribeOrganization", error)),
    }
}
