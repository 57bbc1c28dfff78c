//! What the Lambda functions share: start-up (`app`), and decoding API Gateway events and encoding
//! responses (`http`). Each function's handler lives in `functions/<name>/mod.rs`, its `main` beside it.

pub mod app;
pub mod discovery;
#[path = "drift-check/mod.rs"]
pub mod drift_check;
#[path = "drift-org/mod.rs"]
pub mod drift_org;
#[path = "enroll-mfa/mod.rs"]
pub mod enroll_mfa;
pub mod events;
pub mod http;
#[path = "issue-key/mod.rs"]
pub mod issue_key;
pub mod metrics;
pub mod offboard;
pub mod onboard;
pub mod page;
pub mod runtime;
pub mod status;
