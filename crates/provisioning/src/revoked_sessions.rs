//! Ending the role sessions a person already holds. Deleting their user stops new sessions, not the ones
//! they have (up to the role's `MaxSessionDuration`, 12 hours at most). AWS's documented way to revoke
//! sessions is a Deny on `aws:TokenIssueTime`; with every session carrying its person's user name as its
//! source identity (`REQUIRE_SOURCE_IDENTITY`), the Deny can name one person and leave everyone else's
//! sessions alone.
//!
//! Each catalog role the person held gets one statement in the stack's inline policy
//! `onboarding-revoked-sessions`: every action denied to sessions whose `aws:SourceIdentity` is theirs and
//! that were issued before the revocation. An entry is kept only as long as a session it matches can still
//! be alive (the role's maximum session duration); when the policy would not fit beside the role's own
//! inline policy, the entries collapse into one that ends every session issued before the newest
//! revocation: everyone assumes the role again, and no revoked session survives.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use crate::account::Account;
use crate::config::{CatalogRole, Config};
use crate::desired::DEFAULT_MAX_SESSION_SECONDS;
use crate::error::Result;
use crate::iam::{Iam, Reading};
use crate::plan::Change;
use crate::policy::{VERSION, policy_size, statements, string_list};
use crate::state::ObservedRole;
use crate::timestamps::{parse_timestamp, rfc3339};

pub const POLICY_NAME: &str = "onboarding-revoked-sessions";

/// IAM's quota for the inline policies of one role together (characters, whitespace not counted).
pub const ROLE_INLINE_POLICIES_QUOTA: usize = 10_240;

/// Added to the moment of revocation: a session made with a key whose deletion IAM had not yet propagated
/// is still one the revocation means to end.
const PROPAGATION_MARGIN: Duration = Duration::from_secs(60);

const SOURCE_IDENTITY: &str = "aws:SourceIdentity";
const TOKEN_ISSUE_TIME: &str = "aws:TokenIssueTime";

/// One revocation: sessions of `person` (every session, when `None`) issued before `issued_before`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevokedSessions {
    pub person: Option<String>,
    pub issued_before: SystemTime,
}

impl RevokedSessions {
    /// The sessions of `person` issued up to now (and the propagation margin), to the whole second
    /// above: `aws:TokenIssueTime` is compared with a time written in seconds.
    pub fn of(person: &str, now: SystemTime) -> RevokedSessions {
        let later = now + PROPAGATION_MARGIN;
        let secs = later
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() + u64::from(d.subsec_nanos() > 0));
        RevokedSessions {
            person: Some(person.to_string()),
            issued_before: UNIX_EPOCH + Duration::from_secs(secs),
        }
    }

    /// No session it matches can still be alive: each lasts at most the role's maximum duration.
    fn expired(&self, now: SystemTime, max_session: Duration) -> bool {
        self.issued_before + max_session <= now
    }

    fn statement(&self) -> Value {
        let mut condition = serde_json::Map::new();
        if let Some(person) = &self.person {
            condition.insert("StringEquals".into(), json!({SOURCE_IDENTITY: person}));
        }
        condition.insert(
            "DateLessThan".into(),
            json!({TOKEN_ISSUE_TIME: rfc3339(self.issued_before)}),
        );
        json!({"Effect": "Deny", "Action": "*", "Resource": "*", "Condition": condition})
    }

    /// An entry as this module writes it, or `None` for anything else in the policy.
    fn read(statement: &Value) -> Option<RevokedSessions> {
        let single = |value: &Value| match string_list(value).as_slice() {
            [one] => Some(one.clone()),
            _ => None,
        };
        let fields = statement.as_object()?;
        let shaped = fields.len() == 4
            && fields.get("Effect")?.as_str()? == "Deny"
            && single(fields.get("Action")?)? == "*"
            && single(fields.get("Resource")?)? == "*";
        let condition = fields.get("Condition")?.as_object()?;
        let issued = condition.get("DateLessThan")?.as_object()?;
        let person = match condition.get("StringEquals") {
            Some(equals) => {
                let equals = equals.as_object()?;
                (equals.len() == 1).then_some(())?;
                Some(single(equals.get(SOURCE_IDENTITY)?)?)
            }
            None => None,
        };
        let known = 1 + usize::from(person.is_some());
        (shaped && issued.len() == 1 && condition.len() == known).then_some(())?;
        let issued_before = parse_timestamp(&single(issued.get(TOKEN_ISSUE_TIME)?)?)?;
        Some(RevokedSessions {
            person,
            issued_before,
        })
    }
}

/// What the policy holds: the entries this module wrote, and how many statements are anything else
/// (edited by hand: the drift check reports them, and the next write drops them).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RevokedSessionsPolicy {
    pub entries: Vec<RevokedSessions>,
    pub foreign_statements: usize,
}

impl RevokedSessionsPolicy {
    pub fn read(document: Option<&Value>) -> RevokedSessionsPolicy {
        let mut policy = RevokedSessionsPolicy::default();
        for statement in document.map(statements).unwrap_or_default() {
            match RevokedSessions::read(statement) {
                Some(entry) => policy.entries.push(entry),
                None => policy.foreign_statements += 1,
            }
        }
        policy
    }

    /// The policy with `revoked` added (replacing that person's earlier entry), without the entries that
    /// can no longer match a live session, in at most `room` characters. `None`: nothing is left, and the
    /// policy is deleted.
    pub fn with(
        mut self,
        revoked: Option<RevokedSessions>,
        now: SystemTime,
        max_session: Duration,
        room: usize,
    ) -> Option<Value> {
        if let Some(revoked) = revoked {
            self.entries.retain(|entry| entry.person != revoked.person);
            self.entries.push(revoked);
        }
        self.entries
            .retain(|entry| !entry.expired(now, max_session));
        // A person's entry older than an entry for everyone says nothing more.
        let everyone = self
            .entries
            .iter()
            .filter(|entry| entry.person.is_none())
            .map(|entry| entry.issued_before)
            .max();
        self.entries.retain(|entry| {
            entry.person.is_none() || everyone.is_none_or(|all| entry.issued_before > all)
        });
        self.entries
            .retain(|entry| entry.person.is_some() || Some(entry.issued_before) == everyone);
        self.entries.sort_by_key(|entry| entry.issued_before);
        let newest = self.entries.last()?.issued_before;
        let document = document(&self.entries);
        if policy_size(&document) <= room {
            return Some(document);
        }
        Some(self::document(&[RevokedSessions {
            person: None,
            issued_before: newest,
        }]))
    }
}

fn document(entries: &[RevokedSessions]) -> Value {
    json!({
        "Version": VERSION,
        "Statement": entries.iter().map(RevokedSessions::statement).collect::<Vec<_>>()
    })
}

/// The longest a session of the role can last: what the catalog says, or more if IAM holds more (a role
/// raised by hand keeps its longer sessions alive until the drift check lowers it).
pub fn max_session(role: &CatalogRole, observed: &ObservedRole) -> Duration {
    let seconds = role
        .max_session_duration
        .unwrap_or(DEFAULT_MAX_SESSION_SECONDS)
        .max(observed.max_session_duration.unwrap_or(0));
    Duration::from_secs(u64::try_from(seconds).unwrap_or(0))
}

/// The change that makes the role's policy `document` (`None`: delete it), or none when it already is.
pub fn write(role: &str, current: Option<&Value>, document: Option<Value>) -> Option<Change> {
    match (current, document) {
        (Some(current), Some(document))
            if crate::policy::semantically_equal(current, &document) =>
        {
            None
        }
        (_, Some(document)) => Some(Change::PutRolePolicy {
            role: role.to_string(),
            policy_name: POLICY_NAME.to_string(),
            document,
        }),
        (Some(_), None) => Some(Change::DeleteRolePolicy {
            role: role.to_string(),
            policy_name: POLICY_NAME.to_string(),
        }),
        (None, None) => None,
    }
}

/// Ends `person`'s sessions of `role` issued until now. A role that does not exist holds no session; one
/// the stack does not own is not written to. The policy is read and written under the role's lock, so
/// two offboardings at once both land.
pub async fn revoke_sessions(
    iam: &Iam,
    config: &Config,
    account: &Account,
    role: &CatalogRole,
    person: &str,
    now: SystemTime,
) -> Result<bool> {
    let reading = Reading::ForPlan {
        inline_policy: Some(POLICY_NAME),
    };
    let room = room_beside(role.inline_policy.as_ref());
    iam.edit_trust_policy(account, &role.name, reading, async |current| {
        let Some(observed) = current.filter(|observed| observed.is_owned(&config.stack_name))
        else {
            return Ok(Vec::new());
        };
        let current = observed.inline_policies.get(POLICY_NAME);
        let document = RevokedSessionsPolicy::read(current).with(
            Some(RevokedSessions::of(person, now)),
            now,
            max_session(role, &observed),
            room,
        );
        Ok(write(&role.name, current, document).into_iter().collect())
    })
    .await
}

/// The room a role leaves for this policy: IAM's quota less its catalog inline policy.
pub fn room_beside(catalog_inline_policy: Option<&Value>) -> usize {
    ROLE_INLINE_POLICIES_QUOTA.saturating_sub(catalog_inline_policy.map_or(0, policy_size))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: Duration = Duration::from_secs(3600);

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_800_000_000 + secs)
    }

    #[test]
    fn a_revocation_denies_everything_to_that_persons_older_sessions() {
        let document = RevokedSessionsPolicy::default()
            .with(
                Some(RevokedSessions::of("alice@example.com", at(0))),
                at(0),
                HOUR,
                10_000,
            )
            .unwrap();
        assert_eq!(
            document,
            json!({"Version": "2012-10-17", "Statement": [{
                "Effect": "Deny", "Action": "*", "Resource": "*",
                "Condition": {
                    "StringEquals": {"aws:SourceIdentity": "alice@example.com"},
                    "DateLessThan": {"aws:TokenIssueTime": "2027-01-15T08:01:00Z"}
                }
            }]})
        );
        let read = RevokedSessionsPolicy::read(Some(&document));
        assert_eq!(read.foreign_statements, 0);
        assert_eq!(read.entries[0].issued_before, at(60));
    }

    #[test]
    fn a_revocation_in_the_middle_of_a_second_covers_the_whole_second() {
        let revoked = RevokedSessions::of("bob", at(0) + Duration::from_millis(300));
        assert_eq!(revoked.issued_before, at(61));
    }

    #[test]
    fn entries_last_as_long_as_a_session_they_match_can() {
        let two = RevokedSessionsPolicy::default()
            .with(Some(RevokedSessions::of("a", at(0))), at(0), HOUR, 10_000)
            .unwrap();
        let two = RevokedSessionsPolicy::read(Some(&two))
            .with(
                Some(RevokedSessions::of("b", at(1800))),
                at(1800),
                HOUR,
                10_000,
            )
            .unwrap();
        assert_eq!(RevokedSessionsPolicy::read(Some(&two)).entries.len(), 2);
        // An hour after the first revocation (and its margin), no session of `a` from before it is alive.
        let pruned = RevokedSessionsPolicy::read(Some(&two))
            .with(None, at(3660), HOUR, 10_000)
            .unwrap();
        let people: Vec<_> = RevokedSessionsPolicy::read(Some(&pruned))
            .entries
            .into_iter()
            .map(|e| e.person)
            .collect();
        assert_eq!(people, [Some("b".to_string())]);
        assert_eq!(
            RevokedSessionsPolicy::read(Some(&pruned)).with(None, at(5460), HOUR, 10_000),
            None,
            "nothing left: the policy goes"
        );
    }

    #[test]
    fn revoking_a_person_again_moves_their_entry_forward() {
        let first = RevokedSessionsPolicy::default()
            .with(Some(RevokedSessions::of("a", at(0))), at(0), HOUR, 10_000)
            .unwrap();
        let again = RevokedSessionsPolicy::read(Some(&first))
            .with(
                Some(RevokedSessions::of("a", at(600))),
                at(600),
                HOUR,
                10_000,
            )
            .unwrap();
        let entries = RevokedSessionsPolicy::read(Some(&again)).entries;
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].issued_before, at(660));
    }

    #[test]
    fn a_policy_that_would_not_fit_ends_every_older_session_instead() {
        let mut document = None;
        let twelve_hours = 12 * HOUR;
        for n in 0..80 {
            let now = at(n * 60);
            document = RevokedSessionsPolicy::read(document.as_ref()).with(
                Some(RevokedSessions::of(
                    &format!("person-{n:02}@example.com"),
                    now,
                )),
                now,
                twelve_hours,
                room_beside(None),
            );
            assert!(policy_size(document.as_ref().unwrap()) <= room_beside(None));
        }
        // Every person revoked is still covered: by their own entry, or by one for everyone issued later.
        let entries = RevokedSessionsPolicy::read(document.as_ref()).entries;
        assert!(entries.iter().any(|entry| entry.person.is_none()));
        assert!(entries.len() < 80);
        for n in 0..80 {
            let person = format!("person-{n:02}@example.com");
            let revoked_at = at(n * 60 + 60);
            assert!(
                entries.iter().any(|entry| entry.issued_before >= revoked_at
                    && entry.person.as_ref().is_none_or(|p| *p == person)),
                "{person}: {entries:?}"
            );
        }
    }

    #[test]
    fn anything_else_in_the_policy_is_counted_and_dropped_on_the_next_write() {
        let mut document = RevokedSessionsPolicy::default()
            .with(Some(RevokedSessions::of("a", at(0))), at(0), HOUR, 10_000)
            .unwrap();
        document["Statement"]
            .as_array_mut()
            .unwrap()
            .push(json!({"Effect": "Allow", "Action": "iam:*", "Resource": "*"}));
        let mut loosened = document["Statement"][0].clone();
        loosened["Condition"]["StringLike"] = json!({"aws:SourceIdentity": "a*"});
        document["Statement"].as_array_mut().unwrap().push(loosened);
        let read = RevokedSessionsPolicy::read(Some(&document));
        assert_eq!(read.foreign_statements, 2);
        let rewritten = read.with(None, at(10), HOUR, 10_000).unwrap();
        assert_eq!(rewritten["Statement"].as_array().unwrap().len(), 1);
    }
}
