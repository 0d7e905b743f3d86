//! Where a delivery goes on the local stack, from the product's own routing: an event type's
//! category names the function (binary) and the route.

use reply_payload::{Category, EventType};
use webhook_core::Routing;

/// The category that serves `event_type`. An unknown type goes to the email function, which
/// accepts it like any function would.
pub fn category_of(event_type: &EventType) -> Category {
    event_type.category().unwrap_or(Category::Email)
}

/// The path under `cargo lambda watch` that POSTs to `category`'s function and route, with the
/// token: `/lambda-url/<binary>/webhooks/<category>?token=…`.
pub fn function_path(category: Category, token: &str) -> String {
    format!(
        "/lambda-url/{}{}?token={}",
        category.binary(),
        category.route(),
        percent_encode(token)
    )
}

/// `raw` as a query value (unreserved characters kept, everything else `%XX`).
pub fn percent_encode(raw: &str) -> String {
    raw.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_type_goes_to_its_category_and_unknown_ones_to_email() {
        assert_eq!(
            category_of(&EventType::parse("linkedin_message_replied")),
            Category::Linkedin
        );
        assert_eq!(
            category_of(&EventType::parse("autopilot_stopped")),
            Category::Account
        );
        assert_eq!(
            category_of(&EventType::parse("a_type_reply_adds_later")),
            Category::Email
        );
    }

    #[test]
    fn the_function_path_names_binary_route_and_encoded_token() {
        assert_eq!(
            function_path(Category::Linkedin, "a b&c"),
            "/lambda-url/linkedin-webhook/webhooks/linkedin?token=a%20b%26c"
        );
        assert_eq!(percent_encode(crate::LOCAL_TOKEN), crate::LOCAL_TOKEN);
    }
}
