//! Benchmark probes, printed as `bench NAME ticks=N`. Run under Janus and
//! natively at EL1 in the same QEMU with `-icount shift=0,sleep=off`, where
//! one counter tick of the 62.5 MHz virt counter is 16 instructions
//! (QEMU counts instructions, not time). xtask turns the pairs into a table.

use core::sync::atomic::{AtomicU64, Ordering};

use crate::gic;
use crate::hypercalls::{self, hvc};
use crate::say;

/// Counter value at the start of the timer interrupt handler.
pub static TIMER_ENTRY: AtomicU64 = AtomicU64::new(0);

fn counter() -> u64 {
    let value: u64;
    // SAFETY: reading the virtual counter has no side effects.
    unsafe { core::arch::asm!("isb", "mrs {}, cntvct_el0", "isb", out(reg) value, options(nomem, nostack)) };
    value
}

/// Waits for the counter to tick and returns the new value, so every
/// measurement starts at the same phase of the 16-instruction tick.
fn tick_edge() -> u64 {
    let first = counter();
    loop {
        let now = counter();
        if now != first {
            return now;
        }
    }
}

fn alu_loop() -> u64 {
    let start = tick_edge();
    // SAFETY: a register-only loop: 200,000 iterations of subs/b.ne.
    unsafe {
        core::arch::asm!(
            "movz {n}, #0x0d40",
            "movk {n}, #0x3, lsl #16",
            "1: subs {n}, {n}, #1",
            "b.ne 1b",
            n = out(reg) _,
            options(nomem, nostack)
        )
    };
    counter() - start
}

/// 1,000 32-bit reads of one MMIO register, in counter ticks.
fn register_reads(address: u64) -> u64 {
    let start = tick_edge();
    // SAFETY: 1,000 reads of a GIC distributor register; reads of these
    // registers have no side effects.
    unsafe {
        core::arch::asm!(
            "mov {n}, #1000",
            "1: ldr {value:w}, [{address}]",
            "subs {n}, {n}, #1",
            "b.ne 1b",
            n = out(reg) _,
            value = out(reg) _,
            address = in(reg) address,
            options(nostack)
        )
    };
    counter() - start
}

/// 1,000 reads of GICD_TYPER (constant).
fn distributor_reads() -> u64 {
    register_reads(gic::distributor() + 4)
}

/// 1,000 reads of GICD_ISENABLER1: a register backed by interrupt state.
fn distributor_state_reads() -> u64 {
    register_reads(gic::distributor() + 0x104)
}

fn hypercalls() -> u64 {
    let start = tick_edge();
    for _ in 0..1000 {
        hvc(hypercalls::PSCI_VERSION, 0, 0, 0);
    }
    counter() - start
}

/// Latency from the counter reaching CVAL to the handler's first Rust
/// instruction, in ticks; the best of 10 samples.
fn timer_latency() -> u64 {
    let mut best = u64::MAX;
    for _ in 0..10 {
        TIMER_ENTRY.store(0, Ordering::SeqCst);
        let deadline = counter() + 20_000;
        // SAFETY: programming this vCPU's own virtual timer.
        unsafe { core::arch::asm!("msr cntv_cval_el0, {}", "msr cntv_ctl_el0, {}", "isb", in(reg) deadline, in(reg) 1u64, options(nostack)) };
        while TIMER_ENTRY.load(Ordering::SeqCst) == 0 {
            // SAFETY: waits for the timer interrupt.
            unsafe { core::arch::asm!("wfi", options(nostack)) };
        }
        best = best.min(TIMER_ENTRY.load(Ordering::SeqCst).saturating_sub(deadline));
    }
    // SAFETY: turns this vCPU's virtual timer off again.
    unsafe { core::arch::asm!("msr cntv_ctl_el0, xzr", "isb", options(nostack)) };
    best
}

/// Runs every probe twice (the second figures are the ones reported, after
/// caches and QEMU's translation blocks are warm), then powers off.
pub fn run() -> ! {
    let _ = (alu_loop(), distributor_reads(), distributor_state_reads(), hypercalls(), timer_latency());
    let alu = alu_loop();
    let reads = distributor_reads();
    let state_reads = distributor_state_reads();
    let calls = hypercalls();
    let latency = timer_latency();
    say!("bench alu-loop ticks={alu}");
    say!("bench gicd-typer-1000 ticks={reads}");
    say!("bench gicd-isenabler-1000 ticks={state_reads}");
    say!("bench hvc-1000 ticks={calls}");
    say!("bench timer-latency ticks={latency}");
    say!("bench done");
    hvc(hypercalls::PSCI_SYSTEM_OFF, 0, 0, 0);
    loop {
        // SAFETY: nothing left to do.
        unsafe { core::arch::asm!("wfi", options(nostack)) };
    }
}
