//! Sets `bpf_target_arch` for this crate the way aya-ebpf's build script does for itself
//! (`AYA_BPF_TARGET_ARCH`, else the build host's architecture), so that both agree on
//! which `struct pt_regs` the program reads.
fn main() {
    println!("cargo::rustc-check-cfg=cfg(bpf_target_arch, values(\"x86_64\", \"aarch64\"))");
    println!("cargo:rerun-if-env-changed=AYA_BPF_TARGET_ARCH");
    let arch = std::env::var("AYA_BPF_TARGET_ARCH").unwrap_or_else(|_| {
        let host = std::env::var("HOST").expect("cargo sets HOST");
        host.split('-').next().unwrap_or_default().to_string()
    });
    println!("cargo:rustc-cfg=bpf_target_arch=\"{arch}\"");
}
