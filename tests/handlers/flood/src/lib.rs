//! Test handler: prints a long line over and over on its first event. Only the host's output
//! cap can stop it (the SDK hands the host 64 KiB at a time).
use wprobe_sdk::prelude::*;

fn flood() -> Result<(), Error> {
    let line = "flood ".repeat(170); // about 1 KiB
    let mut n = 0u64;
    loop {
        n += 1;
        printf!("{n} {line}\n");
    }
}

wprobe_sdk::handler!(fn flood);
