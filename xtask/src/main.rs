//! `cargo xtask`: the project's build tasks that cargo alone cannot express.
//!
//! * `handlers`: builds every Wasm handler (examples and test handlers) into
//!   `target/handlers/NAME.wasm` components.
//! * `test`: builds the handlers, then runs the whole test suite (the README's test command).
//! * `demo`: the main job in one command (the README's quick start).
//! * `fixtures`: re-records the events files under tests/fixtures/ from real uprobe runs.
//! * `sdk-gen`: writes the SDKs' generated files (layouts, access-error texts, the C
//!   bindings) from host/common and wit/; `sdk-gen --check` fails when one is stale (CI).
//! * `bpf`: rebuilds the eBPF program into the checked-in `host/ebpf/wprobe.bpf.o`;
//!   `bpf --check` fails when that object is stale (CI).
//! * `bench-peers`: wprobe against bpftrace on one uprobe (root; a benchmark, not in CI).
//! * `stap`: rebuilds the script handler into the checked-in `host/stap/wprobe_stap.wasm`;
//!   `stap --check` fails when it is stale (CI).
//! * `vm-test`: kprobe scenarios on Debian kernels under QEMU; `vm -- CMD`: one command in
//!   such a VM (see `vm.rs`).

mod bpf;
mod demo;
mod fixtures;
mod guests;
mod handlers;
mod peers;
mod sdk_gen;
mod sdk_wrappers;
mod stap;
mod vm;
mod wit;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::Command;

#[derive(Parser)]
#[command(about = "wprobe's build tasks")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Build every handler component into target/handlers/.
    Handlers(handlers::Args),
    /// Build the handlers, then run every test (what CI runs).
    Test,
    /// Build everything and run the seed's handler live on a uprobe, then replay it.
    Demo,
    /// Re-record tests/fixtures/*.events from real uprobe runs (needs root).
    Fixtures,
    /// Write the SDKs' generated files (layouts, error texts, C bindings) from host/common and
    /// wit/ (or --check that they are current).
    SdkGen(sdk_gen::Args),
    /// Rebuild the eBPF program into host/ebpf/wprobe.bpf.o (or --check that it is current).
    Bpf(bpf::Args),
    /// Rebuild the script handler into host/stap/wprobe_stap.wasm (or --check that it is current).
    Stap(stap::Args),
    /// Run the kprobe scenarios on Debian kernels under QEMU (TCG) and check their output.
    VmTest(vm::TestArgs),
    /// Benchmark wprobe against bpftrace on the same uprobe and workload (root).
    BenchPeers(peers::Args),
    /// Boot a Debian kernel under QEMU and run one command in it: `vm -- wprobe run …`.
    Vm(vm::RunArgs),
}

fn main() -> Result<()> {
    match Cli::parse().task {
        Task::Handlers(args) => handlers::build(&args),
        Task::Bpf(args) => bpf::main(&args),
        Task::Stap(args) => stap::main(&args),
        Task::SdkGen(args) => sdk_gen::main(&args),
        Task::VmTest(args) => vm::test(&args),
        Task::Vm(args) => vm::run(&args),
        Task::Demo => demo::main(),
        Task::BenchPeers(args) => peers::main(&args),
        Task::Fixtures => fixtures::record(),
        Task::Test => {
            handlers::build(&handlers::Args::default())?;
            run(cargo().args(["test", "--release", "--workspace", "--exclude", "xtask"]))
        }
    }
}

/// The workspace root (xtask lives one level below it).
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// The target directory cargo uses for this workspace.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| workspace_root().join("target"))
}

pub fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.current_dir(workspace_root());
    cmd
}

/// Runs `cmd`, failing with its command line when it does not succeed.
pub fn run(cmd: &mut Command) -> Result<()> {
    let status = cmd.status().with_context(|| format!("cannot start {cmd:?}"))?;
    anyhow::ensure!(status.success(), "{cmd:?} failed with {status}");
    Ok(())
}
