//! Boots a kernel and an initramfs under QEMU's software emulation (TCG) and collects the
//! serial console.
//!
//! TCG, because nested KVM fails on the machines this runs on; one vCPU, no NIC (the guest
//! only needs `lo`), `-no-reboot` with `panic=-1` so that a kernel panic ends QEMU at once.
//! The console is QEMU's stdio: read on a thread, kept whole for the log, and optionally
//! passed line by line to a callback (for `cargo xtask vm`'s live output). A hard time-out
//! kills QEMU.

use super::arch::VmArch;
use anyhow::{Context, Result};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub struct Boot<'a> {
    pub arch: VmArch,
    pub kernel: &'a Path,
    pub initrd: &'a Path,
    pub memory_mb: u32,
    pub cpus: u32,
    /// `-cpu` (e.g. `max`, `max,la57=off`).
    pub cpu_model: &'a str,
    pub timeout: Duration,
    /// Hand the terminal to the guest (an interactive shell); the console is then not captured.
    pub interactive: bool,
    /// Extra kernel command line.
    pub append: String,
}

pub struct Outcome {
    /// The console, as the guest wrote it (escape sequences and `\r` removed).
    pub console: String,
    /// When each console line arrived, in seconds since QEMU started, with the line.
    pub arrivals: Vec<(f64, String)>,
    pub timed_out: bool,
    /// QEMU's exit status (None when killed).
    pub status: Option<i32>,
    /// QEMU's own stderr.
    pub qemu_stderr: String,
    pub elapsed: Duration,
}

/// Checks that `arch`'s QEMU is installed, with the install command in the error.
pub fn find(arch: VmArch) -> Result<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let qemu = arch.qemu();
    std::env::split_paths(&path).map(|d| d.join(qemu)).find(|p| p.is_file()).with_context(|| {
        format!(
            "{qemu} is not installed; install it with `sudo apt-get install --no-install-recommends {}`",
            arch.qemu_package()
        )
    })
}

/// Boots, calling `on_line` with each console line as it arrives, until the guest powers
/// off, QEMU fails, or the time-out.
pub fn boot(qemu: &Path, opts: &Boot, mut on_line: impl FnMut(&str) + Send + 'static) -> Result<Outcome> {
    let append = format!("console={} quiet panic=-1 oops=panic {}", opts.arch.console(), opts.append);
    let mut cmd = Command::new(qemu);
    cmd.args(opts.arch.machine_args())
        .args(["-accel", "tcg", "-cpu", opts.cpu_model, "-nographic", "-no-reboot", "-nic", "none"])
        .args(["-m", &opts.memory_mb.to_string(), "-smp", &opts.cpus.to_string()])
        .arg("-kernel")
        .arg(opts.kernel)
        .arg("-initrd")
        .arg(opts.initrd)
        .args(["-append", &append]);
    let start = Instant::now();
    if opts.interactive {
        let status = cmd.status().with_context(|| format!("cannot start {cmd:?}"))?;
        return Ok(Outcome {
            console: String::new(),
            arrivals: Vec::new(),
            timed_out: false,
            status: status.code(),
            qemu_stderr: String::new(),
            elapsed: start.elapsed(),
        });
    }
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot start {cmd:?}"))?;

    let console = Arc::new(Mutex::new((String::new(), Vec::new())));
    let reader = {
        let console = console.clone();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            let mut r = BufReader::new(stdout);
            let mut raw = Vec::new();
            while let Ok(n) = r.read_until(b'\n', &mut raw) {
                if n == 0 {
                    break;
                }
                let line = clean(&String::from_utf8_lossy(&raw));
                raw.clear();
                let text = line.trim_end_matches('\n');
                on_line(text);
                let mut c = console.lock().unwrap();
                c.1.push((start.elapsed().as_secs_f64(), text.to_string()));
                c.0.push_str(&line);
            }
        })
    };
    let stderr = {
        let mut pipe = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = std::io::Read::read_to_string(&mut pipe, &mut s);
            s
        })
    };

    let mut timed_out = false;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status.code();
        }
        if start.elapsed() > opts.timeout {
            timed_out = true;
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let _ = reader.join();
    let qemu_stderr = stderr.join().unwrap_or_default();
    let (console, arrivals) = std::mem::take(&mut *console.lock().unwrap());
    Ok(Outcome { console, arrivals, timed_out, status, qemu_stderr, elapsed: start.elapsed() })
}

/// Removes terminal escape sequences (SeaBIOS clears the screen) and carriage returns.
pub fn clean(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\x1b' => {
                // CSI (ESC [ parameters, then one final byte in @..~); otherwise a two-byte
                // sequence (ESC c resets the terminal), dropped with its second byte.
                if chars.next() == Some('[') {
                    for c in chars.by_ref() {
                        if ('@'..='~').contains(&c) {
                            break;
                        }
                    }
                }
            }
            '\r' => {}
            c if c.is_control() && c != '\n' && c != '\t' => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn clean_removes_escapes() {
        assert_eq!(super::clean("\x1bc\x1b[?7l\x1b[2JSeaBIOS\r\n"), "SeaBIOS\n");
    }
}
