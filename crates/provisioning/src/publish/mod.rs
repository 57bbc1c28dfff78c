//! The two ports that publish, beside `iam` and not inside it: outcome events to EventBridge (`events`)
//! and the drift check's alerts to SNS (`alerts`).

pub mod alerts;
pub mod events;

pub use alerts::AlertTopic;
pub use events::EventBus;
