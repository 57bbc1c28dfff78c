//! What setup learned about the person's AWS identity, per profile: enough for `credential-process`,
//! `assume` and `status` to work without calling the API.

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::store;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Role {
    pub name: String,
    pub arn: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Profile {
    pub username: String,
    pub user_arn: String,
    pub roles: Vec<Role>,
    pub mfa_serial: Option<String>,
}

fn file(profile: &str) -> Result<std::path::PathBuf> {
    store::path(&format!("profiles/{profile}.json"))
}

impl Profile {
    pub fn load(profile: &str) -> Result<Option<Profile>> {
        store::read_json(&file(profile)?)
    }

    pub fn save(&self, profile: &str) -> Result<()> {
        store::write_json(&file(profile)?, self)
    }

    pub fn remove(profile: &str) -> Result<bool> {
        store::remove(&file(profile)?)
    }
}
