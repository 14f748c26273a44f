//! Test handler, built for wasm32-wasip2 with std: tries to reach the outside world through
//! WASI in `init` and prints what happened, one line each:
//!
//! ```text
//! hostname: error: …        (or: hostname: read "…")
//! env vars: 0
//! args: 0
//! clock: 0 s since the epoch   (or: clock: error: …)
//! connect: error: …         (or: connect: ok)
//! println: done
//! ```
//!
//! The host grants nothing (no preopens, no environment, frozen clocks, no network), and a
//! test checks these lines. `println!` goes to WASI stdout, which the host may drop.
use std::time::{SystemTime, UNIX_EPOCH};
use wprobe_sdk::prelude::*;

struct WasiSnoop;

impl Handler for WasiSnoop {
    fn init(_: &Session) -> Result<Self, String> {
        match std::fs::read_to_string("/etc/hostname") {
            Ok(s) => printf!("hostname: read {:?}\n", s.trim()),
            Err(e) => printf!("hostname: error: {e}\n"),
        }
        printf!("env vars: {}\n", std::env::vars().count());
        printf!("args: {}\n", std::env::args().count());
        match SystemTime::now().duration_since(UNIX_EPOCH) {
            Ok(d) => printf!("clock: {} s since the epoch\n", d.as_secs()),
            Err(e) => printf!("clock: error: {e}\n"),
        }
        match std::net::TcpStream::connect("127.0.0.1:1") {
            Ok(_) => printf!("connect: ok\n"),
            Err(e) => printf!("connect: error: {e}\n"),
        }
        println!("wasi_snoop: println through WASI stdout");
        printf!("println: done\n");
        Ok(WasiSnoop)
    }

    fn event(&mut self) -> Result<(), Error> {
        Ok(())
    }
}

wprobe_sdk::handler!(WasiSnoop);
