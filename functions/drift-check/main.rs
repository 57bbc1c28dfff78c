use lambda_runtime::{LambdaEvent, service_fn};
use provisioning::config::DriftSettings;
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let app = functions::app::init().await?;
    let settings = DriftSettings::from_env()
        .inspect_err(|error| tracing::error!(error = %error, "init failed"))?;
    let check = functions::drift_check::DriftCheck { app, settings };
    let check = &check;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        functions::drift_check::handle(check, event.payload)
            .await
            .map_err(functions::app::diagnostic)
    }))
    .await
}
