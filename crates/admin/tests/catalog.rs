//! `onboarding-admin catalog check`, run as the platform team runs it: on the example catalog, on catalogs
//! that are wrong in one respect each, and on one too large to pass inline.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use provisioning::config::CatalogRole;
use serde_json::Value;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn check(file: &Path, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_onboarding-admin"))
        .args(["catalog", "check"])
        .arg(file)
        .args(extra)
        .output()
        .expect("onboarding-admin runs")
}

fn write(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("onboarding-admin-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn the_example_catalog_gives_the_parameters_it_implies() {
    let out = check(&workspace().join("catalog.example.yaml"), &["--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let answer: Value = serde_json::from_slice(&out.stdout).unwrap();
    let overrides = &answer["parameter_overrides"];
    assert_eq!(
        overrides["CatalogRoleNames"],
        "ResourceCreatorRole,ReadOnly,DataReader,WorkloadDeployer"
    );
    assert_eq!(
        overrides["CatalogManagedPolicyArns"],
        "arn:aws:iam::aws:policy/PowerUserAccess,arn:aws:iam::aws:policy/ReadOnlyAccess,\
         arn:aws:iam::aws:policy/AWSCloudFormationFullAccess"
    );
    assert_eq!(overrides["SpokeAccountIds"], "111122223333");
    // Small enough to pass inline, and exactly what the functions will read.
    let inline: Value =
        serde_json::from_str(overrides["RoleCatalog"].as_str().expect("inline")).unwrap();
    let catalog = provisioning::config::parse_catalog(&inline.to_string()).expect("valid");
    assert_eq!(catalog.len(), 4);
    assert_eq!(catalog[2].max_session_duration, Some(14400));

    let text = check(&workspace().join("catalog.example.yaml"), &[]);
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(
        text.contains("sam deploy --parameter-overrides \\\n  CatalogRoleNames="),
        "{text}"
    );
    assert!(
        text.contains(r"don'\''t touch"),
        "the shell quoting of a description: {text}"
    );
}

#[test]
fn a_wrong_catalog_is_refused_naming_the_entry() {
    let cases = [
        (
            "roles:\n  - name: Reader\n    managed_policy_arns: [arn:aws:iam::aws:policy/ReadOnlyAccess]\n    self_servce: true\n",
            "role 1 (Reader): unknown field `self_servce`",
        ),
        (
            "roles:\n  - {name: A, managed_policy_arns: [arn:aws:iam::aws:policy/ReadOnlyAccess]}\n  - {name: A, managed_policy_arns: [arn:aws:iam::aws:policy/ReadOnlyAccess]}\n",
            r#"role "A" is listed twice"#,
        ),
        (
            "roles:\n  - {name: A, managed_policy_arns: [arn:aws:s3:::bucket]}\n",
            "is not a managed policy ARN",
        ),
        (
            "roles:\n  - {name: A, inline_policy: {Version: '2012-10-17'}}\n",
            "inline_policy has no Statement",
        ),
        (
            "roles:\n  - {name: A, managed_policy_arns: [arn:aws:iam::aws:policy/ReadOnlyAccess], max_session_duration: 60}\n",
            "max_session_duration must be 3600..=43200",
        ),
        (
            "roles:\n  - {name: A, managed_policy_arns: [arn:aws:iam::aws:policy/ReadOnlyAccess], account: '12345'}\n",
            "is not a 12-digit AWS account id",
        ),
        ("- name: A\n", "not a catalog file"),
    ];
    for (index, (text, expected)) in cases.iter().enumerate() {
        let out = check(&write(&format!("wrong-{index}.yaml"), text), &[]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{text}");
        assert!(stderr.contains(expected), "{text}\n{stderr}");
        assert!(out.stdout.is_empty(), "no parameters for a wrong catalog");
    }
}

#[test]
fn a_large_catalog_goes_to_the_ssm_parameter_with_the_command_that_writes_it() {
    let roles: Vec<String> = (0..12)
        .map(|i| {
            format!(
                "  - name: Team{i}Reader\n    inline_policy:\n      Version: '2012-10-17'\n      Statement:\n        - {{Effect: Allow, Action: 's3:GetObject', Resource: 'arn:aws:s3:::team-{i}-data-bucket/*'}}\n        - {{Effect: Allow, Action: 's3:ListBucket', Resource: 'arn:aws:s3:::team-{i}-data-bucket'}}\n"
            )
        })
        .collect();
    let file = write("large.yaml", &format!("roles:\n{}", roles.concat()));
    let out = check(&file, &["--parameter", "/platform/catalog"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("  RoleCatalogParameter=/platform/catalog"),
        "{text}"
    );
    assert!(!text.contains("RoleCatalog="), "{text}");
    assert!(
        text.contains("aws ssm put-parameter --name /platform/catalog --type String"),
        "{text}"
    );
    let bad = check(&file, &["--parameter", "no-slash"]);
    assert_eq!(bad.status.code(), Some(1));
}

/// The schema for editors names exactly the fields the functions accept: serde's own refusal of an unknown
/// field lists every field it knows.
#[test]
fn the_json_schema_names_exactly_the_catalogs_fields() {
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(workspace().join("catalog.schema.json")).unwrap(),
    )
    .unwrap();
    let in_schema: BTreeSet<String> = schema["$defs"]["role"]["properties"]
        .as_object()
        .expect("role properties")
        .keys()
        .cloned()
        .collect();
    let refusal = serde_json::from_str::<CatalogRole>(r#"{"not_a_field": 1}"#)
        .unwrap_err()
        .to_string();
    let known: BTreeSet<String> = refusal
        .split("expected one of ")
        .nth(1)
        .expect("serde lists the fields")
        .split(", ")
        .map(|field| field.trim_matches(|c: char| c == '`' || !c.is_ascii() || c.is_whitespace()))
        .map(|field| field.split('`').next().unwrap_or_default().to_string())
        .collect();
    assert_eq!(in_schema, known, "{refusal}");
}
