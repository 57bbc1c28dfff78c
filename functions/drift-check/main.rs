use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let app = functions::app::init().await?;
    let app = &app;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        functions::drift_check::handle(app, event.payload)
            .await
            .map_err(functions::app::diagnostic)
    }))
    .await
}
