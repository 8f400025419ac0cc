//! The second stage of the pipeline, whatever the source: valid records cut into
//! per-counterparty batches, packed (a file's) or native CSV (SPEC §2.1; a stream's), each
//! remembering where its rows came
//! from (a file's lines, a partition's offsets) so the ledger's verdicts can be traced back;
//! and the check that a committed batch's summary accounts for every row sent.

use std::collections::BTreeMap;

use contracts::{BatchSummary, StreamChunk, SubmitBatch};
use settlement::carrier::CarrierId;
use settlement::cdr::RejectReason;
use settlement::cdr::packed::BatchForm;
use settlement::intake::Tally;

use crate::judge::Record;

/// Records for one counterparty in one form.
#[derive(Debug)]
pub struct Batch<O> {
    /// The other carrier of every record.
    pub counterparty: CarrierId,
    /// The form of its records.
    pub form: BatchForm,
    /// The form's preamble (a CSV header, a packed batch's mark) and the records.
    pub rows: Vec<u8>,
    /// Row `i` of the batch (batch line `i + 2`) came from `origins[i]`.
    pub origins: Vec<O>,
}

/// What the ledger made of a batch's rows, traced back to where they came from.
#[derive(Debug)]
pub struct Accounted<'a, O> {
    /// Accepted and rejected rows.
    pub tally: Tally,
    /// Each rejected row's origin and reason, in the summary's order.
    pub rejects: Vec<(&'a O, RejectReason)>,
}

impl<O> Batch<O> {
    /// An empty batch of `form` for `counterparty`, room for `capacity` rows.
    pub fn new(counterparty: CarrierId, form: BatchForm, capacity: usize) -> Self {
        let preamble = form.preamble();
        let per_row = match form {
            BatchForm::Csv => 96,
            BatchForm::Packed => 48,
        };
        let mut rows = Vec::with_capacity(preamble.len() + capacity.min(1 << 16) * per_row);
        rows.extend_from_slice(preamble);
        Batch {
            counterparty,
            form,
            rows,
            origins: Vec::with_capacity(capacity.min(1 << 16)),
        }
    }

    /// Adds `record`, which came from `origin`, if it is of the batch's form; gives it back
    /// otherwise.
    pub fn push<'r>(&mut self, record: &'r Record, origin: O) -> Result<(), &'r Record> {
        if record.form != self.form {
            return Err(record);
        }
        self.append(&record.bytes, origin);
        Ok(())
    }

    /// Adds one record's bytes, already known to be of the batch's form.
    fn append(&mut self, bytes: &[u8], origin: O) {
        self.rows.extend_from_slice(bytes);
        self.origins.push(origin);
    }

    /// Data rows.
    pub fn len(&self) -> usize {
        self.origins.len()
    }

    /// Whether it holds no row.
    pub fn is_empty(&self) -> bool {
        self.origins.is_empty()
    }

    /// The origin of the row at `batch_line` (the batch's header is line 1).
    pub fn origin(&self, batch_line: u64) -> Option<&O> {
        let i = usize::try_from(batch_line.checked_sub(2)?).ok()?;
        self.origins.get(i)
    }

    /// The typed request that submits it, with the stream position it moves, if any.
    pub fn request(&self, stream: Option<StreamChunk>) -> SubmitBatch {
        SubmitBatch {
            counterparty: self.counterparty,
            rows: self.rows.clone(),
            stream,
        }
    }

    /// The committed summary `s` of this batch, submitted as `reporter`, checked to account
    /// for every row sent and traced back to the rows' origins; `Err` says what does not add
    /// up (a real ledger never gets it wrong; the check is what makes "every row is
    /// accounted for" a fact rather than a hope).
    pub fn account(
        &self,
        reporter: CarrierId,
        s: &BatchSummary,
    ) -> Result<Accounted<'_, O>, String> {
        if s.reporter != reporter || s.counterparty != self.counterparty {
            return Err(format!(
                "the answer is for {}'s records with {}, not {reporter}'s",
                s.reporter, s.counterparty
            ));
        }
        let sent = self.origins.len() as u64;
        let rejected: u64 = s.rejected.values().sum();
        if s.rows != sent || s.accepted + rejected != sent || s.rejects.len() as u64 != rejected {
            return Err(format!(
                "{sent} rows sent, {} reported, {} accepted, {rejected} rejected, {} rejects listed",
                s.rows,
                s.accepted,
                s.rejects.len()
            ));
        }
        let mut tally = Tally {
            accepted: s.accepted,
            ..Tally::default()
        };
        let mut rejects = Vec::with_capacity(s.rejects.len());
        for (batch_line, reason) in &s.rejects {
            let known = RejectReason::ALL.iter().find(|r| r.as_str() == reason);
            let (Some(&reason), Some(origin)) = (known, self.origin(*batch_line)) else {
                return Err(format!(
                    "reject `{reason}` at batch line {batch_line} is not a row sent"
                ));
            };
            tally.reject(reason);
            rejects.push((origin, reason));
        }
        if tally
            .rejected
            .iter()
            .zip(RejectReason::ALL)
            .any(|(n, r)| s.rejected.get(r.as_str()).copied().unwrap_or(0) != *n)
        {
            return Err("the per-reason counts disagree with the rejects listed".into());
        }
        Ok(Accounted { tally, rejects })
    }
}

/// The open batch of each counterparty and form; a batch is handed out as soon as it is
/// full.
#[derive(Debug)]
pub struct Batcher<O> {
    size: usize,
    max_bytes: usize,
    open: BTreeMap<(CarrierId, BatchForm), Batch<O>>,
}

/// The bytes of records at which a batch is cut whatever its records (measured as native
/// CSV; packed records are smaller, and their ids, the longest field, the same). A transaction
/// carries a record's bytes several times: its line (the call's body), its id again in its
/// claim's key, and its id and numbers in the stored record (and, before the batch event's
/// slim form, once more in the event). With the longest records SPEC §2.1 allows
/// (64-character ids of four-byte characters) that was about 3.6 times the line, so 2 MiB
/// kept a batch under 8 MB, inside a channel's default limit of 10 MiB a transaction; with
/// the slim event there is more room still. (At 4 MiB a default batch of such records made
/// an 11.3 MB transaction, refused by the gateway: `ingest/tests/submit.rs`,
/// `a_default_batch_of_the_longest_records_fits_a_transaction`.) A file's records of
/// typical length go packed in about 30 bytes each, so a default batch of 40,000 is about
/// 1.2 MB and the count cuts it first; CSV lines of about 100 bytes are cut at 2 MiB.
pub const MAX_BATCH_BYTES: usize = 2 << 20;

impl<O> Batcher<O> {
    /// Batches of at most `size` records (at least one), each cut sooner once it holds
    /// [`MAX_BATCH_BYTES`].
    pub fn new(size: usize) -> Self {
        Self::with_max_bytes(size, MAX_BATCH_BYTES)
    }

    /// Batches of at most `size` records, each cut once it holds `max_bytes` or more.
    fn with_max_bytes(size: usize, max_bytes: usize) -> Self {
        Batcher {
            size: size.max(1),
            max_bytes,
            open: BTreeMap::new(),
        }
    }

    /// Adds a record; returns its counterparty's batch when this record filled it.
    pub fn push(&mut self, record: &Record, origin: O) -> Option<Batch<O>> {
        let (size, key) = (self.size, (record.counterparty, record.form));
        let batch = self
            .open
            .entry(key)
            .or_insert_with(|| Batch::new(key.0, key.1, size));
        // Opened for the record's form.
        batch.append(&record.bytes, origin);
        if batch.len() < size && batch.rows.len() < self.max_bytes {
            return None;
        }
        self.open.remove(&key)
    }

    /// The partly filled batches left, in counterparty (then form) order.
    pub fn finish(self) -> Vec<Batch<O>> {
        self.open.into_values().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::judge::Judge;
    use settlement::cdr::packed::{BatchRows, PACKED_START};
    use settlement::cdr::{CdrReader, FormatSpec};
    use settlement::export::push_native_record;

    const ROWS: &str =
        "units,start_time,b_number,a_number,term_carrier,orig_carrier,service,record_id
0060,2026-10-01T12:00:00.9+02:00,+49 (30) 123-456,0044 1234 567,beta,alpha,voice,\"R,\"\"1\"\"\"
7,2026-10-01T10:00:00Z,4930123456,441234567,alpha,gamma,sms,R2
1,2026-10-01T10:00:00Z,4930123456,441234567,alpha,beta,data,R3
";

    fn alpha() -> CarrierId {
        CarrierId::parse("alpha").unwrap()
    }

    /// Every record of `input` (native) pushed through a batcher of `size`; each row's
    /// origin is its line.
    fn batches(input: &str, size: usize) -> Vec<Batch<u64>> {
        cut(input, Batcher::new(size))
    }

    fn cut(input: &str, b: Batcher<u64>) -> Vec<Batch<u64>> {
        let judge = Judge::new(alpha(), None);
        cut_as(input, b, |rec| judge.record(rec).unwrap())
    }

    /// [`cut`] with each record made by `record`.
    fn cut_as(
        input: &str,
        mut b: Batcher<u64>,
        record: impl Fn(&settlement::cdr::CdrView<'_>) -> Record,
    ) -> Vec<Batch<u64>> {
        let mut r = CdrReader::new(input.as_bytes(), FormatSpec::Native, Some(alpha())).unwrap();
        let mut out = vec![];
        while let Some(row) = r.next_row().unwrap() {
            out.extend(b.push(&record(&row.outcome.unwrap()), row.line));
        }
        out.extend(b.finish());
        out
    }

    /// A record as a stream's message is sent: a native line.
    fn native(rec: &settlement::cdr::CdrView<'_>) -> Record {
        let mut bytes = Vec::new();
        push_native_record(&mut bytes, rec);
        Record {
            counterparty: rec.usage.counterparty(alpha()),
            form: BatchForm::Csv,
            bytes,
        }
    }

    #[test]
    fn native_records_are_normalised_and_quoted() {
        let all = cut_as(ROWS, Batcher::new(10), native);
        let text: Vec<_> = all
            .iter()
            .map(|b| String::from_utf8(b.rows.clone()).unwrap())
            .collect();
        assert_eq!(
            text,
            [
                "record_id,service,orig_carrier,term_carrier,a_number,b_number,start_time,units\n\
                 \"R,\"\"1\"\"\",voice,alpha,beta,441234567,4930123456,2026-10-01T10:00:00Z,60\n\
                 R3,data,beta,alpha,441234567,4930123456,2026-10-01T10:00:00Z,1\n",
                "record_id,service,orig_carrier,term_carrier,a_number,b_number,start_time,units\n\
                 R2,sms,gamma,alpha,441234567,4930123456,2026-10-01T10:00:00Z,7\n",
            ]
        );
    }

    /// What the contract reads from a batch, packed (a file's) or native (a stream's), is
    /// what the reader read from the file; records of the two forms never share a batch.
    #[test]
    fn records_read_back_alike_from_their_batches() {
        let mut original = CdrReader::new(ROWS.as_bytes(), FormatSpec::Native, None).unwrap();
        let mut want = vec![];
        while let Some(row) = original.next_row().unwrap() {
            let rec = row.outcome.unwrap();
            want.push((row.line, rec.to_owned()));
        }
        let judge = Judge::new(alpha(), None);
        let packed = cut(ROWS, Batcher::new(10));
        let lines = cut_as(ROWS, Batcher::new(10), native);
        let mixed = cut_as(ROWS, Batcher::new(10), |rec| {
            if rec.record_id == "R3" {
                native(rec)
            } else {
                judge.record(rec).unwrap()
            }
        });
        for (all, forms) in [
            (packed, vec![BatchForm::Packed; 2]),
            (lines, vec![BatchForm::Csv; 2]),
            (
                mixed,
                vec![BatchForm::Csv, BatchForm::Packed, BatchForm::Packed],
            ),
        ] {
            assert_eq!(all.iter().map(|b| b.form).collect::<Vec<_>>(), forms);
            let mut got = vec![];
            for b in &all {
                let mut r = BatchRows::open(&b.rows, alpha(), b.counterparty).unwrap();
                while let Some(row) = r.next_row().unwrap() {
                    let line = b.origin(row.line).unwrap();
                    got.push((*line, row.outcome.unwrap().to_owned()));
                }
            }
            got.sort_by_key(|(line, _)| *line);
            assert_eq!(got, want);
        }
    }

    #[test]
    fn a_record_of_another_form_is_given_back() {
        let judge = Judge::new(alpha(), None);
        let mut r = CdrReader::new(ROWS.as_bytes(), FormatSpec::Native, Some(alpha())).unwrap();
        let rec = r.next_row().unwrap().unwrap().outcome.unwrap();
        let mut batch = Batch::new(rec.usage.counterparty(alpha()), BatchForm::Csv, 1);
        let packed = judge.record(&rec).unwrap();
        assert_eq!(batch.push(&packed, 2), Err(&packed));
        assert_eq!(batch.push(&native(&rec), 2), Ok(()));
        assert_eq!(batch.len(), 1);
    }

    #[test]
    fn batches_are_cut_per_counterparty_at_the_size() {
        let mut rows = String::from(ROWS);
        for i in 0..5 {
            rows.push_str(&format!(
                "1,2026-10-01T10:00:00Z,4930123456,441234567,alpha,beta,data,X{i}\n"
            ));
        }
        let got: Vec<_> = batches(&rows, 3)
            .iter()
            .map(|b| (b.counterparty.to_string(), b.origins.clone()))
            .collect();
        assert_eq!(
            got,
            [
                ("beta".to_string(), vec![2, 4, 5]),
                ("beta".to_string(), vec![6, 7, 8]),
                ("beta".to_string(), vec![9]),
                ("gamma".to_string(), vec![3]),
            ]
        );
        let b = &batches(&rows, 3)[0];
        assert_eq!(b.origin(2), Some(&2));
        assert_eq!(b.origin(4), Some(&5));
        assert!(b.origin(5).is_none() && b.origin(1).is_none() && b.origin(0).is_none());
    }

    /// However long its records, a batch is cut once it holds the byte limit: one record
    /// more than fits is its last. A record longer than the limit is a batch alone.
    #[test]
    fn batches_are_cut_at_the_byte_limit() {
        let mut rows = ROWS.lines().next().unwrap().to_string() + "\n";
        for i in 0..7 {
            rows.push_str(&format!(
                "1,2026-10-01T10:00:00Z,4930123456,441234567,alpha,beta,data,X{i}\n"
            ));
        }
        let header = PACKED_START.len();
        let judge = Judge::new(alpha(), None);
        let mut x0 = CdrReader::new(rows.as_bytes(), FormatSpec::Native, None).unwrap();
        let line = judge
            .record(&x0.next_row().unwrap().unwrap().outcome.unwrap())
            .unwrap()
            .bytes
            .len();
        let sizes = |max_bytes: usize| -> Vec<usize> {
            cut(&rows, Batcher::with_max_bytes(100, max_bytes))
                .iter()
                .filter(|b| b.counterparty.to_string() == "beta")
                .map(|b| b.len())
                .collect()
        };
        // Room for two lines: the second reaches the limit and cuts the batch.
        assert_eq!(sizes(header + 2 * line), [2, 2, 2, 1]);
        assert_eq!(sizes(header + 2 * line + 1), [3, 3, 1]);
        // Smaller than any record: each is a batch of its own.
        assert_eq!(sizes(1), [1; 7]);
    }

    fn summary(rows: u64, rejects: &[(u64, &str)]) -> BatchSummary {
        let mut rejected = BTreeMap::new();
        for (_, r) in rejects {
            *rejected.entry(r.to_string()).or_insert(0) += 1;
        }
        BatchSummary {
            reporter: alpha(),
            counterparty: CarrierId::parse("beta").unwrap(),
            rows,
            accepted: rows - rejects.len() as u64,
            rejected,
            rejects: rejects.iter().map(|(l, r)| (*l, r.to_string())).collect(),
            stream_rejects: vec![],
            charges: vec![],
        }
    }

    #[test]
    fn a_summary_is_traced_back_to_origins_and_must_add_up() {
        let b = &batches(ROWS, 10)[0];
        let ok = b
            .account(alpha(), &summary(2, &[(3, "duplicate")]))
            .unwrap();
        assert_eq!(ok.tally.accepted, 1);
        assert_eq!(ok.rejects, [(&4, RejectReason::Duplicate)]);
        for (s, want) in [
            (summary(3, &[]), "2 rows sent, 3 reported"),
            (
                summary(2, &[(4, "duplicate")]),
                "batch line 4 is not a row sent",
            ),
            (summary(2, &[(2, "late")]), "reject `late`"),
        ] {
            let err = b.account(alpha(), &s).unwrap_err();
            assert!(err.contains(want), "{err}");
        }
        let mut counts = summary(2, &[(2, "duplicate")]);
        counts.rejected = BTreeMap::from([("period_closed".to_string(), 1)]);
        assert!(
            b.account(alpha(), &counts)
                .unwrap_err()
                .contains("per-reason")
        );
        let err = b
            .account(CarrierId::parse("gamma").unwrap(), &summary(2, &[]))
            .unwrap_err();
        assert!(err.contains("not gamma's"), "{err}");
    }
}
