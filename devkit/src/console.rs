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
