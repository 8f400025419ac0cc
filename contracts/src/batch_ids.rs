//! The ids a batch has accepted so far, for the `duplicate` rule within the batch (SPEC
//! §2.4).
//!
//! A switch numbers its records as it makes them, so nearly every id of a batch comes after
//! every id accepted before it, shorter first and then by its bytes (`A9` before `A10`).
//! Those are kept in that order and known to be new by one comparison with the greatest;
//! any other id is looked up among them (a binary search) and among the others, which a
//! table keeps. A batch with no id out of order hashes none, where a table of every id
//! hashed each (BENCHMARKS.md, session sixty-one).

use std::cmp::Ordering;

use settlement::intake::{ExactIds, IdEntry};

/// The ids accepted so far.
pub(crate) struct BatchIds<'a> {
    /// Those that came after every id accepted before them, in order.
    ascending: Vec<&'a str>,
    /// The others.
    others: ExactIds,
}

/// What [`BatchIds`] holds of one id.
pub(crate) enum Entry<'t, 'a> {
    /// It was accepted already.
    Counted,
    /// It comes after every id accepted so far.
    Greatest {
        ids: &'t mut Vec<&'a str>,
        id: &'a str,
    },
    /// It comes before some id accepted, and is not one of those that came in order.
    Other(IdEntry<'t>),
}

/// The order ids are expected in: shorter first, then by their bytes.
fn order(a: &str, b: &str) -> Ordering {
    (a.len(), a.as_bytes()).cmp(&(b.len(), b.as_bytes()))
}

impl<'a> BatchIds<'a> {
    /// Room for `ids` accepted in order.
    pub(crate) fn with_capacity(ids: usize) -> Self {
        BatchIds {
            ascending: Vec::with_capacity(ids),
            // Room for a few dozen out of order, which a batch with duplicates has.
            others: ExactIds::with_capacity(64),
        }
    }

    /// What it holds of `id`: looked up once, counted by [`Entry::count`] only if the row
    /// is accepted.
    pub(crate) fn entry<'t>(&'t mut self, id: &'a str) -> Entry<'t, 'a> {
        match self.ascending.last() {
            Some(last) if order(last, id).is_ge() => {
                if self.ascending.binary_search_by(|x| order(x, id)).is_ok() {
                    return Entry::Counted;
                }
                match self.others.entry(id) {
                    IdEntry::Counted => Entry::Counted,
                    new => Entry::Other(new),
                }
            }
            _ => Entry::Greatest {
                ids: &mut self.ascending,
                id,
            },
        }
    }
}

impl Entry<'_, '_> {
    /// Whether the id was accepted already.
    pub(crate) fn is_counted(&self) -> bool {
        matches!(self, Entry::Counted)
    }

    /// Counts the id as accepted (nothing if it was already).
    pub(crate) fn count(self) {
        match self {
            Entry::Counted => {}
            Entry::Greatest { ids, id } => ids.push(id),
            Entry::Other(entry) => entry.count(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashSet;

    /// Ids in order, out of order and repeated: each is counted once it is accepted, and
    /// only then.
    #[test]
    fn an_id_counts_once_accepted_in_order_or_not() {
        let mut ids = BatchIds::with_capacity(4);
        for (id, accept, counted) in [
            ("A9", true, false),
            ("A10", true, false),
            ("A9", true, true),
            ("A8", false, false),
            ("A8", true, false),
            ("A8", true, true),
            ("A11", false, false),
            ("A12", true, false),
            ("A11", true, false),
            ("A11", true, true),
            ("A10", true, true),
        ] {
            let entry = ids.entry(id);
            assert_eq!(entry.is_counted(), counted, "{id}");
            if accept {
                entry.count();
            }
        }
    }

    proptest! {
        /// The same answers as a set of the ids accepted, whatever their order.
        #[test]
        fn it_answers_as_a_set_of_the_ids_accepted(
            rows in proptest::collection::vec(("[AB][0-9]{0,2}", any::<bool>()), 0..64),
        ) {
            let mut ids = BatchIds::with_capacity(rows.len());
            let mut model = HashSet::new();
            for (id, accept) in &rows {
                let entry = ids.entry(id);
                prop_assert_eq!(entry.is_counted(), model.contains(id.as_str()));
                if *accept {
                    entry.count();
                    model.insert(id.as_str());
                }
            }
        }
    }
}
