//! Identifiers that do not collide between runs: new event ids, and names of a run's own
//! tables and queues.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// A random UUID (version 4 layout), from std's randomly keyed hasher: no extra dependency.
pub fn fresh_id() -> String {
    static CALLS: AtomicU64 = AtomicU64::new(0);
    let mut halves = [0u64; 2];
    for half in &mut halves {
        let mut hasher = RandomState::new().build_hasher();
        hasher.write_u64(CALLS.fetch_add(1, Ordering::Relaxed));
        hasher.write_u128(epoch_nanos());
        *half = hasher.finish();
    }
    let bits = (u128::from(halves[0]) << 64) | u128::from(halves[1]);
    // Version 4 in bits 76..80, variant 0b10 in bits 62..64.
    let bits = (bits & !(0xf << 76) & !(0x3 << 62)) | (0x4 << 76) | (0x2 << 62);
    let hex = format!("{bits:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// An id like `template`, with every ASCII letter and digit replaced by a random one (digits
/// and lowercase letters): the same length in bytes and the same other characters, so a case
/// body keeps its size and its oddities while each run gets an id of its own.
pub fn fresh_like(template: &str) -> String {
    const ALPHABET: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut random = Vec::new();
    template
        .chars()
        .map(|c| {
            if !c.is_ascii_alphanumeric() {
                return c;
            }
            if random.is_empty() {
                random = fresh_id().bytes().filter(u8::is_ascii_hexdigit).collect();
                // Spread 128 random bits over the alphabet: hex digit pairs, modulo 36.
                random = random
                    .chunks(2)
                    .map(|pair| {
                        let high = char::from(pair[0]).to_digit(16).unwrap_or(0);
                        let low = pair
                            .get(1)
                            .and_then(|b| char::from(*b).to_digit(16))
                            .unwrap_or(0);
                        ALPHABET[((high * 16 + low) % 36) as usize]
                    })
                    .collect();
            }
            char::from(random.pop().unwrap_or(b'0'))
        })
        .collect()
}

/// `<prefix>-<pid>-<milliseconds mod 100000>`: unique to this run, short enough for a queue
/// name.
pub fn run_name(prefix: &str) -> String {
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        (epoch_nanos() / 1_000_000) % 100_000
    )
}

/// Milliseconds since the epoch.
pub fn epoch_millis() -> u64 {
    u64::try_from(epoch_nanos() / 1_000_000).unwrap_or(u64::MAX)
}

fn epoch_nanos() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_ids_are_version_4_uuids_and_differ() {
        let a = fresh_id();
        let b = fresh_id();
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        assert_eq!(
            a.split('-').map(str::len).collect::<Vec<_>>(),
            [8, 4, 4, 4, 12]
        );
        assert_eq!(&a[14..15], "4");
        assert!(matches!(&a[19..20], "8" | "9" | "a" | "b"), "{a}");
    }

    #[test]
    fn fresh_ids_are_like_their_template() {
        let template = "hostile-\u{1}-é-0123456789abcdef0123";
        let a = fresh_like(template);
        let b = fresh_like(template);
        assert_ne!(a, b);
        assert_eq!(a.len(), template.len());
        for (x, y) in a.chars().zip(template.chars()) {
            assert_eq!(x.is_ascii_alphanumeric(), y.is_ascii_alphanumeric(), "{a}");
            if !y.is_ascii_alphanumeric() {
                assert_eq!(x, y);
            }
        }
    }

    #[test]
    fn run_names_carry_the_prefix_and_the_pid() {
        let name = run_name("coldstart");
        assert!(
            name.starts_with(&format!("coldstart-{}-", std::process::id())),
            "{name}"
        );
    }
}
