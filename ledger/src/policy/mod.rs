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
        let mut used = vec![false; signers.len()];
        self.consume(signers, &mut used)
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

    // Greedy like Fabric's evaluator: a sub-policy that succeeds keeps the signers it used,
    // one that fails gives them back, so one signature never counts twice.
    fn consume(&self, signers: &[(String, Role)], used: &mut [bool]) -> bool {
        match self {
            Policy::Signed(p) => {
                for (i, (org, role)) in signers.iter().enumerate() {
                    if !used[i] && p.matches(org, *role) {
                        used[i] = true;
                        return true;
                    }
                }
                false
            }
            Policy::OutOf(n, subs) => {
                let mut met = 0;
                for s in subs {
                    let mut trial = used.to_vec();
                    if s.consume(signers, &mut trial) {
                        used.copy_from_slice(&trial);
                        met += 1;
                        if met >= *n {
                            return true;
                        }
                    }
                }
                *n == 0
            }
            Policy::Weighted { threshold, entries } => {
                let mut sum = 0u64;
                for (p, w) in entries {
                    if Policy::Signed(p.clone()).consume(signers, used) {
                        sum = sum.saturating_add(*w);
                    }
                }
                sum >= *threshold
            }
        }
    }
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
