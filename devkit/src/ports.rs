//! Ports on 127.0.0.1: free ones, taken ones, and the one a variable asks for.

use std::net::TcpListener;

use crate::{Error, Result};

/// A port the kernel says is free on 127.0.0.1 right now.
pub fn free_port() -> Result<u16> {
    TcpListener::bind(("127.0.0.1", 0))
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .map_err(|e| Error::io("cannot find a free port on 127.0.0.1", e))
}

/// Whether a server could listen on 127.0.0.1:`port`. std binds with SO_REUSEADDR, as servers
/// do, so a connection left in TIME_WAIT does not count as "in use".
pub fn is_available(port: u16) -> bool {
    TcpListener::bind(("127.0.0.1", port)).is_ok()
}

/// Who listens on `port`, as ` (in use by "python3",pid=…)`, best effort (empty when unknown).
pub fn owner(port: u16) -> String {
    let output = std::process::Command::new("ss")
        .args(["-Hltnp", &format!("sport = :{port}")])
        .output();
    let Ok(output) = output else {
        return String::new();
    };
    let text = String::from_utf8_lossy(&output.stdout);
    text.split("users:((")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .map(|users| format!(" (in use by {users})"))
        .unwrap_or_default()
}

/// The port for the setting `var` (e.g. `MOTO_PORT`): the variable's port when set, which must
/// be free; otherwise `preferred` when free (with a note when it is not), else a free port.
pub fn pick(var: &'static str, preferred: Option<u16>) -> Result<u16> {
    let requested = std::env::var(var).ok().filter(|v| !v.is_empty());
    if let Some(value) = requested {
        let port = value.parse::<u16>().ok().filter(|p| *p > 0);
        let problem = match port {
            None => "not a port number (1-65535)".to_owned(),
            Some(port) if !is_available(port) => {
                format!("port {port} on 127.0.0.1 is already in use{}", owner(port))
            }
            Some(port) => return Ok(port),
        };
        return Err(Error::Port {
            var,
            value,
            problem,
            suggestion: free_port()?,
        });
    }
    if let Some(port) = preferred {
        if is_available(port) {
            return Ok(port);
        }
        eprintln!(
            "    port {port} is in use{}; using a free port instead (set {var} to choose)",
            owner(port)
        );
    }
    free_port()
}

/// Fails with the same message as [`pick`] when `port` was taken since it was picked.
pub fn still_free(var: &'static str, port: u16) -> Result {
    if is_available(port) {
        return Ok(());
    }
    Err(Error::Port {
        var,
        value: port.to_string(),
        problem: format!("port {port} on 127.0.0.1 became busy{}", owner(port)),
        suggestion: free_port()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listened_port_is_not_available_and_a_free_one_is() {
        let listener = TcpListener::bind(("127.0.0.1", 0)).unwrap();
        let taken = listener.local_addr().unwrap().port();
        assert!(!is_available(taken));
        drop(listener);
        assert!(is_available(free_port().unwrap()));
    }

    #[test]
    fn a_preferred_port_in_use_gives_another() {
        let listener = TcpListener::bind(("127.0.0.1", 0)).unwrap();
        let taken = listener.local_addr().unwrap().port();
        let picked = pick("DEVKIT_TEST_UNSET_PORT", Some(taken)).unwrap();
        assert_ne!(picked, taken);
        assert!(still_free("DEVKIT_TEST_UNSET_PORT", taken).is_err());
    }
}
