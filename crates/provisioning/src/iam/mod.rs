//! The one module that talks to AWS IAM and STS. Everything else in the crate is pure; this module turns
//! IAM and STS responses into `state` types and applies `plan::Change`s, each one idempotent. It knows the
//! state, plan, policy, account and error types, and no use case.
//!
//! - `client`: the clients, the SDK settings, the count of IAM calls
//! - `errors`: SDK failures → domain errors; the retry while a new principal propagates
//! - `observe`: one user, role or group; `bulk`: the whole account at once (the drift check)
//! - `apply`: each `Change`, per entity (users, roles, groups)
//! - `keys`, `mfa`, `credentials`: access keys, virtual MFA devices, the other credentials and `DeleteUser`
//! - `locks`: the users-mode trust lock, and `edit_trust_policy` that holds it
//! - `organization`: which accounts of the Organization are active (the organisation drift run)
//! - `catalog_parameter`: the role catalog kept in an SSM parameter, read once at init

pub use crate::secret::Secret;

mod apply;
mod bulk;
pub mod catalog_parameter;
mod client;
mod credentials;
pub(crate) mod errors;
mod keys;
pub mod locks;
mod mfa;
mod observe;
pub mod organization;

/// Kept at its old path: EventBridge publishing is its own port, `crate::publish::events`.
pub use crate::publish::events;
pub use client::{Iam, load_sdk_config, sdk_config_loader};

#[derive(Debug, Clone)]
pub struct NewAccessKey {
    pub id: String,
    pub secret: Secret,
}

#[derive(Debug, Clone)]
pub struct NewMfaDevice {
    pub serial_number: String,
    pub base32_seed: Secret,
}

#[derive(Debug)]
pub enum Applied {
    Done,
    /// `CreateUser` found a user of that name, made since it was observed (a concurrent request).
    UserAlreadyExists,
    AccessKey(NewAccessKey),
    /// `None`: a device was already waiting to be enabled, and its seed is not ours to show again.
    VirtualMfaDevice(Option<NewMfaDevice>),
}

/// How much of a role or group to read.
#[derive(Clone, Copy, Debug)]
pub enum Reading<'a> {
    /// Everything it holds: what `status` reports and judges.
    Complete,
    /// What a plan compares: the entity (a role's trust policy and attached policies) and the one inline
    /// policy the plan writes, if any. Onboarding reads this much, saving the listing calls.
    ForPlan { inline_policy: Option<&'a str> },
}

impl Reading<'static> {
    /// The entity alone: a role's trust policy and attached policies, no inline policy. What a trust
    /// policy edit and the ownership check need.
    pub const WITHOUT_INLINE_POLICIES: Reading<'static> = Reading::ForPlan {
        inline_policy: None,
    };
}

#[cfg(test)]
mod tests;
