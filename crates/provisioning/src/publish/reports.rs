//! The report bucket (`REPORT_BUCKET`) of the organisation run: each account's report and the run's
//! summary, as JSON objects under `runs/<run id>/`.

use aws_config::SdkConfig;
use aws_sdk_s3::primitives::ByteStream;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};
use crate::sdk_error::aws_error;

/// Reports read back at once: enough to overlap S3's latency, few enough for a 512 MB function.
const PARALLEL_READS: usize = 32;

#[derive(Clone, Debug)]
pub struct ReportBucket {
    client: aws_sdk_s3::Client,
    bucket: String,
}

impl ReportBucket {
    pub fn new(sdk_config: &SdkConfig, bucket: impl Into<String>) -> Self {
        // An endpoint of our own (moto, LocalStack) serves buckets on its path, not as a host name.
        let config = aws_sdk_s3::config::Builder::from(sdk_config)
            .force_path_style(sdk_config.endpoint_url().is_some())
            .build();
        ReportBucket {
            client: aws_sdk_s3::Client::from_conf(config),
            bucket: bucket.into(),
        }
    }

    pub async fn put(&self, key: &str, document: &impl Serialize) -> Result<()> {
        let body = serde_json::to_vec_pretty(document).map_err(|e| {
            Error::aws(
                "s3:PutObject",
                format!("the report is not JSON: {e}"),
                false,
            )
        })?;
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type("application/json")
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(|e| aws_error("s3:PutObject", e))?;
        Ok(())
    }

    /// Every object under `prefix`, read as `T`.
    pub async fn read_all<T: DeserializeOwned + Send + 'static>(
        &self,
        prefix: &str,
    ) -> Result<Vec<T>> {
        let mut keys = Vec::new();
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(prefix)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| aws_error("s3:ListBucket", e))?;
            keys.extend(
                page.contents()
                    .iter()
                    .filter_map(|object| object.key().map(str::to_string)),
            );
        }
        let mut documents = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(PARALLEL_READS) {
            let mut reads = tokio::task::JoinSet::new();
            for key in chunk {
                reads.spawn(self.clone().get::<T>(key.clone()));
            }
            while let Some(read) = reads.join_next().await {
                let document = read.map_err(|e| Error::aws("s3:GetObject", e, true))??;
                documents.push(document);
            }
        }
        Ok(documents)
    }

    /// The object at `key` read as `T`; `None` when there is none.
    pub async fn get_if_present<T: DeserializeOwned + Send + 'static>(
        &self,
        key: &str,
    ) -> Result<Option<T>> {
        let object = match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(object) => object,
            Err(error)
                if error
                    .as_service_error()
                    .is_some_and(|error| error.is_no_such_key()) =>
            {
                return Ok(None);
            }
            Err(error) => return Err(aws_error("s3:GetObject", error)),
        };
        let bytes = object
            .body
            .collect()
            .await
            .map_err(|e| Error::aws("s3:GetObject", e, true))?
            .into_bytes();
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| Error::aws("s3:GetObject", format!("{key} is not a report: {e}"), false))
    }

    async fn get<T: DeserializeOwned + Send + 'static>(self, key: String) -> Result<T> {
        self.get_if_present(&key).await?.ok_or_else(|| {
            Error::aws(
                "s3:GetObject",
                format!("{key} was listed but is gone"),
                true,
            )
        })
    }
}
