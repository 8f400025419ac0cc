//! Criterion benchmarks of the engine's hot paths, on data made in memory (no file I/O):
//! parsing and rating CDRs on one core, loading a million-row ratesheet, and matching.

use std::fmt::Write;
use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use settlement::carrier::CarrierId;
use settlement::cdr::{CdrReader, FormatSpec};
use settlement::fields::Fields;
use settlement::intake::{ExactIds, SeenIds};
use settlement::money::{Currency, Rounding};
use settlement::offline::load_side;
use settlement::period::Period;
use settlement::ratesheet::{Ratesheet, SheetTerms};
use settlement::reconcile::{MatchRules, match_records};
use settlement::service::Service;
use settlement::statement::StatementScope;

const RECORDS: usize = 200_000;

/// A small deterministic generator (xorshift), enough to spread numbers and times.
struct Xs(u64);

impl Xs {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn terms() -> SheetTerms {
    SheetTerms::new(
        Service::Voice,
        Currency::parse("EUR").unwrap(),
        4,
        Rounding::HalfUp,
    )
    .unwrap()
}

/// A deck of `rows` prefixes under 40 country codes, with a rate change on every fifth.
fn sheet_text(rows: usize) -> String {
    let mut s = String::from(
        "prefix,destination,rate,effective_from,effective_to,first_increment,next_increment,connect_fee\n",
    );
    let mut r = Xs(7);
    let mut n = 0;
    let mut i = 0u64;
    while n < rows {
        let cc = 30 + (i % 40);
        let prefix = format!("{cc}{}", 100_000 + i / 40);
        let rate = 1 + r.next() % 900;
        if i.is_multiple_of(5) && n + 1 < rows {
            let _ = writeln!(
                s,
                "{prefix},Dest {cc} {i},0.{rate:04},2026-01-01,2026-10-15,60,60,"
            );
            let _ = writeln!(
                s,
                "{prefix},Dest {cc} {i},0.{:04},2026-10-15,,60,60,",
                rate + 5
            );
            n += 2;
        } else {
            let _ = writeln!(
                s,
                "{prefix},Dest {cc} {i},0.{rate:04},2026-01-01,,30,6,0.0010"
            );
            n += 1;
        }
        i += 1;
    }
    for cc in 30..70 {
        let _ = writeln!(s, "{cc},Country {cc},0.0100,2026-01-01,,60,60,");
    }
    s
}

fn cdr_text(records: usize, deck_prefixes: u64) -> String {
    let mut s = String::from(
        "record_id,service,orig_carrier,term_carrier,a_number,b_number,start_time,units\n",
    );
    let mut r = Xs(42);
    for i in 0..records {
        let k = r.next() % deck_prefixes;
        let cc = 30 + (k % 40);
        let b = format!("+{cc}{}{:04}", 100_000 + k / 40, r.next() % 10_000);
        let _ = writeln!(
            s,
            "A{i:09},voice,alpha,beta,+4420794{:05},{b},2026-10-{:02}T{:02}:{:02}:{:02}Z,{}",
            r.next() % 100_000,
            1 + r.next() % 30,
            r.next() % 24,
            r.next() % 60,
            r.next() % 60,
            r.next() % 600
        );
    }
    s
}

fn parse_and_rate(c: &mut Criterion) {
    let sheet = Ratesheet::read(sheet_text(10_000).as_bytes(), terms()).unwrap();
    let cdrs = cdr_text(RECORDS, 8_000);
    let mut g = c.benchmark_group("cdrs");
    g.throughput(Throughput::Elements(RECORDS as u64));
    g.bench_function("parse+rate", |b| {
        b.iter(|| {
            let mut rd = CdrReader::new(cdrs.as_bytes(), FormatSpec::Native, None).unwrap();
            let mut total = rust_decimal::Decimal::ZERO;
            while let Some(row) = rd.next_row().unwrap() {
                if let Ok(rec) = row.outcome {
                    total += sheet.rate(&rec.usage).unwrap().charge;
                }
            }
            black_box(total)
        })
    });
    g.bench_function("parse+dedupe+rate", |b| {
        b.iter(|| {
            let mut rd = CdrReader::new(cdrs.as_bytes(), FormatSpec::Native, None).unwrap();
            let mut seen = ExactIds::default();
            let mut total = rust_decimal::Decimal::ZERO;
            while let Some(row) = rd.next_row().unwrap() {
                if let Ok(rec) = row.outcome
                    && seen.first_time(rec.record_id)
                {
                    total += sheet.rate(&rec.usage).unwrap().charge;
                }
            }
            black_box(total)
        })
    });
    g.finish();
}

/// Splitting lines into fields alone: plain lines (the common case), and lines whose
/// fields are quoted, with and without `""` in them.
fn splitting(c: &mut Criterion) {
    let plain = cdr_text(RECORDS, 8_000);
    let quoted: String = plain
        .lines()
        .enumerate()
        .map(|(i, l)| match i % 2 {
            0 => format!("\"{}\"\n", l.replacen(',', "\",\"", 2)),
            _ => format!("\"a \"\"b\"\"\",{l}\n"),
        })
        .collect();
    let mut g = c.benchmark_group("fields");
    g.throughput(Throughput::Elements(RECORDS as u64));
    for (name, text) in [("split plain", &plain), ("split quoted", &quoted)] {
        g.bench_function(name, |b| {
            let mut fields = Fields::default();
            b.iter(|| {
                let mut n = 0;
                for line in text.lines() {
                    fields.split(line).unwrap();
                    n += fields.len();
                }
                black_box(n)
            })
        });
    }
    g.finish();
}

fn load_ratesheet(c: &mut Criterion) {
    let text = sheet_text(1_000_000);
    let mut g = c.benchmark_group("ratesheet");
    g.sample_size(10);
    g.throughput(Throughput::Elements(1_000_000));
    g.bench_function("load 1M rows", |b| {
        b.iter(|| black_box(Ratesheet::read(text.as_bytes(), terms()).unwrap()))
    });
    g.finish();
}

fn matching(c: &mut Criterion) {
    let sheet = Ratesheet::read(sheet_text(10_000).as_bytes(), terms()).unwrap();
    let cdrs = cdr_text(RECORDS, 8_000);
    let scope = StatementScope {
        payer: CarrierId::parse("alpha").unwrap(),
        payee: CarrierId::parse("beta").unwrap(),
        service: Service::Voice,
        period: Period::parse("2026-10-01", "2026-11-01").unwrap(),
    };
    let side = |reporter| {
        let rd = CdrReader::new(
            cdrs.as_bytes(),
            FormatSpec::Native,
            CarrierId::parse(reporter),
        )
        .unwrap();
        load_side(rd, &scope, &sheet, &mut |_| {}).unwrap()
    };
    let (payer, payee) = (side("alpha"), side("beta"));
    let rules = MatchRules {
        match_window: 10,
        units_tolerance: 1,
    };
    let mut g = c.benchmark_group("reconcile");
    g.sample_size(10);
    g.throughput(Throughput::Elements(2 * RECORDS as u64));
    g.bench_function("match", |b| {
        b.iter(|| black_box(match_records(&payer.records, &payee.records, rules)))
    });
    g.finish();
}

criterion_group!(benches, splitting, parse_and_rate, load_ratesheet, matching);
criterion_main!(benches);
