//! WASI for components that import it, with nothing behind it.
//!
//! Handlers built for `wasm32-wasip2` (and most C, Python and JavaScript toolchains) import
//! `wasi:cli`, `wasi:io`, `wasi:filesystem`, ... even when they never use them. Refusing such
//! components would shut those languages out, so the imports are satisfied, but by a context
//! that grants nothing: no preopened directories, no environment variables, no arguments,
//! stdin closed, sockets refused, and clocks frozen at zero so that time comes only from the
//! WIT (`timestamp-ns`). stdout and stderr are routed into the handler's [`Output`], under
//! the same cap as `printf`. Randomness (`wasi:random`) is given: language runtimes seed
//! their hash tables with it at start, and random bytes reveal nothing of the machine.

use super::output::Output;
use bytes::Bytes;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError, StreamResult};
use wasmtime_wasi::{HostMonotonicClock, HostWallClock, ResourceTable, WasiCtx, WasiCtxView, WasiView};

pub(crate) struct DenyAll {
    ctx: WasiCtx,
    table: ResourceTable,
}

impl DenyAll {
    pub fn new(output: &Output) -> Self {
        let ctx = WasiCtx::builder()
            .stdout(Route { output: output.clone(), stderr: false })
            .stderr(Route { output: output.clone(), stderr: true })
            .wall_clock(Frozen)
            .monotonic_clock(Frozen)
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        Self { ctx, table: ResourceTable::new() }
    }
}

impl WasiView for super::HandlerState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi.ctx, table: &mut self.wasi.table }
    }
}

/// A clock that always reads zero.
struct Frozen;

impl HostWallClock for Frozen {
    fn resolution(&self) -> Duration {
        Duration::from_secs(1)
    }
    fn now(&self) -> Duration {
        Duration::ZERO
    }
}

impl HostMonotonicClock for Frozen {
    fn resolution(&self) -> u64 {
        1_000_000_000
    }
    fn now(&self) -> u64 {
        0
    }
}

/// WASI stdout or stderr, written into the handler's output.
#[derive(Clone)]
struct Route {
    output: Output,
    stderr: bool,
}

impl Route {
    fn write_bytes(&self, bytes: &[u8]) -> Result<(), super::output::OutputLimitExceeded> {
        if self.stderr {
            self.output.stderr(bytes)
        } else {
            self.output.stdout(bytes)
        }
    }
}

impl IsTerminal for Route {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for Route {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

impl OutputStream for Route {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.write_bytes(&bytes).map_err(|e| StreamError::Trap(wasmtime::Error::new(e)))
    }
    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }
    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(64 * 1024)
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for Route {
    async fn ready(&mut self) {}
}

impl tokio::io::AsyncWrite for Route {
    fn poll_write(self: Pin<&mut Self>, _cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Poll::Ready(self.write_bytes(buf).map(|()| buf.len()).map_err(std::io::Error::other))
    }
    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
