//! GICv3 physical back end (IHI 0069 §12): distributor, redistributor and
//! the system-register CPU interface.

use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::register_structs;
use tock_registers::registers::ReadWrite;

use crate::arch::{read_sysreg, write_sysreg};

register_structs! {
    Distributor {
        (0x0000 => control: ReadWrite<u32>),
        (0x0004 => @END),
    }
}

register_structs! {
    RedistributorControl {
        (0x0000 => control: ReadWrite<u32>),
        (0x0004 => _reserved0),
        (0x0008 => type_low: ReadWrite<u32>),
        (0x000c => type_high: ReadWrite<u32>),
        (0x0010 => _reserved1),
        (0x0014 => waker: ReadWrite<u32>),
        (0x0018 => @END),
    }
}

register_structs! {
    RedistributorSgi {
        (0x0000 => _reserved0),
        (0x0080 => group0: ReadWrite<u32>),
        (0x0084 => _reserved1),
        (0x0100 => set_enable0: ReadWrite<u32>),
        (0x0104 => _reserved2),
        (0x0380 => clear_active0: ReadWrite<u32>),
        (0x0384 => _reserved3),
        (0x0400 => priority: [ReadWrite<u32>; 8]),
        (0x0420 => @END),
    }
}

const DISTRIBUTOR_ARE: u32 = 1 << 4;
const DISTRIBUTOR_ENABLE_GROUP1: u32 = 1 << 1;
const DISTRIBUTOR_ENABLE_GROUP0: u32 = 1 << 0;
const DISTRIBUTOR_REGISTER_WRITE_PENDING: u32 = 1 << 31;
const WAKER_PROCESSOR_SLEEP: u32 = 1 << 1;
const WAKER_CHILDREN_ASLEEP: u32 = 1 << 2;
const TYPER_LAST: u32 = 1 << 4;
const REDISTRIBUTOR_FRAMES: u64 = 0x2_0000;
const SGI_FRAME_OFFSET: u64 = 0x1_0000;
/// ICC_CTLR_EL1.EOImode: EOIR only drops priority; deactivation is separate.
const CONTROL_EOI_MODE_SPLIT: u64 = 1 << 1;

/// # Safety
/// `distributor` is the GICD base, mapped as device memory.
pub unsafe fn init_distributor(distributor: u64) {
    // SAFETY: per the contract.
    let gicd = unsafe { &*(distributor as *const Distributor) };
    gicd.control.set(DISTRIBUTOR_ARE | DISTRIBUTOR_ENABLE_GROUP1 | DISTRIBUTOR_ENABLE_GROUP0);
    let mut budget = 1_000_000u32;
    while gicd.control.get() & DISTRIBUTOR_REGISTER_WRITE_PENDING != 0 && budget > 0 {
        budget -= 1;
    }
}

/// Wakes this core's redistributor, enables `interrupts` (SGIs/PPIs) and
/// the system-register CPU interface. Returns the redistributor frame.
///
/// # Safety
/// `redistributor` is the first GICR frame of a region ending with a frame
/// whose GICR_TYPER.Last is set, mapped as device memory.
pub unsafe fn init_this_core(redistributor: u64, affinity: u64, interrupts: u32) -> Option<u64> {
    let wanted = ((affinity >> 8) & 0xff00_0000) | (affinity & 0xff_ffff);
    let mut frame = redistributor;
    let found = loop {
        // SAFETY: the contract guarantees frames up to the Last one exist.
        let gicr = unsafe { &*(frame as *const RedistributorControl) };
        if u64::from(gicr.type_high.get()) == wanted {
            break Some(frame);
        }
        if gicr.type_low.get() & TYPER_LAST != 0 {
            break None;
        }
        frame += REDISTRIBUTOR_FRAMES;
    };
    let frame = found?;
    // SAFETY: `frame` is this core's GICR frame, found above.
    let gicr = unsafe { &*(frame as *const RedistributorControl) };
    gicr.waker.set(gicr.waker.get() & !WAKER_PROCESSOR_SLEEP);
    let mut budget = 1_000_000u32;
    while gicr.waker.get() & WAKER_CHILDREN_ASLEEP != 0 && budget > 0 {
        budget -= 1;
    }
    // SAFETY: the SGI/PPI frame follows the control frame (§12.10).
    let sgi = unsafe { &*((frame + SGI_FRAME_OFFSET) as *const RedistributorSgi) };
    sgi.group0.set(u32::MAX);
    for priority in &sgi.priority {
        priority.set(0x8080_8080);
    }
    sgi.set_enable0.set(interrupts);
    // ICC_SRE_EL2: SRE | DFB | DIB | Enable (lower ELs may use the
    // system-register interface too).
    // SAFETY: enabling the system-register interface for this core only.
    unsafe { core::arch::asm!("msr icc_sre_el2, {}", "isb", in(reg) 0xfu64, options(nostack)) };
    write_sysreg!(icc_pmr_el1, 0xff);
    write_sysreg!(icc_bpr1_el1, 0);
    write_sysreg!(icc_ctlr_el1, CONTROL_EOI_MODE_SPLIT);
    write_sysreg!(icc_igrpen1_el1, 1);
    // SAFETY: barrier only.
    unsafe { core::arch::asm!("isb", options(nostack)) };
    Some(frame)
}

/// Sends SGI `interrupt` to the core with MPIDR affinity `affinity`.
pub fn send_sgi(affinity: u64, interrupt: u32) {
    let aff0 = affinity & 0xf;
    let aff1 = (affinity >> 8) & 0xff;
    let aff2 = (affinity >> 16) & 0xff;
    let aff3 = (affinity >> 32) & 0xff;
    let value = (aff3 << 48) | (aff2 << 32) | (u64::from(interrupt) << 24) | (aff1 << 16) | (1 << aff0);
    write_sysreg!(icc_sgi1r_el1, value);
    // SAFETY: barrier only.
    unsafe { core::arch::asm!("isb", options(nostack)) };
}

/// ICC_IAR1_EL1.
pub fn acknowledge() -> u32 {
    (read_sysreg!(icc_iar1_el1) & 0xff_ffff) as u32
}

/// ICC_EOIR1_EL1.
pub fn priority_drop(raw: u32) {
    write_sysreg!(icc_eoir1_el1, u64::from(raw));
}

/// ICC_DIR_EL1.
pub fn deactivate(raw: u32) {
    write_sysreg!(icc_dir_el1, u64::from(raw));
}

/// GICR_ICACTIVER0 of the given frame.
///
/// # Safety
/// `frame` is a redistributor frame found by `init_this_core`.
pub unsafe fn clear_active(frame: u64, mask: u32) {
    // SAFETY: per the contract; the SGI frame follows the control frame.
    let sgi = unsafe { &*((frame + SGI_FRAME_OFFSET) as *const RedistributorSgi) };
    sgi.clear_active0.set(mask);
}

use super::{read_word, set_priority, write_word};

/// Routes SPI `interrupt` to the core with MPIDR affinity `affinity` as a
/// group-1 interrupt and enables it (GICD_IGROUPR, IPRIORITYR, IROUTER,
/// ISENABLER).
///
/// # Safety
/// `distributor` is the GICD base; `interrupt` is an SPI Janus owns.
pub unsafe fn enable_spi(distributor: u64, interrupt: u32, affinity: u64) {
    let word = u64::from(interrupt / 32) * 4;
    let bit = 1u32 << (interrupt % 32);
    write_word(distributor + 0x80 + word, read_word(distributor + 0x80 + word) | bit);
    set_priority(distributor, interrupt, 0x80);
    let route = ((affinity >> 32) & 0xff) << 32 | (affinity & 0xff_ffff);
    let router = distributor + 0x6000 + 8 * u64::from(interrupt);
    write_word(router, route as u32);
    write_word(router + 4, (route >> 32) as u32);
    write_word(distributor + 0x100 + word, bit);
}
