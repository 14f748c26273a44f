//! Attaching what a glob matched. `/proc/kallsyms` lists functions the kernel will not probe
//! (`__init` code, freed after boot; notrace functions; names that are not unique; blacklisted
//! ones when the blacklist could not be read), and only attaching tells which. So a glob
//! attaches what it can and warns once; a probe point named exactly, or a glob of which
//! nothing attached, fails the run, as does any error that is not the kernel rejecting one
//! function (missing privileges, resource limits).

use super::error::LiveError;

/// How many skipped functions the warning and the error name; the rest are counted.
const SHOWN: usize = 3;

/// The outcome of attaching, probe by probe, in the order the probes were tried.
#[derive(Default)]
pub(crate) struct PartialAttach {
    tried: usize,
    attached: usize,
    /// Each glob probe point (its pp) with how many of its matches were tried and attached.
    globs: Vec<(String, usize, usize)>,
    /// Skipped matches: glob index, function name, the kernel's errno name.
    skipped: Vec<(usize, String, &'static str)>,
}

impl PartialAttach {
    /// Records the attempt to attach the function `name`, a match of the glob probe point
    /// `glob` (None for a probe named exactly). Returns the error when it must end the run.
    pub(crate) fn record(
        &mut self,
        glob: Option<&str>,
        name: &str,
        result: Result<(), LiveError>,
    ) -> Result<(), LiveError> {
        self.tried += 1;
        let group = glob.map(|g| match self.globs.iter().position(|(pp, ..)| pp == g) {
            Some(i) => i,
            None => {
                self.globs.push((g.to_string(), 0, 0));
                self.globs.len() - 1
            }
        });
        if let Some(i) = group {
            self.globs[i].1 += 1;
        }
        match (result, group) {
            (Ok(()), _) => {
                self.attached += 1;
                if let Some(i) = group {
                    self.globs[i].2 += 1;
                }
                Ok(())
            }
            (Err(e), Some(i)) => match rejection(&e) {
                Some(errno) => {
                    self.skipped.push((i, name.to_string(), errno));
                    Ok(())
                }
                None => Err(e),
            },
            (Err(e), None) => Err(e),
        }
    }

    /// After the last probe: an error if some glob attached nothing, else the warning to show
    /// once when some matches were skipped.
    pub(crate) fn finish(self) -> Result<Option<String>, LiveError> {
        for (i, (pp, tried, attached)) in self.globs.iter().enumerate() {
            if *attached == 0 {
                let names = self.skipped.iter().filter(|(g, ..)| *g == i).map(|(_, n, e)| (n.as_str(), *e));
                return Err(LiveError::NothingAttached {
                    pp: pp.clone(),
                    count: *tried,
                    skipped: name_some(names, *tried),
                    hint: if pp.starts_with("kprobe.") {
                        "; the kernel does not probe __init, notrace or blacklisted functions (pick others from \
                         `wprobe list PATTERN`)"
                    } else {
                        ""
                    },
                });
            }
        }
        if self.skipped.is_empty() {
            return Ok(None);
        }
        let names = self.skipped.iter().map(|(_, n, e)| (n.as_str(), *e));
        Ok(Some(format!(
            "attached {} of {} probes; skipped: {}",
            self.attached,
            self.tried,
            name_some(names, self.skipped.len())
        )))
    }
}

/// `a (rejected by the kernel: EINVAL), b (…), c (…) and 4 more`.
fn name_some<'a>(names: impl Iterator<Item = (&'a str, &'static str)>, total: usize) -> String {
    let shown: Vec<String> =
        names.take(SHOWN).map(|(name, errno)| format!("{name} (rejected by the kernel: {errno})")).collect();
    match total.saturating_sub(shown.len()) {
        0 => shown.join(", "),
        more => format!("{} and {more} more", shown.join(", ")),
    }
}

/// The errno name when `err` is the kernel refusing this one function (as opposed to refusing
/// wprobe, or running out of something), which is what a glob may skip.
fn rejection(err: &LiveError) -> Option<&'static str> {
    let LiveError::Attach { source, .. } = err else { return None };
    Some(match source.raw_os_error()? {
        libc::EINVAL => "EINVAL",
        libc::ENOENT => "ENOENT",
        libc::EILSEQ => "EILSEQ",
        // Since Linux 6.4 a name kallsyms holds more than once cannot be probed by name.
        libc::EADDRNOTAVAIL => "EADDRNOTAVAIL",
        libc::EOPNOTSUPP => "EOPNOTSUPP",
        // The kernel-internal ENOTSUPP, which the kprobe code lets out to user space.
        524 => "ENOTSUPP",
        libc::EBUSY => "EBUSY",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;

    fn refused(errno: i32) -> Result<(), LiveError> {
        Err(LiveError::Attach { pp: "pp".into(), source: io::Error::from_raw_os_error(errno) })
    }

    const GLOB: &str = "kprobe.function(\"tcp_v4_*\")";

    #[test]
    fn a_glob_skips_what_the_kernel_rejects_and_warns_once() {
        let mut p = PartialAttach::default();
        p.record(Some(GLOB), "tcp_v4_connect", Ok(())).unwrap();
        p.record(Some(GLOB), "tcp_v4_init", refused(libc::EINVAL)).unwrap();
        p.record(Some(GLOB), "tcp_v4_rcv", Ok(())).unwrap();
        assert_eq!(
            p.finish().unwrap().as_deref(),
            Some("attached 2 of 3 probes; skipped: tcp_v4_init (rejected by the kernel: EINVAL)")
        );
    }

    #[test]
    fn the_warning_names_the_first_few_and_counts_the_rest() {
        let mut p = PartialAttach::default();
        p.record(None, "tcp_v4_connect", Ok(())).unwrap();
        for (i, errno) in [libc::EINVAL, libc::ENOENT, libc::EADDRNOTAVAIL, libc::EINVAL, 524].into_iter().enumerate() {
            p.record(Some(GLOB), &format!("f{i}"), refused(errno)).unwrap();
        }
        p.record(Some(GLOB), "g", Ok(())).unwrap();
        assert_eq!(
            p.finish().unwrap().as_deref(),
            Some(
                "attached 2 of 7 probes; skipped: f0 (rejected by the kernel: EINVAL), f1 (rejected by the kernel: \
                 ENOENT), f2 (rejected by the kernel: EADDRNOTAVAIL) and 2 more"
            )
        );
    }

    #[test]
    fn nothing_skipped_means_no_warning() {
        let mut p = PartialAttach::default();
        p.record(None, "a", Ok(())).unwrap();
        p.record(Some(GLOB), "b", Ok(())).unwrap();
        assert_eq!(p.finish().unwrap(), None);
    }

    #[test]
    fn a_glob_of_which_nothing_attached_fails_even_when_others_did() {
        let mut p = PartialAttach::default();
        p.record(None, "tcp_v4_connect", Ok(())).unwrap();
        p.record(Some("kprobe.function(\"*_init\")"), "tcp_v4_init", refused(libc::EINVAL)).unwrap();
        p.record(Some("kprobe.function(\"*_init\")"), "udp_init", refused(libc::EINVAL)).unwrap();
        let err = p.finish().unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, LiveError::NothingAttached { count: 2, .. }), "{msg}");
        assert!(msg.starts_with("cannot attach kprobe.function(\"*_init\"): the kernel rejected every one"), "{msg}");
        assert!(msg.contains("tcp_v4_init (rejected by the kernel: EINVAL), udp_init"), "{msg}");
        assert!(msg.contains("__init, notrace or blacklisted"), "{msg}");
        let mut p = PartialAttach::default();
        p.record(Some("kprobe.function(\"tcp_v4_ini[t]\")"), "tcp_v4_init", refused(libc::EINVAL)).unwrap();
        let msg = p.finish().unwrap_err().to_string();
        assert!(msg.contains("the kernel rejected the one function it matches: tcp_v4_init"), "{msg}");
    }

    #[test]
    fn an_exactly_named_probe_that_fails_fails_at_once() {
        let mut p = PartialAttach::default();
        let err = p.record(None, "tcp_v4_init", refused(libc::EINVAL)).unwrap_err();
        assert!(matches!(err, LiveError::Attach { .. }), "{err}");
    }

    #[test]
    fn only_the_kernel_rejecting_a_function_is_skipped() {
        // Privileges and resource limits are not about one function: they end the run.
        for errno in [libc::EPERM, libc::EACCES, libc::EMFILE, libc::ENOMEM] {
            let mut p = PartialAttach::default();
            assert!(p.record(Some(GLOB), "f", refused(errno)).is_err(), "errno {errno}");
        }
        let mut p = PartialAttach::default();
        let load = LiveError::ObjectMismatch { what: "x".into() };
        assert!(p.record(Some(GLOB), "f", Err(load)).is_err());
    }
}
