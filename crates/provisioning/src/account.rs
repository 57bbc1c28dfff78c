//! The account the stack runs in (the hub), discovered at start-up, the accounts catalog roles live in,
//! and the ARNs derived from them.

use crate::config::CatalogRole;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: String,
    pub partition: String,
}

impl Account {
    /// Reads account and partition from any ARN of the account (the caller identity's, a function's).
    pub fn from_arn(arn: &str) -> Option<Self> {
        let mut parts = arn.split(':');
        let (Some("arn"), Some(partition), Some(_service), Some(_region), Some(id)) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return None;
        };
        let plausible =
            !partition.is_empty() && id.len() == 12 && id.chars().all(|c| c.is_ascii_digit());
        plausible.then(|| Account {
            id: id.to_string(),
            partition: partition.to_string(),
        })
    }

    fn iam_arn(&self, resource: &str) -> String {
        format!("arn:{}:iam::{}:{resource}", self.partition, self.id)
    }

    pub fn root_arn(&self) -> String {
        self.iam_arn("root")
    }

    pub fn user_arn(&self, path: &str, name: &str) -> String {
        self.iam_arn(&format!("user{path}{name}"))
    }

    pub fn users_under_path_arn(&self, path: &str) -> String {
        self.iam_arn(&format!("user{path}*"))
    }

    /// The account a catalog role lives in: the one its entry names, or this one (the hub).
    pub fn home_of(&self, role: &CatalogRole) -> Account {
        match &role.account {
            Some(id) => Account {
                id: id.clone(),
                partition: self.partition.clone(),
            },
            None => self.clone(),
        }
    }

    /// A catalog role's ARN, in the account it lives in.
    pub fn catalog_role_arn(&self, role: &CatalogRole) -> String {
        self.home_of(role).role_arn(&role.name)
    }

    /// The managed policy of the same path and name as `arn`, in this account: a spoke holds its own copy
    /// of the hub's catalog role boundary (`spoke.yaml`).
    pub fn same_policy_here(&self, arn: &str) -> String {
        match arn.splitn(6, ':').nth(5) {
            Some(resource) => self.iam_arn(resource),
            None => arn.to_string(),
        }
    }

    pub fn role_arn(&self, name: &str) -> String {
        self.iam_arn(&format!("role/{name}"))
    }

    pub fn group_arn(&self, name: &str) -> String {
        self.iam_arn(&format!("group/{name}"))
    }

    /// The managed policy that serves as the lock on a role's trust policy (`iam::locks`).
    pub fn trust_lock_arn(&self, role: &str) -> String {
        self.lock_arn(&crate::names::trust_lock_name(role))
    }

    /// The managed policy that serves as the lock `name` (`iam::locks`).
    pub fn lock_arn(&self, name: &str) -> String {
        self.iam_arn(&format!("policy{}{name}", crate::names::TRUST_LOCK_PATH))
    }

    pub fn mfa_serial(&self, path: &str, name: &str) -> String {
        self.iam_arn(&format!("mfa{path}{name}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discovers_account_and_partition_from_arns() {
        let from_identity = Account::from_arn("arn:aws:iam::123456789012:user/ci").unwrap();
        assert_eq!(
            from_identity,
            Account {
                id: "123456789012".into(),
                partition: "aws".into()
            }
        );
        let from_function =
            Account::from_arn("arn:aws-cn:lambda:cn-north-1:210987654321:function:onboard")
                .unwrap();
        assert_eq!(from_function.partition, "aws-cn");
        assert_eq!(from_function.id, "210987654321");
        assert_eq!(Account::from_arn("not-an-arn"), None);
        assert_eq!(Account::from_arn("arn:aws:iam::12345:user/x"), None);
    }

    #[test]
    fn builds_the_arns_of_the_seed() {
        let account = Account {
            id: "123456789012".into(),
            partition: "aws".into(),
        };
        assert_eq!(
            account.role_arn("ResourceCreatorRole"),
            "arn:aws:iam::123456789012:role/ResourceCreatorRole"
        );
        assert_eq!(
            account.user_arn("/", "developer"),
            "arn:aws:iam::123456789012:user/developer"
        );
        assert_eq!(
            account.user_arn("/onboarded/", "dev"),
            "arn:aws:iam::123456789012:user/onboarded/dev"
        );
        assert_eq!(
            account.mfa_serial("/onboarded/", "dev"),
            "arn:aws:iam::123456789012:mfa/onboarded/dev"
        );
        assert_eq!(
            account.users_under_path_arn("/onboarded/"),
            "arn:aws:iam::123456789012:user/onboarded/*"
        );
    }
}
