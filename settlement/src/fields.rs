//! Splitting one line into fields with RFC 4180 quoting, strictly (SPEC §2.1).
//!
//! A quoted field ends at its closing quote, which must be followed by `,` or the end of the
//! line; `""` inside quotes is one `"`; an unquoted field may contain neither `"` nor `\r`.
//! A quote left open at the end of the line is an error: fields never span lines.

/// The fields of one line, unescaped, in one reused buffer.
#[derive(Debug, Default)]
pub struct Fields {
    text: String,
    ends: Vec<usize>,
}

/// The line's quoting is broken (the row is `bad_row`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadQuoting;

impl Fields {
    /// Splits `line`, replacing what was held before.
    pub fn split(&mut self, line: &str) -> Result<(), BadQuoting> {
        self.text.clear();
        self.ends.clear();
        let b = line.as_bytes();
        let mut i = 0;
        loop {
            if b.get(i) == Some(&b'"') {
                i += 1;
                loop {
                    let q = memchr::memchr(b'"', &b[i..]).ok_or(BadQuoting)? + i;
                    self.text.push_str(&line[i..q]);
                    if b.get(q + 1) == Some(&b'"') {
                        self.text.push('"');
                        i = q + 2;
                    } else {
                        i = q + 1;
                        break;
                    }
                }
                self.ends.push(self.text.len());
                match b.get(i) {
                    None => return Ok(()),
                    Some(b',') => i += 1,
                    Some(_) => return Err(BadQuoting),
                }
            } else {
                let end = memchr::memchr(b',', &b[i..]).map_or(b.len(), |p| p + i);
                let field = &b[i..end];
                if memchr::memchr2(b'"', b'\r', field).is_some() {
                    return Err(BadQuoting);
                }
                self.text.push_str(&line[i..end]);
                self.ends.push(self.text.len());
                if end == b.len() {
                    return Ok(());
                }
                i = end + 1;
            }
        }
    }

    /// How many fields the line has.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether there are no fields (never after a successful split).
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Field `i`, unescaped; empty when out of range.
    pub fn get(&self, i: usize) -> &str {
        match self.ends.get(i) {
            Some(&end) => {
                let start = if i == 0 { 0 } else { self.ends[i - 1] };
                &self.text[start..end]
            }
            None => "",
        }
    }

    /// All fields in order.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        (0..self.len()).map(|i| self.get(i))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn split(s: &str) -> Result<Vec<String>, BadQuoting> {
        let mut f = Fields::default();
        f.split(s)?;
        Ok(f.iter().map(str::to_string).collect())
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
