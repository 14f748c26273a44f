//! {{name}}: a wprobe handler. SystemTap's
//!
//!   probe kprobe.function("tcp_v4_connect") {
//!     asmlinkage();
//!     printf("%s, %d, %d, 0x%x, 0x%x, %d\n", pp(), pid(), cpu(), pointer_arg(1), pointer_arg(2), uint_arg(3));
//!   }
//!
//! as a probe body. Build: `cargo build --target wasm32-unknown-unknown --profile handler`;
//! run: `wprobe run target/wasm32-unknown-unknown/handler/{{name}}.wasm --kprobe tcp_v4_connect`
//! (wprobe turns the core module into a component itself). The SDK's README lists every
//! accessor.
use wprobe_sdk::prelude::*;

fn {{name}}() -> Result<(), AccessError> {
    asmlinkage();
    printf!("{}, {}, {}, {:#x}, {:#x}, {}\n", pp(), pid(), cpu(), pointer_arg(1)?, pointer_arg(2)?, uint_arg(3)?);
    Ok(())
}

wprobe_sdk::handler!(fn {{name}});
