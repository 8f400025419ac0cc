//! Properties of a whole reconciliation, over generated traffic: every input row ends in
//! exactly one outcome, and nothing depends on the order of the input rows.

use proptest::prelude::*;
use rust_decimal::Decimal;
use settlement::carrier::CarrierId;
use settlement::cdr::{CdrReader, FormatSpec};
use settlement::deal::Deal;
use settlement::export::{SummaryContext, write_discrepancies, write_statement, write_summary};
use settlement::money::{Currency, Rounding};
use settlement::offline::{SideLoad, load_side, reconcile};
use settlement::period::Period;
use settlement::ratesheet::{Ratesheet, SheetTerms};
use settlement::reconcile::MatchRules;
use settlement::service::Service;
use settlement::statement::StatementScope;

const SHEET: &str =
    "prefix,destination,rate,effective_from,effective_to,first_increment,next_increment,connect_fee
49,Germany,0.0100,2026-01-01,,60,60,
4915,Germany Mobile,0.0550,2026-01-01,2026-10-15,30,6,0.0010
4915,Germany Mobile,0.0650,2026-10-15,,30,6,0.0010
44,UK,0.0125,2026-01-01,,1,1,
";

const DEAL: &str = r#"id = "d"
parties = ["alpha", "beta"]
from = "2026-10-01"
to = "2027-01-01"
currency = "EUR"
[[commitment]]
payer = "alpha"
payee = "beta"
service = "voice"
prefixes = ["4917"]
committed_units = "3"
shortfall_rate = "0.01"
tiers = [{ up_to = "1", rate = "0.02" }, { rate = "0.015" }]
"#;

const HEADER: &str =
    "record_id,service,orig_carrier,term_carrier,a_number,b_number,start_time,units";

fn carrier(s: &str) -> CarrierId {
    CarrierId::parse(s).unwrap()
}

fn scope() -> StatementScope {
    StatementScope {
        payer: carrier("alpha"),
        payee: carrier("beta"),
        service: Service::Voice,
        period: Period::parse("2026-10-01", "2026-11-01").unwrap(),
    }
}

fn sheet() -> Ratesheet {
    let terms = SheetTerms::new(
        Service::Voice,
        Currency::parse("EUR").unwrap(),
        4,
        Rounding::HalfUp,
    )
    .unwrap();
    Ratesheet::read(SHEET.as_bytes(), terms).unwrap()
}

/// One usage event: which numbers, when, how long, and on which sides it was recorded.
#[derive(Debug, Clone)]
struct Event {
    a: u8,
    b: u8,
    day: u8,
    second: u16,
    units: u16,
    payer_jitter: i8,
    payee_units_delta: i8,
    sides: u8,
}

fn event() -> impl Strategy<Value = Event> {
    (
        0u8..3,
        0u8..5,
        10u8..20,
        0u16..200,
        0u16..400,
        -12i8..12,
        -3i8..3,
        1u8..4,
    )
        .prop_map(
            |(a, b, day, second, units, payer_jitter, payee_units_delta, sides)| Event {
                a,
                b,
                day,
                second,
                units,
                payer_jitter,
                payee_units_delta,
                sides,
            },
        )
}

fn b_number(b: u8) -> &'static str {
    [
        "4915112345678",
        "4930123456",
        "447700900123",
        "4917012345678",
        "8613800138000",
    ][b as usize]
}

/// The two files' data rows; every record id is unique, so no row is a duplicate.
fn rows(events: &[Event]) -> (Vec<String>, Vec<String>) {
    let (mut payer, mut payee) = (vec![], vec![]);
    for (i, e) in events.iter().enumerate() {
        let a = format!("4420794600{:02}", e.a);
        let at = |jitter: i64| {
            let s = e.second as i64 + jitter + 60;
            format!("2026-10-{:02}T10:{:02}:{:02}Z", e.day, s / 60, s % 60)
        };
        if e.sides & 1 != 0 {
            payer.push(format!(
                "P{i},voice,alpha,beta,{a},{},{},{}",
                b_number(e.b),
                at(e.payer_jitter as i64),
                e.units
            ));
        }
        if e.sides & 2 != 0 {
            let units = (e.units as i64 + e.payee_units_delta as i64).max(0);
            payee.push(format!(
                "Q{i},voice,alpha,beta,{a},{},{},{units}",
                b_number(e.b),
                at(0)
            ));
        }
    }
    (payer, payee)
}

fn load(rows: &[String], reporter: &str, sheet: &Ratesheet) -> SideLoad {
    let text = format!("{HEADER}\n{}\n", rows.join("\n"));
    let reader =
        CdrReader::new(text.as_bytes(), FormatSpec::Native, Some(carrier(reporter))).unwrap();
    load_side(reader, &scope(), sheet, &mut |_| {}).unwrap()
}

/// The three exported files of a reconciliation, as bytes.
fn exports(
    payer_rows: &[String],
    payee_rows: &[String],
) -> (
    Vec<u8>,
    SideLoad,
    SideLoad,
    Vec<settlement::reconcile::Pairing>,
) {
    let sheet = sheet();
    let deal = Deal::parse(DEAL).unwrap();
    let (payer, payee) = (
        load(payer_rows, "alpha", &sheet),
        load(payee_rows, "beta", &sheet),
    );
    let rules = MatchRules {
        match_window: 10,
        units_tolerance: 1,
    };
    let rec = reconcile(
        &scope(),
        &payer,
        &payee,
        &sheet,
        Some(&deal),
        rules,
        Decimal::ONE,
    )
    .unwrap();
    let mut bytes =
        write_discrepancies(Vec::new(), &payer.records, &payee.records, &rec.pairings, 4).unwrap();
    bytes = write_statement(bytes, &rec.statement, 4).unwrap();
    let ctx = SummaryContext {
        payer: carrier("alpha"),
        payee: carrier("beta"),
        service: Service::Voice,
        from_text: "2026-10-01",
        to_text: "2026-11-01",
        currency: Currency::parse("EUR").unwrap(),
        decimals: 4,
        out_of_scope: 0,
        rejected: 0,
    };
    bytes = write_summary(bytes, &rec.statement, &ctx).unwrap();
    (bytes, payer, payee, rec.pairings)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn every_record_ends_in_exactly_one_outcome(events in proptest::collection::vec(event(), 0..60)) {
        let (p, q) = rows(&events);
        let (_, payer, payee, pairings) = exports(&p, &q);
        prop_assert_eq!(payer.tally.rows(), p.len() as u64);
        prop_assert_eq!(payee.tally.rows(), q.len() as u64);
        let mut seen_p = vec![0u32; payer.records.len()];
        let mut seen_q = vec![0u32; payee.records.len()];
        for pairing in &pairings {
            prop_assert!(pairing.payer.is_some() || pairing.payee.is_some());
            if let Some(i) = pairing.payer { seen_p[i as usize] += 1; }
            if let Some(i) = pairing.payee { seen_q[i as usize] += 1; }
        }
        prop_assert!(seen_p.iter().all(|&n| n == 1), "payer: {:?}", seen_p);
        prop_assert!(seen_q.iter().all(|&n| n == 1), "payee: {:?}", seen_q);
        prop_assert_eq!(
            payer.records.len() as u64 + payer.out_of_scope,
            payer.tally.accepted
        );
    }

    #[test]
    fn the_order_of_input_rows_does_not_matter(
        events in proptest::collection::vec(event(), 0..60),
        seed in any::<u64>(),
    ) {
        let (p, q) = rows(&events);
        let (want, ..) = exports(&p, &q);
        // A deterministic shuffle of both files from the seed.
        let shuffle = |v: &[String], salt: u64| {
            let mut keyed: Vec<(u64, String)> = v
                .iter()
                .enumerate()
                .map(|(i, r)| ((i as u64 ^ seed ^ salt).wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(17), r.clone()))
                .collect();
            keyed.sort();
            keyed.into_iter().map(|(_, r)| r).collect::<Vec<_>>()
        };
        let (got, ..) = exports(&shuffle(&p, 1), &shuffle(&q, 2));
        prop_assert_eq!(String::from_utf8_lossy(&want), String::from_utf8_lossy(&got));
    }
}
