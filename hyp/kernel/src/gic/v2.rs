//! GICv2 / GIC-400 physical back end (IHI 0048B §4): distributor and the
//! memory-mapped CPU interface. QEMU's virt GICv2 and the Raspberry Pi 4's
//! GIC-400 have no security extensions visible to Janus, so everything is
//! group 0 signalled as IRQ.

use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::register_structs;
use tock_registers::registers::ReadWrite;

register_structs! {
    Distributor {
        (0x000 => control: ReadWrite<u32>),
        (0x004 => _reserved0),
        (0x100 => set_enable0: ReadWrite<u32>),
        (0x104 => _reserved1),
        (0x380 => clear_active0: ReadWrite<u32>),
        (0x384 => _reserved2),
        (0x400 => priority: [ReadWrite<u32>; 8]),
        (0x420 => _reserved3),
        (0x800 => targets0: ReadWrite<u32>),
        (0x804 => _reserved4),
        (0xf00 => software_interrupt: ReadWrite<u32>),
        (0xf04 => @END),
    }
}

register_structs! {
    CpuInterface {
        (0x0000 => control: ReadWrite<u32>),
        (0x0004 => priority_mask: ReadWrite<u32>),
        (0x0008 => binary_point: ReadWrite<u32>),
        (0x000c => acknowledge: ReadWrite<u32>),
        (0x0010 => end_of_interrupt: ReadWrite<u32>),
        (0x0014 => _reserved0),
        (0x1000 => deactivate: ReadWrite<u32>),
        (0x1004 => @END),
    }
}

const CONTROL_ENABLE: u32 = 1 << 0;
/// GICC_CTLR.EOImode (bit 9 without security extensions): split EOI.
const CONTROL_EOI_MODE_SPLIT: u32 = 1 << 9;

fn distributor(base: u64) -> &'static Distributor {
    // SAFETY: callers pass the GICD base from the checked board description.
    unsafe { &*(base as *const Distributor) }
}

fn cpu_interface(base: u64) -> &'static CpuInterface {
    // SAFETY: callers pass the GICC base from the checked board description.
    unsafe { &*(base as *const CpuInterface) }
}

/// # Safety
/// `base` is the GICD base, mapped as device memory.
pub unsafe fn init_distributor(base: u64) {
    distributor(base).control.set(CONTROL_ENABLE);
}

/// Enables `interrupts` (banked SGIs/PPIs) and this core's CPU interface;
/// returns this core's CPU-interface target mask (GICD_ITARGETSR0).
///
/// # Safety
/// `distributor_base`/`cpu_interface_base` are the GICD/GICC of this board.
pub unsafe fn init_this_core(distributor_base: u64, cpu_interface_base: u64, interrupts: u32) -> Option<u64> {
    let gicd = distributor(distributor_base);
    for priority in &gicd.priority {
        priority.set(0x8080_8080);
    }
    gicd.set_enable0.set(interrupts);
    let gicc = cpu_interface(cpu_interface_base);
    gicc.priority_mask.set(0xff);
    gicc.binary_point.set(0);
    gicc.control.set(CONTROL_ENABLE | CONTROL_EOI_MODE_SPLIT);
    // The banked ITARGETSR0 reads as this core's own interface bit.
    let mask = u64::from(gicd.targets0.get() & 0xff);
    if mask == 0 { None } else { Some(mask) }
}

/// Sends SGI `interrupt` to the CPU interfaces in `mask`.
///
/// # Safety
/// `base` is the GICD base.
pub unsafe fn send_sgi(base: u64, mask: u64, interrupt: u32) {
    distributor(base).software_interrupt.set((((mask & 0xff) as u32) << 16) | (interrupt & 0xf));
}

/// GICC_IAR.
///
/// # Safety
/// `base` is the GICC base.
pub unsafe fn acknowledge(base: u64) -> u32 {
    cpu_interface(base).acknowledge.get() & 0x1fff
}

/// GICC_EOIR.
///
/// # Safety
/// `base` is the GICC base.
pub unsafe fn priority_drop(base: u64, raw: u32) {
    cpu_interface(base).end_of_interrupt.set(raw);
}

/// GICC_DIR.
///
/// # Safety
/// `base` is the GICC base.
pub unsafe fn deactivate(base: u64, raw: u32) {
    cpu_interface(base).deactivate.set(raw);
}

/// GICD_ICACTIVER0 (banked per core).
///
/// # Safety
/// `base` is the GICD base.
pub unsafe fn clear_active(base: u64, mask: u32) {
    distributor(base).clear_active0.set(mask);
}

use super::{read_word, set_priority, write_word};

/// Targets SPI `interrupt` at the CPU interfaces in `mask` and enables it
/// (GICD_IPRIORITYR, ITARGETSR, ISENABLER).
///
/// # Safety
/// `distributor` is the GICD base; `interrupt` is an SPI Janus owns.
pub unsafe fn enable_spi(distributor: u64, interrupt: u32, mask: u64) {
    set_priority(distributor, interrupt, 0x80);
    let targets = distributor + 0x800 + u64::from(interrupt & !3);
    let shift = (interrupt & 3) * 8;
    write_word(targets, (read_word(targets) & !(0xff << shift)) | (((mask & 0xff) as u32) << shift));
    write_word(distributor + 0x100 + u64::from(interrupt / 32) * 4, 1 << (interrupt % 32));
}
