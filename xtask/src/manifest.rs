//! The manifests xtask and the QEMU tests write (the benchmark and test
//! systems): `Serialize` types mirroring the TOML that janus-manifest
//! parses (the README's Manifest section), written through `toml`. Values
//! stay as an administrator writes them (sizes such as `"128M"`, partition
//! names as text), so a test can also write one that the build refuses.

use janus_manifest::ConsoleMode;
use serde::{Serialize, Serializer};

/// A manifest file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ManifestFile {
    /// The board's short name (`qemu-virt`).
    pub board: String,
    /// How the personalities share the console.
    #[serde(serialize_with = "console_mode")]
    pub console: ConsoleMode,
    /// The `[[personality]]` tables, in order.
    #[serde(rename = "personality")]
    pub personalities: Vec<PersonalityFile>,
}

impl ManifestFile {
    /// A manifest for the QEMU virt board with both personalities' output
    /// tagged line by line (as tests and benchmarks read it).
    pub fn tagged(personalities: Vec<PersonalityFile>) -> Self {
        Self { board: janus_board_qemu_virt::NAME.into(), console: ConsoleMode::Tagged, personalities }
    }

    /// The TOML text.
    pub fn to_toml(&self) -> String {
        // Only strings, booleans, TOML integers (i64), lists and tables:
        // nothing here that TOML cannot hold.
        toml::to_string(self).expect("a manifest is always TOML")
    }
}

fn console_mode<S: Serializer>(mode: &ConsoleMode, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(match mode {
        ConsoleMode::Switched => "switched",
        ConsoleMode::Tagged => "tagged",
    })
}

/// One `[[personality]]` table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PersonalityFile {
    /// Its name.
    pub name: String,
    /// Its physical cores.
    pub cpus: Vec<u8>,
    /// Its RAM.
    pub ram: RangeFile,
    /// `builtin:NAME` or a path.
    pub kernel: String,
    /// `builtin:NAME` or a path, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub initrd: Option<String>,
    /// The kernel command line.
    pub cmdline: String,
    /// Its private disk, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disk: Option<DiskFile>,
    /// Devices passed through to it (`[[personality.device]]`).
    #[serde(rename = "device", skip_serializing_if = "Vec::is_empty")]
    pub devices: Vec<DeviceFile>,
}

impl PersonalityFile {
    /// A personality with no initrd, disk or devices.
    pub fn new(name: &str, cpus: &[u8], ram: RangeFile, kernel: &str, cmdline: &str) -> Self {
        Self { name: name.into(), cpus: cpus.to_vec(), ram, kernel: kernel.into(), initrd: None, cmdline: cmdline.into(), disk: None, devices: Vec::new() }
    }
}

/// A `{ base, size }` table (`ram`, a device's `mmio`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RangeFile {
    /// The physical base address (a TOML integer).
    pub base: i64,
    /// The size as written: `"128M"`, `"4K"`.
    pub size: String,
}

impl RangeFile {
    /// `{ base = BASE, size = "SIZE" }`.
    pub fn new(base: i64, size: &str) -> Self {
        Self { base, size: size.into() }
    }
}

/// A `disk = { partition, encrypted }` table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DiskFile {
    /// `"personal"` or `"work"` (anything else is refused by the build).
    pub partition: String,
    /// Whether the partition is encrypted; left out if `None`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encrypted: Option<bool>,
}

impl DiskFile {
    /// `{ partition = "PARTITION" }`, or with `encrypted = ENCRYPTED` if given.
    pub fn new(partition: &str, encrypted: Option<bool>) -> Self {
        Self { partition: partition.into(), encrypted }
    }
}

/// One `[[personality.device]]` table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DeviceFile {
    /// Its name.
    pub name: String,
    /// Its registers.
    pub mmio: RangeFile,
    /// Its SPIs; left out if empty.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub interrupts: Vec<u32>,
    /// Its device tree `compatible` strings.
    pub compatible: Vec<String>,
}

impl DeviceFile {
    /// A device with its registers, interrupts and `compatible` strings.
    pub fn new(name: &str, mmio: RangeFile, interrupts: &[u32], compatible: &[&str]) -> Self {
        Self { name: name.into(), mmio, interrupts: interrupts.to_vec(), compatible: compatible.iter().map(|text| text.to_string()).collect() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_written_manifest_parses_back_to_the_same_system() {
        let mut personal = PersonalityFile::new("personal", &[0, 1], RangeFile::new(0x4800_0000, "128M"), "builtin:testguest", "role=personal");
        personal.disk = Some(DiskFile::new("personal", None));
        personal.devices.push(DeviceFile::new("rtc", RangeFile::new(0x0901_0000, "4K"), &[34], &["arm,pl031", "arm,primecell"]));
        let mut work = PersonalityFile::new("work", &[2, 3], RangeFile::new(0x5000_0000, "128M"), "builtin:testguest", "role=work \"quoted\"");
        work.initrd = Some("initrd.cpio.gz".into());
        work.disk = Some(DiskFile::new("work", Some(true)));
        let text = ManifestFile::tagged(vec![personal, work]).to_toml();
        let manifest = janus_manifest::load("m.toml", &text, &janus_board_qemu_virt::description()).unwrap_or_else(|error| panic!("{error}\n{text}"));
        assert_eq!(manifest.console, ConsoleMode::Tagged);
        let [personal, work] = &manifest.personalities[..] else { panic!("{text}") };
        assert_eq!((personal.name.as_str(), personal.cpus.as_slice()), ("personal", [0, 1].as_slice()));
        assert_eq!(personal.ram, janus_platform::PhysRange::new(0x4800_0000, 128 << 20));
        assert_eq!((personal.initrd.as_deref(), personal.cmdline.as_str()), (None, "role=personal"));
        assert_eq!(personal.disk, Some(janus_manifest::DiskPlan { partition: janus_manifest::DiskPartition::Personal, encrypted: false }));
        assert_eq!((work.initrd.as_deref(), work.cmdline.as_str()), (Some("initrd.cpio.gz"), "role=work \"quoted\""));
        assert_eq!(work.disk, Some(janus_manifest::DiskPlan { partition: janus_manifest::DiskPartition::Work, encrypted: true }));
        let devices: Vec<_> = manifest.devices.iter().map(|device| (device.personality, device.name.as_str(), device.interrupts.as_slice())).collect();
        assert_eq!(devices, [(0, "rtc", [34].as_slice())]);
        assert_eq!(manifest.devices[0].compatible, ["arm,pl031", "arm,primecell"]);
    }
}
