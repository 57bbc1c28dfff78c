//! The ports that publish, beside `iam` and not inside it: outcome events to EventBridge (`events`), the
//! drift check's alerts to SNS (`alerts`) and its findings to Security Hub (`security_hub`).

pub mod alerts;
pub mod events;
pub mod security_hub;

pub use alerts::AlertTopic;
pub use events::EventBus;
pub use security_hub::{SecurityHub, SecurityHubSync};
