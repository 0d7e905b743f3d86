//! The record's `validation` value: a SHA-256 of the body in a canonical form, so a retry that
//! carries the same JSON value written differently (whitespace, key order, string escapes)
//! is recognised as the same delivery, while a different value is not.
//!
//! The canonical form: no insignificant whitespace; object members sorted by key (bytewise on
//! the decoded key; members with equal keys keep their order); strings decoded and written
//! with serde_json's minimal escaping; numbers, `true`, `false` and `null` exactly as written
//! (so `1.0` and `1` differ, as they may to a consumer). It works on a body the payload crate
//! has already accepted; anything it cannot read is hashed as raw bytes instead, which can only
//! make two bodies look different, never alike.

use std::ops::Range;

use sha2::{Digest, Sha256};

/// The hex SHA-256 of `body`'s canonical form (of its raw bytes if it is not valid JSON).
pub fn validation_hash(body: &[u8]) -> String {
    let digest = match canonical(body) {
        Some(canonical) => Sha256::digest(&canonical),
        None => Sha256::digest(body),
    };
    hex::encode(digest)
}

/// `body` in canonical form, or `None` when it is not one valid JSON value.
pub fn canonical(body: &[u8]) -> Option<Vec<u8>> {
    let mut reader = Reader { bytes: body, at: 0 };
    let mut out = Vec::with_capacity(body.len());
    reader.value(&mut out, 0)?;
    reader.skip_whitespace();
    (reader.at == body.len()).then_some(out)
}

/// Deeper nesting than serde_json accepts is not valid here either.
const MAX_DEPTH: usize = 128;

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn skip_whitespace(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.bytes.get(self.at) {
            self.at += 1;
        }
    }

    fn eat(&mut self, byte: u8) -> Option<()> {
        self.skip_whitespace();
        (self.bytes.get(self.at) == Some(&byte)).then(|| self.at += 1)
    }

    fn peek(&mut self) -> Option<u8> {
        self.skip_whitespace();
        self.bytes.get(self.at).copied()
    }

    fn value(&mut self, out: &mut Vec<u8>, depth: usize) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        match self.peek()? {
            b'{' => self.object(out, depth),
            b'[' => self.array(out, depth),
            b'"' => self.string(out),
            _ => self.literal(out),
        }
    }

    fn object(&mut self, out: &mut Vec<u8>, depth: usize) -> Option<()> {
        self.eat(b'{')?;
        // Members are written once into `scratch`, then copied out in key order: one buffer
        // per object rather than two per member.
        let mut scratch = Vec::new();
        let mut members: Vec<(Range<usize>, Range<usize>)> = Vec::new();
        if self.peek()? != b'}' {
            loop {
                let key_start = scratch.len();
                self.string(&mut scratch)?;
                let key = key_start..scratch.len();
                self.eat(b':')?;
                self.value(&mut scratch, depth + 1)?;
                members.push((key.clone(), key.end..scratch.len()));
                if self.eat(b',').is_none() {
                    break;
                }
            }
        }
        self.eat(b'}')?;
        // Stable: members with equal keys keep their order.
        members.sort_by(|a, b| scratch[a.0.clone()].cmp(&scratch[b.0.clone()]));
        out.push(b'{');
        for (index, (key, value)) in members.into_iter().enumerate() {
            if index > 0 {
                out.push(b',');
            }
            out.extend_from_slice(&scratch[key]);
            out.push(b':');
            out.extend_from_slice(&scratch[value]);
        }
        out.push(b'}');
        Some(())
    }

    fn array(&mut self, out: &mut Vec<u8>, depth: usize) -> Option<()> {
        self.eat(b'[')?;
        out.push(b'[');
        if self.peek()? != b']' {
            loop {
                self.value(out, depth + 1)?;
                if self.eat(b',').is_none() {
                    break;
                }
                out.push(b',');
            }
        }
        self.eat(b']')?;
        out.push(b']');
        Some(())
    }

    /// A string token, decoded by serde_json and written back with its minimal escaping.
    fn string(&mut self, out: &mut Vec<u8>) -> Option<()> {
        self.skip_whitespace();
        let start = self.at;
        if self.bytes.get(start) != Some(&b'"') {
            return None;
        }
        let mut at = start + 1;
        loop {
            match self.bytes.get(at)? {
                b'\\' => at += 2,
                b'"' => break,
                _ => at += 1,
            }
        }
        self.at = at + 1;
        let token = &self.bytes[start..self.at];
        // Without escapes or control characters, valid UTF-8 is already written the way
        // serde_json would write it back (it escapes only quotes, backslashes and controls): as is.
        let inner = &token[1..token.len() - 1];
        if !inner.iter().any(|&b| b == b'\\' || b < 0x20) && std::str::from_utf8(inner).is_ok() {
            out.extend_from_slice(token);
            return Some(());
        }
        let decoded: String = serde_json::from_slice(token).ok()?;
        serde_json::to_writer(out, &decoded).ok()
    }

    /// A number, `true`, `false` or `null`, copied as written.
    fn literal(&mut self, out: &mut Vec<u8>) -> Option<()> {
        let start = self.at;
        while let Some(b) = self.bytes.get(self.at) {
            if matches!(b, b',' | b']' | b'}' | b' ' | b'\t' | b'\n' | b'\r') {
                break;
            }
            self.at += 1;
        }
        let token = &self.bytes[start..self.at];
        let valid = matches!(token, b"true" | b"false" | b"null")
            || serde_json::from_slice::<serde_json::Number>(token).is_ok();
        valid.then(|| out.extend_from_slice(token))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The canonical form as first written (a buffer per member, every string decoded and
    /// written back by serde_json): the faster one above must give the same bytes.
    fn reference(body: &[u8]) -> Option<Vec<u8>> {
        fn value(r: &mut Reader<'_>, out: &mut Vec<u8>, depth: usize) -> Option<()> {
            if depth > MAX_DEPTH {
                return None;
            }
            match r.peek()? {
                b'{' => {
                    r.eat(b'{')?;
                    let mut members: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
                    if r.peek()? != b'}' {
                        loop {
                            let mut key = Vec::new();
                            string(r, &mut key)?;
                            r.eat(b':')?;
                            let mut v = Vec::new();
                            value(r, &mut v, depth + 1)?;
                            members.push((key, v));
                            if r.eat(b',').is_none() {
                                break;
                            }
                        }
                    }
                    r.eat(b'}')?;
                    members.sort_by(|a, b| a.0.cmp(&b.0));
                    out.push(b'{');
                    for (i, (k, v)) in members.iter().enumerate() {
                        if i > 0 {
                            out.push(b',');
                        }
                        out.extend_from_slice(k);
                        out.push(b':');
                        out.extend_from_slice(v);
                    }
                    out.push(b'}');
                    Some(())
                }
                b'[' => {
                    r.eat(b'[')?;
                    out.push(b'[');
                    if r.peek()? != b']' {
                        loop {
                            value(r, out, depth + 1)?;
                            if r.eat(b',').is_none() {
                                break;
                            }
                            out.push(b',');
                        }
                    }
                    r.eat(b']')?;
                    out.push(b']');
                    Some(())
                }
                b'"' => string(r, out),
                _ => r.literal(out),
            }
        }
        fn string(r: &mut Reader<'_>, out: &mut Vec<u8>) -> Option<()> {
            r.skip_whitespace();
            let start = r.at;
            if r.bytes.get(start) != Some(&b'"') {
                return None;
            }
            let mut at = start + 1;
            loop {
                match r.bytes.get(at)? {
                    b'\\' => at += 2,
                    b'"' => break,
                    _ => at += 1,
                }
            }
            r.at = at + 1;
            let decoded: String = serde_json::from_slice(&r.bytes[start..r.at]).ok()?;
            serde_json::to_writer(out, &decoded).ok()
        }
        let mut reader = Reader { bytes: body, at: 0 };
        let mut out = Vec::new();
        value(&mut reader, &mut out, 0)?;
        reader.skip_whitespace();
        (reader.at == body.len()).then_some(out)
    }

    #[test]
    fn the_canonical_form_is_the_reference_ones_byte_for_byte() {
        let mut bodies: Vec<Vec<u8>> = [
            &br#"{"b":"\/","a":[true,null,-1.5e3],"c":{"z":1,"y":"caf\u00e9","y":"\"q\""}}"#[..],
            br#"{"ctl":"a\u0001b","tab":"a\tb","del":"\u007f","raw":"caf"}"#,
            b"{\"raw\":\"caf\xc3\xa9 \x7f\"}",
            b"{\"raw tab\":\"a\tb\"}",
            b"{\"bad\":\"\xff\"}",
            br#"{"a":1,"b":0,"a":2}"#,
            br#"[{"k":[{"x":"\ud83d\ude00"},{}]},[],"",0]"#,
            br#"{"a":"\ud800"}"#,
        ]
        .iter()
        .map(|b| b.to_vec())
        .collect();
        let events = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../events");
        for dir in ["reply", "variants", "bad"] {
            for entry in std::fs::read_dir(events.join(dir)).unwrap() {
                bodies.push(std::fs::read(entry.unwrap().path()).unwrap());
            }
        }
        assert!(bodies.len() > 30);
        for body in &bodies {
            assert_eq!(
                canonical(body),
                reference(body),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }

    fn same(a: &str, b: &str) -> bool {
        validation_hash(a.as_bytes()) == validation_hash(b.as_bytes())
    }

    #[test]
    fn whitespace_key_order_and_escapes_do_not_matter() {
        let original = r#"{"event":{"id":"e","type":"email_replied"},"text":"café","n":[1,2]}"#;
        for rewritten in [
            "{ \"event\" : { \"id\" : \"e\", \"type\" : \"email_replied\" },\n \"text\" : \"café\", \"n\" : [ 1 , 2 ] }",
            r#"{"n":[1,2],"text":"café","event":{"type":"email_replied","id":"e"}}"#,
            r#"{"event":{"id":"\u0065","type":"email_replied"},"text":"caf\u00e9","n":[1,2]}"#,
            r#"{"event":{"id":"e","type":"email\u005freplied"},"text":"caf\u00E9","n":[1,2]}"#,
        ] {
            assert!(same(original, rewritten), "{rewritten}");
        }
        assert_eq!(
            canonical(br#" { "b" : "\/" , "a" : [ true , null , -1.5e3 ] } "#).unwrap(),
            br#"{"a":[true,null,-1.5e3],"b":"/"}"#
        );
    }

    #[test]
    fn a_different_value_hashes_differently() {
        let original = r#"{"event":{"id":"e","type":"email_replied"},"n":[1,2]}"#;
        for other in [
            r#"{"event":{"id":"e","type":"email_bounced"},"n":[1,2]}"#,
            r#"{"event":{"id":"e","type":"email_replied"},"n":[2,1]}"#,
            r#"{"event":{"id":"e","type":"email_replied"},"n":[1,2.0]}"#,
            r#"{"event":{"id":"e","type":"email_replied"},"n":[1,2],"x":null}"#,
            r#"{"event":{"id":"e","type":"email_replied"},"n":"[1,2]"}"#,
        ] {
            assert!(!same(original, other), "{other}");
        }
    }

    #[test]
    fn repeated_keys_keep_their_order_and_all_their_values() {
        assert!(!same(r#"{"a":1,"a":2}"#, r#"{"a":2,"a":1}"#));
        assert!(!same(r#"{"a":1,"a":2}"#, r#"{"a":2}"#));
        assert!(same(r#"{"a":1,"b":0,"a":2}"#, r#"{"b":0,"a":1,"a":2}"#));
    }

    #[test]
    fn what_is_not_json_is_hashed_as_it_is() {
        for raw in [
            &b"not json"[..],
            b"{\"a\":1",
            b"{\"a\":1} x",
            b"\xff",
            b"",
            b"{\"a\":\"\\ud800\"}",
        ] {
            assert_eq!(canonical(raw), None, "{raw:?}");
            assert_eq!(validation_hash(raw), hex::encode(Sha256::digest(raw)));
        }
    }
}
