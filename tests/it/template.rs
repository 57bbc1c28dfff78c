//! The deployed surface, read from `template.yaml`: what the functions' IAM policies allow, and how the
//! HTTP API is bounded. cfn-lint and `sam validate` check that the template is well formed; this checks
//! what it grants.
//!
//! The template is evaluated the way CloudFormation would, for one set of parameter values, except that
//! both branches of every `!If` are kept: a statement that exists only with `Remediate=true` is checked
//! like any other. Every check is a small function over the evaluated template, and each is also run on
//! the real template with one bad thing injected, to show that it can fail.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value as Json;
use serde_norway::Value as Yaml;

const TEMPLATE: &str = include_str!("../../template.yaml");

/// Parameters without a default, and one with a second catalog role so that the ARN lists built with
/// `!Split`/`!Join` from `CatalogRoleNames` are checked with more than one element.
const SCENARIO: &[(&str, &str)] = &[
    ("JwtIssuer", "https://issuer.example.com"),
    ("JwtAudience", "client-id"),
    ("CatalogRoleNames", "ResourceCreatorRole,BreakGlass"),
];
const PARTITION: &str = "aws";
const ACCOUNT: &str = "123456789012";

/// IAM actions that only read. `iam:Generate*` (credential report, access reports) and `iam:Simulate*`
/// compute a report or an answer and change no principal or policy.
const READ_ONLY_PREFIXES: &[&str] = &["get", "list", "generate", "simulate"];

/// The IAM writes allowed outside the managed resources: (function, action, resource part of the ARN).
/// Offboarding must take a user out of groups added by hand (IAM will not delete a member), the drift
/// check takes a managed user out of a group added by hand that holds no Deny, and `RemoveUserFromGroup`
/// is authorized against the group, which can be any group. template.yaml's comments on the statements
/// say why this is safe; no other function and no other action gets it.
const EXCEPTIONS: &[(&str, &str, &str)] = &[
    ("OffboardFunction", "iam:RemoveUserFromGroup", "group/*"),
    ("DriftCheckFunction", "iam:RemoveUserFromGroup", "group/*"),
];

/// What the access log must record: (field, the context variables that give it).
const ACCESS_LOG_FIELDS: &[(&str, &[&str])] = &[
    ("requestId", &["$context.requestId"]),
    ("ip", &["$context.identity.sourceIp"]),
    ("routeKey", &["$context.routeKey"]),
    ("status", &["$context.status"]),
    ("sub", &["$context.authorizer.claims.sub"]),
    (
        "integrationError",
        &[
            "$context.integrationErrorMessage",
            "$context.integration.error",
        ],
    ),
];

// ---------------------------------------------------------------------------------------------------
// Evaluating the template

/// The parameter values and pseudo parameters that `Ref` and `Fn::Sub` resolve to.
struct Scenario {
    parameters: BTreeMap<String, Json>,
}

impl Scenario {
    fn new(template: &Yaml) -> Self {
        let mut parameters = BTreeMap::new();
        let declared = template
            .get("Parameters")
            .and_then(Yaml::as_mapping)
            .expect("the template declares parameters");
        for (name, declaration) in declared {
            let name = name.as_str().expect("parameter names are strings");
            let value = SCENARIO
                .iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| Json::String((*value).to_string()))
                .or_else(|| declaration.get("Default").map(plain))
                .unwrap_or_else(|| panic!("give parameter {name} a value in SCENARIO"));
            let value = match (declaration.get("Type").and_then(Yaml::as_str), value) {
                (Some("CommaDelimitedList"), Json::String(text)) => {
                    Json::Array(text.split(',').map(|s| Json::String(s.into())).collect())
                }
                (_, value) => value,
            };
            parameters.insert(name.to_string(), value);
        }
        Scenario { parameters }
    }

    /// `Ref name`: a parameter, a pseudo parameter, nothing (`AWS::NoValue`), or a resource, written
    /// `<Ref name>`.
    fn reference(&self, name: &str) -> Option<Json> {
        let pseudo = match name {
            "AWS::NoValue" => return None,
            "AWS::Partition" => Some(PARTITION),
            "AWS::AccountId" => Some(ACCOUNT),
            "AWS::Region" => Some("us-east-1"),
            "AWS::URLSuffix" => Some("amazonaws.com"),
            "AWS::StackName" => Some("iam-onboarding"),
            _ => None,
        };
        Some(match (pseudo, self.parameters.get(name)) {
            (Some(value), _) => Json::String(value.into()),
            (None, Some(value)) => value.clone(),
            (None, None) => Json::String(format!("<Ref {name}>")),
        })
    }

    fn string(&self, name: &str) -> String {
        match self.reference(name) {
            Some(Json::String(text)) => text,
            other => panic!("{name} is not a string parameter: {other:?}"),
        }
    }

    fn list(&self, name: &str) -> Vec<String> {
        match self.reference(name) {
            Some(Json::Array(items)) => items.iter().map(|item| text(item).to_string()).collect(),
            other => panic!("{name} is not a list parameter: {other:?}"),
        }
    }
}

/// Every value a template fragment can take: one per combination of `!If` branches. `None` is
/// `AWS::NoValue`, which removes the key or list item that holds it.
type Alternatives = Vec<Option<Json>>;

fn eval(value: &Yaml, scenario: &Scenario) -> Alternatives {
    if let Some((function, argument)) = intrinsic(value) {
        return eval_intrinsic(&function, argument, scenario);
    }
    match value {
        Yaml::Sequence(items) => {
            let parts = items.iter().map(|item| eval(item, scenario)).collect();
            product(parts)
                .into_iter()
                .map(|choice| Some(Json::Array(choice.into_iter().flatten().collect())))
                .collect()
        }
        Yaml::Mapping(mapping) => {
            let keys: Vec<String> = mapping
                .keys()
                .map(|key| key.as_str().expect("keys are strings").to_string())
                .collect();
            let parts = mapping.values().map(|item| eval(item, scenario)).collect();
            product(parts)
                .into_iter()
                .map(|choice| {
                    let fields = keys
                        .iter()
                        .zip(choice)
                        .filter_map(|(key, value)| value.map(|value| (key.clone(), value)));
                    Some(Json::Object(fields.collect()))
                })
                .collect()
        }
        Yaml::Tagged(tagged) => panic!("unknown tag {}", tagged.tag),
        scalar => vec![Some(plain(scalar))],
    }
}

/// `!Sub x` and `{"Fn::Sub": x}` alike, as (`Fn::Sub`, x).
fn intrinsic(value: &Yaml) -> Option<(String, &Yaml)> {
    match value {
        Yaml::Tagged(tagged) => {
            let short = tagged.tag.to_string();
            let short = short.trim_start_matches('!');
            let function = match short {
                "Ref" | "Condition" => short.to_string(),
                _ => format!("Fn::{short}"),
            };
            Some((function, &tagged.value))
        }
        Yaml::Mapping(mapping) if mapping.len() == 1 => {
            let (key, argument) = mapping.iter().next()?;
            let key = key.as_str()?;
            (key == "Ref" || key.starts_with("Fn::")).then(|| (key.to_string(), argument))
        }
        _ => None,
    }
}

fn eval_intrinsic(function: &str, argument: &Yaml, scenario: &Scenario) -> Alternatives {
    let arguments = || {
        argument
            .as_sequence()
            .map(Vec::as_slice)
            .unwrap_or_default()
    };
    match function {
        "Ref" => vec![scenario.reference(argument.as_str().expect("Ref names a string"))],
        "Fn::GetAtt" => {
            let target = match argument {
                Yaml::Sequence(parts) => parts
                    .iter()
                    .map(|part| part.as_str().expect("GetAtt parts are strings"))
                    .collect::<Vec<_>>()
                    .join("."),
                other => other.as_str().expect("GetAtt names a string").to_string(),
            };
            vec![Some(Json::String(format!("<GetAtt {target}>")))]
        }
        "Fn::Sub" => {
            let (pattern, variables) = match argument {
                Yaml::Sequence(parts) if parts.len() == 2 => (&parts[0], Some(&parts[1])),
                other => (other, None),
            };
            let mut values = BTreeMap::new();
            for (name, value) in variables.and_then(Yaml::as_mapping).into_iter().flatten() {
                let alternatives = eval(value, scenario);
                let [Some(value)] = alternatives.as_slice() else {
                    panic!("a Fn::Sub variable with other than one value: {name:?}")
                };
                values.insert(
                    name.as_str().expect("names").to_string(),
                    text(value).to_string(),
                );
            }
            let pattern = pattern.as_str().expect("Fn::Sub substitutes into a string");
            let substituted = substitute(pattern, |name| {
                values
                    .get(name)
                    .cloned()
                    .unwrap_or_else(|| sub_variable(name, scenario))
            });
            vec![Some(Json::String(substituted))]
        }
        "Fn::Join" => {
            let [delimiter, list] = arguments() else {
                panic!("Fn::Join takes [delimiter, list]")
            };
            let delimiter = delimiter.as_str().expect("a literal delimiter");
            eval(list, scenario)
                .into_iter()
                .map(|list| {
                    let items = list.as_ref().and_then(Json::as_array).expect("a list");
                    let items: Vec<&str> = items.iter().map(text).collect();
                    Some(Json::String(items.join(delimiter)))
                })
                .collect()
        }
        "Fn::Split" => {
            let [delimiter, source] = arguments() else {
                panic!("Fn::Split takes [delimiter, string]")
            };
            let delimiter = delimiter.as_str().expect("a literal delimiter");
            eval(source, scenario)
                .into_iter()
                .map(|source| {
                    let source = text(source.as_ref().expect("a string to split"));
                    Some(Json::Array(
                        source
                            .split(delimiter)
                            .map(|s| Json::String(s.into()))
                            .collect(),
                    ))
                })
                .collect()
        }
        // Both branches, whatever the condition: a policy is only as tight as its widest branch.
        "Fn::If" => {
            let [_condition, then, otherwise] = arguments() else {
                panic!("Fn::If takes [condition, then, else]")
            };
            let mut alternatives = eval(then, scenario);
            alternatives.extend(eval(otherwise, scenario));
            dedup(alternatives)
        }
        other => {
            panic!("tests/it/template.rs does not evaluate {other}: teach it before using it here")
        }
    }
}

/// `${Name}` and `${Resource.Attribute}` replaced, `${!Literal}` kept as `${Literal}`.
fn substitute(pattern: &str, value_of: impl Fn(&str) -> String) -> String {
    let mut out = String::new();
    let mut rest = pattern;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find('}').expect("an unterminated ${ in Fn::Sub");
        let name = &after[..end];
        match name.strip_prefix('!') {
            Some(literal) => out.push_str(&format!("${{{literal}}}")),
            None => out.push_str(&value_of(name)),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}

fn sub_variable(name: &str, scenario: &Scenario) -> String {
    if name.contains('.') && !name.starts_with("AWS::") {
        return format!("<GetAtt {name}>");
    }
    match scenario.reference(name) {
        Some(Json::String(text)) => text,
        Some(Json::Number(number)) => number.to_string(),
        other => panic!("${{{name}}} in Fn::Sub is {other:?}, not a string"),
    }
}

/// A YAML scalar (or plain structure) as JSON. Tags have no meaning here.
fn plain(value: &Yaml) -> Json {
    match value {
        Yaml::Null => Json::Null,
        Yaml::Bool(flag) => Json::Bool(*flag),
        Yaml::Number(number) => number
            .as_i64()
            .map(Json::from)
            .or_else(|| number.as_f64().map(Json::from))
            .unwrap_or(Json::Null),
        Yaml::String(text) => Json::String(text.clone()),
        Yaml::Sequence(items) => Json::Array(items.iter().map(plain).collect()),
        Yaml::Mapping(mapping) => Json::Object(
            mapping
                .iter()
                .map(|(key, value)| (key.as_str().unwrap_or_default().to_string(), plain(value)))
                .collect(),
        ),
        Yaml::Tagged(tagged) => panic!("a tag ({}) where a plain value was expected", tagged.tag),
    }
}

fn text(value: &Json) -> &str {
    value
        .as_str()
        .unwrap_or_else(|| panic!("a string expected, got {value}"))
}

fn product<T: Clone>(parts: Vec<Vec<T>>) -> Vec<Vec<T>> {
    parts.into_iter().fold(vec![Vec::new()], |choices, part| {
        choices
            .iter()
            .flat_map(|prefix| {
                part.iter().map(move |item| {
                    let mut choice = prefix.clone();
                    choice.push(item.clone());
                    choice
                })
            })
            .collect()
    })
}

fn dedup(alternatives: Alternatives) -> Alternatives {
    let mut seen = BTreeSet::new();
    alternatives
        .into_iter()
        .filter(|alternative| seen.insert(format!("{alternative:?}")))
        .collect()
}

fn resources(template: &Yaml) -> impl Iterator<Item = (&str, &Yaml)> {
    template
        .get("Resources")
        .and_then(Yaml::as_mapping)
        .expect("the template has resources")
        .iter()
        .map(|(id, resource)| (id.as_str().expect("logical ids are strings"), resource))
}

fn of_type<'a>(template: &'a Yaml, wanted: &'a str) -> impl Iterator<Item = (&'a str, &'a Yaml)> {
    resources(template)
        .filter(move |(_, resource)| resource.get("Type").and_then(Yaml::as_str) == Some(wanted))
}

fn property<'a>(resource: &'a Yaml, name: &str) -> Option<&'a Yaml> {
    resource
        .get("Properties")
        .and_then(|properties| properties.get(name))
}

// ---------------------------------------------------------------------------------------------------
// Policies

#[derive(Debug, Clone, PartialEq, Eq)]
struct Finding {
    check: &'static str,
    subject: String,
    detail: String,
}

fn finding(check: &'static str, subject: impl Into<String>, detail: impl Into<String>) -> Finding {
    Finding {
        check,
        subject: subject.into(),
        detail: detail.into(),
    }
}

/// One statement of one function's policy, after evaluation.
#[derive(Debug, Clone)]
struct Statement {
    owner: String,
    sid: String,
    allow: bool,
    /// `NotAction`: the statement covers every action except these.
    not_action: bool,
    actions: Vec<String>,
    /// `NotResource`: every resource except these, which is as wide as `"*"` for our purposes.
    not_resource: bool,
    resources: Vec<String>,
}

impl Statement {
    fn subject(&self) -> String {
        format!("{}/{}", self.owner, self.sid)
    }

    fn writes_iam(&self) -> bool {
        if self.not_action {
            // Only a NotAction that leaves out all of IAM keeps IAM writes out.
            return !self.actions.iter().any(|action| {
                action == "*"
                    || action
                        .split_once(':')
                        .is_some_and(|(service, name)| glob(service, "iam") && name == "*")
            });
        }
        self.actions.iter().any(|action| is_iam_write(action))
    }

    fn iam_writes(&self) -> Vec<&str> {
        self.actions
            .iter()
            .map(String::as_str)
            .filter(|action| self.not_action || is_iam_write(action))
            .collect()
    }
}

fn strings(value: Option<&Json>) -> Vec<String> {
    match value {
        None => Vec::new(),
        Some(Json::Array(items)) => items.iter().map(|item| text(item).to_string()).collect(),
        Some(item) => vec![text(item).to_string()],
    }
}

fn statements_of(owner: &str, document: &Json) -> Result<Vec<Statement>, String> {
    let statements = match document.get("Statement") {
        Some(Json::Array(items)) => items.clone(),
        Some(item @ Json::Object(_)) => vec![item.clone()],
        _ => return Err(format!("no Statement in {document}")),
    };
    Ok(statements
        .iter()
        .enumerate()
        .map(|(index, statement)| Statement {
            owner: owner.to_string(),
            sid: statement
                .get("Sid")
                .and_then(Json::as_str)
                .map_or_else(|| format!("#{index}"), str::to_string),
            allow: statement.get("Effect").and_then(Json::as_str) == Some("Allow"),
            not_action: statement.get("NotAction").is_some(),
            actions: strings(statement.get("Action").or(statement.get("NotAction"))),
            not_resource: statement.get("NotResource").is_some(),
            resources: strings(statement.get("Resource").or(statement.get("NotResource"))),
        })
        .collect())
}

/// The statements read so far, and a finding for each policy this checker cannot read.
#[derive(Default)]
struct Policies {
    statements: Vec<Statement>,
    unreadable: Vec<Finding>,
}

impl Policies {
    fn read(&mut self, owner: &str, document: &Json) {
        match statements_of(owner, document) {
            Ok(found) => self.statements.extend(found),
            Err(detail) => self.refuse(owner, detail),
        }
    }

    fn refuse(&mut self, owner: &str, why: impl Into<String>) {
        self.unreadable
            .push(finding("unreadable-policy", owner, why.into()));
    }
}

/// Every statement any function can get, across all `!If` branches. A policy this checker cannot read
/// (a SAM policy template, a managed policy, a role of its own) is a finding: the checker fails closed,
/// so such a policy is refused until the checker is taught to expand it.
fn policy_statements(template: &Yaml, scenario: &Scenario) -> (Vec<Statement>, Vec<Finding>) {
    let mut policies = Policies::default();
    let functions: BTreeSet<&str> = of_type(template, "AWS::Serverless::Function")
        .map(|(id, _)| id)
        .collect();

    if let Some(globals) = template.get("Globals").and_then(|g| g.get("Function")) {
        for key in ["Policies", "Role"] {
            if globals.get(key).is_some() {
                policies.refuse("Globals", format!("Globals.Function.{key}"));
            }
        }
    }
    for (id, function) in of_type(template, "AWS::Serverless::Function") {
        if property(function, "Role").is_some() {
            policies.refuse(id, "a Role of its own");
        }
        let Some(attached) = property(function, "Policies") else {
            continue;
        };
        for alternative in eval(attached, scenario).into_iter().flatten() {
            for item in strings_or_objects(&alternative) {
                policies.read(id, &item);
            }
        }
    }
    for (id, _) in of_type(template, "AWS::Lambda::Function") {
        policies.refuse(id, "an AWS::Lambda::Function, with a role of its own");
    }
    for kind in ["AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"] {
        for (id, policy) in of_type(template, kind) {
            // Attached to a function's role (SAM names it <Function>Role): its statements are that
            // function's.
            let roles = property(policy, "Roles")
                .map(|roles| eval(roles, scenario))
                .unwrap_or_default();
            let mut owners: BTreeSet<String> = roles
                .iter()
                .flatten()
                .flat_map(|roles| strings(Some(roles)))
                .map(|role| {
                    let role = role.trim_start_matches("<Ref ").trim_end_matches('>');
                    match role.strip_suffix("Role") {
                        Some(function) if functions.contains(function) => function.to_string(),
                        _ => role.to_string(),
                    }
                })
                .collect();
            let attached_elsewhere = ["Users", "Groups"]
                .iter()
                .any(|key| property(policy, key).is_some());
            if owners.is_empty() && kind == "AWS::IAM::ManagedPolicy" && !attached_elsewhere {
                // Attached to nothing: the catalog roles' permissions boundary (CatalogRoleBoundary),
                // which limits and grants nothing; what it denies is tried in tests/it/deployed_stack.rs.
                continue;
            }
            if owners.is_empty() {
                owners.insert(id.to_string());
            }
            let Some(document) = property(policy, "PolicyDocument") else {
                policies.refuse(id, "no PolicyDocument");
                continue;
            };
            for document in eval(document, scenario).into_iter().flatten() {
                for owner in &owners {
                    policies.read(owner, &document);
                }
            }
        }
    }
    for (id, role) in of_type(template, "AWS::IAM::Role") {
        if property(role, "ManagedPolicyArns").is_some() {
            policies.refuse(id, "ManagedPolicyArns");
        }
        let inline = property(role, "Policies")
            .map(|inline| eval(inline, scenario))
            .unwrap_or_default();
        for policy in inline.iter().flatten().flat_map(strings_or_objects) {
            match policy.get("PolicyDocument") {
                Some(document) => policies.read(id, document),
                None => policies.refuse(id, format!("no PolicyDocument in {policy}")),
            }
        }
    }
    (policies.statements, policies.unreadable)
}

fn strings_or_objects(value: &Json) -> Vec<Json> {
    match value {
        Json::Array(items) => items.clone(),
        other => vec![other.clone()],
    }
}

/// IAM's wildcard match, case-insensitive as action names are: `*` any run, `?` one character.
fn glob(pattern: &str, text: &str) -> bool {
    fn matches(pattern: &[char], text: &[char]) -> bool {
        match (pattern.first(), text.first()) {
            (None, None) => true,
            (Some('*'), _) => {
                matches(&pattern[1..], text) || (!text.is_empty() && matches(pattern, &text[1..]))
            }
            (Some('?'), Some(_)) => matches(&pattern[1..], &text[1..]),
            (Some(p), Some(t)) => p == t && matches(&pattern[1..], &text[1..]),
            _ => false,
        }
    }
    let pattern: Vec<char> = pattern.to_lowercase().chars().collect();
    let text: Vec<char> = text.to_lowercase().chars().collect();
    matches(&pattern, &text)
}

/// Could this action pattern cover an IAM action that changes something? Read-only only when every name
/// it can match starts with a read-only prefix: `iam:Get*` is read-only, `iam:*`, `iam:G*` and `*` are not.
fn is_iam_write(action: &str) -> bool {
    let (service, name) = match action.split_once(':') {
        Some(parts) => parts,
        None if action == "*" => ("*", "*"),
        // Not a valid action: assume the worst.
        None => return true,
    };
    if !glob(service, "iam") {
        return false;
    }
    let literal = name
        .split(['*', '?'])
        .next()
        .unwrap_or_default()
        .to_lowercase();
    !READ_ONLY_PREFIXES
        .iter()
        .any(|prefix| literal.starts_with(prefix))
}

/// The resources functions may change: managed users and their MFA devices (under `UserPath`), the
/// catalog roles and their grant groups, and the trust-policy locks (never-attached policies).
struct Scope {
    user_path: String,
    catalog_roles: Vec<String>,
}

impl Scope {
    fn new(scenario: &Scenario) -> Self {
        Scope {
            user_path: scenario.string("UserPath"),
            catalog_roles: scenario.list("CatalogRoleNames"),
        }
    }

    fn allowed(&self) -> Vec<String> {
        let mut allowed = vec![
            format!("user{}*", self.user_path),
            format!("mfa{}*", self.user_path),
            "policy/onboarding/locks/*".to_string(),
        ];
        for role in &self.catalog_roles {
            allowed.push(format!("role/{role}"));
            allowed.push(format!("group/onboarding-{role}"));
        }
        allowed
    }

    /// Is every resource this ARN pattern can match inside the scope? A wildcard partition or account
    /// is accepted: an identity policy reaches IAM resources of its own account only.
    fn contains(&self, arn: &str) -> bool {
        resource_part(arn).is_some_and(|resource| {
            self.allowed()
                .iter()
                .any(|allowed| glob_within(resource, allowed))
        })
    }
}

/// The resource part of an IAM ARN of this account (or any: `*`), e.g. `user/onboarded/*`.
fn resource_part(arn: &str) -> Option<&str> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let [prefix, partition, service, region, account, resource] = parts.as_slice() else {
        return None;
    };
    let ok = *prefix == "arn"
        && (*partition == PARTITION || *partition == "*")
        && *service == "iam"
        && region.is_empty()
        && (*account == ACCOUNT || *account == "*");
    ok.then_some(*resource)
}

/// Can `pattern` match only names that `allowed` matches? `allowed` is a literal, or a literal followed
/// by one `*`.
fn glob_within(pattern: &str, allowed: &str) -> bool {
    match allowed.strip_suffix('*') {
        Some(prefix) if !prefix.contains(['*', '?']) => pattern.starts_with(prefix),
        _ => pattern == allowed,
    }
}

fn is_exception(statement: &Statement, action: &str, resource: &str) -> bool {
    EXCEPTIONS
        .iter()
        .any(|(owner, allowed_action, allowed_resource)| {
            statement.owner == *owner
                && !statement.not_action
                && action.eq_ignore_ascii_case(allowed_action)
                && resource_part(resource) == Some(allowed_resource)
        })
}

// ---------------------------------------------------------------------------------------------------
// The checks

/// No IAM write on `"*"` (or `NotResource`), including writes reached through `iam:*`, `iam:Create*`, `*`.
fn iam_writes_on_any_resource(statements: &[Statement]) -> Vec<Finding> {
    statements
        .iter()
        .filter(|s| s.allow && s.writes_iam())
        .filter(|s| s.not_resource || s.resources.iter().any(|r| r == "*"))
        .map(|s| {
            finding(
                "iam-write-on-star",
                s.subject(),
                format!("{:?} on every resource", s.iam_writes()),
            )
        })
        .collect()
}

/// Every IAM write is on managed users, their MFA devices, catalog roles or their grant groups, or is one
/// of the EXCEPTIONS.
fn iam_writes_outside_scope(statements: &[Statement], scope: &Scope) -> Vec<Finding> {
    let mut findings = Vec::new();
    for statement in statements.iter().filter(|s| s.allow && s.writes_iam()) {
        if statement.not_resource {
            findings.push(finding(
                "iam-write-outside-scope",
                statement.subject(),
                "NotResource",
            ));
            continue;
        }
        for action in statement.iam_writes() {
            for resource in &statement.resources {
                if !scope.contains(resource) && !is_exception(statement, action, resource) {
                    findings.push(finding(
                        "iam-write-outside-scope",
                        statement.subject(),
                        format!("{action} on {resource}"),
                    ));
                }
            }
        }
    }
    findings
}

/// No function may pass a role to a service: with `iam:PassRole`, code that can run as the function
/// could hand a catalog role (or any role) to a new compute resource and act as it without MFA.
fn pass_role(statements: &[Statement]) -> Vec<Finding> {
    statements
        .iter()
        .filter(|s| s.allow)
        .filter(|s| {
            let named = s.actions.iter().any(|a| glob(a, "iam:PassRole"));
            if s.not_action { !named } else { named }
        })
        .map(|s| finding("pass-role", s.subject(), format!("{:?}", s.actions)))
        .collect()
}

fn http_apis(template: &Yaml) -> impl Iterator<Item = (&str, &Yaml)> {
    of_type(template, "AWS::Serverless::HttpApi")
}

fn positive_number(value: &Option<Json>) -> bool {
    match value {
        Some(Json::Number(number)) => number.as_f64().is_some_and(|n| n > 0.0),
        Some(Json::String(text)) => text.parse::<f64>().is_ok_and(|n| n > 0.0),
        _ => false,
    }
}

/// Every route of every HTTP API has a rate and a burst limit.
fn api_throttling(template: &Yaml, scenario: &Scenario) -> Vec<Finding> {
    let mut findings = Vec::new();
    for (id, api) in http_apis(template) {
        for limit in ["ThrottlingRateLimit", "ThrottlingBurstLimit"] {
            let values = property(api, "DefaultRouteSettings")
                .and_then(|settings| settings.get(limit))
                .map(|value| eval(value, scenario))
                .unwrap_or_else(|| vec![None]);
            if !values.iter().all(positive_number) {
                findings.push(finding(
                    "api-throttling",
                    id,
                    format!("DefaultRouteSettings.{limit} is {values:?}"),
                ));
            }
        }
    }
    findings
}

/// Every HTTP API writes a JSON access log, with the fields of ACCESS_LOG_FIELDS, to a log group of this
/// template that has a retention and survives the stack (`DeletionPolicy` and `UpdateReplacePolicy`
/// `Retain`: an audit log is not deleted with what it audits).
fn api_access_log(template: &Yaml, scenario: &Scenario) -> Vec<Finding> {
    let mut findings = Vec::new();
    for (id, api) in http_apis(template) {
        let Some(settings) = property(api, "AccessLogSettings") else {
            findings.push(finding("api-access-log", id, "no AccessLogSettings"));
            continue;
        };
        for destination in settings
            .get("DestinationArn")
            .map(|arn| eval(arn, scenario))
            .unwrap_or_else(|| vec![None])
        {
            let group = destination
                .as_ref()
                .and_then(Json::as_str)
                .and_then(|arn| arn.strip_prefix("<GetAtt "))
                .and_then(|arn| arn.strip_suffix(".Arn>"));
            let retained = group.is_some_and(|group| {
                of_type(template, "AWS::Logs::LogGroup").any(|(log, resource)| {
                    let kept =
                        |policy| resource.get(policy).and_then(Yaml::as_str) == Some("Retain");
                    log == group
                        && property(resource, "RetentionInDays").is_some()
                        && kept("DeletionPolicy")
                        && kept("UpdateReplacePolicy")
                })
            });
            if !retained {
                findings.push(finding(
                    "api-access-log",
                    id,
                    format!("the destination {destination:?} is not a retained log group of this template with a retention"),
                ));
            }
        }
        let format = settings.get("Format").map(|format| eval(format, scenario));
        for format in format.unwrap_or_else(|| vec![None]) {
            let fields: Option<serde_json::Map<String, Json>> = format
                .as_ref()
                .and_then(Json::as_str)
                .and_then(|text| serde_json::from_str(text).ok());
            let Some(fields) = fields else {
                findings.push(finding(
                    "api-access-log",
                    id,
                    "the Format is not a JSON object",
                ));
                continue;
            };
            for (field, variables) in ACCESS_LOG_FIELDS {
                let logged = fields
                    .values()
                    .filter_map(Json::as_str)
                    .any(|value| variables.contains(&value));
                if !logged {
                    findings.push(finding(
                        "api-access-log",
                        id,
                        format!("the access log lacks {field} ({})", variables.join(" or ")),
                    ));
                }
            }
        }
    }
    findings
}

/// HTTP reaches the functions only through the checked HTTP APIs: no function URL, no other kind of
/// API, no `HttpApi` event without `ApiId` (SAM would create an implicit API with no limits or log).
fn api_entry_points(template: &Yaml, scenario: &Scenario) -> Vec<Finding> {
    let mut findings = Vec::new();
    let checked: BTreeSet<String> = http_apis(template)
        .map(|(id, _)| format!("<Ref {id}>"))
        .collect();
    for kind in [
        "AWS::Serverless::Api",
        "AWS::ApiGateway::RestApi",
        "AWS::ApiGatewayV2::Api",
        "AWS::Lambda::Url",
    ] {
        for (id, _) in of_type(template, kind) {
            findings.push(finding(
                "api-entry-point",
                id,
                format!("a {kind} this test does not check"),
            ));
        }
    }
    for (id, function) in of_type(template, "AWS::Serverless::Function") {
        if property(function, "FunctionUrlConfig").is_some() {
            findings.push(finding("api-entry-point", id, "a function URL"));
        }
        for (name, event) in property(function, "Events")
            .and_then(Yaml::as_mapping)
            .into_iter()
            .flatten()
        {
            let kind = event.get("Type").and_then(Yaml::as_str);
            if matches!(kind, Some("Api")) {
                findings.push(finding("api-entry-point", id, "a REST API (Api) event"));
            }
            if kind != Some("HttpApi") {
                continue;
            }
            let api = event
                .get("Properties")
                .and_then(|properties| properties.get("ApiId"))
                .map(|api| eval(api, scenario))
                .unwrap_or_else(|| vec![None]);
            let on_checked_api = api.iter().all(|api| {
                api.as_ref()
                    .and_then(Json::as_str)
                    .is_some_and(|api| checked.contains(api))
            });
            if !on_checked_api {
                findings.push(finding(
                    "api-entry-point",
                    id,
                    format!(
                        "event {:?} is not on a checked HttpApi",
                        name.as_str().unwrap_or_default()
                    ),
                ));
            }
            let properties = event.get("Properties");
            let authorizer = properties
                .and_then(|p| p.get("Auth"))
                .and_then(|auth| auth.get("Authorizer"))
                .and_then(Yaml::as_str);
            let path = properties
                .and_then(|p| p.get("Path"))
                .and_then(Yaml::as_str)
                .unwrap_or_default();
            if authorizer == Some("NONE")
                && !(id == "StatusFunction" && UNAUTHENTICATED_PATHS.contains(&path))
            {
                findings.push(finding(
                    "unauthenticated-route",
                    id,
                    format!("{path:?} without the JWT authorizer"),
                ));
            }
        }
    }
    findings
}

/// The only routes anyone may call without a token: the discovery document and the page, both answered by
/// the read-only status function from its environment, without an AWS call (functions/status).
const UNAUTHENTICATED_PATHS: [&str; 2] = ["/.well-known/onboarding", "/"];

/// Functions that anyone outside the stack can trigger: HTTP routes and EventBridge rules that match an
/// event pattern (a schedule is not theirs to trigger).
fn externally_triggered(template: &Yaml, scenario: &Scenario) -> BTreeSet<String> {
    let mut triggered = BTreeSet::new();
    for (id, function) in of_type(template, "AWS::Serverless::Function") {
        let kinds = property(function, "Events")
            .and_then(Yaml::as_mapping)
            .into_iter()
            .flatten()
            .filter_map(|(_, event)| event.get("Type").and_then(Yaml::as_str));
        if kinds.into_iter().any(|kind| {
            matches!(
                kind,
                "HttpApi" | "Api" | "EventBridgeRule" | "CloudWatchEvent"
            )
        }) {
            triggered.insert(id.to_string());
        }
    }
    for (_, rule) in of_type(template, "AWS::Events::Rule") {
        if property(rule, "EventPattern").is_none() {
            continue;
        }
        let targets = property(rule, "Targets")
            .map(|targets| eval(targets, scenario))
            .unwrap_or_default();
        for target in targets.iter().flatten().flat_map(strings_or_objects) {
            if let Some(function) = target
                .get("Arn")
                .and_then(Json::as_str)
                .and_then(|arn| arn.strip_prefix("<GetAtt "))
                .and_then(|arn| arn.strip_suffix(".Arn>"))
            {
                triggered.insert(function.to_string());
            }
        }
    }
    triggered
}

fn iam_writers(statements: &[Statement]) -> BTreeSet<String> {
    statements
        .iter()
        .filter(|s| s.allow && s.writes_iam())
        .map(|s| s.owner.clone())
        .collect()
}

/// `Ref name`, as the name.
fn ref_name(value: &Yaml) -> Option<&str> {
    match intrinsic(value)? {
        (function, argument) if function == "Ref" => argument.as_str(),
        _ => None,
    }
}

/// The one way a reservation may be left out: `!If [C, !Ref P, !Ref AWS::NoValue]`, where the template
/// defines `C` as `!Not [!Equals [!Ref P, "0"]]` and `P` is a parameter whose default is positive. So a
/// deploy that says nothing is bounded, and only an operator who sets `P` to 0 (an account whose whole
/// concurrency quota is smaller than a reservation, and so is the bound) goes without. Gives `P`.
fn reservation_opt_out<'a>(template: &'a Yaml, value: &'a Yaml) -> Option<&'a str> {
    let (function, argument) = intrinsic(value)?;
    let [condition, then, otherwise] = argument.as_sequence()?.as_slice() else {
        return None;
    };
    if function != "Fn::If" || ref_name(otherwise) != Some("AWS::NoValue") {
        return None;
    }
    let parameter = ref_name(then)?;
    let definition = template.get("Conditions")?.get(condition.as_str()?)?;
    let (not, negated) = intrinsic(definition)?;
    let [equals] = negated.as_sequence()?.as_slice() else {
        return None;
    };
    let (equals_fn, operands) = intrinsic(equals)?;
    let [left, right] = operands.as_sequence()?.as_slice() else {
        return None;
    };
    let zero = matches!(plain_scalar(right), Some(text) if text == "0");
    let default = template
        .get("Parameters")?
        .get(parameter)?
        .get("Default")
        .map(plain);
    (not == "Fn::Not"
        && equals_fn == "Fn::Equals"
        && ref_name(left) == Some(parameter)
        && zero
        && positive_number(&default))
    .then_some(parameter)
}

/// A plain YAML scalar as text (`0` and `"0"` alike); `None` for anything else.
fn plain_scalar(value: &Yaml) -> Option<String> {
    match value {
        Yaml::String(text) => Some(text.clone()),
        Yaml::Number(number) => Some(number.to_string()),
        _ => None,
    }
}

/// Every function that others can trigger and that writes IAM has a reserved concurrency: it bounds how
/// many IAM write sequences a flood of requests (a stolen token, a flood of events) can run at once.
/// Left out only through `reservation_opt_out`.
fn writers_without_reserved_concurrency(
    template: &Yaml,
    scenario: &Scenario,
    statements: &[Statement],
) -> Vec<Finding> {
    let triggered = externally_triggered(template, scenario);
    let mut findings = Vec::new();
    for writer in iam_writers(statements).intersection(&triggered) {
        let declared = resources(template)
            .find(|(id, _)| id == writer)
            .and_then(|(_, function)| property(function, "ReservedConcurrentExecutions"));
        let values = declared
            .map(|value| eval(value, scenario))
            .unwrap_or_else(|| vec![None]);
        let opted_out = declared.and_then(|value| reservation_opt_out(template, value));
        let bounded = values
            .iter()
            .all(|value| positive_number(value) || (value.is_none() && opted_out.is_some()));
        if !bounded {
            findings.push(finding(
                "reserved-concurrency",
                writer.as_str(),
                format!("ReservedConcurrentExecutions is {values:?}"),
            ));
        }
    }
    findings
}

fn check(template: &Yaml) -> Vec<Finding> {
    let scenario = Scenario::new(template);
    let (statements, mut findings) = policy_statements(template, &scenario);
    let scope = Scope::new(&scenario);
    findings.extend(iam_writes_on_any_resource(&statements));
    findings.extend(iam_writes_outside_scope(&statements, &scope));
    findings.extend(pass_role(&statements));
    findings.extend(api_throttling(template, &scenario));
    findings.extend(api_access_log(template, &scenario));
    findings.extend(api_entry_points(template, &scenario));
    findings.extend(writers_without_reserved_concurrency(
        template,
        &scenario,
        &statements,
    ));
    findings
}

// ---------------------------------------------------------------------------------------------------
// Tests: the real template, then the real template with one thing broken

fn real_template() -> Yaml {
    serde_norway::from_str(TEMPLATE).expect("template.yaml is YAML")
}

fn yaml(text: &str) -> Yaml {
    serde_norway::from_str(text).expect("the injected YAML parses")
}

fn properties_mut<'a>(template: &'a mut Yaml, id: &str) -> &'a mut serde_norway::Mapping {
    template
        .get_mut("Resources")
        .and_then(|resources| resources.get_mut(id))
        .and_then(|resource| resource.get_mut("Properties"))
        .and_then(Yaml::as_mapping_mut)
        .unwrap_or_else(|| panic!("{id} has Properties"))
}

/// The statement list of a function's first policy document.
fn statements_mut<'a>(template: &'a mut Yaml, function: &str) -> &'a mut Vec<Yaml> {
    properties_mut(template, function)
        .get_mut("Policies")
        .and_then(|policies| policies.get_mut(0))
        .and_then(|document| document.get_mut("Statement"))
        .and_then(Yaml::as_sequence_mut)
        .unwrap_or_else(|| panic!("{function} has a policy document"))
}

/// The findings of the real template with `statement` added to `function`'s policy.
fn with_statement(function: &str, statement: &str) -> Vec<Finding> {
    let mut template = real_template();
    statements_mut(&mut template, function).push(yaml(statement));
    check(&template)
}

fn reported(findings: &[Finding], check: &str, subject: &str) -> bool {
    findings
        .iter()
        .any(|f| f.check == check && f.subject.starts_with(subject))
}

/// What each pattern-checked parameter refuses at deploy time, before any function could: an account id as
/// an event sender (every principal its admin allows would hold an admin's authority), eligibility lists
/// that are not JSON arrays of names, a deployment bucket that is not a bucket name.
#[test]
fn parameters_refuse_what_would_open_the_stack() {
    let template = real_template();
    let pattern = |parameter: &str| {
        let text = template["Parameters"][parameter]["AllowedPattern"]
            .as_str()
            .unwrap_or_else(|| panic!("{parameter} has an AllowedPattern"));
        // CloudFormation matches the whole value.
        regex::Regex::new(&format!("^(?:{text})$")).expect("a valid pattern")
    };
    let cases: &[(&str, &str, bool)] = &[
        ("EventSenders", "", true),
        (
            "EventSenders",
            "arn:aws:iam::111122223333:role/HrSender",
            true,
        ),
        (
            "EventSenders",
            "arn:aws:iam::111122223333:role/service-role/hr/Sender",
            true,
        ),
        ("EventSenders", "111122223333", false),
        ("EventSenders", "arn:aws:iam::111122223333:root", false),
        (
            "EventSenders",
            "arn:aws:iam::111122223333:user/hr-bot",
            false,
        ),
        ("EventSenders", "*", false),
        ("EligibleGroups", "", true),
        ("EligibleGroups", r#"["engineering"]"#, true),
        ("EligibleGroups", r#"["engineering", "contractors"]"#, true),
        ("EligibleGroups", "engineering", false),
        ("EligibleGroups", "[]", false),
        ("EligibleGroups", r#"[""]"#, false),
        ("EligibleEmailDomains", r#"["example.com"]"#, true),
        ("EligibleEmailDomains", r#"["@example.com"]"#, false),
        ("EligibleEmailDomains", r#"["*.example.com"]"#, false),
        ("EligibleEmailDomains", "example.com", false),
        ("DeploymentBucketName", "", true),
        ("DeploymentBucketName", "acme-deployments", true),
        ("DeploymentBucketName", "acme-deployments/*", false),
        ("DeploymentBucketName", "*", false),
    ];
    let wrong: Vec<String> = cases
        .iter()
        .filter(|(parameter, value, accepted)| pattern(parameter).is_match(value) != *accepted)
        .map(|(parameter, value, accepted)| {
            format!(
                "{parameter}={value:?} should be {}",
                if *accepted { "accepted" } else { "refused" }
            )
        })
        .collect();
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn the_template_passes_every_check() {
    let findings = check(&real_template());
    assert!(findings.is_empty(), "template.yaml: {findings:#?}");
}

#[test]
fn the_functions_that_must_be_bounded_are_the_four_that_change_users() {
    let template = real_template();
    let scenario = Scenario::new(&template);
    let (statements, _) = policy_statements(&template, &scenario);
    let writers = iam_writers(&statements);
    let triggered = externally_triggered(&template, &scenario);
    let bounded: BTreeSet<&str> = writers
        .intersection(&triggered)
        .map(String::as_str)
        .collect();
    assert_eq!(
        bounded,
        BTreeSet::from([
            "EnrollMfaFunction",
            "IssueKeyFunction",
            "OffboardFunction",
            "OnboardFunction"
        ])
    );
    // The drift check writes only through its Remediate branches: seen, so !If branches are read.
    assert!(writers.contains("DriftCheckFunction"), "{writers:?}");
    assert!(!writers.contains("StatusFunction"), "status only reads");
}

#[test]
fn the_only_writes_outside_the_managed_resources_are_leaving_any_group() {
    let template = real_template();
    let scenario = Scenario::new(&template);
    let (statements, _) = policy_statements(&template, &scenario);
    let scope = Scope::new(&scenario);
    let mut outside = Vec::new();
    for statement in statements.iter().filter(|s| s.allow && s.writes_iam()) {
        for action in statement.iam_writes() {
            for resource in statement.resources.iter().filter(|r| !scope.contains(r)) {
                outside.push((statement.owner.as_str(), action, resource.as_str()));
            }
        }
    }
    // A function whose policy holds a condition is read once per branch: the same statement, once.
    outside.sort();
    outside.dedup();
    assert_eq!(
        outside,
        [
            (
                "DriftCheckFunction",
                "iam:RemoveUserFromGroup",
                "arn:aws:iam::123456789012:group/*"
            ),
            (
                "OffboardFunction",
                "iam:RemoveUserFromGroup",
                "arn:aws:iam::123456789012:group/*"
            )
        ]
    );
}

#[test]
fn action_patterns_are_classified_as_iam_writes_or_not() {
    let cases = [
        ("iam:CreateUser", true),
        ("iam:createuser", true),
        ("iam:*", true),
        ("iam:Create*", true),
        ("iam:G*", true),
        ("iam:*User", true),
        ("*", true),
        ("*:*", true),
        ("i?m:PutUserPolicy", true),
        ("iam:GetUser", false),
        ("iam:Get*", false),
        ("iam:List*", false),
        ("iam:GenerateCredentialReport", false),
        ("iam:SimulatePrincipalPolicy", false),
        ("sts:AssumeRole", false),
        ("sns:Publish", false),
        ("events:PutEvents", false),
    ];
    for (action, write) in cases {
        assert_eq!(is_iam_write(action), write, "{action}");
    }
    for (pattern, passes) in [
        ("iam:PassRole", true),
        ("IAM:passrole", true),
        ("iam:Pass*", true),
        ("iam:*", true),
        ("*", true),
        ("iam:P?ssRole", true),
        ("iam:PassRoles", false),
        ("iam:Get*", false),
    ] {
        assert_eq!(glob(pattern, "iam:PassRole"), passes, "{pattern}");
    }
}

#[test]
fn the_scope_is_the_user_path_the_catalog_roles_and_their_grant_groups() {
    let scope = Scope {
        user_path: "/onboarded/".into(),
        catalog_roles: vec!["ResourceCreatorRole".into()],
    };
    let inside = [
        "arn:aws:iam::123456789012:user/onboarded/*",
        "arn:aws:iam::123456789012:user/onboarded/dev@example.com",
        "arn:*:iam::*:mfa/onboarded/*",
        "arn:*:iam::*:role/ResourceCreatorRole",
        "arn:*:iam::*:group/onboarding-ResourceCreatorRole",
    ];
    let outside = [
        "*",
        "arn:aws:iam::123456789012:user/*",
        "arn:aws:iam::123456789012:user/onb*",
        "arn:aws:iam::123456789012:user/other/onboarded/*",
        "arn:aws:iam::123456789012:mfa/*",
        "arn:aws:iam::123456789012:role/*",
        "arn:aws:iam::123456789012:role/ResourceCreatorRole*",
        "arn:aws:iam::123456789012:role/OrganizationAccountAccessRole",
        "arn:aws:iam::123456789012:group/onboarding-*",
        "arn:aws:iam::123456789012:group/Admins",
        "arn:aws:iam::123456789012:policy/*",
        "arn:aws:iam::999999999999:user/onboarded/*",
        "arn:aws:s3:::user/onboarded/x",
    ];
    for arn in inside {
        assert!(scope.contains(arn), "{arn} should be inside");
    }
    for arn in outside {
        assert!(!scope.contains(arn), "{arn} should be outside");
    }
}

#[test]
fn a_route_without_the_jwt_authorizer_is_reported_unless_it_is_discovery_or_the_page() {
    let mut template = real_template();
    let events = properties_mut(&mut template, "OnboardFunction")
        .get_mut("Events")
        .and_then(Yaml::as_mapping_mut)
        .expect("OnboardFunction has events");
    for event in events.values_mut() {
        if let Some(properties) = event.get_mut("Properties").and_then(Yaml::as_mapping_mut) {
            properties.insert(yaml("Auth"), yaml("{Authorizer: NONE}"));
        }
    }
    let findings = check(&template);
    assert!(
        reported(&findings, "unauthenticated-route", "OnboardFunction"),
        "{findings:#?}"
    );
    assert!(
        !reported(&check(&real_template()), "unauthenticated-route", ""),
        "discovery and the page are the deployed template's only unauthenticated routes"
    );
}

#[test]
fn an_iam_write_on_every_resource_is_refused() {
    for action in [
        "iam:CreateUser",
        "iam:*",
        "iam:Create*",
        "'*'",
        "iam:AttachUserPolicy",
    ] {
        let findings = with_statement(
            "OnboardFunction",
            &format!("{{Effect: Allow, Action: {action}, Resource: '*'}}"),
        );
        assert!(
            reported(&findings, "iam-write-on-star", "OnboardFunction"),
            "{action}: {findings:#?}"
        );
    }
    let findings = with_statement(
        "IssueKeyFunction",
        "{Effect: Allow, Action: iam:UpdateUser, NotResource: 'arn:aws:iam::123456789012:user/onboarded/*'}",
    );
    assert!(
        reported(&findings, "iam-write-on-star", "IssueKeyFunction"),
        "{findings:#?}"
    );
}

#[test]
fn reads_on_every_resource_and_a_deny_are_accepted() {
    let findings = with_statement(
        "StatusFunction",
        "{Effect: Allow, Action: [iam:GetUser, iam:List*, iam:GenerateCredentialReport], Resource: '*'}",
    );
    assert!(findings.is_empty(), "{findings:#?}");
    let findings = with_statement(
        "StatusFunction",
        "{Effect: Deny, Action: 'iam:*', Resource: '*'}",
    );
    assert!(findings.is_empty(), "{findings:#?}");
}

#[test]
fn an_iam_write_outside_the_managed_resources_is_refused() {
    for resource in [
        "!Sub 'arn:${AWS::Partition}:iam::${AWS::AccountId}:user/*'",
        "!Sub 'arn:${AWS::Partition}:iam::${AWS::AccountId}:user/admins/*'",
        "'arn:aws:iam::123456789012:group/onboarding-*'",
        "'arn:aws:iam::123456789012:group/Administrators'",
        "'arn:aws:iam::123456789012:role/*'",
        "!Sub 'arn:${AWS::Partition}:iam::${AWS::AccountId}:policy/*'",
    ] {
        let findings = with_statement(
            "EnrollMfaFunction",
            &format!("{{Effect: Allow, Action: iam:AttachUserPolicy, Resource: {resource}}}"),
        );
        assert!(
            reported(&findings, "iam-write-outside-scope", "EnrollMfaFunction"),
            "{resource}: {findings:#?}"
        );
    }
}

#[test]
fn the_group_exception_is_offboard_and_the_drift_check_removing_members_only() {
    let any_group = "!Sub 'arn:${AWS::Partition}:iam::${AWS::AccountId}:group/*'";
    let findings = with_statement(
        "IssueKeyFunction",
        &format!("{{Effect: Allow, Action: iam:RemoveUserFromGroup, Resource: {any_group}}}"),
    );
    assert!(
        reported(&findings, "iam-write-outside-scope", "IssueKeyFunction"),
        "{findings:#?}"
    );
    let findings = with_statement(
        "OffboardFunction",
        &format!(
            "{{Effect: Allow, Action: [iam:RemoveUserFromGroup, iam:AddUserToGroup], Resource: {any_group}}}"
        ),
    );
    let mut outside: Vec<&Finding> = findings
        .iter()
        .filter(|f| f.check == "iam-write-outside-scope")
        .collect();
    // Read once per branch of the function's conditional statements (its index shifts with them): the
    // same finding, once.
    outside.sort_by(|a, b| a.detail.cmp(&b.detail));
    outside.dedup_by(|a, b| a.detail == b.detail);
    assert_eq!(outside.len(), 1, "{findings:#?}");
    assert!(
        outside[0].detail.starts_with("iam:AddUserToGroup"),
        "{outside:#?}"
    );
}

#[test]
fn pass_role_is_refused_however_it_is_spelled() {
    let role = "!Sub 'arn:${AWS::Partition}:iam::${AWS::AccountId}:role/ResourceCreatorRole'";
    for action in ["iam:PassRole", "iam:Pass*", "iam:*", "'*'", "IAM:passrole"] {
        let findings = with_statement(
            "StatusFunction",
            &format!("{{Effect: Allow, Action: {action}, Resource: {role}}}"),
        );
        assert!(
            reported(&findings, "pass-role", "StatusFunction"),
            "{action}: {findings:#?}"
        );
    }
    let findings = with_statement(
        "StatusFunction",
        &format!("{{Effect: Allow, NotAction: iam:CreateUser, Resource: {role}}}"),
    );
    assert!(
        reported(&findings, "pass-role", "StatusFunction"),
        "{findings:#?}"
    );
    // NotAction covers every IAM write too: status would now change users, so it would need a bound.
    assert!(
        reported(&findings, "reserved-concurrency", "StatusFunction"),
        "{findings:#?}"
    );
}

#[test]
fn statements_behind_a_condition_are_checked_in_both_branches() {
    let bad = "{Sid: Hidden, Effect: Allow, Action: iam:CreateUser, Resource: '*'}";
    for statement in [
        format!("!If [RemediationEnabled, {bad}, !Ref AWS::NoValue]"),
        format!("!If [RemediationEnabled, !Ref AWS::NoValue, {bad}]"),
        format!("{{'Fn::If': [HasAlertEmail, {bad}, {{Ref: AWS::NoValue}}]}}"),
    ] {
        let findings = with_statement("DriftCheckFunction", &statement);
        assert!(
            reported(&findings, "iam-write-on-star", "DriftCheckFunction/Hidden"),
            "{statement}: {findings:#?}"
        );
    }
    // A condition inside the resource list too.
    let findings = with_statement(
        "DriftCheckFunction",
        "{Effect: Allow, Action: iam:TagUser, Resource: !If [HasBoundary, !Sub 'arn:${AWS::Partition}:iam::${AWS::AccountId}:user${UserPath}*', '*']}",
    );
    assert!(
        reported(&findings, "iam-write-on-star", "DriftCheckFunction"),
        "{findings:#?}"
    );
}

#[test]
fn a_separate_policy_on_a_function_role_is_checked_as_that_function_s() {
    let mut template = real_template();
    let publish = template
        .get_mut("Resources")
        .and_then(|resources| resources.get_mut("PublishOutcomesPolicy"))
        .and_then(|policy| policy.get_mut("Properties"))
        .and_then(|properties| properties.get_mut("PolicyDocument"))
        .and_then(|document| document.get_mut("Statement"))
        .and_then(Yaml::as_sequence_mut)
        .expect("PublishOutcomesPolicy has statements");
    publish.push(yaml(
        "{Sid: Pass, Effect: Allow, Action: iam:PassRole, Resource: '*'}",
    ));
    let findings = check(&template);
    assert!(
        reported(&findings, "pass-role", "OnboardFunction/Pass"),
        "{findings:#?}"
    );
    assert!(
        reported(&findings, "pass-role", "OffboardFunction/Pass"),
        "{findings:#?}"
    );
}

#[test]
fn a_policy_the_checker_cannot_read_is_refused() {
    for policy in [
        "IAMFullAccess",
        "{AWSSecretsManagerGetSecretValuePolicy: {SecretArn: '*'}}",
    ] {
        let mut template = real_template();
        properties_mut(&mut template, "StatusFunction")
            .get_mut("Policies")
            .and_then(Yaml::as_sequence_mut)
            .expect("StatusFunction has policies")
            .push(yaml(policy));
        let findings = check(&template);
        assert!(
            reported(&findings, "unreadable-policy", "StatusFunction"),
            "{policy}: {findings:#?}"
        );
    }
}

#[test]
fn an_api_without_throttling_is_refused() {
    for limit in ["ThrottlingRateLimit", "ThrottlingBurstLimit"] {
        let mut template = real_template();
        properties_mut(&mut template, "Api")
            .get_mut("DefaultRouteSettings")
            .and_then(Yaml::as_mapping_mut)
            .expect("the API has DefaultRouteSettings")
            .shift_remove(limit);
        assert!(
            reported(&check(&template), "api-throttling", "Api"),
            "{limit}"
        );
    }
    let mut template = real_template();
    properties_mut(&mut template, "Api").shift_remove("DefaultRouteSettings");
    assert!(reported(&check(&template), "api-throttling", "Api"));
}

#[test]
fn an_api_without_a_complete_access_log_is_refused() {
    let mut template = real_template();
    properties_mut(&mut template, "Api").shift_remove("AccessLogSettings");
    assert!(reported(&check(&template), "api-access-log", "Api"));

    let mut template = real_template();
    properties_mut(&mut template, "Api")
        .get_mut("AccessLogSettings")
        .and_then(Yaml::as_mapping_mut)
        .expect("the API has AccessLogSettings")
        .insert(
            yaml("Format"),
            yaml(r#"'{"requestId":"$context.requestId","ip":"$context.identity.sourceIp","status":"$context.status"}'"#),
        );
    let findings = check(&template);
    for field in ["routeKey", "sub", "integrationError"] {
        assert!(
            findings
                .iter()
                .any(|f| f.check == "api-access-log" && f.detail.contains(field)),
            "{field}: {findings:#?}"
        );
    }

    let mut template = real_template();
    properties_mut(&mut template, "ApiAccessLogGroup").shift_remove("RetentionInDays");
    assert!(reported(&check(&template), "api-access-log", "Api"));

    for policy in ["DeletionPolicy", "UpdateReplacePolicy"] {
        let mut template = real_template();
        template
            .get_mut("Resources")
            .and_then(|resources| resources.get_mut("ApiAccessLogGroup"))
            .and_then(Yaml::as_mapping_mut)
            .expect("the access log group")
            .insert(yaml(policy), yaml("Delete"));
        assert!(
            reported(&check(&template), "api-access-log", "Api"),
            "{policy}"
        );
    }
}

#[test]
fn a_route_outside_the_checked_api_is_refused() {
    let mut template = real_template();
    properties_mut(&mut template, "IssueKeyFunction")
        .get_mut("Events")
        .and_then(|events| events.get_mut("IssueKey"))
        .and_then(|event| event.get_mut("Properties"))
        .and_then(Yaml::as_mapping_mut)
        .expect("IssueKeyFunction has an HTTP event")
        .shift_remove("ApiId");
    assert!(reported(
        &check(&template),
        "api-entry-point",
        "IssueKeyFunction"
    ));

    let mut template = real_template();
    properties_mut(&mut template, "StatusFunction")
        .insert(yaml("FunctionUrlConfig"), yaml("{AuthType: NONE}"));
    assert!(reported(
        &check(&template),
        "api-entry-point",
        "StatusFunction"
    ));
}

#[test]
fn a_reservation_is_left_out_only_by_setting_its_parameter_to_zero() {
    // The real template's form is accepted (the_template_passes_every_check); the same !If behind any
    // other condition, or with a parameter that defaults to no reservation, is not.
    let mut template = real_template();
    properties_mut(&mut template, "OnboardFunction").insert(
        yaml("ReservedConcurrentExecutions"),
        yaml("!If [HasAlertEmail, !Ref WriterReservedConcurrency, !Ref AWS::NoValue]"),
    );
    assert!(reported(
        &check(&template),
        "reserved-concurrency",
        "OnboardFunction"
    ));

    let mut template = real_template();
    template
        .get_mut("Parameters")
        .and_then(|parameters| parameters.get_mut("WriterReservedConcurrency"))
        .and_then(Yaml::as_mapping_mut)
        .expect("the parameter")
        .insert(yaml("Default"), yaml("0"));
    let findings = check(&template);
    for function in [
        "OnboardFunction",
        "EnrollMfaFunction",
        "IssueKeyFunction",
        "OffboardFunction",
    ] {
        assert!(
            reported(&findings, "reserved-concurrency", function),
            "{function}"
        );
    }

    let mut template = real_template();
    template
        .get_mut("Conditions")
        .and_then(Yaml::as_mapping_mut)
        .expect("conditions")
        .insert(
            yaml("ReservesWriterConcurrency"),
            yaml("!Not [!Equals [!Ref WriterReservedConcurrency, \"10\"]]"),
        );
    assert!(reported(
        &check(&template),
        "reserved-concurrency",
        "IssueKeyFunction"
    ));
}

#[test]
fn a_user_changing_function_without_reserved_concurrency_is_refused() {
    for function in [
        "OnboardFunction",
        "EnrollMfaFunction",
        "IssueKeyFunction",
        "OffboardFunction",
    ] {
        let mut template = real_template();
        properties_mut(&mut template, function).shift_remove("ReservedConcurrentExecutions");
        assert!(
            reported(&check(&template), "reserved-concurrency", function),
            "{function}"
        );
    }
}

/// A request over EventBridge has an admin's authority: the rules that take one are on the bus the stack
/// creates (never the default bus, which anyone with events:PutEvents may write to), whatever the bus
/// parameters; they match the sender's account; and that bus has a policy that denies the requests'
/// detail-types to everyone but the named senders (tests/it/deployed_stack.rs decides it with IAM's rules).
#[test]
fn requests_arrive_only_on_the_stacks_bus_whose_policy_names_the_senders() {
    let template = real_template();
    let scenario = Scenario::new(&template);
    let functions: BTreeSet<&str> = of_type(&template, "AWS::Serverless::Function")
        .map(|(id, _)| id)
        .collect();
    // The rules that invoke a function carry requests; the one that keeps the Onboarding Failed events
    // the functions publish (OnboardingFailedRule) only writes to a log group.
    let invokes_a_function = |rule: &Yaml| {
        property(rule, "Targets")
            .and_then(Yaml::as_sequence)
            .is_some_and(|targets| {
                targets.iter().any(|target| {
                    target
                        .get("Arn")
                        .and_then(intrinsic)
                        .is_some_and(|(function, argument)| {
                            function == "Fn::GetAtt"
                                && argument
                                    .as_str()
                                    .and_then(|attribute| attribute.strip_suffix(".Arn"))
                                    .is_some_and(|id| functions.contains(id))
                        })
                })
            })
    };
    let rules: Vec<_> = of_type(&template, "AWS::Events::Rule")
        .filter(|(_, rule)| property(rule, "EventPattern").is_some() && invokes_a_function(rule))
        .collect();
    assert_eq!(rules.len(), 2, "the onboarding and offboarding rules");
    for (id, rule) in rules {
        let buses = property(rule, "EventBusName")
            .map(|bus| eval(bus, &scenario))
            .unwrap_or_else(|| vec![None]);
        assert_eq!(
            buses,
            vec![Some(Json::String("<Ref EventBus>".into()))],
            "{id}: every branch on the stack's bus"
        );
        let pattern = property(rule, "EventPattern").expect("a pattern");
        assert!(
            pattern.get("account").is_some(),
            "{id}: matches the account"
        );
        assert_eq!(
            rule.get("Condition").and_then(Yaml::as_str),
            Some("HasOnboardingEventSources"),
            "{id}"
        );
    }
    // The bus exists whenever the rules do.
    let implied = intrinsic(&template["Conditions"]["CreatesEventBus"])
        .filter(|(function, _)| function == "Fn::Or")
        .and_then(|(_, branches)| branches.as_sequence())
        .expect("CreatesEventBus is an !Or");
    assert!(
        implied.iter().any(|branch| {
            intrinsic(branch).is_some_and(|(function, argument)| {
                function == "Condition" && argument.as_str() == Some("HasOnboardingEventSources")
            })
        }),
        "HasOnboardingEventSources implies CreatesEventBus"
    );
    let (_, bus) = of_type(&template, "AWS::Events::EventBus")
        .next()
        .expect("the stack's bus");
    let policy = property(bus, "Policy").expect("the bus has a resource policy");
    let denies: Vec<&str> = policy["Statement"]
        .as_sequence()
        .expect("statements")
        .iter()
        .filter(|statement| statement.get("Effect").and_then(Yaml::as_str) == Some("Deny"))
        .filter_map(|statement| statement.get("Sid").and_then(Yaml::as_str))
        .collect();
    assert_eq!(
        denies,
        ["NobodyElseRequests", "InThisAccountOnlyNamedSendersRequest"]
    );
}
