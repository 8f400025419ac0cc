//! The evaluator against a brute-force oracle on small random policies, and the limits.

use proptest::prelude::*;

use super::*;

/// A policy as the tests build it, printed to text and parsed.
#[derive(Clone, Debug)]
enum Tree {
    Leaf(&'static str, Option<Role>),
    OutOf(usize, Vec<Tree>),
    Weighted(u64, Vec<((&'static str, Option<Role>), u64)>),
}

fn principal(org: &str, role: Option<Role>) -> String {
    format!("'{org}.{}'", role.map_or("member", Role::as_str))
}

impl Tree {
    fn text(&self) -> String {
        match self {
            Tree::Leaf(o, r) => principal(o, *r),
            Tree::OutOf(n, subs) => {
                let list: Vec<String> = subs.iter().map(Tree::text).collect();
                let list = list.join(", ");
                match *n {
                    n if n == subs.len() && n % 2 == 0 => format!("AND({list})"),
                    1 if subs.len() % 2 == 1 => format!("OR({list})"),
                    n => format!("OutOf({n}, {list})"),
                }
            }
            Tree::Weighted(t, entries) => {
                let list: Vec<String> = entries
                    .iter()
                    .map(|((o, r), w)| format!("{}={w}", principal(o, *r)))
                    .collect();
                format!("Weighted({t}, {})", list.join(", "))
            }
        }
    }

    fn leaves(&self, out: &mut Vec<(&'static str, Option<Role>)>) {
        match self {
            Tree::Leaf(o, r) => out.push((o, *r)),
            Tree::OutOf(_, subs) => subs.iter().for_each(|s| s.leaves(out)),
            Tree::Weighted(_, entries) => out.extend(entries.iter().map(|(p, _)| *p)),
        }
    }

    /// Whether the tree holds when exactly the leaves in `chosen` (numbered left to right
    /// from `*next`) are signed.
    fn holds(&self, chosen: &[bool], next: &mut usize) -> bool {
        match self {
            Tree::Leaf(..) => {
                *next += 1;
                chosen[*next - 1]
            }
            Tree::OutOf(n, subs) => {
                let met = subs.iter().filter(|s| s.holds(chosen, next)).count();
                met >= *n
            }
            Tree::Weighted(t, entries) => {
                let mut sum = 0u128;
                for (_, w) in entries {
                    if chosen[*next] {
                        sum += u128::from(*w);
                    }
                    *next += 1;
                }
                sum >= u128::from(*t)
            }
        }
    }
}

fn matches(leaf: (&str, Option<Role>), signer: &(String, Role)) -> bool {
    leaf.0 == signer.0 && leaf.1.is_none_or(|r| r == signer.1)
}

/// Kuhn's augmenting paths: can every leaf get its own signer?
fn assignable(leaves: &[(&str, Option<Role>)], signers: &[(String, Role)]) -> bool {
    fn augment(
        l: usize,
        leaves: &[(&str, Option<Role>)],
        signers: &[(String, Role)],
        seen: &mut [bool],
        owner: &mut [Option<usize>],
    ) -> bool {
        for s in 0..signers.len() {
            if seen[s] || !matches(leaves[l], &signers[s]) {
                continue;
            }
            seen[s] = true;
            if owner[s].is_none_or(|o| augment(o, leaves, signers, seen, owner)) {
                owner[s] = Some(l);
                return true;
            }
        }
        false
    }
    let mut owner = vec![None; signers.len()];
    (0..leaves.len()).all(|l| {
        augment(
            l,
            leaves,
            signers,
            &mut vec![false; signers.len()],
            &mut owner,
        )
    })
}

/// The definition itself: some set of principals, each given its own signer, makes the
/// policy hold.
fn brute_force(tree: &Tree, signers: &[(String, Role)]) -> bool {
    let mut leaves = Vec::new();
    tree.leaves(&mut leaves);
    (0u32..1 << leaves.len()).any(|mask| {
        let chosen: Vec<bool> = (0..leaves.len()).map(|i| mask & (1 << i) != 0).collect();
        let picked: Vec<_> = leaves
            .iter()
            .zip(&chosen)
            .filter(|(_, c)| **c)
            .map(|(l, _)| *l)
            .collect();
        tree.holds(&chosen, &mut 0) && assignable(&picked, signers)
    })
}

const ORGS: [&str; 3] = ["ab", "cd", "ef"];
const ROLES: [Option<Role>; 4] = [
    Some(Role::Peer),
    Some(Role::Admin),
    Some(Role::Client),
    None,
];

fn leaf() -> impl Strategy<Value = (&'static str, Option<Role>)> {
    (
        prop::sample::select(&ORGS[..]),
        prop::sample::select(&ROLES[..]),
    )
}

fn tree() -> impl Strategy<Value = Tree> {
    let base = prop_oneof![
        3 => leaf().prop_map(|(o, r)| Tree::Leaf(o, r)),
        1 => prop::collection::vec((leaf(), 0u64..4), 1..4).prop_flat_map(|entries| {
            let total: u64 = entries.iter().map(|(_, w)| w).sum();
            (1..=total.max(1)).prop_map(move |t| Tree::Weighted(t, entries.clone()))
        }).prop_filter("threshold within the weights", |t| match t {
            Tree::Weighted(t, e) => *t <= e.iter().map(|(_, w)| w).sum(),
            _ => true,
        }),
    ];
    base.prop_recursive(3, 12, 4, |inner| {
        prop::collection::vec(inner, 1..4).prop_flat_map(|subs| {
            let len = subs.len();
            (1..=len).prop_map(move |n| Tree::OutOf(n, subs.clone()))
        })
    })
}

fn signers() -> impl Strategy<Value = Vec<(String, Role)>> {
    let org = prop::sample::select(&["ab", "cd", "ef", "gh"][..]);
    let role = prop::sample::select(&[Role::Peer, Role::Admin, Role::Client, Role::Orderer][..]);
    prop::collection::vec((org, role).prop_map(|(o, r)| (o.to_string(), r)), 0..7)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// The fast evaluator equals the brute-force one, and neither depends on the order of
    /// the signatures.
    #[test]
    fn evaluation_equals_brute_force(tree in tree(), signers in signers(), seed in any::<u64>()) {
        let mut leaves = Vec::new();
        tree.leaves(&mut leaves);
        prop_assume!(leaves.len() <= 12);
        let text = tree.text();
        let policy = Policy::parse(&text).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let expected = brute_force(&tree, &signers);
        prop_assert_eq!(policy.is_satisfied_by(&signers), expected, "{} with {:?}", text, signers);
        let mut shuffled = signers.clone();
        let len = shuffled.len();
        for i in 0..len {
            let j = (seed.rotate_left(i as u32) as usize) % len;
            shuffled.swap(i, j);
        }
        prop_assert_eq!(policy.is_satisfied_by(&shuffled), expected);
        // Display prints a text that parses back to the same policy.
        prop_assert_eq!(Policy::parse(&policy.to_string()).ok(), Some(policy));
    }

    /// Parsing arbitrary text never panics, and what parses prints back to itself.
    #[test]
    fn any_text_parses_or_errs(text in "[A-Za-z(),'.= 0-9-]{0,80}") {
        if let Ok(p) = Policy::parse(&text) {
            prop_assert_eq!(Policy::parse(&p.to_string()).ok(), Some(p));
        }
    }
}

fn signed(list: &[(&str, Role)]) -> Vec<(String, Role)> {
    list.iter().map(|(o, r)| (o.to_string(), *r)).collect()
}

fn orgs(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("org{i}")).collect()
}

fn peers(orgs: &[String]) -> Vec<(String, Role)> {
    orgs.iter().map(|o| (o.clone(), Role::Peer)).collect()
}

#[test]
fn deep_nesting_is_refused_at_the_operator_too_deep() {
    let depth = 10_000;
    let text = format!("{}'ab.peer'{}", "AND(".repeat(depth), ")".repeat(depth));
    assert!(text.len() <= MAX_TEXT_BYTES);
    let err = Policy::parse(&text).unwrap_err();
    assert_eq!(err.column, 4 * MAX_DEPTH + 1, "{err}");
    assert!(err.message.contains("nest more than 32"), "{err}");
    // The message shows the place, not 60,000 characters.
    assert!(err.to_string().len() < 300, "{err}");
}

#[test]
fn text_longer_than_the_limit_is_refused_before_parsing() {
    let depth = 50_000;
    let text = format!("{}'ab.peer'{}", "AND(".repeat(depth), ")".repeat(depth));
    let err = Policy::parse(&text).unwrap_err();
    assert_eq!(err.column, MAX_TEXT_BYTES + 1);
    assert!(err.message.contains("at most 65536"), "{err}");
}

#[test]
fn nesting_at_the_limit_works_everywhere() {
    let text = format!(
        "{}'ab.peer'{}",
        "OR('cd.peer', ".repeat(MAX_DEPTH),
        ")".repeat(MAX_DEPTH)
    );
    let p = Policy::parse(&text).unwrap();
    assert!(p.is_satisfied_by(&signed(&[("ab", Role::Peer)])));
    assert!(!p.is_satisfied_by(&signed(&[("ab", Role::Admin)])));
    let copy = p.clone();
    assert_eq!(Policy::parse(&copy.to_string()).unwrap(), p);
    assert_eq!(copy.orgs(), vec!["cd".to_string(), "ab".to_string()]);
    drop(copy);
    let one_more = format!("OR('cd.peer', {text})");
    assert!(
        Policy::parse(&one_more)
            .unwrap_err()
            .message
            .contains("nest")
    );
}

#[test]
fn width_is_limited_per_operator() {
    let list = |n: usize| {
        (0..n)
            .map(|i| format!("'o{i}.peer'"))
            .collect::<Vec<_>>()
            .join(",")
    };
    let p = Policy::parse(&format!("OR({})", list(MAX_WIDTH))).unwrap();
    assert!(p.is_satisfied_by(&signed(&[("o1023", Role::Peer)])));
    assert!(!p.is_satisfied_by(&signed(&[("o1024", Role::Peer)])));
    let text = format!("OR({})", list(MAX_WIDTH + 1));
    let err = Policy::parse(&text).unwrap_err();
    let column = text.find("'o1024.peer'").unwrap() + 1;
    assert_eq!(err.column, column, "{err}");
    assert!(err.message.contains("at most 1024"), "{err}");
    let weighted = (0..=MAX_WIDTH)
        .map(|i| format!("'o{i}.peer'=1"))
        .collect::<Vec<_>>()
        .join(", ");
    let err = Policy::parse(&format!("Weighted(1, {weighted})")).unwrap_err();
    assert!(err.message.contains("at most 1024"), "{err}");
    assert!(resolve("ALL", &orgs(MAX_WIDTH + 1)).is_err());
}

#[test]
fn weights_never_overflow() {
    let p = Policy::parse("Weighted(1, 'alpha.peer'=18446744073709551615, 'beta.peer'=2)").unwrap();
    assert!(p.is_satisfied_by(&signed(&[("beta", Role::Peer)])));
    assert!(p.is_satisfied_by(&signed(&[("alpha", Role::Peer)])));
    assert!(!p.is_satisfied_by(&signed(&[("gamma", Role::Peer)])));
    let max = u64::MAX;
    let p = Policy::parse(&format!(
        "Weighted({max}, 'alpha.peer'={max}, 'beta.peer'={max}, 'gamma.peer'=1)"
    ))
    .unwrap();
    assert!(p.is_satisfied_by(&signed(&[("beta", Role::Peer)])));
    let p = Policy::parse(&format!(
        "Weighted({max}, 'alpha.peer'={}, 'beta.peer'={}, 'gamma.peer'=1)",
        max - 1,
        max - 1
    ))
    .unwrap();
    assert!(!p.is_satisfied_by(&signed(&[("gamma", Role::Peer)])));
    assert!(p.is_satisfied_by(&signed(&[("alpha", Role::Peer), ("gamma", Role::Peer)])));
    assert!(p.is_satisfied_by(&signed(&[("alpha", Role::Peer), ("beta", Role::Peer)])));
    let err = Policy::parse("Weighted(18446744073709551615, 'alpha.peer'=1)").unwrap_err();
    assert!(err.message.contains("sum of the weights (1)"), "{err}");
    let err = Policy::parse("OutOf(18446744073709551616, 'alpha.peer')").unwrap_err();
    assert!(err.message.contains("whole number"), "{err}");
}

#[test]
fn channel_wide_thresholds_over_a_hundred_organisations() {
    let members = orgs(100);
    let everyone = peers(&members);
    for (shorthand, enough) in [("ALL", 100), ("MAJORITY", 51), ("ANY", 1)] {
        let p = resolve(shorthand, &members).unwrap();
        assert!(p.is_satisfied_by(&everyone), "{shorthand}");
        assert!(p.is_satisfied_by(&everyone[100 - enough..]), "{shorthand}");
        assert!(!p.is_satisfied_by(&everyone[101 - enough..]), "{shorthand}");
    }
}

#[test]
fn entangled_policies_are_refused_not_evaluated_for_ever() {
    // Every pair of twelve organisations: choosing seven disjoint pairs is a set-packing
    // puzzle; the evaluator would need a table over all twelve at once.
    let members = orgs(12);
    let mut pairs = Vec::new();
    for i in 0..members.len() {
        for j in i + 1..members.len() {
            pairs.push(format!("AND('{}.peer', '{}.peer')", members[i], members[j]));
        }
    }
    let err = Policy::parse(&format!("OutOf(6, {})", pairs.join(", "))).unwrap_err();
    assert_eq!(err.column, 1, "{err}");
    assert!(err.message.contains("too many ways"), "{err}");
    // A chain of pairs shares one organisation between neighbours only: fine.
    let chain: Vec<String> = (0..40)
        .map(|i| format!("AND('o{i}.peer', 'o{}.peer')", i + 1))
        .collect();
    let p = Policy::parse(&format!("OutOf(20, {})", chain.join(", "))).unwrap();
    let all: Vec<(String, Role)> = (0..=40).map(|i| (format!("o{i}"), Role::Peer)).collect();
    assert!(p.is_satisfied_by(&all));
    // Twenty disjoint pairs: without o0 the pairs start at o1; without o1, o0 is alone
    // and 39 organisations make only 19 pairs.
    assert!(p.is_satisfied_by(&all[1..]));
    let without_o1: Vec<_> = all.iter().filter(|(o, _)| o != "o1").cloned().collect();
    assert!(!p.is_satisfied_by(&without_o1));
    assert!(p.is_satisfied_by(&all[..40]));
}

#[test]
fn members_and_roles_share_the_signers_of_an_organisation() {
    let p = Policy::parse("AND('ab.member', 'ab.peer')").unwrap();
    assert!(!p.is_satisfied_by(&signed(&[("ab", Role::Peer)])));
    assert!(p.is_satisfied_by(&signed(&[("ab", Role::Peer), ("ab", Role::Admin)])));
    assert!(p.is_satisfied_by(&signed(&[("ab", Role::Admin), ("ab", Role::Peer)])));
    assert!(!p.is_satisfied_by(&signed(&[("ab", Role::Admin), ("ab", Role::Admin)])));
    // Fabric's greedy pass spends the peer on 'ab.member' first and then fails.
    let p = Policy::parse("AND('ab.member', 'ab.peer', 'ab.admin')").unwrap();
    assert!(!p.is_satisfied_by(&signed(&[("ab", Role::Peer), ("ab", Role::Admin)])));
    assert!(p.is_satisfied_by(&signed(&[
        ("ab", Role::Peer),
        ("ab", Role::Admin),
        ("ab", Role::Client)
    ])));
}

#[test]
fn long_policies_are_shown_around_the_error() {
    let text = format!(
        "OR({}, 'ab.boss')",
        "'ab.peer', ".repeat(100).trim_end_matches(", ")
    );
    let err = Policy::parse(&text).unwrap_err();
    let shown = err.to_string();
    assert!(shown.starts_with("policy `…"), "{shown}");
    assert!(shown.contains("'ab.peer', 'ab.boss')`"), "{shown}");
    assert!(
        shown.contains(&format!("({} characters)", text.len())),
        "{shown}"
    );
    assert!(shown.contains("unknown role `boss`"), "{shown}");
    // A column past the end (the fields are public) still shows.
    let odd = PolicyError {
        column: usize::MAX,
        ..err
    };
    assert!(odd.to_string().contains("characters)"));
}
