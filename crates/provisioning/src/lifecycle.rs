//! The old home of three use cases, now each in its own module: `status`, `rotation` (issue-key) and
//! `offboarding`. Their public names stay reachable from here.

pub use crate::desired::granted_roles;
pub use crate::offboarding::{
    OffboardingOutcome, OffboardingResult, Removal, offboard, plan_offboarding, without_principal,
};
pub use crate::rotation::{KeyRotation, PreviousKey, RotationPlan, plan_rotation, rotate_key};
pub use crate::state::{AccessKey, KeyLastUsed, OtherCredentials, UserDeletion};
pub use crate::status::{AccessKeyStatus, KeyStatus, UserStatus, status};
