use functions::discovery::Discovery;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    // This read-only function also answers the unauthenticated GET /.well-known/onboarding
    // (template.yaml): a client reads there where to sign in before it has a token.
    let discovery: &'static Option<Discovery> =
        Box::leak(Box::new(Discovery::from_lookup(|name| {
            std::env::var(name).ok()
        })?));
    functions::runtime::serve(
        functions::app::Serves::SelfService,
        move |app, event| async move {
            Ok::<_, lambda_runtime::Error>(
                functions::status::invoke(app, discovery.as_ref(), event).await,
            )
        },
    )
    .await
}
