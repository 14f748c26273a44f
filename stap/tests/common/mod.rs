//! A plain-data environment for running scripts natively.

use std::collections::HashMap;
use wprobe_stap::{Env, Limits, Script, Session};

#[derive(Clone, Debug, Default)]
pub struct Event {
    pub probe: usize,
    pub pp: String,
    pub pid: i64,
    pub tid: i64,
    pub uid: i64,
    pub cpu: i64,
    pub execname: String,
    pub ts: i64,
    pub args: Vec<u64>,
    pub ret: Option<i64>,
    pub regs: HashMap<String, i64>,
    /// (user?, address, bytes)
    pub mem: Vec<(bool, u64, Vec<u8>)>,
    pub fields: HashMap<String, i64>,
}

#[derive(Default)]
pub struct MockEnv {
    pub ev: Option<Event>,
    pub out: String,
    pub err: String,
    pub exited: bool,
    pub target: i64,
}

fn no_event() -> String {
    "no current event (in begin or end)".into()
}

impl MockEnv {
    fn ev(&self) -> Result<&Event, String> {
        self.ev.as_ref().ok_or_else(no_event)
    }
}

impl Env for MockEnv {
    fn pid(&self) -> Result<i64, String> {
        self.ev().map(|e| e.pid)
    }
    fn tid(&self) -> Result<i64, String> {
        self.ev().map(|e| e.tid)
    }
    fn uid(&self) -> Result<i64, String> {
        self.ev().map(|e| e.uid)
    }
    fn cpu(&self) -> Result<i64, String> {
        self.ev().map(|e| e.cpu)
    }
    fn pp(&self, out: &mut String) -> Result<(), String> {
        out.push_str(&self.ev()?.pp);
        Ok(())
    }
    fn execname(&self, out: &mut String) -> Result<(), String> {
        out.push_str(&self.ev()?.execname);
        Ok(())
    }
    fn probe_id(&self) -> Result<i64, String> {
        self.ev().map(|e| e.probe as i64)
    }
    fn is_return(&self) -> Result<bool, String> {
        self.ev().map(|e| e.ret.is_some())
    }
    fn target(&self) -> i64 {
        self.target
    }
    fn timestamp_ns(&self) -> Result<i64, String> {
        self.ev().map(|e| e.ts)
    }
    fn entry_timestamp_ns(&self) -> Result<i64, String> {
        Err("no entry".into())
    }
    fn latency_ns(&self) -> Result<i64, String> {
        Err("no entry".into())
    }
    fn arg(&self, n: i64) -> Result<u64, String> {
        let e = self.ev()?;
        usize::try_from(n - 1)
            .ok()
            .and_then(|i| e.args.get(i).copied())
            .ok_or_else(|| format!("argument {n} is not passed in a register"))
    }
    fn returnval(&self) -> Result<i64, String> {
        self.ev()?.ret.ok_or_else(|| "the return value exists only in a return probe".into())
    }
    fn returnstr(&self, out: &mut String) -> Result<(), String> {
        let v = self.returnval()?;
        out.push_str(&v.to_string());
        Ok(())
    }
    fn register(&self, name: &str, _unsigned: bool) -> Result<i64, String> {
        self.ev()?.regs.get(name).copied().ok_or_else(|| format!("no register named {name:?}"))
    }
    fn print_regs(&self, out: &mut String) -> Result<(), String> {
        let mut regs: Vec<_> = self.ev()?.regs.iter().collect();
        regs.sort();
        for (k, v) in regs {
            out.push_str(&format!("{k}: {v:016x}\n"));
        }
        Ok(())
    }
    fn string(&self, user: bool, addr: u64, max: u32, out: &mut String) -> Result<(), String> {
        for (u, a, bytes) in &self.ev()?.mem {
            if *u == user && *a == addr {
                let end = bytes.iter().position(|b| *b == 0).unwrap_or(bytes.len()).min(max as usize);
                out.push_str(&String::from_utf8_lossy(&bytes[..end]));
                return Ok(());
            }
        }
        Err(format!("memory at {addr:#x} was not captured at probe time"))
    }
    fn read(&self, user: bool, addr: u64, size: u8) -> Result<u64, String> {
        for (u, a, bytes) in &self.ev()?.mem {
            if *u == user && *a <= addr && addr + u64::from(size) <= a + bytes.len() as u64 {
                let off = (addr - a) as usize;
                let mut v = [0u8; 8];
                v[..size as usize].copy_from_slice(&bytes[off..off + size as usize]);
                return Ok(u64::from_le_bytes(v));
            }
        }
        Err(format!("memory at {addr:#x} was not captured at probe time"))
    }
    fn field(&self, name: &str) -> Result<i64, String> {
        self.ev()?.fields.get(name).copied().ok_or_else(|| format!("no tracepoint field {name}"))
    }
    fn field_string(&self, name: &str, _out: &mut String) -> Result<(), String> {
        Err(format!("no tracepoint field {name}"))
    }
    fn print(&mut self, text: &str) {
        self.out.push_str(text);
    }
    fn warn(&mut self, text: &str) {
        self.err.push_str(&format!("WARNING: {text}\n"));
    }
    fn exit(&mut self) {
        self.exited = true;
    }
}

/// What a run printed, and how it ended.
#[allow(dead_code)] // Each test binary uses a part of it.
pub struct Outcome {
    pub out: String,
    pub err: String,
    pub error: Option<String>,
}

/// Runs `src`: begin, the events (each on its `probe` clause), end.
pub fn run(src: &str, args: &[&str], events: &[Event]) -> Result<Outcome, String> {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let script = Script::parse(src, "<input>", &args).map_err(|e| e.report)?;
    let mut s = Session::new(&script, Limits::default());
    let mut env = MockEnv::default();
    let mut error = s.begin(&mut env).err().map(|e| e.to_string());
    if error.is_none() {
        for ev in events {
            env.ev = Some(ev.clone());
            if let Err(e) = s.event(&[ev.probe], &mut env) {
                error = Some(e.to_string());
                break;
            }
        }
        env.ev = None;
        s.flush(&mut env);
    }
    if error.is_none() {
        error = s.end(&mut env).err().map(|e| e.to_string());
    }
    s.flush(&mut env);
    Ok(Outcome { out: env.out, err: env.err, error })
}
