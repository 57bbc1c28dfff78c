#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    functions::runtime::serve(
        env!("CARGO_BIN_NAME"),
        functions::app::Serves::Others,
        |app, event| async move {
            functions::drift_check::invoke(app, event)
                .await
                .map_err(functions::app::diagnostic)
        },
    )
    .await
}
