//! The catalog kept in an SSM parameter (`ROLE_CATALOG_PARAMETER`), for catalogs larger than a
//! CloudFormation parameter and Lambda's environment hold: read at init through the real SDK against moto's
//! SSM, checked like `ROLE_CATALOG`, and bounded by the stack's parameters.

use functions::app::{InitError, config_from};
use test_support::*;

const PARAMETER: &str = "/iam-onboarding/catalog";

/// Three roles with inline policies: about 5 KB, more than `RoleCatalog` (4,096 bytes) or Lambda's
/// environment (4 KB for every variable) can hold.
fn large_catalog() -> String {
    let role = |name: &str, service: &str| {
        let resources: Vec<String> = (0..40)
            .map(|i| format!("arn:aws:{service}:::{name}-resource-{i}/*").to_lowercase())
            .collect();
        serde_json::json!({
            "name": name,
            "self_service": true,
            "inline_policy": {"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Action": format!("{service}:*"), "Resource": resources}
            ]}
        })
    };
    serde_json::json!([
        role("DataReader", "s3"),
        role("QueueWorker", "sqs"),
        role("TopicWriter", "sns")
    ])
    .to_string()
}

#[tokio::test]
async fn a_catalog_in_an_ssm_parameter_is_read_at_init_and_bounded_by_the_stacks_parameters() {
    let moto = Moto::start();
    let sdk = moto.sdk_config().await;
    let catalog = large_catalog();
    assert!(catalog.len() > 4096, "{} bytes", catalog.len());
    aws_sdk_ssm::Client::new(&sdk)
        .put_parameter()
        .name(PARAMETER)
        .r#type(aws_sdk_ssm::types::ParameterType::String)
        .tier(aws_sdk_ssm::types::ParameterTier::Advanced)
        .value(&catalog)
        .send()
        .await
        .expect("PutParameter");

    let env = |names: &'static str| {
        move |name: &str| {
            match name {
            "ROLE_CATALOG_PARAMETER" => Some(PARAMETER.to_string()),
            // The template's inline default, which the parameter wins over.
            "ROLE_CATALOG" => Some(
                r#"[{"name":"ResourceCreatorRole","managed_policy_arns":["arn:aws:iam::aws:policy/PowerUserAccess"]}]"#
                    .to_string(),
            ),
            "CATALOG_ROLE_NAMES" => Some(names.to_string()),
            _ => None,
        }
        }
    };
    let config = config_from(&sdk, env("DataReader,QueueWorker,TopicWriter"))
        .await
        .expect("the parameter's catalog");
    let names: Vec<&str> = config
        .catalog
        .iter()
        .map(|role| role.name.as_str())
        .collect();
    assert_eq!(names, ["DataReader", "QueueWorker", "TopicWriter"]);

    // A role the stack's CatalogRoleNames does not name: refused at init, naming it.
    let Err(InitError::Config(refused)) = config_from(&sdk, env("DataReader,QueueWorker")).await
    else {
        panic!("a catalog outside CatalogRoleNames must fail the init");
    };
    assert!(refused.reason.contains(r#""TopicWriter""#), "{refused}");

    // A parameter that does not exist: the init fails naming it, it never falls back to ROLE_CATALOG.
    let missing = |name: &str| match name {
        "ROLE_CATALOG_PARAMETER" => Some("/iam-onboarding/no-such-catalog".to_string()),
        _ => None,
    };
    let Err(InitError::CatalogParameter { name, .. }) = config_from(&sdk, missing).await else {
        panic!("a missing parameter must fail the init");
    };
    assert_eq!(name, "/iam-onboarding/no-such-catalog");
}
