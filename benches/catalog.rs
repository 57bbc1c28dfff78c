//! What reading the role catalog costs a function's init, by where the catalog is kept: inline
//! (`ROLE_CATALOG`, parsed from the environment) or in an SSM parameter (`ROLE_CATALOG_PARAMETER`, one
//! `GetParameter` through the real SDK, here against moto on loopback: in AWS add the Region's round
//! trip). Prints the median and p95 of each over a 5 KB catalog; checks only that each read gives it.
//! Run: `cargo bench --bench catalog`.

use std::time::Instant;

use functions::app::config_from;
use test_support::Moto;

const PARAMETER: &str = "/iam-onboarding/catalog";
const RUNS: usize = 50;

fn catalog() -> String {
    let roles: Vec<serde_json::Value> = (0..6)
        .map(|i| {
            let resources: Vec<String> = (0..20)
                .map(|j| format!("arn:aws:s3:::team-{i}-bucket-{j}/*"))
                .collect();
            serde_json::json!({"name": format!("Team{i}Reader"), "self_service": true,
                "inline_policy": {"Version": "2012-10-17",
                    "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": resources}]}})
        })
        .collect();
    serde_json::Value::Array(roles).to_string()
}

fn millis(mut samples: Vec<f64>) -> (f64, f64) {
    samples.sort_by(f64::total_cmp);
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    (at(0.5), at(0.95))
}

#[tokio::main]
async fn main() {
    let moto = Moto::start();
    let sdk = moto.sdk_config().await;
    let catalog = catalog();
    aws_sdk_ssm::Client::new(&sdk)
        .put_parameter()
        .name(PARAMETER)
        .r#type(aws_sdk_ssm::types::ParameterType::String)
        .tier(aws_sdk_ssm::types::ParameterTier::Advanced)
        .value(&catalog)
        .send()
        .await
        .expect("PutParameter");
    println!("catalog: {} bytes of JSON, {RUNS} runs each", catalog.len());
    println!("{:<28} {:>10} {:>10}", "source", "median ms", "p95 ms");
    for (source, variable, value) in [
        ("inline (ROLE_CATALOG)", "ROLE_CATALOG", catalog.clone()),
        (
            "SSM (ROLE_CATALOG_PARAMETER)",
            "ROLE_CATALOG_PARAMETER",
            PARAMETER.to_string(),
        ),
    ] {
        let mut samples = Vec::with_capacity(RUNS);
        for _ in 0..RUNS {
            let started = Instant::now();
            let config = config_from(&sdk, |name| (name == variable).then(|| value.clone()))
                .await
                .expect("the catalog");
            samples.push(started.elapsed().as_secs_f64() * 1000.0);
            assert_eq!(config.catalog.len(), 6);
        }
        let (median, p95) = millis(samples);
        println!("{source:<28} {median:>10.3} {p95:>10.3}");
    }
}
