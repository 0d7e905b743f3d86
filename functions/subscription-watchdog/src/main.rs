//! The subscription watchdog (scheduled): see the library.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    subscription_watchdog::run().await
}
