#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    functions::runtime::serve(
        env!("CARGO_BIN_NAME"),
        functions::app::Serves::SelfService,
        |app, event| async move {
            Ok::<_, lambda_runtime::Error>(functions::enroll_mfa::handle(app, event).await)
        },
    )
    .await
}
