//! `strict-proxy --upstream http://127.0.0.1:<port> --port <port>`: the strict AWS proxy
//! ([`devkit::proxy`]) as a process of its own, so the local stack can put it between the
//! functions and moto for as long as the stack runs (`make local` outlives the command that
//! started it). Each refusal is written to stderr and kept for `GET /__strict-proxy/refusals`.

use std::process::ExitCode;

use devkit::proxy::{Control, ProxyError, resolve_upstream, serve};

const USAGE: &str = "usage: strict-proxy --upstream http://127.0.0.1:<port> --port <port>";

/// Why the proxy did not run.
#[derive(Debug, thiserror::Error)]
enum Failure {
    #[error("{0}\n{USAGE}")]
    Usage(String),
    #[error(transparent)]
    Proxy(#[from] ProxyError),
    #[error("cannot start a Tokio runtime: {0}")]
    Runtime(#[source] std::io::Error),
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("strict-proxy: {failure}");
            ExitCode::from(2)
        }
    }
}

fn run() -> Result<(), Failure> {
    let mut upstream = None;
    let mut port = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value = args
            .next()
            .ok_or_else(|| Failure::Usage(format!("{arg} needs a value")))?;
        match arg.as_str() {
            "--upstream" => upstream = Some(value),
            "--port" => {
                port = Some(
                    value
                        .parse::<u16>()
                        .map_err(|_| Failure::Usage(format!("--port {value} is not a port")))?,
                );
            }
            _ => return Err(Failure::Usage(format!("unknown argument {arg}"))),
        }
    }
    let (Some(upstream), Some(port)) = (upstream, port) else {
        return Err(Failure::Usage("--upstream and --port are required".into()));
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(Failure::Runtime)?;
    runtime.block_on(async {
        let upstream_addr = resolve_upstream(&upstream).await?;
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .map_err(ProxyError::Bind)?;
        let control = Control::new();
        control.log_refusals();
        eprintln!("strict proxy on 127.0.0.1:{port}, in front of {upstream}");
        serve(listener, upstream_addr, control).await;
        Ok(())
    })
}
