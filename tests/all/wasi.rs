//! A component that imports WASI gets nothing through it.

use super::*;

#[test]
fn wasi_imports_grant_no_authority() {
    let rt = runtime();
    let mut h = start(&rt, "wasi_snoop", &[], Limits::default()).unwrap();
    let run = run_records(&mut h, Arch::X86_64, &[seed_entry(1, 0)], 1);
    run.result.unwrap();
    let out = run.stdout;
    assert!(out.contains("hostname: error:"), "a file was readable:\n{out}");
    assert!(out.contains("env vars: 0\n"), "{out}");
    assert!(out.contains("args: 0\n"), "{out}");
    assert!(out.contains("clock: 0 s since the epoch\n"), "the wall clock is not frozen:\n{out}");
    assert!(out.contains("connect: error:"), "a socket connected:\n{out}");
    // WASI stdout is routed into wprobe's output.
    assert!(out.contains("wasi_snoop: println through WASI stdout\n"), "{out}");
}
