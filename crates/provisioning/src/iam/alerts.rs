//! SNS alerts of the drift check.

use super::{Iam, aws_error};
use crate::error::Result;

impl Iam {
    pub async fn publish_alert(&self, topic_arn: &str, subject: &str, message: &str) -> Result<()> {
        let sns = aws_sdk_sns::Client::new(&self.sdk_config);
        sns.publish()
            .topic_arn(topic_arn)
            .subject(subject)
            .message(message)
            .send()
            .await
            .map_err(|e| aws_error("sns:Publish", e))?;
        Ok(())
    }
}
