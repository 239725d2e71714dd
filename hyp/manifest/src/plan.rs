//! The boot plan: what the hypervisor needs to start every personality, and
//! the boot-time check that re-validates it before anything runs.

use core::fmt;

use janus_platform::{BoardDescription, GUEST_UART_WINDOW_SIZE, GuestPhysAddr, GuestPhysRange, PhysRange, StorageDescription, VIRTIO_MMIO_WINDOW_SIZE};

use crate::rules::{
    DEVICE_ALIGNMENT, DeviceInterruptProblem, DeviceMmioProblem, MAX_DEVICE_INTERRUPTS, MAX_DEVICES, MAX_DTB_SIZE, MAX_PERSONALITIES, MAX_VCPUS, MIN_RAM_SIZE,
    NameProblem, RAM_ALIGNMENT, ReservedInterrupt, ReservedRegion, check_device_interrupt, check_device_mmio, check_name,
};

/// A personality name as the boot plan stores it.
pub type PersonalityName = heapless::String<16>;
/// A device name as the boot plan stores it (same rule as personality names).
pub type DeviceName = heapless::String<16>;

/// A byte range of the payload, counted from the payload's first byte.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Blob {
    /// Offset from the start of the payload.
    pub offset: u64,
    /// Length in bytes.
    pub size: u64,
}

/// Length of the device key, the key-encryption key that wraps the keys of
/// encrypted disks.
pub const DEVICE_KEY_LENGTH: usize = 32;

/// A GPT partition of the physical disk that backs one personality's private
/// disk. The disk layout crate names the partitions so.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DiskPartition {
    /// The partition named `personal`.
    Personal,
    /// The partition named `work`.
    Work,
}

impl DiskPartition {
    /// Every partition a personality may be given.
    pub const ALL: [Self; 2] = [Self::Personal, Self::Work];

    /// The GPT partition name, as manifests spell it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Personal => "personal",
            Self::Work => "work",
        }
    }

    /// The partition called `name`, if a personality may have it.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|partition| partition.name() == name)
    }
}

impl fmt::Display for DiskPartition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A personality's private disk: an emulated virtio-blk device backed by one
/// partition of the physical disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DiskPlan {
    /// The partition behind it; no two personalities share one.
    pub partition: DiskPartition,
    /// Whether the partition is encrypted under a key that the plan's
    /// [`BootPlan::device_key`] wraps.
    pub encrypted: bool,
}

/// A physical device passed through to one personality: its MMIO range is
/// mapped into the personality at the same address (identity), and its
/// interrupts are routed to the personality and injected with the HW bit, so
/// the guest's EOI deactivates the physical interrupt.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct DevicePlan {
    /// The device's name, for boot logs (validated like personality names).
    pub name: DeviceName,
    /// The device's registers: page aligned, a whole number of pages, clear
    /// of everything Janus keeps and of every other device.
    pub mmio: PhysRange,
    /// Its interrupts: SPIs (INTIDs 32..=255) that Janus does not keep and
    /// no other device has, level-sensitive (as the device tree says).
    pub interrupts: heapless::Vec<u32, MAX_DEVICE_INTERRUPTS>,
}

/// Everything needed to start one personality.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PersonalityPlan {
    /// The personality's name (validated: `[a-z][a-z0-9-]{0,14}`).
    pub name: PersonalityName,
    /// Virtual CPU `i` runs on physical core `cpus[i]` (a board core index).
    pub cpus: heapless::Vec<u8, MAX_VCPUS>,
    /// The personality's RAM, identity mapped: guest physical equals host
    /// physical over this range.
    pub ram: PhysRange,
    /// The flattened kernel image.
    pub kernel: Blob,
    /// Where the kernel blob is copied.
    pub kernel_load: GuestPhysAddr,
    /// Where virtual CPU 0 starts executing.
    pub entry: GuestPhysAddr,
    /// The personality's device tree.
    pub dtb: Blob,
    /// Where the device tree is copied (its address goes in `x0`).
    pub dtb_load: GuestPhysAddr,
    /// The initial RAM disk and where it is copied, if any.
    pub initrd: Option<(Blob, GuestPhysAddr)>,
    /// The personality's private disk, if it has one; it appears at the
    /// board's `guest_disk` address.
    pub disk: Option<DiskPlan>,
    /// Physical devices passed through to the personality.
    pub devices: heapless::Vec<DevicePlan, MAX_DEVICES>,
}

impl PersonalityPlan {
    /// The SPIs of every device passed through to this personality.
    pub fn device_interrupts(&self) -> impl Iterator<Item = u32> + '_ {
        self.devices.iter().flat_map(|device| device.interrupts.iter().copied())
    }
}

/// How the personalities share the physical console.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ConsoleMode {
    /// One personality is in front: its output goes straight to the console
    /// and keyboard input goes only to it; the others' output is kept in a
    /// ring buffer and replayed when they come to the front (`Ctrl-]`).
    #[default]
    Switched,
    /// Every personality's output, one line at a time, prefixed with its
    /// name; input still goes to the foreground one. For tests and debugging.
    Tagged,
}

/// The whole system: the board it was built for and every personality.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BootPlan {
    /// The board the plan was validated against.
    pub board: BoardDescription,
    /// How the personalities share the console.
    pub console: ConsoleMode,
    /// The personalities, in manifest order.
    pub personalities: heapless::Vec<PersonalityPlan, MAX_PERSONALITIES>,
    /// The key-encryption key that wraps the keys of encrypted disks (on
    /// QEMU, xtask's `target/janus/device-key`). xtask sets it when some disk
    /// is encrypted and leaves it `None` otherwise; never all zero.
    pub device_key: Option<[u8; DEVICE_KEY_LENGTH]>,
}

/// Which blob of a personality an error is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlobKind {
    /// The kernel image.
    Kernel,
    /// The device tree blob.
    Dtb,
    /// The initial RAM disk.
    Initrd,
}

impl fmt::Display for BlobKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Kernel => "kernel",
            Self::Dtb => "device tree",
            Self::Initrd => "initrd",
        })
    }
}

/// The first problem found in a boot plan. Every variant names the
/// personality (where there is one) so the boot log says who is at fault.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PlanError {
    /// The board description itself is inconsistent.
    BoardInvalid {
        /// What is wrong.
        problem: &'static str,
    },
    /// The plan has no personality.
    NoPersonalities,
    /// A personality name breaks the naming rule.
    InvalidName {
        /// The personality's index in the plan.
        index: usize,
        /// What is wrong with it.
        problem: NameProblem,
    },
    /// Two personalities share a name.
    DuplicateName {
        /// The repeated name.
        personality: PersonalityName,
    },
    /// A personality has no CPU.
    NoCpus {
        /// The personality.
        personality: PersonalityName,
    },
    /// A personality lists a core twice.
    DuplicateCpu {
        /// The personality.
        personality: PersonalityName,
        /// The repeated core index.
        cpu: u8,
    },
    /// A personality names a core the board does not have.
    CpuNotOnBoard {
        /// The personality.
        personality: PersonalityName,
        /// The core index.
        cpu: u8,
        /// How many cores the board has.
        board_cpus: usize,
    },
    /// Two personalities claim the same core.
    CpuShared {
        /// The later personality.
        personality: PersonalityName,
        /// The earlier personality that already has the core.
        other: PersonalityName,
        /// The core index.
        cpu: u8,
    },
    /// RAM base or size is not 2 MiB aligned.
    RamMisaligned {
        /// The personality.
        personality: PersonalityName,
        /// Its RAM.
        ram: PhysRange,
    },
    /// RAM is smaller than the minimum.
    RamTooSmall {
        /// The personality.
        personality: PersonalityName,
        /// Its RAM.
        ram: PhysRange,
    },
    /// RAM wraps past the end of the address space.
    RamWraps {
        /// The personality.
        personality: PersonalityName,
        /// Its RAM.
        ram: PhysRange,
    },
    /// RAM is not inside the board's RAM.
    RamOutsideBoard {
        /// The personality.
        personality: PersonalityName,
        /// Its RAM.
        ram: PhysRange,
        /// The board's RAM.
        board_ram: PhysRange,
    },
    /// RAM overlaps the hypervisor's own region.
    RamOverlapsHypervisor {
        /// The personality.
        personality: PersonalityName,
        /// Its RAM.
        ram: PhysRange,
        /// The hypervisor's region.
        hypervisor: PhysRange,
    },
    /// RAM overlaps another personality's RAM.
    RamOverlapsPersonality {
        /// The later personality.
        personality: PersonalityName,
        /// The earlier personality.
        other: PersonalityName,
    },
    /// A kernel or device tree blob is empty.
    EmptyBlob {
        /// The personality.
        personality: PersonalityName,
        /// Which blob.
        blob: BlobKind,
    },
    /// A blob reaches past the end of the payload.
    BlobOutsidePayload {
        /// The personality.
        personality: PersonalityName,
        /// Which blob.
        blob: BlobKind,
        /// Where the plan says it is.
        location: Blob,
        /// The payload's length.
        payload_length: u64,
    },
    /// A blob would be copied (partly) outside the personality's RAM.
    LoadOutsideRam {
        /// The personality.
        personality: PersonalityName,
        /// Which blob.
        blob: BlobKind,
        /// Where it would be copied.
        load: GuestPhysAddr,
        /// Its size.
        size: u64,
        /// The personality's RAM.
        ram: PhysRange,
    },
    /// Two blobs would be copied over each other.
    LoadsOverlap {
        /// The personality.
        personality: PersonalityName,
        /// The first blob.
        first: BlobKind,
        /// The second blob.
        second: BlobKind,
    },
    /// The entry point is not inside the loaded kernel.
    EntryOutsideKernel {
        /// The personality.
        personality: PersonalityName,
        /// The entry point.
        entry: GuestPhysAddr,
        /// Where the kernel is loaded.
        kernel_load: GuestPhysAddr,
        /// The kernel blob's size.
        kernel_size: u64,
    },
    /// The device tree is larger than the boot protocol allows.
    DtbTooLarge {
        /// The personality.
        personality: PersonalityName,
        /// Its size.
        size: u64,
    },
    /// Two personalities would share a disk partition: each could read and
    /// write the other's data.
    DiskShared {
        /// The later personality.
        personality: PersonalityName,
        /// The earlier personality that already has the partition.
        other: PersonalityName,
        /// The partition.
        partition: DiskPartition,
    },
    /// A personality has a disk but the board has no storage to back it.
    DiskWithoutStorage {
        /// The personality.
        personality: PersonalityName,
    },
    /// A personality's disk is encrypted but the plan carries no device key
    /// to unwrap its key with.
    EncryptedDiskWithoutKey {
        /// The personality.
        personality: PersonalityName,
    },
    /// The device key is all zeros: not a key.
    DeviceKeyAllZero,
    /// A device name breaks the naming rule.
    DeviceInvalidName {
        /// The personality.
        personality: PersonalityName,
        /// The device's position in the personality's list.
        index: usize,
        /// What is wrong with the name.
        problem: NameProblem,
    },
    /// A personality has two devices of the same name.
    DeviceDuplicateName {
        /// The personality.
        personality: PersonalityName,
        /// The repeated name.
        device: DeviceName,
    },
    /// A device's MMIO range is empty.
    DeviceMmioEmpty {
        /// The personality.
        personality: PersonalityName,
        /// The device.
        device: DeviceName,
    },
    /// A device's MMIO range wraps past the end of the address space.
    DeviceMmioWraps {
        /// The personality.
        personality: PersonalityName,
        /// The device.
        device: DeviceName,
        /// Its MMIO range.
        mmio: PhysRange,
    },
    /// A device's MMIO base or size is not page aligned.
    DeviceMmioMisaligned {
        /// The personality.
        personality: PersonalityName,
        /// The device.
        device: DeviceName,
        /// Its MMIO range.
        mmio: PhysRange,
    },
    /// A device the board does not declare unable to master DMA.
    DeviceMmioDmaCapable {
        /// The personality.
        personality: PersonalityName,
        /// The device.
        device: DeviceName,
        /// Its MMIO range.
        mmio: PhysRange,
    },
    /// A device's MMIO range overlaps a region Janus keeps for itself or
    /// emulates a device in.
    DeviceMmioReserved {
        /// The personality.
        personality: PersonalityName,
        /// The device.
        device: DeviceName,
        /// Its MMIO range.
        mmio: PhysRange,
        /// The region.
        region: ReservedRegion,
    },
    /// Two devices' MMIO ranges overlap (in one personality or two).
    DeviceMmioOverlap {
        /// The later device's personality.
        personality: PersonalityName,
        /// The later device.
        device: DeviceName,
        /// The earlier device's personality.
        other: PersonalityName,
        /// The earlier device.
        other_device: DeviceName,
    },
    /// A device interrupt is not an SPI.
    DeviceInterruptNotSpi {
        /// The personality.
        personality: PersonalityName,
        /// The device.
        device: DeviceName,
        /// The interrupt ID.
        interrupt: u32,
    },
    /// A device interrupt is one Janus keeps.
    DeviceInterruptReserved {
        /// The personality.
        personality: PersonalityName,
        /// The device.
        device: DeviceName,
        /// The interrupt ID.
        interrupt: u32,
        /// Who has it.
        owner: ReservedInterrupt,
    },
    /// An interrupt is given to two devices, or twice to one.
    DeviceInterruptShared {
        /// The later device's personality.
        personality: PersonalityName,
        /// The later device.
        device: DeviceName,
        /// The earlier device's personality.
        other: PersonalityName,
        /// The earlier device (possibly the same one).
        other_device: DeviceName,
        /// The interrupt ID.
        interrupt: u32,
    },
}

impl fmt::Display for PlanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BoardInvalid { problem } => write!(f, "boot plan board description: {problem}"),
            Self::NoPersonalities => write!(f, "boot plan has no personality"),
            Self::InvalidName { index, problem } => write!(f, "personality #{index}: {problem}"),
            Self::DuplicateName { personality } => {
                write!(f, "personality {personality:?} appears more than once")
            }
            Self::NoCpus { personality } => write!(f, "personality {personality:?} has no CPU"),
            Self::DuplicateCpu { personality, cpu } => {
                write!(f, "personality {personality:?} lists core {cpu} twice")
            }
            Self::CpuNotOnBoard { personality, cpu, board_cpus } => {
                write!(f, "personality {personality:?} uses core {cpu} but the board has only {board_cpus} cores")
            }
            Self::CpuShared { personality, other, cpu } => {
                write!(f, "personality {personality:?} uses core {cpu}, which {other:?} already has")
            }
            Self::RamMisaligned { personality, ram } => {
                write!(f, "personality {personality:?} RAM {ram} is not 2 MiB aligned")
            }
            Self::RamTooSmall { personality, ram } => {
                write!(f, "personality {personality:?} RAM {ram} is {:#x} bytes, below the {MIN_RAM_SIZE:#x} minimum", ram.size)
            }
            Self::RamWraps { personality, ram } => {
                write!(f, "personality {personality:?} RAM {ram} wraps the address space")
            }
            Self::RamOutsideBoard { personality, ram, board_ram } => {
                write!(f, "personality {personality:?} RAM {ram} is not inside board RAM {board_ram}")
            }
            Self::RamOverlapsHypervisor { personality, ram, hypervisor } => {
                write!(f, "personality {personality:?} RAM {ram} overlaps the hypervisor region {hypervisor}")
            }
            Self::RamOverlapsPersonality { personality, other } => {
                write!(f, "personality {personality:?} RAM overlaps personality {other:?} RAM")
            }
            Self::EmptyBlob { personality, blob } => {
                write!(f, "personality {personality:?} {blob} is empty")
            }
            Self::BlobOutsidePayload { personality, blob, location, payload_length } => write!(
                f,
                "personality {personality:?} {blob} at payload offset {:#x} size {:#x} reaches past the \
                 payload end {payload_length:#x}",
                location.offset, location.size
            ),
            Self::LoadOutsideRam { personality, blob, load, size, ram } => {
                write!(f, "personality {personality:?} {blob} loaded at {load} size {size:#x} is not inside its RAM {ram}")
            }
            Self::LoadsOverlap { personality, first, second } => {
                write!(f, "personality {personality:?} {first} and {second} would be loaded over each other")
            }
            Self::EntryOutsideKernel { personality, entry, kernel_load, kernel_size } => {
                write!(f, "personality {personality:?} entry {entry} is outside its kernel at {kernel_load} size {kernel_size:#x}")
            }
            Self::DtbTooLarge { personality, size } => {
                write!(f, "personality {personality:?} device tree is {size:#x} bytes, above the {MAX_DTB_SIZE:#x} limit")
            }
            Self::DiskShared { personality, other, partition } => {
                write!(f, "personality {personality:?} disk uses partition \"{partition}\", which {other:?} already has")
            }
            Self::DiskWithoutStorage { personality } => write!(f, "personality {personality:?} has a disk but the board has no storage"),
            Self::EncryptedDiskWithoutKey { personality } => write!(f, "personality {personality:?} disk is encrypted but the boot plan has no device key"),
            Self::DeviceKeyAllZero => write!(f, "boot plan device key is all zeros"),
            Self::DeviceInvalidName { personality, index, problem } => write!(f, "personality {personality:?} device #{index}: {problem}"),
            Self::DeviceDuplicateName { personality, device } => write!(f, "personality {personality:?} has more than one device called {device:?}"),
            Self::DeviceMmioEmpty { personality, device } => write!(f, "personality {personality:?} device {device:?} has an empty MMIO range"),
            Self::DeviceMmioWraps { personality, device, mmio } => {
                write!(f, "personality {personality:?} device {device:?} MMIO {mmio} wraps the address space")
            }
            Self::DeviceMmioMisaligned { personality, device, mmio } => {
                write!(f, "personality {personality:?} device {device:?} MMIO {mmio} is not {DEVICE_ALIGNMENT:#x} aligned")
            }
            Self::DeviceMmioDmaCapable { personality, device, mmio } => write!(
                f,
                "personality {personality:?} device {device:?} MMIO {mmio} may master DMA (the board does not declare it DMA-incapable) and Janus programs no IOMMU"
            ),
            Self::DeviceMmioReserved { personality, device, mmio, region } => {
                write!(f, "personality {personality:?} device {device:?} MMIO {mmio} overlaps {region}")
            }
            Self::DeviceMmioOverlap { personality, device, other, other_device } => write!(
                f,
                "personality {personality:?} device {device:?} MMIO overlaps personality {other:?} device \
                 {other_device:?}"
            ),
            Self::DeviceInterruptNotSpi { personality, device, interrupt } => write!(
                f,
                "personality {personality:?} device {device:?} interrupt {interrupt} is not an SPI a personality can have ({}..={})",
                crate::rules::FIRST_SPI,
                crate::rules::LAST_SPI
            ),
            Self::DeviceInterruptReserved { personality, device, interrupt, owner } => {
                write!(f, "personality {personality:?} device {device:?} interrupt {interrupt} belongs to {owner}")
            }
            Self::DeviceInterruptShared { personality, device, other, other_device, interrupt } => write!(
                f,
                "personality {personality:?} device {device:?} interrupt {interrupt} is already personality \
                 {other:?} device {other_device:?}'s"
            ),
        }
    }
}

/// Re-checks a decoded boot plan against everything the host-side validator
/// checks that the plan can express, plus where each blob comes from and goes
/// to. `payload_length` is the length of the payload the blobs live in.
pub fn validate_plan(plan: &BootPlan, payload_length: u64) -> Result<(), PlanError> {
    check_board(&plan.board)?;
    if plan.personalities.is_empty() {
        return Err(PlanError::NoPersonalities);
    }
    if plan.device_key.is_some_and(|key| key.iter().all(|&byte| byte == 0)) {
        return Err(PlanError::DeviceKeyAllZero);
    }
    for (index, personality) in plan.personalities.iter().enumerate() {
        check_name(&personality.name).map_err(|problem| PlanError::InvalidName { index, problem })?;
        check_cpus(personality, &plan.board)?;
        check_ram(personality, &plan.board)?;
        check_blobs(personality, payload_length)?;
        check_disk(personality, plan)?;
        check_devices(personality, &plan.board)?;
    }
    for (index, personality) in plan.personalities.iter().enumerate() {
        for earlier in plan.personalities.iter().take(index) {
            check_pair(earlier, personality)?;
        }
    }
    check_devices_apart(plan)
}

fn check_board(board: &BoardDescription) -> Result<(), PlanError> {
    let problem = if board.ram.end().is_none() {
        "board RAM wraps the address space"
    } else if board.hypervisor.end().is_none() || !board.ram.contains_span(board.hypervisor.start.get(), board.hypervisor.size) {
        "the hypervisor region is not inside board RAM"
    } else if board.cpus.is_empty() {
        "the board has no cores"
    } else if !(32..1020).contains(&board.guest_uart_interrupt) || !(32..1020).contains(&board.uart_interrupt) {
        "a UART's interrupt is not an SPI (32..1020)"
    } else if board.hotkey_button.is_some_and(|button| button.line >= 8 || !(32..1020).contains(&button.interrupt)) {
        "the hotkey button is not a PL061 line (0..8) with an SPI"
    } else if !(32..1020).contains(&board.guest_disk_interrupt) {
        "the guest disk's interrupt is not an SPI (32..1020)"
    } else if board.guest_disk_interrupt == board.guest_uart_interrupt {
        "the guest disk and the guest UART share an interrupt"
    } else if !guest_windows_are_apart(board) {
        "the guest disk window overlaps the guest UART window or board RAM, or wraps"
    } else if board.storage.is_some_and(|storage| !storage_is_sound(storage)) {
        "the storage transports are not one or more non-overlapping virtio-mmio windows with SPIs (32..1020)"
    } else {
        return Ok(());
    };
    Err(PlanError::BoardInvalid { problem })
}

/// Whether each personality's guest disk window stays clear of its UART
/// window and of any RAM it may have, and neither window wraps.
fn guest_windows_are_apart(board: &BoardDescription) -> bool {
    let disk = GuestPhysRange::new(board.guest_disk.get(), VIRTIO_MMIO_WINDOW_SIZE);
    let uart = GuestPhysRange::new(board.guest_uart.get(), GUEST_UART_WINDOW_SIZE);
    // Personality RAM is identity mapped and lies inside board RAM, so board
    // RAM bounds every guest-physical address that RAM can take.
    let ram = GuestPhysRange::new(board.ram.start.get(), board.ram.size);
    disk.end().is_some() && uart.end().is_some() && !disk.overlaps(&uart) && !disk.overlaps(&ram)
}

/// Whether the storage transports are at least one window, far enough apart
/// not to overlap, and inside the address space.
fn storage_is_sound(storage: StorageDescription) -> bool {
    match storage {
        StorageDescription::VirtioMmio { base, slots, stride, first_interrupt } => {
            slots != 0
                && first_interrupt >= 32
                && first_interrupt.checked_add(slots).is_some_and(|end| end <= 1020)
                && stride >= VIRTIO_MMIO_WINDOW_SIZE
                && stride.checked_mul(u64::from(slots)).and_then(|span| base.checked_add(span)).is_some()
        }
    }
}

fn check_cpus(personality: &PersonalityPlan, board: &BoardDescription) -> Result<(), PlanError> {
    let name = || personality.name.clone();
    if personality.cpus.is_empty() {
        return Err(PlanError::NoCpus { personality: name() });
    }
    for (position, &cpu) in personality.cpus.iter().enumerate() {
        if usize::from(cpu) >= board.cpus.len() {
            return Err(PlanError::CpuNotOnBoard { personality: name(), cpu, board_cpus: board.cpus.len() });
        }
        if personality.cpus.iter().take(position).any(|&earlier| earlier == cpu) {
            return Err(PlanError::DuplicateCpu { personality: name(), cpu });
        }
    }
    Ok(())
}

fn check_ram(personality: &PersonalityPlan, board: &BoardDescription) -> Result<(), PlanError> {
    let personality_name = || personality.name.clone();
    let ram = personality.ram;
    if ram.end().is_none() {
        return Err(PlanError::RamWraps { personality: personality_name(), ram });
    }
    if !ram.start.is_aligned(RAM_ALIGNMENT) || !ram.size.is_multiple_of(RAM_ALIGNMENT) {
        return Err(PlanError::RamMisaligned { personality: personality_name(), ram });
    }
    if ram.size < MIN_RAM_SIZE {
        return Err(PlanError::RamTooSmall { personality: personality_name(), ram });
    }
    if !board.ram.contains_span(ram.start.get(), ram.size) {
        return Err(PlanError::RamOutsideBoard { personality: personality_name(), ram, board_ram: board.ram });
    }
    if ram.overlaps(&board.hypervisor) {
        return Err(PlanError::RamOverlapsHypervisor { personality: personality_name(), ram, hypervisor: board.hypervisor });
    }
    Ok(())
}

fn check_blobs(personality: &PersonalityPlan, payload_length: u64) -> Result<(), PlanError> {
    let personality_name = || personality.name.clone();
    let loads = [
        Some((BlobKind::Kernel, personality.kernel, personality.kernel_load)),
        Some((BlobKind::Dtb, personality.dtb, personality.dtb_load)),
        personality.initrd.map(|(blob, load)| (BlobKind::Initrd, blob, load)),
    ];
    for (index, &(kind, blob, load)) in loads.iter().flatten().enumerate() {
        if blob.size == 0 && kind != BlobKind::Initrd {
            return Err(PlanError::EmptyBlob { personality: personality_name(), blob: kind });
        }
        if blob.offset.checked_add(blob.size).is_none_or(|end| end > payload_length) {
            return Err(PlanError::BlobOutsidePayload { personality: personality_name(), blob: kind, location: blob, payload_length });
        }
        if !personality.ram.contains_span(load.get(), blob.size) {
            return Err(PlanError::LoadOutsideRam { personality: personality_name(), blob: kind, load, size: blob.size, ram: personality.ram });
        }
        let target = PhysRange::new(load.get(), blob.size);
        for &(earlier_kind, earlier_blob, earlier_load) in loads.iter().flatten().take(index) {
            if target.overlaps(&PhysRange::new(earlier_load.get(), earlier_blob.size)) {
                return Err(PlanError::LoadsOverlap { personality: personality_name(), first: earlier_kind, second: kind });
            }
        }
    }
    if personality.dtb.size > MAX_DTB_SIZE {
        return Err(PlanError::DtbTooLarge { personality: personality_name(), size: personality.dtb.size });
    }
    let kernel = PhysRange::new(personality.kernel_load.get(), personality.kernel.size);
    if !kernel.contains(personality.entry.get()) {
        return Err(PlanError::EntryOutsideKernel {
            personality: personality_name(),
            entry: personality.entry,
            kernel_load: personality.kernel_load,
            kernel_size: personality.kernel.size,
        });
    }
    Ok(())
}

fn check_disk(personality: &PersonalityPlan, plan: &BootPlan) -> Result<(), PlanError> {
    let Some(disk) = personality.disk else {
        return Ok(());
    };
    if plan.board.storage.is_none() {
        return Err(PlanError::DiskWithoutStorage { personality: personality.name.clone() });
    }
    if disk.encrypted && plan.device_key.is_none() {
        return Err(PlanError::EncryptedDiskWithoutKey { personality: personality.name.clone() });
    }
    Ok(())
}

/// Each device of one personality on its own, and device names within it.
fn check_devices(personality: &PersonalityPlan, board: &BoardDescription) -> Result<(), PlanError> {
    let name = || personality.name.clone();
    for (index, device) in personality.devices.iter().enumerate() {
        check_name(&device.name).map_err(|problem| PlanError::DeviceInvalidName { personality: name(), index, problem })?;
        if personality.devices.iter().take(index).any(|earlier| earlier.name == device.name) {
            return Err(PlanError::DeviceDuplicateName { personality: name(), device: device.name.clone() });
        }
        let mmio = device.mmio;
        check_device_mmio(board, mmio).map_err(|problem| {
            let (personality, device) = (name(), device.name.clone());
            match problem {
                DeviceMmioProblem::Empty => PlanError::DeviceMmioEmpty { personality, device },
                DeviceMmioProblem::Wraps => PlanError::DeviceMmioWraps { personality, device, mmio },
                DeviceMmioProblem::BaseMisaligned | DeviceMmioProblem::SizeMisaligned => PlanError::DeviceMmioMisaligned { personality, device, mmio },
                DeviceMmioProblem::DmaCapable => PlanError::DeviceMmioDmaCapable { personality, device, mmio },
                DeviceMmioProblem::OverlapsReserved { region, .. } => PlanError::DeviceMmioReserved { personality, device, mmio, region },
            }
        })?;
        for &interrupt in &device.interrupts {
            check_device_interrupt(board, interrupt).map_err(|problem| {
                let (personality, device) = (name(), device.name.clone());
                match problem {
                    DeviceInterruptProblem::NotSpi => PlanError::DeviceInterruptNotSpi { personality, device, interrupt },
                    DeviceInterruptProblem::Reserved { owner } => PlanError::DeviceInterruptReserved { personality, device, interrupt, owner },
                }
            })?;
        }
    }
    Ok(())
}

/// No two devices, in one personality or two, share MMIO or an interrupt,
/// and no device lists an interrupt twice.
fn check_devices_apart(plan: &BootPlan) -> Result<(), PlanError> {
    let all = || plan.personalities.iter().flat_map(|personality| personality.devices.iter().map(move |device| (personality, device)));
    for (index, (personality, device)) in all().enumerate() {
        for (other, other_device) in all().take(index) {
            if device.mmio.overlaps(&other_device.mmio) {
                return Err(PlanError::DeviceMmioOverlap {
                    personality: personality.name.clone(),
                    device: device.name.clone(),
                    other: other.name.clone(),
                    other_device: other_device.name.clone(),
                });
            }
        }
        for (position, &interrupt) in device.interrupts.iter().enumerate() {
            let earlier_in_device = device.interrupts.iter().take(position).any(|&earlier| earlier == interrupt);
            let earlier_device = all().take(index).find(|(_, other_device)| other_device.interrupts.contains(&interrupt));
            let holder = match (earlier_device, earlier_in_device) {
                (Some(holder), _) => holder,
                (None, true) => (personality, device),
                (None, false) => continue,
            };
            return Err(PlanError::DeviceInterruptShared {
                personality: personality.name.clone(),
                device: device.name.clone(),
                other: holder.0.name.clone(),
                other_device: holder.1.name.clone(),
                interrupt,
            });
        }
    }
    Ok(())
}

fn check_pair(earlier: &PersonalityPlan, later: &PersonalityPlan) -> Result<(), PlanError> {
    if earlier.name == later.name {
        return Err(PlanError::DuplicateName { personality: later.name.clone() });
    }
    if let Some(&cpu) = later.cpus.iter().find(|cpu| earlier.cpus.contains(cpu)) {
        return Err(PlanError::CpuShared { personality: later.name.clone(), other: earlier.name.clone(), cpu });
    }
    if later.ram.overlaps(&earlier.ram) {
        return Err(PlanError::RamOverlapsPersonality { personality: later.name.clone(), other: earlier.name.clone() });
    }
    if let (Some(disk), Some(earlier_disk)) = (later.disk, earlier.disk)
        && disk.partition == earlier_disk.partition
    {
        return Err(PlanError::DiskShared { personality: later.name.clone(), other: earlier.name.clone(), partition: disk.partition });
    }
    Ok(())
}
