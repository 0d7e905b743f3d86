//! `make demo`'s last part: a fake Reply wired to the running local stack (`RW_STACK_DIR`)
//! with `reply-webhooks subscribe`. See `reply_webhooks::demo`.

use std::path::Path;
use std::process::ExitCode;

fn main() -> ExitCode {
    // The workspace root: cli/ is one level below it.
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap_or(Path::new("."));
    reply_webhooks::demo::run(root).into()
}
