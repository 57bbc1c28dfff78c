//! The ports that publish, beside `iam` and not inside it: outcome events to EventBridge (`events`), the
//! drift check's alerts to SNS (`alerts`), its findings to Security Hub (`security_hub`) and the
//! organisation run's reports to S3 (`reports`).

pub mod alerts;
pub mod events;
pub mod reports;
pub mod security_hub;

pub use alerts::AlertTopic;
pub use events::EventBus;
pub use reports::ReportBucket;
pub use security_hub::{SecurityHub, SecurityHubSync};
