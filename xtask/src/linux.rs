//! Debian arm64 cloud kernel and busybox, fetched with apt, packed into one initramfs per Linux personality.
//!
//! Everything lands in a cache directory (by default `target/janus/debian/`,
//! never in the repository) together with a manifest of SHA-256 sums, so later
//! runs work offline and a missing or corrupted cached file is fetched again.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::{BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, Result, bail};
use cpio::NewcBuilder;
use cpio::newc::ModeFileType;
use sha2::{Digest, Sha256};

/// The kernel modules a personality needs for virtio over MMIO; their
/// dependencies come along.
pub const WANTED_MODULES: &[&str] = &["virtio_mmio", "virtio_blk", "virtio_console", "fuse", "virtiofs"];

/// The metapackage whose dependency names the current cloud kernel.
const KERNEL_METAPACKAGE: &str = "linux-image-cloud-arm64";
const BUSYBOX_PACKAGE: &str = "busybox-static";
/// A statically linked e2fsck: /init checks (and after a power cut
/// repairs) the personality's ext2 disk before mounting it.
const E2FSCK_PACKAGE: &str = "e2fsck-static";
const MANIFEST: &str = "janus-fetch.txt";
const INIT_TEMPLATE: &str = include_str!("../../guests/linux/init.sh");
/// Bytes 56..60 of an arm64 Linux `Image` (Documentation/arch/arm64/booting.rst).
const ARM64_IMAGE_MAGIC: &[u8; 4] = b"ARM\x64";

/// The files of a fetched Debian arm64 guest, all inside the cache directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DebianGuest {
    /// The kernel release, e.g. `6.1.0-56-cloud-arm64`.
    pub kernel_version: String,
    /// The uncompressed arm64 kernel `Image`.
    pub image: PathBuf,
    /// The statically linked arm64 busybox.
    pub busybox: PathBuf,
    /// The statically linked arm64 e2fsck.
    pub e2fsck: PathBuf,
    /// Uncompressed kernel modules (`NAME.ko`) in load order, dependencies first.
    pub modules: Vec<PathBuf>,
}

/// Where xtask caches the Debian guest files: `target/janus/debian/`.
pub fn cache_dir() -> PathBuf {
    crate::output_dir().join("debian")
}

/// Returns the cached Debian guest files, fetching them with apt first when
/// the cache is missing, incomplete or corrupted. Calls from several threads
/// (parallel tests) take turns, so only one of them fetches.
pub fn ensure_arm64_packages(cache: &Path) -> Result<DebianGuest> {
    // The cache checked in this process: one image build asks for it once
    // per kernel and initramfs, and hashing it is most of a no-op build.
    static CHECKED: Mutex<Option<(PathBuf, DebianGuest)>> = Mutex::new(None);
    let mut checked = CHECKED.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some((path, guest)) = checked.as_ref()
        && path == cache
    {
        return Ok(guest.clone());
    }
    let guest = verify_or_fetch(cache)?;
    *checked = Some((cache.to_path_buf(), guest.clone()));
    Ok(guest)
}

fn verify_or_fetch(cache: &Path) -> Result<DebianGuest> {
    match verify_cache(cache) {
        Ok(guest) => return Ok(guest),
        Err(reason) if cache.join(MANIFEST).exists() => eprintln!("xtask: {reason}; fetching the Debian packages again"),
        Err(_) => {}
    }
    fetch(cache)
}

/// Writes a gzip-compressed newc cpio initramfs for `personality` to
/// `output`, unless the one there was made from the same inputs (the
/// rendered /init and the cached files' checksums, recorded beside it).
pub fn build_initramfs(guest: &DebianGuest, personality: &str, output: &Path) -> Result<()> {
    let module_names = guest.modules.iter().map(|path| module_name(path)).collect::<Vec<_>>();
    let fingerprint = format!("{}\n{}", render_init(personality, &module_names)?, fs::read_to_string(cache_dir().join(MANIFEST)).unwrap_or_default());
    let recorded = output.with_extension("inputs");
    if output.exists() && fs::read_to_string(&recorded).is_ok_and(|previous| previous == fingerprint) {
        return Ok(());
    }
    let _ = fs::remove_file(&recorded);
    build_initramfs_with_tools(guest, personality, &[], output)?;
    fs::write(&recorded, fingerprint).with_context(|| format!("writing {}", recorded.display()))
}

/// [`build_initramfs`] with extra programs in /bin: `(name, file)` pairs,
/// e.g. the storage benchmark's `janus-diskbench` (benchmark images only).
pub fn build_initramfs_with_tools(guest: &DebianGuest, personality: &str, tools: &[(&str, &Path)], output: &Path) -> Result<()> {
    if let Some((bad, _)) = tools.iter().find(|(name, _)| name.is_empty() || name.contains('/') || *name == "busybox" || *name == "sh") {
        bail!("'{bad}' cannot be an extra program in the initramfs' /bin. Fix: name it with a plain file name that is not busybox or sh");
    }
    let module_names = guest.modules.iter().map(|path| module_name(path)).collect::<Vec<_>>();
    let init = render_init(personality, &module_names)?;
    let busybox = fs::read(&guest.busybox).with_context(|| format!("reading {}", guest.busybox.display()))?;
    let e2fsck = fs::read(&guest.e2fsck).with_context(|| format!("reading {}", guest.e2fsck.display()))?;
    // A name of its own per call, so parallel builds of one personality never share a half-written file.
    static BUILDS: AtomicU64 = AtomicU64::new(0);
    let build = BUILDS.fetch_add(1, Ordering::Relaxed);
    let mut temporary = output.as_os_str().to_owned();
    temporary.push(format!(".partial-{}-{build}", std::process::id()));
    let temporary = PathBuf::from(temporary);
    if let Some(parent) = output.parent() {
        fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    }
    let file = fs::File::create(&temporary).with_context(|| format!("creating {}", temporary.display()))?;
    let encoder = flate2::write::GzEncoder::new(std::io::BufWriter::new(file), flate2::Compression::default());
    let mut archive = CpioWriter::new(encoder);
    for (directory, mode) in [
        ("bin", 0o755),
        ("sbin", 0o755),
        ("usr", 0o755),
        ("usr/bin", 0o755),
        ("usr/sbin", 0o755),
        ("dev", 0o755),
        ("proc", 0o555),
        ("sys", 0o555),
        ("tmp", 0o1777),
        ("data", 0o755),
        ("etc", 0o755),
        ("root", 0o700),
        ("lib", 0o755),
        ("lib/modules", 0o755),
    ] {
        archive.directory(directory, mode)?;
    }
    // The kernel opens /dev/console for init before /init can mount devtmpfs.
    archive.character_device("dev/console", 0o600, 5, 1)?;
    archive.file("bin/busybox", 0o755, &busybox)?;
    archive.symlink("bin/sh", "busybox")?;
    archive.file("sbin/e2fsck", 0o755, &e2fsck)?;
    for (name, path) in tools {
        let bytes = fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        archive.file(&format!("bin/{name}"), 0o755, &bytes)?;
    }
    for (path, name) in guest.modules.iter().zip(&module_names) {
        let bytes = fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        archive.file(&format!("lib/modules/{name}.ko"), 0o644, &bytes)?;
    }
    archive.file("etc/hostname", 0o644, format!("{personality}\n").as_bytes())?;
    archive.file("init", 0o755, init.as_bytes())?;
    let encoder = archive.finish()?;
    let mut writer = encoder.finish().context("finishing the gzip stream")?;
    writer.flush().with_context(|| format!("writing {}", temporary.display()))?;
    drop(writer);
    fs::rename(&temporary, output).with_context(|| format!("renaming {} to {}", temporary.display(), output.display()))
}

/// The /init script for `personality`, loading `modules` (names) in order.
pub fn render_init(personality: &str, modules: &[String]) -> Result<String> {
    let valid_personality = !personality.is_empty()
        && personality.len() <= 63
        && !personality.starts_with('-')
        && personality.bytes().all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'-');
    if !valid_personality {
        bail!("personality name '{personality}' is not a host name. Fix: use 1 to 63 of a-z, 0-9 and '-', not starting with '-'");
    }
    if let Some(bad) = modules.iter().find(|name| name.is_empty() || !name.bytes().all(|byte| byte.is_ascii_alphanumeric() || byte == b'_')) {
        bail!("kernel module name '{bad}' cannot go into /init. Fix: module names are made of a-z, 0-9 and '_'");
    }
    let module_list = if modules.is_empty() { String::from("\"\"") } else { modules.join(" ") };
    Ok(INIT_TEMPLATE.replace("@PERSONALITY@", personality).replace("@MODULES@", &module_list))
}

// ---------------------------------------------------------------------------
// Fetching through apt and dpkg.

fn fetch(cache: &Path) -> Result<DebianGuest> {
    check_tool("dpkg")?;
    check_tool("apt-get")?;
    fs::create_dir_all(cache).with_context(|| format!("creating {}", cache.display()))?;
    let mut updated = ensure_arm64_architecture()?;
    if !has_candidate(&format!("{BUSYBOX_PACKAGE}:arm64"))? {
        apt_update()?;
        updated = true;
    }
    let kernel_package = kernel_package()?;
    for stale in [MANIFEST, "Image", "busybox", "e2fsck", "modules", "download", "extract"] {
        remove(&cache.join(stale))?;
    }
    let download = cache.join("download");
    let extract = cache.join("extract");
    fs::create_dir_all(&download).with_context(|| format!("creating {}", download.display()))?;
    let mut packages = Vec::new();
    for package in [kernel_package.as_str(), BUSYBOX_PACKAGE, E2FSCK_PACKAGE] {
        let deb = apt_download(package, &download, &mut updated)?;
        let target = extract.join(package);
        fs::create_dir_all(&target).with_context(|| format!("creating {}", target.display()))?;
        let output = run(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&target))?;
        if !output.status.success() {
            bail!("dpkg-deb -x {} failed: {}. Fix: delete {} and run xtask again", deb.display(), stderr(&output), download.display());
        }
        packages.push(deb.file_name().map(|name| name.to_string_lossy().into_owned()).unwrap_or_default());
    }

    let kernel_tree = extract.join(&kernel_package);
    let (kernel_version, image) = kernel_image(&kernel_tree, &kernel_package)?;
    fs::write(cache.join("Image"), image).with_context(|| format!("writing {}", cache.join("Image").display()))?;
    let busybox_source = extract.join(BUSYBOX_PACKAGE).join("bin/busybox");
    fs::copy(&busybox_source, cache.join("busybox")).with_context(|| format!("{BUSYBOX_PACKAGE}:arm64 has no bin/busybox ({})", busybox_source.display()))?;
    let e2fsck_source = extract.join(E2FSCK_PACKAGE).join("sbin/e2fsck.static");
    fs::copy(&e2fsck_source, cache.join("e2fsck"))
        .with_context(|| format!("{E2FSCK_PACKAGE}:arm64 has no sbin/e2fsck.static ({})", e2fsck_source.display()))?;
    let modules = extract_modules(&kernel_tree.join("lib/modules").join(&kernel_version), &cache.join("modules"), &kernel_package)?;

    let guest = DebianGuest { kernel_version, image: cache.join("Image"), busybox: cache.join("busybox"), e2fsck: cache.join("e2fsck"), modules };
    let manifest = manifest_text(cache, &guest, &packages)?;
    fs::write(cache.join(MANIFEST), manifest).with_context(|| format!("writing {}", cache.join(MANIFEST).display()))?;
    remove(&download)?;
    remove(&extract)?;
    Ok(guest)
}

fn run(command: &mut Command) -> Result<Output> {
    command.output().with_context(|| format!("running {command:?}"))
}

fn stderr(output: &Output) -> String {
    let text = String::from_utf8_lossy(&output.stderr);
    let text = text.trim();
    if text.is_empty() { format!("exit status {}", output.status) } else { text.replace('\n', " / ") }
}

fn remove(path: &Path) -> Result<()> {
    let result = if path.is_dir() { fs::remove_dir_all(path) } else { fs::remove_file(path) };
    match result {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => Err(error).with_context(|| format!("removing {}", path.display())),
        _ => Ok(()),
    }
}

fn check_tool(tool: &str) -> Result<()> {
    match Command::new(tool).arg("--version").output() {
        Ok(_) => Ok(()),
        Err(_) => bail!("`{tool}` is not installed: fetching the Debian arm64 kernel needs a Debian host (dpkg and apt). Fix: run xtask on Debian 12"),
    }
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().map(|output| String::from_utf8_lossy(&output.stdout).trim() == "0").unwrap_or(false)
}

/// Enables the arm64 foreign architecture; true when it ran `apt-get update`.
fn ensure_arm64_architecture() -> Result<bool> {
    let output = run(Command::new("dpkg").arg("--print-foreign-architectures"))?;
    if String::from_utf8_lossy(&output.stdout).split_whitespace().any(|architecture| architecture == "arm64") {
        return Ok(false);
    }
    if !is_root() {
        bail!(
            "dpkg does not know the arm64 architecture yet and xtask is not root. Fix: run `sudo dpkg --add-architecture arm64 && sudo apt-get update`, then run xtask again"
        );
    }
    eprintln!("xtask: enabling the arm64 package architecture (dpkg --add-architecture arm64)");
    let output = run(Command::new("dpkg").args(["--add-architecture", "arm64"]))?;
    if !output.status.success() {
        bail!("dpkg --add-architecture arm64 failed: {}. Fix: run it by hand as root", stderr(&output));
    }
    apt_update()?;
    Ok(true)
}

fn apt_update() -> Result<()> {
    if !is_root() {
        bail!("apt has no arm64 package lists and xtask is not root. Fix: run `sudo apt-get update`, then run xtask again");
    }
    eprintln!("xtask: refreshing the package lists (apt-get update)");
    let output = run(Command::new("apt-get").args(["-q", "update"]))?;
    if !output.status.success() {
        bail!("apt-get update failed: {}. Fix: check the Debian sources in /etc/apt and the network, then run `apt-get update`", stderr(&output));
    }
    Ok(())
}

fn has_candidate(package: &str) -> Result<bool> {
    let output = run(Command::new("apt-cache").args(["policy", package]))?;
    Ok(policy_has_candidate(&String::from_utf8_lossy(&output.stdout)))
}

/// Whether `apt-cache policy` output names an installable version.
fn policy_has_candidate(policy: &str) -> bool {
    policy.lines().filter_map(|line| line.trim().strip_prefix("Candidate:")).any(|candidate| candidate.trim() != "(none)")
}

/// The versioned cloud kernel package the metapackage's candidate depends on.
fn kernel_package() -> Result<String> {
    let output = run(Command::new("apt-cache").args(["depends", &format!("{KERNEL_METAPACKAGE}:arm64")]))?;
    if !output.status.success() {
        bail!("apt-cache depends {KERNEL_METAPACKAGE}:arm64 failed: {}. Fix: run `apt-get update`", stderr(&output));
    }
    kernel_package_from_depends(&String::from_utf8_lossy(&output.stdout)).with_context(|| {
        format!("{KERNEL_METAPACKAGE}:arm64 depends on no linux-image-*-cloud-arm64 package. Fix: run `apt-get update` (the arm64 lists may be missing)")
    })
}

/// Picks `linux-image-VERSION-cloud-arm64` out of `apt-cache depends` output.
fn kernel_package_from_depends(depends: &str) -> Option<String> {
    depends.lines().find_map(|line| {
        let name = line.trim().trim_start_matches('|').strip_prefix("Depends:")?.trim();
        let name = name.strip_suffix(":arm64").unwrap_or(name);
        let versioned = name.starts_with("linux-image-") && name.ends_with("-cloud-arm64") && name != KERNEL_METAPACKAGE;
        (versioned && !name.contains('<')).then(|| name.to_string())
    })
}

/// Downloads `package:arm64` into `directory`, refreshing the lists once if
/// apt cannot find the file (stale lists); returns the .deb's path.
fn apt_download(package: &str, directory: &Path, updated: &mut bool) -> Result<PathBuf> {
    eprintln!("xtask: downloading {package}:arm64 (apt-get download)");
    let download =
        || run(Command::new("apt-get").args(["-q", "-o", "APT::Sandbox::User=root", "download", &format!("{package}:arm64")]).current_dir(directory));
    let mut output = download()?;
    if !output.status.success() && !*updated && is_root() {
        apt_update()?;
        *updated = true;
        output = download()?;
    }
    if !output.status.success() {
        bail!("apt-get download {package}:arm64 failed: {}. Fix: run `apt-get update` as root, then run xtask again", stderr(&output));
    }
    let prefix = format!("{package}_");
    let entries = fs::read_dir(directory).with_context(|| format!("reading {}", directory.display()))?;
    for entry in entries {
        let path = entry.with_context(|| format!("reading {}", directory.display()))?.path();
        let name = path.file_name().map(|name| name.to_string_lossy().into_owned()).unwrap_or_default();
        if name.starts_with(&prefix) && name.ends_with("_arm64.deb") {
            return Ok(path);
        }
    }
    bail!("apt-get download {package}:arm64 succeeded but left no {prefix}*_arm64.deb in {}", directory.display())
}

/// Finds `boot/vmlinuz-VERSION` in the extracted kernel package and returns
/// the version and the uncompressed `Image` (Debian ships it gzip-compressed,
/// or plain when it is signed for EFI).
fn kernel_image(tree: &Path, package: &str) -> Result<(String, Vec<u8>)> {
    let boot = tree.join("boot");
    let entries = fs::read_dir(&boot).with_context(|| format!("{package}:arm64 has no /boot ({})", boot.display()))?;
    let mut found = None;
    for entry in entries {
        let entry = entry.with_context(|| format!("reading {}", boot.display()))?;
        if let Some(version) = entry.file_name().to_string_lossy().strip_prefix("vmlinuz-") {
            found = Some((version.to_string(), entry.path()));
        }
    }
    let Some((version, path)) = found else { bail!("{package}:arm64 has no /boot/vmlinuz-*: not a kernel package?") };
    let raw = fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    let image = if raw.starts_with(&[0x1f, 0x8b]) {
        let mut image = Vec::new();
        flate2::read::GzDecoder::new(raw.as_slice()).read_to_end(&mut image).with_context(|| format!("gunzipping {}", path.display()))?;
        image
    } else {
        raw
    };
    if image.get(56..60) != Some(ARM64_IMAGE_MAGIC.as_slice()) {
        bail!("{} from {package}:arm64 is not an arm64 Linux Image (no \"ARM\\x64\" at byte 56)", path.display());
    }
    Ok((version, image))
}

// ---------------------------------------------------------------------------
// Kernel modules.

/// Module name as the kernel knows it: file name without `.ko[.xz|.zst]`, `-` as `_`.
fn module_name(path: &Path) -> String {
    let file = path.file_name().map(|name| name.to_string_lossy().into_owned()).unwrap_or_default();
    let stem = ["", ".xz", ".zst", ".gz"].iter().find_map(|compression| file.strip_suffix(&format!(".ko{compression}"))).unwrap_or(&file);
    stem.replace('-', "_")
}

/// A module's path (relative to `lib/modules/VERSION`) and the names it depends on.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct ModuleEntry {
    path: String,
    dependencies: Vec<String>,
}

/// Module name → entry, as `modules.dep` describes them.
type ModuleGraph = BTreeMap<String, ModuleEntry>;

/// Parses `modules.dep` ("path: dependency-path ...", one module a line).
fn parse_modules_dep(text: &str) -> ModuleGraph {
    let mut graph = ModuleGraph::new();
    for line in text.lines() {
        let Some((path, dependencies)) = line.split_once(':') else { continue };
        let path = path.trim();
        if path.is_empty() {
            continue;
        }
        let dependencies = dependencies.split_whitespace().map(|dependency| module_name(Path::new(dependency))).collect();
        graph.insert(module_name(Path::new(path)), ModuleEntry { path: path.to_string(), dependencies });
    }
    graph
}

/// The modules `wanted` needs, dependencies first, each once. A dependency
/// cycle is cut where it closes instead of looping.
fn load_order(graph: &ModuleGraph, wanted: &[&str]) -> Result<Vec<String>> {
    fn visit(graph: &ModuleGraph, name: &str, seen: &mut BTreeSet<String>, order: &mut Vec<String>) -> Result<()> {
        if !seen.insert(name.to_string()) {
            return Ok(());
        }
        let entry = graph.get(name).with_context(|| format!("kernel module {name} is needed but missing from modules.dep"))?;
        for dependency in &entry.dependencies {
            visit(graph, dependency, seen, order)?;
        }
        order.push(name.to_string());
        Ok(())
    }
    let mut seen = BTreeSet::new();
    let mut order = Vec::new();
    for name in wanted {
        visit(graph, &name.replace('-', "_"), &mut seen, &mut order)?;
    }
    Ok(order)
}

/// Reads a module file, decompressing `.ko.xz` and `.ko.zst`.
fn read_module(path: &Path) -> Result<Vec<u8>> {
    let file = fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut reader = BufReader::new(file);
    let name = path.to_string_lossy();
    let mut bytes = Vec::new();
    if name.ends_with(".xz") {
        lzma_rs::xz_decompress(&mut reader, &mut bytes)
            .map_err(|error| anyhow::anyhow!("{error:?}"))
            .with_context(|| format!("unpacking {}", path.display()))?;
    } else if name.ends_with(".zst") {
        let mut decoder = ruzstd::decoding::StreamingDecoder::new(reader)
            .map_err(|error| anyhow::anyhow!("{error}"))
            .with_context(|| format!("unpacking {}", path.display()))?;
        decoder.read_to_end(&mut bytes).with_context(|| format!("unpacking {}", path.display()))?;
    } else if name.ends_with(".gz") {
        flate2::read::GzDecoder::new(reader).read_to_end(&mut bytes).with_context(|| format!("unpacking {}", path.display()))?;
    } else {
        reader.read_to_end(&mut bytes).with_context(|| format!("reading {}", path.display()))?;
    }
    Ok(bytes)
}

/// The `depends=` list of a module's `.modinfo` section.
fn modinfo_depends(module: &[u8]) -> Result<Vec<String>> {
    use object::{Object, ObjectSection};
    let file = object::File::parse(module).context("parsing the module as ELF")?;
    let Some(section) = file.section_by_name(".modinfo") else { return Ok(Vec::new()) };
    let data = section.data().context("reading .modinfo")?;
    let depends = data
        .split(|byte| *byte == 0)
        .find_map(|field| field.strip_prefix(b"depends="))
        .map(|list| String::from_utf8_lossy(list).split(',').filter(|name| !name.is_empty()).map(|name| name.replace('-', "_")).collect())
        .unwrap_or_default();
    Ok(depends)
}

/// Every module file under `root` (relative path → module name).
fn index_modules(root: &Path) -> Result<BTreeMap<String, String>> {
    let mut index = BTreeMap::new();
    let mut pending = vec![root.join("kernel")];
    while let Some(directory) = pending.pop() {
        for entry in fs::read_dir(&directory).with_context(|| format!("reading {}", directory.display()))? {
            let path = entry.with_context(|| format!("reading {}", directory.display()))?.path();
            if path.is_dir() {
                pending.push(path);
            } else if path.to_string_lossy().contains(".ko") {
                let relative = path.strip_prefix(root).unwrap_or(&path).to_string_lossy().into_owned();
                index.insert(module_name(&path), relative);
            }
        }
    }
    Ok(index)
}

/// Builds the part of the module graph `wanted` reaches from each module's
/// `.modinfo` (Debian's packages leave `modules.dep` to depmod at install).
fn graph_from_modinfo(root: &Path, index: &BTreeMap<String, String>, wanted: &[&str]) -> Result<ModuleGraph> {
    let mut graph = ModuleGraph::new();
    let mut pending: Vec<String> = wanted.iter().map(|name| name.to_string()).collect();
    while let Some(name) = pending.pop() {
        if graph.contains_key(&name) {
            continue;
        }
        let path = index.get(&name).with_context(|| format!("kernel module {name} is needed but not in the kernel package"))?;
        let dependencies = modinfo_depends(&read_module(&root.join(path))?).with_context(|| format!("reading the dependencies of {path}"))?;
        pending.extend(dependencies.iter().cloned());
        graph.insert(name, ModuleEntry { path: path.clone(), dependencies });
    }
    Ok(graph)
}

/// Copies the wanted modules and their dependencies, uncompressed, into
/// `output` as `NAME.ko`; returns them in load order.
fn extract_modules(root: &Path, output: &Path, package: &str) -> Result<Vec<PathBuf>> {
    let builtin: BTreeSet<String> =
        fs::read_to_string(root.join("modules.builtin")).unwrap_or_default().lines().map(|line| module_name(Path::new(line.trim()))).collect();
    let index = index_modules(root).with_context(|| format!("listing the modules of {package}:arm64"))?;
    let mut wanted = Vec::new();
    for name in WANTED_MODULES {
        if index.contains_key(*name) {
            wanted.push(*name);
        } else if !builtin.contains(*name) {
            bail!("{package}:arm64 has no kernel module {name}, and it is not built in either: Janus cannot use this kernel");
        }
    }
    let graph = match fs::read_to_string(root.join("modules.dep")) {
        Ok(text) => parse_modules_dep(&text),
        Err(_) => graph_from_modinfo(root, &index, &wanted)?,
    };
    fs::create_dir_all(output).with_context(|| format!("creating {}", output.display()))?;
    let mut modules = Vec::new();
    for name in load_order(&graph, &wanted)? {
        let entry = graph.get(&name).with_context(|| format!("kernel module {name} vanished from the graph"))?;
        let bytes = read_module(&root.join(&entry.path))?;
        let target = output.join(format!("{name}.ko"));
        fs::write(&target, bytes).with_context(|| format!("writing {}", target.display()))?;
        modules.push(target);
    }
    Ok(modules)
}

// ---------------------------------------------------------------------------
// The cache manifest.

fn sha256_hex(path: &Path) -> Result<String> {
    let bytes = fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(Sha256::digest(&bytes).iter().map(|byte| format!("{byte:02x}")).collect())
}

fn relative<'a>(cache: &Path, path: &'a Path) -> Result<&'a Path> {
    path.strip_prefix(cache).with_context(|| format!("{} is outside the cache {}", path.display(), cache.display()))
}

/// The manifest: package files, kernel version, and `KIND SHA-256 PATH` lines
/// (paths relative to the cache, modules in load order).
fn manifest_text(cache: &Path, guest: &DebianGuest, packages: &[String]) -> Result<String> {
    let mut text = String::from("# Debian arm64 guest files fetched by cargo xtask (xtask/src/linux.rs)\n");
    for package in packages {
        text.push_str(&format!("package {package}\n"));
    }
    text.push_str(&format!("kernel-version {}\n", guest.kernel_version));
    text.push_str(&format!("wanted-modules {}\n", WANTED_MODULES.join(",")));
    let files = [("image", &guest.image), ("busybox", &guest.busybox), ("e2fsck", &guest.e2fsck)]
        .into_iter()
        .chain(guest.modules.iter().map(|module| ("module", module)));
    for (kind, path) in files {
        text.push_str(&format!("{kind} {} {}\n", sha256_hex(path)?, relative(cache, path)?.display()));
    }
    Ok(text)
}

/// The cached guest if the manifest exists and every file in it has its
/// recorded SHA-256; otherwise why not.
fn verify_cache(cache: &Path) -> std::result::Result<DebianGuest, String> {
    let manifest = cache.join(MANIFEST);
    let text = fs::read_to_string(&manifest).map_err(|error| format!("cannot read {}: {error}", manifest.display()))?;
    let mut kernel_version = None;
    let (mut image, mut busybox, mut e2fsck, mut modules, mut wanted_matches) = (None, None, None, Vec::new(), false);
    for line in text.lines().filter(|line| !line.starts_with('#') && !line.trim().is_empty()) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        match fields.as_slice() {
            ["package", _] => {}
            ["kernel-version", version] => kernel_version = Some(version.to_string()),
            ["wanted-modules", list] => wanted_matches = *list == WANTED_MODULES.join(","),
            [kind @ ("image" | "busybox" | "e2fsck" | "module"), sum, path] => {
                let full = cache.join(path);
                let actual = sha256_hex(&full).map_err(|_| format!("cached {} is missing", full.display()))?;
                if actual != *sum {
                    return Err(format!("cached {} is corrupted (SHA-256 {actual}, expected {sum})", full.display()));
                }
                match *kind {
                    "image" => image = Some(full),
                    "busybox" => busybox = Some(full),
                    "e2fsck" => e2fsck = Some(full),
                    _ => modules.push(full),
                }
            }
            _ => return Err(format!("{} has an unknown line '{line}'", manifest.display())),
        }
    }
    if !wanted_matches {
        return Err(format!("{} was written for another list of kernel modules", manifest.display()));
    }
    match (kernel_version, image, busybox, e2fsck) {
        (Some(kernel_version), Some(image), Some(busybox), Some(e2fsck)) => Ok(DebianGuest { kernel_version, image, busybox, e2fsck, modules }),
        _ => Err(format!("{} is incomplete", manifest.display())),
    }
}

// ---------------------------------------------------------------------------
// The initramfs archive: newc cpio (the format the kernel unpacks:
// Documentation/driver-api/early-userspace/buffer-format.rst), written by
// the `cpio` crate.

/// Writes the initramfs' newc cpio archive entry by entry. Every entry is
/// owned by root with time 0, so the output is reproducible; inodes count
/// up from 1.
struct CpioWriter<W: Write> {
    writer: W,
    inode: u32,
}

impl<W: Write> CpioWriter<W> {
    fn new(writer: W) -> Self {
        Self { writer, inode: 1 }
    }

    fn directory(&mut self, name: &str, mode: u32) -> Result<()> {
        self.entry(name, ModeFileType::Directory, mode, (0, 0), &[])
    }

    fn file(&mut self, name: &str, mode: u32, data: &[u8]) -> Result<()> {
        self.entry(name, ModeFileType::Regular, mode, (0, 0), data)
    }

    fn symlink(&mut self, name: &str, target: &str) -> Result<()> {
        self.entry(name, ModeFileType::Symlink, 0o777, (0, 0), target.as_bytes())
    }

    fn character_device(&mut self, name: &str, mode: u32, major: u32, minor: u32) -> Result<()> {
        self.entry(name, ModeFileType::Char, mode, (major, minor), &[])
    }

    /// Writes the trailer and hands back the inner writer.
    fn finish(mut self) -> Result<W> {
        cpio::newc::trailer(&mut self.writer).context("writing the cpio archive")?;
        Ok(self.writer)
    }

    fn entry(&mut self, name: &str, file_type: ModeFileType, mode: u32, (major, minor): (u32, u32), data: &[u8]) -> Result<()> {
        let size = u32::try_from(data.len()).with_context(|| format!("{name} is too large for cpio (over 4 GiB)"))?;
        let links = if matches!(file_type, ModeFileType::Directory) { 2 } else { 1 };
        let builder = NewcBuilder::new(name).ino(self.inode).mode(mode).set_mode_file_type(file_type).nlink(links).rdev_major(major).rdev_minor(minor);
        self.inode += 1;
        let mut entry = builder.write(&mut self.writer, size);
        entry.write_all(data).and_then(|()| entry.finish()).map(drop).with_context(|| format!("writing {name} into the cpio archive"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One parsed cpio entry.
    #[derive(Debug)]
    struct Entry {
        name: String,
        mode: u32,
        rdev: (u32, u32),
        data: Vec<u8>,
    }

    /// The entries of a newc archive, read with the `cpio` crate: stops at
    /// the trailer, which must end the archive on a 4-byte boundary.
    fn read_cpio(archive: &[u8]) -> Vec<Entry> {
        assert_eq!(archive.len() % 4, 0, "the archive is not padded to 4 bytes");
        let mut entries = Vec::new();
        let mut rest = archive;
        loop {
            let mut reader = cpio::NewcReader::new(rest).unwrap();
            let entry = reader.entry();
            if entry.is_trailer() {
                assert!(reader.finish().unwrap().is_empty(), "bytes after the trailer");
                return entries;
            }
            let (name, mode, rdev) = (entry.name().to_string(), entry.mode(), (entry.rdev_major(), entry.rdev_minor()));
            let mut data = Vec::new();
            reader.read_to_end(&mut data).unwrap();
            rest = reader.finish().unwrap();
            entries.push(Entry { name, mode, rdev, data });
        }
    }

    fn scratch(label: &str) -> PathBuf {
        let directory = std::env::temp_dir().join(format!("janus-linux-{label}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&directory);
        fs::create_dir_all(&directory).unwrap();
        directory
    }

    #[test]
    fn cpio_round_trips_names_modes_sizes_and_data() {
        let mut archive = CpioWriter::new(Vec::new());
        archive.directory("bin", 0o755).unwrap();
        archive.file("bin/busybox", 0o755, b"ELF!x").unwrap();
        archive.file("empty", 0o644, b"").unwrap();
        archive.file("abc", 0o600, b"1234").unwrap();
        archive.symlink("bin/sh", "busybox").unwrap();
        archive.character_device("dev/console", 0o600, 5, 1).unwrap();
        let bytes = archive.finish().unwrap();
        let entries = read_cpio(&bytes);
        let names: Vec<_> = entries.iter().map(|entry| entry.name.as_str()).collect();
        assert_eq!(names, ["bin", "bin/busybox", "empty", "abc", "bin/sh", "dev/console"]);
        assert_eq!(entries[0].mode, 0o040_755);
        assert_eq!((entries[1].mode, entries[1].data.as_slice()), (0o100_755, b"ELF!x".as_slice()));
        assert!(entries[2].data.is_empty());
        assert_eq!(entries[3].data, b"1234");
        assert_eq!((entries[4].mode, entries[4].data.as_slice()), (0o120_777, b"busybox".as_slice()));
        assert_eq!((entries[5].mode, entries[5].rdev), (0o020_600, (5, 1)));
    }

    #[test]
    fn initramfs_is_gzip_cpio_with_init_busybox_and_modules() {
        let directory = scratch("initramfs");
        let busybox = directory.join("busybox");
        fs::write(&busybox, b"busybox binary").unwrap();
        let module = directory.join("virtio_mmio.ko");
        fs::write(&module, b"module").unwrap();
        let e2fsck = directory.join("e2fsck");
        fs::write(&e2fsck, b"e2fsck binary").unwrap();
        let guest = DebianGuest { kernel_version: "6.1.0-1-cloud-arm64".into(), image: directory.join("Image"), busybox, e2fsck, modules: vec![module] };
        let output = directory.join("personal.cpio.gz");
        build_initramfs(&guest, "personal", &output).unwrap();
        let mut bytes = Vec::new();
        flate2::read::GzDecoder::new(fs::File::open(&output).unwrap()).read_to_end(&mut bytes).unwrap();
        let entries = read_cpio(&bytes);
        let find = |name: &str| entries.iter().find(|entry| entry.name == name).unwrap_or_else(|| panic!("no {name}"));
        assert_eq!(find("bin/busybox").mode, 0o100_755);
        assert_eq!((find("sbin/e2fsck").mode, find("sbin/e2fsck").data.as_slice()), (0o100_755, b"e2fsck binary".as_slice()));
        assert_eq!(find("lib/modules/virtio_mmio.ko").data, b"module");
        for directory in ["dev", "proc", "sys", "tmp", "data", "etc", "root"] {
            assert_eq!(find(directory).mode & 0o170_000, 0o040_000);
        }
        let init = find("init");
        assert_eq!(init.mode, 0o100_755);
        assert!(String::from_utf8_lossy(&init.data).contains("for module in virtio_mmio; do"));
        let leftovers = fs::read_dir(&directory).unwrap().filter(|entry| entry.as_ref().unwrap().file_name().to_string_lossy().contains("partial"));
        assert_eq!(leftovers.count(), 0);
        fs::remove_dir_all(&directory).unwrap();
    }

    #[test]
    fn benchmark_initramfs_carries_its_tools_in_bin_and_refuses_odd_names() {
        let directory = scratch("tools");
        for (name, contents) in [("busybox", "busybox"), ("e2fsck", "e2fsck"), ("janus-diskbench", "diskbench binary")] {
            fs::write(directory.join(name), contents).unwrap();
        }
        let guest = DebianGuest {
            kernel_version: "6.1.0-1-cloud-arm64".into(),
            image: directory.join("Image"),
            busybox: directory.join("busybox"),
            e2fsck: directory.join("e2fsck"),
            modules: Vec::new(),
        };
        let tool = directory.join("janus-diskbench");
        let output = directory.join("bench.cpio.gz");
        build_initramfs_with_tools(&guest, "work", &[("janus-diskbench", &tool)], &output).unwrap();
        let mut bytes = Vec::new();
        flate2::read::GzDecoder::new(fs::File::open(&output).unwrap()).read_to_end(&mut bytes).unwrap();
        let entries = read_cpio(&bytes);
        let entry = entries.iter().find(|entry| entry.name == "bin/janus-diskbench").unwrap();
        assert_eq!((entry.mode, entry.data.as_slice()), (0o100_755, b"diskbench binary".as_slice()));
        for bad in ["", "../x", "busybox", "sh"] {
            assert!(build_initramfs_with_tools(&guest, "work", &[(bad, &tool)], &output).is_err(), "{bad:?} accepted");
        }
        fs::remove_dir_all(&directory).unwrap();
    }

    #[test]
    fn init_runs_the_storage_benchmark_only_when_asked_and_before_the_disk_is_mounted() {
        let init = render_init("work", &[]).unwrap();
        let hook = init.find("*\" janus.bench=storage \"*)").expect("no benchmark hook");
        let run = init.find("janus-diskbench --label work /dev/vda").unwrap();
        let format = init.find("mke2fs").unwrap();
        let mount = init.find("mount -t ext2 /dev/vda /data").unwrap();
        assert!(hook < run && run < format && run < mount);
        assert!(!init[hook..format].contains("exec setsid"), "the benchmark must stop before the normal boot goes on");
    }

    #[test]
    fn init_template_gets_personality_and_module_order() {
        let modules = vec!["virtio".to_string(), "virtio_ring".to_string(), "virtio_mmio".to_string()];
        let init = render_init("personal", &modules).unwrap();
        assert!(!init.contains('@'), "placeholder left in:\n{init}");
        assert!(init.starts_with("#!/bin/busybox sh\n"));
        assert!(init.contains("hostname personal\n"));
        assert!(init.contains("PS1='personal# '"));
        assert!(init.contains("mount -t devtmpfs devtmpfs /dev"));
        let insmod = init.find("for module in virtio virtio_ring virtio_mmio; do").unwrap();
        let ready = init.find("echo \"personal: ready\"").unwrap();
        let shell = init.find("exec /sbin/init").unwrap();
        assert!(insmod < ready && ready < shell);
        // busybox init runs the shell again when it exits, watches the power
        // key and stops cleanly.
        assert!(init.contains("::respawn:/bin/janus-shell\n"));
        assert!(init.contains("::respawn:/bin/janus-power-key\n"));
        assert!(init.contains("::shutdown:/bin/janus-shutdown\n"));
        assert!(init.contains("exec cttyhack sh\n"));
        assert!(render_init("work", &[]).unwrap().contains("for module in \"\"; do"));
    }

    #[test]
    fn init_template_rejects_names_that_are_not_host_names() {
        for bad in ["", "Personal", "a b", "x;reboot", "-x", &"a".repeat(64)] {
            assert!(render_init(bad, &[]).is_err(), "{bad:?} accepted");
        }
        assert!(render_init("ok", &["bad name".to_string()]).is_err());
    }

    const MODULES_DEP: &str = "\
kernel/drivers/virtio/virtio.ko:
kernel/drivers/virtio/virtio_ring.ko: kernel/drivers/virtio/virtio.ko
kernel/drivers/virtio/virtio_mmio.ko: kernel/drivers/virtio/virtio_ring.ko kernel/drivers/virtio/virtio.ko
kernel/drivers/block/virtio_blk.ko.xz: kernel/drivers/virtio/virtio_ring.ko kernel/drivers/virtio/virtio.ko
kernel/fs/fuse/fuse.ko.zst:
kernel/fs/fuse/virtiofs.ko: kernel/fs/fuse/fuse.ko.zst kernel/drivers/virtio/virtio_ring.ko kernel/drivers/virtio/virtio.ko
kernel/cycle/a-b.ko: kernel/cycle/c.ko
kernel/cycle/c.ko: kernel/cycle/a-b.ko
";

    #[test]
    fn modules_dep_resolves_dependencies_first_without_duplicates() {
        let graph = parse_modules_dep(MODULES_DEP);
        assert_eq!(graph["virtio_blk"].path, "kernel/drivers/block/virtio_blk.ko.xz");
        let order = load_order(&graph, &["virtio_mmio", "virtio_blk", "virtiofs", "virtio"]).unwrap();
        assert_eq!(order, ["virtio", "virtio_ring", "virtio_mmio", "virtio_blk", "fuse", "virtiofs"]);
    }

    #[test]
    fn modules_dep_cycles_terminate_and_unknown_modules_fail() {
        let graph = parse_modules_dep(MODULES_DEP);
        assert_eq!(load_order(&graph, &["a-b"]).unwrap(), ["c", "a_b"]);
        assert!(load_order(&graph, &["nonexistent"]).is_err());
        let dangling = parse_modules_dep("kernel/x.ko: kernel/missing.ko\n");
        assert!(load_order(&dangling, &["x"]).is_err());
    }

    #[test]
    fn module_names_drop_compression_suffixes_and_dashes() {
        assert_eq!(module_name(Path::new("kernel/a/virtio-mmio.ko.xz")), "virtio_mmio");
        assert_eq!(module_name(Path::new("fuse.ko.zst")), "fuse");
        assert_eq!(module_name(Path::new("virtiofs.ko")), "virtiofs");
    }

    #[test]
    fn compressed_modules_are_unpacked() {
        let directory = scratch("compressed");
        let original = b"\x7fELF pretend module".repeat(100);
        let mut xz = Vec::new();
        lzma_rs::xz_compress(&mut original.as_slice(), &mut xz).unwrap();
        fs::write(directory.join("a.ko.xz"), xz).unwrap();
        let zstd = ruzstd::encoding::compress_to_vec(original.as_slice(), ruzstd::encoding::CompressionLevel::Fastest);
        fs::write(directory.join("b.ko.zst"), zstd).unwrap();
        fs::write(directory.join("c.ko"), &original).unwrap();
        for name in ["a.ko.xz", "b.ko.zst", "c.ko"] {
            assert_eq!(read_module(&directory.join(name)).unwrap(), original, "{name}");
        }
        fs::remove_dir_all(&directory).unwrap();
    }

    #[test]
    fn apt_output_parsers() {
        let depends = "linux-image-cloud-arm64:arm64\n  Depends: linux-image-6.1.0-56-cloud-arm64:arm64\n";
        assert_eq!(kernel_package_from_depends(depends).as_deref(), Some("linux-image-6.1.0-56-cloud-arm64"));
        assert_eq!(kernel_package_from_depends("linux-image-cloud-arm64:arm64\n"), None);
        assert!(policy_has_candidate("busybox-static:arm64:\n  Installed: (none)\n  Candidate: 1:1.35.0-4\n"));
        assert!(!policy_has_candidate("busybox-static:arm64:\n  Installed: (none)\n  Candidate: (none)\n"));
        assert!(!policy_has_candidate(""));
    }

    fn fake_cache(label: &str) -> (PathBuf, DebianGuest) {
        let cache = scratch(label);
        fs::create_dir_all(cache.join("modules")).unwrap();
        for (name, contents) in [("Image", "image"), ("busybox", "busybox"), ("e2fsck", "e2fsck"), ("modules/virtio.ko", "a"), ("modules/virtio_mmio.ko", "b")]
        {
            fs::write(cache.join(name), contents).unwrap();
        }
        let guest = DebianGuest {
            kernel_version: "6.1.0-1-cloud-arm64".into(),
            image: cache.join("Image"),
            busybox: cache.join("busybox"),
            e2fsck: cache.join("e2fsck"),
            modules: vec![cache.join("modules/virtio.ko"), cache.join("modules/virtio_mmio.ko")],
        };
        let text = manifest_text(&cache, &guest, &["linux-image-6.1.0-1-cloud-arm64_6.1.1-1_arm64.deb".into()]).unwrap();
        fs::write(cache.join(MANIFEST), text).unwrap();
        (cache, guest)
    }

    #[test]
    fn cache_verification_accepts_an_intact_cache() {
        let (cache, guest) = fake_cache("intact");
        assert_eq!(verify_cache(&cache).unwrap(), guest);
        fs::remove_dir_all(&cache).unwrap();
    }

    #[test]
    fn cache_verification_detects_corrupted_and_missing_files() {
        let (cache, _) = fake_cache("corrupt");
        fs::write(cache.join("Image"), "imagf").unwrap();
        assert!(verify_cache(&cache).unwrap_err().contains("corrupted"));
        fs::write(cache.join("Image"), "image").unwrap();
        fs::remove_file(cache.join("modules/virtio_mmio.ko")).unwrap();
        assert!(verify_cache(&cache).unwrap_err().contains("missing"));
        let (cache, _) = fake_cache("corrupt");
        let manifest = fs::read_to_string(cache.join(MANIFEST)).unwrap();
        fs::write(cache.join(MANIFEST), manifest.replace("wanted-modules virtio_mmio,", "wanted-modules ")).unwrap();
        assert!(verify_cache(&cache).unwrap_err().contains("another list"));
        fs::remove_file(cache.join(MANIFEST)).unwrap();
        assert!(verify_cache(&cache).is_err());
        fs::remove_dir_all(&cache).unwrap();
    }
}
