//! The manifest as plain data, and the field paths diagnostics point at.

use std::fmt;

use janus_platform::PhysRange;

use crate::plan::DiskPlan;

/// One system: the board it runs on and its personalities.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Manifest {
    /// The board's short name; must match [`janus_platform::BoardDescription::name`].
    pub board: String,
    /// The personalities, in file order (`[[personality]]` tables).
    pub personalities: Vec<PersonalityConfig>,
    /// How the personalities share the console (`console = "switched"` or
    /// `"tagged"`; default switched).
    pub console: crate::plan::ConsoleMode,
    /// Physical devices passed through to personalities
    /// (`[[personality.device]]` tables), in file order; each names its
    /// personality. (They are kept here rather than in
    /// [`PersonalityConfig`] so that code building a personality by hand
    /// need not change.)
    pub devices: Vec<DeviceConfig>,
}

impl Manifest {
    /// The devices of personality `index`, in file order.
    pub fn devices_of(&self, index: usize) -> impl Iterator<Item = &DeviceConfig> + Clone {
        self.devices.iter().filter(move |device| device.personality == index)
    }
}

/// A physical device given to one personality, as the administrator wrote
/// it (`[[personality.device]]` after the personality's table).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceConfig {
    /// The owning personality's position in [`Manifest::personalities`].
    pub personality: usize,
    /// Short name, `[a-z][a-z0-9-]{0,14}`, unique within the personality;
    /// the device tree node is `NAME@BASE`.
    pub name: String,
    /// The device's registers (identity mapped into the personality).
    pub mmio: PhysRange,
    /// Its GIC interrupt IDs (SPIs), level-high in the device tree.
    pub interrupts: Vec<u32>,
    /// The device tree `compatible` strings, most specific first.
    pub compatible: Vec<String>,
}

/// One personality as the administrator wrote it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PersonalityConfig {
    /// Short name, `[a-z][a-z0-9-]{0,14}`.
    pub name: String,
    /// Physical core indexes on the board; virtual CPU `i` runs on `cpus[i]`.
    pub cpus: Vec<u8>,
    /// The personality's RAM (identity mapped).
    pub ram: PhysRange,
    /// `builtin:NAME` or a path relative to the manifest file.
    pub kernel: String,
    /// Optional initial RAM disk: `builtin:NAME` or a path.
    pub initrd: Option<String>,
    /// Kernel command line (goes in the device tree's `/chosen/bootargs`).
    pub cmdline: String,
    /// The personality's private disk (`disk = { partition = "work",
    /// encrypted = true }`), if any.
    pub disk: Option<DiskPlan>,
}

/// Where a kernel or initrd comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageSource<'a> {
    /// An image the build system produces itself (`builtin:NAME`).
    Builtin(&'a str),
    /// A file, relative to the manifest's directory unless absolute.
    File(&'a str),
}

impl<'a> ImageSource<'a> {
    /// Interprets a `kernel` or `initrd` value.
    pub fn from_spec(spec: &'a str) -> Self {
        match spec.strip_prefix("builtin:") {
            Some(name) => Self::Builtin(name),
            None => Self::File(spec),
        }
    }
}

/// A personality, as diagnostics refer to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PersonalityRef {
    /// Its position in the manifest (0-based).
    pub index: usize,
    /// Its name as written (possibly invalid).
    pub name: String,
}

impl fmt::Display for PersonalityRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.name.is_empty() { write!(f, "personality #{}", self.index + 1) } else { write!(f, "personality {:?}", self.name) }
    }
}

/// A device, as diagnostics refer to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceRef {
    /// Its position among its personality's devices (0-based).
    pub index: usize,
    /// Its name as written (possibly invalid).
    pub name: String,
}

impl fmt::Display for DeviceRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.name.is_empty() { write!(f, "device #{}", self.index + 1) } else { write!(f, "device {:?}", self.name) }
    }
}

/// A field inside a `[[personality.device]]` table (or the table itself).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceKey {
    /// The table as a whole.
    Table,
    /// `name`.
    Name,
    /// `mmio` as a whole.
    Mmio,
    /// `mmio.base`.
    MmioBase,
    /// `mmio.size`.
    MmioSize,
    /// `interrupts` as a whole.
    Interrupts,
    /// One entry of `interrupts`, by position.
    Interrupt(usize),
    /// `compatible` as a whole.
    Compatible,
    /// One entry of `compatible`, by position.
    CompatibleEntry(usize),
}

/// A field inside a personality table (or the table itself).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldKey {
    /// The `[[personality]]` table as a whole.
    Table,
    /// `name`.
    Name,
    /// `cpus` as a whole.
    Cpus,
    /// One entry of `cpus`, by position.
    Cpu(usize),
    /// `ram` as a whole.
    Ram,
    /// `ram.base`.
    RamBase,
    /// `ram.size`.
    RamSize,
    /// `kernel`.
    Kernel,
    /// `initrd`.
    Initrd,
    /// `cmdline`.
    Cmdline,
    /// `disk` as a whole.
    Disk,
    /// `disk.partition`.
    DiskPartition,
    /// `disk.encrypted`.
    DiskEncrypted,
}

/// Which part of the manifest a diagnostic is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FieldPath {
    /// The top-level `board` key.
    Board,
    /// The top-level `console` key.
    Console,
    /// The list of personalities as a whole.
    Personalities,
    /// A field of one personality.
    Personality {
        /// The personality.
        personality: PersonalityRef,
        /// The field.
        key: FieldKey,
    },
    /// A field of one of a personality's devices.
    Device {
        /// The personality.
        personality: PersonalityRef,
        /// The device.
        device: DeviceRef,
        /// The field.
        key: DeviceKey,
    },
}

impl FieldPath {
    /// A field of personality `index` named `name`.
    pub fn personality(index: usize, name: &str, key: FieldKey) -> Self {
        Self::Personality { personality: PersonalityRef { index, name: name.to_owned() }, key }
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Board => f.write_str("board"),
            Self::Console => f.write_str("console"),
            Self::Personalities => f.write_str("personality"),
            Self::Device { personality, device, key } => {
                write!(f, "{personality} {device}")?;
                match key {
                    DeviceKey::Table => Ok(()),
                    DeviceKey::Name => f.write_str(" name"),
                    DeviceKey::Mmio => f.write_str(" mmio"),
                    DeviceKey::MmioBase => f.write_str(" mmio.base"),
                    DeviceKey::MmioSize => f.write_str(" mmio.size"),
                    DeviceKey::Interrupts => f.write_str(" interrupts"),
                    DeviceKey::Interrupt(position) => write!(f, " interrupts[{position}]"),
                    DeviceKey::Compatible => f.write_str(" compatible"),
                    DeviceKey::CompatibleEntry(position) => write!(f, " compatible[{position}]"),
                }
            }
            Self::Personality { personality, key } => {
                write!(f, "{personality}")?;
                match key {
                    FieldKey::Table => Ok(()),
                    FieldKey::Name => f.write_str(" name"),
                    FieldKey::Cpus => f.write_str(" cpus"),
                    FieldKey::Cpu(position) => write!(f, " cpus[{position}]"),
                    FieldKey::Ram => f.write_str(" ram"),
                    FieldKey::RamBase => f.write_str(" ram.base"),
                    FieldKey::RamSize => f.write_str(" ram.size"),
                    FieldKey::Kernel => f.write_str(" kernel"),
                    FieldKey::Initrd => f.write_str(" initrd"),
                    FieldKey::Cmdline => f.write_str(" cmdline"),
                    FieldKey::Disk => f.write_str(" disk"),
                    FieldKey::DiskPartition => f.write_str(" disk.partition"),
                    FieldKey::DiskEncrypted => f.write_str(" disk.encrypted"),
                }
            }
        }
    }
}

/// Parses a byte count or address written as a string: decimal or `0x` hex
/// digits (with optional `_` separators), then an optional binary suffix
/// `K`, `M`, `G` (or `KiB`, `MiB`, `GiB`). `None` if malformed or too large.
pub fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let (number, multiplier) = [("KiB", 1u64 << 10), ("MiB", 1 << 20), ("GiB", 1 << 30), ("K", 1 << 10), ("M", 1 << 20), ("G", 1 << 30)]
        .into_iter()
        .find_map(|(suffix, multiplier)| text.strip_suffix(suffix).map(|number| (number, multiplier)))
        .unwrap_or((text, 1));
    let (digits, radix) = match number.strip_prefix("0x").or_else(|| number.strip_prefix("0X")) {
        Some(hex) => (hex, 16),
        None => (number, 10),
    };
    if digits.is_empty() || digits.starts_with('_') || !digits.chars().all(|c| c == '_' || c.is_digit(radix)) {
        return None;
    }
    let value = digits.chars().filter_map(|c| c.to_digit(radix)).try_fold(0u64, |value, digit| value.checked_mul(radix.into())?.checked_add(digit.into()))?;
    value.checked_mul(multiplier)
}
