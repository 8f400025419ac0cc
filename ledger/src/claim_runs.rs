//! A transaction's claims of consecutively numbered keys, carried as runs ([`KeyRun`])
//! from the simulation that makes them, through endorsement, ordering and validation, to
//! the world state that stores them as runs (module `state::runs`).
//!
//! A CDR batch claims one key per accepted record id, and a switch's ids mostly count up:
//! as a key each, those claims were built, sorted, encoded, signed over, decoded and
//! hashed as strings by every party, about a fifth of the CPU of clearing a million
//! records (BENCHMARKS.md, session fifty-three). As runs they are a few dozen small
//! messages a batch; a key is made from its run only where one must be looked at (a
//! filter's hash), in one reused buffer.
//!
//! *The form validation holds every namespace's claims to* ([`well_formed`]): each run's
//! keys are numbered keys ([`Numbered`]) split into that very prefix, number and suffix;
//! runs are in (prefix, suffix, first) order, and two runs of one prefix and suffix are
//! apart by at least one number; `claims` (the keys in no run) are strictly ascending and
//! none is a key of a run; and the keys claimed number at most [`MAX_TX_CLAIMS`]. So no
//! key is claimed twice by one transaction, and a hostile run cannot make a peer visit
//! more keys than a transaction could carry as strings. A transaction made before runs
//! (every claim a key of `claims`) has that form too.

use crate::proto::{KeyRun, NsRwSet};
use crate::state::grouped;
use crate::state::runs::{MAX_DIGITS, MIN_RUN, Numbered, key, last_not_after};

/// The least number with more than `MAX_DIGITS` digits.
const MOST_DIGITS_BOUND: u64 = 10u64.pow(MAX_DIGITS as u32);

/// The most keys one transaction may claim: more than a transaction of the default
/// largest size (10 MiB) could carry as keys of `claims`, each at least three bytes.
pub const MAX_TX_CLAIMS: u64 = 1 << 22;

impl KeyRun {
    /// How many keys it claims (none if `last` is below `first`).
    pub fn len(&self) -> u64 {
        (self.last.saturating_sub(self.first)).saturating_add(u64::from(self.first <= self.last))
    }

    /// Whether it claims no key.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether it holds the numbered key `k`.
    pub(crate) fn holds(&self, k: &Numbered<'_>) -> bool {
        self.prefix == k.prefix
            && self.suffix == k.suffix
            && (self.first..=self.last).contains(&k.n)
    }

    /// Whether each of its keys splits back into its prefix, number and suffix (module
    /// `state::runs`): true of every run [`well_formed`] accepts. Its first key's split
    /// decides it, and its last's number: the number's digits vary, not where it lies.
    ///
    /// Without making a key: a key splits at its last run of ASCII digits, which is its
    /// number's own digits exactly when the suffix holds no ASCII digit and the prefix does
    /// not end with one (no byte of a longer UTF-8 character is ASCII); and the number
    /// splits back when it has at most `MAX_DIGITS` digits (it is written without a leading
    /// zero). The test `splitting_back_is_what_splitting_the_keys_gives` holds this to
    /// splitting the two keys.
    pub(crate) fn splits_back(&self) -> bool {
        self.first <= self.last
            && self.last < MOST_DIGITS_BOUND
            && !self
                .prefix
                .as_bytes()
                .last()
                .is_some_and(u8::is_ascii_digit)
            && !self.suffix.bytes().any(|b| b.is_ascii_digit())
    }

    /// Calls `f` with each of its keys, in the order of their numbers, each made in one
    /// reused buffer that keeps the prefix.
    pub fn each_key(&self, mut f: impl FnMut(&str)) {
        let mut key = String::with_capacity(self.prefix.len() + 20 + self.suffix.len());
        key.push_str(&self.prefix);
        let mut digits = itoa::Buffer::new();
        for n in self.first..=self.last {
            key.truncate(self.prefix.len());
            key.push_str(digits.format(n));
            key.push_str(&self.suffix);
            f(&key);
        }
    }

    /// Its keys, in the order of their numbers: where each must be kept as a string.
    pub fn keys(&self) -> Vec<String> {
        let mut keys = Vec::with_capacity(usize::try_from(self.len()).unwrap_or(0));
        self.each_key(|k| keys.push(k.to_string()));
        keys
    }
}

/// `claims` (in any order, repeats included) and the keys of `runs` (any numbered runs,
/// overlapping or not, a single number included) as runs of at least [`MIN_RUN`]
/// consecutive numbers of one prefix and suffix, in (prefix, suffix, first) order and each
/// as long as the claims allow, and the claims in no run, strictly ascending: the form
/// [`well_formed`] accepts. The same keys give the same form, however they were handed in.
pub fn into_runs(claims: Vec<String>, runs: Vec<KeyRun>) -> (Vec<KeyRun>, Vec<String>) {
    let mut in_run = vec![false; claims.len()];
    let mut out = Vec::new();
    let mut short = Vec::new();
    {
        // By prefix and suffix first (a batch's ids mostly share one, so each is compared
        // with the one before, not sorted by its text), then each group's spans of numbers,
        // sorted; a key claimed twice is next to itself, and in the run of its number.
        let carried = (runs.iter()).filter(|r| r.first <= r.last).map(|r| {
            (
                (r.prefix.as_str(), r.suffix.as_str()),
                (r.first, r.last, None),
            )
        });
        let numbered = claims.iter().enumerate().filter_map(|(i, k)| {
            Numbered::of(k).map(|k| ((k.prefix, k.suffix), (k.n, k.n, Some(i))))
        });
        let mut groups = grouped(carried.chain(numbered));
        groups.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        for ((prefix, suffix), mut spans) in groups {
            spans.sort_unstable();
            let mut next = 0;
            while next < spans.len() {
                let (start, first, mut last) = (next, spans[next].0, spans[next].1);
                next += 1;
                while next < spans.len() && spans[next].0 <= last.saturating_add(1) {
                    last = last.max(spans[next].1);
                    next += 1;
                }
                if last - first + 1 >= MIN_RUN {
                    out.push(KeyRun {
                        prefix: prefix.to_string(),
                        suffix: suffix.to_string(),
                        first,
                        last,
                    });
                    for i in spans[start..next].iter().filter_map(|s| s.2) {
                        in_run[i] = true;
                    }
                } else if spans[start..next].iter().all(|s| s.2.is_none()) {
                    // A carried run of one key, with no claim of it as a key.
                    short.push(key(prefix, first, suffix));
                }
            }
        }
    }
    let mut alone: Vec<String> = claims
        .into_iter()
        .zip(in_run)
        .filter_map(|(k, in_run)| (!in_run).then_some(k))
        .chain(short)
        .collect();
    alone.sort_unstable();
    alone.dedup();
    (out, alone)
}

/// Calls `f` with each number of `asked` that no run of `runs` holds: `runs` in the
/// [`well_formed`] order, `asked` any run of numbered keys. One search, then a walk along
/// the runs of `asked`'s prefix and suffix.
pub(crate) fn numbers_outside(asked: &KeyRun, runs: &[KeyRun], mut f: impl FnMut(u64)) {
    let parts = (asked.prefix.as_str(), asked.suffix.as_str());
    // Runs of one prefix and suffix are apart, so their last numbers ascend as their
    // first do: the first that may hold a number of `asked` is the first ending at or
    // after it.
    let mut i = runs.partition_point(|r| {
        (r.prefix.as_str(), r.suffix.as_str(), r.last) < (parts.0, parts.1, asked.first)
    });
    let mut n = asked.first;
    while n <= asked.last {
        let run = runs
            .get(i)
            .filter(|r| (r.prefix.as_str(), r.suffix.as_str()) == parts && r.first <= asked.last);
        let Some(run) = run else {
            (n..=asked.last).for_each(&mut f);
            return;
        };
        (n..run.first).for_each(&mut f);
        match run.last.checked_add(1) {
            Some(after) => n = n.max(after),
            None => return,
        }
        i += 1;
    }
}

/// Whether `key` is one of the claims `runs` and `alone` (as [`into_runs`] makes them).
pub(crate) fn holds(runs: &[KeyRun], alone: &[String], key: &str) -> bool {
    alone.binary_search_by(|k| k.as_str().cmp(key)).is_ok()
        || Numbered::of(key).is_some_and(|k| run_holding(runs, &k).is_some())
}

/// The run of `runs` (in [`well_formed`] order) that holds `k`, if any: the last of its
/// prefix and suffix whose first number is not above `k`'s.
fn run_holding<'r>(runs: &'r [KeyRun], k: &Numbered<'_>) -> Option<&'r KeyRun> {
    let at = (k.prefix, k.suffix, k.n);
    last_not_after(runs, |r| {
        (r.prefix.as_str(), r.suffix.as_str(), r.first) <= at
    })
    .filter(|r| r.holds(k))
}

/// Whether a namespace's claims have the form a peer makes (module doc): if not, the
/// transaction is refused before any of its keys is looked at.
pub fn well_formed(ns: &NsRwSet) -> bool {
    let ascending = |keys: &[String]| keys.windows(2).all(|w| w[0] < w[1]);
    if !ascending(&ns.claims) || !ascending(&ns.unclaimed) {
        return false;
    }
    let mut total = ns.claims.len() as u64;
    for (i, run) in ns.claim_runs.iter().enumerate() {
        if !run.splits_back() || run.last <= run.first {
            return false;
        }
        if let Some(prev) = i.checked_sub(1).map(|p| &ns.claim_runs[p]) {
            let apart = match (prev.prefix.as_str(), prev.suffix.as_str())
                .cmp(&(run.prefix.as_str(), run.suffix.as_str()))
            {
                std::cmp::Ordering::Less => true,
                std::cmp::Ordering::Equal => prev.last.saturating_add(1) < run.first,
                std::cmp::Ordering::Greater => false,
            };
            if !apart {
                return false;
            }
        }
        total = total.saturating_add(run.len());
    }
    total <= MAX_TX_CLAIMS
        && (ns.claim_runs.is_empty()
            || ns
                .claims
                .iter()
                .filter_map(|k| Numbered::of(k))
                .all(|k| run_holding(&ns.claim_runs, &k).is_none()))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    /// What `splits_back` answers by splitting its first and last keys.
    fn keys_split_back(run: &KeyRun) -> bool {
        let (first, last) = (
            key(&run.prefix, run.first, &run.suffix),
            key(&run.prefix, run.last, &run.suffix),
        );
        run.first <= run.last
            && Numbered::of(&first).is_some_and(|k| {
                (k.prefix, k.suffix, k.n) == (run.prefix.as_str(), run.suffix.as_str(), run.first)
            })
            && Numbered::of(&last).is_some_and(|k| k.n == run.last)
    }

    /// A number near a power of ten, or any.
    fn number() -> impl Strategy<Value = u64> {
        prop_oneof![
            (0u32..20, -3i64..3).prop_map(|(p, d)| 10u64.pow(p).saturating_add_signed(d)),
            any::<u64>(),
            0u64..1000,
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4096))]

        #[test]
        fn splitting_back_is_what_splitting_the_keys_gives(
            prefix in "[a0-9/é]{0,3}",
            suffix in "[b.é]{0,2}|[b0-9.é]{0,3}",
            first in number(),
            last in prop_oneof![number().prop_map(Some), Just(None)],
        ) {
            // The last number near the first, or any.
            let last = last.unwrap_or(first);
            let r = run(&prefix, first, last, &suffix);
            prop_assert_eq!(r.splits_back(), keys_split_back(&r), "{:?}", r);
        }
    }

    /// The run `prefix + first + suffix` … `prefix + last + suffix`.
    pub(crate) fn run(prefix: &str, first: u64, last: u64, suffix: &str) -> KeyRun {
        KeyRun {
            prefix: prefix.into(),
            suffix: suffix.into(),
            first,
            last,
        }
    }

    fn ns(runs: Vec<KeyRun>, claims: &[&str]) -> NsRwSet {
        NsRwSet {
            namespace: "usage".into(),
            claims: claims.iter().map(|k| k.to_string()).collect(),
            claim_runs: runs,
            ..NsRwSet::default()
        }
    }

    #[test]
    fn consecutive_numbers_become_runs_and_the_rest_stays_keys() {
        let claims = [
            "A9", "A10", "A11", "B1", "A13", "A10", "C", "A12", "A007", "B3", "C",
        ];
        let (runs, alone) = into_runs(claims.iter().map(|k| k.to_string()).collect(), Vec::new());
        assert_eq!(runs, vec![run("A", 9, 13, "")]);
        assert_eq!(alone, vec!["A007", "B1", "B3", "C"]);
        assert!(well_formed(&ns(runs.clone(), &["A007", "B1", "B3", "C"])));
        for k in ["A9", "A13", "A007", "C"] {
            assert!(holds(&runs, &alone, k), "{k}");
        }
        for k in ["A8", "A14", "B2", "A07", "D"] {
            assert!(!holds(&runs, &alone, k), "{k}");
        }
    }

    #[test]
    fn a_runs_keys_are_made_from_its_parts() {
        let r = run("\0seen\0alpha\0A", 98, 101, "\0");
        assert_eq!(r.len(), 4);
        assert_eq!(
            r.keys(),
            ["98", "99", "100", "101"].map(|n| format!("\0seen\0alpha\0A{n}\0"))
        );
        assert_eq!(run("A", 5, 4, "").len(), 0);
        assert_eq!(run("A", 0, u64::MAX, "").len(), u64::MAX);
    }

    /// Every form validation refuses: claims a peer never makes, and runs that would make
    /// a peer visit more keys than a transaction could carry, or claim a key twice.
    #[test]
    fn claims_not_in_a_peers_form_are_refused() {
        let most = 999_999_999_999_999_999;
        let refused = [
            ns(vec![run("A", 3, 3, "")], &[]),
            ns(vec![run("A", 4, 3, "")], &[]),
            ns(vec![run("A1", 1, 2, "")], &[]),
            ns(vec![run("A", 1, 2, "x9")], &[]),
            ns(vec![run("A", 1, most + 1, "")], &[]),
            ns(vec![run("A", most, most + 1, "")], &[]),
            ns(vec![run("A", 1, 1 << 23, "")], &[]),
            ns(vec![run("A", 1, 5, ""), run("A", 5, 9, "")], &[]),
            ns(vec![run("A", 1, 5, ""), run("A", 6, 9, "")], &[]),
            ns(vec![run("B", 1, 5, ""), run("A", 7, 9, "")], &[]),
            ns(vec![run("A", 1, 5, ""), run("A", 1, 5, "")], &[]),
            ns(vec![run("A", 1, 5, "")], &["A3"]),
            ns(vec![run("A", 1, 5, "")], &["A5"]),
            ns(vec![], &["b", "a"]),
            ns(vec![], &["a", "a"]),
        ];
        for n in &refused {
            assert!(!well_formed(n), "{:?} {:?}", n.claim_runs, n.claims);
        }
        let accepted = [
            ns(
                vec![run("A", 1, 5, ""), run("A", 7, 9, "")],
                &["A007", "A6"],
            ),
            ns(vec![run("A", 1, 5, ""), run("A", 1, 5, "x")], &["A0"]),
            ns(vec![run("", 0, 1 << 21, ""), run("A", 1, 2, "")], &[]),
            ns(vec![run("A", most - 1, most, "")], &[]),
            ns(vec![], &["a", "b"]),
        ];
        for n in &accepted {
            assert!(well_formed(n), "{:?} {:?}", n.claim_runs, n.claims);
        }
    }

    #[test]
    fn carried_runs_merge_with_claims_into_one_form() {
        let (runs, alone) = into_runs(
            ["A14", "A3", "B1"].map(String::from).to_vec(),
            vec![
                run("A", 5, 9, ""),
                run("A", 10, 13, ""),
                run("A", 7, 8, ""),
                run("B", 3, 3, ""),
                run("C", 9, 8, ""),
            ],
        );
        assert_eq!(runs, vec![run("A", 5, 14, "")]);
        assert_eq!(alone, vec!["A3", "B1", "B3"]);
    }

    #[test]
    fn numbers_outside_runs_are_the_gaps() {
        let runs = [
            run("A", 3, 4, ""),
            run("A", 7, 9, ""),
            run("A", 12, 13, ""),
            run("A", 20, 21, "x"),
            run("B", 1, 9, ""),
        ];
        let outside = |asked: KeyRun| {
            let mut out = Vec::new();
            numbers_outside(&asked, &runs, |n| out.push(n));
            out
        };
        assert_eq!(outside(run("A", 1, 14, "")), vec![1, 2, 5, 6, 10, 11, 14]);
        assert_eq!(outside(run("A", 8, 12, "")), vec![10, 11]);
        assert_eq!(outside(run("A", 20, 22, "")), vec![20, 21, 22]);
        assert_eq!(outside(run("B", 2, 5, "")), Vec::<u64>::new());
        assert_eq!(outside(run("C", 5, 5, "")), vec![5]);
        let top = [run("A", u64::MAX - 1, u64::MAX, "")];
        let mut out = Vec::new();
        numbers_outside(&run("A", u64::MAX - 3, u64::MAX, ""), &top, |n| out.push(n));
        assert_eq!(out, vec![u64::MAX - 3, u64::MAX - 2]);
    }

    proptest! {
        /// Claims handed in as runs take the form of the same claims handed in as keys.
        #[test]
        fn runs_handed_in_take_the_form_of_their_keys(
            keys in proptest::collection::vec(
                (prop_oneof![Just("A"), Just("B"), Just("x0")], 0u64..40), 0..60),
            carried in proptest::collection::vec(
                (prop_oneof![Just("A"), Just("B")], 0u64..40, 0u64..6), 0..8),
        ) {
            let claims: Vec<String> = keys.iter().map(|(p, n)| format!("{p}{n}")).collect();
            let runs: Vec<KeyRun> =
                carried.iter().map(|(p, n, len)| run(p, *n, n + len, "")).collect();
            let mut as_keys = claims.clone();
            as_keys.extend(runs.iter().flat_map(KeyRun::keys));
            prop_assert_eq!(into_runs(claims, runs), into_runs(as_keys, Vec::new()));
        }

        /// The numbers outside the runs are those no run holds.
        #[test]
        fn numbers_outside_are_those_no_run_holds(
            claims in proptest::collection::vec((prop_oneof![Just("A"), Just("B")], 0u64..50), 0..60),
            asked in (prop_oneof![Just("A"), Just("B"), Just("C")], 0u64..50, 0u64..20),
        ) {
            let (runs, _) = into_runs(
                claims.iter().map(|(p, n)| format!("{p}{n}")).collect(),
                Vec::new(),
            );
            let asked = run(asked.0, asked.1, asked.1 + asked.2, "");
            let mut out = Vec::new();
            numbers_outside(&asked, &runs, |n| out.push(n));
            let expected: Vec<u64> = (asked.first..=asked.last)
                .filter(|&n| !runs.iter().any(|r| r.holds(&Numbered { prefix: &asked.prefix, suffix: "", n })))
                .collect();
            prop_assert_eq!(out, expected);
        }

        /// Whatever the claims' order and repeats, the runs and the rest hold each claim
        /// once, have the form validation accepts, and hold nothing else.
        #[test]
        fn runs_and_the_rest_are_the_claims_in_form(
            keys in proptest::collection::vec(
                (prop_oneof![Just("A"), Just("B"), Just("x0"), Just("")], 0u64..40,
                 prop_oneof![Just(""), Just("\0"), Just("0")]),
                0..120,
            ),
        ) {
            let claims: Vec<String> =
                keys.iter().map(|(p, n, s)| format!("{p}{n}{s}")).collect();
            let (runs, alone) = into_runs(claims.clone(), Vec::new());
            let ns = NsRwSet {
                claims: alone.clone(),
                claim_runs: runs.clone(),
                ..NsRwSet::default()
            };
            prop_assert!(well_formed(&ns));
            let mut made: Vec<String> = runs.iter().flat_map(KeyRun::keys).collect();
            made.extend(alone.iter().cloned());
            let set: BTreeSet<String> = claims.iter().cloned().collect();
            prop_assert_eq!(made.len(), set.len());
            prop_assert_eq!(made.into_iter().collect::<BTreeSet<_>>(), set.clone());
            for (p, n, s) in [("A", 40u64, ""), ("B", 99, "\0"), ("C", 1, "")] {
                let other = format!("{p}{n}{s}");
                prop_assert_eq!(holds(&runs, &alone, &other), set.contains(&other));
            }
            for k in &set {
                prop_assert!(holds(&runs, &alone, k));
            }
        }
    }
}
