//! Looking at what the kernel holds: wprobe's programs, links and maps, and its BPF
//! statistics switch.

use super::{KernelObjects, LiveError};
use std::os::fd::OwnedFd;

/// Which of `objects` the kernel still holds. Needs the same privileges as attaching.
pub fn still_in_kernel(objects: &KernelObjects) -> Result<KernelObjects, LiveError> {
    fn present<T, E: std::error::Error + 'static>(
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
                // An object can vanish between listing its id and opening it (ENOENT): it is
                // gone, which is what the caller asks about. Only other errors (EPERM) mean
                // we cannot look, and only if nothing could be looked at.
                Err(e) if vanished(&e) => {}
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

/// Whether `e` says the object was gone by the time it was opened (ENOENT): ids are listed
/// and then opened one by one, and the kernel frees objects at any time in between.
fn vanished(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(e);
    while let Some(c) = cause {
        if c.downcast_ref::<std::io::Error>().and_then(|io| io.raw_os_error()) == Some(libc::ENOENT) {
            return true;
        }
        cause = c.source();
    }
    false
}

/// Ids and names of every loaded program that is one of wprobe's (named `wp_*`), whoever
/// loaded it: after wprobe exits there should be none.
pub fn loaded_wprobe_programs() -> Result<Vec<(u32, String)>, LiveError> {
    let mut found = Vec::new();
    for p in aya::programs::loaded_programs() {
        let p = match p {
            Ok(p) => p,
            Err(e) if vanished(&e) => continue,
            Err(e) => return Err(LiveError::Introspect(e.to_string())),
        };
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

#[cfg(test)]
mod tests {
    use super::vanished;
    use aya::{maps::MapError, sys::SyscallError};

    fn map_error(errno: i32) -> MapError {
        MapError::SyscallError(SyscallError {
            call: "bpf_map_get_fd_by_id",
            io_error: std::io::Error::from_raw_os_error(errno),
        })
    }

    #[test]
    fn an_object_freed_between_listing_and_opening_is_gone_not_an_error() {
        assert!(vanished(&map_error(libc::ENOENT)));
        assert!(!vanished(&map_error(libc::EPERM)), "EPERM means we cannot look");
    }
}
