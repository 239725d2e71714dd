//! Guest RAM layout: where the kernel, initrd and device tree go inside a
//! personality's identity-mapped RAM.
//!
//! ```text
//! ram.start                                                       ram end
//! | kernel (at text_offset or ELF p_paddr) ... | initrd | DTB (2 MiB) |
//! ```

use std::fmt;

use janus_platform::{GuestPhysAddr, PhysRange};

use crate::kernel::{FlatKernel, KernelPlacement, MAX_FLAT_KERNEL_SIZE, flatten_kernel};
use crate::model::{DeviceConfig, PersonalityConfig};
use crate::plan::DevicePlan;
use crate::rules::{MAX_DEVICES, MAX_DTB_SIZE, MIB, MIN_RAM_SIZE, RAM_ALIGNMENT, align_down, align_up, mebibytes_rounded_up};

/// The initrd's start is aligned down to this.
pub const INITRD_ALIGNMENT: u64 = 4096;

/// Where everything goes in one personality's RAM.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GuestLayout {
    /// Where the flattened kernel is copied.
    pub kernel_load: GuestPhysAddr,
    /// Where virtual CPU 0 starts.
    pub entry: GuestPhysAddr,
    /// Where the device tree is copied: RAM end minus 2 MiB.
    pub dtb_load: GuestPhysAddr,
    /// Where the initrd is copied: just below the device tree, 4 KiB aligned.
    pub initrd_load: Option<GuestPhysAddr>,
}

/// Why a kernel could not be inspected or placed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LayoutError {
    /// The kernel file is empty.
    EmptyKernel,
    /// The ELF is of a kind Janus does not load.
    UnsupportedElf {
        /// What kind.
        problem: &'static str,
    },
    /// The ELF is for another architecture.
    ElfWrongMachine {
        /// Its `e_machine`.
        machine: u16,
    },
    /// The ELF's headers are inconsistent.
    MalformedElf {
        /// What is inconsistent.
        problem: &'static str,
    },
    /// The ELF has no non-empty `PT_LOAD` segment.
    ElfWithoutLoadableSegments,
    /// Two `PT_LOAD` segments share physical addresses.
    ElfSegmentsOverlap {
        /// One segment.
        first: PhysRange,
        /// The other.
        second: PhysRange,
    },
    /// The flattened kernel would exceed [`MAX_FLAT_KERNEL_SIZE`].
    KernelTooLarge {
        /// Its size.
        size: u64,
    },
    /// The ELF entry point is not inside its loaded segments.
    ElfEntryOutsideSegments {
        /// `e_entry`.
        entry: u64,
        /// The segments' span.
        loaded: PhysRange,
    },
    /// The RAM range wraps the address space.
    RamWraps {
        /// The RAM.
        ram: PhysRange,
    },
    /// The kernel (with its footprint) does not fit inside RAM.
    KernelOutsideRam {
        /// Where it would start.
        start: u64,
        /// Its footprint.
        footprint: u64,
        /// The RAM.
        ram: PhysRange,
        /// RAM size that would fit it, when more RAM is the fix.
        needed_ram: Option<u64>,
    },
    /// The entry point is outside RAM.
    EntryOutsideRam {
        /// The entry point.
        entry: u64,
        /// The RAM.
        ram: PhysRange,
    },
    /// Kernel, initrd and device tree do not all fit.
    NotEnoughRam {
        /// The RAM.
        ram: PhysRange,
        /// One past the kernel's footprint.
        kernel_end: u64,
        /// The initrd's size, if any.
        initrd_size: Option<u64>,
        /// RAM size that would fit everything.
        needed_ram: u64,
    },
}

impl LayoutError {
    /// Writes `problem. Fix: ...`, naming the personality as `who`.
    fn write(&self, f: &mut fmt::Formatter<'_>, who: &str) -> fmt::Result {
        let more_ram = |f: &mut fmt::Formatter<'_>, needed: u64| write!(f, "give {who} more RAM: needs at least {} MiB", mebibytes_rounded_up(needed));
        match self {
            Self::EmptyKernel => write!(f, "the kernel file is empty. Fix: point kernel at a real image"),
            Self::UnsupportedElf { problem } => write!(f, "the kernel ELF is not loadable: {problem}. Fix: build a static AArch64 executable, or use an Image"),
            Self::ElfWrongMachine { machine } => write!(f, "the kernel ELF is for machine {machine}, not AArch64 (183). Fix: build the kernel for aarch64"),
            Self::MalformedElf { problem } => {
                write!(f, "the kernel ELF is malformed: {problem}. Fix: rebuild or re-link the kernel")
            }
            Self::ElfWithoutLoadableSegments => {
                write!(f, "the kernel ELF has no loadable segment. Fix: link the kernel with PT_LOAD segments")
            }
            Self::ElfSegmentsOverlap { first, second } => {
                write!(f, "the kernel ELF segments {first} and {second} overlap in physical memory. Fix: fix the linker script")
            }
            Self::KernelTooLarge { size } => write!(
                f,
                "the flattened kernel would be {} MiB, above the {} MiB limit. Fix: check the segments' physical \
                 addresses (p_paddr)",
                mebibytes_rounded_up(*size),
                MAX_FLAT_KERNEL_SIZE / MIB
            ),
            Self::ElfEntryOutsideSegments { entry, loaded } => {
                write!(f, "the kernel ELF entry {entry:#x} is outside its loaded range {loaded}. Fix: check the entry symbol")
            }
            Self::RamWraps { ram } => write!(f, "RAM {ram} wraps the address space. Fix: lower ram.base or ram.size"),
            Self::KernelOutsideRam { start, footprint, ram, needed_ram } => {
                write!(f, "the kernel at {start:#x} ({footprint:#x} bytes) does not fit inside RAM {ram}. Fix: ")?;
                match needed_ram {
                    Some(needed) => more_ram(f, *needed),
                    None => write!(f, "link the kernel to load inside {ram}, or move {who}'s RAM to include {start:#x}"),
                }
            }
            Self::EntryOutsideRam { entry, ram } => write!(f, "the kernel entry {entry:#x} is outside RAM {ram}. Fix: link the kernel for {who}'s RAM"),
            Self::NotEnoughRam { ram, kernel_end, initrd_size, needed_ram } => {
                write!(f, "RAM {ram} is {} MiB: the kernel ends at {kernel_end:#x}", ram.size / MIB)?;
                if let Some(size) = initrd_size {
                    write!(f, ", the initrd needs {size:#x} bytes")?;
                }
                write!(f, " and the device tree needs the top 2 MiB. Fix: ")?;
                more_ram(f, *needed_ram)
            }
        }
    }
}

impl fmt::Display for LayoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write(f, "the personality")
    }
}

impl std::error::Error for LayoutError {}

/// A [`LayoutError`] for a named personality.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PersonalityLayoutError {
    /// The personality's name.
    pub personality: String,
    /// What went wrong.
    pub error: LayoutError,
}

impl fmt::Display for PersonalityLayoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "personality {:?}: ", self.personality)?;
        self.error.write(f, &self.personality)
    }
}

impl std::error::Error for PersonalityLayoutError {}

/// RAM size (2 MiB multiple, at least the minimum) that holds a kernel
/// reaching `kernel_end`, an initrd of `initrd_size` bytes and the device tree.
fn needed_ram(ram: PhysRange, kernel_end: u64, initrd_size: Option<u64>) -> u64 {
    let kernel_extent = align_up(kernel_end.saturating_sub(ram.start.get()), INITRD_ALIGNMENT).unwrap_or(u64::MAX);
    let initrd = align_up(initrd_size.unwrap_or(0), INITRD_ALIGNMENT).unwrap_or(u64::MAX);
    let total = kernel_extent.saturating_add(initrd).saturating_add(MAX_DTB_SIZE);
    align_up(total, RAM_ALIGNMENT).unwrap_or(u64::MAX).max(MIN_RAM_SIZE)
}

fn resolve(ram: PhysRange, placement: KernelPlacement) -> Option<u64> {
    match placement {
        KernelPlacement::RamOffset(offset) => ram.start.get().checked_add(offset),
        KernelPlacement::Address(address) => Some(address.get()),
    }
}

/// Places the kernel, the initrd (if `initrd_length` is given) and the
/// device tree inside `ram`.
pub fn plan_layout(ram: PhysRange, kernel: &FlatKernel, initrd_length: Option<u64>) -> Result<GuestLayout, LayoutError> {
    let ram_end = ram.end().ok_or(LayoutError::RamWraps { ram })?;
    let kernel_start = resolve(ram, kernel.load);
    let footprint = kernel.footprint.max(kernel.bytes.len() as u64);
    let kernel_end = kernel_start.and_then(|start| start.checked_add(footprint));
    let (Some(kernel_start), Some(kernel_end)) = (kernel_start, kernel_end) else {
        return Err(LayoutError::KernelOutsideRam { start: kernel_start.unwrap_or(u64::MAX), footprint, ram, needed_ram: None });
    };
    if kernel_start < ram.start.get() || kernel_end > ram_end {
        let needed_ram = (kernel_start >= ram.start.get()).then(|| needed_ram(ram, kernel_end, initrd_length));
        return Err(LayoutError::KernelOutsideRam { start: kernel_start, footprint, ram, needed_ram });
    }
    let entry = resolve(ram, kernel.entry).unwrap_or(u64::MAX);
    if !ram.contains(entry) {
        return Err(LayoutError::EntryOutsideRam { entry, ram });
    }

    let not_enough = LayoutError::NotEnoughRam { ram, kernel_end, initrd_size: initrd_length, needed_ram: needed_ram(ram, kernel_end, initrd_length) };
    let dtb_load = ram_end.checked_sub(MAX_DTB_SIZE).filter(|&dtb| dtb >= ram.start.get()).ok_or(not_enough)?;
    let initrd_load = match initrd_length {
        None => None,
        Some(length) => {
            Some(dtb_load.checked_sub(length).map(|start| align_down(start, INITRD_ALIGNMENT)).filter(|&start| start >= ram.start.get()).ok_or(not_enough)?)
        }
    };
    if kernel_end > initrd_load.unwrap_or(dtb_load) {
        return Err(not_enough);
    }
    Ok(GuestLayout {
        kernel_load: GuestPhysAddr(kernel_start),
        entry: GuestPhysAddr(entry),
        dtb_load: GuestPhysAddr(dtb_load),
        initrd_load: initrd_load.map(GuestPhysAddr),
    })
}

/// Flattens a personality's kernel and plans its layout, naming the
/// personality in any error.
pub fn plan_personality_layout(
    personality: &PersonalityConfig,
    kernel_bytes: &[u8],
    initrd_length: Option<u64>,
) -> Result<(FlatKernel, GuestLayout), PersonalityLayoutError> {
    let named = |error| PersonalityLayoutError { personality: personality.name.clone(), error };
    let kernel = flatten_kernel(kernel_bytes).map_err(named)?;
    let layout = plan_layout(personality.ram, &kernel, initrd_length).map_err(named)?;
    Ok((kernel, layout))
}

impl crate::plan::PersonalityPlan {
    /// Assembles the boot plan entry for a personality that passed
    /// [`crate::validate()`], from its devices
    /// ([`crate::Manifest::devices_of`]), its layout and the blobs added to
    /// the payload. `None` if the name, CPU list, devices or their
    /// interrupts exceed the plan's capacities (which validation rules out)
    /// or if `initrd` and the layout disagree about whether there is an
    /// initrd.
    pub fn assemble<'a>(
        personality: &PersonalityConfig,
        devices: impl IntoIterator<Item = &'a DeviceConfig>,
        layout: &GuestLayout,
        kernel: crate::plan::Blob,
        dtb: crate::plan::Blob,
        initrd: Option<crate::plan::Blob>,
    ) -> Option<Self> {
        let initrd = match (initrd, layout.initrd_load) {
            (Some(blob), Some(load)) => Some((blob, load)),
            (None, None) => None,
            _ => return None,
        };
        Some(Self {
            name: heapless::String::try_from(personality.name.as_str()).ok()?,
            cpus: heapless::Vec::from_slice(&personality.cpus).ok()?,
            ram: personality.ram,
            kernel,
            kernel_load: layout.kernel_load,
            entry: layout.entry,
            dtb,
            dtb_load: layout.dtb_load,
            initrd,
            disk: personality.disk,
            devices: device_plans(devices)?,
        })
    }
}

/// The boot plan's view of a personality's devices; `None` past the plan's
/// capacities.
fn device_plans<'a>(devices: impl IntoIterator<Item = &'a DeviceConfig>) -> Option<heapless::Vec<DevicePlan, MAX_DEVICES>> {
    let mut plans = heapless::Vec::new();
    for device in devices {
        let plan = DevicePlan {
            name: heapless::String::try_from(device.name.as_str()).ok()?,
            mmio: device.mmio,
            interrupts: heapless::Vec::from_slice(&device.interrupts).ok()?,
        };
        plans.push(plan).ok()?;
    }
    Some(plans)
}
