use functions::discovery::Discovery;
use functions::page::Page;
use functions::status::Public;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    // This read-only function also answers the unauthenticated GET /.well-known/onboarding and GET /
    // (template.yaml): a client reads there where to sign in before it has a token.
    let public = match Discovery::from_lookup(|name| std::env::var(name).ok())? {
        Some(discovery) => {
            let page = Page::new(
                &discovery,
                std::env::var("IDP_TOKEN_ORIGIN").ok().as_deref(),
            )?;
            Some(Public { discovery, page })
        }
        None => None,
    };
    let public: &'static Option<Public> = Box::leak(Box::new(public));
    functions::runtime::serve(
        env!("CARGO_BIN_NAME"),
        functions::app::Serves::SelfService,
        move |app, event| async move {
            Ok::<_, lambda_runtime::Error>(
                functions::status::invoke(app, public.as_ref(), event).await,
            )
        },
    )
    .await
}
