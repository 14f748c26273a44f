//! Test handler: never returns from its first event. Only the host's CPU bound (fuel or epoch
//! interruption) can stop it.
use wprobe_sdk::Error;

fn spin() -> Result<(), Error> {
    let mut i = 0u64;
    loop {
        // black_box keeps the optimizer from reasoning about the loop at all.
        i = std::hint::black_box(i.wrapping_add(1));
    }
}

wprobe_sdk::handler!(fn spin);
