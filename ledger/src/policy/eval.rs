//! Exact evaluation of a policy against signers, following its `plan`: the gates being
//! evaluated sit on an explicit stack; each runs its children left to right over a table
//! from demand vector to the best count or weight reached, drops rows that can no longer
//! reach the threshold, and stops at the first row that reaches it with no demand on its
//! interface (at the root: the first satisfying assignment).

use std::collections::{HashMap, HashSet};

use super::Node;
use super::plan::{NodePlan, Plan, Resource, Step};
use crate::identity::Role;

/// Demand per slot over some layout of resources (see `plan`).
type Demand = Vec<u32>;

/// How many signers each resource offers.
enum Capacity {
    /// Signers of the one (organisation, role).
    Class(u32),
    /// Signers of the organisation per role (peer, orderer, client, admin), and in all.
    Org([u32; 4], u64),
}

impl Capacity {
    /// Whether the signers can meet `demand` (the resource's slots), each signer once:
    /// every role's demand within its signers, and all of it within all of them (Hall's
    /// condition, which suffices because `member` demand can take any role).
    fn fits(&self, demand: &[u32]) -> bool {
        match self {
            Capacity::Class(c) => demand.first().is_none_or(|d| d <= c),
            Capacity::Org(per_role, all) => {
                per_role.iter().zip(demand).all(|(c, d)| d <= c)
                    && demand.iter().map(|&d| u64::from(d)).sum::<u64>() <= *all
            }
        }
    }
}

fn capacities(resources: &[Resource], signers: &[(String, Role)]) -> Vec<Capacity> {
    let mut per_org: HashMap<&str, [u32; 4]> = HashMap::new();
    for (org, role) in signers {
        let c = &mut per_org.entry(org.as_str()).or_default()[role_index(*role)];
        *c = c.saturating_add(1);
    }
    resources
        .iter()
        .map(|r| {
            let counts = per_org.get(r.org.as_str()).copied().unwrap_or_default();
            match r.role {
                Some(role) => Capacity::Class(counts[role_index(role)]),
                None => Capacity::Org(counts, counts.iter().map(|&c| u64::from(c)).sum()),
            }
        })
        .collect()
}

fn role_index(role: Role) -> usize {
    match role {
        Role::Peer => 0,
        Role::Orderer => 1,
        Role::Client => 2,
        Role::Admin => 3,
    }
}

/// The ways a node can be satisfied: each its demand over its interface.
type Options = Vec<Demand>;

/// A gate being evaluated.
struct Frame<'a> {
    need: u64,
    children: &'a [(usize, u64)],
    steps: &'a [Step],
    /// Children done.
    at: usize,
    /// Demand over the live resources → best count or weight reached (below `need`).
    table: HashMap<Demand, u64>,
    /// Demands over the interface of the ways found to reach `need`.
    found: HashSet<Demand>,
    /// A way with no demand on the interface was found: nothing else matters.
    free: bool,
}

enum Begun<'a> {
    Done(Options),
    Gate(Frame<'a>),
}

pub(super) fn satisfied(nodes: &[Node], plan: &Plan, signers: &[(String, Role)]) -> bool {
    let caps = capacities(&plan.resources, signers);
    let Some(root) = nodes.len().checked_sub(1) else {
        return false;
    };
    let mut stack = match begin(nodes, plan, &caps, root) {
        Begun::Done(options) => return !options.is_empty(),
        Begun::Gate(frame) => vec![frame],
    };
    let mut returned: Option<Options> = None;
    while let Some(top) = stack.last_mut() {
        if let Some(options) = returned.take() {
            top.advance(&options, plan, &caps);
        }
        if top.finished() {
            let options = top.finish();
            stack.pop();
            if stack.is_empty() {
                return !options.is_empty();
            }
            returned = Some(options);
            continue;
        }
        let child = top.children[top.at].0;
        match begin(nodes, plan, &caps, child) {
            Begun::Done(options) => returned = Some(options),
            Begun::Gate(frame) => stack.push(frame),
        }
    }
    false
}

fn begin<'a>(nodes: &'a [Node], plan: &'a Plan, caps: &[Capacity], v: usize) -> Begun<'a> {
    match (&nodes[v], &plan.nodes[v]) {
        (
            _,
            NodePlan::Leaf {
                resource,
                slot,
                shared,
            },
        ) => {
            let width = plan.resources[*resource].width();
            let mut demand = vec![0u32; width];
            demand[(*slot).min(width - 1)] = 1;
            if !caps[*resource].fits(&demand) {
                return Begun::Done(Vec::new());
            }
            Begun::Done(vec![if *shared { demand } else { Vec::new() }])
        }
        (
            Node::Gate { need, children, .. },
            NodePlan::Gate {
                iface_len,
                total,
                steps,
            },
        ) => {
            let zero = vec![0u32; *iface_len];
            if *need == 0 {
                return Begun::Done(vec![zero]);
            }
            let mut table = HashMap::new();
            if *total >= *need {
                table.insert(zero, 0);
            }
            Begun::Gate(Frame {
                need: *need,
                children,
                steps,
                at: 0,
                table,
                found: HashSet::new(),
                free: false,
            })
        }
        // A plan is made from its nodes: a leaf plan for every leaf, a gate plan for
        // every gate. Anything else cannot be satisfied.
        (Node::Signed(_), NodePlan::Gate { .. }) => Begun::Done(Vec::new()),
    }
}

impl Frame<'_> {
    fn finished(&self) -> bool {
        self.free || self.table.is_empty() || self.at >= self.children.len()
    }

    fn finish(&mut self) -> Options {
        std::mem::take(&mut self.found).into_iter().collect()
    }

    /// Runs child `at`, which can be satisfied in the ways `options`, over the table.
    fn advance(&mut self, options: &[Demand], plan: &Plan, caps: &[Capacity]) {
        let (Some(step), Some(&(_, weight))) =
            (self.steps.get(self.at), self.children.get(self.at))
        else {
            self.table.clear();
            return;
        };
        self.at += 1;
        let mut next: HashMap<Demand, u64> = HashMap::with_capacity(self.table.len());
        let keep = |next: &mut HashMap<Demand, u64>, merged: &[u32], reached: u64| {
            let row: Demand = step.keep.iter().map(|&i| merged[i]).collect();
            let best = next.entry(row).or_insert(reached);
            *best = (*best).max(reached);
        };
        for (row, reached) in std::mem::take(&mut self.table) {
            let mut merged = vec![0u32; step.merged_len];
            for (&i, &d) in step.state_to_merged.iter().zip(&row) {
                merged[i] = d;
            }
            // Without this child.
            if reached.saturating_add(step.rest) >= self.need {
                keep(&mut next, &merged, reached);
            }
            // With it, in each of its ways.
            for option in options {
                let mut with = merged.clone();
                for (&i, &d) in step.option_to_merged.iter().zip(option) {
                    with[i] = with[i].saturating_add(d);
                }
                let fits = step.check.iter().all(|&(r, at)| {
                    let width = plan.resources[r].width();
                    with.get(at..at + width)
                        .is_some_and(|demand| caps[r].fits(demand))
                });
                if !fits {
                    continue;
                }
                let reached = reached.saturating_add(weight).min(self.need);
                if reached >= self.need {
                    let on_iface: Demand = step.report.iter().map(|&i| with[i]).collect();
                    if on_iface.iter().all(|&d| d == 0) {
                        self.free = true;
                        self.found.clear();
                        self.found.insert(on_iface);
                        return;
                    }
                    self.found.insert(on_iface);
                } else if reached.saturating_add(step.rest) >= self.need {
                    keep(&mut next, &with, reached);
                }
            }
        }
        self.table = next;
    }
}
