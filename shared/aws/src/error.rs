//! SDK errors as the core's [`DependencyError`]: which service, its error code, and a
//! description; nothing from the request.

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
