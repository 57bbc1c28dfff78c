//! Publishing outcome events to EventBridge (`EVENT_BUS_NAME`), so that a requesting system can close
//! its ticket.

use aws_config::SdkConfig;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use serde_json::Value;

use crate::error::{Error, Result};
use crate::sdk_error::aws_error;

/// The `source` of every event the project publishes.
pub const EVENT_SOURCE: &str = "iam-onboarding";

/// One event for the bus: `crate::outcomes` builds them.
#[derive(Debug, Clone, PartialEq)]
pub struct OutcomeEvent {
    pub detail_type: &'static str,
    pub detail: Value,
}

#[derive(Clone, Debug)]
pub struct EventBus {
    client: aws_sdk_eventbridge::Client,
    name: String,
}

impl EventBus {
    pub fn new(sdk_config: &SdkConfig, name: impl Into<String>) -> Self {
        EventBus {
            client: aws_sdk_eventbridge::Client::new(sdk_config),
            name: name.into(),
        }
    }

    pub async fn publish(&self, event: &OutcomeEvent) -> Result<()> {
        let entry = PutEventsRequestEntry::builder()
            .event_bus_name(&self.name)
            .source(EVENT_SOURCE)
            .detail_type(event.detail_type)
            .detail(event.detail.to_string())
            .build();
        let output = self
            .client
            .put_events()
            .entries(entry)
            .send()
            .await
            .map_err(|e| aws_error("PutEvents", e))?;
        // PutEvents answers 200 even when it refused the entry; the refusal is inside.
        match output
            .entries()
            .iter()
            .find(|entry| entry.error_code().is_some())
        {
            Some(refused) => Err(Error::aws(
                "PutEvents",
                format!(
                    "{}: {}",
                    refused.error_code().unwrap_or_default(),
                    refused.error_message().unwrap_or_default()
                ),
                true,
            )),
            None if output.failed_entry_count() > 0 => {
                Err(Error::aws("PutEvents", "the event was not accepted", true))
            }
            None => Ok(()),
        }
    }
}
