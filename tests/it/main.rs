//! The integration tests, one binary: the handlers and the built function binaries against `moto_server`,
//! the template's checks and the deployed stack. Each module was a test binary of its own; filter by
//! module, e.g. `cargo test --test it faults::`. What they share is the `test-support` crate.

mod catalog;
mod deployed_stack;
mod drift;
mod faults;
mod fuzz_events;
mod hostile;
mod hostile_input;
mod lambda_runtime;
mod lifecycle;
mod onboarding;
mod organization;
mod races;
mod secrets;
mod spokes;
mod template;
