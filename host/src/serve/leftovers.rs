//! What a killed daemon left in the kernel, found and removed when the next one starts.
//!
//! The daemon pins nothing: every program, map and link of a session lives only as long as
//! the daemon's file descriptors, so when it is killed (SIGKILL, the OOM killer) the kernel
//! frees them with its descriptors. What can outlive it are tracefs probe events: on kernels
//! before 4.17 aya attaches kprobes and uprobes through `kprobe_events`/`uprobe_events`
//! entries it names `aya_<pid>_…`, and such an entry stays until someone removes it.
//!
//! The daemon writes its pid next to its socket (`<socket>.pid`). A pid file naming a
//! process that is gone (or is no longer wprobe) means the previous daemon was killed: its
//! `aya_<pid>_` events are removed. Other tools' events, and live processes' own, are left
//! alone.

use anyhow::{Context, Result};
use std::io::Write;
use std::path::{Path, PathBuf};
use wprobe::live::tracefs::Tracefs;

/// The pid file beside `socket`.
pub fn pid_file(socket: &Path) -> PathBuf {
    let mut name = socket.as_os_str().to_owned();
    name.push(".pid");
    PathBuf::from(name)
}

/// What the start found of a killed daemon.
pub struct Found {
    pub pid: u32,
    /// The probe events removed, as `group/name`.
    pub removed: Vec<String>,
}

/// Cleans up after the daemon named in `pid_file` if it died without doing so, then writes
/// this process's pid there. Call it once the socket is bound (so no other daemon runs on
/// it).
pub fn clean_and_claim(pid_file: &Path) -> Result<Option<Found>> {
    let previous = std::fs::read_to_string(pid_file).ok().and_then(|s| s.trim().parse::<u32>().ok());
    let found = match previous {
        Some(pid) if pid != std::process::id() && !is_wprobe(pid) => {
            Some(Found { pid, removed: remove_probe_events(&format!("aya_{pid}_"))? })
        }
        _ => None,
    };
    std::fs::write(pid_file, format!("{}\n", std::process::id()))
        .with_context(|| format!("cannot write the pid file {}", pid_file.display()))?;
    Ok(found)
}

/// Whether `pid` is a running wprobe (so its events are its own business).
fn is_wprobe(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == "wprobe")
}

/// Removes the kprobe and uprobe events whose name starts with `prefix`.
fn remove_probe_events(prefix: &str) -> Result<Vec<String>> {
    let Some(tracefs) = Tracefs::find().context("cannot look for probe events a killed daemon left")? else {
        return Ok(Vec::new()); // no tracefs: no events either
    };
    let mut removed = Vec::new();
    for file in ["kprobe_events", "uprobe_events"] {
        let path = tracefs.root().join(file);
        let Ok(text) = std::fs::read_to_string(&path) else { continue }; // a kernel without them
        for event in text.lines().filter_map(|l| event_of(l, prefix)) {
            // The definition's name: `-:GROUP/NAME` removes it.
            let mut f = std::fs::OpenOptions::new()
                .append(true)
                .open(&path)
                .with_context(|| format!("cannot open {}", path.display()))?;
            f.write_all(format!("-:{event}\n").as_bytes())
                .with_context(|| format!("cannot remove the probe event {event} from {}", path.display()))?;
            removed.push(event.to_owned());
        }
    }
    Ok(removed)
}

/// `GROUP/NAME` of a `kprobe_events`/`uprobe_events` line (`p:GROUP/NAME target…`) whose
/// name starts with `prefix`.
fn event_of<'a>(line: &'a str, prefix: &str) -> Option<&'a str> {
    let (_, rest) = line.split_once(':')?;
    let event = rest.split_whitespace().next()?;
    let (_, name) = event.split_once('/')?;
    name.starts_with(prefix).then_some(event)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_dead_daemons_events_match() {
        let p = "aya_4242_";
        assert_eq!(
            event_of("p:uprobes/aya_4242_p__srv_app_main_0x0_3 /srv/app:0x0000000000001139", p),
            Some("uprobes/aya_4242_p__srv_app_main_0x0_3")
        );
        assert_eq!(
            event_of("r:kprobes/aya_4242_r_tcp_v4_connect_0x0_0 tcp_v4_connect", p),
            Some("kprobes/aya_4242_r_tcp_v4_connect_0x0_0")
        );
        // Another process's, or another tool's.
        assert_eq!(event_of("p:uprobes/aya_42421_p_x_0x0_0 /bin/true:0x1000", p), None);
        assert_eq!(event_of("p:kprobes/myprobe do_sys_open", p), None);
        assert_eq!(event_of("", p), None);
    }

    #[test]
    fn the_pid_file_sits_beside_the_socket() {
        assert_eq!(pid_file(Path::new("/run/wprobe.sock")), Path::new("/run/wprobe.sock.pid"));
    }
}
