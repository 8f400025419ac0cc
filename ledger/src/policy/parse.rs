//! The policy language's parser: a loop over an explicit stack of open operators (no
//! recursion), refusing text, nesting and lists beyond the limits; errors carry the column
//! of the token that did not fit.

use super::{
    GateKind, MAX_DEPTH, MAX_TEXT_BYTES, MAX_WIDTH, Node, PolicyError, PrincipalSpec, RoleMatch,
};
use crate::identity::Role;

/// Parses `text` into post-order nodes and, for each node, the 0-based column it starts at.
pub(super) fn parse(text: &str) -> Result<(Vec<Node>, Vec<usize>), PolicyError> {
    if text.len() > MAX_TEXT_BYTES {
        let mut cut = MAX_TEXT_BYTES;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        return Err(PolicyError {
            text: text.to_string(),
            column: text[..cut].chars().count() + 1,
            message: format!(
                "the policy text is {} bytes long; at most {MAX_TEXT_BYTES} are accepted",
                text.len()
            ),
        });
    }
    let mut p = Parser {
        text,
        chars: text.chars().collect(),
        pos: 0,
        nodes: Vec::new(),
        columns: Vec::new(),
    };
    p.policy()?;
    Ok((p.nodes, p.columns))
}

struct Parser<'a> {
    text: &'a str,
    chars: Vec<char>,
    pos: usize,
    nodes: Vec<Node>,
    columns: Vec<usize>,
}

/// An operator whose `(` has been read and whose `)` has not.
struct Open {
    op: Op,
    /// Column of the operator's name.
    start: usize,
    /// `OutOf`'s number and its column.
    need: Option<(u64, usize)>,
    children: Vec<(usize, u64)>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    And,
    Or,
    OutOf,
}

impl Parser<'_> {
    fn error(&self, message: &str) -> PolicyError {
        self.error_at(self.pos, message.to_string())
    }

    fn error_at(&self, pos: usize, message: String) -> PolicyError {
        PolicyError {
            text: self.text.to_string(),
            column: pos + 1,
            message,
        }
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
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

    /// A whole number, bare or (as Fabric also accepts) in single quotes: `2` or `'2'`.
    fn number(&mut self) -> Result<(u64, usize), PolicyError> {
        self.skip_ws();
        let start = self.pos;
        let quoted = self.peek() == Some('\'');
        if quoted {
            self.pos += 1;
        }
        let w = self.word();
        let closed = !quoted || self.peek() == Some('\'');
        if quoted && closed {
            self.pos += 1;
        }
        w.parse::<u64>()
            .ok()
            .filter(|_| closed)
            .map(|n| (n, start))
            .ok_or_else(|| self.error_at(start, format!("expected a whole number, found `{w}`")))
    }

    fn push(&mut self, node: Node, column: usize) -> usize {
        self.nodes.push(node);
        self.columns.push(column);
        self.nodes.len() - 1
    }

    /// The whole policy: sub-policies are read in a loop, the operators still open kept on
    /// a stack.
    fn policy(&mut self) -> Result<(), PolicyError> {
        let mut open: Vec<Open> = Vec::new();
        loop {
            // A policy starts here: a principal, `Weighted(…)`, or an operator to open.
            self.skip_ws();
            let start = self.pos;
            let mut done = if self.peek() == Some('\'') {
                let p = self.principal()?;
                self.push(Node::Signed(p), start)
            } else {
                let name = self.word();
                if name.is_empty() {
                    return Err(self.error(
                        "expected AND, OR, OutOf, Weighted or a quoted principal like 'org.peer'",
                    ));
                }
                let op = match name.as_str() {
                    "AND" => Some(Op::And),
                    "OR" => Some(Op::Or),
                    "OutOf" => Some(Op::OutOf),
                    "Weighted" => None,
                    other => {
                        return Err(self.error_at(
                            start,
                            format!(
                                "unknown operator `{other}`; expected AND, OR, OutOf or Weighted"
                            ),
                        ));
                    }
                };
                if open.len() >= MAX_DEPTH {
                    return Err(self.error_at(
                        start,
                        format!("operators nest more than {MAX_DEPTH} deep here"),
                    ));
                }
                self.expect('(')?;
                match op {
                    None => self.weighted(start)?,
                    Some(op) => {
                        let need = if op == Op::OutOf {
                            let n = self.number()?;
                            self.expect(',')?;
                            Some(n)
                        } else {
                            None
                        };
                        open.push(Open {
                            op,
                            start,
                            need,
                            children: Vec::new(),
                        });
                        continue;
                    }
                }
            };
            // A policy ended at `done`: add it to the innermost open operator, and close
            // every operator that ends here.
            loop {
                let Some(top) = open.last_mut() else {
                    self.skip_ws();
                    if self.pos < self.chars.len() {
                        return Err(self.error("unexpected text after the end of the policy"));
                    }
                    return Ok(());
                };
                if top.children.len() >= MAX_WIDTH {
                    return Err(self.error_at(
                        start,
                        format!("an operator takes at most {MAX_WIDTH} sub-policies"),
                    ));
                }
                top.children.push((done, 1));
                self.skip_ws();
                if self.peek() == Some(',') {
                    self.pos += 1;
                    break;
                }
                self.expect(')')?;
                let Some(closed) = open.pop() else {
                    return Err(self.error("unbalanced `)`"));
                };
                let count = closed.children.len();
                let need = match (closed.op, closed.need) {
                    (Op::And, _) => count as u64,
                    (Op::Or, _) => 1,
                    (Op::OutOf, Some((n, n_pos))) => {
                        if n == 0 || n > count as u64 {
                            return Err(self.error_at(
                                n_pos,
                                format!(
                                    "OutOf needs between 1 and {count} (its number of sub-policies), found {n}"
                                ),
                            ));
                        }
                        n
                    }
                    (Op::OutOf, None) => return Err(self.error("OutOf without its number")),
                };
                done = self.push(
                    Node::Gate {
                        kind: GateKind::OutOf,
                        need,
                        children: closed.children,
                    },
                    closed.start,
                );
            }
        }
    }

    /// `Weighted(` has been read (its name at `start`): the threshold, the weighted
    /// principals and the closing `)`.
    fn weighted(&mut self, start: usize) -> Result<usize, PolicyError> {
        let (threshold, t_pos) = self.number()?;
        let mut children = Vec::new();
        // Checked: a u128 cannot overflow adding up at most MAX_WIDTH u64 weights.
        let mut total: u128 = 0;
        loop {
            self.skip_ws();
            if self.peek() == Some(')') {
                self.pos += 1;
                break;
            }
            let entry_pos = self.pos;
            self.expect(',')?;
            if children.len() >= MAX_WIDTH {
                return Err(self.error_at(
                    entry_pos,
                    format!("Weighted takes at most {MAX_WIDTH} principals"),
                ));
            }
            self.skip_ws();
            let p_pos = self.pos;
            let p = self.principal()?;
            self.expect('=')?;
            let (w, _) = self.number()?;
            total += u128::from(w);
            let leaf = self.push(Node::Signed(p), p_pos);
            children.push((leaf, w));
        }
        if children.is_empty() {
            return Err(self.error_at(
                t_pos,
                "Weighted needs at least one 'org.role'=weight".into(),
            ));
        }
        if threshold == 0 || u128::from(threshold) > total {
            return Err(self.error_at(
                t_pos,
                format!(
                    "Weighted threshold must be between 1 and the sum of the weights ({total}), found {threshold}"
                ),
            ));
        }
        Ok(self.push(
            Node::Gate {
                kind: GateKind::Weighted,
                need: threshold,
                children,
            },
            start,
        ))
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
