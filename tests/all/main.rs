//! wprobe's integration tests: the real example and test components, built by
//! `cargo xtask handlers`, through the real host. One binary, a module per feature.

mod abi;
mod agg;
mod cache;
mod cli;
mod core_module;
mod examples;
mod fixtures;
mod hostile;
mod languages;
mod live;
mod new_project;
mod peers;
mod probe_data;
mod probes;
mod scripts;
mod sdk_parity;
mod serve;
mod soak;
mod stops;
mod timers;
mod tools;
mod tracepoints;
mod wasi;
mod wit_version;

use wprobe::batch::BatchBuilder;
use wprobe::sandbox::{Handler, HandlerFault, Limits, Runtime, RuntimeConfig, Session};
use wprobe::session::{Dispatcher, WriterSink};
use wprobe_common::Arch;
use wprobe_tests::*;

/// A runtime without the on-disk cache.
fn runtime() -> Runtime {
    Runtime::new(RuntimeConfig::default()).unwrap()
}

fn session(args: &[(&str, &str)]) -> Session {
    Session {
        args: args.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        probes: seed_probes(),
        arch: Arch::X86_64,
    }
}

fn start(rt: &Runtime, name: &str, args: &[(&str, &str)], limits: Limits) -> Result<Handler, HandlerFault> {
    let loaded = rt.load(&handler(name)).unwrap();
    rt.start(&loaded, &session(args), limits)
}

/// Output of running `records` through `handler` in batches of `batch_size`, then `end`.
struct Run {
    stdout: String,
    stderr: String,
    result: Result<(), wprobe::session::SessionError>,
}

fn run_records(handler: &mut Handler, arch: Arch, records: &[Vec<u8>], batch_size: usize) -> Run {
    let mut sink = WriterSink { out: Vec::new(), err: Vec::new() };
    let result = {
        let mut d = Dispatcher::new(handler, &mut sink);
        let mut batch = BatchBuilder::new(arch, batch_size);
        (|| {
            d.write_output()?;
            for chunk in records.chunks(batch_size) {
                for r in chunk {
                    batch.push_record(r);
                }
                if d.dispatch(&mut batch)? {
                    break;
                }
            }
            d.end()
        })()
    };
    Run { stdout: String::from_utf8(sink.out).unwrap(), stderr: String::from_utf8(sink.err).unwrap(), result }
}
