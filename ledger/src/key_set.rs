//! The keys `prefix + id + suffix` of many ids, gathered as they come: the ids that count up
//! one by one (`A1000`, `A1001`, …) as runs of numbered keys ([`KeyRun`], module
//! `claim_runs`), the others as keys.
//!
//! A CDR batch asks which of its record ids' keys are claimed and claims the accepted ones
//! (`Context::claimed_set`, `Context::claim_set`). Made as a string each, those keys were
//! built, hashed into sets, compared and split again into runs on every endorsing peer,
//! about a twentieth of the CPU of clearing a million records (BENCHMARKS.md, session
//! fifty-seven); gathered here, a batch's keys are a few runs, and a key is made as a string
//! only where one must be looked at (a filter's hash, a key found claimed, a reject).
//!
//! *Invariant:* every run's keys split back into that run's prefix, number and suffix
//! ([`KeyRun::splits_back`]), so a run's keys are exactly the keys its ids make: an id is
//! split at its last decimal number only if `prefix` does not end with an ASCII digit and
//! `suffix` holds none, which makes that number its key's last one too.

use crate::proto::KeyRun;
use crate::state::runs::Numbered;

/// The keys `prefix + id + suffix` of the ids pushed, in runs of consecutive numbers and
/// keys (module doc).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeySet {
    prefix: String,
    suffix: String,
    /// Whether an id's last number is its key's (module doc).
    numbered: bool,
    /// Runs of at least two keys.
    runs: Vec<KeyRun>,
    keys: Vec<String>,
    /// The last of `keys`, when it is a numbered key a following number would make a run of.
    single: Option<Single>,
}

/// A numbered key kept as a key until the next id extends it into a run: ids that do not
/// ascend (hashed or random call references) cost a key each, as they would without runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Single {
    n: u64,
    /// The lengths of the text of its id around the number.
    id_prefix: usize,
    id_suffix: usize,
}

impl KeySet {
    /// No keys yet; each id pushed stands for the key `prefix + id + suffix`.
    pub fn new(prefix: &str, suffix: &str) -> KeySet {
        KeySet {
            prefix: prefix.to_string(),
            suffix: suffix.to_string(),
            numbered: !prefix.ends_with(|c: char| c.is_ascii_digit())
                && !suffix.contains(|c: char| c.is_ascii_digit()),
            runs: Vec::new(),
            keys: Vec::new(),
            single: None,
        }
    }

    /// Adds the key of `id`: to the last run if its number follows that run's last with
    /// the same text around it, or into a run with the key pushed just before if its number
    /// follows that one's; else as a key.
    pub fn push(&mut self, id: &str) {
        let Some(k) = Numbered::of(id).filter(|_| self.numbered) else {
            self.keys.push(self.key(id));
            self.single = None;
            return;
        };
        let (prefix, suffix) = (self.prefix.len(), self.suffix.len());
        if let Some(run) = self.runs.last_mut() {
            // Every run's prefix starts with `prefix` and its suffix ends with `suffix`: what
            // lies between is its ids' text around the number.
            let before = &run.prefix[prefix..];
            let after = &run.suffix[..run.suffix.len() - suffix];
            if (before, after) == (k.prefix, k.suffix) && run.last.checked_add(1) == Some(k.n) {
                run.last = k.n;
                return;
            }
        }
        if let (Some(single), Some(last)) = (self.single, self.keys.last()) {
            // `last` is `prefix`, its id's text before and after the number, `suffix`.
            let before = &last[prefix..prefix + single.id_prefix];
            let after = &last[last.len() - suffix - single.id_suffix..last.len() - suffix];
            if (before, after) == (k.prefix, k.suffix) && single.n.checked_add(1) == Some(k.n) {
                self.keys.pop();
                self.runs.push(KeyRun {
                    prefix: [self.prefix.as_str(), k.prefix].concat(),
                    suffix: [k.suffix, self.suffix.as_str()].concat(),
                    first: single.n,
                    last: k.n,
                });
                self.single = None;
                return;
            }
        }
        self.keys.push(self.key(id));
        self.single = Some(Single {
            n: k.n,
            id_prefix: k.prefix.len(),
            id_suffix: k.suffix.len(),
        });
    }

    /// The key of `id`.
    pub fn key(&self, id: &str) -> String {
        [self.prefix.as_str(), id, self.suffix.as_str()].concat()
    }

    /// The id whose key is `key`, if `key` is one of this set's form.
    pub fn id_of<'k>(&self, key: &'k str) -> Option<&'k str> {
        key.strip_prefix(self.prefix.as_str())?
            .strip_suffix(self.suffix.as_str())
    }

    /// Its runs, in the order their first ids came.
    pub fn runs(&self) -> &[KeyRun] {
        &self.runs
    }

    /// Its keys in no run, in the order they came.
    pub fn keys(&self) -> &[String] {
        &self.keys
    }

    /// How many ids were pushed: each went to exactly one run or key.
    pub fn ids(&self) -> u64 {
        let in_runs: u64 = self.runs.iter().map(KeyRun::len).sum();
        in_runs + self.keys.len() as u64
    }

    /// Whether no id was pushed.
    pub fn is_empty(&self) -> bool {
        self.runs.is_empty() && self.keys.is_empty()
    }

    /// Its runs and its keys in no run.
    pub(crate) fn into_parts(self) -> (Vec<KeyRun>, Vec<String>) {
        (self.runs, self.keys)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::claim_runs::tests::run;
    use proptest::prelude::*;

    #[test]
    fn ids_counting_up_gather_in_runs_and_the_rest_stays_keys() {
        let mut set = KeySet::new("\0seen\0alpha\0", "\0");
        for id in [
            "A9", "A10", "A11", "B12", "A12", "A12", "x", "A007", "42", "43", "9-1",
        ] {
            set.push(id);
        }
        assert_eq!(
            set.runs(),
            [
                run("\0seen\0alpha\0A", 9, 12, "\0"),
                run("\0seen\0alpha\0", 42, 43, "\0"),
            ]
        );
        assert_eq!(
            set.keys(),
            ["B12", "A12", "x", "A007", "9-1"].map(|id| set.key(id))
        );
        assert!(set.runs().iter().all(KeyRun::splits_back));
        assert_eq!(set.ids(), 11);
        assert_eq!(set.key("A9"), "\0seen\0alpha\0A9\0");
        assert_eq!(set.id_of("\0seen\0alpha\0A9\0"), Some("A9"));
        assert_eq!(set.id_of("\0seen\0beta\0A9\0"), None);
        assert_eq!(set.id_of("\0seen\0alpha\0A9"), None);
    }

    #[test]
    fn text_around_ids_that_would_move_their_number_keeps_every_key_whole() {
        for (prefix, suffix) in [("op1", ""), ("op/", "7")] {
            let mut set = KeySet::new(prefix, suffix);
            set.push("5");
            set.push("6");
            assert!(set.runs().is_empty(), "{prefix:?} {suffix:?}");
            assert_eq!(
                set.keys(),
                [format!("{prefix}5{suffix}"), format!("{prefix}6{suffix}")]
            );
        }
    }

    proptest! {
        /// Whatever the ids, the set's runs and keys are exactly the ids' keys, in form.
        #[test]
        fn a_sets_runs_and_keys_are_its_ids_keys(
            ids in proptest::collection::vec(
                (prop_oneof![Just(""), Just("A"), Just("B-"), Just("x0"), Just("9.")],
                 0u64..30,
                 prop_oneof![Just(""), Just("z"), Just("0"), Just("/q")]),
                0..80,
            ),
            prefix in prop_oneof![Just(""), Just("\0seen\0c\0"), Just("p1")],
            suffix in prop_oneof![Just(""), Just("\0"), Just("3")],
        ) {
            let ids: Vec<String> = ids.iter().map(|(p, n, s)| format!("{p}{n}{s}")).collect();
            let mut set = KeySet::new(prefix, suffix);
            for id in &ids {
                set.push(id);
            }
            prop_assert!(set.runs().iter().all(|r| r.splits_back() && r.len() >= 2));
            let mut made: Vec<String> = set.runs().iter().flat_map(KeyRun::keys).collect();
            made.extend(set.keys().iter().cloned());
            made.sort();
            let mut keys: Vec<String> = ids.iter().map(|id| set.key(id)).collect();
            keys.sort();
            prop_assert_eq!(made, keys);
            prop_assert_eq!(set.ids(), ids.len() as u64);
            // Each key gives its id back.
            for id in &ids {
                let key = set.key(id);
                prop_assert_eq!(set.id_of(&key), Some(id.as_str()));
            }
        }
    }
}
