//! Thin wrappers over AArch64 system registers, barriers and cache
//! maintenance used by the EL2 core. State-changing writes are `unsafe fn`s
//! that also issue the synchronisation they need.

use core::arch::asm;

/// Reads a system register by name.
macro_rules! read_sysreg {
    ($name:ident) => {{
        let value: u64;
        // SAFETY: reading a system register has no side effects on memory.
        unsafe { core::arch::asm!(concat!("mrs {}, ", stringify!($name)), out(reg) value, options(nomem, nostack, preserves_flags)) };
        value
    }};
}
pub(crate) use read_sysreg;

/// Writes a system register by name. Only for registers whose write has no
/// effect on the hypervisor's own execution (EL1 state, ELR/SPSR, ...).
macro_rules! write_sysreg {
    ($name:ident, $value:expr) => {{
        let value: u64 = $value;
        // SAFETY: the register written is guest (EL1) state or exception
        // return state; it cannot change how EL2 itself executes.
        unsafe { core::arch::asm!(concat!("msr ", stringify!($name), ", {}"), in(reg) value, options(nomem, nostack, preserves_flags)) };
    }};
}
pub(crate) use write_sysreg;

/// The current exception level (0..=3).
pub fn current_el() -> u64 {
    (read_sysreg!(CurrentEL) >> 2) & 3
}

/// Affinity fields of this core's MPIDR_EL1 (Aff3, Aff2, Aff1, Aff0).
pub fn mpidr_affinity() -> u64 {
    read_sysreg!(mpidr_el1) & 0xff_00ff_ffff
}

/// Counter value (CNTPCT_EL0) and frequency.
pub fn counter() -> u64 {
    // SAFETY: isb orders the counter read; no memory effects.
    unsafe { asm!("isb", options(nomem, nostack, preserves_flags)) };
    read_sysreg!(cntpct_el0)
}

/// Counter frequency in Hz (CNTFRQ_EL0).
pub fn counter_frequency() -> u64 {
    read_sysreg!(cntfrq_el0)
}

/// Writes HCR_EL2 and synchronises.
///
/// # Safety
/// The value must be a valid guest configuration: it changes how every
/// lower-EL exception and memory access of this core is handled.
pub unsafe fn write_hcr(value: u64) {
    // SAFETY: the caller vouches for the configuration; isb makes it take
    // effect before the next instruction.
    unsafe { asm!("msr hcr_el2, {}", "isb", in(reg) value, options(nostack, preserves_flags)) };
}

/// Sets this core's EL2 controls whose reset values are UNKNOWN (ARM ARM
/// D1.9.1) to what Janus means, on every core before anything else:
/// HCR_EL2 (EL1 is AArch64, nothing else until a guest runs), ACTLR_EL2
/// (no EL1 access to IMPLEMENTATION DEFINED controls), CNTHCTL_EL2 (EL1
/// reads the physical counter and owns its physical timer, untrapped; no
/// event stream), HSTR_EL2 (no AArch32 traps) and, where the Statistical
/// Profiling Extension exists, PMSCR_EL2 (profiling off). CPTR_EL2 is set
/// in boot.S; MDCR_EL2 and the debug and PMU controls are not yet.
///
/// # Safety
/// Only at boot, before this core runs a guest.
pub unsafe fn set_el2_controls() {
    const HCR_RW: u64 = 1 << 31;
    const CNTHCTL_EL1PCTEN: u64 = 1 << 0;
    const CNTHCTL_EL1PCEN: u64 = 1 << 1;
    // SAFETY: the caller runs this before any guest; none of these values
    // affects EL2's own execution (E2H and TGE stay clear).
    unsafe {
        write_hcr(HCR_RW);
        asm!(
            "msr actlr_el2, xzr",
            "msr cnthctl_el2, {cnthctl}",
            "msr hstr_el2, xzr",
            "isb",
            cnthctl = in(reg) CNTHCTL_EL1PCTEN | CNTHCTL_EL1PCEN,
            options(nostack, preserves_flags)
        );
    }
    // ID_AA64DFR0_EL1.PMSVer, bits 35:32: the Statistical Profiling Extension.
    if (read_sysreg!(id_aa64dfr0_el1) >> 32) & 0xf != 0 {
        // SAFETY: PMSCR_EL2 exists (checked); zero disables profiling.
        unsafe { asm!("msr S3_4_C9_C9_0, xzr", "isb", options(nostack, preserves_flags)) };
    }
}

/// Installs a stage-2 configuration (VTCR_EL2, VTTBR_EL2) and invalidates
/// the stage-1 and stage-2 TLB entries of that VMID on this core.
///
/// # Safety
/// `vttbr` must point at a complete stage-2 table for the personality that
/// will run on this core next; `vtcr` must match how it was built.
pub unsafe fn install_stage2(vtcr: u64, vttbr: u64) {
    // SAFETY: per the contract above; the TLBI runs with the new VMID
    // current, so it drops stale entries of exactly this guest.
    unsafe {
        asm!(
            "msr vtcr_el2, {vtcr}",
            "msr vttbr_el2, {vttbr}",
            "isb",
            "tlbi vmalls12e1",
            "dsb nsh",
            "ic iallu",
            "dsb nsh",
            "isb",
            vtcr = in(reg) vtcr,
            vttbr = in(reg) vttbr,
            options(nostack, preserves_flags)
        )
    };
}

/// Smallest data cache line size in bytes (CTR_EL0.DminLine).
fn dcache_line() -> u64 {
    4 << ((read_sysreg!(ctr_el0) >> 16) & 0xf)
}

/// Cleans and invalidates `[start, start + length)` to the point of
/// coherency, so a guest running with its MMU (and caches) off sees what
/// Janus wrote, then invalidates the instruction cache.
///
/// # Safety
/// The range must be mapped in Janus' own stage-1 map.
pub unsafe fn clean_to_coherency(start: u64, length: u64) {
    let line = dcache_line();
    let mut address = start & !(line - 1);
    let end = start.saturating_add(length);
    while address < end {
        // SAFETY: the caller guarantees the range is mapped; DC CIVAC does
        // not change memory contents.
        unsafe { asm!("dc civac, {}", in(reg) address, options(nostack, preserves_flags)) };
        address += line;
    }
    // SAFETY: barriers and an instruction-cache invalidate only.
    unsafe { asm!("dsb sy", "ic iallu", "dsb sy", "isb", options(nostack, preserves_flags)) };
}

/// Zeroes `[start, start + length)` with `DC ZVA` where the block size
/// allows (one instruction per block), falling back to stores.
///
/// # Safety
/// The range must be mapped in Janus' stage-1 map as normal memory and
/// owned by the caller (no one else reads or writes it meanwhile).
pub unsafe fn zero_memory(start: u64, length: u64) {
    let dczid = read_sysreg!(dczid_el0);
    let end = start.saturating_add(length);
    let mut address = start;
    if dczid & (1 << 4) == 0 {
        let block = 4u64 << (dczid & 0xf);
        while !address.is_multiple_of(block) && address < end {
            // SAFETY: inside the caller's range.
            unsafe { (address as *mut u8).write_volatile(0) };
            address += 1;
        }
        while address + block <= end {
            // SAFETY: a whole block inside the caller's range.
            unsafe { asm!("dc zva, {}", in(reg) address, options(nostack, preserves_flags)) };
            address += block;
        }
    }
    while address < end {
        // SAFETY: inside the caller's range.
        unsafe { (address as *mut u8).write_volatile(0) };
        address += 1;
    }
}

/// A full inner-shareable data memory barrier (DMB ISH): orders this
/// core's memory accesses before and after it as seen by other cores and
/// coherent devices.
pub fn memory_barrier() {
    // SAFETY: a barrier has no operands and no effect beyond ordering.
    unsafe { core::arch::asm!("dmb ish", options(nostack, preserves_flags)) };
}

/// Waits for an interrupt (wakes even with interrupts masked at EL2).
pub fn wait_for_interrupt() {
    // SAFETY: wfi has no memory effects.
    unsafe { asm!("dsb sy", "wfi", options(nostack, preserves_flags)) };
}

/// Stops this core for good (used when Janus itself cannot go on).
pub fn halt() -> ! {
    loop {
        // SAFETY: masks interrupts and waits; no memory effects.
        unsafe { asm!("msr daifset, #0xf", "wfi", options(nostack, preserves_flags)) };
    }
}

/// A firmware call over SMC (SMCCC): function id and three arguments.
pub fn secure_monitor_call(function: u64, arg1: u64, arg2: u64, arg3: u64) -> u64 {
    let mut result = function;
    // SAFETY: SMCCC calls may clobber x0-x17; declared below. The firmware
    // (QEMU's PSCI here) does not touch our memory.
    unsafe {
        asm!(
            "smc #0",
            inout("x0") result,
            inout("x1") arg1 => _,
            inout("x2") arg2 => _,
            inout("x3") arg3 => _,
            out("x4") _, out("x5") _, out("x6") _, out("x7") _,
            out("x8") _, out("x9") _, out("x10") _, out("x11") _,
            out("x12") _, out("x13") _, out("x14") _, out("x15") _,
            out("x16") _, out("x17") _,
            options(nostack)
        )
    };
    result
}
