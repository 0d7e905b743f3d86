//! How big an item is after an UpdateItem, at least.
//!
//! DynamoDB refuses an UpdateItem whose *resulting* item would exceed 400 KB, which depends on
//! what is stored. The proxy reads the current item from the upstream just before forwarding
//! (a consistent GetItem; a write landing in between is not seen) and applies the update
//! expression to it: `SET a = :v`, `SET a = b`, `SET a = if_not_exists(…)`,
//! `SET a = list_append(…)`, `REMOVE a`, and `ADD`/`DELETE` of sets on top-level attributes
//! are computed exactly. An attribute whose result cannot be known without evaluating more
//! (a nested path such as `a.b` or `a[0]`, arithmetic, `ADD` to a number) counts as zero
//! bytes. The result is a lower bound of the true size, so the proxy never refuses an update
//! AWS would accept, and refuses every one whose known part alone is too big.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

use super::dynamodb::{attribute_size, set_key};

/// A parsed path: its top-level attribute and whether it goes deeper.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Path {
    top: String,
    nested: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Operand {
    Path(Path),
    Value(String),
    Call(String, Vec<Operand>),
    /// `x + y`, `x - y`: a number, whose size the proxy does not compute.
    Arithmetic,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Action {
    Set(Path, Operand),
    Remove(Path),
    Add(Path, String),
    Delete(Path, String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Word(String),
    Name(String),
    Value(String),
    Number(String),
    Punct(char),
}

fn tokenize(text: &str) -> Option<Vec<Token>> {
    let mut tokens = Vec::new();
    let mut chars = text.char_indices().peekable();
    let word_end = |from: usize| {
        text[from..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .map_or(text.len(), |at| from + at)
    };
    while let Some((at, c)) = chars.next() {
        let token = match c {
            c if c.is_whitespace() => continue,
            '#' | ':' => {
                let end = word_end(at + 1);
                if end == at + 1 {
                    return None;
                }
                let placeholder = text[at..end].to_owned();
                while chars.peek().is_some_and(|(next, _)| *next < end) {
                    chars.next();
                }
                if c == '#' {
                    Token::Name(placeholder)
                } else {
                    Token::Value(placeholder)
                }
            }
            c if c.is_ascii_alphanumeric() || c == '_' => {
                let end = word_end(at);
                let word = text[at..end].to_owned();
                while chars.peek().is_some_and(|(next, _)| *next < end) {
                    chars.next();
                }
                if c.is_ascii_digit() {
                    Token::Number(word)
                } else {
                    Token::Word(word)
                }
            }
            ',' | '.' | '[' | ']' | '(' | ')' | '=' | '+' | '-' => Token::Punct(c),
            _ => return None,
        };
        tokens.push(token);
    }
    Some(tokens)
}

struct Parser<'a> {
    tokens: Vec<Token>,
    at: usize,
    names: Option<&'a Map<String, Value>>,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.at).cloned();
        self.at += 1;
        token
    }

    fn eat(&mut self, punct: char) -> bool {
        if self.peek() == Some(&Token::Punct(punct)) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn clause_keyword(&self) -> Option<String> {
        match self.peek() {
            Some(Token::Word(word)) => {
                let upper = word.to_ascii_uppercase();
                ["SET", "REMOVE", "ADD", "DELETE"]
                    .contains(&upper.as_str())
                    .then_some(upper)
            }
            _ => None,
        }
    }

    fn name(&mut self) -> Option<String> {
        match self.next()? {
            Token::Word(word) => Some(word),
            Token::Name(placeholder) => self
                .names?
                .get(&placeholder)
                .and_then(Value::as_str)
                .map(str::to_owned),
            _ => None,
        }
    }

    fn path(&mut self) -> Option<Path> {
        let top = self.name()?;
        let mut nested = false;
        loop {
            if self.eat('.') {
                self.name()?;
            } else if self.eat('[') {
                if !matches!(self.next()?, Token::Number(_)) || !self.eat(']') {
                    return None;
                }
            } else {
                return Some(Path { top, nested });
            }
            nested = true;
        }
    }

    fn operand(&mut self) -> Option<Operand> {
        match self.peek()?.clone() {
            Token::Value(placeholder) => {
                self.at += 1;
                Some(Operand::Value(placeholder))
            }
            Token::Word(function) if self.tokens.get(self.at + 1) == Some(&Token::Punct('(')) => {
                self.at += 2;
                let mut arguments = vec![self.value()?];
                while self.eat(',') {
                    arguments.push(self.value()?);
                }
                self.eat(')').then_some(Operand::Call(function, arguments))
            }
            _ => self.path().map(Operand::Path),
        }
    }

    fn value(&mut self) -> Option<Operand> {
        let first = self.operand()?;
        if self.eat('+') || self.eat('-') {
            self.operand()?;
            return Some(Operand::Arithmetic);
        }
        Some(first)
    }

    fn placeholder(&mut self) -> Option<String> {
        match self.next()? {
            Token::Value(placeholder) => Some(placeholder),
            _ => None,
        }
    }

    fn actions(&mut self) -> Option<Vec<Action>> {
        let mut actions = Vec::new();
        while self.peek().is_some() {
            let keyword = self.clause_keyword()?;
            self.at += 1;
            loop {
                let path = self.path()?;
                actions.push(match keyword.as_str() {
                    "SET" => {
                        if !self.eat('=') {
                            return None;
                        }
                        Action::Set(path, self.value()?)
                    }
                    "REMOVE" => Action::Remove(path),
                    "ADD" => Action::Add(path, self.placeholder()?),
                    _ => Action::Delete(path, self.placeholder()?),
                });
                if !self.eat(',') {
                    break;
                }
            }
        }
        Some(actions)
    }
}

/// What an attribute holds after the update, as far as the proxy can tell.
#[derive(Debug, Clone, PartialEq)]
enum Known {
    Value(Value),
    Absent,
    Unknown,
}

/// The lower bound of the item's size after `expression`, or `None` when the expression does
/// not parse (the upstream then answers for it). `current` is the stored item (`Some(None)`:
/// there is none; `None`: it could not be read), `key` the request's key.
pub(super) fn size_after(
    expression: &str,
    names: Option<&Map<String, Value>>,
    values: Option<&Map<String, Value>>,
    key: &Map<String, Value>,
    current: Option<Option<&Map<String, Value>>>,
) -> Option<usize> {
    let mut parser = Parser {
        tokens: tokenize(expression)?,
        at: 0,
        names,
    };
    let actions = parser.actions()?;
    let read = |path: &Path| -> Known {
        match current {
            _ if path.nested => Known::Unknown,
            None => Known::Unknown,
            Some(item) => item
                .and_then(|item| item.get(&path.top))
                .cloned()
                .map_or(Known::Absent, Known::Value),
        }
    };
    let value_of = |placeholder: &str| -> Known {
        values
            .and_then(|values| values.get(placeholder))
            .cloned()
            .map_or(Known::Unknown, Known::Value)
    };
    let mut result: BTreeMap<String, Known> = current
        .flatten()
        .into_iter()
        .flatten()
        .chain(key)
        .map(|(name, value)| (name.clone(), Known::Value(value.clone())))
        .collect();
    for action in &actions {
        let (path, known) = match action {
            Action::Set(path, operand) => (path, evaluate(operand, &read, &value_of)),
            Action::Remove(path) => (path, Known::Absent),
            Action::Add(path, placeholder) => {
                (path, combine(read(path), value_of(placeholder), true))
            }
            Action::Delete(path, placeholder) => {
                (path, combine(read(path), value_of(placeholder), false))
            }
        };
        let known = if path.nested { Known::Unknown } else { known };
        result.insert(path.top.clone(), known);
    }
    Some(
        result
            .iter()
            .filter_map(|(name, known)| match known {
                Known::Value(value) => Some(attribute_size(name, value)),
                Known::Absent | Known::Unknown => None,
            })
            .sum(),
    )
}

fn evaluate(
    operand: &Operand,
    read: &dyn Fn(&Path) -> Known,
    value_of: &dyn Fn(&str) -> Known,
) -> Known {
    match operand {
        Operand::Value(placeholder) => value_of(placeholder),
        Operand::Path(path) => match read(path) {
            // Copying a missing attribute fails the whole update.
            Known::Absent => Known::Unknown,
            known => known,
        },
        Operand::Call(function, arguments) => match (function.as_str(), arguments.as_slice()) {
            ("if_not_exists", [Operand::Path(path), fallback]) => match read(path) {
                Known::Absent => evaluate(fallback, read, value_of),
                known => known,
            },
            ("list_append", [first, second]) => {
                match (
                    evaluate(first, read, value_of),
                    evaluate(second, read, value_of),
                ) {
                    (Known::Value(a), Known::Value(b)) => match (a.get("L"), b.get("L")) {
                        (Some(Value::Array(a)), Some(Value::Array(b))) => Known::Value(
                            serde_json::json!({ "L": a.iter().chain(b).collect::<Vec<_>>() }),
                        ),
                        _ => Known::Unknown,
                    },
                    _ => Known::Unknown,
                }
            }
            _ => Known::Unknown,
        },
        Operand::Arithmetic => Known::Unknown,
    }
}

/// `ADD` (union) or `DELETE` (difference) of a set; numbers and mismatches are unknown.
fn combine(stored: Known, operand: Known, union: bool) -> Known {
    let Known::Value(operand) = operand else {
        return Known::Unknown;
    };
    let Some((kind, Value::Array(given))) = operand.as_object().and_then(|o| o.iter().next())
    else {
        return Known::Unknown;
    };
    if !["SS", "NS", "BS"].contains(&kind.as_str()) {
        return Known::Unknown;
    }
    let existing: Vec<Value> = match &stored {
        Known::Absent => Vec::new(),
        Known::Value(value) => match value.get(kind) {
            Some(Value::Array(existing)) => existing.clone(),
            _ => return Known::Unknown,
        },
        Known::Unknown => return Known::Unknown,
    };
    let given_keys: BTreeSet<String> = given.iter().map(|v| set_key(kind, v)).collect();
    let mut seen = BTreeSet::new();
    let candidates: Vec<Value> = if union {
        existing.iter().chain(given).cloned().collect()
    } else {
        existing
            .into_iter()
            .filter(|v| !given_keys.contains(&set_key(kind, v)))
            .collect()
    };
    let elements: Vec<Value> = candidates
        .into_iter()
        .filter(|v| seen.insert(set_key(kind, v)))
        .collect();
    if elements.is_empty() {
        Known::Absent
    } else {
        Known::Value(serde_json::json!({ kind.as_str(): elements }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    fn size(expression: &str, values: Value, current: Option<Option<Value>>) -> Option<usize> {
        let key = map(json!({"id": {"S": "k"}}));
        let current = current.map(|item| item.map(map));
        size_after(
            expression,
            Some(&map(json!({"#s": "status"}))),
            Some(&map(values)),
            &key,
            current.as_ref().map(Option::as_ref),
        )
    }

    #[test]
    fn set_and_remove_on_the_stored_item_are_exact() {
        let stored =
            json!({"id": {"S": "k"}, "status": {"S": "INPROGRESS"}, "gone": {"S": "xxxx"}});
        // id 2+1, status 6+9 ("COMPLETED"), note 4+2.
        assert_eq!(
            size(
                "SET #s = :c, note = :n REMOVE gone",
                json!({":c": {"S": "COMPLETED"}, ":n": {"S": "hi"}}),
                Some(Some(stored)),
            ),
            Some(3 + 15 + 6)
        );
    }

    #[test]
    fn an_unreadable_item_counts_only_the_key_and_the_values_set() {
        assert_eq!(
            size("SET a = :v", json!({":v": {"S": "abc"}}), None),
            Some(3 + 4)
        );
    }

    #[test]
    fn nested_paths_and_arithmetic_count_as_zero() {
        let stored = json!({"id": {"S": "k"}, "m": {"M": {"x": {"S": "yyyy"}}}, "n": {"N": "1"}});
        assert_eq!(
            size(
                "SET m.x = :v, n = n + :one",
                json!({":v": {"S": "zz"}, ":one": {"N": "1"}}),
                Some(Some(stored)),
            ),
            Some(3)
        );
    }

    #[test]
    fn if_not_exists_list_append_and_set_union() {
        let stored = json!({"id": {"S": "k"}, "l": {"L": [{"S": "a"}]}, "s": {"SS": ["a", "b"]}});
        // l: 1 + 3 + 2 × (1 + 1); s: 1 + 3 (a, b, c); keep: 4 + 1 (stored "old" absent → :d).
        assert_eq!(
            size(
                "SET l = list_append(l, :more), keep = if_not_exists(keep, :d) ADD s :s",
                json!({":more": {"L": [{"S": "b"}]}, ":d": {"S": "d"}, ":s": {"SS": ["b", "c"]}}),
                Some(Some(stored)),
            ),
            Some(3 + 8 + 4 + 5)
        );
    }

    #[test]
    fn delete_from_a_set_and_an_unparsable_expression() {
        let stored = json!({"id": {"S": "k"}, "s": {"SS": ["a", "b"]}});
        assert_eq!(
            size(
                "DELETE s :s",
                json!({":s": {"SS": ["a"]}}),
                Some(Some(stored.clone()))
            ),
            Some(3 + 2)
        );
        assert_eq!(size("SET = :v", json!({}), Some(Some(stored))), None);
    }
}
