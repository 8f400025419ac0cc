//! Ports for the servers a test starts (nodes, portals, brokers, metrics).
//!
//! A port is handed out before its server binds it, often by another process started a
//! moment later, so two things could take it in between: this process handing the same
//! port out twice (a port the kernel gave for a bind to port 0 and freed is free to give
//! again), and an outgoing connection, whose local port the kernel picks from its ephemeral
//! range. So a port is taken from below that range, never twice by one process, and only if
//! nothing listens on it now; where to start looking differs between processes, so that
//! tests run side by side by several processes rarely look at the same ports.

use std::collections::BTreeSet;
use std::net::TcpListener;
use std::sync::{Mutex, PoisonError};

/// The lowest port handed out: above the well-known and most registered services' ports.
const LOWEST: u16 = 10_000;

/// The kernel's default first ephemeral port (`net.ipv4.ip_local_port_range`).
const EPHEMERAL_DEFAULT: u16 = 32_768;

/// The ports this process handed out.
static HANDED: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());

/// A port nobody listens on now, below the kernel's ephemeral range, that this process has
/// not handed out before (module doc).
pub fn free_port() -> u16 {
    let first_ephemeral = first_ephemeral();
    let mut handed = HANDED.lock().unwrap_or_else(PoisonError::into_inner);
    let span = u32::from(first_ephemeral.saturating_sub(LOWEST));
    if span > 0 {
        let start = seed() % span;
        // Each below `first_ephemeral`, a u16.
        let below = (0..span).map(|i| LOWEST + ((start + i) % span) as u16);
        if let Some(port) = first_free(below, &mut handed) {
            return port;
        }
    }
    // No room below the ephemeral range: any port the kernel gives, still never twice.
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        if handed.insert(port) {
            return port;
        }
    }
}

/// The first of `candidates` not in `handed` that nothing listens on now, added to
/// `handed`.
fn first_free(candidates: impl Iterator<Item = u16>, handed: &mut BTreeSet<u16>) -> Option<u16> {
    let port = candidates
        .filter(|p| !handed.contains(p))
        .find(|&p| TcpListener::bind(("127.0.0.1", p)).is_ok())?;
    handed.insert(port);
    Some(port)
}

/// The first port of this machine's ephemeral range.
fn first_ephemeral() -> u16 {
    ephemeral_start(
        std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
            .ok()
            .as_deref(),
    )
}

/// The first port of the kernel's ephemeral range, from the text of
/// `ip_local_port_range` (two numbers), or the kernel's default.
fn ephemeral_start(range: Option<&str>) -> u16 {
    range
        .and_then(|r| r.split_whitespace().next())
        .and_then(|first| first.parse().ok())
        .unwrap_or(EPHEMERAL_DEFAULT)
}

/// Where this process starts looking: from its id and the clock, different between
/// processes started side by side.
fn seed() -> u32 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    std::process::id().wrapping_mul(2_654_435_761) ^ nanos
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_below_the_ephemeral_range_and_never_handed_out_twice() {
        let first_ephemeral = first_ephemeral();
        let ports: Vec<u16> = (0..200).map(|_| free_port()).collect();
        let distinct: BTreeSet<u16> = ports.iter().copied().collect();
        assert_eq!(distinct.len(), ports.len());
        if first_ephemeral > LOWEST {
            assert!(
                ports.iter().all(|p| (LOWEST..first_ephemeral).contains(p)),
                "{ports:?}"
            );
        }
    }

    #[test]
    fn a_port_listened_on_or_handed_out_is_passed_over() {
        let listened = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listened.local_addr().unwrap().port();
        let next = port
            .checked_add(1)
            .filter(|p| TcpListener::bind(("127.0.0.1", *p)).is_ok());
        let Some(next) = next else {
            return; // The port after it is taken too: nothing to tell apart.
        };
        let mut handed = BTreeSet::new();
        assert_eq!(first_free(port..=next, &mut handed), Some(next));
        assert!(handed.contains(&next));
        // Handed out once, not again, though nothing listens on it.
        assert_eq!(first_free(next..=next, &mut handed), None);
        drop(listened);
        assert_eq!(first_free(port..=next, &mut handed), Some(port));
    }

    #[test]
    fn the_ephemeral_range_is_read_from_the_kernels_text() {
        assert_eq!(ephemeral_start(Some("32768\t60999\n")), 32_768);
        assert_eq!(ephemeral_start(Some("40000 50000")), 40_000);
        assert_eq!(ephemeral_start(Some("")), EPHEMERAL_DEFAULT);
        assert_eq!(ephemeral_start(None), EPHEMERAL_DEFAULT);
    }
}
