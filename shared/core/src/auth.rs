//! The delivery token. Reply does not sign deliveries, so the operator puts a secret token in
//! the subscription URL; several may be valid at once, so one can be rotated without downtime.

use std::fmt;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Shortest token accepted: 16 characters.
pub const MIN_TOKEN_CHARS: usize = 16;

/// Whether `c` may appear in a token: the URL-unreserved set `A-Z a-z 0-9 - . _ ~`, which
/// reaches the function unchanged whatever encodes or decodes the query string on the way
/// (a `+` would arrive as a space, a `%` would be decoded, `&` and `#` would cut the token).
pub const fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~')
}

/// The accepted tokens, kept only as SHA-256 digests.
///
/// Comparing digests of equal length, with every candidate checked and no early exit, means
/// the time taken says nothing about a token's content or length.
#[derive(Clone)]
pub struct TokenSet {
    digests: Vec<[u8; 32]>,
}

/// Why a token list is refused. Names the entry by position, never by value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("token #{0} is shorter than {MIN_TOKEN_CHARS} characters")]
    TooShort(usize),
    #[error(
        "token #{0} has a character outside A-Z a-z 0-9 - . _ ~ (generate one with: openssl rand -hex 32)"
    )]
    BadCharacter(usize),
}

impl TokenSet {
    /// Parses a comma-separated list (spaces around entries are ignored).
    pub fn parse(list: &str) -> Result<TokenSet, TokenError> {
        let mut digests = Vec::new();
        for (index, token) in list.split(',').map(str::trim).enumerate() {
            let position = index + 1;
            if token.chars().count() < MIN_TOKEN_CHARS {
                return Err(TokenError::TooShort(position));
            }
            if !token.chars().all(is_token_char) {
                return Err(TokenError::BadCharacter(position));
            }
            digests.push(digest(token));
        }
        Ok(TokenSet { digests })
    }

    /// A set that accepts nothing: for work that never authenticates (a replay).
    pub fn none() -> TokenSet {
        TokenSet {
            digests: Vec::new(),
        }
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
        assert_eq!(err, TokenError::TooShort(2));
        assert_eq!(err.to_string(), "token #2 is shorter than 16 characters");
        assert!(
            !format!("{:?}", TokenSet::parse("local-test-token-0001").unwrap()).contains("local")
        );
    }

    #[test]
    fn tokens_that_a_url_would_change_are_refused() {
        // What `openssl rand -base64` prints can hold `+`, `/` and `=`.
        for token in [
            "abcdefghijklmnop+q",
            "abcdefghijklmnop/q",
            "abcdefghijklmnop=",
            "abcdefghijklmnop%41",
            "abcdefghijklmnop&x",
            "abcdefghijklmnop#x",
            "abcdefghijklmnöpq",
            "abcdefgh ijklmnopq",
        ] {
            assert_eq!(
                TokenSet::parse(token).unwrap_err(),
                TokenError::BadCharacter(1),
                "{token}"
            );
        }
        assert!(TokenSet::parse("A-Za-z0-9._~tokenXYZ").is_ok());
    }
}
