//! Turns ELF binaries into flat arm64 `Image` files and assembles the
//! bootable Janus image: hypervisor + payload (boot plan, guest kernels,
//! device trees, initrds) built from a manifest.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use janus_manifest::{BootPlan, ImageSource, Manifest, PayloadBuilder, PersonalityPlan};
use janus_platform::BoardDescription;
use object::{Object, ObjectSegment, ObjectSymbol};

use crate::devicetree;

/// Offset of `image_size` in the arm64 Image header.
const IMAGE_SIZE_OFFSET: usize = 16;

/// A flattened bare-metal binary.
pub struct FlatImage {
    /// The bytes, from the link address (0) on, BSS included as zeros.
    pub bytes: Vec<u8>,
    /// Where `__payload_start` is, if the binary defines it.
    pub payload_offset: Option<u64>,
    /// Where `__bss_start` is: the page-aligned start of the zeroed BSS.
    pub bss_start: Option<u64>,
    /// Where `__data_end` is: the code and initialised data end there.
    pub data_end: Option<u64>,
}

/// Flattens a position-independent ELF linked at 0 into its memory image.
pub fn flatten_elf(path: &Path) -> Result<FlatImage> {
    let data = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let file = object::File::parse(&*data).with_context(|| format!("parsing ELF {}", path.display()))?;
    let mut bytes = Vec::new();
    for segment in file.segments() {
        let contents = segment.data().with_context(|| format!("segment of {}", path.display()))?;
        let start = usize::try_from(segment.address())?;
        let end = start + usize::try_from(segment.size())?;
        if bytes.len() < end {
            bytes.resize(end, 0);
        }
        bytes[start..start + contents.len()].copy_from_slice(contents);
    }
    let payload_offset = file.symbols().find(|symbol| symbol.name() == Ok("__payload_start")).map(|symbol| symbol.address());
    let bss_start = file.symbols().find(|symbol| symbol.name() == Ok("__bss_start")).map(|symbol| symbol.address());
    let data_end = file.symbols().find(|symbol| symbol.name() == Ok("__data_end")).map(|symbol| symbol.address());
    let image_end = file.symbols().find(|symbol| symbol.name() == Ok("__image_end") || symbol.name() == Ok("__bss_end"));
    if let Some(end) = image_end.map(|symbol| symbol.address() as usize)
        && bytes.len() < end
    {
        bytes.resize(end, 0);
    }
    Ok(FlatImage { bytes, payload_offset, bss_start, data_end })
}

/// Writes the total size into an arm64 Image header.
pub fn set_image_size(bytes: &mut [u8]) {
    let size = bytes.len() as u64;
    if let Some(field) = bytes.get_mut(IMAGE_SIZE_OFFSET..IMAGE_SIZE_OFFSET + 8) {
        field.copy_from_slice(&size.to_le_bytes());
    }
}

/// Built-in guest images a manifest can name as `builtin:NAME`.
pub struct Builtins {
    /// The bare-metal test guest, flattened.
    pub testguest: Vec<u8>,
}

fn read_image(source: &str, manifest_dir: &Path, builtins: &Builtins, what: &str, personality: &str) -> Result<Vec<u8>> {
    match ImageSource::from_spec(source) {
        ImageSource::Builtin("testguest") => Ok(builtins.testguest.clone()),
        ImageSource::Builtin("debian-cloud") => {
            let guest = crate::linux::ensure_arm64_packages(&crate::linux::cache_dir())?;
            std::fs::read(&guest.image).with_context(|| format!("reading {}", guest.image.display()))
        }
        ImageSource::Builtin("debian-initramfs") => {
            let guest = crate::linux::ensure_arm64_packages(&crate::linux::cache_dir())?;
            let output = crate::linux::cache_dir().join(format!("{personality}.cpio.gz"));
            crate::linux::build_initramfs(&guest, personality, &output)?;
            std::fs::read(&output).with_context(|| format!("reading {}", output.display()))
        }
        ImageSource::Builtin(other) => bail!(
            "personality \"{personality}\" {what}: there is no built-in image called '{other}'. \
             Fix: use builtin:testguest, builtin:debian-cloud, builtin:debian-initramfs or a file path"
        ),
        ImageSource::File(path) => {
            let full = manifest_dir.join(path);
            std::fs::read(&full).with_context(|| {
                format!(
                    "personality \"{personality}\" {what}: cannot read {}. Fix: point {what} at an existing AArch64 Linux Image, ELF or raw binary",
                    full.display()
                )
            })
        }
    }
}

/// Whether any personality's disk is encrypted, so the image needs the
/// device key.
pub fn needs_device_key(manifest: &Manifest) -> bool {
    manifest.personalities.iter().any(|personality| personality.disk.is_some_and(|disk| disk.encrypted))
}

/// Builds the payload for a validated manifest. If a disk is encrypted, the
/// plan carries the device key ([`crate::devicekey::default_path`], created
/// on first use); otherwise it carries none.
pub fn build_payload(manifest: &Manifest, manifest_dir: &Path, board: &BoardDescription, builtins: &Builtins) -> Result<Vec<u8>> {
    payload_with_device_key(manifest, manifest_dir, board, builtins, &crate::devicekey::default_path())
}

/// [`build_payload`] with the device key read from (or created at) `device_key_path`.
fn payload_with_device_key(manifest: &Manifest, manifest_dir: &Path, board: &BoardDescription, builtins: &Builtins, device_key_path: &Path) -> Result<Vec<u8>> {
    let mut payload = PayloadBuilder::new();
    // Identical images (both personalities' kernel) are stored once.
    let mut stored: std::collections::HashMap<Vec<u8>, janus_manifest::Blob> = std::collections::HashMap::new();
    let mut add = |payload: &mut PayloadBuilder, bytes: &[u8]| {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(bytes).to_vec();
        *stored.entry(digest).or_insert_with(|| payload.add_blob(bytes))
    };
    let mut personalities = heapless::Vec::<PersonalityPlan, { janus_manifest::MAX_PERSONALITIES }>::new();
    for (index, personality) in manifest.personalities.iter().enumerate() {
        let devices: Vec<&janus_manifest::DeviceConfig> = manifest.devices_of(index).collect();
        let kernel_bytes = read_image(&personality.kernel, manifest_dir, builtins, "kernel", &personality.name)?;
        let initrd = match &personality.initrd {
            Some(source) => Some(read_image(source, manifest_dir, builtins, "initrd", &personality.name)?),
            None => None,
        };
        let initrd_length = initrd.as_ref().map(|bytes| bytes.len() as u64);
        let (kernel, layout) = janus_manifest::plan_personality_layout(personality, &kernel_bytes, initrd_length).map_err(|error| anyhow!("{error}"))?;
        let dtb = devicetree::personality_device_tree_with_devices(personality, &devices, &layout, initrd_length, board)?;
        let kernel_blob = add(&mut payload, &kernel.bytes);
        let dtb_blob = add(&mut payload, &dtb);
        let initrd_blob = initrd.as_ref().map(|bytes| add(&mut payload, bytes));
        let plan = PersonalityPlan::assemble(personality, devices.iter().copied(), &layout, kernel_blob, dtb_blob, initrd_blob)
            .ok_or_else(|| anyhow!("personality \"{}\" does not fit the boot plan", personality.name))?;
        personalities.push(plan).map_err(|_| anyhow!("too many personalities"))?;
    }
    let device_key = if needs_device_key(manifest) { Some(crate::devicekey::device_key(device_key_path, &crate::disk::default_path())?) } else { None };
    let plan = BootPlan { board: board.clone(), console: manifest.console, personalities, device_key };
    let bytes = payload.finish(&plan);
    janus_manifest::validate_plan(&plan, bytes.len() as u64).map_err(|error| anyhow!("the boot plan is inconsistent: {error}"))?;
    Ok(bytes)
}

/// Hypervisor + payload as one bootable arm64 Image.
pub fn assemble(hypervisor: &FlatImage, payload: &[u8]) -> Result<Vec<u8>> {
    let offset = hypervisor.payload_offset.ok_or_else(|| anyhow!("the hypervisor ELF has no __payload_start symbol"))?;
    let mut image = hypervisor.bytes.clone();
    image.resize(usize::try_from(offset)?, 0);
    image.extend_from_slice(payload);
    set_image_size(&mut image);
    Ok(image)
}

/// How much of their kernels' logs the personalities print.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verbosity {
    /// As the manifest's command lines say.
    AsWritten,
    /// Every kernel log line: `quiet` is taken out of each command line.
    Full,
}

/// Loads, validates and assembles a manifest into `output`, with the device
/// key at `device_key` if a disk is encrypted and the kernels' logs as
/// `verbosity` says.
pub fn build_image(
    manifest_path: &Path,
    board: &BoardDescription,
    hypervisor: &FlatImage,
    builtins: &Builtins,
    output: &Path,
    device_key: &Path,
    verbosity: Verbosity,
) -> Result<PathBuf> {
    let text = std::fs::read_to_string(manifest_path)
        .with_context(|| format!("cannot read the manifest {}. Fix: pass an existing file to --manifest", manifest_path.display()))?;
    let name = manifest_path.display().to_string();
    let mut manifest = janus_manifest::load(&name, &text, board).map_err(|errors| anyhow!("the manifest is invalid:\n{errors}"))?;
    if verbosity == Verbosity::Full {
        for personality in &mut manifest.personalities {
            personality.cmdline = without_quiet(&personality.cmdline);
        }
    }
    let directory = manifest_path.parent().unwrap_or(Path::new("."));
    let payload = payload_with_device_key(&manifest, directory, board, builtins, device_key)?;
    let image = assemble(hypervisor, &payload)?;
    if let Some(parent) = output.parent() {
        std::fs::create_dir_all(parent)?;
    }
    write_image(output, &image, needs_device_key(&manifest)).with_context(|| format!("writing {}", output.display()))?;
    Ok(output.to_path_buf())
}

/// A kernel command line without its `quiet` parameter.
pub fn without_quiet(cmdline: &str) -> String {
    cmdline.split_whitespace().filter(|parameter| *parameter != "quiet").collect::<Vec<_>>().join(" ")
}

/// Writes the image; one that embeds the device key is as secret as the key
/// file, so it is created readable by its owner only (mode 0600).
fn write_image(output: &Path, image: &[u8], secret: bool) -> std::io::Result<()> {
    if !secret {
        return std::fs::write(output, image);
    }
    // The mode applies only to a new file: never reuse a readable one.
    match std::fs::remove_file(output) {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => return Err(error),
        _ => {}
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    std::io::Write::write_all(&mut options.open(output)?, image)
}

#[cfg(test)]
mod tests {
    use janus_manifest::{DiskPartition, DiskPlan};

    use super::*;

    #[test]
    fn full_verbosity_takes_out_quiet_only() {
        assert_eq!(without_quiet("console=ttyAMA0 quiet panic=-1 quietly"), "console=ttyAMA0 panic=-1 quietly");
        assert_eq!(without_quiet("quiet"), "");
    }

    fn manifest(work_encrypted: bool) -> Manifest {
        let text = "board = \"qemu-virt\"\n\
                    [[personality]]\nname = \"personal\"\ncpus = [0]\nram = { base = 0x4800_0000, size = \"16M\" }\n\
                    kernel = \"builtin:testguest\"\ndisk = { partition = \"personal\" }\n\
                    [[personality]]\nname = \"work\"\ncpus = [1]\nram = { base = 0x5000_0000, size = \"16M\" }\n\
                    kernel = \"builtin:testguest\"\n";
        let mut manifest = janus_manifest::load("m.toml", text, &janus_board_qemu_virt::description()).unwrap();
        manifest.personalities[1].disk = Some(DiskPlan { partition: DiskPartition::Work, encrypted: work_encrypted });
        manifest
    }

    fn decoded_key(manifest: &Manifest, key_path: &Path) -> Option<[u8; 32]> {
        let builtins = Builtins { testguest: vec![0x1f; 64] };
        let payload = payload_with_device_key(manifest, Path::new("."), &janus_board_qemu_virt::description(), &builtins, key_path).unwrap();
        let (plan, _) = janus_manifest::parse_payload(&payload).unwrap();
        assert_eq!(plan.personalities[0].disk, manifest.personalities[0].disk);
        assert_eq!(plan.personalities[1].disk, manifest.personalities[1].disk);
        plan.device_key
    }

    #[test]
    fn a_passed_through_device_reaches_the_plan_and_only_its_owner_s_device_tree() {
        let text = "board = \"qemu-virt\"\n\
                    [[personality]]\nname = \"personal\"\ncpus = [0]\nram = { base = 0x4800_0000, size = \"16M\" }\n\
                    kernel = \"builtin:testguest\"\n\
                    [[personality.device]]\nname = \"rtc\"\nmmio = { base = 0x0901_0000, size = \"4K\" }\n\
                    interrupts = [34]\ncompatible = [\"arm,pl031\", \"arm,primecell\"]\n\
                    [[personality]]\nname = \"work\"\ncpus = [1]\nram = { base = 0x5000_0000, size = \"16M\" }\n\
                    kernel = \"builtin:testguest\"\n";
        let board = janus_board_qemu_virt::description();
        let manifest = janus_manifest::load("m.toml", text, &board).unwrap();
        let builtins = Builtins { testguest: vec![0x1f; 64] };
        let key_path = std::env::temp_dir().join(format!("janus-image-devices-{}", std::process::id()));
        let payload = payload_with_device_key(&manifest, Path::new("."), &board, &builtins, &key_path).unwrap();
        let (plan, blobs) = janus_manifest::parse_payload(&payload).unwrap();
        let rtc = &plan.personalities[0].devices[0];
        assert_eq!(rtc.name.as_str(), "rtc");
        assert_eq!(rtc.mmio, janus_platform::PhysRange::new(0x0901_0000, 0x1000));
        assert_eq!(rtc.interrupts.as_slice(), [34]);
        assert!(plan.personalities[1].devices.is_empty());
        let has_node = |index: usize| {
            let dtb = blobs.get(plan.personalities[index].dtb).unwrap();
            dtb.windows(12).any(|window| window == b"rtc@9010000\0")
        };
        assert!(has_node(0), "personal's device tree lacks the RTC");
        assert!(!has_node(1), "work's device tree has the RTC");
    }

    #[test]
    fn the_device_key_goes_into_the_plan_only_for_an_encrypted_disk() {
        let directory = std::env::temp_dir().join(format!("janus-image-key-{}", std::process::id()));
        let key_path = directory.join("device-key");
        let _ = std::fs::remove_dir_all(&directory);
        assert!(!needs_device_key(&manifest(false)));
        assert_eq!(decoded_key(&manifest(false), &key_path), None);
        assert!(!key_path.exists(), "no key is created when no disk is encrypted");
        assert!(needs_device_key(&manifest(true)));
        let key = decoded_key(&manifest(true), &key_path);
        assert_eq!(key.map(Vec::from), Some(std::fs::read(&key_path).unwrap()));
        std::fs::remove_dir_all(directory).unwrap();
    }
}
