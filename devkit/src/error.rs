//! What can go wrong while setting up or running local machinery; every message says what to
//! do about it.

use std::path::PathBuf;

use crate::provision::ProvisionError;
use crate::template::TemplateError;

/// This crate's result.
pub type Result<T = ()> = std::result::Result<T, Error>;

/// A failure of the local machinery.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file or socket operation failed.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// A port chosen through a variable is not usable.
    #[error(
        "{var}={value}: {problem}. Stop that process, or choose another port, e.g. {var}={suggestion}."
    )]
    Port {
        var: &'static str,
        value: String,
        problem: String,
        suggestion: u16,
    },
    /// A program could not be started at all.
    #[error("cannot start `{program}`: {source}. {hint}")]
    Spawn {
        program: String,
        hint: &'static str,
        #[source]
        source: std::io::Error,
    },
    /// A foreground command ended with a failure status.
    #[error("`{command}` failed ({status}); its output is above")]
    Command { command: String, status: String },
    /// A tool is still missing after the installer ran.
    #[error(
        "`{tool}` is missing from .tools/ after installing the `{group}` tools: remove .tools/ and retry (scripts/tools.sh {group})"
    )]
    ToolMissing {
        tool: &'static str,
        group: &'static str,
    },
    /// A background server died or never answered while starting.
    #[error("{what} {problem} (log: {log}){tail}", log = log.display())]
    Startup {
        what: String,
        problem: String,
        log: PathBuf,
        /// The last lines of the log, already formatted (empty when there is none).
        tail: String,
    },
    /// The local stack is needed but not running.
    #[error("the local stack is not running: start it with `make local`{then}")]
    StackNotRunning { then: String },
    /// A blocking HTTP call on loopback got no answer.
    #[error("{url}: no answer ({reason})")]
    Http { url: String, reason: String },
    /// A function run under the Runtime API emulator failed, exited or did not answer in time.
    #[error("the function {problem}")]
    Function { problem: String },
    /// Talking to the emulator needs its address.
    #[error(
        "AWS_ENDPOINT_URL is not set. This only talks to a local emulator: start one with `make local` and set AWS_ENDPOINT_URL=http://127.0.0.1:<moto port> (printed by `make local`)"
    )]
    NoEndpoint,
    /// Creating the local table or queues failed.
    #[error(transparent)]
    Provision(#[from] ProvisionError),
    /// `template.yaml` does not say what local provisioning needs.
    #[error(transparent)]
    Template(#[from] TemplateError),
}

impl Error {
    /// An I/O error with what was being done (`cannot read events/reply: …`).
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Error {
        Error::Io {
            context: context.into(),
            source,
        }
    }
}
