//! Cutting valid records into per-counterparty batches of native CSV (SPEC §2.1), each
//! remembering where its rows came from so the ledger's verdicts can be written back with
//! the file's line numbers and raw lines.

use std::collections::BTreeMap;

use settlement::carrier::CarrierId;
use settlement::cdr::CdrView;
use settlement::export::{NATIVE_HEADER, push_native_record};

/// Where one row of a batch came from in the file.
#[derive(Debug)]
pub(crate) struct Origin {
    /// The file's line number (the header, if any, is line 1).
    pub line: u64,
    /// The raw line, without its line ending.
    pub raw: Box<[u8]>,
}

/// Records for one counterparty, serialised as a native CSV file.
#[derive(Debug)]
pub(crate) struct Batch {
    /// The other carrier of every record.
    pub counterparty: CarrierId,
    /// Header and rows.
    pub csv: Vec<u8>,
    /// Row `i` of the batch (batch line `i + 2`) came from `origins[i]`.
    pub origins: Vec<Origin>,
    /// How far the reader was into the file when the batch was cut, for progress.
    pub bytes_read: u64,
}

impl Batch {
    fn new(counterparty: CarrierId, capacity: usize) -> Self {
        let mut csv = Vec::with_capacity(NATIVE_HEADER.len() + capacity * 96);
        csv.extend_from_slice(NATIVE_HEADER.as_bytes());
        Batch {
            counterparty,
            csv,
            origins: Vec::with_capacity(capacity),
            bytes_read: 0,
        }
    }

    /// The file line of the batch's first row, for messages.
    pub fn first_line(&self) -> u64 {
        self.origins.first().map_or(0, |o| o.line)
    }

    /// The origin of the row at `batch_line` (the batch's header is line 1).
    pub fn origin(&self, batch_line: u64) -> Option<&Origin> {
        let i = usize::try_from(batch_line.checked_sub(2)?).ok()?;
        self.origins.get(i)
    }

    fn push(&mut self, rec: &CdrView<'_>, line: u64, raw: &[u8]) {
        push_native_record(&mut self.csv, rec);
        self.origins.push(Origin {
            line,
            raw: raw.into(),
        });
    }
}

/// The open batch of each counterparty; a batch is handed out as soon as it is full.
#[derive(Debug)]
pub(crate) struct Batcher {
    size: usize,
    open: BTreeMap<CarrierId, Batch>,
}

impl Batcher {
    /// Batches of at most `size` records (at least one).
    pub fn new(size: usize) -> Self {
        Batcher {
            size: size.max(1),
            open: BTreeMap::new(),
        }
    }

    /// Adds a record; returns its counterparty's batch when this record filled it.
    pub fn push(
        &mut self,
        counterparty: CarrierId,
        rec: &CdrView<'_>,
        line: u64,
        raw: &[u8],
        bytes_read: u64,
    ) -> Option<Batch> {
        let size = self.size;
        let batch = self
            .open
            .entry(counterparty)
            .or_insert_with(|| Batch::new(counterparty, size));
        batch.push(rec, line, raw);
        if batch.origins.len() < size {
            return None;
        }
        let mut full = self.open.remove(&counterparty)?;
        full.bytes_read = bytes_read;
        Some(full)
    }

    /// The partly filled batches left at the end of the file, in counterparty order.
    pub fn finish(self, bytes_read: u64) -> Vec<Batch> {
        self.open
            .into_values()
            .map(|mut b| {
                b.bytes_read = bytes_read;
                b
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use settlement::cdr::{CdrReader, FormatSpec};

    const ROWS: &str =
        "units,start_time,b_number,a_number,term_carrier,orig_carrier,service,record_id
0060,2026-10-01T12:00:00.9+02:00,+49 (30) 123-456,0044 1234 567,beta,alpha,voice,\"R,\"\"1\"\"\"
7,2026-10-01T10:00:00Z,4930123456,441234567,alpha,gamma,sms,R2
1,2026-10-01T10:00:00Z,4930123456,441234567,alpha,beta,data,R3
";

    fn alpha() -> CarrierId {
        CarrierId::parse("alpha").unwrap()
    }

    /// Every record of `input` (native) pushed through a batcher of `size`.
    fn batches(input: &str, size: usize) -> Vec<Batch> {
        let mut r = CdrReader::new(input.as_bytes(), FormatSpec::Native, Some(alpha())).unwrap();
        let mut b = Batcher::new(size);
        let mut out = vec![];
        while let Some(row) = r.next_row().unwrap() {
            let rec = row.outcome.unwrap();
            let cp = if rec.usage.orig == alpha() {
                rec.usage.term
            } else {
                rec.usage.orig
            };
            out.extend(b.push(cp, &rec, row.line, row.raw, 0));
        }
        out.extend(b.finish(0));
        out
    }

    #[test]
    fn records_are_normalised_quoted_and_read_back_alike() {
        let all = batches(ROWS, 10);
        let text: Vec<_> = all
            .iter()
            .map(|b| String::from_utf8(b.csv.clone()).unwrap())
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
        // What the contract reads from a batch is what the reader read from the file.
        let mut original = CdrReader::new(ROWS.as_bytes(), FormatSpec::Native, None).unwrap();
        let mut want = vec![];
        while let Some(row) = original.next_row().unwrap() {
            let rec = row.outcome.unwrap();
            want.push((row.line, rec.to_owned()));
        }
        let mut got = vec![];
        for b in &all {
            let mut r = CdrReader::new(&b.csv[..], FormatSpec::Native, None).unwrap();
            while let Some(row) = r.next_row().unwrap() {
                let origin = b.origin(row.line).unwrap();
                got.push((origin.line, row.outcome.unwrap().to_owned()));
            }
        }
        got.sort_by_key(|(line, _)| *line);
        assert_eq!(got, want);
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
            .map(|b| {
                let lines: Vec<u64> = b.origins.iter().map(|o| o.line).collect();
                (b.counterparty.to_string(), lines)
            })
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
        assert_eq!(b.origin(2).map(|o| o.line), Some(2));
        assert_eq!(b.origin(4).map(|o| o.line), Some(5));
        assert!(b.origin(5).is_none() && b.origin(1).is_none() && b.origin(0).is_none());
    }
}
