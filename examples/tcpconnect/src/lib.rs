//! The seed's `tcp_v4_connect` line, and where the connection goes: the destination address
//! from a 16-byte capture of the `struct sockaddr_in *` in argument 2.
//!
//! ```text
//! wprobe run tcpconnect.wasm --kprobe tcp_v4_connect
//! kprobe.function("tcp_v4_connect"), 1234, 0, 0xffff…, 0xffff…, 16, 127.0.0.1:8080
//! bpftrace: kprobe:tcp_v4_connect { $a = (struct sockaddr_in *)arg1; printf("%s:%d\n", ntop($a->sin_addr.s_addr), bswap($a->sin_port)) }
//! ```
use wprobe_sdk::prelude::*;

/// `struct sockaddr_in`: family (2 bytes), port (2, big-endian), address (4), padding (8).
const SOCKADDR_IN: u32 = 16;
const AF_INET: u16 = 2;

struct TcpConnect;

impl Handler for TcpConnect {
    fn init(session: &Session) -> Result<Self, String> {
        // tcp_v4_connect(struct sock *sk, struct sockaddr *uaddr, int addr_len): uaddr
        // points to a kernel copy of the caller's address.
        session.capture(Capture::kernel_bytes(Base::Arg(2), SOCKADDR_IN));
        Ok(TcpConnect)
    }

    fn event(&mut self) -> Result<(), Error> {
        asmlinkage();
        let uaddr = pointer_arg(2)?;
        let sa = kernel_bytes(uaddr, SOCKADDR_IN)?;
        printf!("{}, {}, {}, {:#x}, {:#x}, {}, ", pp(), pid(), cpu(), pointer_arg(1)?, uaddr, uint_arg(3)?);
        if u16::from_le_bytes([sa[0], sa[1]]) == AF_INET {
            let port = u16::from_be_bytes([sa[2], sa[3]]);
            printf!("{}.{}.{}.{}:{}\n", sa[4], sa[5], sa[6], sa[7], port);
        } else {
            printf!("family {}\n", u16::from_le_bytes([sa[0], sa[1]]));
        }
        Ok(())
    }
}

wprobe_sdk::handler!(TcpConnect);
