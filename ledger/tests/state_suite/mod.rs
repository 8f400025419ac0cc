//! The world-state conformance suite: every `WorldState` implementation must pass each
//! of these functions. Backends instantiate it in their own test file.

use ledger::proto::Version;
use ledger::state::{BlockUpdate, StateClaim, StateClaimRun, StateError, StateWrite, WorldState};

fn v(block_num: u64, tx_num: u64) -> Version {
    Version { block_num, tx_num }
}

fn put(ns: &str, key: &str, value: &str, version: Version) -> StateWrite {
    StateWrite {
        namespace: ns.into(),
        key: key.into(),
        value: Some(value.as_bytes().to_vec()),
        version,
    }
}

fn del(ns: &str, key: &str, version: Version) -> StateWrite {
    StateWrite {
        namespace: ns.into(),
        key: key.into(),
        value: None,
        version,
    }
}

/// A fresh, empty store per call.
pub trait Fresh {
    /// The store type.
    type Store: WorldState;
    /// Opens an empty store.
    fn fresh(&self) -> impl std::future::Future<Output = Self::Store>;
}

/// Runs every check of the suite against fresh stores from `backend`.
pub async fn run_all<F: Fresh>(backend: &F) {
    reads_what_was_committed(&backend.fresh().await).await;
    versions_of_many_keys_at_once(&backend.fresh().await).await;
    a_large_block_over_namespaces_and_transactions(&backend.fresh().await).await;
    claims_are_kept_apart_found_and_cleared(&backend.fresh().await).await;
    numbered_claims_are_found_listed_and_made_once(&backend.fresh().await).await;
    keys_across_many_runs_are_sought_exactly(&backend.fresh().await).await;
    claims_carried_as_runs_are_kept_found_and_made_once(&backend.fresh().await).await;
    a_block_writing_a_key_twice_keeps_the_last(&backend.fresh().await).await;
    blocks_apply_in_order_only(&backend.fresh().await).await;
    deletes_remove_keys_and_leave_history(&backend.fresh().await).await;
    ranges_are_ordered_bounded_and_namespaced(&backend.fresh().await).await;
    ranges_read_in_pages_and_as_versions_are_the_same_range(&backend.fresh().await).await;
    keys_are_bytes_including_nul(&backend.fresh().await).await;
    a_failed_commit_changes_nothing(&backend.fresh().await).await;
    entries_and_clear(&backend.fresh().await).await;
}

async fn reads_what_was_committed(s: &impl WorldState) {
    assert_eq!(s.savepoint().await.unwrap(), None);
    assert_eq!(s.get("ns", "a").await.unwrap(), None);
    s.commit(&BlockUpdate {
        block_num: 0,
        writes: vec![put("ns", "a", "1", v(0, 0))],
        claims: Vec::new(),
        claim_runs: Vec::new(),
    })
    .await
    .unwrap();
    s.commit(&BlockUpdate {
        block_num: 1,
        writes: vec![put("ns", "a", "2", v(1, 3))],
        claims: Vec::new(),
        claim_runs: Vec::new(),
    })
    .await
    .unwrap();
    let got = s.get("ns", "a").await.unwrap().unwrap();
    assert_eq!(got.value, b"2");
    assert_eq!(got.version, v(1, 3));
    assert_eq!(s.savepoint().await.unwrap(), Some(1));
    assert_eq!(s.get("other", "a").await.unwrap(), None);
}

async fn blocks_apply_in_order_only(s: &impl WorldState) {
    let skip = s
        .commit(&BlockUpdate {
            block_num: 1,
            writes: vec![],
            claims: Vec::new(),
            claim_runs: Vec::new(),
        })
        .await;
    assert!(
        matches!(
            skip,
            Err(StateError::OutOfOrder {
                expected: 0,
                got: 1
            })
        ),
        "{skip:?}"
    );
    s.commit(&BlockUpdate {
        block_num: 0,
        writes: vec![put("ns", "a", "1", v(0, 0))],
        claims: Vec::new(),
        claim_runs: Vec::new(),
    })
    .await
    .unwrap();
    // Applying the same block twice is refused: replay after a crash cannot double-apply.
    let again = s
        .commit(&BlockUpdate {
            block_num: 0,
            writes: vec![put("ns", "a", "9", v(0, 0))],
            claims: Vec::new(),
            claim_runs: Vec::new(),
        })
        .await;
    assert!(
        matches!(
            again,
            Err(StateError::OutOfOrder {
                expected: 1,
                got: 0
            })
        ),
        "{again:?}"
    );
    assert_eq!(s.get("ns", "a").await.unwrap().unwrap().value, b"1");
}

async fn deletes_remove_keys_and_leave_history(s: &impl WorldState) {
    s.commit(&BlockUpdate {
        block_num: 0,
        writes: vec![put("ns", "k", "1", v(0, 0))],
        claims: Vec::new(),
        claim_runs: Vec::new(),
    })
    .await
    .unwrap();
    s.commit(&BlockUpdate {
        block_num: 1,
        writes: vec![put("ns", "k", "2", v(1, 0))],
        claims: Vec::new(),
        claim_runs: Vec::new(),
    })
    .await
    .unwrap();
    s.commit(&BlockUpdate {
        block_num: 2,
        writes: vec![del("ns", "k", v(2, 1))],
        claims: Vec::new(),
        claim_runs: Vec::new(),
    })
    .await
    .unwrap();
    assert_eq!(s.get("ns", "k").await.unwrap(), None);
    assert_eq!(
        values(s, "k").await,
        history(&[(v(0, 0), Some("1")), (v(1, 0), Some("2")), (v(2, 1), None)])
    );
    // Deleting an absent key is harmless.
    s.commit(&BlockUpdate {
        block_num: 3,
        writes: vec![del("ns", "never", v(3, 0))],
        claims: Vec::new(),
        claim_runs: Vec::new(),
    })
    .await
    .unwrap();
    assert_eq!(values(s, "never").await, history(&[(v(3, 0), None)]));
    // A key written again after its delete, then replaced twice in one block: every value
    // it had stays in its history, the current one too.
    for (block_num, writes) in [
        (4, vec![put("ns", "k", "3", v(4, 0))]),
        (
            5,
            vec![put("ns", "k", "4", v(5, 0)), put("ns", "k", "5", v(5, 2))],
        ),
    ] {
        s.commit(&BlockUpdate {
            block_num,
            writes,
            claims: Vec::new(),
            claim_runs: Vec::new(),
        })
        .await
        .unwrap();
    }
    assert_eq!(s.get("ns", "k").await.unwrap().unwrap().value, b"5");
    assert_eq!(
        values(s, "k").await,
        history(&[
            (v(0, 0), Some("1")),
            (v(1, 0), Some("2")),
            (v(2, 1), None),
            (v(4, 0), Some("3")),
            (v(5, 0), Some("4")),
            (v(5, 2), Some("5"))
        ])
    );
}

/// Key `key`'s history in namespace `ns`, as versions and values.
async fn values(s: &impl WorldState, key: &str) -> Vec<(Version, Option<String>)> {
    s.history("ns", key)
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.version, e.value.map(|b| String::from_utf8(b).unwrap())))
        .collect()
}

/// A history as `values` gives it.
fn history(entries: &[(Version, Option<&str>)]) -> Vec<(Version, Option<String>)> {
    entries
        .iter()
        .map(|(version, value)| (*version, value.map(str::to_string)))
        .collect()
}

async fn ranges_are_ordered_bounded_and_namespaced(s: &impl WorldState) {
    let writes = vec![
        put("ns", "b", "2", v(0, 0)),
        put("ns", "a", "1", v(0, 1)),
        put("ns", "c", "3", v(0, 2)),
        put("ns", "ca", "4", v(0, 3)),
        put("zz", "b", "x", v(0, 4)),
    ];
    s.commit(&BlockUpdate {
        block_num: 0,
        writes,
        claims: Vec::new(),
        claim_runs: Vec::new(),
    })
    .await
    .unwrap();
    let keys = |r: Vec<(String, ledger::state::VersionedValue)>| {
        r.into_iter().map(|(k, _)| k).collect::<Vec<_>>()
    };
    assert_eq!(
        keys(s.range("ns", "", "").await.unwrap()),
        ["a", "b", "c", "ca"]
    );
    assert_eq!(keys(s.range("ns", "b", "c").await.unwrap()), ["b"]);
    assert_eq!(
        keys(s.range("ns", "b", "").await.unwrap()),
        ["b", "c", "ca"]
    );
    assert_eq!(keys(s.range("ns", "c", "d").await.unwrap()), ["c", "ca"]);
    // Pages of a range with an end and of one without, and the versions of each.
    assert_eq!(
        keys(s.range_page("ns", "b", "", 2).await.unwrap()),
        ["b", "c"]
    );
    assert_eq!(
        keys(s.range_page("ns", "a", "c", 5).await.unwrap()),
        ["a", "b"]
    );
    assert_eq!(
        keys(s.range_page("ns", "c", "", 5).await.unwrap()),
        ["c", "ca"]
    );
    let versions = |r: Vec<(String, Version)>| r.into_iter().map(|(k, _)| k).collect::<Vec<_>>();
    assert_eq!(
        versions(s.range_versions("ns", "b", "").await.unwrap()),
        ["b", "c", "ca"]
    );
    assert_eq!(
        versions(s.range_versions("ns", "a", "c").await.unwrap()),
        ["a", "b"]
    );
    let r = s.range("zz", "", "").await.unwrap();
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].1.version, v(0, 4));
}

async fn ranges_read_in_pages_and_as_versions_are_the_same_range(s: &impl WorldState) {
    let prefix = ledger::contract::composite_key("records", &["alpha"]);
    let mut writes: Vec<StateWrite> = (0..7u64)
        .map(|i| {
            let k = ledger::contract::composite_key("records", &["alpha", &format!("b{i}")]);
            put("ns", &k, &format!("v{i}"), v(1, i))
        })
        .collect();
    // A key that extends another by a NUL and more: the page after `k` must still hold it.
    let base = ledger::contract::composite_key("records", &["alpha", "b3"]);
    writes.push(put("ns", &format!("{base}\u{0}x"), "nul", v(1, 7)));
    writes.push(put("ns", "zz", "out", v(1, 8)));
    s.commit(&BlockUpdate {
        block_num: 0,
        writes,
        claims: Vec::new(),
        claim_runs: Vec::new(),
    })
    .await
    .unwrap();
    let end = format!("{prefix}\u{10FFFF}");
    let whole = s.range("ns", &prefix, &end).await.unwrap();
    assert_eq!(whole.len(), 8);
    // Page by page, each starting just after the last key read, gives the whole range.
    for page in [1u32, 3, 8, 100] {
        let (mut got, mut from) = (Vec::new(), prefix.clone());
        loop {
            let p = s.range_page("ns", &from, &end, page).await.unwrap();
            assert!(p.len() <= page as usize);
            let full = p.len() == page as usize;
            if let Some((k, _)) = p.last() {
                from = format!("{k}\u{0}");
            }
            got.extend(p);
            if !full {
                break;
            }
        }
        assert_eq!(got, whole, "pages of {page}");
    }
    // Keys and versions alone, the same as the range's.
    let versions = s.range_versions("ns", &prefix, &end).await.unwrap();
    assert_eq!(
        versions,
        whole
            .iter()
            .map(|(k, v)| (k.clone(), v.version))
            .collect::<Vec<_>>()
    );
    assert!(s.range_versions("nope", "", "").await.unwrap().is_empty());
}

async fn keys_are_bytes_including_nul(s: &impl WorldState) {
    let ck = ledger::contract::composite_key("acct", &["alpha", "x"]);
    let ck2 = ledger::contract::composite_key("acct", &["beta", "y"]);
    let utf = "clé-日本";
    s.commit(&BlockUpdate {
        block_num: 0,
        writes: vec![
            put("ns", &ck, "1", v(0, 0)),
            put("ns", &ck2, "2", v(0, 1)),
            put("ns", utf, "3", v(0, 2)),
        ],
        claims: Vec::new(),
        claim_runs: Vec::new(),
    })
    .await
    .unwrap();
    assert_eq!(s.get("ns", &ck).await.unwrap().unwrap().value, b"1");
    let prefix = ledger::contract::composite_key("acct", &["alpha"]);
    let r = s
        .range("ns", &prefix, &format!("{prefix}\u{10FFFF}"))
        .await
        .unwrap();
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].0, ck);
    assert_eq!(s.get("ns", utf).await.unwrap().unwrap().value, b"3");
    // Many keys at once reach the store as exactly their bytes too.
    let prefix_only = ledger::contract::composite_key("acct", &[]);
    let got = s
        .versions(
            "ns",
            &[ck.clone(), utf.to_string(), prefix_only, "clé".into()],
        )
        .await
        .unwrap();
    assert_eq!(got.len(), 2);
    assert_eq!((got[&ck], got[utf]), (v(0, 0), v(0, 2)));
}

async fn a_large_block_over_namespaces_and_transactions(s: &impl WorldState) {
    // Groups of more rows than one statement takes, in two namespaces and three
    // transactions, the later ones rewriting and deleting some of the earlier keys.
    let key = |i: u64| format!("k{i:05}");
    let mut writes: Vec<StateWrite> = Vec::new();
    writes.extend((0..1500).map(|i| put("a", &key(i), &format!("a0-{i}"), v(4, 0))));
    writes.extend((0..300).map(|i| put("b", &key(i), &format!("b0-{i}"), v(4, 0))));
    writes.extend((1000..2200).map(|i| put("a", &key(i), &format!("a1-{i}"), v(4, 1))));
    writes.extend((0..100).map(|i| del("a", &key(i), v(4, 2))));
    writes.extend((0..100).map(|i| put("b", &key(i), &format!("b2-{i}"), v(4, 2))));
    for b in 0..4 {
        s.commit(&BlockUpdate {
            block_num: b,
            writes: vec![],
            claims: Vec::new(),
            claim_runs: Vec::new(),
        })
        .await
        .unwrap();
    }
    s.commit(&BlockUpdate {
        block_num: 4,
        writes,
        claims: Vec::new(),
        claim_runs: Vec::new(),
    })
    .await
    .unwrap();
    let entries = s.entries().await.unwrap();
    assert_eq!(entries.len(), 2100 + 300);
    for e in &entries {
        let i: u64 = e.key[1..].parse().unwrap();
        let (value, version) = match (e.namespace.as_str(), i) {
            ("a", 1000..) => (format!("a1-{i}"), v(4, 1)),
            ("a", _) => (format!("a0-{i}"), v(4, 0)),
            ("b", 0..100) => (format!("b2-{i}"), v(4, 2)),
            _ => (format!("b0-{i}"), v(4, 0)),
        };
        assert_eq!(
            (e.value.value.clone(), e.value.version),
            (value.into_bytes(), version)
        );
    }
    let all: Vec<String> = (0..2300).map(key).collect();
    let got = s.versions("a", &all).await.unwrap();
    assert_eq!(got.len(), 2100);
    assert_eq!((got[&key(100)], got[&key(1000)]), (v(4, 0), v(4, 1)));
    assert!(!got.contains_key(&key(99)) && !got.contains_key(&key(2200)));
    let h = s.history("a", &key(50)).await.unwrap();
    assert_eq!(h.len(), 2);
    assert_eq!(
        (h[0].version, h[0].value.as_deref()),
        (v(4, 0), Some(&b"a0-50"[..]))
    );
    assert_eq!((h[1].version, h[1].value.as_deref()), (v(4, 2), None));
    let h = s.history("a", &key(1200)).await.unwrap();
    assert_eq!(
        h.iter().map(|e| e.version).collect::<Vec<_>>(),
        vec![v(4, 0), v(4, 1)]
    );
    assert_eq!(s.history("b", &key(299)).await.unwrap().len(), 1);
}

async fn a_failed_commit_changes_nothing(s: &impl WorldState) {
    s.commit(&BlockUpdate {
        block_num: 0,
        writes: vec![put("ns", "a", "1", v(0, 0))],
        claims: Vec::new(),
        claim_runs: Vec::new(),
    })
    .await
    .unwrap();
    // Two writes of the same key and version violate the history key: the whole block fails.
    let bad = BlockUpdate {
        block_num: 1,
        writes: vec![put("ns", "b", "1", v(1, 0)), put("ns", "b", "2", v(1, 0))],
        claims: Vec::new(),
        claim_runs: Vec::new(),
    };
    assert!(s.commit(&bad).await.is_err());
    assert_eq!(s.get("ns", "b").await.unwrap(), None);
    assert_eq!(s.savepoint().await.unwrap(), Some(0));
    s.commit(&BlockUpdate {
        block_num: 1,
        writes: vec![put("ns", "b", "1", v(1, 0))],
        claims: Vec::new(),
        claim_runs: Vec::new(),
    })
    .await
    .unwrap();
}

async fn entries_and_clear(s: &impl WorldState) {
    let writes = vec![
        put("b", "k", "1", v(0, 0)),
        put("a", "z", "2", v(0, 1)),
        put("a", "y", "3", v(0, 2)),
    ];
    s.commit(&BlockUpdate {
        block_num: 0,
        writes,
        claims: Vec::new(),
        claim_runs: Vec::new(),
    })
    .await
    .unwrap();
    let e: Vec<(String, String)> = s
        .entries()
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.namespace, e.key))
        .collect();
    assert_eq!(
        e,
        [
            ("a".into(), "y".into()),
            ("a".into(), "z".into()),
            ("b".into(), "k".into())
        ]
    );
    s.clear().await.unwrap();
    assert!(s.entries().await.unwrap().is_empty());
    assert_eq!(s.savepoint().await.unwrap(), None);
    assert!(s.history("a", "y").await.unwrap().is_empty());
    s.commit(&BlockUpdate {
        block_num: 0,
        writes: vec![],
        claims: Vec::new(),
        claim_runs: Vec::new(),
    })
    .await
    .unwrap();
}

async fn versions_of_many_keys_at_once(s: &impl WorldState) {
    // More keys than one statement takes, so the chunking is exercised too.
    let writes: Vec<StateWrite> = (0..2500)
        .map(|i| put("ns", &format!("k{i:05}"), "x", v(0, i)))
        .collect();
    s.commit(&BlockUpdate {
        block_num: 0,
        writes,
        claims: Vec::new(),
        claim_runs: Vec::new(),
    })
    .await
    .unwrap();
    let mut keys: Vec<String> = (0..2600).step_by(2).map(|i| format!("k{i:05}")).collect();
    keys.push("absent".into());
    let got = s.versions("ns", &keys).await.unwrap();
    assert_eq!(got.len(), 1250);
    assert_eq!(got["k00042"], v(0, 42));
    assert_eq!(got["k02498"], v(0, 2498));
    assert!(!got.contains_key("k02500") && !got.contains_key("absent"));
    assert!(s.versions("other", &keys).await.unwrap().is_empty());
    assert!(s.versions("ns", &[]).await.unwrap().is_empty());
}

async fn a_block_writing_a_key_twice_keeps_the_last(s: &impl WorldState) {
    let writes = vec![
        put("ns", "k", "first", v(0, 0)),
        put("ns", "gone", "x", v(0, 0)),
        put("ns", "k", "second", v(0, 1)),
        del("ns", "gone", v(0, 2)),
    ];
    s.commit(&BlockUpdate {
        block_num: 0,
        writes,
        claims: Vec::new(),
        claim_runs: Vec::new(),
    })
    .await
    .unwrap();
    let got = s.get("ns", "k").await.unwrap().unwrap();
    assert_eq!(
        (got.value.as_slice(), got.version),
        (b"second".as_slice(), v(0, 1))
    );
    assert_eq!(s.get("ns", "gone").await.unwrap(), None);
    assert_eq!(
        values(s, "k").await,
        history(&[(v(0, 0), Some("first")), (v(0, 1), Some("second"))])
    );
    assert_eq!(
        values(s, "gone").await,
        history(&[(v(0, 0), Some("x")), (v(0, 2), None)])
    );
}

fn claim(ns: &str, key: &str, version: Version) -> StateClaim {
    StateClaim {
        namespace: ns.into(),
        key: key.into(),
        version,
    }
}

async fn claims_are_kept_apart_found_and_cleared(s: &impl WorldState) {
    let ck = ledger::contract::composite_key("seen", &["alpha", "r1"]);
    // More claims than one statement takes, in two transactions and two namespaces.
    let mut claims: Vec<StateClaim> = (0..1500)
        .map(|i| claim("a", &format!("c{i:05}"), v(0, 0)))
        .collect();
    claims.push(claim("a", &ck, v(0, 1)));
    claims.push(claim("b", "c00001", v(0, 1)));
    s.commit(&BlockUpdate {
        block_num: 0,
        writes: vec![put("a", "c00002", "a value", v(0, 1))],
        claims,
        claim_runs: Vec::new(),
    })
    .await
    .unwrap();
    let asked: Vec<String> = ["c00000", "c01499", "c01500", "absent", &ck]
        .iter()
        .map(|k| k.to_string())
        .collect();
    let found = s.claimed("a", &asked).await.unwrap();
    let mut found: Vec<&str> = found.iter().map(String::as_str).collect();
    found.sort();
    assert_eq!(found, vec![ck.as_str(), "c00000", "c01499"]);
    assert!(s.claimed("a", &[]).await.unwrap().is_empty());
    assert_eq!(s.claimed("b", &asked).await.unwrap().len(), 0);
    // Claims are not entries, and entries are not claims.
    assert_eq!(s.entries().await.unwrap().len(), 1);
    assert!(s.get("a", "c00000").await.unwrap().is_none());
    let all = s.claims().await.unwrap();
    assert_eq!(all.len(), 1502);
    assert_eq!(all[0], claim("a", &ck, v(0, 1)));
    assert_eq!(all[1], claim("a", "c00000", v(0, 0)));
    assert_eq!(all[1501], claim("b", "c00001", v(0, 1)));
    // A claim is made once: the same key again fails the whole block.
    let again = s
        .commit(&BlockUpdate {
            block_num: 1,
            writes: vec![put("a", "later", "x", v(1, 0))],
            claims: vec![claim("a", "c00007", v(1, 0))],
            claim_runs: Vec::new(),
        })
        .await;
    assert!(again.is_err(), "a key was claimed twice");
    assert_eq!(s.savepoint().await.unwrap(), Some(0));
    assert!(s.get("a", "later").await.unwrap().is_none());
    s.clear().await.unwrap();
    assert!(s.claims().await.unwrap().is_empty());
    assert!(s.claimed("a", &asked).await.unwrap().is_empty());
}

/// The key a contract claims for record `id` of `reporter` (`contracts::keys::seen`).
fn seen(reporter: &str, id: &str) -> String {
    ledger::contract::composite_key("seen", &[reporter, id])
}

/// Claims of consecutively numbered ids, as a switch's call references count up (the
/// SQLite state keeps them as runs), with holes, in two transactions and beside ids that
/// are not one number, are found, listed in key order with their versions, and made once:
/// a key inside an earlier transaction's numbers, or numbers that overlap them, fail the
/// block.
async fn numbered_claims_are_found_listed_and_made_once(s: &impl WorldState) {
    let ids = |r: std::ops::Range<u32>| r.filter(|i| i % 7 != 3).map(|i| format!("A{i}"));
    let mut claims: Vec<StateClaim> = ids(0..1200)
        .map(|id| claim("a", &seen("alpha", &id), v(0, 0)))
        .collect();
    claims.extend(ids(1200..2000).map(|id| claim("a", &seen("alpha", &id), v(0, 1))));
    for odd in ["A0045", "R9", "Q", "A12345678901234567890"] {
        claims.push(claim("a", &seen("alpha", odd), v(0, 1)));
    }
    claims.push(claim("b", &seen("alpha", "A3"), v(0, 1)));
    s.commit(&BlockUpdate {
        block_num: 0,
        writes: Vec::new(),
        claims: claims.clone(),
        claim_runs: Vec::new(),
    })
    .await
    .unwrap();
    let asked: Vec<String> = [
        "A0", "A2", "A3", "A1199", "A1200", "A1201", "A1999", "A2000", "A0045",
    ]
    .iter()
    .chain(&["A45", "Q", "A12345678901234567890", "A1234567890123456789"])
    .map(|id| seen("alpha", id))
    .collect();
    let found = s.claimed("a", &asked).await.unwrap();
    let expected: std::collections::HashSet<String> = [
        "A0",
        "A2",
        "A1199",
        "A1201",
        "A1999",
        "A0045",
        "Q",
        "A12345678901234567890",
    ]
    .iter()
    .map(|id| seen("alpha", id))
    .collect();
    assert_eq!(found, expected);
    // `b` claimed A3, a hole of `a`'s numbers.
    assert_eq!(
        s.claimed("b", &asked).await.unwrap(),
        std::collections::HashSet::from([seen("alpha", "A3")])
    );
    let mut sorted = claims;
    sorted.sort();
    assert_eq!(s.claims().await.unwrap(), sorted);
    for (block, again) in [
        (1, vec!["A700"]),
        (1, vec!["A1999", "A2000", "A2001", "A2002"]),
        (1, vec!["A3", "A11"]),
    ] {
        let refused = s
            .commit(&BlockUpdate {
                block_num: block,
                writes: Vec::new(),
                claims: again
                    .iter()
                    .map(|id| claim("a", &seen("alpha", id), v(block, 0)))
                    .collect(),
                claim_runs: Vec::new(),
            })
            .await;
        assert!(
            matches!(&refused, Err(StateError::ClaimedTwice { namespace, .. }) if namespace == "a"),
            "{again:?} claimed twice: {refused:?}"
        );
        assert_eq!(s.savepoint().await.unwrap(), Some(0));
    }
    // The holes and the numbers after the last are still free.
    let next: Vec<StateClaim> = ["A3", "A10", "A2000", "A2001"]
        .iter()
        .map(|id| claim("a", &seen("alpha", id), v(1, 0)))
        .collect();
    s.commit(&BlockUpdate {
        block_num: 1,
        writes: Vec::new(),
        claims: next,
        claim_runs: Vec::new(),
    })
    .await
    .unwrap();
    let found = s.claimed("a", &asked).await.unwrap();
    assert!(found.contains(&seen("alpha", "A3")) && found.contains(&seen("alpha", "A2000")));
    assert_eq!(s.claims().await.unwrap().len(), sorted.len() + 4);
}

/// Keys sought across many runs, with more runs between their numbers than there are keys
/// (a state may then seek them one at a time) and with fewer, in holes, inside runs and at
/// their ends, beside runs of another prefix, suffix and namespace, are found exactly; and
/// a block claiming such keys again is refused whichever way it is sought.
async fn keys_across_many_runs_are_sought_exactly(s: &impl WorldState) {
    // Runs of two: A0 A1, A3 A4, A6 A7, … (each pair its own transaction), and A1000 to
    // A1099 in one.
    let mut claims: Vec<StateClaim> = (0..300u64)
        .flat_map(|i| {
            [3 * i, 3 * i + 1].map(|n| claim("a", &seen("alpha", &format!("A{n}")), v(0, i)))
        })
        .collect();
    claims.extend((1000..1100).map(|n| claim("a", &seen("alpha", &format!("A{n}")), v(0, 300))));
    claims.extend((0..50).map(|n| claim("a", &seen("alpha", &format!("B{n}")), v(0, 301))));
    claims.extend((0..50).map(|n| claim("b", &seen("alpha", &format!("A{n}")), v(0, 302))));
    claims.extend((2..9).map(|n| claim("a", &format!("x{n}y"), v(0, 303))));
    s.commit(&BlockUpdate {
        block_num: 0,
        writes: Vec::new(),
        claims,
        claim_runs: Vec::new(),
    })
    .await
    .unwrap();
    let is_claimed = |id: &str| {
        id.strip_prefix('A')
            .and_then(|n| n.parse::<u64>().ok())
            .is_some_and(|n| (n < 900 && n % 3 != 2) || (1000..1100).contains(&n))
    };
    // Few keys over the whole span: more runs than keys between them.
    let few = [
        "A0", "A2", "A449", "A451", "A898", "A899", "A950", "A1099", "A1100",
    ];
    // Many keys over a short span: fewer runs than keys.
    let many: Vec<String> = (990..1110).map(|n| format!("A{n}")).collect();
    // Every number up to past the end, in another order.
    let all: Vec<String> = (0..1200).rev().map(|n| format!("A{n}")).collect();
    for ids in [
        few.iter().map(|id| id.to_string()).collect::<Vec<_>>(),
        many,
        all,
    ] {
        let asked: Vec<String> = ids.iter().map(|id| seen("alpha", id)).collect();
        let expected: std::collections::HashSet<String> = ids
            .iter()
            .filter(|id| is_claimed(id))
            .map(|id| seen("alpha", id))
            .collect();
        assert_eq!(s.claimed("a", &asked).await.unwrap(), expected, "{ids:?}");
    }
    let other: Vec<String> = ["x1y", "x2y", "x8y", "x9y", "x5z", "y5y"]
        .iter()
        .map(|k| k.to_string())
        .collect();
    assert_eq!(
        s.claimed("a", &other).await.unwrap(),
        ["x2y", "x8y"].iter().map(|k| k.to_string()).collect()
    );
    assert_eq!(
        s.claimed("b", &[seen("alpha", "A49"), seen("alpha", "A50")])
            .await
            .unwrap(),
        std::collections::HashSet::from([seen("alpha", "A49")])
    );
    // Claimed again: two keys over 300 runs, and a run of new numbers ending in an old one.
    let agains: [Vec<u64>; 2] = [vec![2, 898], (1100..1150).chain([1000]).collect()];
    for again in agains {
        let refused = s
            .commit(&BlockUpdate {
                block_num: 1,
                writes: Vec::new(),
                claims: again
                    .iter()
                    .map(|n| claim("a", &seen("alpha", &format!("A{n}")), v(1, 0)))
                    .collect(),
                claim_runs: Vec::new(),
            })
            .await;
        assert!(
            matches!(&refused, Err(StateError::ClaimedTwice { namespace, .. }) if namespace == "a"),
            "{again:?} claimed twice: {refused:?}"
        );
    }
}

/// Claims committed before a state is opened again are found after it, in their
/// namespace only, and cannot be made twice: the database holds them, and whatever the
/// state keeps of them in memory is filled from it when it opens. `open` opens the same
/// store each time.
pub async fn claims_are_found_after_reopening<S, F>(open: impl Fn() -> F)
where
    S: WorldState,
    F: std::future::Future<Output = S>,
{
    // Ids that are not one number, and ids that count up (a SQLite state keeps the
    // second as runs).
    let keys: Vec<String> = (0..3000)
        .map(|i| format!("id{i:05}"))
        .chain((0..3000).map(|i| format!("n{i}")))
        .collect();
    let s = open().await;
    s.commit(&BlockUpdate {
        block_num: 0,
        writes: Vec::new(),
        claims: keys.iter().map(|k| claim("a", k, v(0, 0))).collect(),
        claim_runs: Vec::new(),
    })
    .await
    .unwrap();
    drop(s);
    let s = open().await;
    let mut asked = keys.clone();
    asked.extend((0..3000).map(|i| format!("new{i:05}")));
    asked.extend((3000..4000).map(|i| format!("n{i}")));
    let found = s.claimed("a", &asked).await.unwrap();
    assert_eq!(found.len(), keys.len());
    assert!(keys.iter().all(|k| found.contains(k)));
    assert!(s.claimed("b", &keys).await.unwrap().is_empty());
    let again = s
        .commit(&BlockUpdate {
            block_num: 1,
            writes: Vec::new(),
            claims: vec![claim("a", "id00042", v(1, 0))],
            claim_runs: Vec::new(),
        })
        .await;
    assert!(again.is_err(), "a key was claimed twice across a reopening");
    let again = s
        .commit(&BlockUpdate {
            block_num: 1,
            writes: Vec::new(),
            claims: vec![claim("a", "n2999", v(1, 0)), claim("a", "n3000", v(1, 0))],
            claim_runs: Vec::new(),
        })
        .await;
    assert!(
        again.is_err(),
        "a numbered key was claimed twice across a reopening"
    );
    // Cleared, then opened again: nothing is claimed any more.
    s.clear().await.unwrap();
    drop(s);
    let s = open().await;
    assert!(s.claimed("a", &keys).await.unwrap().is_empty());
}

/// Keys written before a state is opened again are read after it, by `get` and by
/// `versions`, in their namespace only; a key deleted before stays absent, and a cleared
/// state holds none after it is opened again. (What a state keeps in memory of its keys is
/// filled from the database when it opens.) `open` opens the same store each time.
pub async fn keys_are_found_after_reopening<S, F>(open: impl Fn() -> F)
where
    S: WorldState,
    F: std::future::Future<Output = S>,
{
    let keys: Vec<String> = (0..3000).map(|i| format!("k{i:05}")).collect();
    let s = open().await;
    let mut writes: Vec<StateWrite> = keys.iter().map(|k| put("a", k, k, v(0, 0))).collect();
    writes.push(del("a", "k00007", v(0, 1)));
    s.commit(&BlockUpdate {
        block_num: 0,
        writes,
        claims: Vec::new(),
        claim_runs: Vec::new(),
    })
    .await
    .unwrap();
    drop(s);
    let s = open().await;
    for k in keys.iter().filter(|k| *k != "k00007") {
        let got = s.get("a", k).await.unwrap().expect("a key written before");
        assert_eq!(got.value, k.as_bytes());
        assert_eq!(got.version, v(0, 0));
    }
    assert!(s.get("a", "k00007").await.unwrap().is_none());
    assert!(s.get("b", "k00001").await.unwrap().is_none());
    assert!(s.get("a", "never").await.unwrap().is_none());
    let mut asked = keys.clone();
    asked.extend((0..3000).map(|i| format!("new{i:05}")));
    asked.extend((3000..4000).map(|i| format!("n{i}")));
    let found = s.versions("a", &asked).await.unwrap();
    assert_eq!(found.len(), keys.len() - 1);
    assert!(
        keys.iter()
            .all(|k| found.contains_key(k) == (k != "k00007"))
    );
    assert!(s.versions("b", &keys).await.unwrap().is_empty());
    // Cleared, then opened again: nothing is held any more.
    s.clear().await.unwrap();
    drop(s);
    let s = open().await;
    assert!(s.get("a", "k00001").await.unwrap().is_none());
    assert!(s.versions("a", &keys).await.unwrap().is_empty());
}

fn key_run(prefix: &str, first: u64, last: u64, suffix: &str) -> ledger::proto::KeyRun {
    ledger::proto::KeyRun {
        prefix: prefix.into(),
        suffix: suffix.into(),
        first,
        last,
    }
}

fn carried(ns: &str, run: ledger::proto::KeyRun, version: Version) -> StateClaimRun {
    StateClaimRun {
        namespace: ns.into(),
        run,
        version,
    }
}

/// Claims a transaction carried as runs (`NsRwSet::claim_runs`) are kept as a claim a key:
/// found a key at a time and a run at a time, listed with their versions, and made once,
/// whether claimed again as a run or as a key, by a later block or within one block.
async fn claims_carried_as_runs_are_kept_found_and_made_once(s: &impl WorldState) {
    let k = |n: u64| format!("r/A{n}/x");
    s.commit(&BlockUpdate {
        block_num: 0,
        writes: Vec::new(),
        claims: vec![claim("a", &k(2000), v(0, 1)), claim("a", "plain", v(0, 1))],
        claim_runs: vec![
            carried("a", key_run("r/A", 1000, 1999, "/x"), v(0, 0)),
            carried("a", key_run("r/A", 5, 9, "/x"), v(0, 2)),
            carried("b", key_run("r/A", 1000, 1001, "/x"), v(0, 0)),
        ],
    })
    .await
    .unwrap();
    let asked: Vec<String> = [4, 5, 9, 10, 999, 1000, 1500, 1999, 2000, 2001]
        .map(k)
        .to_vec();
    let expected: std::collections::HashSet<String> =
        [5, 9, 1000, 1500, 1999, 2000].map(k).into_iter().collect();
    assert_eq!(s.claimed("a", &asked).await.unwrap(), expected);
    // The same keys asked as runs, one of them made of a single key.
    let runs = [
        key_run("r/A", 4, 5, "/x"),
        key_run("r/A", 9, 10, "/x"),
        key_run("r/A", 999, 1000, "/x"),
        key_run("r/A", 1500, 1500, "/x"),
        key_run("r/A", 1999, 2001, "/x"),
    ];
    assert_eq!(s.claimed_of_runs("a", &runs).await.unwrap(), expected);
    assert!(s.claimed_of_runs("c", &runs).await.unwrap().is_empty());
    for (ns, run, claimed) in [
        ("a", key_run("r/A", 990, 999, "/x"), false),
        ("a", key_run("r/A", 1999, 2005, "/x"), true),
        ("a", key_run("r/A", 2000, 2001, "/x"), true),
        ("a", key_run("r/A", 2001, 2100, "/x"), false),
        ("a", key_run("r/A", 1000, 1001, "/y"), false),
        ("a", key_run("r/B", 1000, 1001, "/x"), false),
        ("b", key_run("r/A", 1001, 1002, "/x"), true),
        ("c", key_run("r/A", 1000, 1001, "/x"), false),
    ] {
        assert_eq!(
            s.claimed_in_runs(ns, std::slice::from_ref(&run))
                .await
                .unwrap(),
            claimed,
            "{ns} {run:?}"
        );
    }
    let all = s.claims().await.unwrap();
    assert_eq!(all.len(), 1000 + 2 + 5 + 2);
    assert!(all.contains(&claim("a", &k(1500), v(0, 0))));
    assert!(all.contains(&claim("a", &k(7), v(0, 2))));
    assert!(all.contains(&claim("b", &k(1001), v(0, 0))));
    assert!(all.contains(&claim("a", "plain", v(0, 1))));
    // Claimed again: by a later block's run over an old run's end, or over an old key;
    // by a later block's key inside an old run; within one block, by two runs that
    // overlap, or by a run and a key inside it.
    let again = [
        (
            vec![],
            vec![carried("a", key_run("r/A", 1990, 2010, "/x"), v(1, 0))],
        ),
        (
            vec![],
            vec![carried("a", key_run("r/A", 2000, 2001, "/x"), v(1, 0))],
        ),
        (vec![claim("a", &k(6), v(1, 0))], vec![]),
        (
            vec![],
            vec![
                carried("a", key_run("r/A", 3000, 3010, "/x"), v(1, 0)),
                carried("a", key_run("r/A", 3010, 3020, "/x"), v(1, 1)),
            ],
        ),
        (
            vec![claim("a", &k(3005), v(1, 1))],
            vec![carried("a", key_run("r/A", 3000, 3010, "/x"), v(1, 0))],
        ),
    ];
    for (claims, claim_runs) in again {
        let refused = s
            .commit(&BlockUpdate {
                block_num: 1,
                writes: Vec::new(),
                claims: claims.clone(),
                claim_runs: claim_runs.clone(),
            })
            .await;
        assert!(
            matches!(&refused, Err(StateError::ClaimedTwice { namespace, .. }) if namespace == "a"),
            "{claims:?} {claim_runs:?}: {refused:?}"
        );
    }
    assert_eq!(s.savepoint().await.unwrap(), Some(0));
    assert!(
        !s.claimed_in_runs("a", &[key_run("r/A", 3000, 3020, "/x")])
            .await
            .unwrap()
    );
    s.commit(&BlockUpdate {
        block_num: 1,
        writes: Vec::new(),
        claims: vec![claim("a", &k(3011), v(1, 1))],
        claim_runs: vec![carried("a", key_run("r/A", 3000, 3010, "/x"), v(1, 0))],
    })
    .await
    .unwrap();
    assert_eq!(
        s.claimed("a", &[k(2999), k(3000), k(3010), k(3011), k(3012)])
            .await
            .unwrap(),
        [3000, 3010, 3011].map(k).into_iter().collect()
    );
}
