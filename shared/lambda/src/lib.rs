//! Runs one category's function on AWS Lambda. Everything the three binaries share lives
//! here, so each `main` is one call: [`run`].
//!
//! Start-up does no network I/O: configuration comes from the environment, and the AWS
//! clients resolve credentials lazily on their first request.

mod apigw;
mod deadline;
pub mod metrics;
mod telemetry;

use std::time::{Duration, SystemTime};

use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use lambda_runtime::{LambdaEvent, service_fn};
use reply_payload::Category;
use webhook_aws::{DynamoDbStore, SqsPublisher};
use webhook_core::ports::{
    Clock, Dependency, DependencyError, IdempotencyStore, Publisher, SystemClock,
};
use webhook_core::{Config, Handled, Outcome, Pipeline, Response};

pub use apigw::{HttpApiRequest, HttpApiResponse};
pub use deadline::Budget;
pub use lambda_runtime::Error;

/// Starts the function for `category`: logs, configuration, clients, then the runtime loop.
pub async fn run(category: Category) -> Result<(), lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let config = Config::from_env().inspect_err(|err| {
        tracing::error!(error = %err, "configuration is invalid; the function cannot start");
    })?;
    let pipeline = pipeline(config, category).await;
    let pipeline = &pipeline;
    lambda_runtime::run(service_fn(move |event| handle(pipeline, event))).await
}

/// The functions' pipeline: the core on DynamoDB and SQS.
pub type AwsPipeline = Pipeline<DynamoDbStore, SqsPublisher>;

/// The pipeline on DynamoDB and SQS, with SDK timeouts short enough that a hung dependency
/// fails the request (503) instead of the invocation.
async fn pipeline(config: Config, category: Category) -> AwsPipeline {
    let aws = aws_config::defaults(BehaviorVersion::latest())
        .timeout_config(sdk_timeouts())
        .load()
        .await;
    aws_pipeline(config, category, &aws, &aws)
}

/// The pipeline with its DynamoDB and SQS clients built from `dynamodb` and `sqs`: one and the
/// same configuration in a function; tests point each service at its own endpoint (moto, a
/// fault proxy, a closed port).
pub fn aws_pipeline(
    config: Config,
    category: Category,
    dynamodb: &SdkConfig,
    sqs: &SdkConfig,
) -> AwsPipeline {
    let store = DynamoDbStore::new(
        aws_sdk_dynamodb::Client::new(dynamodb),
        config.table_name.clone(),
    );
    let publisher = SqsPublisher::new(
        aws_sdk_sqs::Client::new(sqs),
        config.actionable_queue_url.clone(),
        config.activity_queue_url.clone(),
    );
    Pipeline::new(config, category, store, publisher, SystemClock)
}

/// The SDK timeouts of the functions' clients: a connection or an attempt that takes more than
/// a second fails (and is retried), a whole operation more than three. Public so the fault
/// tests configure their clients exactly as the functions do.
pub fn sdk_timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(1))
        .operation_attempt_timeout(Duration::from_secs(1))
        .operation_timeout(Duration::from_secs(3))
        .build()
}

/// One invocation: the pipeline, bounded by the deadline, then one summary log line.
pub async fn handle<S, P, C>(
    pipeline: &Pipeline<S, P, C>,
    event: LambdaEvent<HttpApiRequest>,
) -> Result<HttpApiResponse, lambda_runtime::Error>
where
    S: IdempotencyStore,
    P: Publisher,
    C: Clock,
{
    let started = std::time::Instant::now();
    let budget = Budget::new(event.context.deadline, SystemTime::now());
    let tokens = event.payload.tokens();
    let request = event.payload.inbound(&tokens);
    let work = pipeline.handle(&request, budget.deadline);
    let handled = match tokio::time::timeout(budget.time, work).await {
        Ok(handled) => handled,
        Err(_) => timed_out(pipeline),
    };
    telemetry::record(&event.context.request_id, &handled, started.elapsed());
    Ok(handled.response.into())
}

/// The answer when the deadline came first. A claim made before it expires at the deadline,
/// so Reply's retry can take the event over.
fn timed_out<S, P, C>(pipeline: &Pipeline<S, P, C>) -> Handled {
    let outcome = Outcome::Unavailable(DependencyError {
        dependency: Dependency::Unknown,
        code: Some("deadline".into()),
        detail: "the invocation deadline passed before DynamoDB and SQS answered".into(),
    });
    Handled {
        response: Response::for_outcome(&outcome, None, None),
        report: webhook_core::Report::new(pipeline.function(), outcome),
    }
}
