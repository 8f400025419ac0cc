//! One Kafka message as one CDR (SPEC §12): its value is `native` — one CSV data line with
//! the columns of §2.1 in order and no header — or `json`, an object with those eight keys
//! (`units` a number or a string of digits). Anything else is `bad_row`; the record is then
//! judged exactly as a file's row is.

use serde_json::Value;

use super::reader::NATIVE_COLUMNS as COLUMNS;
use super::{CdrReader, FormatSpec, RejectReason};
use crate::carrier::CarrierId;
use crate::export::{NATIVE_HEADER, push_native_record};

/// How messages are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageFormat {
    /// One native CSV data line.
    Native,
    /// A JSON object with the native columns as keys.
    Json,
}

/// A message judged: the counterparty and the record as a native CSV data line (with its
/// line ending), or why it is rejected.
pub type Judged = Result<(CarrierId, Vec<u8>), RejectReason>;

/// Judges one message's value as a record `reporter` reports.
pub fn judge(value: Option<&[u8]>, format: MessageFormat, reporter: CarrierId) -> Judged {
    let value = value.unwrap_or_default();
    let line = match format {
        MessageFormat::Native => native_line(value)?,
        MessageFormat::Json => json_line(value)?,
    };
    let mut text = Vec::with_capacity(NATIVE_HEADER.len() + line.len() + 1);
    text.extend_from_slice(NATIVE_HEADER.as_bytes());
    text.extend_from_slice(&line);
    text.push(b'\n');
    let mut reader = CdrReader::in_memory(&text, FormatSpec::Native, Some(reporter))
        .map_err(|_| RejectReason::BadRow)?;
    let row = reader
        .next_row()
        .map_err(|_| RejectReason::BadRow)?
        .ok_or(RejectReason::BadRow)?;
    let rec = row.outcome?;
    let counterparty = rec.usage.counterparty(reporter);
    let mut out = Vec::with_capacity(line.len() + 1);
    push_native_record(&mut out, &rec);
    Ok((counterparty, out))
}

/// A native value: one line, UTF-8, no line break inside.
fn native_line(value: &[u8]) -> Result<Vec<u8>, RejectReason> {
    let text = std::str::from_utf8(value).map_err(|_| RejectReason::BadRow)?;
    let text = text.strip_suffix('\n').unwrap_or(text);
    let text = text.strip_suffix('\r').unwrap_or(text);
    if text.trim().is_empty() || text.contains(['\n', '\r']) {
        return Err(RejectReason::BadRow);
    }
    Ok(text.as_bytes().to_vec())
}

/// A JSON value: an object with exactly the eight columns, each a string (`units` also a
/// non-negative integer), written back as one native CSV line.
fn json_line(value: &[u8]) -> Result<Vec<u8>, RejectReason> {
    let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(value) else {
        return Err(RejectReason::BadRow);
    };
    if map.len() != COLUMNS.len() {
        return Err(RejectReason::BadRow);
    }
    let mut fields = Vec::with_capacity(COLUMNS.len());
    for column in COLUMNS {
        let field = match map.get(column) {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) if column == "units" && n.is_u64() => n.to_string(),
            _ => return Err(RejectReason::BadRow),
        };
        if field.contains(['\n', '\r']) {
            return Err(RejectReason::BadRow);
        }
        fields.push(field);
    }
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new());
    w.write_record(&fields).map_err(|_| RejectReason::BadRow)?;
    let mut line = w.into_inner().map_err(|_| RejectReason::BadRow)?;
    if line.last() == Some(&b'\n') {
        line.pop();
    }
    Ok(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alpha() -> CarrierId {
        CarrierId::parse("alpha").unwrap()
    }

    const LINE: &str = "R1,voice,alpha,beta,441234567,4930123456,2026-10-01T10:00:00Z,61";

    /// Found by the `kafka_message` fuzz target: `+00…` normalises to digits that begin
    /// with `00` (SPEC §2.3 removes the `+` only), which read again without their `+` would
    /// lose the `00`. A judged line reads back as the same record.
    #[test]
    fn a_number_written_plus_double_zero_reads_back_the_same() {
        let value = "\",R\"\"1\"\"\",sms,gamma,alpha,0044 1234 567,+00 (39) 123-456,2026-10-01T12:00:00.9+02:00,0060";
        let (cp, line) = judge(Some(value.as_bytes()), MessageFormat::Native, alpha()).unwrap();
        assert_eq!(cp.as_str(), "gamma");
        assert_eq!(
            std::str::from_utf8(&line).unwrap(),
            "\",R\"\"1\"\"\",sms,gamma,alpha,441234567,+0039123456,2026-10-01T10:00:00Z,60\n"
        );
        let again = judge(
            Some(&line[..line.len() - 1]),
            MessageFormat::Native,
            alpha(),
        );
        assert_eq!(again, Ok((cp, line)));
    }

    #[test]
    fn a_native_line_and_its_json_give_the_same_record() {
        let (cp, native) = judge(Some(LINE.as_bytes()), MessageFormat::Native, alpha()).unwrap();
        assert_eq!(cp.as_str(), "beta");
        let json = r#"{"record_id":"R1","service":"voice","orig_carrier":"alpha","term_carrier":"beta",
            "a_number":"441234567","b_number":"4930123456","start_time":"2026-10-01T10:00:00Z","units":61}"#;
        let (_, from_json) = judge(Some(json.as_bytes()), MessageFormat::Json, alpha()).unwrap();
        assert_eq!(native, from_json);
        assert_eq!(String::from_utf8(native).unwrap(), format!("{LINE}\n"));
    }

    #[test]
    fn poison_is_bad_row_and_faults_keep_their_reasons() {
        for (value, format) in [
            (&b"\xff\xfe"[..], MessageFormat::Native),
            (b"", MessageFormat::Native),
            (b"a,b,c", MessageFormat::Native),
            (b"R1,voice,alpha,beta,1,2,2026-10-01T10:00:00Z,1\nR2,voice,alpha,beta,1,2,2026-10-01T10:00:00Z,1", MessageFormat::Native),
            (b"[1,2]", MessageFormat::Json),
            (b"{\"record_id\":\"R1\"}", MessageFormat::Json),
            (LINE.as_bytes(), MessageFormat::Json),
        ] {
            assert_eq!(judge(Some(value), format, alpha()), Err(RejectReason::BadRow), "{value:?}");
        }
        assert_eq!(
            judge(None, MessageFormat::Native, alpha()),
            Err(RejectReason::BadRow)
        );
        let not_ours = "R1,voice,gamma,beta,441234567,4930123456,2026-10-01T10:00:00Z,61";
        assert_eq!(
            judge(Some(not_ours.as_bytes()), MessageFormat::Native, alpha()),
            Err(RejectReason::NotParty)
        );
        let bad_units = "R1,voice,alpha,beta,441234567,4930123456,2026-10-01T10:00:00Z,x";
        assert_eq!(
            judge(Some(bad_units.as_bytes()), MessageFormat::Native, alpha()),
            Err(RejectReason::BadUnits)
        );
    }
}
