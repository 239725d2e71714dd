//! HVC and SMC calls with SMCCC register conventions.

/// `hvc #0` with x0..x3; returns x0.
pub fn hvc(function: u64, arg1: u64, arg2: u64, arg3: u64) -> u64 {
    let mut result = function;
    // SAFETY: a hypercall; the hypervisor may clobber x0-x17 (SMCCC).
    unsafe {
        core::arch::asm!("hvc #0",
            inout("x0") result, inout("x1") arg1 => _, inout("x2") arg2 => _, inout("x3") arg3 => _,
            out("x4") _, out("x5") _, out("x6") _, out("x7") _, out("x8") _, out("x9") _,
            out("x10") _, out("x11") _, out("x12") _, out("x13") _, out("x14") _, out("x15") _,
            out("x16") _, out("x17") _, options(nostack))
    };
    result
}

/// `smc #0` with x0..x3; returns x0.
pub fn smc(function: u64, arg1: u64, arg2: u64, arg3: u64) -> u64 {
    let mut result = function;
    // SAFETY: as for hvc.
    unsafe {
        core::arch::asm!("smc #0",
            inout("x0") result, inout("x1") arg1 => _, inout("x2") arg2 => _, inout("x3") arg3 => _,
            out("x4") _, out("x5") _, out("x6") _, out("x7") _, out("x8") _, out("x9") _,
            out("x10") _, out("x11") _, out("x12") _, out("x13") _, out("x14") _, out("x15") _,
            out("x16") _, out("x17") _, options(nostack))
    };
    result
}

pub const PSCI_VERSION: u64 = 0x8400_0000;
pub const PSCI_CPU_ON: u64 = 0xc400_0003;
pub const PSCI_AFFINITY_INFO: u64 = 0xc400_0004;
pub const PSCI_SYSTEM_OFF: u64 = 0x8400_0008;
pub const PSCI_SYSTEM_RESET: u64 = 0x8400_0009;
pub const NOT_SUPPORTED: u64 = -1i64 as u64;
pub const INVALID_PARAMETERS: u64 = -2i64 as u64;
pub const ALREADY_ON: u64 = -4i64 as u64;
pub const INVALID_ADDRESS: u64 = -9i64 as u64;
