//! Test handler: attacks the terminal, wprobe's own lines and its limits through text, or
//! faults in a chosen way. `--arg mode=…`:
//!
//! * `escape`: prints (and warns) terminal escape sequences and lines that imitate wprobe's
//!   own diagnostics;
//! * `forge`: returns an error whose text breaks the line and imitates `wprobe: error: …`;
//! * `huge_error`, `huge_init_error`, `huge_end_error`: returns a 1 MiB error message from
//!   `event`, `init` or `end`;
//! * `huge_panic`: panics with a 1 MiB message;
//! * `register`: asks for a register with a 1 MiB name and prints the length of the error
//!   the host hands back;
//! * `stack`: recurses until the stack overflows; `oob`: reads far outside its memory;
//! * `chatty`: prints `--arg bytes=N` bytes per event (default 1000).
//!
//! It asks for cursor delivery, so that every accessor is a call into the host.
use wprobe_sdk::prelude::*;

const MIB: usize = 1 << 20;

struct Hostile {
    mode: String,
    bytes: usize,
}

impl Handler for Hostile {
    const DELIVERY: Delivery = Delivery::Cursor;

    fn init(session: &Session) -> Result<Self, String> {
        let mode = session.arg("mode").unwrap_or("escape").to_owned();
        if mode == "huge_init_error" {
            return Err("I".repeat(MIB));
        }
        Ok(Hostile { mode, bytes: session.arg_or("bytes", 1000)? })
    }

    fn event(&mut self) -> Result<(), Error> {
        match self.mode.as_str() {
            "escape" => {
                printf!("title\x1b]0;pwned\x07 clear\x1b[2J\x1b[31mred\x1b[0m cr\r bell\x07 csi\u{9b}1m\n");
                printf!("wprobe: error: forged by the handler\n");
                wprobe_sdk::warn!("warn\x1b[2J\nwprobe: error: forged warning");
            }
            "forge" => return Err(Error::msg("all good\nwprobe: error: forged\x1b[2J")),
            "huge_error" => return Err(Error::msg("E".repeat(MIB))),
            "huge_panic" => panic!("{}", "P".repeat(MIB)),
            "register" => match register(&"r".repeat(MIB)) {
                Ok(v) => printf!("register: {v}\n"),
                Err(e) => printf!("error of {} bytes: {}\n", e.to_string().len(), &e.to_string()[..40]),
            },
            "stack" => printf!("{}\n", recurse(std::hint::black_box(1))),
            "oob" => {
                // SAFETY: none; this handler wants the trap that reading past its memory gives.
                let v = unsafe { std::ptr::read_volatile(std::hint::black_box(0xffff_fff0usize) as *const u64) };
                printf!("{v}\n");
            }
            "chatty" => printf!("{}\n", "c".repeat(self.bytes.saturating_sub(1))),
            _ => {}
        }
        Ok(())
    }

    fn end(&mut self) -> Result<(), Error> {
        if self.mode == "huge_end_error" {
            return Err(Error::msg("N".repeat(MIB)));
        }
        Ok(())
    }
}

/// Ends only when `n` wraps to 0, long after the stack has run out; the addition after the
/// call keeps it from becoming a loop.
fn recurse(n: u64) -> u64 {
    if n == 0 {
        return 0;
    }
    std::hint::black_box(recurse(std::hint::black_box(n.wrapping_add(1)))) + n
}

wprobe_sdk::handler!(Hostile);
