//! `POST /webhooks/account`: Reply.io's account events. All the work is shared; see `webhook-lambda`.

use reply_payload::Category;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), webhook_lambda::Error> {
    webhook_lambda::run(Category::Account).await
}
