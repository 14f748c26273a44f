//! Looking at what the kernel holds: wprobe's programs, links and maps, and its BPF
//! statistics switch.

use super::{KernelObjects, LiveError};
use std::os::fd::OwnedFd;

/// Which of `objects` the kernel still holds. Needs the same privileges as attaching.
pub fn still_in_kernel(objects: &KernelObjects) -> Result<KernelObjects, LiveError> {
    fn present<T, E: std::fmt::Display>(
        all: impl Iterator<Item = Result<T, E>>,
        id: impl Fn(&T) -> u32,
        wanted: &[u32],
    ) -> Result<Vec<u32>, LiveError> {
        let (mut found, mut seen, mut first_err) = (Vec::new(), 0, None);
        for item in all {
            match item {
                Ok(t) => {
                    seen += 1;
                    if wanted.contains(&id(&t)) {
                        found.push(id(&t));
                    }
                }
                // An object can vanish between listing its id and opening it; that is fine.
                // Only a listing that yields nothing but errors means we cannot look.
                Err(e) => first_err = first_err.or(Some(e.to_string())),
            }
        }
        match first_err {
            Some(e) if seen == 0 => Err(LiveError::Introspect(e)),
            _ => Ok(found),
        }
    }
    Ok(KernelObjects {
        programs: present(aya::programs::loaded_programs(), |p| p.id(), &objects.programs)?,
        links: present(aya::programs::loaded_links(), |l| l.id(), &objects.links)?,
        maps: present(aya::maps::loaded_maps(), |m| m.id(), &objects.maps)?,
    })
}

/// Ids and names of every loaded program that is one of wprobe's (named `wp_*`), whoever
/// loaded it: after wprobe exits there should be none.
pub fn loaded_wprobe_programs() -> Result<Vec<(u32, String)>, LiveError> {
    let mut found = Vec::new();
    for p in aya::programs::loaded_programs() {
        let p = p.map_err(|e| LiveError::Introspect(e.to_string()))?;
        let name = p.name_as_str().unwrap_or_default().to_string();
        if name.starts_with("wp_") {
            found.push((p.id(), name));
        }
    }
    Ok(found)
}

/// Turns on the kernel's BPF run-time statistics (as `sysctl kernel.bpf_stats_enabled=1`)
/// for as long as the returned fd is open.
pub fn enable_run_time_stats() -> Result<OwnedFd, LiveError> {
    aya::sys::enable_stats(aya::sys::Stats::RunTime)
        .map_err(|e| LiveError::KernelInfo { what: "BPF run-time statistics", source: e.io_error })
}
