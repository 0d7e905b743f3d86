//! Keeping secrets out of text. A subscription URL carries the webhook token in its query
//! string, and an error from Reply may echo a URL back; both pass through here before they
//! reach a log line, an error message or a table.

/// The URL with the value of every `token` query parameter replaced by `***`.
pub fn redact_url(url: &str) -> String {
    redact_text(url, &[])
}

/// `text` with every `token=<value>` (in any case) masked, and every occurrence of each of
/// `secrets` (an API key, say) replaced by `***`.
pub fn redact_text(text: &str, secrets: &[&str]) -> String {
    let mut out = mask_token_parameters(text);
    for secret in secrets.iter().filter(|s| !s.is_empty()) {
        out = out.replace(secret, "***");
    }
    out
}

fn mask_token_parameters(text: &str) -> String {
    const NAME: &str = "token=";
    let lower = text.to_ascii_lowercase();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut search = 0;
    while let Some(found) = lower[search..].find(NAME) {
        let start = search + found;
        let value_start = start + NAME.len();
        // Only a parameter: at the start, or after `?`, `&` or a non-word character.
        let at_boundary = start == 0
            || !text[..start]
                .chars()
                .next_back()
                .is_some_and(|c| c.is_alphanumeric() || c == '_');
        let value_end = text[value_start..]
            .find(|c: char| matches!(c, '&' | '#' | '"' | '\'' | '<' | '>') || c.is_whitespace())
            .map_or(text.len(), |end| value_start + end);
        if at_boundary && value_end > value_start {
            out.push_str(&text[copied..value_start]);
            out.push_str("***");
            copied = value_end;
        }
        search = value_end.max(value_start);
    }
    out.push_str(&text[copied..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_every_token_parameter_and_keeps_the_rest() {
        assert_eq!(
            redact_url("https://h/webhooks/email?token=abc-def_123&x=1"),
            "https://h/webhooks/email?token=***&x=1"
        );
        assert_eq!(
            redact_url("https://h/p?a=1&TOKEN=s3cret#frag"),
            "https://h/p?a=1&TOKEN=***#frag"
        );
        assert_eq!(redact_url("https://h/p?token="), "https://h/p?token=");
        assert_eq!(redact_url("https://h/p?mytoken=x"), "https://h/p?mytoken=x");
        assert_eq!(
            redact_text(
                r#"url "https://h/p?token=one" and token=two, key KEY-123"#,
                &["KEY-123"]
            ),
            r#"url "https://h/p?token=***" and token=*** key ***"#
        );
    }

    #[test]
    fn never_panics_on_unusual_text() {
        for text in ["token=", "ätoken=ü", "token=é&token=", "", "tokentoken=x"] {
            let _ = redact_text(text, &["", "x"]);
        }
        assert_eq!(redact_url("ätoken=ü"), "ätoken=ü");
        assert_eq!(redact_url("é token=ü"), "é token=***");
    }
}
