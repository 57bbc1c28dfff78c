//! SNS alerts of the drift check (`ALERT_TOPIC_ARN`).

use aws_config::SdkConfig;

use crate::error::Result;
use crate::sdk_error::aws_error;

#[derive(Clone, Debug)]
pub struct AlertTopic {
    client: aws_sdk_sns::Client,
    arn: String,
}

impl AlertTopic {
    pub fn new(sdk_config: &SdkConfig, arn: impl Into<String>) -> Self {
        AlertTopic {
            client: aws_sdk_sns::Client::new(sdk_config),
            arn: arn.into(),
        }
    }

    pub async fn publish(&self, subject: &str, message: &str) -> Result<()> {
        self.client
            .publish()
            .topic_arn(&self.arn)
            .subject(subject)
            .message(message)
            .send()
            .await
            .map_err(|e| aws_error("sns:Publish", e))?;
        Ok(())
    }
}
