#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    functions::runtime::serve(functions::app::Serves::Others, |app, event| async move {
        Ok::<_, lambda_runtime::Error>(functions::offboard::invoke(app, event).await)
    })
    .await
}
