//! The catalog file: read, checked as the functions check `ROLE_CATALOG`, and turned into the stack
//! parameters it implies.

use std::path::{Path, PathBuf};

use provisioning::config::{CatalogParameters, CatalogRole, ConfigError, parse_catalog};
use serde::Deserialize;
use serde_json::{Value, json};

pub const DEFAULT_PARAMETER: &str = "/iam-onboarding/catalog";

/// Passed inline (`RoleCatalog`) up to this size. CloudFormation takes 4,096 bytes in a parameter, but the
/// value becomes `ROLE_CATALOG` in every function's environment, where Lambda's 4 KB also holds the
/// template's other variables (about 1.5 KB of them): larger catalogs go to the SSM parameter.
const INLINE_LIMIT: usize = 2_048;
/// An SSM parameter's value: 4 KB in the standard tier, 8 KB in the advanced tier.
const STANDARD_TIER_LIMIT: usize = 4_096;
const ADVANCED_TIER_LIMIT: usize = 8_192;
/// IAM's default quota of managed policies per role; up to 20 on request (the hard limit the functions
/// enforce).
const DEFAULT_MANAGED_POLICIES_QUOTA: usize = 10;

/// The file's shape (`catalog.schema.json`): the roles under `roles:`, room for settings beside them later.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogFile {
    roles: Vec<Value>,
}

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("{path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{path}: not a catalog file (YAML or JSON with a list of roles under `roles:`): {message}"
    )]
    Shape { path: PathBuf, message: String },
    #[error("{path}: {reason}")]
    Invalid { path: PathBuf, reason: String },
    #[error(
        "{path}: the catalog is {bytes} bytes as JSON, over the {ADVANCED_TIER_LIMIT} an SSM parameter \
         holds: split inline policies into customer managed policies (managed_policy_arns)"
    )]
    TooLarge { path: PathBuf, bytes: usize },
    #[error("--parameter {0:?}: an SSM parameter name starting with / (letters, digits, _ . - /)")]
    ParameterName(String),
}

#[derive(Debug)]
pub struct Checked {
    path: PathBuf,
    roles: usize,
    /// What the functions read: `RoleCatalog`, or the SSM parameter's value.
    pub catalog_json: String,
    parameters: CatalogParameters,
    parameter: String,
    warnings: Vec<String>,
}

impl Checked {
    pub fn read(path: &Path, parameter: &str) -> Result<Checked, CatalogError> {
        let well_named = parameter.starts_with('/')
            && parameter.len() > 1
            && parameter
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_.-/".contains(c));
        if !well_named {
            return Err(CatalogError::ParameterName(parameter.to_string()));
        }
        let text = std::fs::read_to_string(path).map_err(|source| CatalogError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        // YAML 1.2 reads JSON too.
        let file: CatalogFile =
            serde_norway::from_str(&text).map_err(|error| CatalogError::Shape {
                path: path.to_path_buf(),
                message: error.to_string(),
            })?;
        // Entry by entry first, so that a misspelt field is named with its role rather than as a position
        // in the JSON the file is turned into.
        for (index, role) in file.roles.iter().enumerate() {
            if let Err(error) = serde_json::from_value::<CatalogRole>(role.clone()) {
                let name = role.get("name").and_then(Value::as_str).unwrap_or("?");
                return Err(CatalogError::Invalid {
                    path: path.to_path_buf(),
                    reason: format!("role {} ({name}): {error}", index + 1),
                });
            }
        }
        let catalog_json = Value::Array(file.roles).to_string();
        let catalog = parse_catalog(&catalog_json).map_err(|ConfigError { reason, .. }| {
            CatalogError::Invalid {
                path: path.to_path_buf(),
                reason,
            }
        })?;
        if catalog_json.len() > ADVANCED_TIER_LIMIT {
            return Err(CatalogError::TooLarge {
                path: path.to_path_buf(),
                bytes: catalog_json.len(),
            });
        }
        let warnings = catalog
            .iter()
            .filter(|role| role.managed_policy_arns.len() > DEFAULT_MANAGED_POLICIES_QUOTA)
            .map(|role| {
                format!(
                    "role {:?} has {} managed policies: the account's IAM quota \"Managed policies per \
                     role\" (default {DEFAULT_MANAGED_POLICIES_QUOTA}) must be raised first",
                    role.name,
                    role.managed_policy_arns.len()
                )
            })
            .collect();
        Ok(Checked {
            path: path.to_path_buf(),
            roles: catalog.len(),
            parameters: CatalogParameters::of(&catalog),
            catalog_json,
            parameter: parameter.to_string(),
            warnings,
        })
    }

    fn inline(&self) -> bool {
        self.catalog_json.len() <= INLINE_LIMIT
    }

    /// The parameter overrides, in `sam deploy`'s `Name=value` form.
    fn overrides(&self) -> Vec<(&'static str, String)> {
        let mut overrides = vec![
            ("CatalogRoleNames", self.parameters.role_names.join(",")),
            (
                "CatalogManagedPolicyArns",
                self.parameters.managed_policy_arns.join(","),
            ),
        ];
        if !self.parameters.spoke_account_ids.is_empty() {
            overrides.push((
                "SpokeAccountIds",
                self.parameters.spoke_account_ids.join(","),
            ));
        }
        if self.inline() {
            overrides.push(("RoleCatalog", self.catalog_json.clone()));
        } else {
            overrides.push(("RoleCatalogParameter", self.parameter.clone()));
        }
        overrides
    }

    pub fn text(&self) -> String {
        let mut lines = vec![format!(
            "{}: {} role{}, valid; {} bytes as JSON.",
            self.path.display(),
            self.roles,
            if self.roles == 1 { "" } else { "s" },
            self.catalog_json.len()
        )];
        lines.extend(
            self.warnings
                .iter()
                .map(|warning| format!("warning: {warning}")),
        );
        if !self.inline() {
            let tier = if self.catalog_json.len() > STANDARD_TIER_LIMIT {
                " --tier Advanced"
            } else {
                ""
            };
            lines.push(format!(
                "Over {INLINE_LIMIT} bytes: keep it in the SSM parameter {}, written first with:",
                self.parameter
            ));
            lines.push(format!(
                "  aws ssm put-parameter --name {} --type String{tier} --overwrite --value \"$(onboarding-admin catalog json {})\"",
                self.parameter,
                shell_quote(&self.path.display().to_string())
            ));
        }
        lines.push("sam deploy --parameter-overrides \\".into());
        let overrides = self.overrides();
        let last = overrides.len().saturating_sub(1);
        for (index, (name, value)) in overrides.iter().enumerate() {
            let continuation = if index == last { "" } else { " \\" };
            lines.push(format!(
                "  {}{continuation}",
                shell_quote(&format!("{name}={value}"))
            ));
        }
        lines.join("\n")
    }

    pub fn json(&self) -> String {
        let overrides: serde_json::Map<String, Value> = self
            .overrides()
            .into_iter()
            .map(|(name, value)| (name.to_string(), Value::String(value)))
            .collect();
        json!({
            "roles": self.roles,
            "bytes": self.catalog_json.len(),
            "parameter_overrides": overrides,
            "warnings": self.warnings,
        })
        .to_string()
    }
}

/// One word for a POSIX shell: as it is when nothing in it is special, else single-quoted.
fn shell_quote(word: &str) -> String {
    let plain = word
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_./:=,@+".contains(c));
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_word_with_quotes_survives_the_shell() {
        assert_eq!(shell_quote("CatalogRoleNames=A,B"), "CatalogRoleNames=A,B");
        assert_eq!(
            shell_quote(r#"RoleCatalog=[{"description":"Bob's role"}]"#),
            r#"'RoleCatalog=[{"description":"Bob'\''s role"}]'"#
        );
    }
}
