//! The drift state machine's definition (Amazon States Language, as template.yaml holds it) run the way
//! Step Functions runs it, for the parts it uses: `lambda:invoke` Tasks with `Parameters`,
//! `ResultSelector`, `ResultPath`, `OutputPath` and `Retry`; a Distributed `Map` with `ItemsPath`,
//! `ItemSelector`, `MaxConcurrencyPath`, `ToleratedFailurePercentagePath` and `Catch`. Each Lambda
//! invocation goes to a real function binary behind the Runtime API emulator. No engine that runs Lambda
//! functions exists without Docker, so the tests run the definition itself through this model; cfn-lint
//! validates the same definition against the States Language schema (scripts/test).

use std::collections::HashMap;

use serde_json::{Map, Value, json};

use crate::runtime_api::LambdaProcess;

/// What a Map without a ResultWriter may gather from its children, all outputs together.
const MAP_OUTPUT_LIMIT: usize = 256 * 1024;

/// A state's failure, as a Catch sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    pub error: String,
    pub cause: String,
}

/// One execution's record: every Lambda invocation, in order, as (function placeholder, payload).
#[derive(Debug, Default)]
pub struct Execution {
    pub invocations: Vec<(String, Value)>,
    pub output: Option<Value>,
    pub failure: Option<Failure>,
}

pub struct StateMachine<'a> {
    definition: Value,
    /// `${DriftCheckFunctionArn}` (a `DefinitionSubstitutions` placeholder) → its function.
    functions: HashMap<String, &'a mut LambdaProcess>,
}

impl<'a> StateMachine<'a> {
    pub fn new(definition: Value, functions: HashMap<String, &'a mut LambdaProcess>) -> Self {
        StateMachine {
            definition,
            functions,
        }
    }

    /// Runs one execution named `name` with `input`.
    pub async fn start(&mut self, name: &str, input: Value) -> Execution {
        let mut execution = Execution::default();
        let context = json!({"Execution": {"Name": name}});
        let definition = self.definition.clone();
        match self.run(&definition, input, &context, &mut execution).await {
            Ok(output) => execution.output = Some(output),
            Err(failure) => execution.failure = Some(failure),
        }
        execution
    }

    async fn run(
        &mut self,
        machine: &Value,
        mut input: Value,
        context: &Value,
        execution: &mut Execution,
    ) -> Result<Value, Failure> {
        let mut name = text(&machine["StartAt"]).to_string();
        loop {
            let state = &machine["States"][&name];
            let outcome = match text(&state["Type"]) {
                "Task" => self.task(state, &input, context, execution).await,
                "Map" => Box::pin(self.map(state, &input, context, execution)).await,
                other => panic!("the model runs Task and Map states, not {other} ({name})"),
            };
            let next = match outcome {
                Ok(result) => {
                    input = place(state, input, result);
                    if state["End"] == json!(true) {
                        return Ok(input);
                    }
                    &state["Next"]
                }
                Err(failure) => {
                    let catcher = state["Catch"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .find(|catcher| matches(&catcher["ErrorEquals"], &failure.error))
                        .ok_or(failure.clone())?;
                    let error = json!({"Error": failure.error, "Cause": failure.cause});
                    input = set_path(input, &catcher["ResultPath"], error);
                    &catcher["Next"]
                }
            };
            name = text(next).to_string();
        }
    }

    async fn task(
        &mut self,
        state: &Value,
        input: &Value,
        context: &Value,
        execution: &mut Execution,
    ) -> Result<Value, Failure> {
        assert_eq!(
            text(&state["Resource"]),
            "arn:aws:states:::lambda:invoke",
            "the model invokes Lambda functions only"
        );
        let parameters = template(&state["Parameters"], input, context);
        let function = text(&parameters["FunctionName"]).to_string();
        let payload = parameters["Payload"].clone();
        let mut attempts_by_retrier: Vec<u64> = Vec::new();
        loop {
            execution
                .invocations
                .push((function.clone(), payload.clone()));
            let process = self
                .functions
                .get_mut(&function)
                .unwrap_or_else(|| panic!("no function for {function}"));
            let outcome = process.invoke(payload.clone()).await;
            if outcome.kind == "response" {
                let result = json!({"StatusCode": 200, "Payload": outcome.body});
                return Ok(match state.get("ResultSelector") {
                    Some(selector) => template(selector, &result, context),
                    None => result,
                });
            }
            let failure = Failure {
                error: text(&outcome.body["errorType"]).to_string(),
                cause: text(&outcome.body["errorMessage"]).to_string(),
            };
            let retriers = state["Retry"].as_array().cloned().unwrap_or_default();
            attempts_by_retrier.resize(retriers.len(), 0);
            let Some(index) = retriers
                .iter()
                .position(|retrier| matches(&retrier["ErrorEquals"], &failure.error))
            else {
                return Err(failure);
            };
            attempts_by_retrier[index] += 1;
            if attempts_by_retrier[index] > retriers[index]["MaxAttempts"].as_u64().unwrap_or(3) {
                return Err(failure);
            }
        }
    }

    async fn map(
        &mut self,
        state: &Value,
        input: &Value,
        context: &Value,
        execution: &mut Execution,
    ) -> Result<Value, Failure> {
        let processor = &state["ItemProcessor"];
        assert_eq!(processor["ProcessorConfig"]["Mode"], "DISTRIBUTED");
        let items = path(input, &state["ItemsPath"])
            .as_array()
            .cloned()
            .expect("ItemsPath selects a list");
        let max_concurrency = path(input, &state["MaxConcurrencyPath"]);
        assert!(
            max_concurrency.as_u64().is_some_and(|n| n >= 1),
            "MaxConcurrencyPath selects a positive whole number, not {max_concurrency}"
        );
        let tolerated = path(input, &state["ToleratedFailurePercentagePath"])
            .as_f64()
            .expect("ToleratedFailurePercentagePath selects a number");
        let (mut results, mut failed) = (Vec::new(), 0usize);
        for (index, item) in items.iter().enumerate() {
            let mut item_context = context.clone();
            item_context["Map"] = json!({"Item": {"Index": index, "Value": item}});
            let child_input = template(&state["ItemSelector"], input, &item_context);
            match Box::pin(self.run(processor, child_input, &item_context, execution)).await {
                Ok(output) => results.push(output),
                Err(_) => failed += 1,
            }
        }
        let gathered = Value::Array(results);
        if gathered.to_string().len() > MAP_OUTPUT_LIMIT {
            return Err(Failure {
                error: "States.DataLimitExceeded".to_string(),
                cause: "the children's outputs exceed 256 KiB".to_string(),
            });
        }
        if !items.is_empty() && (failed as f64) * 100.0 / (items.len() as f64) > tolerated {
            return Err(Failure {
                error: "States.ExceedToleratedFailureThreshold".to_string(),
                cause: format!("{failed} of {} items failed", items.len()),
            });
        }
        Ok(gathered)
    }
}

/// A state's `ResultPath` and `OutputPath` applied to its result.
fn place(state: &Value, input: Value, result: Value) -> Value {
    let placed = match state.get("ResultPath") {
        None => result,
        Some(result_path) => set_path(input, result_path, result),
    };
    match state.get("OutputPath") {
        Some(output_path) => path(&placed, output_path),
        None => placed,
    }
}

fn matches(error_equals: &Value, error: &str) -> bool {
    error_equals
        .as_array()
        .into_iter()
        .flatten()
        .any(|name| name == "States.ALL" || name == error)
}

fn text(value: &Value) -> &str {
    value.as_str().unwrap_or_default()
}

/// A payload template: keys ending in `.$` take the value their path selects.
fn template(shape: &Value, input: &Value, context: &Value) -> Value {
    match shape {
        Value::Object(fields) => {
            let mut built = Map::new();
            for (key, value) in fields {
                match key.strip_suffix(".$") {
                    Some(key) => {
                        let selected = match text(value).strip_prefix("$$") {
                            Some(rest) => path(context, &json!(format!("${rest}"))),
                            None => path(input, value),
                        };
                        built.insert(key.to_string(), selected);
                    }
                    None => {
                        built.insert(key.clone(), template(value, input, context));
                    }
                }
            }
            Value::Object(built)
        }
        other => other.clone(),
    }
}

/// `$`, or `$.a.b`: the dotted paths the definition uses.
fn path(value: &Value, reference: &Value) -> Value {
    let reference = reference
        .as_str()
        .unwrap_or_else(|| panic!("a path, not {reference}"));
    let rest = reference
        .strip_prefix('$')
        .unwrap_or_else(|| panic!("{reference} is not a path"));
    rest.split('.')
        .filter(|step| !step.is_empty())
        .fold(value.clone(), |at, step| at[step].clone())
}

/// `ResultPath`: `null` keeps the input as it was; `$` replaces it; `$.a.b` puts the result there.
fn set_path(mut input: Value, reference: &Value, result: Value) -> Value {
    let Some(reference) = reference.as_str() else {
        return input;
    };
    let steps: Vec<&str> = reference
        .trim_start_matches('$')
        .split('.')
        .filter(|step| !step.is_empty())
        .collect();
    let Some((last, parents)) = steps.split_last() else {
        return result;
    };
    let mut at = &mut input;
    for step in parents {
        at = &mut at[*step];
    }
    at[*last] = result;
    input
}
