//! Loading the eBPF object without parsing the kernel's BTF.
//!
//! aya 0.14's `EbpfLoader::new()` always reads and parses `/sys/kernel/btf/vmlinux` (5 MB on
//! this machine, about 100 ms of CPU: most of wprobe's launch → first event) for CO-RE
//! relocations that wprobe's object does not have: it is built without BTF and reads
//! registers, not kernel types. The loader offers no way to skip that (`.btf(None)` comes
//! after `new()`), so the object is loaded on a short-lived thread that first gives itself a
//! private mount namespace with an empty tmpfs over `/sys/kernel/btf`: aya finds no file and
//! goes on without. Where that is not allowed (no CAP_SYS_ADMIN, a seccomp filter), the
//! thread loads as before. Nothing leaves the thread: the namespace ends with it, and the
//! file descriptors it created are the process's.

use std::io;

/// Runs `f` (the load) where `/sys/kernel/btf/vmlinux` is hidden, if that can be arranged.
pub(super) fn load_without_kernel_btf<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| {
        s.spawn(|| {
            // Failing to hide the file only costs the parse.
            let _ = hide_kernel_btf();
            f()
        })
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

fn hide_kernel_btf() -> io::Result<()> {
    let check = |r: libc::c_int| if r == 0 { Ok(()) } else { Err(io::Error::last_os_error()) };
    // SAFETY: plain syscalls with NUL-terminated strings; they change this thread's mount
    // namespace only (unshare(CLONE_NEWNS) also unshares the thread's filesystem context).
    unsafe {
        check(libc::unshare(libc::CLONE_NEWNS))?;
        // First make every mount private, so that the next one cannot propagate to the
        // namespace the rest of the system (and this process's other threads) use.
        check(libc::mount(
            std::ptr::null(),
            c"/".as_ptr(),
            std::ptr::null(),
            libc::MS_REC | libc::MS_PRIVATE,
            std::ptr::null(),
        ))?;
        check(libc::mount(
            c"none".as_ptr(),
            c"/sys/kernel/btf".as_ptr(),
            c"tmpfs".as_ptr(),
            libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
            std::ptr::null(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The file is hidden inside the call (when this process may do so) and visible again
    /// after it, for this thread and every other.
    #[test]
    fn the_kernel_btf_is_hidden_only_inside_the_call() {
        let vmlinux = std::path::Path::new("/sys/kernel/btf/vmlinux");
        if !vmlinux.exists() {
            eprintln!("skipped: this kernel has no /sys/kernel/btf/vmlinux");
            return;
        }
        // SAFETY: no arguments.
        let root = unsafe { libc::geteuid() } == 0;
        let inside = load_without_kernel_btf(|| vmlinux.exists());
        if root {
            assert!(!inside, "hidden from the loading thread");
        }
        assert!(vmlinux.exists(), "still there for everyone else");
    }
}
