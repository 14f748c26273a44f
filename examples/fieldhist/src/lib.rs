//! A histogram of any tracepoint field, biolatency-style: power-of-two buckets (bpftrace's
//! `hist()`) or linear ones (`lhist()`), printed every interval and at the end.
//!
//! ```text
//! wprobe run fieldhist.wasm --tracepoint syscalls:sys_enter_read --arg field=count
//! @count:
//! [1]                    3 |@@@@                                                |
//! [1K, 2K)              38 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|
//! bpftrace -e 'tracepoint:syscalls:sys_enter_read { @count = hist(args->count); }'
//! BCC: biolatency (a histogram of one tracepoint's values), argdist -H 't:syscalls:sys_enter_read():u64:args->count'
//! ```
//!
//! `--arg field=NAME` (required) names the field; `--arg lhist=MIN,MAX,STEP` makes the
//! buckets linear; `--arg interval=N` prints and clears the histogram every N seconds;
//! `--arg by=comm` keeps one histogram per command name.
use wprobe_sdk::agg::Agg;
use wprobe_sdk::prelude::*;
use wprobe_sdk::ShortStr;

struct FieldHist {
    field: String,
    hist: Hist,
}

/// One histogram, or one per command name.
enum Hist {
    One(Agg),
    ByComm(Agg<ShortStr>),
}

impl Handler for FieldHist {
    fn init(session: &Session) -> Result<Self, String> {
        let field =
            session.arg("field").ok_or("give the field to histogram: --arg field=NAME (see `wprobe list --fields`)")?;
        let known = session.probes().iter().any(|p| p.fields.iter().any(|f| f.name == field));
        if !known {
            return Err(format!("no probe of this session has a field named {field}: attach a tracepoint that has it"));
        }
        let name = format!("@{field}");
        let lhist = match session.arg("lhist") {
            None => None,
            Some(spec) => {
                let bad = || format!("--arg lhist={spec}: expected MIN,MAX,STEP");
                let v: Vec<i64> = spec.split(',').map(str::parse).collect::<Result<_, _>>().map_err(|_| bad())?;
                let [min, max, step] = v[..] else { return Err(bad()) };
                Some((min, max, step))
            }
        };
        fn make<K: wprobe_sdk::agg::Key>(name: &str, lhist: Option<(i64, i64, i64)>) -> Result<Agg<K>, String> {
            match lhist {
                None => Ok(Agg::hist(name)),
                Some((min, max, step)) => Agg::lhist(name, min, max, step).map_err(|e| format!("--arg lhist: {e}")),
            }
        }
        let hist = match session.arg("by") {
            None => Hist::One(make(&name, lhist)?),
            Some("comm") => Hist::ByComm(make(&name, lhist)?),
            Some(other) => return Err(format!("--arg by={other}: only `comm` is known")),
        };
        let interval: u32 = session.arg_or("interval", 0)?;
        if interval > 0 {
            session.timer_s(interval);
        }
        Ok(FieldHist { field: field.to_owned(), hist })
    }

    fn event(&mut self) -> Result<(), Error> {
        let v = field(&self.field)?;
        match &mut self.hist {
            Hist::One(h) => h.add((), v),
            Hist::ByComm(h) => h.add(execname(), v),
        }
        Ok(())
    }

    fn tick(&mut self, _timer: u32) -> Result<(), Error> {
        match &mut self.hist {
            Hist::One(h) => {
                h.print(0);
                h.clear();
            }
            Hist::ByComm(h) => {
                h.print(0);
                h.clear();
            }
        }
        Ok(())
    }

    fn end(&mut self) -> Result<(), Error> {
        match &self.hist {
            Hist::One(h) => h.print(0),
            Hist::ByComm(h) => h.print(0),
        }
        Ok(())
    }
}

wprobe_sdk::handler!(FieldHist);
