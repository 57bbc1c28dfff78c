//! The onboarding domain: configuration, policy documents, desired state, plans, and the one module
//! (`iam`) that talks to AWS. No Lambda types live here.

pub mod access;
pub mod account;
pub mod config;
pub mod desired;
pub mod error;
pub mod iam;
pub mod mfa;
pub mod names;
pub mod onboarding;
pub mod plan;
pub mod policy;
pub mod state;
pub mod trust;

pub use error::{Error, Result};
