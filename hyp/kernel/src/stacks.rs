//! Per-core EL2 stacks and the boot stack. The top `TRAP_FRAME_SIZE` bytes
//! of each core's stack hold the TrapFrame of the guest running on it.

use core::cell::UnsafeCell;

use janus_platform::MAX_CPUS;

/// Bytes of stack per core.
pub const CPU_STACK_SIZE: usize = 64 * 1024;
/// Bytes of the boot core's initial stack.
pub const BOOT_STACK_SIZE: usize = 64 * 1024;

/// Stack memory; only ever touched through the stack pointer.
#[repr(C, align(4096))]
pub struct StackMemory<const N: usize>(UnsafeCell<[u8; N]>);

// SAFETY: each core uses its own slice of the memory as its stack, selected
// by its index in boot.S; Rust code never reads or writes it directly.
unsafe impl<const N: usize> Sync for StackMemory<N> {}

/// Stacks of all cores, indexed by core number (boot.S computes the top).
#[unsafe(no_mangle)]
pub static CPU_STACKS: StackMemory<{ CPU_STACK_SIZE * MAX_CPUS }> = StackMemory(UnsafeCell::new([0; CPU_STACK_SIZE * MAX_CPUS]));

/// The boot core's stack until it enters its first guest.
#[unsafe(no_mangle)]
pub static BOOT_STACK: StackMemory<BOOT_STACK_SIZE> = StackMemory(UnsafeCell::new([0; BOOT_STACK_SIZE]));

/// The top of core `cpu`'s stack (its TrapFrame sits just below).
pub fn frame_top(cpu: usize) -> u64 {
    let index = cpu.min(MAX_CPUS - 1) as u64;
    CPU_STACKS.0.get() as u64 + (index + 1) * CPU_STACK_SIZE as u64
}
