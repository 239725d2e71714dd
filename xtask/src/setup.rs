//! Installs what a fresh Debian 12 machine lacks: the bare-metal Rust target
//! and QEMU (10, from the machine's own Debian mirror's backports suite).
//! Never writes a mirror host name of its own: it reuses the URI already in
//! the machine's Debian source.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

/// The Rust target Janus and its guests are built for.
pub const TARGET: &str = "aarch64-unknown-none-softfloat";
const QEMU: &str = "qemu-system-aarch64";
const BACKPORTS_SOURCE: &str = "/etc/apt/sources.list.d/janus-backports.sources";

/// Makes sure the pinned toolchain has every target and component that
/// `rust-toolchain.toml` names. A toolchain that was installed before (by
/// hand, or by an image) lacks them: rustup adds them only when it installs
/// the toolchain itself, so a fresh machine would fail on the first
/// bare-metal build.
pub fn ensure_rust_target(root: &Path) -> Result<()> {
    let missing_target = |target: &str| {
        let sysroot = Command::new("rustc").arg("--print").arg("sysroot").current_dir(root).output();
        match sysroot {
            Ok(output) if output.status.success() => {
                let sysroot = String::from_utf8_lossy(&output.stdout).trim().to_string();
                !Path::new(&sysroot).join("lib/rustlib").join(target).exists()
            }
            _ => true,
        }
    };
    let installed_components = Command::new("rustup")
        .args(["component", "list", "--installed"])
        .current_dir(root)
        .output()
        .map(|output| String::from_utf8_lossy(&output.stdout).into_owned())
        .unwrap_or_default();
    let missing_component = |component: &str| !installed_components.lines().any(|line| line.starts_with(component));
    let targets: Vec<&str> = TOOLCHAIN_TARGETS.iter().copied().filter(|target| missing_target(target)).collect();
    let components: Vec<&str> = TOOLCHAIN_COMPONENTS.iter().copied().filter(|component| missing_component(component)).collect();
    if !targets.is_empty() {
        eprintln!("xtask: installing the Rust targets {} (rust-toolchain.toml)", targets.join(", "));
        rustup(root, "target", &targets)?;
    }
    if !components.is_empty() {
        eprintln!("xtask: installing the Rust components {} (rust-toolchain.toml)", components.join(", "));
        rustup(root, "component", &components)?;
    }
    Ok(())
}

/// The targets and components `rust-toolchain.toml` pins (kept equal to it).
const TOOLCHAIN_TARGETS: [&str; 2] = [TARGET, "aarch64-unknown-linux-musl"];
const TOOLCHAIN_COMPONENTS: [&str; 4] = ["rust-src", "llvm-tools", "clippy", "rustfmt"];

fn rustup(root: &Path, kind: &str, names: &[&str]) -> Result<()> {
    let status = Command::new("rustup").arg(kind).arg("add").args(names).current_dir(root).status();
    match status {
        Ok(status) if status.success() => Ok(()),
        _ => bail!(
            "rustup could not add the {kind}s {} that rust-toolchain.toml pins. Fix: run `rustup {kind} add {}` in {}",
            names.join(", "),
            names.join(" "),
            root.display()
        ),
    }
}

/// The QEMU major and minor version, if `qemu-system-aarch64` runs.
pub fn qemu_version() -> Option<(u32, u32)> {
    let output = Command::new(QEMU).arg("--version").output().ok()?;
    let text = String::from_utf8_lossy(&output.stdout);
    let version = text.split_whitespace().skip_while(|word| *word != "version").nth(1)?;
    let mut parts = version.split('.');
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().map(|output| String::from_utf8_lossy(&output.stdout).trim() == "0").unwrap_or(false)
}

fn debian_codename() -> Option<String> {
    let text = std::fs::read_to_string("/etc/os-release").ok()?;
    text.lines().find_map(|line| line.strip_prefix("VERSION_CODENAME=")).map(|name| name.trim_matches('"').to_string())
}

/// The URI and keyring of the machine's main Debian source (deb822 or
/// one-line format), so the backports suite comes from the same mirror.
fn debian_source(codename: &str) -> Option<(String, Option<String>)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir("/etc/apt/sources.list.d")
        .map(|entries| entries.filter_map(|entry| entry.ok().map(|entry| entry.path())).collect())
        .unwrap_or_default();
    files.sort();
    for file in &files {
        if file.extension().and_then(|extension| extension.to_str()) != Some("sources") || file == Path::new(BACKPORTS_SOURCE) {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(file) else {
            continue;
        };
        for stanza in text.split("\n\n") {
            let field = |name: &str| stanza.lines().find_map(|line| line.strip_prefix(name).map(|value| value.trim().to_string()));
            let suites = field("Suites:").unwrap_or_default();
            let uris = field("URIs:").unwrap_or_default();
            if suites.split_whitespace().any(|suite| suite == codename) && uris.contains("/debian") && !uris.contains("security") {
                let uri = uris.split_whitespace().next()?.to_string();
                return Some((uri, field("Signed-By:")));
            }
        }
    }
    let text = std::fs::read_to_string("/etc/apt/sources.list").ok()?;
    text.lines().find_map(|line| {
        let words: Vec<&str> = line.split_whitespace().filter(|word| !word.starts_with('[')).collect();
        match words.as_slice() {
            ["deb", uri, suite, ..] if *suite == codename => Some((uri.to_string(), None)),
            _ => None,
        }
    })
}

fn apt(arguments: &[&str]) -> Result<()> {
    let status = Command::new("apt-get")
        .args(arguments)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status()
        .with_context(|| format!("could not run apt-get {}", arguments.join(" ")))?;
    if !status.success() {
        bail!("apt-get {} failed ({status})", arguments.join(" "));
    }
    Ok(())
}

/// Makes sure `dtc` (the device-tree compiler the tests decompile guest
/// device trees with) is installed.
pub fn ensure_dtc() -> Result<()> {
    if Command::new("dtc").arg("--version").output().is_ok_and(|output| output.status.success()) {
        return Ok(());
    }
    if !is_root() {
        bail!("dtc is missing. Fix: run `sudo apt-get install device-tree-compiler`");
    }
    eprintln!("xtask: installing dtc (device-tree-compiler) with apt-get");
    if apt(&["install", "-y", "-q", "device-tree-compiler"]).is_err() {
        apt(&["update", "-q"])?;
        apt(&["install", "-y", "-q", "device-tree-compiler"])?;
    }
    Ok(())
}

/// Makes sure `qemu-system-aarch64` (7.2 or newer; 10 preferred) is
/// installed, installing it with apt when running as root on Debian.
pub fn ensure_qemu() -> Result<()> {
    if let Some((major, minor)) = qemu_version()
        && (major, minor) >= (7, 2)
    {
        return Ok(());
    }
    let codename = debian_codename();
    if !is_root() || Command::new("apt-get").arg("--version").output().is_err() {
        bail!(
            "{QEMU} is missing and this user cannot install it. Fix: run `sudo apt-get install qemu-system-arm` \
             (for QEMU 10 on Debian 12: add the bookworm-backports suite and `sudo apt-get install -t bookworm-backports qemu-system-arm`)"
        );
    }
    eprintln!("xtask: installing QEMU (qemu-system-arm) with apt-get");
    let mut from_backports = false;
    if let Some(codename) = codename.as_deref()
        && let Some((uri, keyring)) = debian_source(codename)
    {
        if !Path::new(BACKPORTS_SOURCE).exists() {
            let mut stanza = format!("Types: deb\nURIs: {uri}\nSuites: {codename}-backports\nComponents: main\n");
            if let Some(keyring) = keyring {
                stanza.push_str(&format!("Signed-By: {keyring}\n"));
            }
            std::fs::write(BACKPORTS_SOURCE, stanza).with_context(|| format!("could not write {BACKPORTS_SOURCE}"))?;
        }
        from_backports = true;
        apt(&["update", "-q"])?;
        let suite = format!("{codename}-backports");
        if apt(&["install", "-y", "-q", "-t", &suite, "qemu-system-arm"]).is_err() {
            eprintln!("xtask: QEMU from {suite} failed; trying the release's own QEMU");
            from_backports = false;
        }
    }
    if !from_backports {
        apt(&["update", "-q"])?;
        apt(&["install", "-y", "-q", "qemu-system-arm"])?;
    }
    match qemu_version() {
        Some(version) if version >= (7, 2) => Ok(()),
        _ => bail!("apt-get installed qemu-system-arm but {QEMU} still does not run. Fix: check `{QEMU} --version`"),
    }
}
