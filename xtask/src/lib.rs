//! Janus' host-side tooling as a library: the `cargo xtask` binary and the
//! QEMU integration tests share it.

pub mod bench;
pub mod datadir;
pub mod devicekey;
pub mod devicetree;
pub mod disk;
pub mod diskbench;
pub mod fuzz;
pub mod image;
pub mod janusmeta;
pub mod linux;
pub mod manifest;
pub mod modules;
pub mod qemu;
pub mod setup;
pub mod size;

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap_or(Path::new(".")).to_path_buf()
}

/// Cargo's target directory: `CARGO_TARGET_DIR` if set, else `target/` in
/// the workspace.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| root().join("target"))
}

/// Where xtask keeps what it builds and fetches.
pub fn output_dir() -> PathBuf {
    root().join("target").join("janus")
}

/// The boards xtask knows: name → description and QEMU arguments.
pub fn board(name: &str) -> Result<(janus_platform::BoardDescription, Vec<String>)> {
    match name {
        janus_board_qemu_virt::NAME => Ok((janus_board_qemu_virt::description(), janus_board_qemu_virt::qemu_arguments())),
        janus_board_qemu_virt::NAME_GICV2 => Ok((janus_board_qemu_virt::description_gicv2(), janus_board_qemu_virt::qemu_arguments_gicv2())),
        other => bail!("unknown board '{other}'. Fix: use --board {} or --board {}", janus_board_qemu_virt::NAME, janus_board_qemu_virt::NAME_GICV2),
    }
}

/// QEMU arguments that attach the raw disk image `image` as the board's
/// physical disk; none for a board without storage.
pub fn disk_arguments(board_name: &str, image: &Path) -> Vec<String> {
    match board_name {
        janus_board_qemu_virt::NAME | janus_board_qemu_virt::NAME_GICV2 => janus_board_qemu_virt::qemu_disk_arguments(image),
        _ => Vec::new(),
    }
}

/// The crate directory under boards/ for an xtask board name.
pub fn board_directory(name: &str) -> &str {
    match name {
        janus_board_qemu_virt::NAME_GICV2 => janus_board_qemu_virt::NAME,
        other => other,
    }
}

/// The bare-metal binaries, flattened.
pub struct Binaries {
    /// The hypervisor.
    pub hypervisor: image::FlatImage,
    /// Built-in guest images.
    pub builtins: image::Builtins,
}

/// Builds the hypervisor and the test guest for the bare-metal target.
pub fn build_binaries() -> Result<Binaries> {
    let root = root();
    setup::ensure_rust_target(&root)?;
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(&root)
        .args(["build", "--release", "--quiet", "--target", setup::TARGET, "-p", "janus-hyp", "-p", "janus-testguest"])
        .status()
        .context("running cargo build for the bare-metal target")?;
    if !status.success() {
        bail!("building the hypervisor and test guest failed (see the compiler output above)");
    }
    let directory = target_dir().join(setup::TARGET).join("release");
    let hypervisor = image::flatten_elf(&directory.join("janus"))?;
    size::check_budget(hypervisor.data_end.or(hypervisor.bss_start).unwrap_or(0))?;
    let mut testguest = image::flatten_elf(&directory.join("testguest"))?.bytes;
    image::set_image_size(&mut testguest);
    Ok(Binaries { hypervisor, builtins: image::Builtins { testguest } })
}

/// Builds the bootable image for `manifest` on `board_name`, with the
/// device key at its default path ([`devicekey::default_path`]).
pub fn build_image(binaries: &Binaries, manifest: &Path, board_name: &str) -> Result<PathBuf> {
    build_image_with(binaries, manifest, board_name, &devicekey::default_path(), image::Verbosity::AsWritten)
}

/// [`build_image`] with the device key at `device_key`.
pub fn build_image_with_device_key(binaries: &Binaries, manifest: &Path, board_name: &str, device_key: &Path) -> Result<PathBuf> {
    build_image_with(binaries, manifest, board_name, device_key, image::Verbosity::AsWritten)
}

/// [`build_image`] with the device key at `device_key` and the kernels'
/// log level chosen.
pub fn build_image_with(binaries: &Binaries, manifest: &Path, board_name: &str, device_key: &Path, verbosity: image::Verbosity) -> Result<PathBuf> {
    let (board, _) = board(board_name)?;
    let stem = manifest.file_stem().and_then(|stem| stem.to_str()).unwrap_or("janus");
    let output = output_dir().join(format!("{board_name}-{stem}.img"));
    image::build_image(manifest, &board, &binaries.hypervisor, &binaries.builtins, &output, device_key, verbosity)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_qemu_boards_attach_the_disk_and_others_get_no_arguments() {
        for name in [janus_board_qemu_virt::NAME, janus_board_qemu_virt::NAME_GICV2] {
            let arguments = disk_arguments(name, Path::new("disk.img"));
            assert!(arguments.iter().any(|argument| argument.contains("file=disk.img")), "{arguments:?}");
        }
        assert!(disk_arguments("rpi4", Path::new("disk.img")).is_empty());
    }
}
