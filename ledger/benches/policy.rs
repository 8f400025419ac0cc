//! Criterion benchmarks of endorsement-policy evaluation on the shapes a consortium uses,
//! with every organisation signing, against one ECDSA P-256 verification measured in the
//! same run (validation makes at least one per endorsement).

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use ledger::crypto;
use ledger::identity::Role;
use ledger::policy::{Policy, resolve};

/// A named policy and the signers it is evaluated against.
type Case = (&'static str, Policy, Vec<(String, Role)>);

fn orgs(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("org{i}")).collect()
}

fn peers(orgs: &[String]) -> Vec<(String, Role)> {
    orgs.iter().map(|o| (o.clone(), Role::Peer)).collect()
}

fn list(orgs: &[String], role: &str) -> String {
    orgs.iter()
        .map(|o| format!("'{o}.{role}'"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The most entangled policy of its family the cost bound accepts: `OutOf(k, …)` over
/// every pair of n organisations (a set-packing puzzle), the largest n that parses.
fn entangled() -> Case {
    let mut best = None;
    for n in 4..16 {
        let members = orgs(n);
        let mut pairs = Vec::new();
        for i in 0..n {
            for j in i + 1..n {
                pairs.push(format!("AND('{}.peer', '{}.peer')", members[i], members[j]));
            }
        }
        match Policy::parse(&format!("OutOf({}, {})", n / 2, pairs.join(", "))) {
            Ok(p) => best = Some((n, p, members)),
            Err(_) => break,
        }
    }
    let (n, policy, members) = best.expect("pairs of 4 organisations parse");
    eprintln!("entangled: every pair of {n} organisations");
    // Each organisation but one signs with as many peers as it has pairs: the most rows
    // the table can have.
    let signers = members[1..]
        .iter()
        .flat_map(|o| std::iter::repeat_n((o.clone(), Role::Peer), n - 1))
        .collect();
    (
        "entangled: every pair, largest accepted, many peers each",
        policy,
        signers,
    )
}

fn bench(c: &mut Criterion) {
    let hundred = orgs(100);
    let everyone = peers(&hundred);
    let mut g = c.benchmark_group("policy");

    let cases: Vec<Case> = vec![
        (
            "ALL of 100",
            resolve("ALL", &hundred).unwrap(),
            everyone.clone(),
        ),
        (
            "MAJORITY of 100",
            resolve("MAJORITY", &hundred).unwrap(),
            everyone.clone(),
        ),
        (
            "MAJORITY of 100, 50 signing (refused)",
            resolve("MAJORITY", &hundred).unwrap(),
            everyone[..50].to_vec(),
        ),
        (
            "OutOf(67, 100)",
            Policy::parse(&format!("OutOf(67, {})", list(&hundred, "peer"))).unwrap(),
            everyone.clone(),
        ),
        (
            "Weighted over 100",
            Policy::parse(&format!(
                "Weighted(300, {})",
                hundred
                    .iter()
                    .enumerate()
                    .map(|(i, o)| format!("'{o}.peer'={}", i % 7 + 1))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
            .unwrap(),
            everyone.clone(),
        ),
        (
            "Fabric OutOf(15, 26 members)",
            Policy::parse(&format!("OutOf(15, {})", list(&orgs(26), "member"))).unwrap(),
            peers(&orgs(26)),
        ),
        (
            "AND of 20 principals",
            Policy::parse(&format!("AND({})", list(&orgs(20), "peer"))).unwrap(),
            peers(&orgs(20)),
        ),
        (
            "AND of one principal 20 times",
            Policy::parse(&format!("AND({})", vec!["'org0.peer'"; 20].join(", "))).unwrap(),
            vec![("org0".to_string(), Role::Peer); 20],
        ),
        (
            "nested: admins of 3 AND a majority of 100, OR a member of each of 5",
            Policy::parse(&format!(
                "OR(AND({}, OutOf(51, {})), AND({}))",
                list(&hundred[..3], "admin"),
                list(&hundred, "peer"),
                list(&hundred[..5], "member")
            ))
            .unwrap(),
            everyone
                .iter()
                .cloned()
                .chain(hundred[..3].iter().map(|o| (o.clone(), Role::Admin)))
                .collect(),
        ),
        (
            "nested: admins of 3 AND a majority of 100, OR 3 admins of 5",
            Policy::parse(&format!(
                "OR(AND({}, OutOf(51, {})), OutOf(3, {}))",
                list(&hundred[..3], "admin"),
                list(&hundred, "peer"),
                list(&hundred[..5], "admin")
            ))
            .unwrap(),
            everyone
                .iter()
                .cloned()
                .chain(hundred[..3].iter().map(|o| (o.clone(), Role::Admin)))
                .collect(),
        ),
        entangled(),
    ];
    for (name, policy, signers) in &cases {
        assert!(
            policy.is_satisfied_by(signers) || name.contains("refused"),
            "{name}"
        );
        g.bench_function(*name, |b| {
            b.iter(|| black_box(policy).is_satisfied_by(black_box(signers)))
        });
    }

    // The reference: one signature check, as validation makes per endorsement.
    let key = crypto::new_p256_key().unwrap();
    let ec = key.ec_key().unwrap();
    let public = openssl::ec::EcKey::from_public_key(ec.group(), ec.public_key()).unwrap();
    let msg = vec![7u8; 1000];
    let sig = crypto::sign(&ec, &msg).unwrap();
    g.bench_function("reference: one ECDSA P-256 verification", |b| {
        b.iter(|| crypto::verify(black_box(&public), black_box(&msg), black_box(&sig)))
    });

    // Parsing, which endorsing peers do for every lifecycle approval.
    let text = format!("OutOf(67, {})", list(&hundred, "peer"));
    g.bench_function("parse OutOf(67, 100)", |b| {
        b.iter(|| Policy::parse(black_box(&text)).unwrap())
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
