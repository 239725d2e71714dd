//! A minimal GIC driver for the test guest, GICv3 (system-register CPU
//! interface, IHI 0069) or GICv2 (memory-mapped GICC, IHI 0048B), whichever
//! the device tree describes. The same code runs natively at EL1 (benchmark
//! baseline) and on Janus' virtual GIC.

use core::sync::atomic::{AtomicU64, Ordering};

static DISTRIBUTOR: AtomicU64 = AtomicU64::new(0);
static REDISTRIBUTORS: AtomicU64 = AtomicU64::new(0);
/// GICv2 CPU interface base; 0 on GICv3.
static CPU_INTERFACE: AtomicU64 = AtomicU64::new(0);

/// Whether the GIC is a GICv2 (memory-mapped CPU interface).
pub fn is_v2() -> bool {
    CPU_INTERFACE.load(Ordering::Relaxed) != 0
}

const REDISTRIBUTOR_STRIDE: u64 = 0x2_0000;
const SGI_FRAME: u64 = 0x1_0000;
/// INTIDs from 1020 up are special (1023: nothing pending).
pub const SPURIOUS_LIMIT: u32 = 1020;

/// One 32-bit MMIO load as a plain `ldr` (no writeback), so a hypervisor
/// that traps it gets a full syndrome (ESR ISV=1), like Linux's `readl`.
pub fn read32(address: u64) -> u32 {
    let value: u32;
    // SAFETY: only called with addresses inside the GIC windows named by
    // the device tree.
    unsafe { core::arch::asm!("ldr {value:w}, [{address}]", address = in(reg) address, value = out(reg) value, options(nostack)) };
    value
}

/// One 32-bit MMIO store as a plain `str` (see `read32`).
pub fn write32(address: u64, value: u32) {
    // SAFETY: as for read32.
    unsafe { core::arch::asm!("str {value:w}, [{address}]", address = in(reg) address, value = in(reg) value, options(nostack)) };
}

/// The GICv2 CPU interface's base address (0 on GICv3).
pub fn cpu_interface() -> u64 {
    CPU_INTERFACE.load(Ordering::Relaxed)
}

/// The distributor's base address.
pub fn distributor() -> u64 {
    DISTRIBUTOR.load(Ordering::Relaxed)
}

/// Finds the GIC in the device tree and enables its distributor.
pub fn init(tree: &fdt::Fdt<'_>) -> bool {
    if let Some(node) = tree.find_compatible(&["arm,cortex-a15-gic", "arm,gic-400"]) {
        let Some(mut regions) = node.reg() else { return false };
        let (Some(distributor), Some(cpu_interface)) = (regions.next(), regions.next()) else { return false };
        DISTRIBUTOR.store(distributor.starting_address as u64, Ordering::Relaxed);
        CPU_INTERFACE.store(cpu_interface.starting_address as u64, Ordering::Relaxed);
        write32(distributor.starting_address as u64, 1);
        return true;
    }
    let Some(node) = tree.find_compatible(&["arm,gic-v3"]) else { return false };
    let Some(mut regions) = node.reg() else { return false };
    let (Some(distributor), Some(redistributors)) = (regions.next(), regions.next()) else { return false };
    DISTRIBUTOR.store(distributor.starting_address as u64, Ordering::Relaxed);
    REDISTRIBUTORS.store(redistributors.starting_address as u64, Ordering::Relaxed);
    // ARE (bit 4) | EnableGrp1 (bit 1) | EnableGrp0 (bit 0).
    write32(distributor.starting_address as u64, 0x13);
    true
}

fn affinity() -> u64 {
    let mpidr: u64;
    // SAFETY: reading MPIDR_EL1 has no side effects.
    unsafe { core::arch::asm!("mrs {}, mpidr_el1", out(reg) mpidr, options(nomem, nostack)) };
    ((mpidr >> 8) & 0xff00_0000) | (mpidr & 0xff_ffff)
}

/// This vCPU's redistributor frame (found by GICR_TYPER affinity).
fn my_redistributor() -> Option<u64> {
    let mut frame = REDISTRIBUTORS.load(Ordering::Relaxed);
    let wanted = affinity();
    for _ in 0..64 {
        let typer_high = u64::from(read32(frame + 0xc));
        if typer_high == wanted {
            return Some(frame);
        }
        if read32(frame + 0x8) & (1 << 4) != 0 {
            return None;
        }
        frame += REDISTRIBUTOR_STRIDE;
    }
    None
}

/// Wakes this vCPU's redistributor, puts SGIs/PPIs in group 1 with a
/// default priority, enables `enabled` (bit per INTID < 32) and turns on
/// the CPU interface.
pub fn init_cpu(enabled: u32) -> bool {
    if is_v2() {
        let distributor = distributor();
        let cpu_interface = CPU_INTERFACE.load(Ordering::Relaxed);
        for word in 0..8 {
            write32(distributor + 0x400 + word * 4, 0xa0a0_a0a0);
        }
        write32(distributor + 0x100, enabled);
        write32(cpu_interface + 0x4, 0xff); // GICC_PMR
        write32(cpu_interface + 0x8, 0); // GICC_BPR
        write32(cpu_interface, 1); // GICC_CTLR.Enable
        return true;
    }
    let Some(frame) = my_redistributor() else { return false };
    let waker = read32(frame + 0x14);
    write32(frame + 0x14, waker & !(1 << 1));
    let sgi = frame + SGI_FRAME;
    write32(sgi + 0x80, u32::MAX);
    for word in 0..8 {
        write32(sgi + 0x400 + word * 4, 0xa0a0_a0a0);
    }
    write32(sgi + 0x100, enabled);
    // SAFETY: enabling this vCPU's own CPU interface: SRE, PMR, group 1.
    unsafe {
        core::arch::asm!(
            "msr icc_sre_el1, {sre}",
            "isb",
            "msr icc_pmr_el1, {pmr}",
            "msr icc_bpr1_el1, xzr",
            "msr icc_igrpen1_el1, {one}",
            "isb",
            sre = in(reg) 7u64,
            pmr = in(reg) 0xffu64,
            one = in(reg) 1u64,
            options(nostack)
        )
    };
    true
}

/// Sets the priority of a SGI/PPI of this vCPU (read-modify-write of the
/// 32-bit IPRIORITYR word).
pub fn set_priority(interrupt: u32, priority: u8) {
    let base = if is_v2() {
        distributor()
    } else {
        let Some(frame) = my_redistributor() else { return };
        frame + SGI_FRAME
    };
    let address = base + 0x400 + u64::from(interrupt & !3);
    let shift = (interrupt & 3) * 8;
    let value = (read32(address) & !(0xff << shift)) | (u32::from(priority) << shift);
    write32(address, value);
}

/// Configures SPI `interrupt` as a level-sensitive group 1 interrupt of
/// default priority routed to the calling vCPU, and enables it: GICD
/// IGROUPR (GICv3), IPRIORITYR, ICFGR, IROUTER (GICv3) or ITARGETSR
/// (GICv2), ISENABLER (IHI 0069H §12.9; IHI 0048B §4.3).
pub fn enable_spi(interrupt: u32) {
    let distributor = distributor();
    let word = u64::from(interrupt / 32) * 4;
    let bit = 1u32 << (interrupt % 32);
    let byte_shift = (interrupt % 4) * 8;
    let byte_word = distributor + u64::from(interrupt & !3);
    if !is_v2() {
        let group = distributor + 0x80 + word;
        write32(group, read32(group) | bit);
    }
    // IPRIORITYR: the default priority the SGIs and PPIs have.
    let priority = byte_word + 0x400;
    write32(priority, (read32(priority) & !(0xff << byte_shift)) | (0xa0 << byte_shift));
    // ICFGR: two bits per INTID, bit 1 clear = level-sensitive.
    let configuration = distributor + 0xc00 + u64::from(interrupt / 16) * 4;
    write32(configuration, read32(configuration) & !(2 << ((interrupt % 16) * 2)));
    if is_v2() {
        // ITARGETSR0..7 read as this CPU interface's own mask (banked).
        let own = match read32(distributor + 0x800) & 0xff {
            0 => 1,
            mask => mask,
        };
        let targets = byte_word + 0x800;
        write32(targets, (read32(targets) & !(0xff << byte_shift)) | (own << byte_shift));
    } else {
        // IROUTER: Aff2.Aff1.Aff0 in bits 23:0, Aff3 in 39:32, IRM clear.
        let router = distributor + 0x6000 + 8 * u64::from(interrupt);
        let affinity = affinity();
        write32(router, (affinity & 0xff_ffff) as u32);
        write32(router + 4, (affinity >> 32) as u32 & 0xff);
    }
    write32(distributor + 0x100 + word, bit);
}

/// Sends SGI `interrupt` to the vCPUs in `targets` (Aff0 bit mask on
/// GICv3, CPU-interface mask on GICv2; vCPU i is bit i either way).
pub fn send_sgi(interrupt: u32, targets: u16) {
    if is_v2() {
        write32(distributor() + 0xf00, (u32::from(targets & 0xff) << 16) | (interrupt & 0xf));
    } else {
        send_sgi_raw((u64::from(interrupt) << 24) | u64::from(targets));
    }
}

/// Writes GICD_SGIR as given (GICv2 attacks).
pub fn send_sgi_v2_raw(value: u32) {
    write32(distributor() + 0xf00, value);
}

/// Writes ICC_SGI1R_EL1 as given (for attacks with odd affinities).
pub fn send_sgi_raw(value: u64) {
    // SAFETY: generating an SGI has no memory effects on this guest.
    unsafe { core::arch::asm!("msr icc_sgi1r_el1, {}", "isb", in(reg) value, options(nostack)) };
}

/// Acknowledges the highest-priority pending interrupt; returns the raw
/// IAR value (its low 10 bits are the INTID; pass it whole to EOI).
pub fn acknowledge() -> u32 {
    if is_v2() {
        return read32(CPU_INTERFACE.load(Ordering::Relaxed) + 0xc) & 0x1fff;
    }
    let value: u64;
    // SAFETY: reading IAR acknowledges an interrupt; no memory effects.
    unsafe { core::arch::asm!("mrs {}, icc_iar1_el1", out(reg) value, options(nostack)) };
    (value & 0xff_ffff) as u32
}

/// Ends (drops priority and deactivates) an interrupt, given the raw IAR value.
pub fn end_of_interrupt(interrupt: u32) {
    if is_v2() {
        write32(CPU_INTERFACE.load(Ordering::Relaxed) + 0x10, interrupt);
        return;
    }
    // SAFETY: EOI of an interrupt this vCPU acknowledged.
    unsafe { core::arch::asm!("msr icc_eoir1_el1, {}", "isb", in(reg) u64::from(interrupt), options(nostack)) };
}

/// Unmasks IRQs at EL1.
pub fn enable_interrupts() {
    // SAFETY: the vector table is installed before this is called.
    unsafe { core::arch::asm!("msr daifclr, #2", "isb", options(nostack)) };
}

/// Masks IRQs at EL1.
pub fn disable_interrupts() {
    // SAFETY: masking interrupts has no memory effects.
    unsafe { core::arch::asm!("msr daifset, #2", "isb", options(nostack)) };
}
