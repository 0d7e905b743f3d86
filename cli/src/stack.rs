//! The names under which a deployed stack (template.yaml) publishes what `subscribe` needs.

use reply_payload::Category;

/// The output holding the route URL of `category` (without a token).
pub const fn url_output(category: Category) -> &'static str {
    match category {
        Category::Email => "EmailWebhookUrl",
        Category::Linkedin => "LinkedinWebhookUrl",
        Category::Account => "AccountWebhookUrl",
    }
}

/// The output naming the idempotency table, where `--test` looks for the test deliveries.
pub const TABLE_OUTPUT: &str = "IdempotencyTableName";
