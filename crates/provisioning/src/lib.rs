//! The onboarding domain: configuration, policy documents, desired state, plans, and the one module
//! (`iam`) that talks to AWS. No Lambda types live here.

pub mod access;
pub mod account;
pub mod aws_cli_config;
pub mod config;
pub mod deadline;
pub mod desired;
pub mod drift;
pub mod error;
pub mod grants;
pub mod iam;
pub mod key_handover;
pub mod lifecycle;
pub mod mfa;
pub mod names;
pub mod offboarding;
pub mod onboarding;
pub mod outcomes;
pub mod plan;
pub mod policy;
pub mod publish;
pub mod requests;
pub mod revocation;
pub mod revoked_sessions;
pub mod rotation;
pub mod sdk_error;
pub mod sealed;
pub mod secret;
pub mod state;
pub mod status;
pub mod timestamps;
pub mod trust;
pub mod views;

pub use error::{Error, Result};

#[cfg(test)]
mod tests;
