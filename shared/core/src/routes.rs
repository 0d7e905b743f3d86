//! Where each category's function is reached: its route on the HTTP API and its binary. These
//! are this product's deployment facts, not Reply's, so they live here rather than in the
//! payload crate.

use reply_payload::Category;

/// The route and binary of the function serving a category.
pub trait Routing {
    /// The HTTP API route (`/webhooks/email`); also what a `wrong_route` answer points to.
    fn route(self) -> &'static str;
    /// The cargo package and binary of the function (`email-webhook`).
    fn binary(self) -> &'static str;
}

impl Routing for Category {
    fn route(self) -> &'static str {
        match self {
            Category::Email => "/webhooks/email",
            Category::Linkedin => "/webhooks/linkedin",
            Category::Account => "/webhooks/account",
        }
    }

    fn binary(self) -> &'static str {
        match self {
            Category::Email => "email-webhook",
            Category::Linkedin => "linkedin-webhook",
            Category::Account => "account-webhook",
        }
    }
}
