//! Test handler: allocates and touches memory without bound on its first event. Only the
//! host's memory cap can stop it (allocation failure aborts, which is a trap).
use wprobe_sdk::prelude::*;

const CHUNK: usize = 1 << 20;

#[derive(Default)]
struct MemBomb {
    hoard: Vec<Box<[u8]>>,
}

impl Handler for MemBomb {
    fn init(_: &Session) -> Result<Self, String> {
        Ok(MemBomb::default())
    }

    fn event(&mut self) -> Result<(), Error> {
        loop {
            let mut chunk = vec![0u8; CHUNK].into_boxed_slice();
            // Write every page, so the memory is really committed, not just reserved.
            for page in chunk.chunks_mut(4096) {
                page[0] = 1;
            }
            self.hoard.push(std::hint::black_box(chunk));
        }
    }
}

wprobe_sdk::handler!(MemBomb);
