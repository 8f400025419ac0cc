//! The export files of SPEC §9, byte for byte.

use std::io::{self, Write};

use rust_decimal::Decimal;
use serde::Serialize;

use crate::carrier::CarrierId;
use crate::cdr::{CdrView, RejectReason, Usage};
use crate::money::{Currency, FixedBuf, format_fixed, write_fixed};
use crate::ratesheet::Ratesheet;
use crate::rating::Rated;
use crate::reconcile::{Outcome, Pairing, SideRecord};
use crate::statement::Statement;

/// A CSV writer with `\n` line endings and quotes only where needed; its buffer is large
/// so that it writes through any smaller buffer beneath it in big blocks.
pub fn csv_writer<W: Write>(w: W) -> csv::Writer<W> {
    csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .buffer_capacity(1 << 20)
        .from_writer(w)
}

fn io_err(e: csv::Error) -> io::Error {
    match e.into_kind() {
        csv::ErrorKind::Io(e) => e,
        other => io::Error::other(format!("{other:?}")),
    }
}

/// The raw line as text with each byte that is not valid UTF-8 replaced by U+FFFD (SPEC §9:
/// one per byte, where `from_utf8_lossy` would write one per invalid sequence).
pub fn replace_invalid_bytes(raw: &[u8]) -> std::borrow::Cow<'_, str> {
    if let Ok(s) = std::str::from_utf8(raw) {
        return s.into();
    }
    let mut out = String::with_capacity(raw.len() + 8);
    for chunk in raw.utf8_chunks() {
        out.push_str(chunk.valid());
        out.extend(std::iter::repeat_n('\u{FFFD}', chunk.invalid().len()));
    }
    out.into()
}

/// The rejects file: `[side,]line,reason,raw`.
pub struct RejectsWriter<W: Write> {
    csv: csv::Writer<W>,
    with_side: bool,
}

impl<W: Write> RejectsWriter<W> {
    /// Starts the file and writes its header; `with_side` adds the `side` column of
    /// `iclear reconcile`.
    pub fn new(w: W, with_side: bool) -> io::Result<Self> {
        let mut csv = csv_writer(w);
        if with_side {
            csv.write_record(["side", "line", "reason", "raw"])
                .map_err(io_err)?;
        } else {
            csv.write_record(["line", "reason", "raw"])
                .map_err(io_err)?;
        }
        Ok(RejectsWriter { csv, with_side })
    }

    /// One rejected row; invalid UTF-8 in `raw` becomes U+FFFD.
    pub fn write(
        &mut self,
        side: &str,
        line: u64,
        reason: RejectReason,
        raw: &[u8],
    ) -> io::Result<()> {
        if self.with_side {
            self.csv.write_field(side).map_err(io_err)?;
        }
        let mut n = itoa::Buffer::new();
        self.csv.write_field(n.format(line)).map_err(io_err)?;
        self.csv.write_field(reason.as_str()).map_err(io_err)?;
        self.csv
            .write_field(replace_invalid_bytes(raw).as_bytes())
            .map_err(io_err)?;
        self.csv.write_record(None::<&[u8]>).map_err(io_err)
    }

    /// Flushes and returns the inner writer.
    pub fn finish(self) -> io::Result<W> {
        self.csv.into_inner().map_err(|e| e.into_error())
    }
}

/// Appends one CSV field, quoted exactly when the csv crate's "necessary" style would
/// (it holds `,`, `"`, `\r` or `\n`), so the bytes equal those of [`csv_writer`].
pub fn push_field(line: &mut Vec<u8>, field: &[u8]) {
    if field
        .iter()
        .any(|b| matches!(b, b',' | b'"' | b'\r' | b'\n'))
    {
        line.push(b'"');
        for &b in field {
            if b == b'"' {
                line.push(b'"');
            }
            line.push(b);
        }
        line.push(b'"');
    } else {
        line.extend_from_slice(field);
    }
}

/// The header of a native CSV file (SPEC §2.1) as iclear writes one.
pub const NATIVE_HEADER: &str =
    "record_id,service,orig_carrier,term_carrier,a_number,b_number,start_time,units\n";

/// How [`push_usage`] writes a number.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Numbers {
    /// The normalised digits, as every export writes them (SPEC §9).
    Digits,
    /// As [`crate::number::Number::push_parsable`] writes them: read again, a line gives back the same
    /// numbers (SPEC §2.3).
    ReadAgain,
}

/// Appends `,service,orig_carrier,term_carrier,a_number,b_number,start_time,units`: what a
/// record measured, in the order both the native format and the rated export write it.
fn push_usage(out: &mut Vec<u8>, u: &Usage, numbers: Numbers) {
    let (service, orig, term) = (u.service.as_str(), u.orig.as_str(), u.term.as_str());
    for f in [service.as_bytes(), orig.as_bytes(), term.as_bytes()] {
        out.push(b',');
        out.extend_from_slice(f);
    }
    for n in [u.a_number, u.b_number] {
        out.push(b',');
        match numbers {
            Numbers::Digits => out.extend_from_slice(n.digits()),
            Numbers::ReadAgain => n.push_parsable(out),
        }
    }
    for f in [
        u.start.write_utc(&mut [0; 20]).as_bytes(),
        itoa::Buffer::new().format(u.units).as_bytes(),
    ] {
        out.push(b',');
        out.extend_from_slice(f);
    }
}

/// Appends one record as a line of native CSV under [`NATIVE_HEADER`], as iclear hands a
/// judged record on to be read again (a batch's lines, a message's): normalised numbers
/// (a `+` before one that begins with `00`, so that it reads back the same),
/// `YYYY-MM-DDTHH:MM:SSZ` times.
pub fn push_native_record(out: &mut Vec<u8>, rec: &CdrView<'_>) {
    push_field(out, rec.record_id.as_bytes());
    push_usage(out, &rec.usage, Numbers::ReadAgain);
    out.push(b'\n');
}

/// Output is handed to the writer beneath in blocks of about this size.
const BLOCK: usize = 1 << 20;

/// How each line of the rated records file of `iclear rate` is written, without the generic
/// CSV machinery: all but two fields are digits, ids or fixed words that never need quotes.
/// Threads that rate parts of one file each format their lines with a copy.
#[derive(Debug, Clone)]
pub struct RatedFormat {
    reporter: String,
    currency: Currency,
    decimals: u32,
}

impl RatedFormat {
    /// Lines of records reported by `reporter` (empty when none), charged in `sheet`'s terms.
    pub fn new(reporter: Option<CarrierId>, sheet: &Ratesheet) -> Self {
        let mut format = RatedFormat {
            reporter: String::new(),
            currency: sheet.terms().currency,
            decimals: sheet.terms().decimals,
        };
        format.set_reporter(reporter);
        format
    }

    /// The reporter written on the lines that follow (empty when none).
    fn set_reporter(&mut self, reporter: Option<CarrierId>) {
        self.reporter = reporter.map(|r| r.to_string()).unwrap_or_default();
    }

    /// Appends one rated record's line.
    pub fn push(&self, b: &mut Vec<u8>, rec: &CdrView<'_>, rated: &Rated, sheet: &Ratesheet) {
        let u = &rec.usage;
        let row = rated.row.map(|i| sheet.row(i));
        push_field(b, rec.record_id.as_bytes());
        b.push(b',');
        b.extend_from_slice(self.reporter.as_bytes());
        push_usage(b, u, Numbers::Digits);
        b.push(b',');
        b.extend_from_slice(row.map_or(&b""[..], |r| r.prefix.as_bytes()));
        b.push(b',');
        push_field(b, row.map_or(&b""[..], |r| r.destination.as_bytes()));
        let mut money: FixedBuf = [0; 48];
        for f in [
            itoa::Buffer::new().format(rated.billable).as_bytes(),
            row.map_or(&b""[..], |r| r.rate_text.as_bytes()),
            write_fixed(rated.charge, self.decimals, &mut money).as_bytes(),
            self.currency.as_str().as_bytes(),
            if row.is_some() { b"rated" } else { b"no_rate" },
        ] {
            b.push(b',');
            b.extend_from_slice(f);
        }
        b.push(b'\n');
    }
}

/// The rated records file of `iclear rate`.
pub struct RatedWriter<W: Write> {
    out: W,
    block: Vec<u8>,
    format: RatedFormat,
}

const RATED_HEADER: &str = "record_id,reporter,service,orig_carrier,term_carrier,a_number,b_number,start_time,units,prefix,destination,billable_units,rate,charge,currency,status\n";

impl<W: Write> RatedWriter<W> {
    /// Starts the file and writes its header.
    pub fn new(out: W, reporter: Option<CarrierId>, sheet: &Ratesheet) -> io::Result<Self> {
        let mut block = Vec::with_capacity(BLOCK + 4096);
        block.extend_from_slice(RATED_HEADER.as_bytes());
        Ok(RatedWriter {
            out,
            block,
            format: RatedFormat::new(reporter, sheet),
        })
    }

    /// The reporter written on the records that follow.
    pub fn set_reporter(&mut self, reporter: Option<CarrierId>) {
        self.format.set_reporter(reporter);
    }

    /// How this file's lines are written.
    pub fn format(&self) -> &RatedFormat {
        &self.format
    }

    /// One rated record.
    pub fn write(&mut self, rec: &CdrView<'_>, rated: &Rated, sheet: &Ratesheet) -> io::Result<()> {
        self.format.push(&mut self.block, rec, rated, sheet);
        self.hand_on()
    }

    /// Lines [`RatedWriter::format`] wrote elsewhere; a block's worth or more goes to the
    /// writer beneath without a copy.
    pub fn write_lines(&mut self, lines: &[u8]) -> io::Result<()> {
        if lines.len() < BLOCK {
            self.block.extend_from_slice(lines);
            return self.hand_on();
        }
        self.out.write_all(&self.block)?;
        self.block.clear();
        self.out.write_all(lines)
    }

    fn hand_on(&mut self) -> io::Result<()> {
        if self.block.len() >= BLOCK {
            self.out.write_all(&self.block)?;
            self.block.clear();
        }
        Ok(())
    }

    /// Writes what is left and returns the inner writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.out.write_all(&self.block)?;
        self.out.flush()?;
        Ok(self.out)
    }
}

/// `discrepancies.csv`: every pairing but `matched`, in the pairings' canonical order.
pub fn write_discrepancies<W: Write>(
    w: W,
    payer: &[SideRecord],
    payee: &[SideRecord],
    pairings: &[Pairing],
    decimals: u32,
) -> io::Result<W> {
    let mut file = DiscrepancyWriter::new(w, decimals)?;
    file.add(payer, payee, pairings)?;
    file.finish()
}

/// `discrepancies.csv` written a part of the pairings at a time: parts added in canonical
/// order make the same bytes as [`write_discrepancies`] of them all.
pub struct DiscrepancyWriter<W: Write> {
    csv: csv::Writer<W>,
    decimals: u32,
}

impl<W: Write> DiscrepancyWriter<W> {
    /// Starts the file and writes its header; charges get `decimals` places.
    pub fn new(w: W, decimals: u32) -> io::Result<Self> {
        let mut csv = csv_writer(w);
        csv.write_record([
            "outcome",
            "payer_record_id",
            "payee_record_id",
            "a_number",
            "b_number",
            "payer_start_time",
            "payee_start_time",
            "payer_units",
            "payee_units",
            "payer_charge",
            "payee_charge",
            "charge_delta",
        ])
        .map_err(io_err)?;
        Ok(DiscrepancyWriter { csv, decimals })
    }

    /// Writes the rows of `pairings`, whose indices point into `payer` and `payee`.
    pub fn add(
        &mut self,
        payer: &[SideRecord],
        payee: &[SideRecord],
        pairings: &[Pairing],
    ) -> io::Result<()> {
        for p in pairings {
            self.add_one(payer, payee, p)?;
        }
        Ok(())
    }

    /// Writes the row of one pairing, if it has one (a match has none), and gives the record
    /// whose numbers the row has (the payee's, else the payer's) when it wrote one.
    pub fn add_one<'a>(
        &mut self,
        payer: &'a [SideRecord],
        payee: &'a [SideRecord],
        p: &Pairing,
    ) -> io::Result<Option<&'a SideRecord>> {
        if p.outcome == Outcome::Matched {
            return Ok(None);
        }
        let pr = p.payer.map(|k| &payer[k as usize]);
        let q = p.payee.map(|k| &payee[k as usize]);
        let Some(any) = q.or(pr) else {
            return Ok(None);
        };
        let side = |r: Option<&SideRecord>| -> [String; 4] {
            match r {
                Some(r) => [
                    r.record_id.to_string(),
                    r.start.to_string(),
                    r.units.to_string(),
                    format_fixed(r.rated.charge, self.decimals),
                ],
                None => Default::default(),
            }
        };
        let [pid, pstart, punits, pcharge] = side(pr);
        let [qid, qstart, qunits, qcharge] = side(q);
        let charge = |r: Option<&SideRecord>| r.map_or(Decimal::ZERO, |r| r.rated.charge);
        let delta = format_fixed(charge(q) - charge(pr), self.decimals);
        self.csv
            .write_record([
                p.outcome.as_str(),
                &pid,
                &qid,
                any.a_number.as_str(),
                any.b_number.as_str(),
                &pstart,
                &qstart,
                &punits,
                &qunits,
                &pcharge,
                &qcharge,
                &delta,
            ])
            .map_err(io_err)?;
        Ok(Some(any))
    }

    /// The writer, with every row written so far flushed to it.
    pub fn written(&mut self) -> io::Result<&W> {
        self.csv.flush()?;
        Ok(self.csv.get_ref())
    }

    /// Writes what is left and returns the inner writer.
    pub fn finish(self) -> io::Result<W> {
        self.csv.into_inner().map_err(|e| e.into_error())
    }
}

/// `statement.csv`: one row per line, in byte order of the destination.
pub fn write_statement<W: Write>(w: W, st: &Statement, decimals: u32) -> io::Result<W> {
    let mut csv = csv_writer(w);
    csv.write_record([
        "destination",
        "payer_count",
        "payer_units",
        "payer_charge",
        "payee_count",
        "payee_units",
        "payee_charge",
        "variance",
        "variance_pct",
    ])
    .map_err(io_err)?;
    for l in &st.lines {
        csv.write_record([
            l.destination.clone(),
            l.payer.count.to_string(),
            l.payer.units.to_string(),
            format_fixed(l.payer.charge, decimals),
            l.payee.count.to_string(),
            l.payee.units.to_string(),
            format_fixed(l.payee.charge, decimals),
            format_fixed(l.variance(), decimals),
            l.variance_pct()
                .map(|p| format_fixed(p, 2))
                .unwrap_or_default(),
        ])
        .map_err(io_err)?;
    }
    csv.into_inner().map_err(|e| e.into_error())
}

/// The outcome counts of `summary.json`, every outcome present.
#[derive(Serialize)]
struct Outcomes {
    matched: u64,
    units_mismatch: u64,
    missing_at_payer: u64,
    missing_at_payee: u64,
    no_rate: u64,
}

/// `summary.json`, keys in the SPEC's order.
#[derive(Serialize)]
struct Summary<'a> {
    payer: &'a str,
    payee: &'a str,
    service: &'a str,
    from: &'a str,
    to: &'a str,
    currency: &'a str,
    payer_total: String,
    payee_total: String,
    variance_total: String,
    variance_pct: Option<String>,
    amount_billed: String,
    status: String,
    outcomes: Outcomes,
    out_of_scope: u64,
    rejected: u64,
}

/// What `summary.json` says besides the statement itself.
#[derive(Debug, Clone)]
pub struct SummaryContext<'a> {
    /// The payer.
    pub payer: CarrierId,
    /// The payee.
    pub payee: CarrierId,
    /// The service.
    pub service: crate::service::Service,
    /// `from` as the user gave it.
    pub from_text: &'a str,
    /// `to` as the user gave it.
    pub to_text: &'a str,
    /// The sheet's currency.
    pub currency: Currency,
    /// The sheet's decimals.
    pub decimals: u32,
    /// Valid rows left out of the statement's scope, both files.
    pub out_of_scope: u64,
    /// Rejected rows, both files.
    pub rejected: u64,
}

/// `summary.json`, pretty-printed, with a final newline.
pub fn write_summary<W: Write>(
    mut w: W,
    st: &Statement,
    ctx: &SummaryContext<'_>,
) -> io::Result<W> {
    let o = st.outcomes;
    let s = Summary {
        payer: ctx.payer.as_str(),
        payee: ctx.payee.as_str(),
        service: ctx.service.as_str(),
        from: ctx.from_text,
        to: ctx.to_text,
        currency: ctx.currency.as_str(),
        payer_total: format_fixed(st.payer_total, ctx.decimals),
        payee_total: format_fixed(st.payee_total, ctx.decimals),
        variance_total: format_fixed(st.variance_total(), ctx.decimals),
        variance_pct: st.variance_pct().map(|p| format_fixed(p, 2)),
        amount_billed: format_fixed(st.amount_billed, ctx.currency.minor_unit()),
        status: st.status.to_string(),
        outcomes: Outcomes {
            matched: o[0],
            units_mismatch: o[1],
            missing_at_payer: o[2],
            missing_at_payee: o[3],
            no_rate: o[4],
        },
        out_of_scope: ctx.out_of_scope,
        rejected: ctx.rejected,
    };
    serde_json::to_writer_pretty(&mut w, &s).map_err(io::Error::other)?;
    w.write_all(b"\n")?;
    Ok(w)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rated_lines_written_elsewhere_keep_their_order_whatever_their_size() {
        let terms = crate::ratesheet::SheetTerms::new(
            crate::service::Service::Voice,
            Currency::parse("EUR").unwrap(),
            4,
            crate::money::Rounding::HalfUp,
        )
        .unwrap();
        let sheet = Ratesheet::read(
            &b"prefix,destination,rate,effective_from,effective_to,first_increment,next_increment,connect_fee\n\
               33,France,0.0150,2026-01-01,,60,60,\n"[..],
            terms,
        )
        .unwrap();
        let mut w = RatedWriter::new(Vec::new(), None, &sheet).unwrap();
        let mut want = RATED_HEADER.as_bytes().to_vec();
        // Small, then one larger than a block (written through), then small, then one
        // that fills the block.
        for (n, fill) in [(10, b'a'), (BLOCK + 5, b'b'), (7, b'c'), (BLOCK - 3, b'd')] {
            let lines = vec![fill; n];
            w.write_lines(&lines).unwrap();
            want.extend_from_slice(&lines);
        }
        assert!(w.finish().unwrap() == want);
    }

    #[test]
    fn native_records_read_back_as_they_were() {
        let text = format!(
            "{NATIVE_HEADER}\"id,1\",voice,alpha,beta,+44 20 7946 0000,0049151234567,2026-10-01T01:00:00+01:00,0061\n"
        );
        let mut r =
            crate::cdr::CdrReader::new(text.as_bytes(), crate::cdr::FormatSpec::Native, None)
                .unwrap();
        let row = r.next_row().unwrap().unwrap();
        let rec = row.outcome.unwrap();
        let mut out = NATIVE_HEADER.as_bytes().to_vec();
        push_native_record(&mut out, &rec);
        let written = String::from_utf8(out).unwrap();
        assert_eq!(
            written.lines().nth(1),
            Some("\"id,1\",voice,alpha,beta,442079460000,49151234567,2026-10-01T00:00:00Z,61")
        );
        let mut again =
            crate::cdr::CdrReader::new(written.as_bytes(), crate::cdr::FormatSpec::Native, None)
                .unwrap();
        assert_eq!(
            again
                .next_row()
                .unwrap()
                .unwrap()
                .outcome
                .unwrap()
                .to_owned(),
            rec.to_owned()
        );
    }

    #[test]
    fn invalid_bytes_each_become_a_replacement_character() {
        // A truncated four-byte sequence is three invalid bytes, then a stray 0xFF.
        assert_eq!(
            replace_invalid_bytes(b"a\xF0\x9F\x98b\xFFc"),
            "a\u{FFFD}\u{FFFD}\u{FFFD}b\u{FFFD}c"
        );
        assert_eq!(replace_invalid_bytes("é,x".as_bytes()), "é,x");
    }

    proptest! {
        #[test]
        fn own_quoting_equals_the_csv_crate(fields in proptest::collection::vec("[a,\"\r\n é]{0,8}", 1..6)) {
            let mut ours = Vec::new();
            for (i, f) in fields.iter().enumerate() {
                if i > 0 {
                    ours.push(b',');
                }
                push_field(&mut ours, f.as_bytes());
            }
            ours.push(b'\n');
            let mut theirs = csv_writer(Vec::new());
            theirs.write_record(&fields).unwrap();
            let theirs = theirs.into_inner().unwrap();
            // The csv crate quotes a lone empty field so that the row is not blank.
            if !(fields.len() == 1 && fields[0].is_empty()) {
                prop_assert_eq!(ours, theirs);
            }
        }
    }
}
