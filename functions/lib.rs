//! What the Lambda functions share: start-up (`app`), and decoding API Gateway events and encoding
//! responses (`http`). Each function's handler lives in `functions/<name>/mod.rs`, its `main` beside it.

pub mod app;
#[path = "enroll-mfa/mod.rs"]
pub mod enroll_mfa;
pub mod http;
pub mod onboard;
