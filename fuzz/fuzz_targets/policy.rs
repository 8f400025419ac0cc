//! Policy text (`ledger::policy`): parsing, the channel shorthands, printing, and
//! evaluation. Input: the text, then optionally NUL and one byte per signer (which
//! organisation the policy names, which role). Evaluation must not depend on the order of
//! the signers, and what prints must parse back to the same policy.
#![no_main]

use ledger::identity::Role;
use ledger::policy::{Policy, resolve};
use libfuzzer_sys::fuzz_target;

const ROLES: [Role; 4] = [Role::Peer, Role::Admin, Role::Client, Role::Orderer];

fuzz_target!(|data: &[u8]| {
    let (text, signer_bytes) = match data.iter().position(|b| *b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let Ok(text) = std::str::from_utf8(text) else {
        return;
    };
    let members = ["alpha".to_string(), "beta".to_string(), "gamma".to_string()];
    let Ok(policy) = resolve(text, &members) else {
        return;
    };
    let printed = policy.to_string();
    assert_eq!(Policy::parse(&printed).as_ref(), Ok(&policy), "{printed}");
    let mut orgs = policy.orgs();
    orgs.push("outsider".into());
    let signers: Vec<(String, Role)> = signer_bytes
        .iter()
        .map(|b| {
            let org = &orgs[usize::from(*b) % orgs.len()];
            (org.clone(), ROLES[usize::from(*b >> 6)])
        })
        .collect();
    let verdict = policy.is_satisfied_by(&signers);
    let reversed: Vec<_> = signers.iter().rev().cloned().collect();
    assert_eq!(policy.is_satisfied_by(&reversed), verdict);
    let _ = policy.clone();
});
