//! Janus: a static-partitioning hypervisor for ARMv8-A at EL2. This file is
//! the boot flow: find the payload, check the board, build each
//! personality's stage-2 map, load the guests and start every core.
#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]

#[cfg(target_os = "none")]
mod arch;
#[cfg(target_os = "none")]
mod boardcheck;
#[cfg(target_os = "none")]
mod boot;
#[cfg(target_os = "none")]
mod button;
#[cfg(target_os = "none")]
mod console;
#[cfg(target_os = "none")]
mod disk;
#[cfg(target_os = "none")]
mod el1_reset;
#[cfg(target_os = "none")]
mod frames;
#[cfg(target_os = "none")]
mod gic;
#[cfg(target_os = "none")]
mod mmu;
#[cfg(target_os = "none")]
mod power;
#[cfg(target_os = "none")]
mod stacks;
#[cfg(target_os = "none")]
mod storage;
#[cfg(target_os = "none")]
mod system;
#[cfg(target_os = "none")]
mod trap;
#[cfg(target_os = "none")]
mod uart;
#[cfg(target_os = "none")]
mod virtqueue;
#[cfg(target_os = "none")]
mod virtual_interface;
#[cfg(target_os = "none")]
mod vuart;
#[cfg(target_os = "none")]
mod xts_armv8;
#[cfg(target_os = "none")]
mod zeroed;

/// On the host this crate has nothing to run; it exists so that
/// `cargo clippy --workspace` can include it.
#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("janus-hyp is a bare-metal image: build it with `cargo xtask build`");
}
