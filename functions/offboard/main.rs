#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    functions::runtime::serve(
        env!("CARGO_BIN_NAME"),
        functions::app::Serves::Others,
        |app, event| async move {
            Ok::<_, lambda_runtime::Error>(functions::offboard::invoke(app, event).await)
        },
    )
    .await
}
