//! moto's server: the local DynamoDB and SQS, on 127.0.0.1 in a process group of its own.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::console::say;
use crate::http::Loopback;
use crate::interrupt::{OnInterrupt, on_interrupt};
use crate::process::{Background, Signal, log_tail};
use crate::workspace::{ToolGroup, Workspace};
use crate::{Error, Result, ports};

/// How long moto may take to answer after it is started (it answers in about a second).
const READY_WITHIN: Duration = Duration::from_secs(30);
/// How long moto gets to exit on SIGTERM.
const STOP_GRACE: Duration = Duration::from_secs(5);
const NAME: &str = "moto";

/// A running moto server, stopped when dropped (and on Ctrl-C) unless [`Moto::detach`]ed;
/// dropping it also removes its directory, which it owns until then.
#[derive(Debug)]
pub struct Moto {
    dir: PathBuf,
    port: u16,
    armed: Option<OnInterrupt>,
}

impl Moto {
    /// Installs moto's server on first use, starts it on `MOTO_PORT` (or a free port) with its
    /// pid, port and log in `dir`, and waits until it answers.
    pub fn start(ws: &Workspace, dir: &Path) -> Result<Moto> {
        let port = ports::pick("MOTO_PORT", None)?;
        Moto::start_on(ws, dir, port)
    }

    /// As [`Moto::start`], on a port the caller picked (and checked) earlier.
    pub fn start_on(ws: &Workspace, dir: &Path, port: u16) -> Result<Moto> {
        ws.ensure_tools(&[ToolGroup::Moto])?;
        say(format!(
            "starting moto's server on 127.0.0.1:{port} (log: {}/moto.log)",
            ws.rel(dir)
        ));
        let mut command = ws.command(ToolGroup::Moto.probe());
        command.args(["-H", "127.0.0.1", "-p", &port.to_string()]);
        let process = Background::spawn(dir, NAME, &mut command)?;
        let stop_dir = dir.to_path_buf();
        let moto = Moto {
            dir: dir.to_path_buf(),
            port,
            armed: Some(on_interrupt(move || stop_and_remove(&stop_dir))?),
        };
        write_port(dir, port)?;
        moto.wait_ready(&process)?;
        Ok(moto)
    }

    /// The moto server recorded in `dir`, if its files are there.
    pub fn from_dir(dir: &Path) -> Option<Moto> {
        let port = std::fs::read_to_string(dir.join("moto.port"))
            .ok()?
            .trim()
            .parse()
            .ok()?;
        Some(Moto {
            dir: dir.to_path_buf(),
            port,
            armed: None,
        })
    }

    /// `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Whether its process still runs.
    pub fn is_running(&self) -> bool {
        Background::from_pid_file(&self.dir, NAME).is_some_and(|p| p.is_running())
    }

    /// Wipes every table and queue (`POST /moto-api/reset`).
    pub fn reset(&self) -> Result {
        let url = format!("{}/moto-api/reset", self.endpoint());
        let reply = Loopback::new(Duration::from_secs(30)).post_json(&url, b"")?;
        if reply.status == 200 {
            Ok(())
        } else {
            Err(Error::Http {
                url,
                reason: format!("HTTP {}: {}", reply.status, reply.body),
            })
        }
    }

    /// Leaves it running after this value is gone (its files stay in its directory).
    pub fn detach(mut self) {
        self.armed = None;
    }

    fn wait_ready(&self, process: &Background) -> Result {
        let url = format!("{}/moto-api/data.json", self.endpoint());
        let client = Loopback::new(Duration::from_secs(2));
        let deadline = Instant::now() + READY_WITHIN;
        loop {
            if !process.is_running() {
                return Err(Error::Startup {
                    what: "moto's server".into(),
                    problem: "exited during start-up".into(),
                    log: process.log(),
                    tail: log_tail(&process.log(), 20),
                });
            }
            if client.get(&url).is_ok() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(Error::Startup {
                    what: "moto's server".into(),
                    problem: format!(
                        "did not answer on 127.0.0.1:{} within {} s",
                        self.port,
                        READY_WITHIN.as_secs()
                    ),
                    log: process.log(),
                    tail: log_tail(&process.log(), 20),
                });
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        if self.armed.take().is_some() {
            stop_and_remove(&self.dir);
        }
    }
}

/// Stops the moto server recorded in `dir` (nothing when there is none).
pub fn stop_in(dir: &Path) {
    if let Some(process) = Background::from_pid_file(dir, NAME) {
        process.stop(Signal::Terminate, STOP_GRACE);
    }
    let _ = std::fs::remove_file(dir.join("moto.port"));
}

fn stop_and_remove(dir: &Path) {
    stop_in(dir);
    let _ = std::fs::remove_dir_all(dir);
}

fn write_port(dir: &Path, port: u16) -> Result {
    let path = dir.join("moto.port");
    std::fs::write(&path, format!("{port}\n"))
        .map_err(|e| Error::io(format!("cannot write {}", path.display()), e))
}
