//! Background processes that never outlive their command.
//!
//! Each runs in its own process group, so the terminal's Ctrl-C reaches only us and we stop
//! it in order (see [`crate::interrupt`]). Its pid, which is also its group id, is kept in
//! `<dir>/<name>.pid`, so another command (`make stop`) can stop a stack it did not start.
//! Stopping ends the group and also every descendant that moved to a group of its own, as
//! `cargo lambda watch` does with each function.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::workspace::spawn_error;
use crate::{Error, Result};

/// A signal to send to a supervised process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// SIGINT: `cargo lambda watch` stops the functions it started on it.
    Interrupt,
    /// SIGTERM.
    Terminate,
    /// SIGKILL: the last resort.
    Kill,
}

impl Signal {
    fn number(self) -> libc::c_int {
        match self {
            Signal::Interrupt => libc::SIGINT,
            Signal::Terminate => libc::SIGTERM,
            Signal::Kill => libc::SIGKILL,
        }
    }
}

/// A process running in the background in its own process group, output to `<dir>/<name>.log`.
#[derive(Debug)]
pub struct Background {
    name: String,
    pid: i32,
    dir: PathBuf,
}

impl Background {
    /// Starts `command` in a new process group, stdin closed, stdout and stderr to
    /// `<dir>/<name>.log`, and records its pid in `<dir>/<name>.pid`.
    pub fn spawn(dir: &Path, name: &str, command: &mut Command) -> Result<Background> {
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::io(format!("cannot create {}", dir.display()), e))?;
        let log_path = dir.join(format!("{name}.log"));
        let log = File::create(&log_path)
            .map_err(|e| Error::io(format!("cannot create {}", log_path.display()), e))?;
        let log_err = log
            .try_clone()
            .map_err(|e| Error::io(format!("cannot reopen {}", log_path.display()), e))?;
        command
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .process_group(0);
        // The std handle is not kept: the process may outlive this command (`make local`),
        // and `is_running` reaps it when it is our child.
        let child = command
            .spawn()
            .map_err(|source| spawn_error(command, source))?;
        // Linux pids fit in an i32 (pid_max is at most 2^22).
        let pid = child.id() as i32;
        let background = Background {
            name: name.to_owned(),
            pid,
            dir: dir.to_path_buf(),
        };
        std::fs::write(background.pid_file(), format!("{pid}\n")).map_err(|e| {
            Error::io(
                format!("cannot write {}", background.pid_file().display()),
                e,
            )
        })?;
        Ok(background)
    }

    /// The process `<dir>/<name>.pid` names, whether or not it still runs.
    pub fn from_pid_file(dir: &Path, name: &str) -> Option<Background> {
        let path = dir.join(format!("{name}.pid"));
        let pid = std::fs::read_to_string(path).ok()?.trim().parse().ok()?;
        Some(Background {
            name: name.to_owned(),
            pid,
            dir: dir.to_path_buf(),
        })
    }

    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// `<dir>/<name>.log`.
    pub fn log(&self) -> PathBuf {
        self.dir.join(format!("{}.log", self.name))
    }

    fn pid_file(&self) -> PathBuf {
        self.dir.join(format!("{}.pid", self.name))
    }

    /// Whether anything of its process group still runs.
    pub fn is_running(&self) -> bool {
        group_alive(self.pid)
    }

    /// Sends `first` to the process and waits up to `grace` for its group to exit, then
    /// SIGTERM and finally SIGKILL to the group; then, after [`ORPHAN_GRACE`], the same
    /// signals to descendants that left the group. Bounded, and never fails: what cannot be
    /// stopped is reported on stderr.
    pub fn stop(self, first: Signal, grace: Duration) {
        let tree = descendants(self.pid);
        if group_alive(self.pid) {
            if !send(self.pid, first) {
                send(-self.pid, first);
            }
            if !wait_until(grace, || !group_alive(self.pid)) {
                send(-self.pid, Signal::Terminate);
                if !wait_until(Duration::from_secs(3), || !group_alive(self.pid)) {
                    eprintln!(
                        "    {} (process group {}) did not stop; killing it",
                        self.name, self.pid
                    );
                    send(-self.pid, Signal::Kill);
                    wait_until(Duration::from_secs(2), || !group_alive(self.pid));
                }
            }
        }
        if !tree.is_empty() {
            let any_alive = || tree.iter().any(|&pid| running(pid));
            if !wait_until(ORPHAN_GRACE, || !any_alive()) {
                tree.iter().for_each(|&pid| {
                    send(pid, Signal::Terminate);
                });
                if !wait_until(Duration::from_secs(3), || !any_alive()) {
                    tree.iter().for_each(|&pid| {
                        send(pid, Signal::Kill);
                    });
                }
            }
        }
        reap(self.pid);
        let _ = std::fs::remove_file(self.pid_file());
    }
}

/// How long descendants that left the group get to exit on their own once the group is gone
/// (a watcher usually stops its children itself); after it, nobody else would stop them.
pub const ORPHAN_GRACE: Duration = Duration::from_secs(1);

/// Sends `signal` to `target` (a pid, or minus a process group id); false when nothing got it.
fn send(target: i32, signal: Signal) -> bool {
    // SAFETY: kill(2) has no memory-safety preconditions; a wrong target only fails (ESRCH).
    unsafe { libc::kill(target, signal.number()) == 0 }
}

/// Whether `pid` exists (signal 0 delivers nothing).
fn send_probe(pid: i32) -> bool {
    // SAFETY: as in `send`; signal 0 only checks existence and permission.
    unsafe { libc::kill(pid, 0) == 0 }
}

/// Whether `pid` still runs: it exists and has not exited. An exited process stays a zombie
/// until its parent collects it, and an orphan's new parent (PID 1 in a container) may never
/// do so.
fn running(pid: i32) -> bool {
    send_probe(pid) && Stat::of(pid).is_none_or(|stat| !stat.zombie)
}

/// Whether any member of process group `pgid` still runs (zombies do not count). The leader
/// is reaped first when it is our exited child.
fn group_alive(pgid: i32) -> bool {
    reap(pgid);
    send_probe(-pgid)
        && pids().any(|pid| Stat::of(pid).is_some_and(|s| s.group == pgid && !s.zombie))
}

/// Every pid in /proc.
fn pids() -> impl Iterator<Item = i32> {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<i32>().ok())
}

/// What /proc/<pid>/stat says of a process.
struct Stat {
    zombie: bool,
    parent: i32,
    group: i32,
}

impl Stat {
    /// Read from /proc/<pid>/stat: state, parent and process group follow the command name,
    /// which may hold spaces and parentheses.
    fn of(pid: i32) -> Option<Stat> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        let (_, after_name) = stat.rsplit_once(')')?;
        let mut fields = after_name.split_whitespace();
        let zombie = fields.next()? == "Z";
        let parent = fields.next()?.parse().ok()?;
        let group = fields.next()?.parse().ok()?;
        Some(Stat {
            zombie,
            parent,
            group,
        })
    }
}

/// Collects `pid`'s exit status if it is our exited child; nothing otherwise.
fn reap(pid: i32) {
    if pid > 0 {
        // SAFETY: waitpid with WNOHANG and a null status pointer only queries the kernel; for a
        // pid that is not our child it fails with ECHILD.
        unsafe {
            libc::waitpid(pid, std::ptr::null_mut(), libc::WNOHANG);
        }
    }
}

/// Polls `done` every 50 ms for up to `limit`; true when it held.
fn wait_until(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if done() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Every descendant of `root` (children may have moved to their own process groups, which a
/// group signal would miss), from the parent links in /proc.
pub fn descendants(root: i32) -> Vec<i32> {
    let links: Vec<(i32, i32)> = pids()
        .filter_map(|pid| Some((pid, Stat::of(pid)?.parent)))
        .collect();
    let mut found = vec![root];
    let mut i = 0;
    while i < found.len() {
        let parent = found[i];
        found.extend(
            links
                .iter()
                .filter(|(_, ppid)| *ppid == parent)
                .map(|(pid, _)| *pid),
        );
        i += 1;
    }
    found.remove(0);
    found
}

/// Runs `side` on another thread while `main` runs on this one, and returns both results: for
/// work that waits on the network (installing tools) beside work that needs the CPU (a
/// build). A panic on the side thread is resumed here.
pub fn alongside<M, S: Send>(main: impl FnOnce() -> M, side: impl FnOnce() -> S + Send) -> (M, S) {
    std::thread::scope(|scope| {
        let side = scope.spawn(side);
        let main = main();
        let side = side
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (main, side)
    })
}

/// Runs `command` in the foreground with stdout and stderr merged, as `2>&1 | tee LOG` would:
/// every line goes to `log` and to `show` (which prints all of them, or only some).
pub fn run_logged(
    command: &mut Command,
    log: &Path,
    mut show: impl FnMut(&str),
) -> Result<ExitStatus> {
    let pipe_error = |e| Error::io("cannot create a pipe for the command's output", e);
    let (reader, writer) = std::io::pipe().map_err(pipe_error)?;
    command
        .stdout(writer.try_clone().map_err(pipe_error)?)
        .stderr(writer);
    let mut child = command
        .spawn()
        .map_err(|source| spawn_error(command, source))?;
    // The command keeps the pipe's write ends until it is reconfigured: release ours, so the
    // reads below end when the child's output does.
    command.stdout(Stdio::null()).stderr(Stdio::null());

    let mut file =
        File::create(log).map_err(|e| Error::io(format!("cannot create {}", log.display()), e))?;
    let mut reader = BufReader::new(reader);
    let mut line = Vec::new();
    loop {
        line.clear();
        let read = reader
            .read_until(b'\n', &mut line)
            .map_err(|e| Error::io("cannot read the command's output", e))?;
        if read == 0 {
            break;
        }
        file.write_all(&line)
            .map_err(|e| Error::io(format!("cannot write {}", log.display()), e))?;
        show(String::from_utf8_lossy(&line).trim_end_matches(['\n', '\r']));
    }
    child
        .wait()
        .map_err(|e| Error::io("cannot wait for the command", e))
}

/// The last `lines` lines of a log, indented, without cargo's build progress; empty when the
/// log is missing or empty.
pub fn log_tail(path: &Path, lines: usize) -> String {
    let Ok(text) = std::fs::read(path) else {
        return String::new();
    };
    let text = String::from_utf8_lossy(&text);
    let progress = ["Compiling", "Blocking", "Finished", "Running", "Fresh"];
    let kept: Vec<&str> = text
        .lines()
        .filter(|line| !progress.contains(&line.split_whitespace().next().unwrap_or("")))
        .collect();
    kept[kept.len().saturating_sub(lines)..]
        .iter()
        .map(|line| format!("\n    {line}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alongside_runs_both_at_once_and_returns_both() {
        let (tx, rx) = std::sync::mpsc::channel();
        // `main` waits for `side`: this only ends when they run at the same time.
        let (main, side) = alongside(
            || rx.recv_timeout(Duration::from_secs(5)).map(|n: i32| n + 1),
            move || tx.send(41).map(|()| "sent"),
        );
        assert_eq!(main, Ok(42));
        assert_eq!(side, Ok("sent"));
    }

    #[test]
    #[should_panic(expected = "side failed")]
    fn a_panic_on_the_side_reaches_the_caller() {
        alongside(|| (), || panic!("side failed"));
    }

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("devkit-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn stop_ends_the_group_and_descendants_in_other_groups() {
        let dir = scratch("stop");
        // A child in our group, and a grandchild that leaves for a group of its own (setsid),
        // as cargo lambda watch's functions do.
        let mut command = Command::new("sh");
        command.args(["-c", "setsid sleep 60 & sleep 60 & wait"]);
        let background = Background::spawn(&dir, "tree", &mut command).unwrap();
        assert!(wait_until(Duration::from_secs(5), || {
            descendants(background.pid()).len() >= 2
        }));
        let tree = descendants(background.pid());
        let pid = background.pid();
        assert!(background.is_running());
        assert!(dir.join("tree.pid").is_file());

        background.stop(Signal::Terminate, Duration::from_millis(500));

        assert!(!group_alive(pid));
        for descendant in tree {
            assert!(
                wait_until(Duration::from_secs(2), || !running(descendant)),
                "descendant {descendant} still runs"
            );
        }
        assert!(!dir.join("tree.pid").exists());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_stopped_process_is_found_through_its_pid_file_and_reaped() {
        let dir = scratch("pidfile");
        let mut command = Command::new("sleep");
        command.arg("60");
        let started = Background::spawn(&dir, "sleeper", &mut command).unwrap();
        let found = Background::from_pid_file(&dir, "sleeper").unwrap();
        assert_eq!(found.pid(), started.pid());
        found.stop(Signal::Interrupt, Duration::from_secs(2));
        // Reaped: not even a zombie is left in the group.
        assert!(!started.is_running());
        assert!(Background::from_pid_file(&dir, "sleeper").is_none());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn run_logged_keeps_both_streams_in_the_log_and_shows_each_line() {
        let dir = scratch("logged");
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join("out.log");
        let mut shown = Vec::new();
        let mut command = Command::new("sh");
        command.args(["-c", "echo one; echo two >&2; exit 3"]);
        let status = run_logged(&mut command, &log, |line| shown.push(line.to_owned())).unwrap();
        assert_eq!(status.code(), Some(3));
        assert_eq!(shown, ["one", "two"]);
        assert_eq!(std::fs::read_to_string(&log).unwrap(), "one\ntwo\n");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_log_tail_leaves_out_build_progress() {
        let dir = scratch("tail");
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join("x.log");
        std::fs::write(
            &log,
            "one\n   Compiling foo\ntwo\n    Finished dev\nthree\n",
        )
        .unwrap();
        assert_eq!(log_tail(&log, 2), "\n    two\n    three");
        assert_eq!(log_tail(&dir.join("missing.log"), 2), "");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
