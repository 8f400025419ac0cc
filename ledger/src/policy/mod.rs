//! Endorsement policies: `AND`, `OR`, `OutOf(n, …)` and `Weighted(t, 'org.role'=w, …)`
//! over principals `'org.role'`, and their evaluation against a set of signers.
//!
//! A policy arrives as text from other organisations (a `_lifecycle` approval, a channel
//! configuration), so everything here is bounded by the text, never by the stack: the text
//! is at most [`MAX_TEXT_BYTES`], operators nest at most [`MAX_DEPTH`] deep and take at
//! most [`MAX_WIDTH`] sub-policies, and a parsed policy is a flat arena of nodes, so
//! parsing, evaluating, printing, cloning and dropping it recurse nowhere. Evaluation is
//! exact and its cost is bounded when the policy is built (see `plan`).

mod eval;
mod parse;
mod plan;

use std::collections::HashSet;
use std::fmt;

use crate::identity::Role;

/// Longest policy text accepted, in bytes. A consortium of a hundred organisations
/// writes its policies in a few kilobytes.
pub const MAX_TEXT_BYTES: usize = 64 * 1024;
/// Deepest nesting of operators (`AND`, `OR`, `OutOf`, `Weighted`) accepted.
pub const MAX_DEPTH: usize = 32;
/// Most sub-policies of one operator (and most entries of one `Weighted`), and most
/// member organisations the shorthands `ALL`, `MAJORITY` and `ANY` expand to.
pub const MAX_WIDTH: usize = 1024;

/// Which role a principal demands; `member` accepts any.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RoleMatch {
    /// Any certificate of the organisation.
    Member,
    /// Only this role.
    Role(Role),
}

/// `'org.role'`: a signer of organisation `org` with role `role`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
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

/// One node of a policy. Nodes live in one vector in post-order (every node after its
/// sub-policies, the root last), so no part of a policy owns another through a pointer.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Node {
    /// One signature of the principal.
    Signed(PrincipalSpec),
    /// The weights of the satisfied children add up to at least `need`: `OutOf` (and
    /// `AND`, `OR`) with every weight 1, or `Weighted`, whose children are all `Signed`.
    Gate {
        kind: GateKind,
        need: u64,
        /// (node index, weight), in the order written.
        children: Vec<(usize, u64)>,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum GateKind {
    OutOf,
    Weighted,
}

/// A parsed endorsement policy: exact evaluation in a time bounded when it was built.
#[derive(Clone, Debug)]
pub struct Policy {
    /// Post-order; never empty; the root is the last node.
    nodes: Vec<Node>,
    /// How evaluation walks the nodes; derived from them.
    plan: plan::Plan,
}

impl PartialEq for Policy {
    fn eq(&self, other: &Self) -> bool {
        // The plan is a function of the nodes.
        self.nodes == other.nodes
    }
}

impl Eq for Policy {}

/// A policy text that does not parse or exceeds a limit, with the column (1-based, in
/// characters) of the offending part.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("policy {}, column {column}: {message}", excerpt(text, *column))]
pub struct PolicyError {
    /// The whole policy text.
    pub text: String,
    /// 1-based column of the bad part.
    pub column: usize,
    /// What is wrong there.
    pub message: String,
}

/// The policy as the message shows it: whole when short, else the stretch around `column`.
fn excerpt(text: &str, column: usize) -> String {
    const WINDOW: usize = 30;
    let count = text.chars().count();
    if count <= 2 * WINDOW {
        return format!("`{text}`");
    }
    let to = column.saturating_add(WINDOW).min(count);
    let from = column.saturating_sub(WINDOW + 1).min(to);
    let part: String = text.chars().skip(from).take(to - from).collect();
    format!(
        "`{}{part}{}` ({count} characters)",
        if from > 0 { "…" } else { "" },
        if to < count { "…" } else { "" }
    )
}

impl Policy {
    /// Parses a policy text.
    pub fn parse(text: &str) -> Result<Policy, PolicyError> {
        let (nodes, columns) = parse::parse(text)?;
        Policy::build(nodes, &columns, text)
    }

    fn build(nodes: Vec<Node>, columns: &[usize], text: &str) -> Result<Policy, PolicyError> {
        let plan = plan::Plan::new(&nodes).map_err(|e| PolicyError {
            text: text.to_string(),
            column: columns.get(e.node).map_or(1, |c| c + 1),
            message: e.message,
        })?;
        Ok(Policy { nodes, plan })
    }

    /// Whether the signers, each `(organisation, role)` and each usable once, satisfy it.
    /// Exact, and independent of the order of the signers: it decides whether some
    /// assignment of distinct signers to principals satisfies the policy (not Fabric's
    /// greedy pass, which can spend a signer on an early branch that a later one needed).
    pub fn is_satisfied_by(&self, signers: &[(String, Role)]) -> bool {
        eval::satisfied(&self.nodes, &self.plan, signers)
    }

    /// The organisations the policy names, in order of first mention.
    pub fn orgs(&self) -> Vec<String> {
        // Post-order keeps the principals in the order they are written.
        let mut seen = HashSet::new();
        self.nodes
            .iter()
            .filter_map(|n| match n {
                Node::Signed(p) => Some(&p.msp_id),
                Node::Gate { .. } => None,
            })
            .filter(|o| seen.insert(o.as_str()))
            .cloned()
            .collect()
    }

    fn root(&self) -> usize {
        self.nodes.len() - 1
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
    /// The canonical text (`AND` and `OR` print as `OutOf`), which parses back to the same
    /// policy. Written with an explicit stack.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // (node, index of the next child to print)
        let mut stack = vec![(self.root(), 0usize)];
        while let Some((v, i)) = stack.pop() {
            match &self.nodes[v] {
                Node::Signed(p) => write!(f, "{p}")?,
                Node::Gate {
                    kind: GateKind::Weighted,
                    need,
                    children,
                } => {
                    write!(f, "Weighted({need}")?;
                    for &(c, w) in children {
                        if let Node::Signed(p) = &self.nodes[c] {
                            write!(f, ", {p}={w}")?;
                        }
                    }
                    write!(f, ")")?;
                }
                Node::Gate {
                    kind: GateKind::OutOf,
                    need,
                    children,
                } => {
                    if i == 0 {
                        write!(f, "OutOf({need}")?;
                    }
                    match children.get(i) {
                        Some(&(c, _)) => {
                            write!(f, ", ")?;
                            stack.push((v, i + 1));
                            stack.push((c, 0));
                        }
                        None => write!(f, ")")?,
                    }
                }
            }
        }
        Ok(())
    }
}

/// Expands the channel-relative shorthands `ALL`, `MAJORITY` and `ANY` (of the member
/// organisations' peers) and parses anything else as a policy text. Over no members at
/// all each shorthand needs nothing, as Fabric's implicit meta policies do (a channel
/// always has members; the lifecycle contract resolves against none only to check the
/// text).
pub fn resolve(text: &str, member_orgs: &[String]) -> Result<Policy, PolicyError> {
    let need = match text.trim() {
        _ if member_orgs.is_empty() && is_shorthand(text) => 0,
        "ALL" => member_orgs.len(),
        "MAJORITY" => member_orgs.len() / 2 + 1,
        "ANY" => 1,
        other => return Policy::parse(other),
    };
    let error = |message: String| PolicyError {
        text: text.to_string(),
        column: 1,
        message,
    };
    if member_orgs.len() > MAX_WIDTH {
        return Err(error(format!(
            "the channel has {} member organisations; a policy may name at most {MAX_WIDTH}",
            member_orgs.len()
        )));
    }
    let mut nodes: Vec<Node> = member_orgs
        .iter()
        .map(|o| {
            Node::Signed(PrincipalSpec {
                msp_id: o.clone(),
                role: RoleMatch::Role(Role::Peer),
            })
        })
        .collect();
    let children = (0..nodes.len()).map(|i| (i, 1)).collect();
    nodes.push(Node::Gate {
        kind: GateKind::OutOf,
        // `usize` always fits in `u64` on the platforms Rust supports.
        need: u64::try_from(need).map_err(|_| error("too many member organisations".into()))?,
        children,
    });
    Policy::build(nodes, &[], text)
}

fn is_shorthand(text: &str) -> bool {
    matches!(text.trim(), "ALL" | "MAJORITY" | "ANY")
}

#[cfg(test)]
mod tests;
