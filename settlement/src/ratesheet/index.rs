//! A digit trie over prefixes for the row selection of SPEC §3.2.
//!
//! A lookup walks the called number's digits once (at most 15 steps) and keeps the deepest
//! prefix with a row in force; each prefix's periods do not overlap (the sheet was
//! validated), so one binary search finds the one in force.

use super::RateRow;
use crate::time::Instant;

/// Periods of one prefix: whole-second bounds and the row they belong to.
#[derive(Debug, Clone, Copy)]
struct Period {
    /// First whole second in force.
    from: i64,
    /// First whole second no longer in force.
    to: i64,
    row: u32,
}

/// One trie node: its children by digit and its own periods, in one cache line.
#[derive(Debug, Clone, Copy, Default)]
struct Node {
    /// Child per digit; 0 means none (the root is nobody's child).
    children: [u32; 10],
    /// Its periods as a range of `periods`.
    start: u32,
    len: u32,
}

/// The trie: node 0 is the root.
#[derive(Debug, Default)]
pub(super) struct PrefixIndex {
    nodes: Vec<Node>,
    periods: Vec<Period>,
}

impl PrefixIndex {
    /// Builds the index of validated rows.
    pub(super) fn build(rows: &[RateRow]) -> PrefixIndex {
        let mut order: Vec<u32> = (0..rows.len() as u32).collect();
        // Same prefix together, then by exact start: the order a lookup's search needs.
        order.sort_by(|&a, &b| {
            let (ra, rb) = (&rows[a as usize], &rows[b as usize]);
            ra.prefix
                .cmp(&rb.prefix)
                .then_with(|| ra.from.cmp(&rb.from))
        });
        let mut ix = PrefixIndex {
            nodes: vec![Node::default()],
            periods: Vec::with_capacity(rows.len()),
        };
        let mut i = 0;
        while i < order.len() {
            let prefix = &rows[order[i] as usize].prefix;
            let node = ix.insert(prefix.as_bytes());
            let start = ix.periods.len() as u32;
            while i < order.len() && rows[order[i] as usize].prefix == *prefix {
                let r = &rows[order[i] as usize];
                ix.periods.push(Period {
                    from: r.from.ceil_secs(),
                    to: r.to.as_ref().map_or(i64::MAX, |t| t.ceil_secs()),
                    row: order[i],
                });
                i += 1;
            }
            ix.nodes[node].start = start;
            ix.nodes[node].len = ix.periods.len() as u32 - start;
        }
        ix
    }

    fn insert(&mut self, digits: &[u8]) -> usize {
        let mut node = 0usize;
        for &d in digits {
            let k = (d - b'0') as usize;
            let next = self.nodes[node].children[k];
            node = if next == 0 {
                self.nodes.push(Node::default());
                let n = self.nodes.len() - 1;
                self.nodes[node].children[k] = n as u32;
                n
            } else {
                next as usize
            };
        }
        node
    }

    /// The periods of exactly `prefix`, by start; empty when the sheet has none.
    fn periods_of(&self, prefix: &[u8]) -> &[Period] {
        let mut node = 0usize;
        for &d in prefix {
            if !d.is_ascii_digit() {
                return &[];
            }
            let next = self.nodes[node].children[(d - b'0') as usize];
            if next == 0 {
                return &[];
            }
            node = next as usize;
        }
        let Node { start, len, .. } = self.nodes[node];
        &self.periods[start as usize..(start + len) as usize]
    }

    /// [`PrefixIndex::find`] at an exact instant: the row with the longest prefix of
    /// `number` whose period holds `at` (`from ≤ at < to`, fractions compared exactly).
    pub(super) fn find_exact(&self, number: &[u8], at: &Instant, rows: &[RateRow]) -> Option<u32> {
        (1..=number.len()).rev().find_map(|n| {
            let periods = self.periods_of(&number[..n]);
            // Periods are ordered by their exact start (see `build`).
            let k = periods.partition_point(|p| rows[p.row as usize].from <= *at);
            let row = periods.get(k.checked_sub(1)?)?.row;
            rows[row as usize]
                .to
                .as_ref()
                .is_none_or(|to| at < to)
                .then_some(row)
        })
    }

    /// The last row of exactly `prefix` that starts before `at`.
    pub(super) fn last_before(&self, prefix: &[u8], at: &Instant, rows: &[RateRow]) -> Option<u32> {
        let periods = self.periods_of(prefix);
        let k = periods.partition_point(|p| rows[p.row as usize].from < *at);
        Some(periods.get(k.checked_sub(1)?)?.row)
    }

    /// The row in force at `t` with the longest prefix of `number`.
    pub(super) fn find(&self, number: &[u8], t: i64) -> Option<u32> {
        let mut node = 0usize;
        let mut best = None;
        for &d in number {
            if !d.is_ascii_digit() {
                break;
            }
            let next = self.nodes[node].children[(d - b'0') as usize];
            if next == 0 {
                break;
            }
            node = next as usize;
            let Node { start, len, .. } = self.nodes[node];
            if len > 0 {
                let periods = &self.periods[start as usize..(start + len) as usize];
                // Last period starting at or before t; earlier ones end before it starts.
                let k = periods.partition_point(|p| p.from <= t);
                if k > 0 && t < periods[k - 1].to {
                    best = Some(periods[k - 1].row);
                }
            }
        }
        best
    }
}
