//! The `onboarding` CLI: a person's side of the onboarding API (README, "For the people being onboarded").

pub mod api;
pub mod auth;
pub mod awsconfig;
pub mod commands;
pub mod config;
pub mod console;
pub mod error;
pub mod profile;
pub mod prompt;
pub mod role_env;
pub mod secrets;
pub mod store;
pub mod sts;
pub mod vault;
