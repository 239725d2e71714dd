//! Checks a parsed manifest against a board and reports every problem, each
//! with the field it is about, the actual values and how to fix it.

use std::fmt;

use janus_platform::{BoardDescription, PhysRange};

use crate::model::{DeviceKey, DeviceRef, FieldKey, FieldPath, Manifest, PersonalityConfig, PersonalityRef};
use crate::plan::DiskPartition;
use crate::rules::{
    DEVICE_ALIGNMENT, FIRST_SPI, LAST_SPI, MAX_CMDLINE_LENGTH, MAX_DEVICE_INTERRUPTS, MAX_DEVICES, MAX_PERSONALITIES, MAX_VCPUS, MIB, MIN_RAM_SIZE,
    NameProblem, RAM_ALIGNMENT, ReservedInterrupt, ReservedRegion, align_down, align_up, check_name, mebibytes_rounded_up,
};

mod devices;

/// One problem with a manifest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ValidationError {
    /// `board` names a different board than the one being built for.
    BoardMismatch {
        /// The manifest's `board`.
        manifest_board: String,
        /// The board being built for.
        board: String,
    },
    /// There is no `[[personality]]`.
    NoPersonalities,
    /// More than [`MAX_PERSONALITIES`] personalities; reported on the first
    /// one past the limit.
    TooManyPersonalities {
        /// How many there are.
        count: usize,
        /// The first personality past the limit.
        extra: PersonalityRef,
    },
    /// The name breaks the naming rule.
    InvalidName {
        /// The personality.
        personality: PersonalityRef,
        /// What is wrong with the name.
        problem: NameProblem,
    },
    /// An earlier personality has the same name.
    DuplicateName {
        /// The later personality.
        personality: PersonalityRef,
        /// The earlier one's index.
        first_index: usize,
    },
    /// `cpus` is empty.
    NoCpus {
        /// The personality.
        personality: PersonalityRef,
    },
    /// More cores than [`MAX_VCPUS`].
    TooManyCpus {
        /// The personality.
        personality: PersonalityRef,
        /// How many cores are listed.
        count: usize,
    },
    /// A core is listed twice.
    DuplicateCpu {
        /// The personality.
        personality: PersonalityRef,
        /// Position of the second occurrence in `cpus`.
        position: usize,
        /// The core index.
        cpu: u8,
    },
    /// A core index the board does not have.
    CpuNotOnBoard {
        /// The personality.
        personality: PersonalityRef,
        /// Position in `cpus`.
        position: usize,
        /// The core index.
        cpu: u8,
        /// How many cores the board has.
        board_cpus: usize,
    },
    /// A core an earlier personality already has.
    CpuShared {
        /// The later personality.
        personality: PersonalityRef,
        /// Position in `cpus`.
        position: usize,
        /// The core index.
        cpu: u8,
        /// The earlier personality's name.
        other: String,
    },
    /// `ram.base` is not 2 MiB aligned.
    RamBaseMisaligned {
        /// The personality.
        personality: PersonalityRef,
        /// The base.
        base: u64,
    },
    /// `ram.size` is not a multiple of 2 MiB.
    RamSizeMisaligned {
        /// The personality.
        personality: PersonalityRef,
        /// The size.
        size: u64,
    },
    /// `ram.size` is below the 16 MiB minimum.
    RamTooSmall {
        /// The personality.
        personality: PersonalityRef,
        /// The size.
        size: u64,
    },
    /// `ram.base + ram.size` overflows.
    RamWraps {
        /// The personality.
        personality: PersonalityRef,
        /// The RAM range.
        ram: PhysRange,
    },
    /// The RAM is not inside the board's RAM.
    RamOutsideBoard {
        /// The personality.
        personality: PersonalityRef,
        /// The RAM range.
        ram: PhysRange,
        /// The board's RAM.
        board_ram: PhysRange,
    },
    /// The RAM overlaps the hypervisor's own region.
    RamOverlapsHypervisor {
        /// The personality.
        personality: PersonalityRef,
        /// The RAM range.
        ram: PhysRange,
        /// The hypervisor's region.
        hypervisor: PhysRange,
    },
    /// The RAM overlaps an earlier personality's RAM.
    RamOverlapsPersonality {
        /// The later personality.
        personality: PersonalityRef,
        /// Its RAM.
        ram: PhysRange,
        /// The earlier personality.
        other: PersonalityRef,
        /// The earlier personality's RAM.
        other_ram: PhysRange,
    },
    /// `kernel` is empty.
    EmptyKernel {
        /// The personality.
        personality: PersonalityRef,
    },
    /// `cmdline` is longer than 2047 bytes.
    CmdlineTooLong {
        /// The personality.
        personality: PersonalityRef,
        /// Its length in bytes.
        length: usize,
    },
    /// `cmdline` contains a NUL or a line break.
    CmdlineBadCharacter {
        /// The personality.
        personality: PersonalityRef,
        /// The character.
        character: char,
        /// Its byte offset.
        position: usize,
    },
    /// `disk` names a partition an earlier personality already has: each
    /// could read and write the other's data.
    DiskShared {
        /// The later personality.
        personality: PersonalityRef,
        /// The partition.
        partition: DiskPartition,
        /// The earlier personality's name.
        other: String,
    },
    /// `disk` is given but the board has no storage to back it.
    DiskWithoutStorage {
        /// The personality.
        personality: PersonalityRef,
        /// The board's name.
        board: String,
    },
    /// More than [`MAX_DEVICES`] devices; reported on the first one past
    /// the limit.
    TooManyDevices {
        /// The personality.
        personality: PersonalityRef,
        /// The first device past the limit.
        device: DeviceRef,
        /// How many devices the personality has.
        count: usize,
    },
    /// A device name breaks the naming rule.
    DeviceInvalidName {
        /// The personality.
        personality: PersonalityRef,
        /// The device.
        device: DeviceRef,
        /// What is wrong with the name.
        problem: NameProblem,
    },
    /// An earlier device of the same personality has the same name.
    DeviceDuplicateName {
        /// The personality.
        personality: PersonalityRef,
        /// The later device.
        device: DeviceRef,
        /// The earlier device's position.
        first_index: usize,
    },
    /// `mmio.size` is zero.
    DeviceMmioEmpty {
        /// The personality.
        personality: PersonalityRef,
        /// The device.
        device: DeviceRef,
    },
    /// `mmio.base + mmio.size` overflows.
    DeviceMmioWraps {
        /// The personality.
        personality: PersonalityRef,
        /// The device.
        device: DeviceRef,
        /// The MMIO range.
        mmio: PhysRange,
    },
    /// `mmio.base` is not 4 KiB aligned.
    DeviceMmioBaseMisaligned {
        /// The personality.
        personality: PersonalityRef,
        /// The device.
        device: DeviceRef,
        /// The base.
        base: u64,
    },
    /// `mmio.size` is not a multiple of 4 KiB.
    DeviceMmioSizeMisaligned {
        /// The personality.
        personality: PersonalityRef,
        /// The device.
        device: DeviceRef,
        /// The size.
        size: u64,
    },
    /// The MMIO range overlaps a region Janus keeps for itself or emulates
    /// a device in (board RAM, its UART, the GIC, the hotkey button, its
    /// storage, the guest UART and disk windows).
    DeviceMmioReserved {
        /// The personality.
        personality: PersonalityRef,
        /// The device.
        device: DeviceRef,
        /// The MMIO range.
        mmio: PhysRange,
        /// The region.
        region: ReservedRegion,
        /// Its range.
        range: PhysRange,
    },
    /// The board does not declare the device unable to master DMA, and
    /// Janus programs no IOMMU.
    DeviceMmioDmaCapable {
        /// The personality.
        personality: PersonalityRef,
        /// The device.
        device: DeviceRef,
        /// The MMIO range.
        mmio: PhysRange,
        /// The ranges the board declares DMA-incapable.
        allowed: Vec<PhysRange>,
    },
    /// The MMIO range overlaps an earlier device's, of this personality or
    /// another: both would drive the same hardware.
    DeviceMmioOverlap {
        /// The personality.
        personality: PersonalityRef,
        /// The later device.
        device: DeviceRef,
        /// Its MMIO range.
        mmio: PhysRange,
        /// The earlier device's personality.
        other: PersonalityRef,
        /// The earlier device.
        other_device: DeviceRef,
        /// The earlier device's MMIO range.
        other_mmio: PhysRange,
    },
    /// `compatible` is empty.
    DeviceNoCompatible {
        /// The personality.
        personality: PersonalityRef,
        /// The device.
        device: DeviceRef,
    },
    /// A `compatible` entry is empty or has a character a device tree
    /// compatible string does not.
    DeviceBadCompatible {
        /// The personality.
        personality: PersonalityRef,
        /// The device.
        device: DeviceRef,
        /// Position in `compatible`.
        position: usize,
        /// The entry.
        entry: String,
    },
    /// More than [`MAX_DEVICE_INTERRUPTS`] interrupts.
    TooManyDeviceInterrupts {
        /// The personality.
        personality: PersonalityRef,
        /// The device.
        device: DeviceRef,
        /// How many are listed.
        count: usize,
    },
    /// An interrupt is not an SPI a personality can have (32..=255).
    DeviceInterruptNotSpi {
        /// The personality.
        personality: PersonalityRef,
        /// The device.
        device: DeviceRef,
        /// Position in `interrupts`.
        position: usize,
        /// The interrupt ID.
        interrupt: u32,
    },
    /// An interrupt Janus keeps (its UART, the hotkey button, the emulated
    /// guest UART and disk).
    DeviceInterruptReserved {
        /// The personality.
        personality: PersonalityRef,
        /// The device.
        device: DeviceRef,
        /// Position in `interrupts`.
        position: usize,
        /// The interrupt ID.
        interrupt: u32,
        /// Who has it.
        owner: ReservedInterrupt,
    },
    /// An interrupt an earlier device (of any personality) already has, or
    /// that this device lists twice.
    DeviceInterruptShared {
        /// The personality.
        personality: PersonalityRef,
        /// The later device.
        device: DeviceRef,
        /// Position in `interrupts`.
        position: usize,
        /// The interrupt ID.
        interrupt: u32,
        /// The earlier device's personality.
        other: PersonalityRef,
        /// The earlier device (this one if it lists the interrupt twice).
        other_device: DeviceRef,
    },
}

impl ValidationError {
    /// The manifest field the problem is about.
    pub fn field(&self) -> FieldPath {
        let at = |personality: &PersonalityRef, key| FieldPath::Personality { personality: personality.clone(), key };
        let at_device =
            |personality: &PersonalityRef, device: &DeviceRef, key| FieldPath::Device { personality: personality.clone(), device: device.clone(), key };
        match self {
            Self::BoardMismatch { .. } => FieldPath::Board,
            Self::NoPersonalities => FieldPath::Personalities,
            Self::TooManyPersonalities { extra, .. } => at(extra, FieldKey::Table),
            Self::InvalidName { personality, .. } | Self::DuplicateName { personality, .. } => at(personality, FieldKey::Name),
            Self::NoCpus { personality } | Self::TooManyCpus { personality, .. } => at(personality, FieldKey::Cpus),
            Self::DuplicateCpu { personality, position, .. }
            | Self::CpuNotOnBoard { personality, position, .. }
            | Self::CpuShared { personality, position, .. } => at(personality, FieldKey::Cpu(*position)),
            Self::RamBaseMisaligned { personality, .. }
            | Self::RamOutsideBoard { personality, .. }
            | Self::RamOverlapsHypervisor { personality, .. }
            | Self::RamOverlapsPersonality { personality, .. } => at(personality, FieldKey::RamBase),
            Self::RamSizeMisaligned { personality, .. } | Self::RamTooSmall { personality, .. } => at(personality, FieldKey::RamSize),
            Self::RamWraps { personality, .. } => at(personality, FieldKey::Ram),
            Self::EmptyKernel { personality } => at(personality, FieldKey::Kernel),
            Self::CmdlineTooLong { personality, .. } | Self::CmdlineBadCharacter { personality, .. } => at(personality, FieldKey::Cmdline),
            Self::DiskShared { personality, .. } => at(personality, FieldKey::DiskPartition),
            Self::DiskWithoutStorage { personality, .. } => at(personality, FieldKey::Disk),
            Self::TooManyDevices { personality, device, .. } => at_device(personality, device, DeviceKey::Table),
            Self::DeviceInvalidName { personality, device, .. } | Self::DeviceDuplicateName { personality, device, .. } => {
                at_device(personality, device, DeviceKey::Name)
            }
            Self::DeviceMmioEmpty { personality, device } | Self::DeviceMmioSizeMisaligned { personality, device, .. } => {
                at_device(personality, device, DeviceKey::MmioSize)
            }
            Self::DeviceMmioWraps { personality, device, .. } => at_device(personality, device, DeviceKey::Mmio),
            Self::DeviceMmioBaseMisaligned { personality, device, .. }
            | Self::DeviceMmioReserved { personality, device, .. }
            | Self::DeviceMmioDmaCapable { personality, device, .. }
            | Self::DeviceMmioOverlap { personality, device, .. } => at_device(personality, device, DeviceKey::MmioBase),
            Self::DeviceNoCompatible { personality, device } => at_device(personality, device, DeviceKey::Compatible),
            Self::DeviceBadCompatible { personality, device, position, .. } => at_device(personality, device, DeviceKey::CompatibleEntry(*position)),
            Self::TooManyDeviceInterrupts { personality, device, .. } => at_device(personality, device, DeviceKey::Interrupts),
            Self::DeviceInterruptNotSpi { personality, device, position, .. }
            | Self::DeviceInterruptReserved { personality, device, position, .. }
            | Self::DeviceInterruptShared { personality, device, position, .. } => at_device(personality, device, DeviceKey::Interrupt(*position)),
        }
    }

    /// What is wrong, with the actual values.
    pub fn problem(&self) -> String {
        match self {
            Self::BoardMismatch { manifest_board, board } => {
                format!("the manifest is for board {manifest_board:?} but the build is for board {board:?}")
            }
            Self::NoPersonalities => "the manifest defines no personality".to_owned(),
            Self::TooManyPersonalities { count, .. } => {
                format!("this is one of {count} personalities, more than the {MAX_PERSONALITIES} allowed")
            }
            Self::InvalidName { personality, problem } => format!("{:?}: {problem}", personality.name),
            Self::DuplicateName { personality, first_index } => format!("the name {:?} is already used by personality #{}", personality.name, first_index + 1),
            Self::NoCpus { .. } => "no core is listed".to_owned(),
            Self::TooManyCpus { count, .. } => {
                format!("{count} cores are listed, more than the {MAX_VCPUS} virtual CPUs a personality may have")
            }
            Self::DuplicateCpu { cpu, .. } => format!("core {cpu} is listed twice"),
            Self::CpuNotOnBoard { cpu, board_cpus, .. } => {
                format!("core {cpu} does not exist: the board has {board_cpus} cores")
            }
            Self::CpuShared { cpu, other, .. } => {
                format!("core {cpu} is already given to personality {other:?}")
            }
            Self::RamBaseMisaligned { base, .. } => format!("base {base:#x} is not 2 MiB aligned"),
            Self::RamSizeMisaligned { size, .. } => {
                format!("size {size:#x} is not a multiple of 2 MiB")
            }
            Self::RamTooSmall { size, .. } => {
                format!("size {size:#x} ({} MiB) is below the 16 MiB minimum", size / MIB)
            }
            Self::RamWraps { ram, .. } => {
                format!("base {:#x} plus size {:#x} runs past the end of the address space", ram.start.get(), ram.size)
            }
            Self::RamOutsideBoard { ram, board_ram, .. } => {
                format!("RAM {ram} is not inside the board's RAM {board_ram}")
            }
            Self::RamOverlapsHypervisor { ram, hypervisor, .. } => {
                format!("RAM {ram} overlaps the hypervisor's region {hypervisor}")
            }
            Self::RamOverlapsPersonality { ram, other, other_ram, .. } => {
                format!("RAM {ram} overlaps {other}'s RAM {other_ram}")
            }
            Self::EmptyKernel { .. } => "no kernel is given".to_owned(),
            Self::CmdlineTooLong { length, .. } => {
                format!("the command line is {length} bytes, longer than the {MAX_CMDLINE_LENGTH} allowed")
            }
            Self::CmdlineBadCharacter { character, position, .. } => {
                format!("the command line contains {character:?} at byte {position}")
            }
            Self::DiskShared { partition, other, .. } => {
                format!("partition \"{partition}\" is already the disk of personality {other:?}; sharing it would let each read and write the other's data")
            }
            Self::DiskWithoutStorage { board, .. } => {
                format!("board {board:?} has no storage to back a disk")
            }
            Self::TooManyDevices { count, .. } => format!("this is one of the personality's {count} devices, more than the {MAX_DEVICES} allowed"),
            Self::DeviceInvalidName { device, problem, .. } => format!("{:?}: {problem}", device.name),
            Self::DeviceDuplicateName { device, first_index, .. } => {
                format!("the name {:?} is already used by the personality's device #{}", device.name, first_index + 1)
            }
            Self::DeviceMmioEmpty { .. } => "size is 0".to_owned(),
            Self::DeviceMmioWraps { mmio, .. } => format!("base {:#x} plus size {:#x} runs past the end of the address space", mmio.start.get(), mmio.size),
            Self::DeviceMmioBaseMisaligned { base, .. } => {
                format!("base {base:#x} is not 4 KiB (page) aligned")
            }
            Self::DeviceMmioSizeMisaligned { size, .. } => {
                format!("size {size:#x} is not a multiple of 4 KiB (a page)")
            }
            Self::DeviceMmioReserved { mmio, region, range, .. } => format!("MMIO {mmio} overlaps {region} {range}, which Janus keeps for itself"),
            Self::DeviceMmioDmaCapable { mmio, .. } => format!(
                "the device at MMIO {mmio} may master DMA (the board does not declare it DMA-incapable) and Janus programs no IOMMU: the personality could make it write any physical memory"
            ),
            Self::DeviceMmioOverlap { mmio, other, other_device, other_mmio, .. } => format!("MMIO {mmio} overlaps {other} {other_device}'s MMIO {other_mmio}"),
            Self::DeviceNoCompatible { .. } => "the compatible list is empty".to_owned(),
            Self::DeviceBadCompatible { entry, .. } => {
                format!("{entry:?} is not a device tree compatible string")
            }
            Self::TooManyDeviceInterrupts { count, .. } => format!("{count} interrupts are listed, more than the {MAX_DEVICE_INTERRUPTS} a device may have"),
            Self::DeviceInterruptNotSpi { interrupt, .. } => {
                format!("interrupt {interrupt} is not an SPI a personality can be given ({FIRST_SPI} to {LAST_SPI}: its virtual GIC has 224 SPIs)")
            }
            Self::DeviceInterruptReserved { interrupt, owner, .. } => format!("interrupt {interrupt} belongs to {owner}, which Janus keeps for itself"),
            Self::DeviceInterruptShared { device, interrupt, other, other_device, personality, .. } => {
                if other == personality && other_device == device {
                    format!("interrupt {interrupt} is listed twice")
                } else {
                    format!("interrupt {interrupt} is already given to {other} {other_device}")
                }
            }
        }
    }

    /// How to fix it.
    pub fn fix(&self) -> String {
        match self {
            Self::BoardMismatch { manifest_board, board } => {
                format!("set board = {board:?}, or build for board {manifest_board:?}")
            }
            Self::NoPersonalities => "add a [[personality]] table with name, cpus, ram and kernel".to_owned(),
            Self::TooManyPersonalities { count, .. } => {
                format!("remove {} personalities", count.saturating_sub(MAX_PERSONALITIES))
            }
            Self::InvalidName { .. } => "use 1 to 15 characters of a-z, 0-9 and '-', starting with a letter (e.g. \"work\")".to_owned(),
            Self::DuplicateName { .. } => "give every personality a different name".to_owned(),
            Self::NoCpus { .. } => "list at least one physical core index, e.g. cpus = [0]".to_owned(),
            Self::TooManyCpus { .. } => format!("list at most {MAX_VCPUS} cores"),
            Self::DuplicateCpu { cpu, .. } => format!("list core {cpu} only once"),
            Self::CpuNotOnBoard { board_cpus, .. } => {
                format!("use core indexes 0 to {}", board_cpus.saturating_sub(1))
            }
            Self::CpuShared { personality, cpu, other, .. } => {
                format!("give each core to one personality: remove core {cpu} from {} or from {other}", personality.name)
            }
            Self::RamBaseMisaligned { base, .. } => {
                let down = align_down(*base, RAM_ALIGNMENT);
                match align_up(*base, RAM_ALIGNMENT) {
                    Some(up) => format!("use base = {down:#x} or {up:#x}"),
                    None => format!("use base = {down:#x}"),
                }
            }
            Self::RamSizeMisaligned { size, .. } => {
                let down = align_down(*size, RAM_ALIGNMENT) / MIB;
                let up = mebibytes_rounded_up(*size).next_multiple_of(RAM_ALIGNMENT / MIB);
                format!("use size = \"{down}M\" or \"{up}M\"")
            }
            Self::RamTooSmall { personality, .. } => format!("give {} at least size = \"{}M\"", personality.name, MIN_RAM_SIZE / MIB),
            Self::RamWraps { .. } => "lower ram.base or ram.size".to_owned(),
            Self::RamOutsideBoard { personality, board_ram, .. } => {
                format!("place {}'s RAM within the board's RAM {board_ram}", personality.name)
            }
            Self::RamOverlapsHypervisor { personality, hypervisor, .. } => format!(
                "move {}'s RAM to start at or above {:#x} or to end at or below {:#x}",
                personality.name,
                hypervisor.end().unwrap_or(u64::MAX),
                hypervisor.start.get()
            ),
            Self::RamOverlapsPersonality { personality, ram, other, other_ram } => {
                let (name, other_name) = (&personality.name, &other.name);
                if ram.start >= other_ram.start {
                    format!(
                        "move {name}'s RAM above {:#x} or shrink {other_name}'s to end at or below {:#x}",
                        other_ram.end().unwrap_or(u64::MAX),
                        ram.start.get()
                    )
                } else {
                    format!(
                        "shrink {name}'s RAM to end at or below {:#x} or move {other_name}'s above {:#x}",
                        other_ram.start.get(),
                        ram.end().unwrap_or(u64::MAX)
                    )
                }
            }
            Self::EmptyKernel { .. } => "set kernel = \"builtin:NAME\" or a path to an arm64 Image, ELF or raw binary".to_owned(),
            Self::CmdlineTooLong { .. } => {
                format!("shorten the command line to {MAX_CMDLINE_LENGTH} bytes")
            }
            Self::CmdlineBadCharacter { .. } => "write the command line on one line, arguments separated by spaces".to_owned(),
            Self::DiskShared { personality, partition, other } => {
                let free: Vec<String> =
                    DiskPartition::ALL.into_iter().filter(|candidate| candidate != partition).map(|candidate| format!("\"{candidate}\"")).collect();
                format!(
                    "give each personality its own partition: remove the disk from {} or {other}, or use partition = {}",
                    personality.name,
                    free.join(" or ")
                )
            }
            Self::DiskWithoutStorage { personality, .. } => {
                format!("remove the disk from {}, or build for a board with storage (e.g. qemu-virt)", personality.name)
            }
            Self::TooManyDevices { personality, count, .. } => format!("remove {} devices from {}", count.saturating_sub(MAX_DEVICES), personality.name),
            Self::DeviceInvalidName { .. } => "use 1 to 15 characters of a-z, 0-9 and '-', starting with a letter (e.g. \"rtc\")".to_owned(),
            Self::DeviceDuplicateName { .. } => "give every device of a personality a different name".to_owned(),
            Self::DeviceMmioEmpty { .. } => "give the size of the device's register window, e.g. size = \"4K\"".to_owned(),
            Self::DeviceMmioWraps { .. } => "lower mmio.base or mmio.size".to_owned(),
            Self::DeviceMmioBaseMisaligned { base, .. } => {
                format!("use base = {:#x}, the start of the page holding the registers, and a size that covers them", align_down(*base, DEVICE_ALIGNMENT))
            }
            Self::DeviceMmioSizeMisaligned { size, .. } => match align_up(*size, DEVICE_ALIGNMENT) {
                Some(up) => format!("use size = {up:#x} (whole pages)"),
                None => "use a size that is a whole number of 4 KiB pages".to_owned(),
            },
            Self::DeviceMmioReserved { range, .. } => {
                format!("pass through only a device that Janus does not use or emulate: its registers must lie outside {range}")
            }
            Self::DeviceMmioDmaCapable { allowed, .. } if allowed.is_empty() => {
                "this board declares no device DMA-incapable, so none can be passed through: remove the device".to_string()
            }
            Self::DeviceMmioDmaCapable { allowed, .. } => format!(
                "pass through only a device the board declares DMA-incapable: {}",
                allowed.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
            ),
            Self::DeviceMmioOverlap { personality, device, other, other_device, .. } => {
                if personality == other {
                    format!("correct the mmio of {device} or {other_device}: two devices cannot share registers")
                } else {
                    format!("give the device to one personality only: remove {device} from {} or {other_device} from {}", personality.name, other.name)
                }
            }
            Self::DeviceNoCompatible { .. } => {
                "list the device's compatible strings, most specific first, e.g. compatible = [\"arm,pl031\", \"arm,primecell\"]".to_owned()
            }
            Self::DeviceBadCompatible { .. } => "write \"manufacturer,model\" using letters, digits and , . _ + - only (e.g. \"arm,pl031\")".to_owned(),
            Self::TooManyDeviceInterrupts { .. } => {
                format!("list at most {MAX_DEVICE_INTERRUPTS} interrupts")
            }
            Self::DeviceInterruptNotSpi { .. } => format!(
                "use the device's GIC interrupt ID, an SPI from {FIRST_SPI} to {LAST_SPI} (SPI n in a device tree is INTID 32 + n); SGIs and PPIs cannot be passed through"
            ),
            Self::DeviceInterruptReserved { interrupt, .. } => format!("remove interrupt {interrupt}, and pass through only a device that Janus does not use"),
            Self::DeviceInterruptShared { personality, device, interrupt, other, other_device, .. } => {
                if other == personality && other_device == device {
                    format!("list interrupt {interrupt} once")
                } else {
                    format!("give each interrupt to one device: remove {interrupt} from {personality} {device} or from {other} {other_device}")
                }
            }
        }
    }
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}. Fix: {}", self.field(), self.problem(), self.fix())
    }
}

impl std::error::Error for ValidationError {}

/// Checks `manifest` against `board` and returns every problem found.
pub fn validate(manifest: &Manifest, board: &BoardDescription) -> Result<(), Vec<ValidationError>> {
    let mut errors = Vec::new();
    if manifest.board != board.name.as_str() {
        errors.push(ValidationError::BoardMismatch { manifest_board: manifest.board.clone(), board: board.name.as_str().to_owned() });
    }
    if manifest.personalities.is_empty() {
        errors.push(ValidationError::NoPersonalities);
    }
    if let Some(extra) = manifest.personalities.get(MAX_PERSONALITIES) {
        errors.push(ValidationError::TooManyPersonalities { count: manifest.personalities.len(), extra: reference(MAX_PERSONALITIES, extra) });
    }
    for (index, personality) in manifest.personalities.iter().enumerate() {
        check_personality(index, personality, board, &mut errors);
    }
    for (index, personality) in manifest.personalities.iter().enumerate() {
        check_against_earlier(index, personality, &manifest.personalities, board, &mut errors);
    }
    devices::check_devices(manifest, board, &mut errors);
    if errors.is_empty() { Ok(()) } else { Err(errors) }
}

fn reference(index: usize, personality: &PersonalityConfig) -> PersonalityRef {
    PersonalityRef { index, name: personality.name.clone() }
}

fn check_personality(index: usize, personality: &PersonalityConfig, board: &BoardDescription, errors: &mut Vec<ValidationError>) {
    let me = || reference(index, personality);
    if let Err(problem) = check_name(&personality.name) {
        errors.push(ValidationError::InvalidName { personality: me(), problem });
    }

    if personality.cpus.is_empty() {
        errors.push(ValidationError::NoCpus { personality: me() });
    }
    if personality.cpus.len() > MAX_VCPUS {
        errors.push(ValidationError::TooManyCpus { personality: me(), count: personality.cpus.len() });
    }
    for (position, &cpu) in personality.cpus.iter().enumerate() {
        if personality.cpus.iter().take(position).any(|&earlier| earlier == cpu) {
            errors.push(ValidationError::DuplicateCpu { personality: me(), position, cpu });
        } else if usize::from(cpu) >= board.cpus.len() {
            errors.push(ValidationError::CpuNotOnBoard { personality: me(), position, cpu, board_cpus: board.cpus.len() });
        }
    }

    let ram = personality.ram;
    if !ram.start.is_aligned(RAM_ALIGNMENT) {
        errors.push(ValidationError::RamBaseMisaligned { personality: me(), base: ram.start.get() });
    }
    if !ram.size.is_multiple_of(RAM_ALIGNMENT) {
        errors.push(ValidationError::RamSizeMisaligned { personality: me(), size: ram.size });
    }
    if ram.size < MIN_RAM_SIZE {
        errors.push(ValidationError::RamTooSmall { personality: me(), size: ram.size });
    }
    if ram.end().is_none() {
        errors.push(ValidationError::RamWraps { personality: me(), ram });
    } else if !board.ram.contains_span(ram.start.get(), ram.size) {
        errors.push(ValidationError::RamOutsideBoard { personality: me(), ram, board_ram: board.ram });
    } else if ram.overlaps(&board.hypervisor) {
        errors.push(ValidationError::RamOverlapsHypervisor { personality: me(), ram, hypervisor: board.hypervisor });
    }

    if personality.kernel.trim().is_empty() {
        errors.push(ValidationError::EmptyKernel { personality: me() });
    }
    if personality.cmdline.len() > MAX_CMDLINE_LENGTH {
        errors.push(ValidationError::CmdlineTooLong { personality: me(), length: personality.cmdline.len() });
    }
    if let Some((position, character)) = personality.cmdline.char_indices().find(|&(_, c)| matches!(c, '\0' | '\n' | '\r')) {
        errors.push(ValidationError::CmdlineBadCharacter { personality: me(), character, position });
    }

    if personality.disk.is_some() && board.storage.is_none() {
        errors.push(ValidationError::DiskWithoutStorage { personality: me(), board: board.name.as_str().to_owned() });
    }
}

fn check_against_earlier(
    index: usize,
    personality: &PersonalityConfig,
    all: &[PersonalityConfig],
    board: &BoardDescription,
    errors: &mut Vec<ValidationError>,
) {
    let me = || reference(index, personality);
    let earlier = all.iter().take(index).enumerate();
    if !personality.name.is_empty()
        && let Some((first_index, _)) = earlier.clone().find(|(_, other)| other.name == personality.name)
    {
        errors.push(ValidationError::DuplicateName { personality: me(), first_index });
    }
    for (position, &cpu) in personality.cpus.iter().enumerate() {
        let first_listing = !personality.cpus.iter().take(position).any(|&c| c == cpu);
        if !first_listing || usize::from(cpu) >= board.cpus.len() {
            continue;
        }
        if let Some((_, other)) = earlier.clone().find(|(_, other)| other.cpus.contains(&cpu)) {
            errors.push(ValidationError::CpuShared { personality: me(), position, cpu, other: other.name.clone() });
        }
    }
    if let Some(disk) = personality.disk
        && let Some((_, other)) = earlier.clone().find(|(_, other)| other.disk.is_some_and(|other_disk| other_disk.partition == disk.partition))
    {
        errors.push(ValidationError::DiskShared { personality: me(), partition: disk.partition, other: other.name.clone() });
    }
    if personality.ram.end().is_none() {
        return;
    }
    for (other_index, other) in earlier {
        if other.ram.end().is_some() && personality.ram.overlaps(&other.ram) {
            errors.push(ValidationError::RamOverlapsPersonality {
                personality: me(),
                ram: personality.ram,
                other: reference(other_index, other),
                other_ram: other.ram,
            });
        }
    }
}
