//! Progress lines on stderr, so stdout stays for what a command produces.

use std::io::IsTerminal;

/// A step: `==> starting moto's server …`, bold on a terminal.
pub fn say(message: impl std::fmt::Display) {
    if std::io::stderr().is_terminal() {
        eprintln!("\x1b[1m==> {message}\x1b[0m");
    } else {
        eprintln!("==> {message}");
    }
}

/// A detail under a step, indented.
pub fn note(message: impl std::fmt::Display) {
    eprintln!("    {message}");
}

/// `line` without terminal colour sequences (`ESC [ … m`): for reading what a tool or a
/// function printed to a terminal.
pub fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            for end in chars.by_ref() {
                if end.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}
