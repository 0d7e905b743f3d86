//! Why a chore failed; printed as `xtask <command>: <error>`, exit status 1.

/// The result of a chore.
pub type Result<T = ()> = std::result::Result<T, Error>;

/// A chore's failure.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The command line was wrong; the command's usage follows the reason.
    #[error("{reason}\n\n{usage}")]
    Usage { reason: String, usage: &'static str },
    /// The local machinery (tools, processes, stack, provisioning) failed.
    #[error(transparent)]
    Devkit(#[from] devkit::Error),
    /// What the chore checks did not hold; the message lists what differed.
    #[error("{0}")]
    Check(String),
    /// A file could not be read or written.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Error {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    pub fn check(message: impl Into<String>) -> Error {
        Error::Check(message.into())
    }
}

/// A message that already says what failed and what to do.
impl From<String> for Error {
    fn from(message: String) -> Error {
        Error::Check(message)
    }
}

impl From<devkit::provision::ProvisionError> for Error {
    fn from(err: devkit::provision::ProvisionError) -> Error {
        Error::Devkit(err.into())
    }
}
