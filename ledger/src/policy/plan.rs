//! How evaluation walks a policy, worked out once when the policy is built, and a bound on
//! what evaluation can cost, checked then too.
//!
//! **Resources.** Signers are only ever told apart by (organisation, role). A principal
//! `'o.r'` competes for the signers of class (o, r); `'o.member'` for every signer of `o`.
//! So each organisation named with `member` anywhere in the policy is one resource with
//! five *slots* (the demand for peers, orderers, clients, admins and members), and every
//! other (organisation, role) is a resource with one slot. Principals on different
//! resources never compete for a signer.
//!
//! **Interfaces.** A sub-policy's *interface* is the resources it shares with something
//! outside it. Evaluation computes, for each sub-policy, the set of demand vectors over its
//! interface with which it can be satisfied; what it does on its private resources needs no
//! reporting, as nothing else wants them. A gate runs its children left to right keeping
//! a table from demand vector over its *live* resources (its interface, plus the resources
//! shared by a child already seen and a child still to come) to the best count or weight
//! reached — a dynamic programme whose table is the memo. Sub-policies that share nothing
//! (ALL, MAJORITY, `OutOf` over distinct organisations) have empty interfaces, so their
//! table has one row and evaluation is linear.
//!
//! **Bound.** The table of a step has at most the product, over its live resources, of the
//! number of demand vectors each can take; a step costs that times the options of the
//! child. The sum over every step of the policy is computed here, and a policy whose sum
//! exceeds [`MAX_WORK`] is refused at the operator where it does: only sub-policies
//! entangled through many shared organisations at once (set-packing puzzles, which no
//! polynomial algorithm decides) come near it.

use std::collections::{BTreeSet, HashMap, HashSet};

use super::{Node, RoleMatch};
use crate::identity::Role;

/// Most table rows (summed over every step of a policy) an evaluation may visit.
pub(super) const MAX_WORK: u64 = 1 << 16;

/// Slots of an organisation-wide resource: peer, orderer, client, admin, member.
pub(super) const ORG_SLOTS: usize = 5;

/// A policy that would cost too much to evaluate, at the node where the cost arises.
pub(super) struct PlanError {
    pub node: usize,
    pub message: String,
}

/// Signers a principal can take, see the module documentation.
#[derive(Clone, Debug)]
pub(super) struct Resource {
    pub org: String,
    /// `Some`: the one role of a one-slot resource; `None`: the whole organisation.
    pub role: Option<Role>,
}

impl Resource {
    pub fn width(&self) -> usize {
        if self.role.is_some() { 1 } else { ORG_SLOTS }
    }
}

/// One child of a gate, as the gate's table sees it.
#[derive(Clone, Debug)]
pub(super) struct Step {
    /// For each slot of the table's layout before the step, its place in the merged one.
    pub state_to_merged: Vec<usize>,
    /// For each slot of the child's interface, its place in the merged layout.
    pub option_to_merged: Vec<usize>,
    /// Slots of the merged layout.
    pub merged_len: usize,
    /// Resources the child shares, each with its first slot in the merged layout: their
    /// demand is checked against the signers after adding the child's.
    pub check: Vec<(usize, usize)>,
    /// Merged slots that stay live after the step, in the table's next layout.
    pub keep: Vec<usize>,
    /// Merged slots of the gate's own interface, in its layout.
    pub report: Vec<usize>,
    /// Sum of the weights of the children after this one (saturating).
    pub rest: u64,
}

/// What evaluation needs to know about one node.
#[derive(Clone, Debug)]
pub(super) enum NodePlan {
    Leaf {
        resource: usize,
        slot: usize,
        /// Whether the resource is in the leaf's interface (shared with a sibling or
        /// beyond).
        shared: bool,
    },
    Gate {
        /// Slots of the gate's interface.
        iface_len: usize,
        /// Sum of all the children's weights (saturating).
        total: u64,
        steps: Vec<Step>,
    },
}

/// The evaluation plan of a policy.
#[derive(Clone, Debug)]
pub(super) struct Plan {
    pub resources: Vec<Resource>,
    pub nodes: Vec<NodePlan>,
}

fn role_slot(role: Role) -> usize {
    match role {
        Role::Peer => 0,
        Role::Orderer => 1,
        Role::Client => 2,
        Role::Admin => 3,
    }
}

/// A resource and how many principals sit on each of its slots.
type Use = (usize, [u64; ORG_SLOTS]);

fn add(sum: &mut [u64; ORG_SLOTS], count: &[u64; ORG_SLOTS]) {
    for (s, c) in sum.iter_mut().zip(count) {
        *s = s.saturating_add(*c);
    }
}

/// How many demand vectors principals counted per slot can make: the product over the
/// slots of one more than the count.
fn vectors(count: Option<&[u64; ORG_SLOTS]>) -> u64 {
    count.map_or(1, |c| {
        c.iter()
            .fold(1u64, |acc, n| acc.saturating_mul(n.saturating_add(1)))
    })
}

/// The sorted union of two sorted lists.
fn union(a: &[usize], b: &[usize]) -> Vec<usize> {
    let mut out: Vec<usize> = a.iter().chain(b).copied().collect();
    out.sort_unstable();
    out.dedup();
    out
}

impl Plan {
    pub fn new(nodes: &[Node]) -> Result<Plan, PlanError> {
        // Resources and each leaf's slot.
        let member_orgs: HashSet<&str> = nodes
            .iter()
            .filter_map(|n| match n {
                Node::Signed(p) if p.role == RoleMatch::Member => Some(p.msp_id.as_str()),
                _ => None,
            })
            .collect();
        let mut resources: Vec<Resource> = Vec::new();
        let mut ids: HashMap<(&str, Option<Role>), usize> = HashMap::new();
        let mut leaf_of: Vec<Option<(usize, usize)>> = Vec::with_capacity(nodes.len());
        for n in nodes {
            let Node::Signed(p) = n else {
                leaf_of.push(None);
                continue;
            };
            let (role, slot) = match (member_orgs.contains(p.msp_id.as_str()), p.role) {
                (true, RoleMatch::Member) => (None, ORG_SLOTS - 1),
                (true, RoleMatch::Role(r)) => (None, role_slot(r)),
                (false, RoleMatch::Role(r)) => (Some(r), 0),
                // Every organisation named with `member` is in `member_orgs`.
                (false, RoleMatch::Member) => (None, ORG_SLOTS - 1),
            };
            let id = *ids.entry((p.msp_id.as_str(), role)).or_insert_with(|| {
                resources.push(Resource {
                    org: p.msp_id.clone(),
                    role,
                });
                resources.len() - 1
            });
            leaf_of.push(Some((id, slot)));
        }
        // Bottom-up: how many principals of each subtree sit on each slot of each resource
        // (sorted by resource), and which resources two children of a gate share.
        let mut uses: Vec<Vec<Use>> = Vec::with_capacity(nodes.len());
        let mut shared: Vec<Vec<usize>> = Vec::with_capacity(nodes.len());
        for (v, n) in nodes.iter().enumerate() {
            match n {
                Node::Signed(_) => {
                    uses.push(
                        leaf_of[v]
                            .map(|(r, s)| {
                                let mut count = [0u64; ORG_SLOTS];
                                count[s] = 1;
                                vec![(r, count)]
                            })
                            .unwrap_or_default(),
                    );
                    shared.push(Vec::new());
                }
                Node::Gate { children, .. } => {
                    let mut all: Vec<Use> = children
                        .iter()
                        .flat_map(|&(c, _)| uses[c].iter().copied())
                        .collect();
                    all.sort_unstable_by_key(|&(r, _)| r);
                    let mut merged: Vec<Use> = Vec::with_capacity(all.len());
                    let mut twice = Vec::new();
                    for (r, count) in all {
                        match merged.last_mut() {
                            Some((last, sum)) if *last == r => {
                                add(sum, &count);
                                if twice.last() != Some(&r) {
                                    twice.push(r);
                                }
                            }
                            _ => merged.push((r, count)),
                        }
                    }
                    uses.push(merged);
                    shared.push(twice);
                }
            }
        }

        // Top-down (parents come after their children): interfaces.
        let mut iface: Vec<Vec<usize>> = vec![Vec::new(); nodes.len()];
        for v in (0..nodes.len()).rev() {
            if let Node::Gate { children, .. } = &nodes[v] {
                let outside = union(&iface[v], &shared[v]);
                for &(c, _) in children {
                    iface[c] = uses[c]
                        .iter()
                        .map(|&(r, _)| r)
                        .filter(|r| outside.binary_search(r).is_ok())
                        .collect();
                }
            }
        }

        let layout_len = |l: &[usize]| l.iter().map(|&r| resources[r].width()).sum::<usize>();
        let mut work: u64 = 0;
        let mut plans = Vec::with_capacity(nodes.len());
        for (v, n) in nodes.iter().enumerate() {
            work = work.saturating_add(1);
            let children = match n {
                Node::Signed(_) => {
                    let (resource, slot) = leaf_of[v].ok_or_else(|| PlanError {
                        node: v,
                        message: "a principal without a resource".into(),
                    })?;
                    plans.push(NodePlan::Leaf {
                        resource,
                        slot,
                        shared: !iface[v].is_empty(),
                    });
                    continue;
                }
                Node::Gate { children, .. } => children,
            };
            // Which shared resources become live (first used, used again later) and which
            // die (last used) at each child.
            let mut first_last: HashMap<usize, (usize, usize)> = HashMap::new();
            for (j, &(c, _)) in children.iter().enumerate() {
                for (r, _) in &uses[c] {
                    if shared[v].binary_search(r).is_ok() {
                        first_last.entry(*r).or_insert((j, j)).1 = j;
                    }
                }
            }
            let mut opens: Vec<Vec<usize>> = vec![Vec::new(); children.len()];
            let mut closes: Vec<Vec<usize>> = vec![Vec::new(); children.len()];
            for (&r, &(first, last)) in &first_last {
                opens[first].push(r);
                closes[last].push(r);
            }
            // Principals per slot of the shared resources among the children seen so far:
            // the table before a step has at most one row per demand vector within them.
            let mut seen: HashMap<usize, [u64; ORG_SLOTS]> = HashMap::new();
            let mut live: BTreeSet<usize> = BTreeSet::new();
            let mut before = iface[v].clone();
            let mut steps = Vec::with_capacity(children.len());
            let total = children
                .iter()
                .fold(0u64, |acc, &(_, w)| acc.saturating_add(w));
            // rests[j]: the weights of the children after j, summed from the end so that
            // saturation only ever rounds up.
            let mut rests = vec![0u64; children.len()];
            for j in (1..children.len()).rev() {
                rests[j - 1] = rests[j].saturating_add(children[j].1);
            }
            for (j, &(c, _)) in children.iter().enumerate() {
                let rest = rests[j];
                let opt = &iface[c];
                let child_uses = &uses[c];
                let count_of = |r: &usize| {
                    child_uses
                        .binary_search_by_key(r, |&(x, _)| x)
                        .map_or([0; ORG_SLOTS], |i| child_uses[i].1)
                };
                let rows = before
                    .iter()
                    .fold(1u64, |acc, r| acc.saturating_mul(vectors(seen.get(r))));
                let options = opt.iter().fold(1u64, |acc, r| {
                    acc.saturating_mul(vectors(Some(&count_of(r))))
                });
                work = work.saturating_add(rows.saturating_mul(options.saturating_add(1)));
                if work > MAX_WORK {
                    return Err(PlanError {
                        node: v,
                        message: format!(
                            "its sub-policies share organisations in too many ways to be evaluated in bounded time (more than {MAX_WORK} steps); name fewer organisations in more than one branch"
                        ),
                    });
                }
                for r in opt {
                    add(seen.entry(*r).or_default(), &count_of(r));
                }
                live.extend(opens[j].iter().copied());
                for r in &closes[j] {
                    live.remove(r);
                }
                let after = union(&iface[v], &live.iter().copied().collect::<Vec<_>>());
                let merged = union(&before, opt);
                // Where each resource's slots start in the merged layout.
                let mut at: HashMap<usize, usize> = HashMap::new();
                let mut pos = 0;
                for &r in &merged {
                    at.insert(r, pos);
                    pos += resources[r].width();
                }
                let slots = |l: &[usize]| -> Vec<usize> {
                    l.iter()
                        .flat_map(|r| {
                            let start = at.get(r).copied().unwrap_or(0);
                            start..start + resources[*r].width()
                        })
                        .collect()
                };
                steps.push(Step {
                    state_to_merged: slots(&before),
                    option_to_merged: slots(opt),
                    merged_len: layout_len(&merged),
                    check: opt
                        .iter()
                        .map(|r| (*r, at.get(r).copied().unwrap_or(0)))
                        .collect(),
                    keep: slots(&after),
                    report: slots(&iface[v]),
                    rest,
                });
                before = after;
            }
            plans.push(NodePlan::Gate {
                iface_len: layout_len(&iface[v]),
                total,
                steps,
            });
        }
        Ok(Plan {
            resources,
            nodes: plans,
        })
    }
}
