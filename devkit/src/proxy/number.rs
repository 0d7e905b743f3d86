//! Decimal numbers as DynamoDB and SQS read them: a sign, digits, an optional fraction and
//! exponent; what matters is how many significant digits there are and the magnitude.

/// A parsed decimal, normalised: no leading or trailing zeros in `digits`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Decimal {
    negative: bool,
    /// The significant digits (empty for zero).
    digits: String,
    /// The power of ten of the most significant digit (0 for zero).
    exponent: i64,
}

impl Decimal {
    /// Parses `[+-]digits[.digits][(e|E)[+-]digits]` (at least one mantissa digit); `None`
    /// for anything else.
    pub fn parse(text: &str) -> Option<Decimal> {
        let (negative, rest) = match text.as_bytes().first()? {
            b'-' => (true, &text[1..]),
            b'+' => (false, &text[1..]),
            _ => (false, text),
        };
        let (mantissa, exponent) = match rest.find(['e', 'E']) {
            Some(at) => (&rest[..at], Some(&rest[at + 1..])),
            None => (rest, None),
        };
        let (integer, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if integer.len() + fraction.len() == 0 || !all_digits(integer) || !all_digits(fraction) {
            return None;
        }
        let exponent = match exponent {
            Some(e) => parse_exponent(e)?,
            None => 0,
        };
        let digits: String = integer.chars().chain(fraction.chars()).collect();
        let Some(first) = digits.find(|c| c != '0') else {
            return Some(Decimal {
                negative: false,
                digits: String::new(),
                exponent: 0,
            });
        };
        let last = digits.rfind(|c| c != '0').unwrap_or(first);
        let position = integer.len() as i64 - 1 - first as i64;
        Some(Decimal {
            negative,
            digits: digits[first..=last].to_owned(),
            exponent: position.saturating_add(exponent),
        })
    }

    pub fn significant_digits(&self) -> usize {
        self.digits.len()
    }

    /// The power of ten of the most significant digit; `None` for zero.
    pub fn magnitude(&self) -> Option<i64> {
        (!self.digits.is_empty()).then_some(self.exponent)
    }
}

/// An exponent, saturated far beyond any limit rather than refused when it has many digits.
fn parse_exponent(text: &str) -> Option<i64> {
    let (negative, digits) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let value = digits.bytes().fold(0i64, |acc, b| {
        acc.saturating_mul(10).saturating_add(i64::from(b - b'0'))
    });
    Some(if negative { -value } else { value })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(text: &str) -> (usize, Option<i64>) {
        let d = Decimal::parse(text).unwrap();
        (d.significant_digits(), d.magnitude())
    }

    #[test]
    fn normalises_digits_and_magnitude() {
        assert_eq!(parts("000123.4500"), (5, Some(2)));
        assert_eq!(parts("0.00012"), (2, Some(-4)));
        assert_eq!(parts("-1.5e3"), (2, Some(3)));
        assert_eq!(parts("1E-130"), (1, Some(-130)));
        assert_eq!(parts("0"), (0, None));
        assert_eq!(parts("-0.000e5"), (0, None));
        assert_eq!(parts(".5"), (1, Some(-1)));
        assert_eq!(parts("5."), (1, Some(0)));
        assert_eq!(parts("1e99999999999999999999999"), (1, Some(i64::MAX)));
    }

    #[test]
    fn equal_values_parse_equal() {
        assert_eq!(Decimal::parse("1"), Decimal::parse("1.000"));
        assert_eq!(Decimal::parse("10"), Decimal::parse("1e1"));
        assert_ne!(Decimal::parse("1"), Decimal::parse("-1"));
    }

    #[test]
    fn refuses_what_is_not_a_number() {
        for text in [
            "", "-", ".", "abc", "1e", "1e+", "1.2.3", "0x10", " 1", "1 ", "NaN", "1_0",
        ] {
            assert!(Decimal::parse(text).is_none(), "{text:?}");
        }
    }
}
