//! `cargo fuzz` over every fuzz target in the tree (`*/fuzz/fuzz_targets`),
//! installing nightly and cargo-fuzz when missing. Corpora live under
//! target/janus/fuzz so nothing fetched or generated lands in the repo.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

/// A crate's fuzz directory and its target names.
pub struct FuzzCrate {
    /// The directory holding the fuzz `Cargo.toml`.
    pub directory: PathBuf,
    /// Target names (file stems in `fuzz_targets/`).
    pub targets: Vec<String>,
}

/// Every fuzz crate under hyp/ and vdev/.
pub fn discover(root: &Path) -> Vec<FuzzCrate> {
    let mut crates = Vec::new();
    for group in ["hyp", "vdev"] {
        let Ok(entries) = std::fs::read_dir(root.join(group)) else { continue };
        let mut directories: Vec<PathBuf> = entries.filter_map(|entry| entry.ok().map(|entry| entry.path().join("fuzz"))).collect();
        directories.sort();
        for directory in directories {
            let Ok(files) = std::fs::read_dir(directory.join("fuzz_targets")) else { continue };
            // Targets are the `.rs` files; directories hold shared modules.
            let mut targets: Vec<String> = files
                .filter_map(|file| file.ok())
                .map(|file| file.path())
                .filter(|path| path.is_file() && path.extension().is_some_and(|extension| extension == "rs"))
                .filter_map(|path| path.file_stem().and_then(|stem| stem.to_str()).map(str::to_string))
                .collect();
            targets.sort();
            crates.push(FuzzCrate { directory, targets });
        }
    }
    crates
}

fn ensure_tools() -> Result<()> {
    let nightly = Command::new("rustup").args(["run", "nightly", "rustc", "--version"]).output();
    if !matches!(nightly, Ok(output) if output.status.success()) {
        eprintln!("xtask: installing the nightly toolchain for cargo-fuzz");
        let status = Command::new("rustup").args(["toolchain", "install", "nightly", "--profile", "minimal"]).status()?;
        if !status.success() {
            bail!("could not install the nightly toolchain. Fix: run `rustup toolchain install nightly`");
        }
    }
    let fuzz = Command::new("cargo").args(["fuzz", "--version"]).output();
    if !matches!(fuzz, Ok(output) if output.status.success()) {
        eprintln!("xtask: installing cargo-fuzz from crates.io");
        let status = Command::new("cargo").args(["install", "cargo-fuzz", "--locked"]).status()?;
        if !status.success() {
            bail!("could not install cargo-fuzz. Fix: run `cargo install cargo-fuzz`");
        }
    }
    Ok(())
}

/// Runs every target for `seconds` each; fails on the first crash.
pub fn run_all(root: &Path, seconds: u64) -> Result<()> {
    ensure_tools()?;
    let corpus_root = root.join("target").join("janus").join("fuzz");
    for fuzz_crate in discover(root) {
        for target in &fuzz_crate.targets {
            let corpus = corpus_root.join(target);
            std::fs::create_dir_all(&corpus)?;
            let mut command = Command::new("cargo");
            command
                .current_dir(&fuzz_crate.directory)
                .env("CARGO_TARGET_DIR", root.join("target").join("fuzz"))
                .args(["+nightly", "fuzz", "run", target])
                .arg(&corpus);
            // Seeds: seeds/<target>/ if the crate keeps them per target.
            let seeds = fuzz_crate.directory.join("seeds");
            if seeds.join(target).is_dir() {
                command.arg(seeds.join(target));
            } else if seeds.is_dir() {
                command.arg(&seeds);
            }
            command.args(["--", &format!("-max_total_time={seconds}"), "-print_final_stats=1"]);
            println!("xtask: fuzzing {target} for {seconds} s");
            let status = command.status().with_context(|| format!("running cargo fuzz for {target}"))?;
            if !status.success() {
                bail!("fuzz target {target} failed: a crash (reproducer path above) or a build error (above)");
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_discovered_target_is_a_bin_of_its_fuzz_crate() {
        let crates = discover(&crate::root());
        assert!(crates.len() >= 6, "fuzz crates found: {}", crates.len());
        for fuzz_crate in &crates {
            let manifest = std::fs::read_to_string(fuzz_crate.directory.join("Cargo.toml")).unwrap();
            assert!(!fuzz_crate.targets.is_empty(), "{} has no targets", fuzz_crate.directory.display());
            for target in &fuzz_crate.targets {
                assert!(manifest.contains(&format!("name = \"{target}\"")), "{target} is not a [[bin]] of {}", fuzz_crate.directory.display());
            }
        }
        let virtio = crates.iter().find(|fuzz_crate| fuzz_crate.directory.ends_with("vdev/virtio/fuzz")).unwrap();
        assert_eq!(virtio.targets, ["block_request", "virtqueue_chain"], "a shared module directory is not a target");
    }
}
