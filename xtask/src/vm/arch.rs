//! The guest architectures `vm-test` and `vm` boot: what differs between an amd64 and an
//! arm64 guest (Debian's architecture name, the Rust target wprobe is cross-built for, the
//! QEMU binary and machine, the serial console, the instruction pointer's register name and
//! where kernel and user addresses lie).

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum VmArch {
    /// amd64 kernels under qemu-system-x86_64, wprobe built for this machine.
    #[value(name = "x86_64", alias = "amd64")]
    X86_64,
    /// arm64 kernels under qemu-system-aarch64 -M virt, wprobe cross-built for
    /// aarch64-unknown-linux-gnu.
    #[value(name = "aarch64", alias = "arm64")]
    Aarch64,
}

impl VmArch {
    /// Debian's name: package names end in it (`linux-image-amd64`), `apt-get download`
    /// takes it after a colon.
    pub fn debian(self) -> &'static str {
        match self {
            VmArch::X86_64 => "amd64",
            VmArch::Aarch64 => "arm64",
        }
    }

    /// The Rust target wprobe is built for, when it is not the build machine's.
    pub fn rust_target(self) -> Option<&'static str> {
        match self {
            VmArch::X86_64 => None,
            VmArch::Aarch64 => Some("aarch64-unknown-linux-gnu"),
        }
    }

    /// The cargo profile of the wprobe the guest runs. amd64 boots the tests' release build
    /// (already built when CI gets here); arm64 is cross-built from scratch, so it takes
    /// `vm-arm64` (Cargo.toml): the same code at a lower optimization level, for a little over
    /// half of release's compile time.
    pub fn cargo_profile(self) -> &'static str {
        match self {
            VmArch::X86_64 => "release",
            VmArch::Aarch64 => "vm-arm64",
        }
    }

    /// `target/release/wprobe` or `target/TRIPLE/PROFILE/wprobe`.
    pub fn built_wprobe(self, target_dir: &Path) -> PathBuf {
        match self.rust_target() {
            None => target_dir.join(self.cargo_profile()).join("wprobe"),
            Some(t) => target_dir.join(t).join(self.cargo_profile()).join("wprobe"),
        }
    }

    pub fn qemu(self) -> &'static str {
        match self {
            VmArch::X86_64 => "qemu-system-x86_64",
            VmArch::Aarch64 => "qemu-system-aarch64",
        }
    }

    /// The Debian package that has [`qemu`](Self::qemu).
    pub fn qemu_package(self) -> &'static str {
        match self {
            VmArch::X86_64 => "qemu-system-x86",
            VmArch::Aarch64 => "qemu-system-arm",
        }
    }

    /// QEMU arguments before `-cpu`: the board. `virt` is the generic arm64 machine (PL011
    /// serial, PSCI power-off); the x86 default (pc) needs nothing.
    pub fn machine_args(self) -> &'static [&'static str] {
        match self {
            VmArch::X86_64 => &[],
            VmArch::Aarch64 => &["-M", "virt"],
        }
    }

    /// The default `-cpu` of `vm` (vm-test picks per kernel, see `test_cpu_model`). On arm64,
    /// `pauth-impdef=on` makes TCG compute pointer-authentication codes with a cheap
    /// implementation-defined hash instead of QARMA (the kernel signs every return address).
    pub fn cpu_model(self) -> &'static str {
        match self {
            VmArch::X86_64 => "max",
            VmArch::Aarch64 => "max,pauth-impdef=on",
        }
    }

    /// The kernel's name of the serial console QEMU's stdio is connected to.
    pub fn console(self) -> &'static str {
        match self {
            VmArch::X86_64 => "ttyS0",
            VmArch::Aarch64 => "ttyAMA0",
        }
    }

    /// `strip` for this architecture's binaries.
    pub fn strip(self) -> &'static str {
        match self {
            VmArch::X86_64 => "strip",
            VmArch::Aarch64 => "aarch64-linux-gnu-strip",
        }
    }

    /// SystemTap's `register()` name of the instruction pointer.
    pub fn ip_register(self) -> &'static str {
        match self {
            VmArch::X86_64 => "rip",
            VmArch::Aarch64 => "pc",
        }
    }

    /// The C compiler that builds programs for the guest.
    pub fn c_compiler(self) -> &'static str {
        match self {
            VmArch::X86_64 => "cc",
            VmArch::Aarch64 => "aarch64-linux-gnu-gcc",
        }
    }

    /// The cache directory under target/: amd64 keeps the historical `target/vm`.
    pub fn vm_dir(self, target_dir: &Path) -> PathBuf {
        match self {
            VmArch::X86_64 => target_dir.join("vm"),
            VmArch::Aarch64 => target_dir.join("vm").join("arm64"),
        }
    }

    /// The shared libraries a cross-built binary needs, each at the guest path its dynamic
    /// loader looks in: `ldd` cannot run a foreign binary, so the ELF's interpreter and
    /// `NEEDED` entries (from `readelf -d`/`-l`) are looked up in the cross libc's directory.
    pub fn cross_libraries(self, binary: &Path) -> Result<Vec<(String, PathBuf)>> {
        let VmArch::Aarch64 = self else { bail!("{self:?} binaries are not cross-built") };
        const SYSROOT: &str = "/usr/aarch64-linux-gnu/lib";
        let out = Command::new("aarch64-linux-gnu-readelf")
            .arg("-dl")
            .arg(binary)
            .output()
            .context("cannot run aarch64-linux-gnu-readelf (apt-get install binutils-aarch64-linux-gnu)")?;
        let text = String::from_utf8_lossy(&out.stdout);
        let mut libs = Vec::new();
        for line in text.lines() {
            // " 0x0000000000000001 (NEEDED)             Shared library: [libc.so.6]"
            // "      [Requesting program interpreter: /lib/ld-linux-aarch64.so.1]"
            let (guest, name) = if let Some(rest) = line.split("Shared library: [").nth(1) {
                let name = rest.trim_end_matches(']');
                (format!("/lib/aarch64-linux-gnu/{name}"), name)
            } else if let Some(rest) = line.split("program interpreter: ").nth(1) {
                let path = rest.trim_end_matches(']');
                (path.to_string(), path.rsplit('/').next().unwrap_or(path))
            } else {
                continue;
            };
            let host = Path::new(SYSROOT).join(name);
            let host = host.canonicalize().with_context(|| {
                format!(
                    "{} needs {name}, which is not in {SYSROOT} (apt-get install libc6-dev-arm64-cross)",
                    binary.display()
                )
            })?;
            libs.push((guest, host));
        }
        if libs.is_empty() {
            bail!("readelf found no interpreter or library in {} (not an aarch64 ELF?)", binary.display());
        }
        Ok(libs)
    }
}
