//! The few shapes of argument the chores take: flags, `--name value` (or `--name=value`), a
//! setting that falls back to an environment variable (so `make load N=1000` works), and
//! arguments after `--` passed through to another program.

use std::str::FromStr;

use crate::error::{Error, Result};

/// One command's arguments, consumed as the command reads them.
#[derive(Debug)]
pub struct Args {
    items: Vec<String>,
    passthrough: Vec<String>,
    separated: bool,
    usage: &'static str,
}

impl Args {
    pub fn new(args: &[String], usage: &'static str) -> Args {
        let (items, passthrough) = match args.iter().position(|a| a == "--") {
            Some(split) => (args[..split].to_vec(), args[split + 1..].to_vec()),
            None => (args.to_vec(), Vec::new()),
        };
        Args {
            items,
            passthrough,
            separated: args.iter().any(|a| a == "--"),
            usage,
        }
    }

    /// Whether `-h` or `--help` was given.
    pub fn wants_help(&self) -> bool {
        self.items.iter().any(|a| a == "-h" || a == "--help")
    }

    /// A usage error with `reason`.
    pub fn error(&self, reason: impl Into<String>) -> Error {
        Error::Usage {
            reason: reason.into(),
            usage: self.usage,
        }
    }

    /// Whether `name` was given (removed from the arguments).
    pub fn flag(&mut self, name: &str) -> bool {
        let before = self.items.len();
        self.items.retain(|a| a != name);
        self.items.len() != before
    }

    /// The value of `--name value` or `--name=value`, if given.
    pub fn value(&mut self, name: &str) -> Result<Option<String>> {
        let prefix = format!("{name}=");
        if let Some(i) = self.items.iter().position(|a| a.starts_with(&prefix)) {
            let item = self.items.remove(i);
            return Ok(Some(item[prefix.len()..].to_owned()));
        }
        let Some(i) = self.items.iter().position(|a| a == name) else {
            return Ok(None);
        };
        if i + 1 >= self.items.len() {
            return Err(self.error(format!("{name} needs a value")));
        }
        self.items.remove(i);
        Ok(Some(self.items.remove(i)))
    }

    /// `--name`'s value, else the environment variable `env` (empty counts as unset), else
    /// `default`, parsed and required to lie in `range`.
    pub fn setting<T>(
        &mut self,
        name: &str,
        env: &str,
        default: T,
        range: std::ops::RangeInclusive<T>,
    ) -> Result<T>
    where
        T: FromStr + PartialOrd + std::fmt::Display + Copy,
    {
        let (raw, source) = match self.value(name)? {
            Some(raw) => (raw, name.to_owned()),
            None => match std::env::var(env).ok().filter(|v| !v.is_empty()) {
                Some(raw) => (raw, env.to_owned()),
                None => return Ok(default),
            },
        };
        raw.trim()
            .parse::<T>()
            .ok()
            .filter(|v| range.contains(v))
            .ok_or_else(|| {
                self.error(format!(
                    "{source} must be a number from {} to {}, got `{raw}`",
                    range.start(),
                    range.end()
                ))
            })
    }

    /// The next positional argument, if any.
    pub fn positional(&mut self) -> Option<String> {
        let i = self.items.iter().position(|a| !a.starts_with('-'))?;
        Some(self.items.remove(i))
    }

    /// Everything not consumed, `--` included, for a command that passes it all on.
    pub fn remaining(self) -> Vec<String> {
        let mut all = self.items;
        if self.separated {
            all.push("--".to_owned());
            all.extend(self.passthrough);
        }
        all
    }

    /// Fails on anything not consumed; returns the arguments after `--`.
    pub fn finish(self) -> Result<Vec<String>> {
        match self.items.first() {
            Some(unknown) => Err(self.error(format!("unexpected argument `{unknown}`"))),
            None => Ok(self.passthrough),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Args {
        let owned: Vec<String> = list.iter().map(|s| s.to_string()).collect();
        Args::new(&owned, "usage: test")
    }

    #[test]
    fn flags_values_positionals_and_passthrough() {
        let mut a = args(&[
            "--check",
            "email_replied",
            "--runs=3",
            "--out",
            "f",
            "--",
            "-x",
        ]);
        assert!(a.flag("--check"));
        assert!(!a.flag("--check"));
        assert_eq!(a.value("--out").unwrap().as_deref(), Some("f"));
        assert_eq!(
            a.setting("--runs", "XTASK_TEST_UNSET", 15, 1..=100)
                .unwrap(),
            3
        );
        assert_eq!(a.positional().as_deref(), Some("email_replied"));
        assert_eq!(a.finish().unwrap(), ["-x"]);
    }

    #[test]
    fn out_of_range_missing_and_unknown_arguments_are_usage_errors() {
        let mut a = args(&["--runs", "0"]);
        let err = a
            .setting("--runs", "XTASK_TEST_UNSET", 15, 1..=100)
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("--runs must be a number from 1 to 100, got `0`")
        );
        let mut a = args(&["--out"]);
        assert!(a.value("--out").is_err());
        let err = args(&["--bogus"]).finish().unwrap_err().to_string();
        assert!(err.starts_with("unexpected argument `--bogus`"), "{err}");
        assert!(err.ends_with("usage: test"), "{err}");
    }

    #[test]
    fn remaining_keeps_the_separator_for_the_next_program() {
        assert_eq!(
            args(&["--test", "e2e", "--", "--nocapture"]).remaining(),
            ["--test", "e2e", "--", "--nocapture"]
        );
        assert_eq!(args(&["every_sample"]).remaining(), ["every_sample"]);
    }

    #[test]
    fn defaults_apply_when_neither_flag_nor_variable_is_set() {
        let mut a = args(&[]);
        assert_eq!(
            a.setting("--n", "XTASK_TEST_UNSET", 5000, 10..=100_000)
                .unwrap(),
            5000
        );
        assert!(a.positional().is_none());
    }
}
