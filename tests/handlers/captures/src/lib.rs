//! Test handler: declares the captures its arguments describe and prints what the memory
//! accessors answer, errors included, so that tests can aim any capture at any probe.
//!
//! `--arg cap=SPACE,KIND,BASE,SIZE[,OFFSET[,DEREF;DEREF…[,return]]]` (repeatable):
//! SPACE `user`/`kernel`, KIND `string`/`bytes`, BASE `argN`, `ret`, `reg:NAME` or
//! `field:NAME`. `--arg read=argN` (repeatable) prints `user_string(pointer_arg(N))` per
//! event (or `kernel_string` with `--arg space=kernel`); `--arg field=NAME` prints
//! `field_string(NAME)` or, failing that, `field(NAME)`; `--arg readfield=NAME` prints
//! `user_string(field(NAME))` (or `kernel_string`); `--arg kptr=0xADDR` prints
//! `kernel_pointer(ADDR)`.
use wprobe_sdk::prelude::*;

struct Captures {
    reads: Vec<u32>,
    kernel: bool,
    fields: Vec<String>,
    read_fields: Vec<String>,
    kptrs: Vec<u64>,
}

fn parse(spec: &str) -> Result<Capture, String> {
    let parts: Vec<&str> = spec.split(',').collect();
    let bad = || format!("--arg cap={spec}: expected SPACE,KIND,BASE,SIZE[,OFFSET[,DEREFS[,return]]]");
    if parts.len() < 4 {
        return Err(bad());
    }
    let base = match parts[2] {
        "ret" => Base::ReturnValue,
        b if b.starts_with("arg") => Base::Arg(b[3..].parse().map_err(|_| bad())?),
        b if b.starts_with("reg:") => Base::Register(b[4..].to_string()),
        b if b.starts_with("field:") => Base::Field(b[6..].to_string()),
        _ => return Err(bad()),
    };
    let size: u32 = parts[3].parse().map_err(|_| bad())?;
    let mut c = match (parts[0], parts[1]) {
        ("user", "string") => Capture::user_string(base, size),
        ("user", "bytes") => Capture::user_bytes(base, size),
        ("kernel", "string") => Capture::kernel_string(base, size),
        ("kernel", "bytes") => Capture::kernel_bytes(base, size),
        _ => return Err(bad()),
    };
    if let Some(off) = parts.get(4).filter(|s| !s.is_empty()) {
        c = c.offset(off.parse().map_err(|_| bad())?);
    }
    if let Some(derefs) = parts.get(5).filter(|s| !s.is_empty()) {
        for d in derefs.split(';') {
            c = c.deref(d.parse().map_err(|_| bad())?);
        }
    }
    if parts.get(6) == Some(&"return") {
        c = c.at_return();
    }
    Ok(c)
}

impl Handler for Captures {
    fn init(session: &Session) -> Result<Self, String> {
        let mut reads = Vec::new();
        let mut fields = Vec::new();
        let mut read_fields = Vec::new();
        let mut kptrs = Vec::new();
        for (k, v) in session.args() {
            match k.as_str() {
                "cap" => {
                    session.capture(parse(v)?);
                }
                "read" => reads.push(v.strip_prefix("arg").and_then(|n| n.parse().ok()).ok_or("--arg read=argN")?),
                "field" => fields.push(v.clone()),
                "readfield" => read_fields.push(v.clone()),
                "kptr" => kptrs.push(
                    u64::from_str_radix(v.trim_start_matches("0x"), 16)
                        .map_err(|_| format!("--arg kptr={v}: not hex"))?,
                ),
                "space" => {}
                other => return Err(format!("unknown --arg {other}")),
            }
        }
        Ok(Captures { reads, kernel: session.arg("space") == Some("kernel"), fields, read_fields, kptrs })
    }

    fn event(&mut self) -> Result<(), Error> {
        printf!("{}", pid());
        for &n in &self.reads {
            let addr = pointer_arg(n)?;
            let s = if self.kernel { kernel_string(addr) } else { user_string(addr) };
            match s {
                Ok(s) => printf!(" arg{n}={s:?}"),
                Err(e) => printf!(" arg{n}: {e}"),
            }
        }
        for &a in &self.kptrs {
            match kernel_pointer(a) {
                Ok(v) => printf!(" *{a:#x}={v:#x}"),
                Err(e) => printf!(" *{a:#x}: {e}"),
            }
        }
        for f in &self.read_fields {
            let addr = field(f)? as u64;
            let s = if self.kernel { kernel_string(addr) } else { user_string(addr) };
            match s {
                Ok(s) => printf!(" *{f}={s:?}"),
                Err(e) => printf!(" *{f}: {e}"),
            }
        }
        for f in &self.fields {
            match field_string(f) {
                Ok(s) => printf!(" {f}={s:?}"),
                Err(_) => match field(f) {
                    Ok(v) => printf!(" {f}={v}"),
                    Err(e) => printf!(" {f}: {e}"),
                },
            }
        }
        if is_return() {
            match latency_ns() {
                Ok(_) => printf!(" ret={}", returnval()?),
                Err(e) => printf!(" ret={} ({e})", returnval()?),
            }
        }
        printf!("\n");
        Ok(())
    }
}

wprobe_sdk::handler!(Captures);
