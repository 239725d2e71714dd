//! A vCPU's EL1 and EL0 state back to its reset values before every start
//! (first boot, PSCI CPU_ON, SYSTEM_RESET): nothing a personality left in
//! a core's registers survives into its next boot. Janus itself runs at
//! EL2 and uses none of this state (its AES routine saves and restores the
//! SIMD registers it borrows), so zero is the value it chooses where the
//! architecture leaves the reset value UNKNOWN (ARM ARM D1.9.1).

use core::arch::{asm, global_asm};

use janus_platform::GicDescription;

use crate::arch::read_sysreg;

global_asm!(
    // V0-V31, FPCR and FPSR to zero. CPTR_EL2 does not trap FP/SIMD at
    // EL2 (boot.S); the target is soft-float, so the assembler needs the
    // extensions named.
    ".pushsection .text.janus_reset_fp_simd, \"ax\"",
    ".global janus_reset_fp_simd",
    "janus_reset_fp_simd:",
    ".arch_extension fp",
    ".arch_extension simd",
    ".irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31",
    "movi v\\n\\().2d, #0",
    ".endr",
    "msr fpcr, xzr",
    "msr fpsr, xzr",
    "ret",
    ".popsection",
);

unsafe extern "C" {
    /// Zeroes the FP/SIMD registers, FPCR and FPSR (clobbers nothing else).
    fn janus_reset_fp_simd();
}

/// Whether the core implements pointer authentication (any of the address
/// or generic algorithms: ID_AA64ISAR1_EL1.APA/API/GPA/GPI,
/// ID_AA64ISAR2_EL1.APA3/GPA3), so its key registers exist.
fn has_pointer_authentication() -> bool {
    let isar1 = read_sysreg!(id_aa64isar1_el1);
    let isar2 = read_sysreg!(S3_0_C0_C6_2); // ID_AA64ISAR2_EL1 (RAZ where not implemented)
    isar1 & 0xff00_0ff0 != 0 || isar2 & 0xff00 != 0
}

/// How many ICH_AP0R<n>_EL2 / ICH_AP1R<n>_EL2 registers the GICv3 CPU
/// interface has: 1, 2 or 4 for 5, 6 or 7 preemption bits
/// (ICH_VTR_EL2.PREbits, IHI 0069H §12.5.11).
fn active_priority_registers() -> usize {
    match (read_sysreg!(S3_4_C12_C11_1) >> 29) & 0x7 {
        6 => 4,
        5 => 2,
        _ => 1,
    }
}

/// Puts this core's EL1/EL0 state in its reset state for the vCPU about to
/// start here: stack pointers, thread registers, the EL1 translation and
/// exception registers, FP/SIMD, the timers' compare values, the
/// pointer-authentication keys, and (on GICv3) the active-priority
/// registers beyond the first (`CoreListRegisters::reset` clears those and
/// the GICv2 GICH_APR). SCTLR_EL1, CPACR_EL1, CNTKCTL_EL1 and the timer
/// controls are set by the caller.
pub fn reset_this_core(gic: &GicDescription) {
    // SAFETY: all EL1/EL0 registers of the vCPU about to start on this core
    // (none is in use: its previous vCPU stopped); Janus at EL2 reads none
    // of them, so its own execution does not change.
    unsafe {
        asm!(
            "msr sp_el0, xzr",
            "msr sp_el1, xzr",
            "msr tpidr_el0, xzr",
            "msr tpidrro_el0, xzr",
            "msr tpidr_el1, xzr",
            "msr ttbr0_el1, xzr",
            "msr ttbr1_el1, xzr",
            "msr tcr_el1, xzr",
            "msr mair_el1, xzr",
            "msr amair_el1, xzr",
            "msr contextidr_el1, xzr",
            "msr vbar_el1, xzr",
            "msr esr_el1, xzr",
            "msr far_el1, xzr",
            "msr elr_el1, xzr",
            "msr spsr_el1, xzr",
            "msr afsr0_el1, xzr",
            "msr afsr1_el1, xzr",
            "msr par_el1, xzr",
            "msr csselr_el1, xzr",
            "msr cntv_cval_el0, xzr",
            "msr cntp_cval_el0, xzr",
            options(nomem, nostack, preserves_flags)
        );
        janus_reset_fp_simd();
    }
    if has_pointer_authentication() {
        // SAFETY: the key registers exist (checked above); with
        // HCR_EL2.APK they are the guest's, unused by Janus.
        unsafe {
            asm!(
                "msr S3_0_C2_C1_0, xzr", // APIAKeyLo_EL1
                "msr S3_0_C2_C1_1, xzr", // APIAKeyHi_EL1
                "msr S3_0_C2_C1_2, xzr", // APIBKeyLo_EL1
                "msr S3_0_C2_C1_3, xzr", // APIBKeyHi_EL1
                "msr S3_0_C2_C2_0, xzr", // APDAKeyLo_EL1
                "msr S3_0_C2_C2_1, xzr", // APDAKeyHi_EL1
                "msr S3_0_C2_C2_2, xzr", // APDBKeyLo_EL1
                "msr S3_0_C2_C2_3, xzr", // APDBKeyHi_EL1
                "msr S3_0_C2_C3_0, xzr", // APGAKeyLo_EL1
                "msr S3_0_C2_C3_1, xzr", // APGAKeyHi_EL1
                options(nomem, nostack, preserves_flags)
            );
        }
    }
    if let GicDescription::V3 { .. } = gic {
        let count = active_priority_registers();
        if count >= 2 {
            // SAFETY: ICH_AP0R1/AP1R1_EL2 exist with 6 or more preemption
            // bits; the virtual interface's state, not Janus'.
            unsafe { asm!("msr S3_4_C12_C8_1, xzr", "msr S3_4_C12_C9_1, xzr", options(nomem, nostack, preserves_flags)) };
        }
        if count == 4 {
            // SAFETY: ICH_AP0R2-3/AP1R2-3_EL2 exist with 7 preemption bits.
            unsafe {
                asm!(
                    "msr S3_4_C12_C8_2, xzr",
                    "msr S3_4_C12_C8_3, xzr",
                    "msr S3_4_C12_C9_2, xzr",
                    "msr S3_4_C12_C9_3, xzr",
                    options(nomem, nostack, preserves_flags)
                )
            };
        }
    }
}
