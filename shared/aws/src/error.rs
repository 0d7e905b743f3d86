//! SDK errors as the core's [`DependencyError`]: which service, its error code, and a
//! description; nothing from the request.

use std::future::Future;
use std::time::Duration;

use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use webhook_core::ports::{Dependency, DependencyError};

pub(crate) fn dependency_error<E, R>(dependency: Dependency, err: SdkError<E, R>) -> DependencyError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let code = match &err {
        SdkError::ServiceError(service) => service.err().code().map(str::to_owned),
        SdkError::TimeoutError(_) => Some("timeout".to_owned()),
        SdkError::DispatchFailure(_) => Some("dispatch_failure".to_owned()),
        SdkError::ResponseError(_) => Some("response_error".to_owned()),
        SdkError::ConstructionFailure(_) => Some("construction_failure".to_owned()),
        _ => None,
    };
    DependencyError {
        dependency,
        code,
        detail: DisplayErrorContext(&err).to_string(),
    }
}

/// Runs one SDK call, giving up after `within` (the time the pipeline can spare for it):
/// dropping the call cancels its request and any retry the SDK had planned.
pub(crate) async fn bounded<T, E: From<DependencyError>>(
    dependency: Dependency,
    within: Duration,
    call: impl Future<Output = Result<T, E>>,
) -> Result<T, E> {
    match tokio::time::timeout(within, call).await {
        Ok(result) => result,
        Err(_) => Err(DependencyError {
            dependency,
            code: Some("timeout".into()),
            detail: format!(
                "no answer within {} ms, the time left before the invocation's deadline",
                within.as_millis()
            ),
        }
        .into()),
    }
}
