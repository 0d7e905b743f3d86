//! The repository on disk: its root, the pinned tools in `.tools/`, the run state in `.stack/`,
//! and foreground commands that see those tools first on `PATH`.

use std::ffi::OsString;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::sync::Arc;

use crate::{Error, Result};

/// A group of pinned tools; `scripts/tools.sh` owns the versions and installs a group on first
/// use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToolGroup {
    /// moto's server: the local DynamoDB and SQS.
    Moto,
    /// cargo-lambda and zig: `cargo lambda watch`, `invoke`, `build`.
    Lambda,
    /// cfn-lint and the SAM CLI.
    Template,
    /// cargo-fuzz.
    Fuzz,
}

impl ToolGroup {
    /// The group's name for `scripts/tools.sh`.
    pub const fn name(self) -> &'static str {
        match self {
            ToolGroup::Moto => "moto",
            ToolGroup::Lambda => "lambda",
            ToolGroup::Template => "template",
            ToolGroup::Fuzz => "fuzz",
        }
    }

    /// A program the group provides: its presence tells the install worked.
    pub const fn probe(self) -> &'static str {
        match self {
            ToolGroup::Moto => "moto_server",
            ToolGroup::Lambda => "cargo-lambda",
            ToolGroup::Template => "sam",
            ToolGroup::Fuzz => "cargo-fuzz",
        }
    }
}

/// The repository checkout this crate was built from.
#[derive(Debug, Clone)]
pub struct Workspace {
    root: PathBuf,
    /// Where the commands' output goes instead of the terminal (see [`Workspace::logging_to`]).
    log: Option<Arc<File>>,
}

impl Workspace {
    /// The workspace this crate belongs to (devkit sits one level below the root).
    pub fn locate() -> Workspace {
        let devkit = Path::new(env!("CARGO_MANIFEST_DIR"));
        Workspace {
            root: devkit.parent().unwrap_or(devkit).to_path_buf(),
            log: None,
        }
    }

    /// A workspace at `root` (tests use a scratch directory).
    pub fn at(root: impl Into<PathBuf>) -> Workspace {
        Workspace {
            root: root.into(),
            log: None,
        }
    }

    /// The same workspace, with the output of every command it makes written to `log` (new or
    /// emptied, then one command after another) instead of the terminal: for work that runs
    /// alongside another command's output.
    pub fn logging_to(&self, log: &Path) -> Result<Workspace> {
        let file = File::create(log)
            .map_err(|e| Error::io(format!("cannot create {}", log.display()), e))?;
        Ok(Workspace {
            root: self.root.clone(),
            log: Some(Arc::new(file)),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where cargo builds: `CARGO_TARGET_DIR`, else `target/` at the root.
    pub fn target_dir(&self) -> PathBuf {
        std::env::var_os("CARGO_TARGET_DIR")
            .filter(|dir| !dir.is_empty())
            .map(|dir| self.root.join(dir))
            .unwrap_or_else(|| self.root.join("target"))
    }

    /// `.stack/<name>`: pids, ports, environment and logs of one stack or run.
    pub fn stack_dir(&self, name: &str) -> PathBuf {
        self.root.join(".stack").join(name)
    }

    /// `path` relative to the root when it is inside it, for messages.
    pub fn rel(&self, path: &Path) -> String {
        path.strip_prefix(&self.root)
            .unwrap_or(path)
            .display()
            .to_string()
    }

    /// Directories holding the installed tools, searched before the rest of `PATH`.
    fn tool_dirs(&self) -> [PathBuf; 2] {
        [
            self.root.join(".tools/venv/bin"),
            self.root.join(".tools/cargo/bin"),
        ]
    }

    /// `PATH` with the tool directories first.
    pub fn path_env(&self) -> OsString {
        let inherited = std::env::var_os("PATH").unwrap_or_default();
        let mut dirs: Vec<PathBuf> = self.tool_dirs().into();
        dirs.extend(std::env::split_paths(&inherited));
        std::env::join_paths(dirs).unwrap_or(inherited)
    }

    /// A command run from the root with the tools first on `PATH` (its output in the log
    /// when there is one).
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut command = Command::new(program);
        command.current_dir(&self.root).env("PATH", self.path_env());
        if let Some(log) = &self.log {
            // A handle that cannot be duplicated leaves the output on the terminal.
            if let (Ok(out), Ok(err)) = (log.try_clone(), log.try_clone()) {
                command.stdout(out).stderr(err);
            }
        }
        command
    }

    /// Where an installed tool is (`None` when it is not installed).
    pub fn tool(&self, program: &str) -> Option<PathBuf> {
        self.tool_dirs()
            .into_iter()
            .map(|dir| dir.join(program))
            .find(|path| path.is_file())
    }

    /// Installs the groups that are missing or out of date (`scripts/tools.sh`; a few
    /// milliseconds when everything is there), then checks each group's probe program.
    pub fn ensure_tools(&self, groups: &[ToolGroup]) -> Result {
        let mut install = self.command("bash");
        install
            .arg(self.root.join("scripts/tools.sh"))
            .args(groups.iter().map(|g| g.name()));
        self.run(&mut install)?;
        for group in groups {
            if self.tool(group.probe()).is_none() {
                return Err(Error::ToolMissing {
                    tool: group.probe(),
                    group: group.name(),
                });
            }
        }
        Ok(())
    }

    /// Runs `command` in the foreground (output to the terminal); a failure status is an error
    /// naming the command.
    pub fn run(&self, command: &mut Command) -> Result {
        let status = self.status(command)?;
        if status.success() {
            Ok(())
        } else {
            Err(Error::Command {
                command: describe(command),
                status: status.to_string(),
            })
        }
    }

    /// Runs `command` in the foreground and returns its status, whatever it is.
    pub fn status(&self, command: &mut Command) -> Result<ExitStatus> {
        command
            .status()
            .map_err(|source| spawn_error(command, source))
    }
}

/// The error for a program that could not be started.
pub fn spawn_error(command: &Command, source: std::io::Error) -> Error {
    let program = command.get_program().to_string_lossy().into_owned();
    let hint = match program.as_str() {
        "cargo" | "rustup" => "Install Rust (https://rustup.rs).",
        "bash" => "bash is needed for scripts/tools.sh.",
        _ => {
            "It should have been installed into .tools/ by scripts/tools.sh: remove .tools/ and retry."
        }
    };
    Error::Spawn {
        program,
        hint,
        source,
    }
}

/// `program arg arg…` for messages.
fn describe(command: &Command) -> String {
    std::iter::once(command.get_program())
        .chain(command.get_args())
        .map(|part| part.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tools_come_first_on_path() {
        let ws = Workspace::at("/repo");
        let path = ws.path_env();
        let dirs: Vec<PathBuf> = std::env::split_paths(&path).collect();
        assert_eq!(dirs[0], Path::new("/repo/.tools/venv/bin"));
        assert_eq!(dirs[1], Path::new("/repo/.tools/cargo/bin"));
    }

    #[test]
    fn a_failed_command_names_itself() {
        let ws = Workspace::at(std::env::temp_dir());
        let mut command = ws.command("sh");
        command.args(["-c", "exit 3"]);
        let err = ws.run(&mut command).unwrap_err().to_string();
        assert!(err.contains("`sh -c exit 3` failed"), "{err}");
    }

    #[test]
    fn a_logging_workspace_sends_both_outputs_of_each_command_to_its_emptied_log() {
        let log = std::env::temp_dir().join(format!("devkit-ws-log-{}", std::process::id()));
        std::fs::write(&log, "an earlier run\n").unwrap();
        let ws = Workspace::at(std::env::temp_dir())
            .logging_to(&log)
            .unwrap();
        ws.run(ws.command("sh").args(["-c", "echo out; echo err >&2"]))
            .unwrap();
        ws.run(ws.command("echo").arg("second")).unwrap();
        let written = std::fs::read_to_string(&log).unwrap();
        let _ = std::fs::remove_file(&log);
        assert_eq!(written, "out\nerr\nsecond\n");
    }

    #[test]
    fn relative_paths_for_messages() {
        let ws = Workspace::at("/repo");
        assert_eq!(ws.rel(Path::new("/repo/.stack/local")), ".stack/local");
        assert_eq!(ws.rel(Path::new("/elsewhere")), "/elsewhere");
    }
}
