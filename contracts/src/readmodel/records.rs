//! The rated records (`rm_record_sets`): a batch's records are stored once, in the block
//! that carries its `batch` event. The model keeps, per batch that accepted records, its
//! transaction's place in the chain, the span of its records' start times and their count.
//!
//! A record is not a row, nor a copy. Binding ten values a record into a multi-row insert, on
//! every peer, was a quarter of `bench clearing`'s CPU, and a copy of each event's bytes
//! another 4 % (BENCHMARKS.md, session thirty-two), while no query looks a record up: each one
//! sums or lists the records of a range. Those queries read the sets whose span meets their
//! range, a page at a time in the chain's order, read each one's event back from the
//! channel's blocks ([`Chain`]: the peer's block store), joined to the values its
//! transaction stored (a slim event holds the records' ratings alone, `slim`), and count in
//! Rust. A set whose block holds no such event, or another number of records, is an error,
//! never skipped. What a
//! dashboard reads often is summed per day as blocks arrive (`rm_daily`).

use std::collections::HashMap;
use std::sync::Arc;

use ledger::audit::{StoredTx, block_transactions};
use ledger::ledger::ChannelLedger;
use ledger::validate::ValidationCode;
use settlement::carrier::CarrierId;
use settlement::deal::progress::Traffic;
use settlement::money::Currency;
use settlement::service::Service;

use super::views::{DailyTraffic, day_text, sort_daily};
use super::{Batch, Days, Db, ReadModel, ReadModelError, Val, for_sqlite, from_nano, nano, to_i64};
use crate::CLEARING;
use crate::binary::written_by;
use crate::usage::{BATCH_EVENT, BatchEvent, RatedRecord};

/// The table: one row per batch that accepted records, keyed by its transaction's place in
/// the chain (a transaction sets one event).
pub(super) const CREATE: &str = "CREATE TABLE IF NOT EXISTS rm_record_sets (channel TEXT NOT NULL, \
     block BIGINT NOT NULL, idx BIGINT NOT NULL, first_start BIGINT NOT NULL, last_start BIGINT NOT NULL, \
     records BIGINT NOT NULL, PRIMARY KEY (channel, block, idx))";

/// A channel's committed blocks, where a read model reads a batch's records back: the
/// peer's block store, or blocks made by hand in unit tests.
pub trait Chain: Send + Sync {
    /// Every transaction of block `n`, each decoded once.
    fn transactions(&self, n: u64) -> Result<Vec<StoredTx>, String>;
}

/// The peer's block store.
impl Chain for ChannelLedger {
    fn transactions(&self, n: u64) -> Result<Vec<StoredTx>, String> {
        self.block(n)
            .map(|b| block_transactions(&b))
            .map_err(|e| e.to_string())
    }
}

/// The chains a model reads records from, by channel: each channel it has caught up with,
/// followed or rebuilt in this process.
pub(super) type Chains = Arc<std::sync::Mutex<HashMap<String, Arc<dyn Chain>>>>;

/// Sets per query of the table.
const PAGE: usize = 256;

/// The start times of one batch's records, gathered as the batch is applied.
#[derive(Default)]
pub(super) struct Span {
    first: i64,
    last: i64,
    records: i64,
}

impl Span {
    pub(super) fn add(&mut self, start: i64) {
        self.add_day(start, start, 1);
    }

    /// Adds `records` records started from `first` to `last` (a day's, summed).
    pub(super) fn add_day(&mut self, first: i64, last: i64, records: i64) {
        if records == 0 {
            return;
        }
        if self.records == 0 {
            (self.first, self.last) = (first, last);
        } else {
            self.first = self.first.min(first);
            self.last = self.last.max(last);
        }
        self.records += records;
    }

    /// Names the transaction at `(block, idx)` as a set of records (nothing when it accepted
    /// none).
    pub(super) fn push(self, batch: &mut Batch, channel: &str, (block, idx): (i64, i64)) {
        if self.records == 0 {
            return;
        }
        batch.push(
            "INSERT INTO rm_record_sets (channel, block, idx, first_start, last_start, records) \
             VALUES ($1, $2, $3, $4, $5, $6)",
            vec![
                channel.into(),
                Val::I(block),
                Val::I(idx),
                Val::I(self.first),
                Val::I(self.last),
                Val::I(self.records),
            ],
        );
    }
}

/// Where a set of records is: the transaction at `block`, `idx` of `channel`.
pub(super) struct Place {
    pub(super) channel: String,
    pub(super) block: i64,
    pub(super) idx: i64,
}

/// A set as a page of the table returns it: channel, block, index and count of records.
type SetRow = (String, i64, i64, i64);

impl ReadModel {
    /// Reads the records of `channel` from `chain` from now on.
    pub(super) fn read_from(&self, channel: &str, chain: Arc<dyn Chain>) {
        self.chains
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(channel.to_string(), chain);
    }

    fn chain(&self, channel: &str) -> Result<Arc<dyn Chain>, ReadModelError> {
        self.chains
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(channel)
            .cloned()
            .ok_or_else(|| ReadModelError::Ledger {
                channel: channel.into(),
                message: "no block store to read its records from: this model has not caught \
                          up with the channel in this process"
                    .into(),
            })
    }

    /// Calls `each` with every rated record of `channel` (or every channel) that started in
    /// `[from, to)`, with its set's place and reporter: set by set in the chain's order
    /// (channel, block, index), each set's records in the event's order.
    pub(super) async fn each_record(
        &self,
        channel: Option<&str>,
        (from, to): (i64, i64),
        mut each: impl FnMut(&Place, CarrierId, RatedRecord) -> Result<(), ReadModelError>,
    ) -> Result<(), ReadModelError> {
        let mut after = (String::new(), i64::MIN, i64::MIN);
        // The block read last, with its transactions: a block can hold several sets.
        let mut held: Option<(String, i64, Vec<StoredTx>)> = None;
        loop {
            let page = self.sets_after(channel, (from, to), &after).await?;
            let full = page.len() == PAGE;
            for (channel, block, idx, records) in page {
                let place = Place {
                    channel,
                    block,
                    idx,
                };
                let corrupt = |what: String| {
                    ReadModelError::Corrupt(format!(
                        "the set of {records} records at channel {}, block {block}, transaction \
                         {idx}: {what}",
                        place.channel
                    ))
                };
                if held
                    .as_ref()
                    .is_none_or(|(c, b, _)| (c, *b) != (&place.channel, block))
                {
                    let n = u64::try_from(block).map_err(|_| corrupt("no such block".into()))?;
                    let chain = self.chain(&place.channel)?;
                    // A block is megabytes read from a file and decoded: not on the
                    // runtime's own threads.
                    let txs = tokio::task::spawn_blocking(move || chain.transactions(n))
                        .await
                        .map_err(|e| e.to_string())
                        .and_then(|read| read)
                        .map_err(|message| ReadModelError::Ledger {
                            channel: place.channel.clone(),
                            message,
                        })?;
                    held = Some((place.channel.clone(), block, txs));
                }
                let txs = held.as_ref().map_or(&[][..], |(_, _, txs)| txs);
                let (tx, batch) = txs
                    .iter()
                    .find(|t| {
                        i64::try_from(t.audit.index) == Ok(idx)
                            && t.audit.code == ValidationCode::Valid
                    })
                    .and_then(|t| {
                        let e = t
                            .events
                            .iter()
                            .find(|e| e.contract == CLEARING && e.name == BATCH_EVENT)?;
                        Some((t, e))
                    })
                    .ok_or_else(|| corrupt("the block holds no valid batch there".into()))?;
                let event = BatchEvent::from_tx(&batch.payload, written_by(tx.writes(CLEARING)))
                    .map_err(|e| corrupt(e.to_string()))?;
                let reporter = event.reporter;
                let mut read = 0;
                for r in event.rated_records() {
                    read += 1;
                    if (from..to).contains(&r.start) {
                        each(&place, reporter, r)?;
                    }
                }
                if read != records {
                    return Err(corrupt(format!("the batch has {read}")));
                }
                after = (place.channel, block, idx);
            }
            if !full {
                return Ok(());
            }
        }
    }

    /// The next page of sets after `after` (channel, block, index) whose span meets
    /// `[from, to)`.
    async fn sets_after(
        &self,
        channel: Option<&str>,
        (from, to): (i64, i64),
        after: &(String, i64, i64),
    ) -> Result<Vec<SetRow>, ReadModelError> {
        const SQL: &str = "SELECT channel, block, idx, records FROM rm_record_sets \
             WHERE ($1 = '' OR channel = $1) AND last_start >= $2 AND first_start < $3 \
             AND (channel, block, idx) > ($4, $5, $6) ORDER BY channel, block, idx LIMIT $7";
        let vals = vec![
            Val::S(channel.unwrap_or_default().to_string()),
            Val::I(from),
            Val::I(to),
            Val::S(after.0.clone()),
            Val::I(after.1),
            Val::I(after.2),
            Val::I(to_i64(PAGE as u64)?),
        ];
        Ok(match &self.db {
            Db::Sqlite { read, .. } => {
                bind_all!(sqlx::query_as(sqlx::AssertSqlSafe(for_sqlite(SQL))), vals)
                    .fetch_all(read)
                    .await?
            }
            Db::Postgres(pool) => {
                bind_all!(sqlx::query_as(sqlx::AssertSqlSafe(SQL.to_string())), vals)
                    .fetch_all(pool)
                    .await?
            }
        })
    }

    /// [`ReadModel::daily_traffic`] counted from the records themselves, for any range: each
    /// record summed into its day as applying its block sums it (`Days`), per reporter.
    pub async fn daily_traffic_of_records(
        &self,
        channel: Option<&str>,
        from: i64,
        to: i64,
    ) -> Result<Vec<DailyTraffic>, ReadModelError> {
        let mut reporters: HashMap<CarrierId, Days> = HashMap::new();
        self.each_record(channel, (from, to), |_, reporter, r| {
            reporters.entry(reporter).or_default().add_record(&r)
        })
        .await?;
        let count = |n: i64| u64::try_from(n).map_err(|_| ReadModelError::Range(n.to_string()));
        let mut out = Vec::new();
        for (reporter, days) in reporters {
            for ((day, d), t) in days.totals.into_entries() {
                out.push(DailyTraffic {
                    day: day_text(day)?,
                    payer: d.payer,
                    payee: d.payee,
                    service: d.service.as_str().to_string(),
                    reporter,
                    records: count(t.records)?,
                    units: count(t.units)?,
                    charge: from_nano(i128::from(t.charge_nano))?,
                    currency: d.currency_text(),
                });
            }
        }
        sort_daily(&mut out);
        Ok(out)
    }

    /// The records of `channel` started in `[from, to)`, counted and their billable units
    /// summed per reporter, direction and first `digits` characters of the called number
    /// (a deal's traffic), in the order of those texts.
    pub(super) async fn traffic(
        &self,
        channel: &str,
        (from, to): (i64, i64),
        digits: usize,
    ) -> Result<Vec<Traffic>, ReadModelError> {
        type Key = (CarrierId, CarrierId, CarrierId, Service, String);
        let mut sums: HashMap<Key, (u64, u128)> = HashMap::new();
        self.each_record(Some(channel), (from, to), |place, reporter, r| {
            let prefix = r.b_number.chars().take(digits).collect();
            let t = sums
                .entry((reporter, r.payer, r.payee, r.service, prefix))
                .or_default();
            let overflow = || {
                ReadModelError::Range(format!(
                    "the traffic with {} of channel {}",
                    r.record_id, place.channel
                ))
            };
            t.0 = t.0.checked_add(1).ok_or_else(overflow)?;
            t.1 =
                t.1.checked_add(u128::from(r.billable))
                    .ok_or_else(overflow)?;
            Ok(())
        })
        .await?;
        let mut out: Vec<Traffic> = sums
            .into_iter()
            .map(
                |((reporter, payer, payee, service, number_prefix), (records, billable))| Traffic {
                    reporter,
                    payer,
                    payee,
                    service,
                    number_prefix,
                    records,
                    billable,
                },
            )
            .collect();
        fn key(t: &Traffic) -> (&str, &str, &str, &str, &str) {
            (
                t.reporter.as_str(),
                t.payer.as_str(),
                t.payee.as_str(),
                t.service.as_str(),
                &t.number_prefix,
            )
        }
        out.sort_by(|a, b| key(a).cmp(&key(b)));
        Ok(out)
    }

    /// The dump's lines of the records of `channel`: each set's place, span and count, in
    /// the chain's order; then each record as `rm_records|` and its fields (the table's
    /// columns before records were kept in sets), by reporter and record id.
    pub(super) async fn dump_records(
        &self,
        channel: &str,
        out: &mut String,
    ) -> Result<(), ReadModelError> {
        for line in self
            .lines(
                "SELECT channel, block, idx, first_start, last_start, records FROM rm_record_sets \
                 WHERE channel = $1 ORDER BY block, idx",
                channel,
            )
            .await?
        {
            out.push_str("rm_record_sets|");
            out.push_str(&line);
            out.push('\n');
        }
        let mut records = Vec::new();
        self.each_record(Some(channel), (i64::MIN, i64::MAX), |place, reporter, r| {
            let line = [
                place.channel.clone(),
                reporter.to_string(),
                r.record_id.clone(),
                place.block.to_string(),
                place.idx.to_string(),
                r.payer.to_string(),
                r.payee.to_string(),
                r.service.as_str().to_string(),
                r.a_number,
                r.b_number,
                r.start.to_string(),
                r.units.to_string(),
                r.prefix,
                r.destination,
                r.billable.to_string(),
                r.charge.to_string(),
                nano(r.charge)?.to_string(),
                r.currency.as_ref().map_or("", Currency::as_str).to_string(),
            ]
            .join("|");
            records.push((reporter, r.record_id, line));
            Ok(())
        })
        .await?;
        records.sort_by(|a, b| (a.0.as_str(), &a.1).cmp(&(b.0.as_str(), &b.1)));
        for (_, _, line) in records {
            out.push_str("rm_records|");
            out.push_str(&line);
            out.push('\n');
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use ledger::proto::ContractEvent;

    use super::*;
    use crate::binary::tests::row;
    use crate::readmodel::tests::batch_tx;
    use crate::usage::RatedDirection;
    use rust_decimal::Decimal;

    fn carrier(name: &str) -> CarrierId {
        CarrierId::parse(name).unwrap()
    }

    /// A batch event of `alpha`'s records `ids`, started at `starts`.
    fn event(ids: &[&str], starts: &[i64]) -> BatchEvent {
        BatchEvent {
            tx_id: format!("t-{}", ids.join("-")),
            reporter: carrier("alpha"),
            counterparty: carrier("beta"),
            rejected: Default::default(),
            rows: ids.len() as u64,
            accepted: ids.len() as u64,
            records: Vec::new(),
            directions: vec![RatedDirection {
                payer: carrier("alpha"),
                payee: carrier("beta"),
                service: Service::Voice,
                currency: Some("EUR".parse().unwrap()),
                records: ids
                    .iter()
                    .zip(starts)
                    .map(|(id, start)| {
                        let mut r = row(id, Decimal::new(25, 2));
                        r.start = *start;
                        r
                    })
                    .collect(),
            }],
        }
    }

    /// Blocks made by hand: each a list of valid transactions with one event each.
    #[derive(Default)]
    struct Blocks(Mutex<HashMap<u64, Vec<StoredTx>>>);

    impl Chain for Blocks {
        fn transactions(&self, n: u64) -> Result<Vec<StoredTx>, String> {
            self.0
                .lock()
                .unwrap()
                .get(&n)
                .cloned()
                .ok_or_else(|| format!("no block {n}"))
        }
    }

    /// A model in a temporary file, reading the channels `alpha.beta` and `alpha.gamma`
    /// from blocks made by hand.
    struct Fixture {
        _dir: tempfile::TempDir,
        rm: ReadModel,
        blocks: HashMap<&'static str, Arc<Blocks>>,
        sets: Batch,
    }

    impl Fixture {
        async fn new() -> Fixture {
            let dir = tempfile::tempdir().unwrap();
            let rm = ReadModel::sqlite(&dir.path().join("model.sqlite"))
                .await
                .unwrap();
            let mut blocks = HashMap::new();
            for channel in ["alpha.beta", "alpha.gamma"] {
                let b = Arc::new(Blocks::default());
                rm.read_from(channel, b.clone());
                blocks.insert(channel, b);
            }
            Fixture {
                _dir: dir,
                rm,
                blocks,
                sets: Batch(Vec::new()),
            }
        }

        /// Adds a transaction at `(block, idx)` that sets event `name` with `payload`, and
        /// names it as a set of records started at `starts`.
        fn keep(
            &mut self,
            channel: &'static str,
            (block, idx): (u64, usize),
            starts: &[i64],
            (name, payload): (&str, Vec<u8>),
        ) {
            let event = ContractEvent {
                contract: CLEARING.into(),
                name: name.into(),
                payload,
            };
            let tx = batch_tx(&format!("{block}-{idx}"), idx, vec![event], None);
            self.blocks[channel]
                .0
                .lock()
                .unwrap()
                .entry(block)
                .or_default()
                .push(tx);
            let mut span = Span::default();
            for s in starts {
                span.add(*s);
            }
            let place = (i64::try_from(block).unwrap(), i64::try_from(idx).unwrap());
            span.push(&mut self.sets, channel, place);
        }

        /// `keep` of a batch of records `ids` started at `starts`.
        fn batch(
            &mut self,
            channel: &'static str,
            place: (u64, usize),
            ids: &[&str],
            starts: &[i64],
        ) {
            let bytes = event(ids, starts).to_bytes().unwrap();
            self.keep(channel, place, starts, ("batch", bytes));
        }

        /// The sets kept so far, stored.
        async fn store(&mut self) -> &ReadModel {
            let sets = std::mem::replace(&mut self.sets, Batch(Vec::new()));
            self.rm.run(sets).await.unwrap();
            &self.rm
        }
    }

    async fn ids(
        rm: &ReadModel,
        channel: Option<&str>,
        range: (i64, i64),
    ) -> Result<Vec<String>, ReadModelError> {
        let mut out = Vec::new();
        rm.each_record(channel, range, |place, reporter, r| {
            assert_eq!(reporter, carrier("alpha"));
            out.push(format!("{}:{}:{}", place.channel, place.block, r.record_id));
            Ok(())
        })
        .await?;
        Ok(out)
    }

    #[tokio::test]
    async fn a_range_reads_exactly_the_records_started_in_it() {
        let mut f = Fixture::new().await;
        f.batch("alpha.beta", (1, 0), &["a", "b", "c"], &[100, 200, 300]);
        let rm = f.store().await;
        let all = ids(rm, None, (i64::MIN, i64::MAX)).await.unwrap();
        assert_eq!(all, ["alpha.beta:1:a", "alpha.beta:1:b", "alpha.beta:1:c"]);
        // From is in the range, to is not.
        assert_eq!(
            ids(rm, Some("alpha.beta"), (200, 300)).await.unwrap(),
            ["alpha.beta:1:b"]
        );
        assert!(
            ids(rm, Some("alpha.beta"), (301, 400))
                .await
                .unwrap()
                .is_empty()
        );
        assert!(
            ids(rm, Some("alpha.gamma"), (0, 400))
                .await
                .unwrap()
                .is_empty()
        );
    }

    #[tokio::test]
    async fn two_sets_of_one_block_are_read_from_it() {
        let mut f = Fixture::new().await;
        f.batch("alpha.beta", (1, 0), &["a"], &[100]);
        f.batch("alpha.beta", (1, 1), &["b", "c"], &[100, 150]);
        f.batch("alpha.beta", (2, 0), &["d"], &[100]);
        let rm = f.store().await;
        assert_eq!(
            ids(rm, None, (0, 1000)).await.unwrap(),
            [
                "alpha.beta:1:a",
                "alpha.beta:1:b",
                "alpha.beta:1:c",
                "alpha.beta:2:d"
            ]
        );
    }

    #[tokio::test]
    async fn a_set_outside_the_range_is_not_read_and_one_its_block_does_not_hold_is_an_error() {
        let mut f = Fixture::new().await;
        f.batch("alpha.beta", (1, 0), &["a"], &[100]);
        // Block 2's transaction set another event; block 3's batch has one record, not two;
        // block 4's event does not decode.
        let bytes = event(&["b"], &[500]).to_bytes().unwrap();
        f.keep("alpha.beta", (2, 0), &[500], ("payment", bytes.clone()));
        f.keep("alpha.beta", (3, 0), &[600, 600], ("batch", bytes));
        f.keep(
            "alpha.beta",
            (4, 0),
            &[700],
            ("batch", b"\x07not an event".to_vec()),
        );
        let rm = f.store().await;
        // A range that misses them reads the first set only.
        assert_eq!(
            ids(rm, Some("alpha.beta"), (0, 500)).await.unwrap(),
            ["alpha.beta:1:a"]
        );
        // A range that meets one fails, naming where; nothing is skipped.
        for (range, place, what) in [
            ((0, 501), "block 2, transaction 0", "no valid batch"),
            ((600, 601), "block 3, transaction 0", "the batch has 1"),
            ((700, 701), "block 4, transaction 0", "does not decode"),
        ] {
            let err = ids(rm, Some("alpha.beta"), range).await.unwrap_err();
            assert!(
                matches!(&err, ReadModelError::Corrupt(m) if m.contains(place) && m.contains(what)),
                "{err}"
            );
        }
        let err = rm.dump("alpha.beta").await.unwrap_err();
        assert!(matches!(err, ReadModelError::Corrupt(_)), "{err}");
    }

    #[tokio::test]
    async fn a_channel_the_model_has_not_caught_up_with_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let rm = ReadModel::sqlite(&dir.path().join("model.sqlite"))
            .await
            .unwrap();
        let mut span = Span::default();
        span.add(100);
        let mut sets = Batch(Vec::new());
        span.push(&mut sets, "alpha.beta", (1, 0));
        rm.run(sets).await.unwrap();
        let err = ids(&rm, None, (0, 1000)).await.unwrap_err();
        assert!(
            matches!(&err, ReadModelError::Ledger { channel, .. } if channel == "alpha.beta"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn every_set_is_read_once_in_the_chain_order_across_pages_and_channels() {
        let mut f = Fixture::new().await;
        let mut want = Vec::new();
        for channel in ["alpha.beta", "alpha.gamma"] {
            for block in 0..(PAGE as u64 * 2 + 3) {
                let id = format!("r{block}");
                let start = 1_000 + block as i64;
                f.batch(channel, (block, 0), &[&id], &[start]);
                want.push(format!("{channel}:{block}:{id}"));
            }
        }
        let rm = f.store().await;
        assert_eq!(ids(rm, None, (0, i64::MAX)).await.unwrap(), want);
        let gamma = ids(rm, Some("alpha.gamma"), (0, i64::MAX)).await.unwrap();
        assert_eq!(gamma, want[want.len() / 2..]);
    }

    #[tokio::test]
    async fn a_batch_that_accepted_nothing_keeps_no_set() {
        let mut f = Fixture::new().await;
        f.batch("alpha.beta", (1, 0), &[], &[]);
        let rm = f.store().await;
        let sets = rm
            .rows("SELECT COUNT(*) FROM rm_record_sets", Vec::new())
            .await
            .unwrap();
        assert_eq!(sets, [["0"]]);
    }

    #[tokio::test]
    async fn a_deals_traffic_and_the_days_are_counted_from_the_records() {
        let mut f = Fixture::new().await;
        // Two records on one day, one on the next; the third is cut off by the range.
        let starts = [86_400 * 10 + 5, 86_400 * 10 + 7, 86_400 * 11];
        let mut e = event(&["a", "b", "c"], &starts);
        e.directions[0].records[1].b_number = "4930999".into();
        f.keep(
            "alpha.beta",
            (1, 0),
            &starts,
            ("batch", e.to_bytes().unwrap()),
        );
        let rm = f.store().await;
        let days = rm
            .daily_traffic_of_records(Some("alpha.beta"), 0, 86_400 * 11)
            .await
            .unwrap();
        assert_eq!(days.len(), 1, "{days:?}");
        assert_eq!(days[0].day, "1970-01-11");
        assert_eq!((days[0].records, days[0].units), (2, 122));
        assert_eq!(days[0].charge, Decimal::new(5, 1));
        assert_eq!(days[0].currency, "EUR");
        let traffic = rm.traffic("alpha.beta", (0, 86_400 * 12), 2).await.unwrap();
        let got: Vec<_> = traffic
            .iter()
            .map(|t| (t.number_prefix.as_str(), t.records, t.billable))
            .collect();
        assert_eq!(got, [("44", 2, 240), ("49", 1, 120)]);
    }
}
