//! The physical interrupt controller as far as Janus itself needs it:
//! bring-up, kicking another core with an SGI, acknowledging, and the
//! split priority-drop/deactivate (EOImode 1) that lets a forwarded
//! interrupt stay active until the guest deactivates it. GICv3 uses the
//! system-register CPU interface (IHI 0069); GICv2/GIC-400 the memory-mapped
//! GICC (IHI 0048B).

use core::sync::atomic::{AtomicU64, Ordering};

use janus_platform::{GicDescription, MAX_CPUS};
use spin::Once;

mod v2;
mod v3;

/// The SGI Janus uses to kick another core.
pub const KICK_SGI: u32 = 0;
/// The GIC maintenance interrupt (PPI 9).
pub const MAINTENANCE: u32 = 25;
/// The EL1 virtual timer (PPI 11): the guest's, forwarded with the HW bit.
pub const VIRTUAL_TIMER: u32 = 27;
/// The EL1 physical timer (PPI 14): also the guest's, forwarded the same way.
pub const PHYSICAL_TIMER: u32 = 30;
/// Per-core interrupts that belong to whichever guest runs on the core.
pub const GUEST_TIMERS: [u32; 2] = [VIRTUAL_TIMER, PHYSICAL_TIMER];
/// Interrupts every core enables for itself.
const CORE_INTERRUPTS: u32 = (1 << KICK_SGI) | (1 << MAINTENANCE) | (1 << VIRTUAL_TIMER) | (1 << PHYSICAL_TIMER);
/// Interrupt IDs from here on are special (1023: nothing pending).
const SPURIOUS_LIMIT: u32 = 1020;

static GIC: Once<GicDescription> = Once::new();
/// Per core: GICv3 redistributor frame, or GICv2 CPU-interface target mask.
static CORE_ROUTE: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];
/// Per core: MPIDR affinity (GICv3 SGI targets).
static CORE_AFFINITY: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];

/// An acknowledged interrupt: its ID and the raw IAR value (GICv2 SGIs
/// carry the source core, which EOI and DIR must echo back).
#[derive(Clone, Copy)]
pub struct Acknowledged {
    /// The interrupt ID.
    pub interrupt: u32,
    raw: u32,
}

impl Acknowledged {
    /// Whether the INTID is a special one (1020..1024: nothing was pending).
    pub fn is_special(&self) -> bool {
        self.interrupt >= SPURIOUS_LIMIT
    }
}

/// Enables the distributor once.
///
/// # Safety
/// The description's addresses must be this board's GIC, mapped as device
/// memory in Janus' stage-1 map; call once, on the boot core.
pub unsafe fn init_distributor(gic: &GicDescription) {
    GIC.call_once(|| *gic);
    match *gic {
        // SAFETY: forwarded contract.
        GicDescription::V3 { distributor, .. } => unsafe { v3::init_distributor(distributor.get()) },
        // SAFETY: forwarded contract.
        GicDescription::V2 { distributor, .. } => unsafe { v2::init_distributor(distributor.get()) },
    }
}

/// Brings up this core's part of the GIC and records how to reach it.
/// Returns false if the GIC has nothing for this core.
///
/// # Safety
/// After `init_distributor`; on the core `cpu` itself.
pub unsafe fn init_this_core(cpu: usize, affinity: u64) -> bool {
    let Some(gic) = GIC.get() else { return false };
    let route = match *gic {
        // SAFETY: forwarded contract.
        GicDescription::V3 { redistributor, .. } => unsafe { v3::init_this_core(redistributor.get(), affinity, CORE_INTERRUPTS) },
        // SAFETY: forwarded contract.
        GicDescription::V2 { distributor, cpu_interface, .. } => unsafe { v2::init_this_core(distributor.get(), cpu_interface.get(), CORE_INTERRUPTS) },
    };
    let Some(route) = route else { return false };
    if let (Some(slot), Some(affinity_slot)) = (CORE_ROUTE.get(cpu), CORE_AFFINITY.get(cpu)) {
        slot.store(route, Ordering::Release);
        affinity_slot.store(affinity, Ordering::Release);
    }
    true
}

/// Sends the kick SGI to core `cpu`.
pub fn kick(cpu: usize) {
    // SAFETY: barrier only: mailbox writes must be visible before the SGI.
    unsafe { core::arch::asm!("dsb sy", options(nostack)) };
    match GIC.get() {
        Some(GicDescription::V3 { .. }) => {
            if let Some(affinity) = CORE_AFFINITY.get(cpu) {
                v3::send_sgi(affinity.load(Ordering::Acquire), KICK_SGI);
            }
        }
        Some(GicDescription::V2 { distributor, .. }) => {
            if let Some(mask) = CORE_ROUTE.get(cpu) {
                // SAFETY: the distributor was initialised at boot.
                unsafe { v2::send_sgi(distributor.get(), mask.load(Ordering::Acquire), KICK_SGI) };
            }
        }
        None => {}
    }
}

/// Acknowledges the highest-priority pending interrupt of this core.
pub fn acknowledge() -> Option<Acknowledged> {
    acknowledge_on(GIC.get()?)
}

/// [`acknowledge`] on the board's GIC `gic` (for callers that hold its
/// description already).
#[inline]
pub fn acknowledge_on(gic: &GicDescription) -> Option<Acknowledged> {
    Some(acknowledge_any_on(gic)).filter(|acknowledged| !acknowledged.is_special())
}

/// Acknowledges on the board's GIC `gic`, returning the special INTID
/// (1020..1024) too when nothing is pending: for the trap path, which
/// compares the INTID with its guest's timers first.
#[inline]
pub fn acknowledge_any_on(gic: &GicDescription) -> Acknowledged {
    let (raw, interrupt) = match *gic {
        GicDescription::V3 { .. } => {
            // Already only the INTID bits (23:0).
            let raw = v3::acknowledge();
            (raw, raw)
        }
        GicDescription::V2 { cpu_interface, .. } => {
            // SAFETY: the CPU interface was initialised for this core.
            let raw = unsafe { v2::acknowledge(cpu_interface.get()) };
            // Bits 12:10 of a GICv2 SGI's IAR name the sending core.
            (raw, raw & 0x3ff)
        }
    };
    Acknowledged { interrupt, raw }
}

/// Drops the running priority (EOImode 1: the interrupt stays active).
pub fn priority_drop(acknowledged: Acknowledged) {
    if let Some(gic) = GIC.get() {
        priority_drop_on(gic, acknowledged);
    }
}

/// [`priority_drop`] on the board's GIC `gic`.
#[inline]
pub fn priority_drop_on(gic: &GicDescription, acknowledged: Acknowledged) {
    match *gic {
        GicDescription::V3 { .. } => v3::priority_drop(acknowledged.raw),
        // SAFETY: the CPU interface was initialised for this core.
        GicDescription::V2 { cpu_interface, .. } => unsafe { v2::priority_drop(cpu_interface.get(), acknowledged.raw) },
    }
}

/// Deactivates an interrupt Janus handled itself.
pub fn deactivate(acknowledged: Acknowledged) {
    match GIC.get() {
        Some(GicDescription::V3 { .. }) => v3::deactivate(acknowledged.raw),
        // SAFETY: the CPU interface was initialised for this core.
        Some(GicDescription::V2 { cpu_interface, .. }) => unsafe { v2::deactivate(cpu_interface.get(), acknowledged.raw) },
        None => {}
    }
}

/// Acknowledges and completes every pending interrupt of this core, for
/// cores parked in Janus' idle loop (only kicks are expected there).
pub fn acknowledge_all() {
    for _ in 0..16 {
        let Some(acknowledged) = acknowledge() else { break };
        priority_drop(acknowledged);
        deactivate(acknowledged);
    }
}

pub(crate) fn read_word(address: u64) -> u32 {
    // SAFETY: callers pass distributor registers of the checked board
    // description, mapped as device memory.
    unsafe { (address as *const u32).read_volatile() }
}

pub(crate) fn write_word(address: u64, value: u32) {
    // SAFETY: as for read_word.
    unsafe { (address as *mut u32).write_volatile(value) }
}

/// Sets the priority byte of `interrupt` (read-modify-write of its word).
pub(crate) fn set_priority(distributor: u64, interrupt: u32, priority: u8) {
    let address = distributor + 0x400 + u64::from(interrupt & !3);
    let shift = (interrupt & 3) * 8;
    write_word(address, (read_word(address) & !(0xff << shift)) | (u32::from(priority) << shift));
}

/// Routes the physical SPI `interrupt` to core `cpu` and enables it, for
/// Janus' own devices (its console UART).
pub fn enable_spi_on(interrupt: u32, cpu: usize) {
    match GIC.get() {
        Some(GicDescription::V3 { distributor, .. }) => {
            if let Some(affinity) = CORE_AFFINITY.get(cpu) {
                // SAFETY: the distributor was initialised at boot.
                unsafe { v3::enable_spi(distributor.get(), interrupt, affinity.load(Ordering::Acquire)) };
            }
        }
        Some(GicDescription::V2 { distributor, .. }) => {
            if let Some(mask) = CORE_ROUTE.get(cpu) {
                // SAFETY: the distributor was initialised at boot.
                unsafe { v2::enable_spi(distributor.get(), interrupt, mask.load(Ordering::Acquire)) };
            }
        }
        None => {}
    }
}

fn distributor_base() -> Option<u64> {
    GIC.get().map(|gic| match gic {
        GicDescription::V3 { distributor, .. } | GicDescription::V2 { distributor, .. } => distributor.get(),
    })
}

/// Disables the physical SPI `interrupt` and clears its pending and active
/// state (GICD_ICENABLER, GICD_ICPENDR, GICD_ICACTIVER: the same offsets on
/// GICv2 and GICv3): its personality stopped, and a line it left active
/// must not stay stuck, nor fire into a personality that is off.
pub fn quiesce_spi(interrupt: u32) {
    let Some(distributor) = distributor_base() else { return };
    let word = u64::from(interrupt / 32) * 4;
    let bit = 1u32 << (interrupt % 32);
    for register in [0x180, 0x280, 0x380] {
        write_word(distributor + register + word, bit);
    }
}

/// Deactivates the physical SPI `interrupt` through the distributor
/// (GICD_ICACTIVER), from any core.
pub fn deactivate_spi(interrupt: u32) {
    let Some(distributor) = distributor_base() else { return };
    write_word(distributor + 0x380 + u64::from(interrupt / 32) * 4, 1u32 << (interrupt % 32));
}

/// Makes the guest-owned per-core interrupts of core `cpu` inactive again
/// (a stopped vCPU may have left one active, forwarded but never completed).
pub fn clear_guest_interrupts(cpu: usize) {
    let mask = GUEST_TIMERS.iter().fold(0u32, |mask, interrupt| mask | (1 << interrupt));
    match GIC.get() {
        Some(GicDescription::V3 { .. }) => {
            if let Some(frame) = CORE_ROUTE.get(cpu).map(|slot| slot.load(Ordering::Acquire))
                && frame != 0
            {
                // SAFETY: the frame was found by init_this_core for this core.
                unsafe { v3::clear_active(frame, mask) };
            }
        }
        // SAFETY: ICACTIVER0 is banked: this clears the calling core's PPIs.
        Some(GicDescription::V2 { distributor, .. }) => unsafe { v2::clear_active(distributor.get(), mask) },
        None => {}
    }
}
