//! `iclear rate`: stream a CDR file through one ratesheet (SPEC §10), on every core.
//!
//! Workers judge and rate each block's rows and write their lines; the caller's thread
//! takes the blocks back in file order, applies the `duplicate` rule (the first occurrence
//! wins, so it sees rows in file order) and writes both files. The files are the same bytes
//! a row-by-row run writes. The bounded-memory prescan is shared out the same way.

use std::io::{self, Read, Write};
use std::ops::Range;

use super::RunError;
use super::blocks::{Pipeline, in_blocks};
use crate::cdr::{CdrReader, RejectReason, RowFormat};
use crate::export::{RatedFormat, RatedWriter, RejectsWriter};
use crate::intake::{IdHash, Prescan, SeenIds, Tally};
use crate::lines::LineBlock;
use crate::ratesheet::Ratesheet;
use crate::rating::ChargeOverflow;

/// The first pass of bounded-memory dedupe: notes the id of every row whose fields split
/// (a superset of the accepted rows). `expected` sizes the filter (a file's length over 40
/// is ample). Workers find and hash the ids; the filter is filled on the caller's thread.
/// Returns the filter and the bytes of the input read, the header's included.
pub fn prescan_ids<R: Read + Send>(
    input: CdrReader<R>,
    expected: u64,
    pipeline: Pipeline,
) -> Result<(Prescan, u64), RunError> {
    let (format, lines) = input.into_blocks();
    let mut pre = Prescan::new(expected);
    let read = in_blocks(
        lines,
        pipeline,
        |block| {
            let mut ids = format.rows(&block);
            // About 80 bytes a line.
            let mut hashes = Vec::with_capacity(block.bytes.len() / 64);
            while let Some(id) = ids.next_id()? {
                hashes.extend(id.map(IdHash::of));
            }
            Ok(hashes)
        },
        |hashes| {
            hashes.into_iter().for_each(|h| pre.observe_hash(h));
            Ok(())
        },
    )?;
    Ok((pre, read))
}

/// Rates every accepted row in input order and writes each rejected row with its reason;
/// `progress` hears the bytes read after each block.
pub fn rate_records<R: Read + Send, W: Write, X: Write>(
    input: CdrReader<R>,
    seen: &mut impl SeenIds,
    sheet: &Ratesheet,
    rated: &mut RatedWriter<W>,
    rejects: &mut RejectsWriter<X>,
    progress: &mut dyn FnMut(u64),
    pipeline: Pipeline,
) -> Result<Tally, RunError> {
    let (format, lines) = input.into_blocks();
    let lines_format = rated.format().clone();
    let mut tally = Tally::default();
    let read = in_blocks(
        lines,
        pipeline,
        |block| rate_block(format, sheet, &lines_format, block),
        |block| {
            write_block(&block, seen, rated, rejects, &mut tally)?;
            progress(block.block.read_to);
            Ok(())
        },
    )?;
    progress(read);
    Ok(tally)
}

/// What a worker made of one row, before the `duplicate` rule.
enum Judged {
    Rejected(RejectReason),
    /// A valid record: its id in the block's ids, and its line in the block's rated lines
    /// (or why it has none).
    Valid {
        id: Range<usize>,
        rated: Result<Range<usize>, Box<ChargeOverflow>>,
    },
}

struct JudgedRow {
    line: u64,
    /// The raw line in the block's bytes.
    raw: Range<usize>,
    judged: Judged,
}

/// A block's rows as a worker left them, in file order.
struct RatedBlock {
    block: LineBlock,
    rows: Vec<JudgedRow>,
    ids: String,
    rated: Vec<u8>,
}

fn rate_block(
    format: RowFormat,
    sheet: &Ratesheet,
    lines_format: &RatedFormat,
    block: LineBlock,
) -> io::Result<RatedBlock> {
    // Lines are about 80 bytes and rated lines about twice that.
    let mut rows = Vec::with_capacity(block.bytes.len() / 64);
    let mut ids = String::new();
    let mut rated = Vec::with_capacity(block.bytes.len() * 2);
    let mut reader = format.rows(&block);
    while let Some(row) = reader.next_row()? {
        // A block is in memory, so its offsets fit.
        let start = row.offset as usize;
        let judged = match row.outcome {
            Err(reason) => Judged::Rejected(reason),
            Ok(rec) => {
                let id = ids.len()..ids.len() + rec.record_id.len();
                ids.push_str(rec.record_id);
                let line = match sheet.rate(&rec.usage) {
                    Ok(r) => {
                        let from = rated.len();
                        lines_format.push(&mut rated, &rec, &r, sheet);
                        Ok(from..rated.len())
                    }
                    Err(e) => Err(Box::new(e)),
                };
                Judged::Valid { id, rated: line }
            }
        };
        rows.push(JudgedRow {
            line: row.line,
            raw: start..start + row.raw.len(),
            judged,
        });
    }
    Ok(RatedBlock {
        block,
        rows,
        ids,
        rated,
    })
}

/// Applies `duplicate` to a block's rows in order and writes each to its file. Rated lines
/// are written in runs: the lines of accepted rows with no duplicate between them lie
/// together in the block's rated lines.
fn write_block<W: Write, X: Write>(
    block: &RatedBlock,
    seen: &mut impl SeenIds,
    rated: &mut RatedWriter<W>,
    rejects: &mut RejectsWriter<X>,
    tally: &mut Tally,
) -> Result<(), RunError> {
    let mut run = 0..0;
    let mut flush = |run: Range<usize>| {
        rated
            .write_lines(&block.rated[run])
            .map_err(RunError::Write)
    };
    for row in &block.rows {
        let judged = match &row.judged {
            Judged::Rejected(reason) => Err(*reason),
            Judged::Valid { id, rated: line } => {
                seen.judge_id(&block.ids[id.clone()]).map(|()| line)
            }
        };
        let line = match judged {
            Err(reason) => {
                rejects
                    .write("", row.line, reason, &block.block.bytes[row.raw.clone()])
                    .map_err(RunError::Write)?;
                tally.reject(reason);
                continue;
            }
            Ok(Err(source)) => {
                // What came before the row is written, as in a row-by-row run.
                flush(run)?;
                return Err(RunError::Charge {
                    line: row.line,
                    source: (**source).clone(),
                });
            }
            Ok(Ok(line)) => line,
        };
        if line.start != run.end {
            flush(std::mem::replace(&mut run, line.start..line.start))?;
        }
        run.end = line.end;
        tally.accept();
    }
    flush(run)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::carrier::CarrierId;
    use crate::cdr::{FormatSpec, SwitchContext};
    use crate::intake::{Dedupe, ExactIds};
    use crate::money::{Currency, Rounding};
    use crate::ratesheet::SheetTerms;
    use crate::service::Service;
    use crate::time::Zone;
    use proptest::prelude::*;

    fn sheet(text: &str) -> Ratesheet {
        let terms = SheetTerms::new(
            Service::Voice,
            Currency::parse("EUR").unwrap(),
            4,
            Rounding::HalfUp,
        )
        .unwrap();
        Ratesheet::read(text.as_bytes(), terms).unwrap()
    }

    const SHEET: &str = "prefix,destination,rate,effective_from,effective_to,first_increment,next_increment,connect_fee
33,\"France, fixed\",0.0150,2026-01-01,,60,60,
49,Germany,0.0110,2026-01-01,,1,1,0.01
9,Huge,9999999999999999999999,2026-01-01,,1,1,
";

    /// What a run wrote: the rated file, the rejects file, and the tally's words; or the
    /// error, with what the two files held when it came.
    type Written = Result<(Vec<u8>, Vec<u8>, String), (String, Vec<u8>, Vec<u8>)>;

    fn files<R>(run: R) -> Written
    where
        R: FnOnce(
            &mut RatedWriter<Vec<u8>>,
            &mut RejectsWriter<Vec<u8>>,
        ) -> Result<Tally, RunError>,
    {
        let sheet = sheet(SHEET);
        let mut rated = RatedWriter::new(Vec::new(), CarrierId::parse("beta"), &sheet).unwrap();
        let mut rejects = RejectsWriter::new(Vec::new(), false).unwrap();
        let result = run(&mut rated, &mut rejects);
        let (rated, rejects) = (rated.finish().unwrap(), rejects.finish().unwrap());
        match result {
            Ok(tally) => Ok((
                rated,
                rejects,
                format!("{} {} {}", tally.rows(), tally.accepted, tally.reasons()),
            )),
            Err(e) => Err((e.to_string(), rated, rejects)),
        }
    }

    /// The rule of SPEC §10 row by row, as the one-thread engine ran it: the reference the
    /// pipeline must equal.
    fn one_by_one(input: &[u8], spec: FormatSpec) -> Written {
        let sheet = sheet(SHEET);
        files(|rated, rejects| {
            let mut reader = CdrReader::new(input, spec, CarrierId::parse("beta")).unwrap();
            let mut seen = ExactIds::default();
            let mut tally = Tally::default();
            while let Some(row) = reader.next_row().map_err(RunError::Read)? {
                match seen.judge(row.outcome) {
                    Ok(rec) => {
                        let r = sheet.rate(&rec.usage).map_err(|source| RunError::Charge {
                            line: row.line,
                            source,
                        })?;
                        rated.write(&rec, &r, &sheet).map_err(RunError::Write)?;
                        tally.accept();
                    }
                    Err(reason) => {
                        rejects
                            .write("", row.line, reason, row.raw)
                            .map_err(RunError::Write)?;
                        tally.reject(reason);
                    }
                }
            }
            Ok(tally)
        })
    }

    fn piped(input: &[u8], spec: FormatSpec, pipeline: Pipeline) -> Written {
        piped_with(input, spec, pipeline, false)
    }

    /// With `screened`, dedupe as for a large file: a prescan (in blocks too) first.
    fn piped_with(input: &[u8], spec: FormatSpec, pipeline: Pipeline, screened: bool) -> Written {
        let sheet = sheet(SHEET);
        let beta = CarrierId::parse("beta");
        let reader = || CdrReader::new(input, spec, beta).unwrap();
        let mut seen = if screened {
            // Sized for few ids, so that the filter's false positives are tried too.
            Dedupe::Screened(prescan_ids(reader(), 1, pipeline).unwrap().0.finish())
        } else {
            Dedupe::Exact(ExactIds::default())
        };
        files(|rated, rejects| {
            let mut last = 0;
            let tally = rate_records(
                reader(),
                &mut seen,
                &sheet,
                rated,
                rejects,
                &mut |b| {
                    assert!(b >= last, "progress went back from {last} to {b}");
                    last = b;
                },
                pipeline,
            )?;
            assert_eq!(last, input.len() as u64, "progress ends at the input's end");
            Ok(tally)
        })
    }

    /// Native rows: valid ones (with ids that repeat), every kind of reject, blank lines,
    /// quoted fields, invalid UTF-8.
    const NATIVE_ROWS: &[&str] = &[
        "A1,voice,alpha,beta,+33 1 4000 0000,0049301111111,2026-10-01T10:00:00Z,61",
        "A2,voice,alpha,beta,0033140000000,+49 30 111,2026-10-01T10:00:00+02:00,1",
        "A3,voice,beta,alpha,33140000000,4930111,2026-10-02T23:59:59Z,3600",
        "\"A,4\",voice,alpha,beta,33140000000,4930111,2026-10-02T23:59:59Z,3600",
        "A5,voice,alpha,beta,33140000000,8930111,2026-10-02T23:59:59Z,30",
        "A6,sms,alpha,beta,33140000000,4930111,2026-10-02T23:59:59Z,1",
        "A7,voice,alpha,beta,33140000000,999999,2026-10-02T00:00:00Z,1",
        "A8,voice,alpha,alpha,33140000000,4930111,2026-10-02T23:59:59Z,3",
        "A9,voice,alpha,gamma,33140000000,4930111,2026-10-02T23:59:59Z,3",
        "A10,voice,alpha,beta,33x,4930111,2026-10-02T23:59:59Z,3",
        "A11,voice,alpha,beta,33140000000,4930111,2026-13-02T23:59:59Z,3",
        "A12,voice,alpha,beta,33140000000,4930111,2026-10-02T23:59:59Z,-3",
        "A13,fax,alpha,beta,33140000000,4930111,2026-10-02T23:59:59Z,3",
        ",voice,alpha,beta,33140000000,4930111,2026-10-02T23:59:59Z,3",
        "A14,voice,alpha,beta",
        "\"A15,voice",
        "A16,voice,alpha,beta,33140000000,4930111,2026-10-02T23:59:59Z,3\u{fffd}",
        "A17,voice,alpha,beta,33140000000,4930111,2026-10-02T23:59:59Z,3\u{0}",
        "",
        "  \t",
    ];

    /// A row whose charge does not fit in 28 digits: A7 again, for longer.
    const NATIVE_HUGE: &str =
        "A7,voice,alpha,beta,33140000000,999999,2026-10-02T00:00:00Z,99999999999";

    const NATIVE_HEADER: &str =
        "record_id,service,orig_carrier,term_carrier,a_number,b_number,start_time,units";

    /// The switch formats have no header: the first line is a row.
    const ASTERISK_FILE: &str = include_str!("../../../fixtures/small/asterisk/Master.csv");

    const ASTERISK_HUGE: &str = "\"alpha-sip\",\"+4930111222\",\"999999\",\"from-internal\",\"\",\"SIP/a\",\"SIP/b\",\"Dial\",\"\",\"2026-10-12 14:03:27\",\"2026-10-12 14:03:31\",\"2026-10-12 14:05:36\",129,99999999999,\"ANSWERED\",\"DOCUMENTATION\",\"huge.1\",\"\"";

    /// One row in a hundred (pick 0) is `huge`, which stops the run.
    fn file(
        rows: &[&str],
        huge: &str,
        header: Option<&str>,
        picks: &[(usize, bool)],
        bom: bool,
        end: bool,
    ) -> Vec<u8> {
        let mut out = Vec::new();
        if bom {
            out.extend_from_slice(b"\xEF\xBB\xBF");
        }
        if let Some(h) = header {
            out.extend_from_slice(h.as_bytes());
            out.push(b'\n');
        }
        for (k, &(pick, crlf)) in picks.iter().enumerate() {
            let row = if pick == 0 {
                huge
            } else {
                rows[pick % rows.len()]
            };
            out.extend_from_slice(row.as_bytes());
            if k + 1 < picks.len() || end {
                out.extend_from_slice(if crlf { b"\r\n" } else { b"\n" });
            }
        }
        out
    }

    fn native(picks: &[usize]) -> Vec<u8> {
        let picks: Vec<(usize, bool)> = picks.iter().map(|&p| (p, false)).collect();
        file(
            NATIVE_ROWS,
            NATIVE_HUGE,
            Some(NATIVE_HEADER),
            &picks,
            false,
            true,
        )
    }

    fn asterisk() -> FormatSpec {
        FormatSpec::Asterisk(SwitchContext {
            orig: CarrierId::parse("alpha").unwrap(),
            term: CarrierId::parse("beta").unwrap(),
            // The fixture's switch was in Berlin: one of its rows is in the spring gap.
            zone: Zone::Named(chrono_tz::Europe::Berlin),
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        #[test]
        fn the_pipeline_writes_what_a_row_by_row_run_writes(
            picks in proptest::collection::vec((0usize..100, any::<bool>()), 0..80),
            bom in any::<bool>(),
            end in any::<bool>(),
            native in any::<bool>(),
            workers in 1usize..5,
            block in 0usize..400,
            screened in any::<bool>(),
        ) {
            let asterisk_rows: Vec<&str> = ASTERISK_FILE.lines().collect();
            let (input, spec) = if native {
                (file(NATIVE_ROWS, NATIVE_HUGE, Some(NATIVE_HEADER), &picks, bom, end), FormatSpec::Native)
            } else {
                (file(&asterisk_rows, ASTERISK_HUGE, None, &picks, bom, end), asterisk())
            };
            let want = one_by_one(&input, spec);
            let got = piped_with(&input, spec, Pipeline { workers, block }, screened);
            prop_assert_eq!(got, want);
        }
    }

    #[test]
    fn the_rows_cover_every_outcome() {
        // The proptest above is only as good as its rows: they reach every reason but
        // `period_closed` (which `iclear rate` does not judge), ratings and no_rate.
        let picks: Vec<usize> = (1..NATIVE_ROWS.len()).chain([1, 1]).collect();
        let (rated, rejects, words) = one_by_one(&native(&picks), FormatSpec::Native).unwrap();
        let rated = String::from_utf8(rated).unwrap();
        assert!(
            rated.contains(",rated\n") && rated.contains(",no_rate\n"),
            "{rated}"
        );
        for reason in [
            "bad_row",
            "bad_record_id",
            "bad_service",
            "bad_carrier",
            "not_party",
            "bad_number",
            "bad_time",
            "bad_units",
            "duplicate",
        ] {
            assert!(words.contains(reason), "{reason} missing from {words}");
        }
        assert!(String::from_utf8(rejects).unwrap().contains('\u{fffd}'));
        let asterisk_rows: Vec<&str> = ASTERISK_FILE.lines().collect();
        let picks: Vec<(usize, bool)> = (1..asterisk_rows.len()).map(|p| (p, false)).collect();
        let input = file(&asterisk_rows, ASTERISK_HUGE, None, &picks, false, true);
        let (_, _, words) = one_by_one(&input, asterisk()).unwrap();
        assert!(
            words.contains("bad_row") && words.contains("bad_time"),
            "{words}"
        );
    }

    #[test]
    fn an_overflowing_charge_stops_the_run_at_its_line_unless_the_row_is_a_duplicate() {
        let input = native(&[1, 2, 0, 3]);
        let want = one_by_one(&input, FormatSpec::Native);
        assert_eq!(
            want.as_ref()
                .err()
                .map(|e| e.0.starts_with("line 4: the charge")),
            Some(true),
            "{want:?}"
        );
        for workers in 1..4 {
            let got = piped(&input, FormatSpec::Native, Pipeline { workers, block: 1 });
            assert_eq!(got, want);
        }
        // After A7 was accepted, the huge A7 is a duplicate: never rated, so no error.
        let input = native(&[6, 0, 3]);
        let want = one_by_one(&input, FormatSpec::Native);
        assert!(
            want.as_ref().is_ok_and(|w| w.2.contains("duplicate")),
            "{want:?}"
        );
        assert_eq!(
            piped(
                &input,
                FormatSpec::Native,
                Pipeline {
                    workers: 2,
                    block: 1
                }
            ),
            want
        );
    }

    /// Fails its reads after `ok` bytes.
    struct Broken<'a>(&'a [u8], usize);

    impl Read for Broken<'_> {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            if self.1 == 0 {
                return Err(io::Error::other("the disk went away"));
            }
            let n = out.len().min(self.0.len()).min(self.1);
            out[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            self.1 -= n;
            Ok(n)
        }
    }

    #[test]
    fn a_read_error_is_the_runs_error() {
        let picks: Vec<usize> = (0..2000).map(|i| 1 + i % 3).collect();
        let input = native(&picks);
        let sheet = sheet(SHEET);
        let got = files(|rated, rejects| {
            let reader = CdrReader::new(Broken(&input, 100_000), FormatSpec::Native, None).unwrap();
            rate_records(
                reader,
                &mut ExactIds::default(),
                &sheet,
                rated,
                rejects,
                &mut |_| {},
                Pipeline {
                    workers: 2,
                    block: 4096,
                },
            )
        });
        assert_eq!(
            got.map_err(|e| e.0),
            Err("cannot read: the disk went away".to_string())
        );
    }
}
