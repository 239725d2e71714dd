//! Residue across a personality's restart (`residue` on the command line):
//! the EL1 and EL0 state Janus must reset before every start is recorded
//! at the very first instruction ([`guest_snapshot_el1`], before anything
//! here changes it) and reported; then every one of those registers gets a
//! non-reset value, an interrupt is left active (an active priority in the
//! virtual CPU interface), and the guest calls SYSTEM_RESET, so the next
//! boot's report shows what survived.

use core::cell::UnsafeCell;

use crate::hypercalls::{self, hvc};
use crate::{gic, say};

/// The registers [`guest_snapshot_el1`] records, in its order.
const NAMES: [&str; 28] = [
    "sp_el1",
    "sp_el0",
    "tpidr_el0",
    "tpidrro_el0",
    "tpidr_el1",
    "ttbr0_el1",
    "ttbr1_el1",
    "tcr_el1",
    "mair_el1",
    "amair_el1",
    "contextidr_el1",
    "vbar_el1",
    "esr_el1",
    "far_el1",
    "elr_el1",
    "spsr_el1",
    "afsr0_el1",
    "afsr1_el1",
    "par_el1",
    "csselr_el1",
    "cntv_cval_el0",
    "cntp_cval_el0",
    "cpacr_el1",
    "cntkctl_el1",
    "fpcr",
    "fpsr",
    "v0-v31.lo",
    "v0-v31.hi",
];

#[repr(C, align(16))]
pub struct Snapshot(UnsafeCell<[u64; NAMES.len()]>);
// SAFETY: written once by the primary vCPU's first instructions, read
// afterwards by the same vCPU only.
unsafe impl Sync for Snapshot {}

#[unsafe(no_mangle)]
pub static GUEST_EL1_SNAPSHOT: Snapshot = Snapshot(UnsafeCell::new([0; NAMES.len()]));

core::arch::global_asm!(
    // Records the registers of NAMES into GUEST_EL1_SNAPSHOT. Called with
    // `bl` as the primary vCPU's first instruction (MMU off, no stack);
    // uses x9-x12 only. Enables FP/SIMD (CPACR_EL1.FPEN, recorded first)
    // to read V0-V31, which it ORs together.
    ".pushsection .text.guest_snapshot_el1, \"ax\"",
    ".global guest_snapshot_el1",
    "guest_snapshot_el1:",
    ".arch_extension fp",
    ".arch_extension simd",
    "adrp x9, GUEST_EL1_SNAPSHOT",
    "add x9, x9, :lo12:GUEST_EL1_SNAPSHOT",
    "mov x10, sp",
    "mrs x11, sp_el0",
    "stp x10, x11, [x9, #0]",
    "mrs x10, tpidr_el0",
    "mrs x11, tpidrro_el0",
    "stp x10, x11, [x9, #16]",
    "mrs x10, tpidr_el1",
    "mrs x11, ttbr0_el1",
    "stp x10, x11, [x9, #32]",
    "mrs x10, ttbr1_el1",
    "mrs x11, tcr_el1",
    "stp x10, x11, [x9, #48]",
    "mrs x10, mair_el1",
    "mrs x11, amair_el1",
    "stp x10, x11, [x9, #64]",
    "mrs x10, contextidr_el1",
    "mrs x11, vbar_el1",
    "stp x10, x11, [x9, #80]",
    "mrs x10, esr_el1",
    "mrs x11, far_el1",
    "stp x10, x11, [x9, #96]",
    "mrs x10, elr_el1",
    "mrs x11, spsr_el1",
    "stp x10, x11, [x9, #112]",
    "mrs x10, afsr0_el1",
    "mrs x11, afsr1_el1",
    "stp x10, x11, [x9, #128]",
    "mrs x10, par_el1",
    "mrs x11, csselr_el1",
    "stp x10, x11, [x9, #144]",
    "mrs x10, cntv_cval_el0",
    "mrs x11, cntp_cval_el0",
    "stp x10, x11, [x9, #160]",
    "mrs x10, cpacr_el1",
    "mrs x11, cntkctl_el1",
    "stp x10, x11, [x9, #176]",
    "mov x12, #(3 << 20)",
    "msr cpacr_el1, x12",
    "isb",
    "mrs x10, fpcr",
    "mrs x11, fpsr",
    "stp x10, x11, [x9, #192]",
    ".irp n, 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31",
    "orr v0.16b, v0.16b, v\\n\\().16b",
    ".endr",
    "fmov x10, d0",
    "mov x11, v0.d[1]",
    "stp x10, x11, [x9, #208]",
    "ret",
    ".popsection",
);

/// Whether pointer authentication's key registers exist (as Janus checks).
fn has_pointer_authentication() -> bool {
    let (isar1, isar2): (u64, u64);
    // SAFETY: reading ID registers has no side effects.
    unsafe { core::arch::asm!("mrs {}, id_aa64isar1_el1", "mrs {}, S3_0_C0_C6_2", out(reg) isar1, out(reg) isar2, options(nomem, nostack)) };
    isar1 & 0xff00_0ff0 != 0 || isar2 & 0xff00 != 0
}

/// The pointer-authentication keys, OR-ed together (0 if there are none).
fn pointer_authentication_keys() -> Option<u64> {
    if !has_pointer_authentication() {
        return None;
    }
    let keys: u64;
    // SAFETY: the key registers exist (checked); reading them has no side
    // effects.
    unsafe {
        core::arch::asm!(
            "mrs {keys}, S3_0_C2_C1_0",
            ".irp register, S3_0_C2_C1_1, S3_0_C2_C1_2, S3_0_C2_C1_3, S3_0_C2_C2_0, S3_0_C2_C2_1, S3_0_C2_C2_2, S3_0_C2_C2_3, S3_0_C2_C3_0, S3_0_C2_C3_1",
            "mrs {scratch}, \\register",
            "orr {keys}, {keys}, {scratch}",
            ".endr",
            keys = out(reg) keys,
            scratch = out(reg) _,
            options(nomem, nostack)
        )
    };
    Some(keys)
}

/// The virtual CPU interface's active priorities (GICv3 ICV_AP0R0_EL1 and
/// ICV_AP1R0_EL1 OR-ed, GICv2 GICC_APR).
fn active_priorities() -> u64 {
    if gic::is_v2() {
        return u64::from(gic::read32(gic::cpu_interface() + 0xd0));
    }
    let (group0, group1): (u64, u64);
    // SAFETY: reading the virtual CPU interface's own registers.
    unsafe { core::arch::asm!("mrs {}, S3_0_C12_C8_4", "mrs {}, S3_0_C12_C9_0", out(reg) group0, out(reg) group1, options(nomem, nostack)) };
    group0 | group1
}

/// Reports what the snapshot and the registers read now hold: every one
/// at its reset value (zero), or each that is not.
pub fn report() {
    // SAFETY: written by the entry code before Rust ran; only read here.
    let snapshot = unsafe { *GUEST_EL1_SNAPSHOT.0.get() };
    let keys = pointer_authentication_keys();
    let priorities = active_priorities();
    let mut dirty = heapless::String::<512>::new();
    let mut checked = 0;
    let values = NAMES.iter().copied().zip(snapshot).chain([("active-priorities", priorities)]).chain(keys.map(|keys| ("pauth-keys", keys)));
    for (name, value) in values {
        checked += 1;
        if value != 0 {
            let _ = core::fmt::Write::write_fmt(&mut dirty, format_args!(" {name}={value:#x}"));
        }
    }
    let pauth = if keys.is_some() { "with" } else { "without" };
    if dirty.is_empty() {
        say!("residue ok: {checked} registers at their reset values ({pauth} pointer authentication)");
    } else {
        say!("residue FAIL:{dirty}");
    }
}

/// Gives every register of the report a value that is not its reset value,
/// leaves an interrupt active, and restarts the personality.
pub fn plant_and_reset() -> ! {
    const MARK: u64 = 0x5a5a_0000_0000_1000;
    // SAFETY: this vCPU's own EL1/EL0 state, with interrupts masked; the
    // MMU is off, so the translation registers have no effect, and the
    // vector base and stack stay as they are (already not at reset).
    unsafe {
        core::arch::asm!(
            "msr daifset, #0xf",
            "msr sp_el0, {mark}",
            "msr tpidr_el0, {mark}",
            "msr tpidrro_el0, {mark}",
            "msr tpidr_el1, {mark}",
            "msr ttbr0_el1, {mark}",
            "msr ttbr1_el1, {mark}",
            "msr tcr_el1, {small}",
            "msr mair_el1, {small}",
            "msr amair_el1, {small}",
            "msr contextidr_el1, {small}",
            "msr esr_el1, {small}",
            "msr far_el1, {mark}",
            "msr elr_el1, {mark}",
            "msr spsr_el1, {small}",
            "msr afsr0_el1, {small}",
            "msr afsr1_el1, {small}",
            "msr par_el1, {mark}",
            "msr csselr_el1, {level2}",
            "msr cntv_cval_el0, {mark}",
            "msr cntp_cval_el0, {mark}",
            "msr cntkctl_el1, {level2}",
            ".arch_extension fp",
            ".arch_extension simd",
            ".irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31",
            "movi v\\n\\().16b, #0x5a",
            ".endr",
            "msr fpcr, {rounding}",
            "msr fpsr, {saturated}",
            "isb",
            mark = in(reg) MARK,
            small = in(reg) 0x19u64,
            level2 = in(reg) 2u64,
            rounding = in(reg) 0x40_0000u64,
            saturated = in(reg) 0x800_0000u64,
            options(nomem, nostack)
        );
    }
    if has_pointer_authentication() {
        // SAFETY: the key registers exist (checked); this guest does not
        // use pointer authentication.
        unsafe {
            core::arch::asm!(
                ".irp register, S3_0_C2_C1_0, S3_0_C2_C1_1, S3_0_C2_C1_2, S3_0_C2_C1_3, S3_0_C2_C2_0, S3_0_C2_C2_1, S3_0_C2_C2_2, S3_0_C2_C2_3, S3_0_C2_C3_0, S3_0_C2_C3_1",
                "msr \\register, {mark}",
                ".endr",
                mark = in(reg) MARK,
                options(nomem, nostack)
            )
        };
    }
    // An SGI to this vCPU, acknowledged and never ended: its priority stays
    // active in the virtual CPU interface.
    gic::send_sgi(SGI_LEFT_ACTIVE, 1 << 0);
    let mut acknowledged = 0;
    for _ in 0..1000 {
        acknowledged = gic::acknowledge() & 0x3ff;
        if acknowledged < gic::SPURIOUS_LIMIT {
            break;
        }
    }
    say!("residue planted: every register above set, SGI {acknowledged} left active; calling SYSTEM_RESET");
    hvc(hypercalls::PSCI_SYSTEM_RESET, 0, 0, 0);
    say!("FAIL SYSTEM_RESET returned");
    loop {
        // SAFETY: waits forever.
        unsafe { core::arch::asm!("wfi", options(nomem, nostack)) };
    }
}

/// The SGI left active before the restart (one this guest enables).
const SGI_LEFT_ACTIVE: u32 = 5;
