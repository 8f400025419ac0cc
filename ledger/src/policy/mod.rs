//! Endorsement policies: `AND`, `OR`, `OutOf(n, …)` and `Weighted(t, 'org.role'=w, …)`
//! over principals `'org.role'`, and their evaluation against a set of signers.

mod parse;

use std::fmt;

use crate::identity::Role;

/// Which role a principal demands; `member` accepts any.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RoleMatch {
    /// Any certificate of the organisation.
    Member,
    /// Only this role.
    Role(Role),
}

/// `'org.role'`: a signer of organisation `org` with role `role`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PrincipalSpec {
    /// Organisation id.
    pub msp_id: String,
    /// Role demanded.
    pub role: RoleMatch,
}

impl PrincipalSpec {
    /// Whether a signer of `msp_id` with `role` satisfies this principal.
    pub fn matches(&self, msp_id: &str, role: Role) -> bool {
        self.msp_id == msp_id
            && match self.role {
                RoleMatch::Member => true,
                RoleMatch::Role(r) => r == role,
            }
    }
}

/// A parsed endorsement policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Policy {
    /// One signature of the principal.
    Signed(PrincipalSpec),
    /// At least `n` of the sub-policies (`AND` is all of them, `OR` one).
    OutOf(usize, Vec<Policy>),
    /// The weights of the satisfied principals add up to at least `threshold`.
    Weighted {
        /// Sum of weights needed.
        threshold: u64,
        /// Principals and their weights.
        entries: Vec<(PrincipalSpec, u64)>,
    },
}

/// A policy text that does not parse, with the column (1-based) of the offending part.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("policy `{text}`, column {column}: {message}")]
pub struct PolicyError {
    /// The whole policy text.
    pub text: String,
    /// 1-based column of the bad part.
    pub column: usize,
    /// What is wrong there.
    pub message: String,
}

impl Policy {
    /// Parses a policy text.
    pub fn parse(text: &str) -> Result<Policy, PolicyError> {
        parse::parse(text)
    }

    /// Whether the signers, each `(organisation, role)` and each usable once, satisfy it.
    pub fn is_satisfied_by(&self, signers: &[(String, Role)]) -> bool {
        !self
            .outcomes(signers, &vec![false; signers.len()])
            .is_empty()
    }

    /// The organisations the policy names, in order of first mention.
    pub fn orgs(&self) -> Vec<String> {
        let mut out = Vec::new();
        self.collect_orgs(&mut out);
        out
    }

    fn collect_orgs(&self, out: &mut Vec<String>) {
        let mut add = |p: &PrincipalSpec| {
            if !out.contains(&p.msp_id) {
                out.push(p.msp_id.clone());
            }
        };
        match self {
            Policy::Signed(p) => add(p),
            Policy::Weighted { entries, .. } => entries.iter().for_each(|(p, _)| add(p)),
            Policy::OutOf(_, subs) => subs.iter().for_each(|s| s.collect_orgs(out)),
        }
    }

    // Every way of satisfying the policy, as the set of signers each way uses. A search
    // rather than Fabric's greedy pass: greedy can spend a signer on an early branch and
    // then fail a later one that only that signer could meet. Policies and signer lists
    // are a handful of entries, so the search stays small.
    fn outcomes(&self, signers: &[(String, Role)], used: &[bool]) -> Vec<Vec<bool>> {
        match self {
            Policy::Signed(p) => {
                // Signers of the same organisation and role are interchangeable, so one
                // branch per such class (its first unused signer) suffices; this keeps the
                // search small however many signatures a transaction carries.
                let mut out: Vec<Vec<bool>> = Vec::new();
                let mut classes: Vec<(&str, Role)> = Vec::new();
                for (i, (org, role)) in signers.iter().enumerate() {
                    if used[i] || !p.matches(org, *role) || classes.contains(&(org.as_str(), *role))
                    {
                        continue;
                    }
                    classes.push((org.as_str(), *role));
                    let mut u = used.to_vec();
                    u[i] = true;
                    out.push(u);
                }
                out
            }
            Policy::OutOf(n, subs) => {
                let items: Vec<(&Policy, u64)> = subs.iter().map(|s| (s, 1)).collect();
                combine(&items, *n as u64, signers, used)
            }
            Policy::Weighted { threshold, entries } => {
                let principals: Vec<Policy> = entries
                    .iter()
                    .map(|(p, _)| Policy::Signed(p.clone()))
                    .collect();
                let items: Vec<(&Policy, u64)> = principals
                    .iter()
                    .zip(entries)
                    .map(|(p, (_, w))| (p, *w))
                    .collect();
                combine(&items, *threshold, signers, used)
            }
        }
    }
}

/// Ways to reach `need` (count or weight) from `items`, each item used at most once.
fn combine(
    items: &[(&Policy, u64)],
    need: u64,
    signers: &[(String, Role)],
    used: &[bool],
) -> Vec<Vec<bool>> {
    if need == 0 {
        return vec![used.to_vec()];
    }
    let Some(((first, weight), rest)) = items.split_first() else {
        return Vec::new();
    };
    let mut out = combine(rest, need, signers, used);
    for u in first.outcomes(signers, used) {
        for o in combine(rest, need.saturating_sub(*weight), signers, &u) {
            if !out.contains(&o) {
                out.push(o);
            }
        }
    }
    out
}

impl fmt::Display for PrincipalSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.role {
            RoleMatch::Member => write!(f, "'{}.member'", self.msp_id),
            RoleMatch::Role(r) => write!(f, "'{}.{}'", self.msp_id, r),
        }
    }
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Policy::Signed(p) => write!(f, "{p}"),
            Policy::OutOf(n, subs) => {
                write!(f, "OutOf({n}")?;
                for s in subs {
                    write!(f, ", {s}")?;
                }
                write!(f, ")")
            }
            Policy::Weighted { threshold, entries } => {
                write!(f, "Weighted({threshold}")?;
                for (p, w) in entries {
                    write!(f, ", {p}={w}")?;
                }
                write!(f, ")")
            }
        }
    }
}

/// Expands the channel-relative shorthands `ALL`, `MAJORITY` and `ANY` (of the member
/// organisations' peers) and parses anything else as a policy text.
pub fn resolve(text: &str, member_orgs: &[String]) -> Result<Policy, PolicyError> {
    let peers = || {
        member_orgs
            .iter()
            .map(|o| {
                Policy::Signed(PrincipalSpec {
                    msp_id: o.clone(),
                    role: RoleMatch::Role(Role::Peer),
                })
            })
            .collect::<Vec<_>>()
    };
    match text.trim() {
        "ALL" => Ok(Policy::OutOf(member_orgs.len(), peers())),
        "MAJORITY" => Ok(Policy::OutOf(member_orgs.len() / 2 + 1, peers())),
        "ANY" => Ok(Policy::OutOf(1, peers())),
        other => Policy::parse(other),
    }
}
