//! Splitting one line into fields with RFC 4180 quoting, strictly (SPEC §2.1).
//!
//! A quoted field ends at its closing quote, which must be followed by `,` or the end of the
//! line; `""` inside quotes is one `"`; an unquoted field may contain neither `"` nor `\r`.
//! A quote left open at the end of the line is an error: fields never span lines.

/// Where one field's text is: in the line itself, or unescaped in [`Fields`]' own buffer.
#[derive(Debug, Clone, Copy)]
struct Span {
    start: u32,
    end: u32,
    own: bool,
}

/// The fields of one line as spans: most fields are slices of the line, only quoted
/// fields with `""` in them are unescaped into a reused buffer.
#[derive(Debug, Default)]
pub struct Fields {
    spans: Vec<Span>,
    unescaped: String,
}

/// The line's quoting is broken (the row is `bad_row`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadQuoting;

impl Fields {
    /// Splits `line`, replacing what was held before; the fields are then read with the
    /// same `line`.
    pub fn split(&mut self, line: &str) -> Result<(), BadQuoting> {
        self.spans.clear();
        self.unescaped.clear();
        let b = line.as_bytes();
        let mut i = 0;
        loop {
            if b.get(i) == Some(&b'"') {
                i = self.quoted(line, i + 1)?;
                match b.get(i) {
                    None => return Ok(()),
                    Some(b',') => i += 1,
                    Some(_) => return Err(BadQuoting),
                }
            } else {
                // One pass: find the comma, refusing a quote or a carriage return on the way.
                let start = i;
                while let Some(&c) = b.get(i) {
                    match c {
                        b',' => break,
                        b'"' | b'\r' => return Err(BadQuoting),
                        _ => i += 1,
                    }
                }
                self.spans.push(Span {
                    start: start as u32,
                    end: i as u32,
                    own: false,
                });
                if i == b.len() {
                    return Ok(());
                }
                i += 1;
            }
        }
    }

    /// Reads a quoted field whose text starts at `i`; returns the index after its closing quote.
    fn quoted(&mut self, line: &str, mut i: usize) -> Result<usize, BadQuoting> {
        let b = line.as_bytes();
        let start = i;
        let q = memchr::memchr(b'"', &b[i..]).ok_or(BadQuoting)? + i;
        if b.get(q + 1) != Some(&b'"') {
            // No escaped quote: the field is a slice of the line.
            self.spans.push(Span {
                start: start as u32,
                end: q as u32,
                own: false,
            });
            return Ok(q + 1);
        }
        let own_start = self.unescaped.len();
        loop {
            let q = memchr::memchr(b'"', &b[i..]).ok_or(BadQuoting)? + i;
            self.unescaped.push_str(&line[i..q]);
            if b.get(q + 1) == Some(&b'"') {
                self.unescaped.push('"');
                i = q + 2;
            } else {
                self.spans.push(Span {
                    start: own_start as u32,
                    end: self.unescaped.len() as u32,
                    own: true,
                });
                return Ok(q + 1);
            }
        }
    }

    /// How many fields the line has.
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// Whether there are no fields (never after a successful split).
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// Field `i` of `line` (the line last split), unescaped; empty when out of range.
    pub fn get<'a>(&'a self, line: &'a str, i: usize) -> &'a str {
        match self.spans.get(i) {
            Some(s) if s.own => &self.unescaped[s.start as usize..s.end as usize],
            Some(s) => &line[s.start as usize..s.end as usize],
            None => "",
        }
    }

    /// All fields of `line` in order.
    pub fn iter<'a>(&'a self, line: &'a str) -> impl Iterator<Item = &'a str> {
        (0..self.len()).map(move |i| self.get(line, i))
    }
}

/// Why the header line of a CSV file cannot be used; the file is refused whole.
#[derive(Debug, thiserror::Error)]
pub enum HeaderError {
    /// Reading failed.
    #[error("cannot read: {0}")]
    Io(#[from] std::io::Error),
    /// The file is empty.
    #[error("line 1: the header row is missing (the file is empty)")]
    NoHeader,
    /// The header is not valid UTF-8 or its quoting is broken.
    #[error("line 1: the header row is not valid UTF-8 CSV")]
    BadHeader,
    /// A known column is named twice.
    #[error("line 1: column `{0}` is named twice in the header")]
    DuplicateColumn(&'static str),
    /// A required column is missing.
    #[error("line 1: the header has no column `{0}`")]
    MissingColumn(&'static str),
}

/// Where each known column sits in a file, and how many fields each row must have.
#[derive(Debug, Clone, Copy)]
pub struct Header<const N: usize> {
    /// Field index of each of the columns asked for; `usize::MAX` when an optional one is absent.
    pub at: [usize; N],
    /// Fields in the header line.
    pub width: usize,
}

/// Reads a file's first line as its header and finds `columns` in it: the first `required`
/// must be present; unknown columns are ignored and may repeat, known ones may not.
pub fn read_header<R: std::io::Read, const N: usize>(
    lines: &mut crate::lines::LineReader<R>,
    fields: &mut Fields,
    columns: [&'static str; N],
    required: usize,
) -> Result<Header<N>, HeaderError> {
    let line = lines.next_line()?.ok_or(HeaderError::NoHeader)?;
    let text = std::str::from_utf8(line.bytes).map_err(|_| HeaderError::BadHeader)?;
    fields.split(text).map_err(|_| HeaderError::BadHeader)?;
    let mut at = [usize::MAX; N];
    for (i, name) in fields.iter(text).enumerate() {
        if let Some(k) = columns.iter().position(|c| *c == name) {
            if at[k] != usize::MAX {
                return Err(HeaderError::DuplicateColumn(columns[k]));
            }
            at[k] = i;
        }
    }
    match at[..required].iter().position(|&i| i == usize::MAX) {
        Some(k) => Err(HeaderError::MissingColumn(columns[k])),
        None => Ok(Header {
            at,
            width: fields.len(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn split(s: &str) -> Result<Vec<String>, BadQuoting> {
        let mut f = Fields::default();
        f.split(s)?;
        Ok(f.iter(s).map(str::to_string).collect())
    }

    #[test]
    fn rfc4180_cases() {
        assert_eq!(split("a,b,c").unwrap(), ["a", "b", "c"]);
        assert_eq!(split("").unwrap(), [""]);
        assert_eq!(split("a,").unwrap(), ["a", ""]);
        assert_eq!(split(",,").unwrap(), ["", "", ""]);
        assert_eq!(split("\"a,b\",c").unwrap(), ["a,b", "c"]);
        assert_eq!(split("\"a\"\"b\"").unwrap(), ["a\"b"]);
        assert_eq!(split("\"\"").unwrap(), [""]);
        assert_eq!(split("\"x\r\"").unwrap(), ["x\r"]);
        assert_eq!(split(" a , b ").unwrap(), [" a ", " b "]);
        for bad in [
            "\"abc", "a\"b", "\"a\"b", "\"a\" ,b", "a\rb", "\"", "x,\"open",
        ] {
            assert_eq!(split(bad), Err(BadQuoting), "{bad:?}");
        }
    }

    fn quote(f: &str) -> String {
        format!("\"{}\"", f.replace('"', "\"\""))
    }

    proptest! {
        #[test]
        fn written_fields_read_back(fields in proptest::collection::vec("[^\n]{0,12}", 1..8), quote_all: bool) {
            let line: Vec<String> = fields
                .iter()
                .map(|f| if quote_all || f.contains([',', '"', '\r']) { quote(f) } else { f.clone() })
                .collect();
            prop_assert_eq!(split(&line.join(",")).unwrap(), fields);
        }

        #[test]
        fn never_panics(s in "\\PC{0,60}") {
            let _ = split(&s);
        }
    }
}
