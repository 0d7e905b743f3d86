//! Clean stop on Ctrl-C (SIGINT), SIGTERM and SIGHUP.
//!
//! Background processes run in process groups of their own, so the terminal's Ctrl-C reaches
//! only this process (and foreground children such as `cargo test`). The first such signal runs
//! every registered cleanup, newest first, and exits with 128 + the signal number; signals that
//! arrive meanwhile are ignored, so a second Ctrl-C cannot cut a cleanup short (each is bounded).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError};

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use crate::{Error, Result};

type Cleanup = Box<dyn FnOnce() + Send>;

static CLEANUPS: Mutex<Vec<(u64, Cleanup)>> = Mutex::new(Vec::new());
static NEXT_ID: AtomicU64 = AtomicU64::new(0);
static WATCHER: OnceLock<std::result::Result<(), String>> = OnceLock::new();

/// A registered cleanup; dropping it unregisters it (the normal path has cleaned up itself).
#[derive(Debug)]
#[must_use = "the cleanup is unregistered when this guard is dropped"]
pub struct OnInterrupt(u64);

impl Drop for OnInterrupt {
    fn drop(&mut self) {
        let mut cleanups = CLEANUPS.lock().unwrap_or_else(PoisonError::into_inner);
        cleanups.retain(|(id, _)| *id != self.0);
    }
}

/// Runs `cleanup` if a terminating signal arrives while the returned guard lives.
pub fn on_interrupt(cleanup: impl FnOnce() + Send + 'static) -> Result<OnInterrupt> {
    WATCHER
        .get_or_init(start_watcher)
        .clone()
        .map_err(|reason| Error::io("cannot handle Ctrl-C", std::io::Error::other(reason)))?;
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    CLEANUPS
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push((id, Box::new(cleanup)));
    Ok(OnInterrupt(id))
}

fn start_watcher() -> std::result::Result<(), String> {
    let mut signals = Signals::new([SIGINT, SIGTERM, SIGHUP]).map_err(|e| e.to_string())?;
    std::thread::Builder::new()
        .name("interrupt".into())
        .spawn(move || {
            if let Some(signal) = signals.forever().next() {
                let pending =
                    std::mem::take(&mut *CLEANUPS.lock().unwrap_or_else(PoisonError::into_inner));
                if !pending.is_empty() {
                    eprintln!("\n==> interrupted: stopping what was started");
                }
                for (_, cleanup) in pending.into_iter().rev() {
                    cleanup();
                }
                std::process::exit(128 + signal);
            }
        })
        .map(drop)
        .map_err(|e| e.to_string())
}
