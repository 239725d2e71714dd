//! Powering the whole board off: PSCI SYSTEM_OFF to the firmware, which on
//! real hardware cuts the power. Under an emulator Janus first reports the
//! outcome through Arm semihosting's SYS_EXIT, so QEMU (started with
//! `-semihosting-config enable=on,target=native`, as xtask does) exits with
//! a non-zero status when Janus refused to boot; without semihosting the
//! `HLT` is undefined, and a private vector table skips it.

use core::arch::{asm, global_asm};

use crate::arch;

/// PSCI SYSTEM_OFF, SMC32 (DEN0022 §5.10).
const PSCI_SYSTEM_OFF: u64 = 0x8400_0008;
/// Semihosting SYS_EXIT (Arm semihosting v2, §6.5.11).
const SEMIHOSTING_SYS_EXIT: u64 = 0x18;
/// SYS_EXIT's reason ADP_Stopped_ApplicationExit: the status follows.
const APPLICATION_EXIT: u64 = 0x2_0026;

global_asm!(
    // A vector table for the semihosting call alone (ARM ARM D1.10.2): a
    // synchronous exception from EL2 itself (the `HLT` undefined, no
    // debugger or emulator behind it) resumes after the instruction.
    // Anything else stops the core. After janus_vectors, which is exactly
    // 0x800 bytes, so the alignment costs nothing.
    ".section .text.vectors, \"ax\"",
    ".balign 0x800",
    "janus_power_vectors:",
    ".rept 4",
    ".balign 0x80",
    "0: wfe",
    "b 0b",
    ".endr",
    ".balign 0x80",
    "mrs x9, elr_el2",
    "add x9, x9, #4",
    "msr elr_el2, x9",
    "eret",
    ".section .text",
);

unsafe extern "C" {
    static janus_power_vectors: u8;
}

/// Reports `status` to an emulator through semihosting SYS_EXIT; returns if
/// nothing is listening.
fn semihosting_exit(status: u64) {
    let block = [APPLICATION_EXIT, status];
    let vectors = core::ptr::addr_of!(janus_power_vectors) as u64;
    // SAFETY: only this core runs from here on (the caller powers the board
    // off next). Its vectors point at the table above for the one `HLT`:
    // undefined without semihosting, it is skipped; with semihosting, QEMU
    // reads `block` (x1) and exits. Interrupts are masked first so nothing
    // else can take an exception through that table.
    unsafe {
        asm!(
            "msr daifset, #0xf",
            "mrs {saved}, vbar_el2",
            "msr vbar_el2, {vectors}",
            "isb",
            "hlt #0xf000",
            "msr vbar_el2, {saved}",
            "isb",
            saved = out(reg) _,
            vectors = in(reg) vectors,
            inout("x0") SEMIHOSTING_SYS_EXIT => _,
            in("x1") block.as_ptr(),
            out("x9") _,
            options(nostack)
        );
    }
}

/// Powers the board off: with a failure status for an emulator if
/// `failure` (Janus refused to boot), a clean one otherwise. Never returns;
/// if the firmware does not power off, this core stops.
pub fn power_off_board(failure: bool) -> ! {
    crate::uart::wait_until_sent();
    if failure {
        semihosting_exit(1);
    }
    // SYSTEM_OFF returns only if the firmware refused it: halt then.
    let _ = arch::secure_monitor_call(PSCI_SYSTEM_OFF, 0, 0, 0);
    arch::halt()
}
