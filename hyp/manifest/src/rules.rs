//! Limits and rules shared by the host-side validator and the boot-time plan
//! check, so the two can never disagree about what a valid system is.

use core::fmt;

use janus_platform::{
    BoardDescription, DmaMaster, GUEST_UART_WINDOW_SIZE, GicRegion, GuestPhysAddr, PRIMECELL_WINDOW_SIZE, PhysRange, VIRTIO_MMIO_WINDOW_SIZE,
};

/// Most personalities one system may run.
pub const MAX_PERSONALITIES: usize = 4;
/// Most virtual CPUs one personality may have (one per physical core).
pub const MAX_VCPUS: usize = 8;
/// Longest personality name, in bytes.
pub const MAX_NAME_LENGTH: usize = 15;
/// One mebibyte.
pub const MIB: u64 = 1 << 20;
/// Personality RAM base and size must be multiples of this (one stage-2
/// level-2 block).
pub const RAM_ALIGNMENT: u64 = 2 * MIB;
/// Smallest RAM a personality may have.
pub const MIN_RAM_SIZE: u64 = 16 * MIB;
/// Largest device tree blob (the arm64 boot protocol's limit).
pub const MAX_DTB_SIZE: u64 = 2 * MIB;
/// Longest kernel command line, in bytes (without the terminating NUL).
pub const MAX_CMDLINE_LENGTH: usize = 2047;
/// Most devices one personality may be given (`[[personality.device]]`).
pub const MAX_DEVICES: usize = 4;
/// Most interrupts one device may have.
pub const MAX_DEVICE_INTERRUPTS: usize = 4;
/// A device's MMIO base and size must be multiples of this (one stage-2
/// page).
pub const DEVICE_ALIGNMENT: u64 = 4096;
/// The first shared peripheral interrupt ID (GIC architecture, IHI 0069H
/// §2.2.1: SPIs are INTIDs 32..=1019).
pub const FIRST_SPI: u32 = 32;
/// The last SPI a personality can be given: the GIC architecture allows
/// up to 1019, but each personality's virtual GIC (janus-vgic, 224 SPIs)
/// shows INTIDs below 256, so a device interrupt above 255 could never be
/// delivered and is refused at build time rather than at boot.
pub const LAST_SPI: u32 = 255;

/// What is wrong with a personality name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameProblem {
    /// The name is empty.
    Empty,
    /// The name is longer than [`MAX_NAME_LENGTH`] bytes.
    TooLong {
        /// Its length in bytes.
        length: usize,
    },
    /// The name does not start with a lowercase letter.
    DoesNotStartWithLetter,
    /// The name contains a character outside `[a-z0-9-]`.
    BadCharacter {
        /// The first offending character.
        character: char,
    },
}

impl fmt::Display for NameProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => write!(f, "the name is empty"),
            Self::TooLong { length } => {
                write!(f, "the name is {length} bytes long, longer than the {MAX_NAME_LENGTH} allowed")
            }
            Self::DoesNotStartWithLetter => {
                write!(f, "the name does not start with a lowercase letter")
            }
            Self::BadCharacter { character } => {
                write!(f, "the name contains {character:?}; only a-z, 0-9 and '-' are allowed")
            }
        }
    }
}

/// Checks a personality name: 1 to 15 bytes of `[a-z0-9-]`, starting with a
/// letter.
pub fn check_name(name: &str) -> Result<(), NameProblem> {
    let mut characters = name.chars();
    let Some(first) = characters.next() else {
        return Err(NameProblem::Empty);
    };
    if name.len() > MAX_NAME_LENGTH {
        return Err(NameProblem::TooLong { length: name.len() });
    }
    if let Some(character) = name.chars().find(|c| !matches!(c, 'a'..='z' | '0'..='9' | '-')) {
        return Err(NameProblem::BadCharacter { character });
    }
    if !first.is_ascii_lowercase() {
        return Err(NameProblem::DoesNotStartWithLetter);
    }
    Ok(())
}

/// `value` rounded down to a multiple of `alignment` (a power of two).
pub const fn align_down(value: u64, alignment: u64) -> u64 {
    value & !(alignment.wrapping_sub(1))
}

/// `value` rounded up to a multiple of `alignment` (a power of two), or
/// `None` on overflow.
pub const fn align_up(value: u64, alignment: u64) -> Option<u64> {
    match value.checked_add(alignment.wrapping_sub(1)) {
        Some(bumped) => Some(align_down(bumped, alignment)),
        None => None,
    }
}

/// `bytes` in whole mebibytes, rounded up.
pub const fn mebibytes_rounded_up(bytes: u64) -> u64 {
    bytes.div_ceil(MIB)
}

/// Whether `interrupt` is a shared peripheral interrupt (the only kind a
/// device can be given; SGIs and PPIs belong to each core).
pub const fn is_spi(interrupt: u32) -> bool {
    interrupt >= FIRST_SPI && interrupt <= LAST_SPI
}

/// A region of the physical address map that Janus keeps for itself or
/// emulates a device in: no passed-through device may overlap it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReservedRegion {
    /// The board's RAM (the hypervisor's and every personality's).
    BoardRam,
    /// Janus' console UART.
    Uart,
    /// A region of the interrupt controller.
    Gic(GicRegion),
    /// The hotkey button's GPIO controller.
    HotkeyButton,
    /// The virtio-mmio transports Janus probes for its disk.
    Storage,
    /// Where each personality sees its emulated PL011.
    GuestUart,
    /// Where each personality sees its emulated virtio-blk disk.
    GuestDisk,
    /// A device that masters DMA ([`BoardDescription::dma_masters`]).
    DmaMaster(DmaMaster),
}

impl fmt::Display for ReservedRegion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::BoardRam => "the board's RAM",
            Self::Uart => "Janus' console UART",
            Self::Gic(GicRegion::Distributor) => "the GIC distributor",
            Self::Gic(GicRegion::Redistributors) => "the GIC redistributors",
            Self::Gic(GicRegion::CpuInterface) => "the GIC CPU interface",
            Self::Gic(GicRegion::HypervisorInterface) => "the GIC hypervisor interface",
            Self::Gic(GicRegion::VirtualCpuInterface) => "the GIC virtual CPU interface",
            Self::HotkeyButton => "the hotkey button's GPIO controller",
            Self::Storage => "Janus' storage transports",
            Self::GuestUart => "the emulated guest UART",
            Self::GuestDisk => "the emulated guest disk",
            Self::DmaMaster(DmaMaster::GicIts) => "the GIC ITS (it masters DMA: it writes its tables to memory)",
            Self::DmaMaster(DmaMaster::FirmwareConfig) => "fw_cfg (it masters DMA: its DMA interface writes memory)",
        })
    }
}

/// Every region of `board` that [`ReservedRegion`] names, with its range.
/// The guest windows are guest-physical; passed-through devices are
/// identity mapped, so a device at a guest window's address would sit
/// where Janus emulates a device.
pub fn reserved_regions(board: &BoardDescription) -> heapless::Vec<(ReservedRegion, PhysRange), 16> {
    let guest_range = |address: GuestPhysAddr, size| PhysRange::new(address.get(), size);
    let mut regions = heapless::Vec::<(ReservedRegion, PhysRange), 16>::new();
    let fixed = [
        Some((ReservedRegion::BoardRam, board.ram)),
        Some((ReservedRegion::Uart, PhysRange::new(board.uart.get(), PRIMECELL_WINDOW_SIZE))),
        board.hotkey_button.map(|button| (ReservedRegion::HotkeyButton, PhysRange::new(button.controller.get(), PRIMECELL_WINDOW_SIZE))),
        board.storage.map(|storage| (ReservedRegion::Storage, storage.span())),
        Some((ReservedRegion::GuestUart, guest_range(board.guest_uart, GUEST_UART_WINDOW_SIZE))),
        Some((ReservedRegion::GuestDisk, guest_range(board.guest_disk, VIRTIO_MMIO_WINDOW_SIZE))),
    ];
    let gic = board.gic.regions(board.cpus.len());
    for region in fixed
        .into_iter()
        .flatten()
        .chain(gic.into_iter().map(|(region, range)| (ReservedRegion::Gic(region), range)))
        .chain(board.dma_masters.iter().map(|&(master, range)| (ReservedRegion::DmaMaster(master), range)))
    {
        // At most 6 + 4 + MAX_DMA_MASTERS entries, within the capacity.
        let _ = regions.push(region);
    }
    regions
}

/// An interrupt Janus keeps for itself or gives every personality for an
/// emulated device: no passed-through device may have it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReservedInterrupt {
    /// Janus' console UART (keyboard input and the hotkey).
    Uart,
    /// The hotkey button's GPIO controller.
    HotkeyButton,
    /// Each personality's emulated PL011.
    GuestUart,
    /// Each personality's emulated virtio-blk disk.
    GuestDisk,
    /// Janus' physical disk (the storage transports' interrupts).
    Storage,
}

impl fmt::Display for ReservedInterrupt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Uart => "Janus' console UART",
            Self::HotkeyButton => "the hotkey button",
            Self::GuestUart => "the emulated guest UART",
            Self::GuestDisk => "the emulated guest disk",
            Self::Storage => "Janus' physical disk transports",
        })
    }
}

/// Who on `board` already has `interrupt`, if Janus does.
pub fn reserved_interrupt(board: &BoardDescription, interrupt: u32) -> Option<ReservedInterrupt> {
    [
        Some((ReservedInterrupt::Uart, board.uart_interrupt)),
        board.hotkey_button.map(|button| (ReservedInterrupt::HotkeyButton, button.interrupt)),
        Some((ReservedInterrupt::GuestUart, board.guest_uart_interrupt)),
        Some((ReservedInterrupt::GuestDisk, board.guest_disk_interrupt)),
    ]
    .into_iter()
    .flatten()
    .find_map(|(owner, reserved)| (reserved == interrupt).then_some(owner))
    .or_else(|| board.storage.filter(|storage| storage.has_interrupt(interrupt)).map(|_| ReservedInterrupt::Storage))
}

/// What is wrong with a device's MMIO range on its own (overlaps between
/// devices are checked separately).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceMmioProblem {
    /// The size is zero.
    Empty,
    /// Base plus size runs past the end of the address space.
    Wraps,
    /// The base is not a multiple of [`DEVICE_ALIGNMENT`].
    BaseMisaligned,
    /// The size is not a multiple of [`DEVICE_ALIGNMENT`].
    SizeMisaligned,
    /// The range overlaps a region Janus keeps.
    OverlapsReserved {
        /// The region.
        region: ReservedRegion,
        /// Its range.
        range: PhysRange,
    },
    /// The board does not declare the device unable to master DMA, and
    /// Janus programs no IOMMU: the guest could make it write anywhere.
    DmaCapable,
}

/// Checks a device's MMIO range against the shape rules and `board`'s
/// reserved regions; the first problem found.
pub fn check_device_mmio(board: &BoardDescription, mmio: PhysRange) -> Result<(), DeviceMmioProblem> {
    if mmio.size == 0 {
        return Err(DeviceMmioProblem::Empty);
    }
    if mmio.end().is_none() {
        return Err(DeviceMmioProblem::Wraps);
    }
    if !mmio.start.is_aligned(DEVICE_ALIGNMENT) {
        return Err(DeviceMmioProblem::BaseMisaligned);
    }
    if !mmio.size.is_multiple_of(DEVICE_ALIGNMENT) {
        return Err(DeviceMmioProblem::SizeMisaligned);
    }
    match reserved_regions(board).into_iter().find(|(_, range)| range.overlaps(&mmio)) {
        Some((region, range)) => Err(DeviceMmioProblem::OverlapsReserved { region, range }),
        None if !board.is_dma_incapable(mmio) => Err(DeviceMmioProblem::DmaCapable),
        None => Ok(()),
    }
}

/// What is wrong with one of a device's interrupts on its own (interrupts
/// given twice are checked separately).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceInterruptProblem {
    /// It is not an SPI.
    NotSpi,
    /// Janus has it.
    Reserved {
        /// Who has it.
        owner: ReservedInterrupt,
    },
}

/// Checks one device interrupt: an SPI that Janus does not keep.
pub fn check_device_interrupt(board: &BoardDescription, interrupt: u32) -> Result<(), DeviceInterruptProblem> {
    if !is_spi(interrupt) {
        return Err(DeviceInterruptProblem::NotSpi);
    }
    match reserved_interrupt(board, interrupt) {
        Some(owner) => Err(DeviceInterruptProblem::Reserved { owner }),
        None => Ok(()),
    }
}
