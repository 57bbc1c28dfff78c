//! IAM's authorization decision for a request, from an evaluator that is not ours: tests/oracle/evaluate.mjs
//! (@cloud-copilot/iam-simulate, with IAM's Service Authorization Reference). moto evaluates no policy, so
//! this is what tells whether a deployed role may make a call, and whether a trust policy requires MFA.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use serde_json::{Value, json};

use crate::ACCOUNT;

/// One request as IAM would authorize it.
#[derive(Clone, Debug)]
pub struct Request {
    pub principal: String,
    pub action: String,
    pub resource: String,
    pub context: serde_json::Map<String, Value>,
    /// Decided without checking the request against the Service Authorization Reference: only for
    /// resources whose types the evaluator's reference data cannot place (API Gateway's HTTP APIs list
    /// two ARN formats in one resource type, and the evaluator then finds none).
    pub unvalidated: bool,
}

impl Request {
    pub fn new(principal: &str, action: &str, resource: &str) -> Request {
        Request {
            principal: principal.to_string(),
            action: action.to_string(),
            resource: resource.to_string(),
            context: serde_json::Map::new(),
            unvalidated: false,
        }
    }

    pub fn unvalidated(mut self) -> Request {
        self.unvalidated = true;
        self
    }

    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Request {
        self.context.insert(key.to_string(), value.into());
        self
    }
}

/// The policies that decide a request: the principal's identity policies, and optionally a resource
/// (or trust) policy and permissions boundaries.
#[derive(Clone, Debug, Default)]
pub struct Policies {
    pub identity: Vec<(String, Value)>,
    pub resource: Option<Value>,
    pub boundaries: Vec<(String, Value)>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Decision {
    Allowed,
    ExplicitlyDenied,
    ImplicitlyDenied,
    /// Not a request IAM would see: an unknown action, a resource of a type the action is not
    /// authorized against, an invalid policy.
    Invalid(String),
}

fn named(policies: &[(String, Value)]) -> Value {
    Value::Array(
        policies
            .iter()
            .map(|(name, policy)| json!({"name": name, "policy": policy}))
            .collect(),
    )
}

fn oracle_dir() -> PathBuf {
    crate::workspace_root().join("tests/oracle")
}

/// Decides every request in one run of the evaluator.
pub fn decide(requests: &[(Request, &Policies)]) -> Vec<Decision> {
    if requests.is_empty() {
        return Vec::new();
    }
    let simulations: Vec<Value> = requests
        .iter()
        .map(|(request, policies)| simulation(request, policies))
        .collect();
    let answers = evaluate(&simulations);
    assert_eq!(answers.len(), requests.len());
    answers
        .iter()
        .zip(requests)
        .map(|(answer, (request, _))| decision(answer, request))
        .collect()
}

/// One request as the evaluator takes it.
fn simulation(request: &Request, policies: &Policies) -> Value {
    // An action without a resource type ("*") acts in the caller's own account; treating it as the
    // hub's would make every such call from a member account's role a cross-account one.
    let account_of = |arn: &str| {
        arn.split(':')
            .nth(4)
            .filter(|account| !account.is_empty())
            .map(str::to_string)
    };
    let account = account_of(&request.resource)
        .or_else(|| account_of(&request.principal))
        .unwrap_or_else(|| ACCOUNT.to_string());
    // The keys IAM puts in every request context; the evaluator leaves them to the caller.
    let mut context = request.context.clone();
    context
        .entry("aws:PrincipalArn")
        .or_insert_with(|| json!(request.principal));
    if let Some(principal_account) = request.principal.split(':').nth(4) {
        context
            .entry("aws:PrincipalAccount")
            .or_insert_with(|| json!(principal_account));
    }
    let mut simulation = json!({
        "request": {
            "principal": request.principal,
            "action": request.action,
            "resource": {"resource": request.resource, "accountId": account},
            "contextVariables": context,
        },
        "identityPolicies": named(&policies.identity),
    });
    if request.unvalidated {
        simulation["unvalidated"] = json!(true);
    }
    if let Some(resource) = &policies.resource {
        simulation["resourcePolicy"] = resource.clone();
    }
    if !policies.boundaries.is_empty() {
        simulation["permissionBoundaryPolicies"] = named(&policies.boundaries);
    }
    simulation
}

/// Runs the evaluator (node) once on all the simulations; its answers, in their order.
fn evaluate(simulations: &[Value]) -> Vec<Value> {
    let dir = oracle_dir();
    assert!(
        dir.join("node_modules/@cloud-copilot/iam-simulate")
            .exists(),
        "the evaluator is not installed: scripts/setup runs `npm ci --prefix tests/oracle`"
    );
    let mut child = Command::new("node")
        .arg(dir.join("evaluate.mjs"))
        .current_dir(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node runs (node 20 or later)");
    let input = serde_json::to_vec(simulations).expect("simulations are JSON");
    child
        .stdin
        .take()
        .expect("a stdin")
        .write_all(&input)
        .expect("the evaluator reads its input");
    let output = child.wait_with_output().expect("the evaluator finishes");
    assert!(
        output.status.success(),
        "the evaluator failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("the evaluator answers in JSON")
}

fn decision(answer: &Value, request: &Request) -> Decision {
    let ignored = answer["ignoredContextKeys"]
        .as_array()
        .filter(|keys| !keys.is_empty());
    if let Some(ignored) = ignored {
        // A key the action does not support: the request was not built as IAM builds it.
        return Decision::Invalid(format!(
            "{} does not carry the context keys {ignored:?}",
            request.action
        ));
    }
    match answer["decision"].as_str() {
        Some("Allowed") => Decision::Allowed,
        Some("ExplicitlyDenied") => Decision::ExplicitlyDenied,
        Some("ImplicitlyDenied") => Decision::ImplicitlyDenied,
        _ => Decision::Invalid(answer["error"].to_string()),
    }
}
