//! Numbers of runs a lookup found unclaimed, kept across commits until a commit claims them.
//!
//! A batch's ids are asked about twice on a peer: by the contract when the peer endorses
//! it (`WorldState::claimed_of_runs`), and by validation before the block that carries it
//! commits (`WorldState::claimed_in_runs`); in between, only the blocks committed since can
//! have claimed any of them. So what the first lookup found unclaimed is kept, number
//! ranges by family (namespace, prefix and suffix), and each commit takes away exactly the
//! numbers it claimed: what is left was found unclaimed and claimed by no commit since, so
//! it is still unclaimed, and validation need not ask the filters about a run it covers.
//!
//! *Invariant:* a number held here is unclaimed in the committed state. A lookup adds what
//! it found less what the commits that ended while it looked claimed (their claims in the
//! families it watched from its start are logged; a lookup older than the log adds
//! nothing); a commit that ends takes away every number it claimed, and one that fails, or
//! a clear, forgets everything. Forgetting is always safe (it costs a lookup), so the kept
//! ranges are bounded by dropping them all.
//!
//! Only runs whose keys split back into their prefix, number and suffix are kept: each of
//! their keys is the key `Numbered::of` splits into that family and number, so a commit's
//! claim of one of them, as a key or in a run, is found by splitting it.

use std::collections::{HashSet, VecDeque};
use std::ops::RangeInclusive;

use rangemap::RangeInclusiveSet;

use super::BlockUpdate;
use super::runs::Numbered;
use crate::proto::KeyRun;

/// The most families watched: a channel's claims are a family a reporter.
const MAX_FAMILIES: usize = 64;

/// The most number ranges kept over all families: each commit takes its claims away, so
/// only batches endorsed and never committed leave theirs.
const MAX_RANGES: usize = 1 << 16;

/// The commits whose claims are kept for lookups still under way: one that began before
/// the last of them ended is not learned from.
const LOGGED_COMMITS: usize = 16;

/// Numbers of families, each by its place among the watched ones.
type Spans = Vec<(usize, RangeInclusive<u64>)>;

/// Numbers found unclaimed and not claimed since, by family, and the watched families'
/// claims of the last commits.
#[derive(Default)]
pub(super) struct KnownRuns {
    families: Vec<Family>,
    /// The claims of each of the last commits in the watched families, by the generation
    /// it ended at, oldest first.
    log: VecDeque<(u64, Spans)>,
    /// A lookup begun at this generation or later is learned from: the log holds every
    /// commit that ended after it began.
    since: u64,
}

/// A family of numbered keys (namespace, prefix and suffix), watched since a lookup of its
/// runs began, and its numbers known unclaimed.
struct Family {
    namespace: String,
    prefix: String,
    suffix: String,
    numbers: RangeInclusiveSet<u64>,
}

impl KnownRuns {
    /// A lookup of `runs` in `namespace` begins: their families are watched from now on.
    /// False when that is more families than are kept: then forget everything.
    pub(super) fn watch(&mut self, namespace: &str, runs: &[KeyRun]) -> bool {
        for run in runs.iter().filter(|run| run.splits_back()) {
            if self.find(namespace, &run.prefix, &run.suffix).is_none() {
                self.families.push(Family {
                    namespace: namespace.to_string(),
                    prefix: run.prefix.clone(),
                    suffix: run.suffix.clone(),
                    numbers: RangeInclusiveSet::new(),
                });
            }
        }
        self.families.len() <= MAX_FAMILIES
    }

    /// Keeps the numbers of `runs` in `namespace` but those of `claimed`: a lookup that
    /// began at generation `begun` (and watched them then) found those claimed and the
    /// others unclaimed. The claims of commits that ended since are taken away again; a
    /// lookup older than the log is not learned from.
    pub(super) fn learn(
        &mut self,
        begun: u64,
        namespace: &str,
        runs: &[KeyRun],
        claimed: &HashSet<String>,
    ) {
        if begun < self.since {
            return;
        }
        for run in runs.iter().filter(|run| run.splits_back()) {
            if let Some(at) = self.find(namespace, &run.prefix, &run.suffix) {
                self.families[at].numbers.insert(run.first..=run.last);
            }
        }
        for key in claimed {
            if let Some((at, n)) = self.family_of(namespace, key) {
                self.families[at].numbers.remove(n..=n);
            }
        }
        for (_, spans) in self.log.iter().filter(|(ended, _)| *ended > begun) {
            for (at, numbers) in spans {
                self.families[*at].numbers.remove(numbers.clone());
            }
        }
        let ranges: usize = self.families.iter().map(|f| f.numbers.len()).sum();
        if ranges > MAX_RANGES {
            for f in &mut self.families {
                f.numbers.clear();
            }
        }
    }

    /// Whether every key of `run` in `namespace` is known unclaimed.
    pub(super) fn covers(&self, namespace: &str, run: &KeyRun) -> bool {
        !self.families.is_empty()
            && self
                .find(namespace, &run.prefix, &run.suffix)
                .and_then(|at| self.families[at].numbers.get(&run.first))
                .is_some_and(|range| run.last <= *range.end())
            && run.splits_back()
    }

    /// Forgets every number `update` claims, in a commit that ended at `generation`, and
    /// logs those of the watched families for the lookups under way.
    pub(super) fn claimed(&mut self, generation: u64, update: &BlockUpdate) {
        let mut spans = Vec::new();
        if !self.families.is_empty() {
            for claim in &update.claims {
                if let Some((at, n)) = self.family_of(&claim.namespace, &claim.key) {
                    spans.push((at, n..=n));
                }
            }
            // The numbers between a transaction's runs of a family were asked about and not
            // claimed (its batch's rejects): no lookup of that batch asks about them again,
            // so they go with it rather than fill the kept ranges one number at a time.
            let mut hulls: Vec<(u64, usize, RangeInclusive<u64>)> = Vec::new();
            for r in &update.claim_runs {
                let run = &r.run;
                if !run.splits_back() {
                    run.each_key(|key| {
                        if let Some((at, n)) = self.family_of(&r.namespace, key) {
                            spans.push((at, n..=n));
                        }
                    });
                    continue;
                }
                let Some(at) = self.find(&r.namespace, &run.prefix, &run.suffix) else {
                    continue;
                };
                spans.push((at, run.first..=run.last));
                let tx = r.version.tx_num;
                match hulls.last_mut() {
                    Some((t, a, hull)) if *t == tx && *a == at => {
                        *hull = (*hull.start()).min(run.first)..=(*hull.end()).max(run.last);
                    }
                    _ => hulls.push((tx, at, run.first..=run.last)),
                }
            }
            for (at, numbers) in &spans {
                self.families[*at].numbers.remove(numbers.clone());
            }
            for (_, at, hull) in hulls {
                self.families[at].numbers.remove(hull);
            }
        }
        self.log.push_back((generation, spans));
        if self.log.len() > LOGGED_COMMITS
            && let Some((ended, _)) = self.log.pop_front()
        {
            self.since = ended;
        }
    }

    /// Forgets everything: lookups begun before `generation` are not learned from.
    pub(super) fn reset(&mut self, generation: u64) {
        self.families.clear();
        self.log.clear();
        self.since = generation;
    }

    /// The watched family of `key` and its number. A key that does not split is no key of
    /// a run that splits back.
    fn family_of(&self, namespace: &str, key: &str) -> Option<(usize, u64)> {
        let k = Numbered::of(key)?;
        Some((self.find(namespace, k.prefix, k.suffix)?, k.n))
    }

    fn find(&self, namespace: &str, prefix: &str, suffix: &str) -> Option<usize> {
        self.families
            .iter()
            .position(|f| f.namespace == namespace && f.prefix == prefix && f.suffix == suffix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::Version;
    use crate::state::{StateClaim, StateClaimRun};
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    fn run(prefix: &str, first: u64, last: u64) -> KeyRun {
        KeyRun {
            prefix: prefix.into(),
            suffix: String::new(),
            first,
            last,
        }
    }

    fn update(claims: &[(&str, &str)], runs: &[(&str, KeyRun)]) -> BlockUpdate {
        let version = Version {
            block_num: 0,
            tx_num: 0,
        };
        BlockUpdate {
            block_num: 0,
            writes: Vec::new(),
            claims: claims
                .iter()
                .map(|&(namespace, key)| StateClaim {
                    namespace: namespace.into(),
                    key: key.into(),
                    version,
                })
                .collect(),
            claim_runs: runs
                .iter()
                .map(|(namespace, run)| StateClaimRun {
                    namespace: (*namespace).into(),
                    run: run.clone(),
                    version,
                })
                .collect(),
        }
    }

    /// What a peer's state does with its `KnownRuns`: a generation moved on by each commit.
    #[derive(Default)]
    struct Peer {
        known: KnownRuns,
        generation: u64,
    }

    impl Peer {
        fn begin(&mut self, runs: &[KeyRun]) -> u64 {
            assert!(self.known.watch("ns", runs));
            self.generation
        }

        fn look(&mut self, runs: &[KeyRun], claimed: &[&str]) {
            let begun = self.begin(runs);
            let claimed = claimed.iter().map(|k| k.to_string()).collect();
            self.known.learn(begun, "ns", runs, &claimed);
        }

        fn commit(&mut self, update: &BlockUpdate) {
            self.generation += 1;
            self.known.claimed(self.generation, update);
        }

        fn covers(&self, run: &KeyRun) -> bool {
            self.known.covers("ns", run)
        }
    }

    /// A run is covered by what lookups found, even across two lookups' runs; a commit takes
    /// away exactly what it claims, as a key or in a run.
    #[test]
    fn a_commit_takes_away_what_it_claims() {
        let mut p = Peer::default();
        p.look(&[run("r", 10, 20)], &[]);
        p.look(&[run("r", 21, 30)], &["r25"]);
        assert!(p.covers(&run("r", 10, 24)));
        assert!(!p.covers(&run("r", 10, 25)));
        assert!(p.covers(&run("r", 26, 30)));
        assert!(!p.known.covers("other", &run("r", 12, 14)));
        assert!(!p.covers(&run("q", 12, 14)));
        p.commit(&update(&[("ns", "r12"), ("other", "r15")], &[]));
        assert!(!p.covers(&run("r", 10, 13)));
        assert!(p.covers(&run("r", 13, 24)));
        p.commit(&update(&[], &[("ns", run("r", 18, 22))]));
        assert!(p.covers(&run("r", 13, 17)));
        assert!(!p.covers(&run("r", 17, 18)));
        assert!(p.covers(&run("r", 23, 24)));
        // A run that does not split back is never kept, nor covered.
        p.look(&[run("r1", 10, 20)], &[]);
        assert!(!p.covers(&run("r1", 10, 20)));
        // Its keys, claimed as such a run, are taken away one by one: `r110` to `r112` are
        // `r` 110 to 112.
        p.look(&[run("r", 100, 120)], &[]);
        p.commit(&update(&[], &[("ns", run("r1", 10, 12))]));
        assert!(p.covers(&run("r", 100, 109)));
        assert!(!p.covers(&run("r", 100, 110)));
        assert!(p.covers(&run("r", 113, 120)));
        p.known.reset(p.generation);
        assert!(!p.covers(&run("r", 13, 17)));
    }

    /// A lookup that was under way while commits ended keeps only what none of them
    /// claimed; one that began before the logged commits is not learned from.
    #[test]
    fn a_lookup_under_way_loses_what_commits_claimed_meanwhile() {
        let mut p = Peer::default();
        let runs = [run("r", 10, 20)];
        let begun = p.begin(&runs);
        p.commit(&update(&[("ns", "r15")], &[]));
        p.commit(&update(&[], &[("ns", run("r", 19, 30))]));
        // The lookup looked before the commits: it found nothing claimed.
        p.known.learn(begun, "ns", &runs, &HashSet::new());
        assert!(p.covers(&run("r", 10, 14)));
        assert!(p.covers(&run("r", 16, 18)));
        assert!(!p.covers(&run("r", 15, 15)));
        assert!(!p.covers(&run("r", 18, 19)));
        let runs = [run("r", 40, 50)];
        let begun = p.begin(&runs);
        for _ in 0..=LOGGED_COMMITS {
            p.commit(&update(&[], &[]));
        }
        p.known.learn(begun, "ns", &runs, &HashSet::new());
        assert!(!p.covers(&run("r", 40, 41)));
    }

    /// The numbers between a transaction's runs (its batch's rejects) go when it commits;
    /// those between two transactions' runs stay.
    #[test]
    fn a_transactions_rejects_go_with_it() {
        let mut p = Peer::default();
        p.look(&[run("r", 1, 100)], &[]);
        let mut u = update(&[], &[("ns", run("r", 1, 10)), ("ns", run("r", 20, 30))]);
        u.claim_runs.push(StateClaimRun {
            namespace: "ns".into(),
            run: run("r", 50, 60),
            version: Version {
                block_num: 0,
                tx_num: 1,
            },
        });
        p.commit(&u);
        assert!(!p.covers(&run("r", 11, 11)));
        assert!(!p.covers(&run("r", 19, 19)));
        assert!(p.covers(&run("r", 31, 49)));
        assert!(p.covers(&run("r", 61, 100)));
    }

    /// Ranges past the bound are all forgotten, never kept in part.
    #[test]
    fn too_many_ranges_are_forgotten() {
        let mut p = Peer::default();
        for i in 0..MAX_RANGES as u64 {
            p.look(&[run("r", 3 * i, 3 * i + 1)], &[]);
        }
        assert!(p.covers(&run("r", 0, 1)));
        p.look(&[run("r", 1 << 40, 1 << 41)], &[]);
        assert!(!p.covers(&run("r", 0, 1)));
        assert!(!p.covers(&run("r", 1 << 40, 1 << 41)));
    }

    /// Too many families are not watched.
    #[test]
    fn too_many_families_are_refused() {
        let mut k = KnownRuns::default();
        for i in 0..MAX_FAMILIES {
            assert!(k.watch("ns", &[run(&format!("f{i}x"), 1, 2)]));
        }
        assert!(!k.watch("ns", &[run("one more", 1, 2)]));
    }

    /// One step of a peer's history: a lookup of runs begins (and finds what is claimed
    /// then), the oldest lookup under way ends, or a commit claims keys and runs.
    #[derive(Clone, Debug)]
    enum Step {
        Begin(Vec<(u8, u64, u64)>),
        End,
        Commit(Vec<(u8, u64)>, Vec<(u8, u64, u64)>),
    }

    const PREFIXES: [&str; 3] = ["r", "r1", "q"];

    fn runs_of(spans: &[(u8, u64, u64)]) -> Vec<KeyRun> {
        (spans.iter())
            .map(|&(p, a, b)| run(PREFIXES[p as usize], a, b))
            .collect()
    }

    fn step() -> impl Strategy<Value = Step> {
        let span = (0u8..3, 0u64..60, 0u64..12).prop_map(|(p, first, len)| (p, first, first + len));
        prop_oneof![
            prop::collection::vec(span.clone(), 1..4).prop_map(Step::Begin),
            Just(Step::End),
            (
                prop::collection::vec((0u8..3, 0u64..80), 0..6),
                prop::collection::vec(span, 0..3)
            )
                .prop_map(|(keys, runs)| Step::Commit(keys, runs)),
        ]
    }

    proptest! {
        /// Against the claimed keys themselves: whatever lookups (each answered as of when
        /// it began, the stalest answer it can give) and commits came before, a run is
        /// covered only if none of its keys is claimed.
        #[test]
        fn a_covered_run_holds_no_claimed_key(
            steps in prop::collection::vec(step(), 1..60),
            asked in prop::collection::vec((0u8..3, 0u64..60, 0u64..12), 1..8),
        ) {
            let mut p = Peer::default();
            let mut claimed_keys: BTreeSet<String> = BTreeSet::new();
            let mut under_way = VecDeque::new();
            for step in steps {
                match step {
                    Step::Begin(spans) => {
                        let runs = runs_of(&spans);
                        let begun = p.begin(&runs);
                        let found: HashSet<String> = runs
                            .iter()
                            .flat_map(KeyRun::keys)
                            .filter(|key| claimed_keys.contains(key))
                            .collect();
                        under_way.push_back((begun, runs, found));
                    }
                    Step::End => {
                        if let Some((begun, runs, found)) = under_way.pop_front() {
                            p.known.learn(begun, "ns", &runs, &found);
                        }
                    }
                    Step::Commit(keys, spans) => {
                        let keys: Vec<String> =
                            keys.iter().map(|&(i, n)| format!("{}{n}", PREFIXES[i as usize])).collect();
                        let runs: Vec<(&str, KeyRun)> =
                            runs_of(&spans).into_iter().map(|r| ("ns", r)).collect();
                        let claims: Vec<(&str, &str)> = keys.iter().map(|k| ("ns", k.as_str())).collect();
                        p.commit(&update(&claims, &runs));
                        claimed_keys.extend(keys.iter().cloned());
                        claimed_keys.extend(runs.iter().flat_map(|(_, r)| r.keys()));
                    }
                }
            }
            for r in runs_of(&asked) {
                if p.covers(&r) {
                    let held: Vec<String> =
                        r.keys().into_iter().filter(|key| claimed_keys.contains(key)).collect();
                    prop_assert!(held.is_empty(), "{r:?} covered, but {held:?} are claimed");
                }
            }
        }
    }
}
