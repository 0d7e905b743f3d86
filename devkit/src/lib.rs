//! What the chores (`cargo xtask …`) and the integration tests share, so each piece of
//! machinery exists once: where the pinned tools live, background processes that never outlive
//! their command, moto's server, the strict AWS proxy, the local stack (moto behind the proxy,
//! plus the functions under `cargo lambda watch`), the local table and queues, whose settings
//! come from `template.yaml`, the contract suite: its case file, the Lambda event of every
//! source, and the real binaries as a backend, and a Lambda Runtime API emulator that runs a
//! function's binary outside Lambda.
//!
//! Development only: no function binary depends on this crate. Every server binds 127.0.0.1.

pub mod console;
pub mod contract;
pub mod error;
pub mod http;
pub mod ids;
pub mod interrupt;
pub mod lambda_event;
pub mod local_aws;
pub mod moto;
pub mod ports;
pub mod process;
pub mod provision;
pub mod proxy;
pub mod routes;
pub mod runtime_api;
pub mod stack;
pub mod template;
pub mod workspace;

pub use error::{Error, Result};
pub use local_aws::LocalAws;
pub use moto::Moto;
pub use stack::{Stack, StackMode};
pub use workspace::{ToolGroup, Workspace};

/// The token the local stack accepts and every sample event carries: a documented test value,
/// never a secret.
pub const LOCAL_TOKEN: &str = "reply-local-test-token-0001";

/// The region of the local stack when `AWS_REGION` is unset.
pub const LOCAL_REGION: &str = "us-east-1";
