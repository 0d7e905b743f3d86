//! `template`, `sam-build`, `deploy`, `delete`: template.yaml with cfn-lint and the SAM CLI.
//! Lint and build are offline; deploy and delete need AWS credentials (docs/deploy.md).

use std::process::{Command, Stdio};
use std::time::Instant;

use devkit::console::say;
use devkit::{ToolGroup, Workspace};

use crate::args::Args;
use crate::package::{Arch, aarch64_std_installed, elf_arch, ensure_aarch64_std};
use crate::{Chore, Error, Result};

const TEMPLATE_FILE: &str = "template.yaml";
/// The CloudFormation snippets docs/deploy.md gives for wiring the functions to an existing
/// REST API or load balancer: linted like the template, so the docs cannot rot.
const WIRING_FILES: [&str; 2] = ["docs/wiring/rest-api.yaml", "docs/wiring/alb.yaml"];
const CONFIG_FILE: &str = "samconfig.toml";

pub const TEMPLATE: Chore = Chore {
    name: "template",
    summary: "lint template.yaml and docs/wiring/ (cfn-lint, sam validate --lint)",
    usage: "\
usage: cargo xtask template

cfn-lint template.yaml and the wiring snippets of docs/wiring/, then sam validate (the SAM
transform) and sam validate --lint; any error or warning fails. Installs cfn-lint and the SAM
CLI into .tools/ on first use.",
    run: template,
};

pub const SAM_BUILD: Chore = Chore {
    name: "sam-build",
    summary: "sam build the three functions (arm64 when its std is installed, else x86_64)",
    usage: "\
usage: cargo xtask sam-build [--arch arm64|x86_64]     (default: $ARCH, else arm64 when the
                                                        aarch64 std is installed, else x86_64)

A real `sam build` of the three functions (BuildMethod rust-cargolambda), timed.",
    run: sam_build,
};

pub const DEPLOY: Chore = Chore {
    name: "deploy",
    summary: "sam build + sam deploy (guided the first time)",
    usage: "\
usage: cargo xtask deploy [--arch arm64|x86_64] [--config-env ENV]
       (defaults: $ARCH else arm64; $SAM_CONFIG_ENV else default)

sam build for the architecture, then sam deploy: --guided the first time (when samconfig.toml
has no [ENV.deploy.parameters] yet; the answers are saved there), plain afterwards. Needs AWS
credentials (AWS_PROFILE, the environment or SSO).",
    run: deploy,
};

pub const DELETE: Chore = Chore {
    name: "delete",
    summary: "delete the deployed stack",
    usage: "\
usage: cargo xtask delete [--config-env ENV]        (default: $SAM_CONFIG_ENV else default)

sam delete (it asks first). The idempotency table is retained (DeletionPolicy: Retain).",
    run: delete,
};

/// `sam` (or cfn-lint) with telemetry off and a region for validation (never credentials).
fn sam_command(ws: &Workspace, program: &str) -> Command {
    let mut command = ws.command(program);
    command.env("SAM_CLI_TELEMETRY", "0");
    if std::env::var_os("AWS_DEFAULT_REGION").is_none() {
        command.env("AWS_DEFAULT_REGION", devkit::LOCAL_REGION);
    }
    command
}

/// Runs `command`; on failure, `message` says what was wrong.
fn run_or(ws: &Workspace, command: &mut Command, message: &str) -> Result {
    match ws.status(command)?.success() {
        true => Ok(()),
        false => Err(Error::check(message)),
    }
}

/// The template lint `make template` and `make test` run.
pub fn lint(ws: &Workspace) -> Result {
    ws.ensure_tools(&[ToolGroup::Template])?;
    let version = sam_command(ws, "cfn-lint")
        .arg("--version")
        .stdout(Stdio::piped())
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned())
        .unwrap_or_default();
    say(format!("cfn-lint {TEMPLATE_FILE} ({version})"));
    run_or(
        ws,
        sam_command(ws, "cfn-lint").args(["--non-zero-exit-code", "warning", "--", TEMPLATE_FILE]),
        &format!("cfn-lint found errors or warnings in {TEMPLATE_FILE} (listed above)"),
    )?;
    say(format!("cfn-lint {}", WIRING_FILES.join(" ")));
    run_or(
        ws,
        sam_command(ws, "cfn-lint")
            .args(["--non-zero-exit-code", "warning", "--"])
            .args(WIRING_FILES),
        "cfn-lint found errors or warnings in docs/wiring/ (listed above)",
    )?;
    say("sam validate (the SAM transform) and sam validate --lint");
    run_or(
        ws,
        sam_command(ws, "sam").args(["validate", "--template-file", TEMPLATE_FILE]),
        &format!("sam validate rejected {TEMPLATE_FILE} (see above)"),
    )?;
    run_or(
        ws,
        sam_command(ws, "sam").args(["validate", "--lint", "--template-file", TEMPLATE_FILE]),
        &format!("sam validate --lint found problems in {TEMPLATE_FILE} (see above)"),
    )?;
    say(format!("{TEMPLATE_FILE}: no errors, no warnings"));
    Ok(())
}

fn template(ws: &Workspace, args: Args) -> Result {
    args.finish()?;
    lint(ws)
}

fn sam_build(ws: &Workspace, mut args: Args) -> Result {
    let requested = Arch::requested(&mut args)?;
    args.finish()?;
    build(ws, requested)
}

/// `sam build` for `requested`, or for the best architecture this machine can build.
fn build(ws: &Workspace, requested: Option<Arch>) -> Result {
    ws.ensure_tools(&[ToolGroup::Template, ToolGroup::Lambda])?;
    let arch = match requested {
        Some(arch) => arch,
        None if aarch64_std_installed(ws) => Arch::Arm64,
        None => {
            say("NOTE: the aarch64-unknown-linux-gnu standard library is not installed (it comes");
            say(
                "      through rustup: rustup target add aarch64-unknown-linux-gnu), so this builds",
            );
            say("      for x86_64 with Architecture=x86_64. The template's default is arm64.");
            Arch::X86_64
        }
    };
    if arch == Arch::Arm64 {
        ensure_aarch64_std(ws)?;
    }
    say(format!(
        "sam build of the three functions for {} (a release build of the workspace: minutes)",
        arch.name()
    ));
    let started = Instant::now();
    run_or(
        ws,
        sam_command(ws, "sam").args([
            "build",
            "--template-file",
            TEMPLATE_FILE,
            "--parameter-overrides",
            &format!("Architecture={}", arch.name()),
        ]),
        "sam build failed (see above)",
    )?;
    let elapsed = started.elapsed().as_secs();
    let build_dir = ws.root().join(".aws-sam/build");
    let mut functions: Vec<_> = std::fs::read_dir(&build_dir)
        .map_err(|e| Error::io(format!("cannot read {}", build_dir.display()), e))?
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.to_string_lossy().ends_with("Function"))
        .collect();
    functions.sort();
    for function in functions {
        let bootstrap = function.join("bootstrap");
        let header = std::fs::read(&bootstrap).map_err(|_| {
            Error::check(format!(
                "sam build left no bootstrap in {}",
                ws.rel(&function)
            ))
        })?;
        println!("  {:<40} ELF {}", ws.rel(&bootstrap), elf_arch(&header));
    }
    say(format!(
        "sam build ({}) took {}m{}s",
        arch.name(),
        elapsed / 60,
        elapsed % 60
    ));
    Ok(())
}

/// `--config-env`, else `SAM_CONFIG_ENV`, else `default`.
fn config_env(args: &mut Args) -> Result<String> {
    Ok(args.value("--config-env")?.unwrap_or_else(|| {
        std::env::var("SAM_CONFIG_ENV")
            .ok()
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| "default".to_owned())
    }))
}

/// Whether a guided deploy saved this environment's settings in samconfig.toml.
fn has_deploy_config(ws: &Workspace, env: &str) -> bool {
    let section = format!("[{env}.deploy.parameters]");
    std::fs::read_to_string(ws.root().join(CONFIG_FILE))
        .is_ok_and(|text| text.lines().any(|line| line.trim() == section))
}

fn deploy(ws: &Workspace, mut args: Args) -> Result {
    let arch = Arch::requested(&mut args)?.unwrap_or(Arch::Arm64);
    let env = config_env(&mut args)?;
    args.finish()?;
    build(ws, Some(arch))?;
    let mut command = sam_command(ws, "sam");
    command.args([
        "deploy",
        "--config-env",
        &env,
        "--no-fail-on-empty-changeset",
    ]);
    // The template defaults to arm64; an x86_64 build must be deployed as x86_64.
    if arch == Arch::X86_64 {
        command.args(["--parameter-overrides", "Architecture=x86_64"]);
    }
    if has_deploy_config(ws, &env) {
        say(format!("sam deploy (settings from {CONFIG_FILE} [{env}])"));
    } else {
        say(format!(
            "first deploy: sam deploy --guided (answers are saved to {CONFIG_FILE} [{env}])"
        ));
        say(
            "WebhookTokens: one or more comma-separated tokens of >= 16 characters (openssl rand -hex 32)",
        );
        command.arg("--guided");
    }
    run_or(ws, &mut command, "sam deploy failed (see above)")?;
    say(
        "done: the webhook URLs are in the stack outputs above; subscribe them in Reply (docs/deploy.md)",
    );
    Ok(())
}

fn delete(ws: &Workspace, mut args: Args) -> Result {
    let env = config_env(&mut args)?;
    args.finish()?;
    if !has_deploy_config(ws, &env) {
        return Err(Error::check(format!(
            "no [{env}.deploy.parameters] in {CONFIG_FILE}: nothing deployed from here (or pass --stack-name to sam delete yourself)"
        )));
    }
    ws.ensure_tools(&[ToolGroup::Template])?;
    say("sam delete: the functions, API, queues (with their messages) and log groups go;");
    say(
        "the idempotency table is retained (DeletionPolicy: Retain) - delete it by hand if unwanted",
    );
    run_or(
        ws,
        sam_command(ws, "sam").args(["delete", "--config-env", &env]),
        "sam delete failed (see above)",
    )
}
