//! The policy language as a table: text, signers, expected verdict; and bad texts with the
//! column the error must point at.

use ledger::identity::Role;
use ledger::policy::{Policy, resolve};

fn signers(list: &str) -> Vec<(String, Role)> {
    list.split_whitespace()
        .map(|s| {
            let (org, role) = s.split_once('.').unwrap();
            (org.to_string(), Role::parse(role).unwrap())
        })
        .collect()
}

#[test]
fn evaluation_table() {
    let cases: &[(&str, &str, bool)] = &[
        ("'alpha.peer'", "alpha.peer", true),
        ("'alpha.peer'", "alpha.client", false),
        ("'alpha.member'", "alpha.client", true),
        ("'alpha.member'", "beta.peer", false),
        (
            "AND('alpha.peer', 'beta.peer')",
            "alpha.peer beta.peer",
            true,
        ),
        ("AND('alpha.peer', 'beta.peer')", "alpha.peer", false),
        (
            "AND('alpha.peer', 'beta.peer')",
            "alpha.peer alpha.peer",
            false,
        ),
        ("AND('alpha.peer', 'alpha.peer')", "alpha.peer", false),
        (
            "AND('alpha.peer', 'alpha.peer')",
            "alpha.peer alpha.peer",
            true,
        ),
        ("OR('alpha.peer', 'beta.peer')", "beta.peer", true),
        ("OR('alpha.peer', 'beta.peer')", "", false),
        ("OR('alpha.peer', 'beta.peer')", "gamma.peer", false),
        (
            "OutOf(2, 'alpha.peer', 'beta.peer', 'gamma.peer')",
            "gamma.peer alpha.peer",
            true,
        ),
        (
            "OutOf(2, 'alpha.peer', 'beta.peer', 'gamma.peer')",
            "gamma.peer",
            false,
        ),
        (
            "OutOf(1, AND('alpha.peer', 'beta.peer'), 'gamma.admin')",
            "gamma.admin",
            true,
        ),
        (
            "OutOf(1, AND('alpha.peer', 'beta.peer'), 'gamma.admin')",
            "alpha.peer gamma.peer",
            false,
        ),
        (
            "AND(OR('alpha.peer', 'beta.peer'), 'alpha.peer')",
            "alpha.peer beta.peer",
            true,
        ),
        (
            "Weighted(50, 'alpha.peer'=15, 'beta.peer'=10, 'gamma.peer'=30)",
            "alpha.peer gamma.peer",
            false,
        ),
        (
            "Weighted(40, 'alpha.peer'=15, 'beta.peer'=10, 'gamma.peer'=30)",
            "beta.peer gamma.peer",
            true,
        ),
        (
            "Weighted(50, 'alpha.peer'=15, 'beta.peer'=10, 'gamma.peer'=30)",
            "alpha.peer beta.peer",
            false,
        ),
        (
            "Weighted(50, 'alpha.peer'=15, 'beta.peer'=10, 'gamma.peer'=30)",
            "alpha.peer beta.peer gamma.peer",
            true,
        ),
        (
            "Weighted(25, 'alpha.peer'=15, 'alpha.member'=10)",
            "alpha.peer",
            false,
        ),
        (
            "Weighted(25, 'alpha.peer'=15, 'alpha.member'=10)",
            "alpha.peer alpha.client",
            true,
        ),
        (
            "  OR ( 'beta-tel.peer' ,'alpha.admin' ) ",
            "beta-tel.peer",
            true,
        ),
    ];
    for (text, who, expected) in cases {
        let p = Policy::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(
            p.is_satisfied_by(&signers(who)),
            *expected,
            "{text} with [{who}]"
        );
        // Display prints a policy that parses back to the same thing.
        assert_eq!(Policy::parse(&p.to_string()).unwrap(), p, "{text}");
    }
}

#[test]
fn errors_point_at_the_bad_part() {
    let cases: &[(&str, usize, &str)] = &[
        ("", 1, "expected AND"),
        ("AND('alpha.peer' 'beta.peer')", 18, "expected `)`"),
        ("XOR('alpha.peer')", 1, "unknown operator `XOR`"),
        ("AND('alpha.peer', 'beta.boss')", 25, "unknown role `boss`"),
        ("AND('Alpha.peer')", 6, "`Alpha` is not an organisation id"),
        ("OR('alpha')", 4, "must be 'org.role'"),
        ("OutOf(3, 'alpha.peer', 'beta.peer')", 7, "between 1 and 2"),
        ("OutOf(x, 'alpha.peer')", 7, "expected a whole number"),
        (
            "Weighted(60, 'alpha.peer'=15, 'beta.peer'=10)",
            10,
            "sum of the weights (25)",
        ),
        ("Weighted(10, 'alpha.peer')", 26, "expected `=`"),
        ("'alpha.peer' junk", 14, "unexpected text"),
        ("AND('alpha.peer'", 17, "expected `)`, found the end"),
        ("OR('alpha.peer", 4, "not closed"),
    ];
    for (text, column, message) in cases {
        let err = Policy::parse(text).expect_err(text);
        assert_eq!(err.column, *column, "{text}: {err}");
        assert!(err.message.contains(message), "{text}: {err}");
        assert!(
            err.to_string().contains(&format!("column {column}")),
            "{err}"
        );
    }
}

#[test]
fn channel_shorthands_resolve_against_members() {
    let orgs = vec!["alpha".to_string(), "beta".to_string(), "gamma".to_string()];
    let all = resolve("ALL", &orgs).unwrap();
    assert!(!all.is_satisfied_by(&signers("alpha.peer beta.peer")));
    assert!(all.is_satisfied_by(&signers("alpha.peer beta.peer gamma.peer")));
    let majority = resolve("MAJORITY", &orgs).unwrap();
    assert!(majority.is_satisfied_by(&signers("alpha.peer gamma.peer")));
    assert!(!majority.is_satisfied_by(&signers("alpha.peer alpha.peer")));
    let any = resolve("ANY", &orgs).unwrap();
    assert!(any.is_satisfied_by(&signers("beta.peer")));
    assert!(!any.is_satisfied_by(&signers("beta.client")));
    assert_eq!(
        resolve("OR('alpha.peer')", &orgs).unwrap(),
        Policy::parse("OR('alpha.peer')").unwrap()
    );
}

#[test]
fn many_signatures_do_not_blow_up_evaluation() {
    let p = Policy::parse(
        "AND('alpha.peer', 'beta.peer', OutOf(2, 'gamma.peer', 'delta.peer', 'alpha.peer'))",
    )
    .unwrap();
    let mut many = String::new();
    for _ in 0..2000 {
        many.push_str("alpha.peer beta.peer gamma.client ");
    }
    // Speed is measured by `benches/policy.rs`; here only the verdicts.
    assert!(!p.is_satisfied_by(&signers(&many)));
    many.push_str("gamma.peer");
    assert!(p.is_satisfied_by(&signers(&many)));
}
