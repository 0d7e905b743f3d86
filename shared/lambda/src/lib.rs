//! Runs one category's function on AWS Lambda. Everything the three binaries share lives
//! here, so each `main` is one call: [`run`].
//!
//! ```text
//! Lambda event (REST API, HTTP API 1.0/2.0, ALB, function URL)
//!   └─ HttpEvent (parsed once) ─ BodyGuard ─ lambda_http adapter ─ http::Request ─ handle
//!        ─ Pipeline::handle ─ Response
//! ```
//! Start-up does no network I/O: configuration comes from the environment, and the AWS
//! clients (see [`clients`]) take their credentials from it too on Lambda.

pub mod clients;
mod deadline;
pub mod http;
pub mod logging;
pub mod metrics;
mod telemetry;

use std::time::SystemTime;

use aws_config::SdkConfig;
use lambda_http::request::LambdaRequest;
use lambda_http::{Adapter, Body, Request, RequestExt, service_fn};
use lambda_runtime::LambdaEvent;
use lambda_runtime::tower::{Service, ServiceExt};
use reply_payload::Category;
use webhook_aws::{DynamoDbStore, QueueUrls, SqsPublisher};
use webhook_core::ports::{Clock, IdempotencyStore, Publisher, SystemClock};
use webhook_core::{Config, Pipeline};

pub use clients::sdk_timeouts;
pub use deadline::{MARGIN, MINIMUM, deadline};
pub use lambda_runtime::Error;

/// Starts the function for `category`: logs, configuration, clients, then the runtime loop.
pub async fn run(category: Category) -> Result<(), Error> {
    logging::init();
    let config = Config::from_env().inspect_err(|err| {
        tracing::error!(error = %err, "configuration is invalid; the function cannot start");
    })?;
    let pipeline = pipeline(config, category, clients::from_env().await);
    lambda_runtime::run(http::parse_once(service(&pipeline))).await
}

/// The functions' pipeline: the core on DynamoDB and SQS.
pub type AwsPipeline = Pipeline<DynamoDbStore, SqsPublisher>;

/// The pipeline with its DynamoDB and SQS clients built from `dynamodb` and `sqs` (with the
/// functions' client settings, [`clients::from_sdk_config`]): tests point each service at its
/// own endpoint (moto, a fault proxy, a closed port).
pub fn aws_pipeline(
    config: Config,
    category: Category,
    dynamodb: &SdkConfig,
    sqs: &SdkConfig,
) -> AwsPipeline {
    pipeline(config, category, clients::from_sdk_config(dynamodb, sqs))
}

/// The pipeline on `clients`.
pub fn pipeline(config: Config, category: Category, clients: clients::Clients) -> AwsPipeline {
    let store = DynamoDbStore::new(clients.dynamodb, config.table_name.clone());
    let publisher = SqsPublisher::new(
        clients.sqs,
        QueueUrls {
            actionable: config.actionable_queue_url.clone(),
            activity: config.activity_queue_url.clone(),
            quarantine: config.quarantine_queue_url.clone(),
        },
    );
    Pipeline::new(config, category, store, publisher, SystemClock)
}

/// The service the runtime drives: the base64 guard, `lambda_http`'s conversion of any HTTP
/// event, and [`handle`].
pub fn service<'p, S, P, C>(
    pipeline: &'p Pipeline<S, P, C>,
) -> impl Service<LambdaEvent<LambdaRequest>, Response: serde::Serialize, Error = Error> + 'p
where
    S: IdempotencyStore,
    P: Publisher,
    C: Clock,
{
    http::BodyGuard::new(Adapter::from(service_fn(
        move |request: Request| async move { Ok::<_, Error>(handle(pipeline, request).await) },
    )))
}

/// One invocation: the pipeline, then one summary log line and the metrics.
pub async fn handle<S, P, C>(
    pipeline: &Pipeline<S, P, C>,
    request: Request,
) -> ::http::Response<Body>
where
    S: IdempotencyStore,
    P: Publisher,
    C: Clock,
{
    let started = std::time::Instant::now();
    let context = request.lambda_context_ref();
    let deadline = deadline(context.map_or(0, |c| c.deadline), SystemTime::now());
    let tokens = http::token_values(&request);
    let inbound = http::inbound(&request, &tokens);
    let handled = pipeline.handle(&inbound, deadline).await;
    let request_id = context.map_or("", |c| c.request_id.as_str());
    telemetry::record(
        request_id,
        request.uri().path(),
        &handled,
        started.elapsed(),
    );
    http::to_http(handled.response)
}

/// Runs one Lambda event (its JSON, as the runtime would receive it) through exactly the
/// service the runtime drives, and returns the JSON answer: for tests and tools that need a
/// function without a runtime.
pub async fn invoke<S, P, C>(
    pipeline: &Pipeline<S, P, C>,
    event: &str,
    context: lambda_runtime::Context,
) -> Result<serde_json::Value, Error>
where
    S: IdempotencyStore,
    P: Publisher,
    C: Clock,
{
    let payload: http::HttpEvent = serde_json::from_str(event)?;
    let response = http::parse_once(service(pipeline))
        .oneshot(LambdaEvent::new(payload, context))
        .await?;
    Ok(serde_json::to_value(response)?)
}
