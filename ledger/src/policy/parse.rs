//! Recursive-descent parser of the policy language; errors carry the column of the token
//! that did not fit.

use super::{Policy, PolicyError, PrincipalSpec, RoleMatch};
use crate::identity::Role;

pub(super) fn parse(text: &str) -> Result<Policy, PolicyError> {
    let mut p = Parser {
        text,
        chars: text.char_indices().collect(),
        pos: 0,
    };
    let policy = p.policy()?;
    p.skip_ws();
    if p.pos < p.chars.len() {
        return Err(p.error("unexpected text after the end of the policy"));
    }
    Ok(policy)
}

struct Parser<'a> {
    text: &'a str,
    chars: Vec<(usize, char)>,
    pos: usize,
}

impl Parser<'_> {
    fn error(&self, message: &str) -> PolicyError {
        PolicyError {
            text: self.text.to_string(),
            column: self.pos + 1,
            message: message.to_string(),
        }
    }

    fn error_at(&self, pos: usize, message: String) -> PolicyError {
        PolicyError {
            text: self.text.to_string(),
            column: pos + 1,
            message,
        }
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).map(|(_, c)| *c)
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
    }

    fn expect(&mut self, c: char) -> Result<(), PolicyError> {
        self.skip_ws();
        if self.peek() == Some(c) {
            self.pos += 1;
            Ok(())
        } else {
            let found = self
                .peek()
                .map_or("the end".to_string(), |f| format!("`{f}`"));
            Err(self.error(&format!("expected `{c}`, found {found}")))
        }
    }

    fn word(&mut self) -> String {
        let mut w = String::new();
        while let Some(c) = self
            .peek()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        {
            w.push(c);
            self.pos += 1;
        }
        w
    }

    fn number(&mut self) -> Result<u64, PolicyError> {
        self.skip_ws();
        let start = self.pos;
        let w = self.word();
        w.parse::<u64>()
            .map_err(|_| self.error_at(start, format!("expected a whole number, found `{w}`")))
    }

    fn policy(&mut self) -> Result<Policy, PolicyError> {
        self.skip_ws();
        if self.peek() == Some('\'') {
            return Ok(Policy::Signed(self.principal()?));
        }
        let start = self.pos;
        let name = self.word();
        if name.is_empty() {
            return Err(self
                .error("expected AND, OR, OutOf, Weighted or a quoted principal like 'org.peer'"));
        }
        self.expect('(')?;
        let policy = match name.as_str() {
            "AND" | "OR" => {
                let subs = self.list()?;
                let n = if name == "AND" { subs.len() } else { 1 };
                Policy::OutOf(n, subs)
            }
            "OutOf" => {
                let n_pos = self.pos;
                let n = self.number()?;
                self.expect(',')?;
                let subs = self.list()?;
                let n = usize::try_from(n).unwrap_or(usize::MAX);
                if n == 0 || n > subs.len() {
                    return Err(self.error_at(
                        n_pos,
                        format!(
                            "OutOf needs between 1 and {} (its number of sub-policies), found {n}",
                            subs.len()
                        ),
                    ));
                }
                Policy::OutOf(n, subs)
            }
            "Weighted" => {
                let t_pos = self.pos;
                let threshold = self.number()?;
                let mut entries = Vec::new();
                loop {
                    self.skip_ws();
                    if self.peek() == Some(')') {
                        break;
                    }
                    self.expect(',')?;
                    let p = self.principal()?;
                    self.expect('=')?;
                    let w = self.number()?;
                    entries.push((p, w));
                }
                if entries.is_empty() {
                    return Err(self.error_at(
                        t_pos,
                        "Weighted needs at least one 'org.role'=weight".into(),
                    ));
                }
                let total: u64 = entries.iter().map(|(_, w)| *w).sum();
                if threshold == 0 || threshold > total {
                    return Err(self.error_at(
                        t_pos,
                        format!("Weighted threshold must be between 1 and the sum of the weights ({total}), found {threshold}"),
                    ));
                }
                Policy::Weighted { threshold, entries }
            }
            other => {
                return Err(self.error_at(
                    start,
                    format!("unknown operator `{other}`; expected AND, OR, OutOf or Weighted"),
                ));
            }
        };
        self.expect(')')?;
        Ok(policy)
    }

    fn list(&mut self) -> Result<Vec<Policy>, PolicyError> {
        let mut subs = vec![self.policy()?];
        loop {
            self.skip_ws();
            if self.peek() != Some(',') {
                return Ok(subs);
            }
            self.pos += 1;
            subs.push(self.policy()?);
        }
    }

    fn principal(&mut self) -> Result<PrincipalSpec, PolicyError> {
        self.skip_ws();
        let start = self.pos;
        self.expect('\'')?;
        let mut body = String::new();
        loop {
            match self.peek() {
                Some('\'') => {
                    self.pos += 1;
                    break;
                }
                Some(c) => {
                    body.push(c);
                    self.pos += 1;
                }
                None => {
                    return Err(
                        self.error_at(start, "quoted principal is not closed with `'`".into())
                    );
                }
            }
        }
        let Some((org, role)) = body.rsplit_once('.') else {
            return Err(self.error_at(start, format!("principal `{body}` must be 'org.role'")));
        };
        let valid_org = org.len() >= 2
            && org.chars().next().is_some_and(|c| c.is_ascii_lowercase())
            && org
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !valid_org {
            return Err(self.error_at(
                start + 1,
                format!("`{org}` is not an organisation id (lowercase letters, digits, `-`)"),
            ));
        }
        let role = match role {
            "member" => RoleMatch::Member,
            r => RoleMatch::Role(Role::parse(r).ok_or_else(|| {
                self.error_at(
                    start + 1 + org.chars().count() + 1,
                    format!("unknown role `{r}`; expected member, peer, orderer, client or admin"),
                )
            })?),
        };
        Ok(PrincipalSpec {
            msp_id: org.to_string(),
            role,
        })
    }
}
