//! Builds guests/diskbench (janus-diskbench), the storage benchmark that
//! runs inside the Linux guests, for aarch64 Linux: statically linked
//! against the target's own musl with rust-lld, so the host needs no
//! cross toolchain (rust-toolchain.toml lists the target).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

/// The Rust target the tool is built for.
pub const TARGET: &str = "aarch64-unknown-linux-musl";

/// Environment for cargo: link with the toolchain's rust-lld and the
/// target's self-contained musl start files and libc; no symbols, so the
/// initramfs stays small.
pub const ENVIRONMENT: [(&str, &str); 2] = [
    ("CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_LINKER", "rust-lld"),
    ("CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_RUSTFLAGS", "-C link-self-contained=yes -C strip=symbols"),
];

fn ensure_target(root: &Path) -> Result<()> {
    let sysroot = Command::new("rustc").args(["--print", "sysroot"]).current_dir(root).output();
    if let Ok(output) = sysroot
        && output.status.success()
        && Path::new(String::from_utf8_lossy(&output.stdout).trim()).join("lib/rustlib").join(TARGET).exists()
    {
        return Ok(());
    }
    eprintln!("xtask: installing the Rust target {TARGET} (rust-toolchain.toml)");
    match Command::new("rustup").args(["target", "add", TARGET]).current_dir(root).status() {
        Ok(status) if status.success() => Ok(()),
        _ => bail!("the Rust target {TARGET} is missing and rustup could not add it. Fix: run `rustup target add {TARGET}` in {}", root.display()),
    }
}

/// Builds janus-diskbench (release) and returns the static binary's path.
pub fn build() -> Result<PathBuf> {
    let root = crate::root();
    ensure_target(&root)?;
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(&root)
        .envs(ENVIRONMENT)
        .args(["build", "--release", "--quiet", "--target", TARGET, "-p", "janus-diskbench"])
        .status()
        .context("running cargo build for janus-diskbench")?;
    if !status.success() {
        bail!("building janus-diskbench for {TARGET} failed (see the compiler output above)");
    }
    let binary = crate::target_dir().join(TARGET).join("release").join("janus-diskbench");
    check_static_aarch64(&binary)?;
    Ok(binary)
}

/// Refuses a binary the guests could not run: not a 64-bit little-endian
/// ARM executable, or one that wants a dynamic loader (an ELF with a
/// PT_INTERP program header).
fn check_static_aarch64(binary: &Path) -> Result<()> {
    use object::{Architecture, Object};
    let bytes = std::fs::read(binary).with_context(|| format!("reading {}", binary.display()))?;
    let file = object::File::parse(bytes.as_slice()).with_context(|| format!("{} is not an object file", binary.display()))?;
    if file.architecture() != Architecture::Aarch64 || !file.is_little_endian() {
        bail!("{} is not a little-endian aarch64 binary", binary.display());
    }
    if let object::File::Elf64(elf) = &file {
        use object::read::elf::ProgramHeader as _;
        let endian = elf.endian();
        if elf.elf_program_headers().iter().any(|header| header.p_type(endian) == object::elf::PT_INTERP) {
            bail!("{} is dynamically linked; the guests' initramfs has no loader. Fix: build it with {ENVIRONMENT:?}", binary.display());
        }
    }
    Ok(())
}
