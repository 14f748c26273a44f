//! Test handler: the probe-time data of WIT 0.2.0, which the C, Python and JavaScript
//! versions (`examples/{c,python,js}/probe_data.*`) must match byte for byte. `init`
//! declares a capture with every base and modifier (the host's `captures()` is compared);
//! `event` prints what the memory accessors read from the captured regions of an entry
//! event (arguments 1 to 3 point at them), and in a return event the entry's values, the
//! latency and the memory the return value points at.
use wprobe_sdk::prelude::*;

struct ProbeData;

impl Handler for ProbeData {
    fn init(session: &Session) -> Result<Self, String> {
        session
            .capture(Capture::user_string(Base::Arg(2), 256))
            .capture(Capture::kernel_bytes(Base::Arg(1), 16).offset(8).probe(0))
            .capture(Capture::kernel_string(Base::Register("rdx".into()), 32).deref(0).deref(-8))
            .capture(Capture::user_string(Base::ReturnValue, 64).probe(1).at_return())
            .capture(Capture::user_bytes(Base::Field("filename".into()), 4).offset(-16));
        Ok(ProbeData)
    }

    fn event(&mut self) -> Result<(), Error> {
        printf!("{} target={}", pid(), target());
        if is_return() {
            let ret = returnval()? as u64;
            printf!(
                " return entry_ts={} latency={} arg1={:#x} name={} uchar={} ushort={} uint={} ulong={} ubytes={}\n",
                entry_timestamp_ns()?,
                latency_ns()?,
                pointer_arg(1)?,
                user_string(ret)?,
                user_char(ret)?,
                user_short(ret)?,
                user_int(ret)?,
                user_long(ret)?,
                hex(&user_bytes(ret, 3)?),
            );
        } else {
            let (a1, a2, a3) = (pointer_arg(1)?, pointer_arg(2)?, pointer_arg(3)?);
            printf!(
                " entry path={} path4={} char={} short={} int={} long={} ptr={:#x} kbytes={} kstr={} kstr2={}\n",
                user_string(a2)?,
                user_string_n(a2, 4)?,
                kernel_char(a1 + 8)?,
                kernel_short(a1 + 8)?,
                kernel_int(a1 + 8)?,
                kernel_long(a1 + 8)?,
                kernel_pointer(a1 + 16)?,
                hex(&kernel_bytes(a1 + 9, 4)?),
                kernel_string(a3)?,
                kernel_string_n(a3, 2)?,
            );
        }
        Ok(())
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

wprobe_sdk::handler!(ProbeData);
