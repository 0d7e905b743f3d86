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
/// token form-encoded as the functions decode it: `/lambda-url/<binary>/webhooks/<category>?token=…`.
pub fn function_path(category: Category, token: &str) -> String {
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("token", token)
        .finish();
    format!(
        "/lambda-url/{}{}?{query}",
        category.binary(),
        category.route()
    )
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
            "/lambda-url/linkedin-webhook/webhooks/linkedin?token=a+b%26c"
        );
        assert!(function_path(Category::Email, crate::LOCAL_TOKEN).ends_with(crate::LOCAL_TOKEN));
    }
}
