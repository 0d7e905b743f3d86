//! The delivery token (SPEC §4). Reply does not sign deliveries, so the operator puts a secret
//! token in the subscription URL; several may be valid at once, so one can be rotated without
//! downtime.

use std::fmt;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::config::MIN_TOKEN_CHARS;

/// The accepted tokens, kept only as SHA-256 digests.
///
/// Comparing digests of equal length, with every candidate checked and no early exit, means
/// the time taken says nothing about a token's content or length.
#[derive(Clone)]
pub struct TokenSet {
    digests: Vec<[u8; 32]>,
}

impl TokenSet {
    /// Parses a comma-separated list; each token must have at least 16 characters. The error
    /// says which entry (by position) is wrong, never its value.
    pub fn parse(list: &str) -> Result<TokenSet, String> {
        let mut digests = Vec::new();
        for (index, token) in list.split(',').map(str::trim).enumerate() {
            if token.chars().count() < MIN_TOKEN_CHARS {
                return Err(format!(
                    "token #{} is shorter than {MIN_TOKEN_CHARS} characters",
                    index + 1
                ));
            }
            digests.push(digest(token));
        }
        Ok(TokenSet { digests })
    }

    /// Whether `presented` is one of the tokens, in constant time.
    pub fn accepts(&self, presented: &str) -> bool {
        let presented = digest(presented);
        let matched = self
            .digests
            .iter()
            .fold(subtle::Choice::from(0), |found, known| {
                found | known.ct_eq(&presented)
            });
        matched.into()
    }
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Never prints a token, not even its digest.
impl fmt::Debug for TokenSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenSet({} tokens)", self.digests.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_every_listed_token_and_nothing_else() {
        let set = TokenSet::parse("local-test-token-0001, second-token-abcdefgh").unwrap();
        assert!(set.accepts("local-test-token-0001"));
        assert!(set.accepts("second-token-abcdefgh"));
        for wrong in [
            "",
            "local-test-token-000",
            "LOCAL-TEST-TOKEN-0001",
            " local-test-token-0001",
            "local-test-token-0001,second-token-abcdefgh",
        ] {
            assert!(!set.accepts(wrong), "{wrong:?}");
        }
    }

    #[test]
    fn short_tokens_are_refused_without_echoing_them() {
        let err = TokenSet::parse("local-test-token-0001,short-secret").unwrap_err();
        assert_eq!(err, "token #2 is shorter than 16 characters");
        assert!(
            !format!("{:?}", TokenSet::parse("local-test-token-0001").unwrap()).contains("local")
        );
    }
}
