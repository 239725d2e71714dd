//! Janus' own EL2 stage-1 map: an identity map with 1 GiB blocks (2 MiB
//! where RAM and devices share a gigabyte), RAM normal write-back, the rest
//! device memory (ARM ARM D8.3, VMSAv8-64 translation table format).

use core::arch::asm;
use core::cell::UnsafeCell;

use janus_platform::PhysRange;

const ENTRIES: usize = 512;
const GIB: u64 = 1 << 30;
const MIB2: u64 = 2 << 20;
/// Level-2 tables available for gigabytes that mix RAM and devices.
const LEVEL2_TABLES: usize = 4;

/// MAIR_EL2 attribute indexes.
const ATTR_DEVICE_NGNRE: u64 = 0;
const ATTR_NORMAL_WRITE_BACK: u64 = 1;
/// MAIR_EL2: index 0 Device-nGnRE (0x04), index 1 Normal WB RA/WA (0xff).
const MAIR_VALUE: u64 = 0x04 | (0xff << 8);

const DESCRIPTOR_BLOCK: u64 = 0b01;
const DESCRIPTOR_TABLE: u64 = 0b11;
const ACCESS_FLAG: u64 = 1 << 10;
const INNER_SHAREABLE: u64 = 0b11 << 8;
const EXECUTE_NEVER: u64 = 1 << 54;

#[repr(C, align(4096))]
struct Tables {
    level1: [u64; ENTRIES],
    level2: [[u64; ENTRIES]; LEVEL2_TABLES],
}

struct TableCell(UnsafeCell<Tables>);
// SAFETY: written only by the boot core before any other core starts
// (build_map), read only by the MMU afterwards.
unsafe impl Sync for TableCell {}

static TABLES: TableCell = TableCell(UnsafeCell::new(Tables { level1: [0; ENTRIES], level2: [[0; ENTRIES]; LEVEL2_TABLES] }));

fn block(address: u64, ram: &PhysRange) -> u64 {
    let attributes = if ram.contains(address) { (ATTR_NORMAL_WRITE_BACK << 2) | INNER_SHAREABLE } else { (ATTR_DEVICE_NGNRE << 2) | EXECUTE_NEVER };
    address | attributes | ACCESS_FLAG | DESCRIPTOR_BLOCK
}

/// Builds the identity map for a 39-bit address space. Returns false if
/// RAM is not 2 MiB aligned or needs more level-2 tables than we keep.
///
/// # Safety
/// Must run once, on the boot core, before any core enables its MMU.
pub unsafe fn build_map(ram: &PhysRange) -> bool {
    let Some(ram_end) = ram.end() else { return false };
    if !ram.start.is_aligned(MIB2) || ram_end % MIB2 != 0 {
        return false;
    }
    // SAFETY: per the contract, no one else touches the tables yet.
    let tables = unsafe { &mut *TABLES.0.get() };
    let mut next_level2 = 0;
    for (index, entry) in tables.level1.iter_mut().enumerate() {
        let base = index as u64 * GIB;
        let gib = PhysRange::new(base, GIB);
        let partly_ram = gib.overlaps(ram) && !(ram.contains(base) && ram.contains(base + GIB - 1));
        if !partly_ram {
            *entry = block(base, ram);
            continue;
        }
        let Some(level2) = tables.level2.get_mut(next_level2) else { return false };
        next_level2 += 1;
        for (sub, slot) in level2.iter_mut().enumerate() {
            *slot = block(base + sub as u64 * MIB2, ram);
        }
        *entry = (level2.as_ptr() as u64) | DESCRIPTOR_TABLE;
    }
    true
}

/// Turns on this core's EL2 MMU and caches with the shared identity map.
///
/// # Safety
/// `build_map` must have succeeded; Janus must run from RAM described as RAM
/// in it (identity mapping keeps the current PC valid).
pub unsafe fn enable(physical_address_range: u64) {
    // TCR_EL2: T0SZ = 25 (39-bit), IRGN0/ORGN0 = WB WA, SH0 = inner, TG0 = 4 KiB,
    // PS = the CPU's PARange (capped at 48 bits), RES1 bits 31 and 23.
    let tcr = 25 | (0b01 << 8) | (0b01 << 10) | (0b11 << 12) | (physical_address_range.min(5) << 16) | (1 << 31) | (1 << 23);
    // SCTLR_EL2: RES1 bits, M, C, SA, I.
    let sctlr: u64 = 0x30c5_0830 | 1 | (1 << 2) | (1 << 3) | (1 << 12);
    let root = TABLES.0.get() as u64;
    // SAFETY: per the contract; the sequence follows ARM ARM D8.11 (TLB
    // invalidate before enabling, isb after each step).
    unsafe {
        asm!(
            "dsb sy",
            "msr mair_el2, {mair}",
            "msr tcr_el2, {tcr}",
            "msr ttbr0_el2, {root}",
            "isb",
            "tlbi alle2",
            "dsb sy",
            "isb",
            "msr sctlr_el2, {sctlr}",
            "isb",
            mair = in(reg) MAIR_VALUE,
            tcr = in(reg) tcr,
            root = in(reg) root,
            sctlr = in(reg) sctlr,
            options(nostack, preserves_flags)
        )
    };
}
