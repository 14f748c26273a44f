//! `-c CMD` in a process group of its own, ended with the run; and `--pid PID`, watched
//! until it exits.
//!
//! The group is what makes `-c` owned, as with `bpftrace -c`: Ctrl-C on the terminal goes to
//! wprobe only (which then stops the command itself), and when wprobe stops for any reason
//! the whole group, background children included, gets SIGTERM, then SIGKILL after a grace
//! period, so no orphan keeps running or keeps firing the probes of the next run.

use super::RunError;
use std::os::fd::{FromRawFd, OwnedFd};
use std::process::ExitStatus;
use std::time::{Duration, Instant};
use tokio::io::unix::AsyncFd;

/// The shell script that runs `-c CMD` (its `$1`) once fd 3 reaches end of file, which
/// happens when wprobe drops the pipe's write end ([`Command::release`]).
const HOLD_THEN_RUN: &str = "read -r _ <&3; exec 3<&-; eval \"$1\"";

/// How long the command's group has between SIGTERM and SIGKILL.
pub const GRACE: Duration = Duration::from_millis(1000);
/// How long processes killed with SIGKILL may take to die before wprobe gives up waiting.
const KILL_WAIT: Duration = Duration::from_secs(2);

/// The running `-c` command, leader of its own process group.
pub struct Command {
    child: tokio::process::Child,
    pgid: i32,
    terminated_at: Option<Instant>,
    done: bool,
    /// The write end of the pipe the child waits on before it runs the command: closing it
    /// lets the command go (see [`Command::release`]).
    gate: Option<OwnedFd>,
}

impl Command {
    /// Starts `/bin/sh -c CMD` in a new process group, held before it runs anything until
    /// [`Command::release`]: so that the events can be scoped to its pid before it fires
    /// any probe.
    pub fn spawn(command: &str) -> Result<Command, RunError> {
        let failed = |source| RunError::Command { command: command.to_owned(), source };
        let mut fds = [0; 2];
        // SAFETY: pipe2 writes two fds into the array.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
            return Err(failed(std::io::Error::last_os_error()));
        }
        // SAFETY: both fds are new and owned by nothing else.
        let (gate_r, gate_w) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        // The shell waits for end of file on fd 3 before it evaluates CMD. (Waiting before
        // exec would hang the spawn itself, which returns only once exec has happened.)
        let mut cmd = tokio::process::Command::new("/bin/sh");
        cmd.arg("-c").arg(HOLD_THEN_RUN).arg("wprobe").arg(command).process_group(0);
        let r = std::os::fd::AsRawFd::as_raw_fd(&gate_r);
        // SAFETY: between fork and exec the child only duplicates an fd (async-signal-safe);
        // both pipe ends are close-on-exec, the duplicate is not.
        unsafe {
            cmd.pre_exec(move || {
                if libc::dup2(r, 3) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd.spawn().map_err(failed)?;
        drop(gate_r);
        // The shell is the group's leader: its pid is the group's id.
        let pid = child.id().ok_or_else(|| RunError::Command {
            command: command.to_owned(),
            source: std::io::Error::other("the shell exited before its pid was read"),
        })?;
        Ok(Command { child, pgid: pid as i32, terminated_at: None, done: false, gate: Some(gate_w) })
    }

    /// Lets the held command run.
    pub fn release(&mut self) {
        self.gate = None;
    }

    /// The shell's pid, which is also the group's id.
    pub fn pid(&self) -> u32 {
        self.pgid as u32
    }

    /// Waits for the shell to exit.
    pub async fn wait(&mut self) -> ExitStatus {
        match self.child.wait().await {
            Ok(status) => status,
            // Waiting failed: treat the command as still running rather than spinning on it.
            Err(_) => std::future::pending().await,
        }
    }

    /// The shell's exit status, if it has exited.
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Asks the whole group to stop (SIGTERM); [`Command::end`] makes sure it did.
    pub fn terminate(&mut self) {
        if self.terminated_at.is_none() {
            self.terminated_at = Some(Instant::now());
            signal_group(self.pgid, libc::SIGTERM);
        }
    }

    /// Ends the group: SIGTERM if not sent yet, SIGKILL for whatever still lives when the
    /// grace period since SIGTERM is over, then waits until none of it lives.
    pub fn end(&mut self) {
        self.terminate();
        let kill_at = self.terminated_at.unwrap_or_else(Instant::now) + GRACE;
        while group_alive(self.pgid) && Instant::now() < kill_at {
            std::thread::sleep(Duration::from_millis(10));
        }
        if group_alive(self.pgid) {
            signal_group(self.pgid, libc::SIGKILL);
            let give_up = Instant::now() + KILL_WAIT;
            while group_alive(self.pgid) && Instant::now() < give_up {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        // Reap the shell, so that it does not stay a zombie for the rest of wprobe's life.
        let _ = self.child.try_wait();
        self.done = true;
    }
}

impl Drop for Command {
    /// A run that ends by an early return or a panic still leaves no command behind.
    fn drop(&mut self) {
        if !self.done {
            signal_group(self.pgid, libc::SIGKILL);
        }
    }
}

fn signal_group(pgid: i32, sig: libc::c_int) {
    // SAFETY: plain syscall; a group that is gone only gives ESRCH.
    unsafe { libc::kill(-pgid, sig) };
}

/// Whether a process of group `pgid` still runs (zombies do not: they only wait for their
/// parent, which may be an init that never reaps them).
pub fn group_alive(pgid: i32) -> bool {
    !group_members(pgid).is_empty()
}

/// The pids of the living (not zombie) processes of group `pgid`, from /proc.
pub fn group_members(pgid: i32) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else { return Vec::new() };
    dir.filter_map(|entry| {
        let pid: u32 = entry.ok()?.file_name().to_str()?.parse().ok()?;
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // "pid (comm) state ppid pgrp …"; comm may hold spaces and parentheses.
        let mut fields = stat.get(stat.rfind(')')? + 1..)?.split_whitespace();
        let state = fields.next()?;
        let pgrp: i32 = fields.nth(1)?.parse().ok()?;
        (pgrp == pgid && state != "Z" && state != "X").then_some(pid)
    })
    .collect()
}

/// `--pid PID`: becomes ready when that process exits. Opened before anything is attached,
/// so that a wrong pid fails up front.
#[derive(Debug)]
pub struct ProcessWatch {
    pid: u32,
    fd: Option<OwnedFd>,
    /// The descriptor, registered with the runtime on first use.
    registered: Option<AsyncFd<OwnedFd>>,
}

impl ProcessWatch {
    pub fn open(pid: u32) -> Result<ProcessWatch, RunError> {
        // SAFETY: plain syscall; the result is checked before use.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
        if fd < 0 {
            let err = std::io::Error::last_os_error();
            return Err(match err.raw_os_error() {
                Some(libc::ESRCH) | Some(libc::EINVAL) => RunError::NoProcess(pid),
                _ => RunError::WatchProcess { pid, source: err },
            });
        }
        // SAFETY: pidfd_open returned a new descriptor that nothing else owns.
        Ok(ProcessWatch { pid, fd: Some(unsafe { OwnedFd::from_raw_fd(fd as i32) }), registered: None })
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Completes when the process has exited (a pidfd turns readable then).
    pub async fn exited(&mut self) {
        if let Some(fd) = self.fd.take() {
            // Not watchable by the runtime: never report an exit rather than a false one.
            // SAFETY: the pidfd is owned by the AsyncFd from here on, open until it drops.
            self.registered = unsafe { AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE) }.ok();
        }
        match &self.registered {
            Some(fd) => {
                let _ = fd.readable().await;
            }
            None => std::future::pending().await,
        }
    }
}
