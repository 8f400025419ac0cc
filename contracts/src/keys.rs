//! World-state keys, built with the ledger's composite keys so that parts never run together.

use ledger::contract::composite_key;
use ledger::key_set::KeySet;

/// The pair's agreement parameters.
pub fn agreement() -> String {
    composite_key("agreement", &[])
}

/// The sheet in force of an owner, service and scope (`*` for all counterparties).
pub fn sheet(owner: &str, service: &str, scope: &str) -> String {
    composite_key("sheet", &[owner, service, scope])
}

/// A deal by id.
pub fn deal(id: &str) -> String {
    composite_key("deal", &[id])
}

/// That `reporter` had `record_id` accepted (the `duplicate` rule across batches): a claim
/// (`Context::claim`), or on a channel that judged batches before claims, a key.
pub fn seen(reporter: &str, record_id: &str) -> String {
    composite_key("seen", &[reporter, record_id])
}

/// The [`seen`] keys of `reporter`'s record ids, gathered as runs as the ids are pushed.
pub fn seen_set(reporter: &str) -> KeySet {
    // A composite key's last attribute is followed by NUL alone.
    KeySet::new(&composite_key("seen", &[reporter]), "\0")
}

/// Every `seen` key of `reporter`, as `[start, end)`.
pub fn seen_range(reporter: &str) -> (String, String) {
    let start = composite_key("seen", &[reporter]);
    // U+10FFFF sorts after every other character's UTF-8 encoding, closing the range.
    let end = format!("{start}\u{10FFFF}");
    (start, end)
}

/// `reporter`'s position of a Kafka partition on this channel (SPEC §12).
pub fn stream(reporter: &str, topic: &str, partition: i32) -> String {
    composite_key("stream", &[reporter, topic, &partition.to_string()])
}

/// What every [`stream`] key starts with.
pub fn stream_prefix() -> String {
    composite_key("stream", &[])
}

/// The reporter, topic and partition of a [`stream`] key; `None` for any other key.
pub fn parse_stream(key: &str) -> Option<(&str, &str, i32)> {
    let rest = key.strip_prefix(&stream_prefix())?;
    let mut parts = rest.split('\u{0}');
    let (reporter, topic, partition) = (parts.next()?, parts.next()?, parts.next()?);
    match (parts.next(), parts.next()) {
        (Some(""), None) => Some((reporter, topic, partition.parse().ok()?)),
        _ => None,
    }
}

/// Periods already stated for a payer, payee and service (`period_closed`).
pub fn closed(payer: &str, payee: &str, service: &str) -> String {
    composite_key("closed", &[payer, payee, service])
}

/// A batch's summary by transaction id.
pub fn batch(tx_id: &str) -> String {
    composite_key("batch", &[tx_id])
}

/// The accepted records of one batch, reporter and direction, as batches kept them before
/// records were kept by bucket ([`bucketed`]); still read, no longer written.
pub fn records(payer: &str, payee: &str, service: &str, reporter: &str, tx_id: &str) -> String {
    composite_key("records", &[payer, payee, service, reporter, tx_id])
}

/// The accepted records of one batch, reporter and direction whose numbers fall in
/// `bucket` (`stored::Bucket`; written with two digits, so that key order is bucket order).
pub fn bucketed(
    (payer, payee, service): (&str, &str, &str),
    bucket: u8,
    reporter: &str,
    tx_id: &str,
) -> String {
    let bucket = format!("{bucket:02}");
    composite_key(
        "bucketed",
        &[payer, payee, service, &bucket, reporter, tx_id],
    )
}

/// What every [`bucketed`] key starts with.
pub fn bucketed_prefix() -> String {
    composite_key("bucketed", &[])
}

/// Every [`bucketed`] key of a direction in buckets `[from, until)`, as `[start, end)`.
pub fn bucketed_range(
    (payer, payee, service): (&str, &str, &str),
    from: u8,
    until: u8,
) -> (String, String) {
    let at = |b: u8| composite_key("bucketed", &[payer, payee, service, &format!("{b:02}")]);
    (at(from), at(until))
}

/// An issued statement.
pub fn statement(payer: &str, payee: &str, service: &str, from: &str, to: &str) -> String {
    composite_key("statement", &[payer, payee, service, from, to])
}

/// A dispute by id.
pub fn dispute(id: &str) -> String {
    composite_key("dispute", &[id])
}

/// The dispute not yet final on a statement's line (`*`: the whole statement).
pub fn open_dispute(statement_key: &str, line: &str) -> String {
    composite_key("open-dispute", &[statement_key, line])
}

/// A payment by id.
pub fn payment(id: &str) -> String {
    composite_key("payment", &[id])
}

/// A carrier's profile.
pub fn partner(carrier: &str) -> String {
    composite_key("partner", &[carrier])
}

/// The pair's running account: billed, adjusted, paid per direction and currency.
pub fn account() -> String {
    composite_key("account", &[])
}

/// The final adjustments on an issued statement, whole and per line.
pub fn adjustments(statement_key: &str) -> String {
    composite_key("adjustments", &[statement_key])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stream_key_reads_back_and_nothing_else_does() {
        let k = stream("alpha", "cdrs.v1", 3);
        assert_eq!(parse_stream(&k), Some(("alpha", "cdrs.v1", 3)));
        assert_eq!(parse_stream(&sheet("alpha", "voice", "*")), None);
        assert_eq!(parse_stream(&format!("{k}extra\u{0}")), None);
        assert_eq!(parse_stream(&stream_prefix()), None);
    }
}
