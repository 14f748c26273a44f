//! The script handler: runs a SystemTap script (`wprobe run -e '…'`, `wprobe run FILE.stp`)
//! inside the sandbox, like any other handler. wprobe embeds this component and passes the
//! script through `init`'s arguments:
//!
//! * `wprobe.stap.script`: the script's text; `wprobe.stap.file`: its name in messages;
//! * `wprobe.stap.arg` (repeated, in order): what `$1`, `@1`, … stand for.
//!
//! `init` parses and checks the script (the host has done so too, before attaching
//! anything), binds each probe of the session to the script's probe bodies, declares the
//! memory captures the bodies' memory reads need, and runs `probe begin`.

use wprobe_sdk::prelude::*;
use wprobe_stap::{bind, CaptureBase, CaptureReq, Env, Limits, Script};

struct Stap {
    session: wprobe_stap::Session<SdkEnv>,
    /// For each probe id of the session, the script's probe bodies to run.
    bodies: Vec<Vec<usize>>,
    /// Whether the script reads the time, so that `last_ns` must be kept.
    reads_time: bool,
    /// CLOCK_MONOTONIC of the last event, for the time functions in `end`.
    last_ns: i64,
}

/// The SDK's accessors, as the interpreter asks for them. `event`: whether there is a
/// current event (not in `begin`/`end`).
struct SdkEnv {
    event: bool,
    last_ns: i64,
}

#[cold]
fn no_event(what: &str) -> String {
    format!("{what}() has no event to read in probe begin or end")
}

fn err(e: AccessError) -> String {
    e.to_string()
}

impl SdkEnv {
    #[inline]
    fn need_event(&self, what: &str) -> Result<(), String> {
        if self.event {
            Ok(())
        } else {
            Err(no_event(what))
        }
    }
}

impl Env for SdkEnv {
    #[inline]
    fn pid(&self) -> Result<i64, String> {
        self.need_event("pid")?;
        Ok(pid().into())
    }
    #[inline]
    fn tid(&self) -> Result<i64, String> {
        self.need_event("tid")?;
        Ok(tid().into())
    }
    #[inline]
    fn uid(&self) -> Result<i64, String> {
        self.need_event("uid")?;
        Ok(uid().into())
    }
    #[inline]
    fn cpu(&self) -> Result<i64, String> {
        self.need_event("cpu")?;
        Ok(cpu().into())
    }
    fn pp(&self, out: &mut String) -> Result<(), String> {
        self.need_event("pp")?;
        out.push_str(pp());
        Ok(())
    }
    fn execname(&self, out: &mut String) -> Result<(), String> {
        self.need_event("execname")?;
        out.push_str(execname().as_str());
        Ok(())
    }
    fn probe_id(&self) -> Result<i64, String> {
        self.need_event("probe_id")?;
        Ok(probe_id().into())
    }
    fn is_return(&self) -> Result<bool, String> {
        self.need_event("is_return")?;
        Ok(is_return())
    }
    fn target(&self) -> i64 {
        target().into()
    }
    fn timestamp_ns(&self) -> Result<i64, String> {
        Ok(if self.event { timestamp_ns() as i64 } else { self.last_ns })
    }
    fn entry_timestamp_ns(&self) -> Result<i64, String> {
        entry_timestamp_ns().map(|v| v as i64).map_err(err)
    }
    fn latency_ns(&self) -> Result<i64, String> {
        latency_ns().map(|v| v as i64).map_err(err)
    }
    #[inline]
    fn arg(&self, n: i64) -> Result<u64, String> {
        let n = u32::try_from(n).map_err(|_| format!("argument {n}: arguments count from 1"))?;
        pointer_arg(n).map_err(err)
    }
    fn returnval(&self) -> Result<i64, String> {
        returnval().map_err(err)
    }
    fn returnstr(&self, out: &mut String) -> Result<(), String> {
        out.push_str(returnstr().map_err(err)?.as_str());
        Ok(())
    }
    fn register(&self, name: &str, unsigned: bool) -> Result<i64, String> {
        if unsigned {
            u_register(name).map(|v| v as i64).map_err(err)
        } else {
            register(name).map_err(err)
        }
    }
    fn print_regs(&self, _out: &mut String) -> Result<(), String> {
        // The SDK writes straight into the output, after what the script printed (the
        // interpreter hands its text over first).
        print_regs().map_err(err)
    }
    fn string(&self, user: bool, addr: u64, max: u32, out: &mut String) -> Result<(), String> {
        let s = if user { user_string_n(addr, max) } else { kernel_string_n(addr, max) }.map_err(err)?;
        out.push_str(&s);
        Ok(())
    }
    fn read(&self, user: bool, addr: u64, size: u8) -> Result<u64, String> {
        let bytes = if user { user_bytes(addr, size.into()) } else { kernel_bytes(addr, size.into()) }.map_err(err)?;
        let mut v = [0u8; 8];
        let n = bytes.len().min(8);
        v[..n].copy_from_slice(&bytes[..n]);
        Ok(u64::from_le_bytes(v))
    }
    fn field(&self, name: &str) -> Result<i64, String> {
        field(name).map_err(err)
    }
    fn field_string(&self, name: &str, out: &mut String) -> Result<(), String> {
        out.push_str(&field_string(name).map_err(err)?);
        Ok(())
    }
    fn print(&mut self, text: &str) {
        printf!("{}", text);
    }
    fn warn(&mut self, text: &str) {
        wprobe_sdk::warn!("{text}");
    }
    fn exit(&mut self) {
        exit();
    }
}

fn capture(req: &CaptureReq, probe: u32) -> Capture {
    let base = match &req.base {
        CaptureBase::Arg(n) => Base::Arg(*n),
        CaptureBase::Register(r) => Base::Register(r.clone()),
        CaptureBase::Returnval => Base::ReturnValue,
        CaptureBase::Field(f) => Base::Field(f.clone()),
    };
    let mut c = match (req.string, req.user) {
        (true, true) => Capture::user_string(base, req.size),
        (true, false) => Capture::kernel_string(base, req.size),
        (false, true) => Capture::user_bytes(base, req.size),
        (false, false) => Capture::kernel_bytes(base, req.size),
    };
    c = c.offset(req.offset).probe(probe);
    for d in &req.derefs {
        c = c.deref(*d);
    }
    if req.at_return {
        c = c.at_return();
    }
    c
}

fn limits(session: &Session) -> Result<Limits, String> {
    let d = Limits::default();
    Ok(Limits {
        max_action: session.arg_or("wprobe.stap.MAXACTION", d.max_action)?,
        max_action_interruptible: session.arg_or("wprobe.stap.MAXACTION_INTERRUPTIBLE", d.max_action_interruptible)?,
        max_map_entries: session.arg_or("wprobe.stap.MAXMAPENTRIES", d.max_map_entries)?,
        max_nesting: session.arg_or("wprobe.stap.MAXNESTING", d.max_nesting)?,
    })
}

impl Handler for Stap {
    fn init(session: &Session) -> Result<Self, String> {
        let src = session.arg("wprobe.stap.script").ok_or(
            "no script given: this handler runs the script of `wprobe run -e SCRIPT` or `wprobe run FILE.stp`",
        )?;
        let file = session.arg("wprobe.stap.file").unwrap_or("<input>");
        let args: Vec<String> =
            session.args().iter().filter(|(k, _)| k == "wprobe.stap.arg").map(|(_, v)| v.clone()).collect();
        let script = Script::parse(src, file, &args).map_err(|e| e.report)?;
        let pps: Vec<&str> = session.probes().iter().map(|p| p.pp).collect();
        let binding = bind(&script, &pps)?;
        for (id, bodies) in binding.bodies.iter().enumerate() {
            let is_return = session.probes().get(id).is_some_and(|p| p.is_return);
            for &b in bodies {
                for req in script.captures(b) {
                    // The return value exists only in return probes; reading it elsewhere
                    // is a run-time error the script reports itself.
                    if req.at_return && !is_return {
                        continue;
                    }
                    session.capture(capture(&req, id as u32));
                }
            }
        }
        let script_session = wprobe_stap::Session::new(&script, limits(session)?);
        let reads_time = script_session.reads_time();
        let mut stap = Stap { session: script_session, bodies: binding.bodies, reads_time, last_ns: 0 };
        // `timer.ms(N)`/`timer.s(N)`: the host calls `tick(i)` for the i-th, in script order.
        for period in stap.session.timer_periods() {
            session.timer_ms(u32::try_from(period).unwrap_or(u32::MAX));
        }
        let mut env = SdkEnv { event: false, last_ns: 0 };
        stap.session.begin(&mut env).map_err(|e| e.to_string())?;
        Ok(stap)
    }

    #[inline]
    fn event(&mut self) -> Result<(), Error> {
        let id = probe_id() as usize;
        let Some(bodies) = self.bodies.get(id) else { return Ok(()) };
        let mut env = SdkEnv { event: true, last_ns: 0 };
        let r = self.session.event(bodies, &mut env);
        self.session.flush(&mut env);
        if self.reads_time {
            self.last_ns = timestamp_ns() as i64;
        }
        r.map_err(Error::msg)
    }

    fn tick(&mut self, timer: u32) -> Result<(), Error> {
        let mut env = SdkEnv { event: false, last_ns: self.last_ns };
        self.session.tick(timer as usize, &mut env).map_err(Error::msg)
    }

    fn end(&mut self) -> Result<(), Error> {
        let mut env = SdkEnv { event: false, last_ns: self.last_ns };
        self.session.end(&mut env).map_err(Error::msg)
    }
}

wprobe_sdk::handler!(Stap);
