//! The socket protocol between `wprobe run --connect` (and `sessions`, `stop`) and
//! `wprobe serve`: frames of a 4-byte little-endian length, then that many bytes of a
//! postcard-encoded message. A frame longer than the reader's bound is refused before any
//! of it is read, so a hostile client cannot make the daemon allocate.
//!
//! ```text
//!  client                          daemon
//!  Run(RunRequest) ───────────────►  policy, load, init, attach
//!                  ◄─────────────── Started{id} · Stdout/Stderr/Message … · Exit{code}
//!  Interrupt (Ctrl-C) ────────────►  stop: drain, end hook, summary, Exit
//!  Sessions / Stop{id} ───────────►  Sessions([…]) / Done · Error{message}
//! ```

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::io::{self, Read, Write};

/// Bumped when a message changes shape; a daemon refuses other versions by name.
pub const VERSION: u32 = 1;

/// The largest frame a client reads from the daemon (output comes in small frames).
pub const CLIENT_MAX_FRAME: usize = 16 << 20;

#[derive(Debug, Serialize, Deserialize)]
pub enum Request {
    Run(Box<RunRequest>),
    /// From a running session's client: stop as Ctrl-C stops a local run.
    Interrupt,
    /// The sessions this client may see (all of them for admins).
    Sessions,
    /// End a session (one's own; any for admins), as Ctrl-C would.
    Stop {
        id: u64,
    },
    /// Replace a session's handler, its probes staying attached (`wprobe swap`).
    Swap {
        id: u64,
        handler_name: String,
        component: Vec<u8>,
    },
}

/// Everything `wprobe run` would do locally, minus what only makes sense locally.
#[derive(Debug, Serialize, Deserialize)]
pub struct RunRequest {
    pub version: u32,
    /// The handler's file name, for messages.
    pub handler_name: String,
    pub component: Vec<u8>,
    pub args: Vec<(String, String)>,
    /// The probe flags of `wprobe run`, as given.
    pub probes: crate::cli::ProbeArgs,
    pub limits: LimitsRequest,
    pub json: bool,
}

/// The handler limits asked for; the daemon lowers each to the tenant's.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct LimitsRequest {
    pub cpu_limit_ms: u64,
    pub memory: usize,
    pub output_per_call: usize,
    pub output_total: usize,
    pub output_rate: Option<usize>,
    pub escape: bool,
    pub batch_size: u32,
}

#[derive(Debug, Serialize, Deserialize)]
pub enum Reply {
    /// The session runs: every probe is attached.
    Started {
        id: u64,
    },
    /// Handler output (`printf`), as a local run writes it to stdout.
    Stdout(Vec<u8>),
    /// Handler diagnostics, as a local run writes them to stderr.
    Stderr(Vec<u8>),
    /// One of wprobe's own lines for stderr (warnings, the summary).
    Message(String),
    /// The session ended; the client exits with this status (after printing `error`).
    Exit {
        code: u8,
        error: Option<String>,
    },
    Sessions(Vec<SessionInfo>),
    /// A request without output was carried out.
    Done,
    /// A request was refused or failed; the connection closes.
    Error(String),
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SessionInfo {
    pub id: u64,
    pub tenant: String,
    pub uid: u32,
    pub handler: String,
    pub probes: Vec<String>,
    pub started_unix: u64,
    pub events: u64,
    pub lost: u64,
    pub output_dropped: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("the connection closed")]
    Closed,
    #[error("a frame of {len} bytes is over the limit of {max} bytes")]
    TooLarge { len: usize, max: usize },
    #[error("a malformed frame: {0}")]
    Malformed(#[from] postcard::Error),
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// Writes one frame (length, then the message).
pub fn write_frame<T: Serialize>(w: &mut impl Write, msg: &T) -> Result<(), FrameError> {
    let body = postcard::to_allocvec(msg)?;
    let len =
        u32::try_from(body.len()).map_err(|_| FrameError::TooLarge { len: body.len(), max: u32::MAX as usize })?;
    let mut frame = Vec::with_capacity(4 + body.len());
    frame.extend_from_slice(&len.to_le_bytes());
    frame.extend_from_slice(&body);
    w.write_all(&frame)?;
    w.flush()?;
    Ok(())
}

/// Reads one frame of at most `max` bytes.
pub fn read_frame<T: DeserializeOwned>(r: &mut impl Read, max: usize) -> Result<T, FrameError> {
    let mut len = [0u8; 4];
    match r.read_exact(&mut len) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Err(FrameError::Closed),
        Err(e) => return Err(e.into()),
    }
    let len = u32::from_le_bytes(len) as usize;
    if len > max {
        return Err(FrameError::TooLarge { len, max });
    }
    let mut body = vec![0u8; len];
    r.read_exact(&mut body).map_err(|e| match e.kind() {
        io::ErrorKind::UnexpectedEof => FrameError::Closed,
        _ => e.into(),
    })?;
    Ok(postcard::from_bytes(&body)?)
}

#[cfg(test)]
impl RunRequest {
    /// A request for tests: `--uprobe /bin/true:main`.
    pub fn example() -> RunRequest {
        use clap::Parser;
        #[derive(clap::Parser)]
        struct Probes {
            #[command(flatten)]
            probes: crate::cli::ProbeArgs,
        }
        RunRequest {
            version: VERSION,
            handler_name: String::new(),
            component: Vec::new(),
            args: Vec::new(),
            probes: Probes::parse_from(["x", "--uprobe", "/bin/true:main"]).probes,
            limits: LimitsRequest::default(),
            json: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let mut buf = Vec::new();
        let req =
            RunRequest { handler_name: "h.wasm".into(), component: vec![0, 97, 115, 109], ..RunRequest::example() };
        write_frame(&mut buf, &Request::Run(Box::new(req))).unwrap();
        write_frame(&mut buf, &Request::Stop { id: 7 }).unwrap();
        let mut r = buf.as_slice();
        match read_frame::<Request>(&mut r, 1 << 20).unwrap() {
            Request::Run(req) => assert_eq!(req.component, [0, 97, 115, 109]),
            other => panic!("{other:?}"),
        }
        assert!(matches!(read_frame::<Request>(&mut r, 1 << 20).unwrap(), Request::Stop { id: 7 }));
        assert!(matches!(read_frame::<Request>(&mut r, 1 << 20), Err(FrameError::Closed)));
    }

    #[test]
    fn hostile_frames_are_refused_without_reading_them() {
        // A length far over the limit: refused from the header alone.
        let huge = [0xff, 0xff, 0xff, 0x7f];
        assert!(matches!(
            read_frame::<Request>(&mut &huge[..], 1 << 20),
            Err(FrameError::TooLarge { len: 0x7fff_ffff, .. })
        ));
        // A frame cut short, and a frame of garbage.
        let short = [10, 0, 0, 0, 1, 2];
        assert!(matches!(read_frame::<Request>(&mut &short[..], 1 << 20), Err(FrameError::Closed)));
        let garbage = [3, 0, 0, 0, 0xee, 0xee, 0xee];
        assert!(matches!(read_frame::<Request>(&mut &garbage[..], 1 << 20), Err(FrameError::Malformed(_))));
    }
}
