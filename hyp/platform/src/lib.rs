//! Address types and the board description shared by the hypervisor, the
//! manifest validator, the board crates and xtask.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

pub mod addr;
pub mod board;

pub use addr::{GuestPhysAddr, PhysAddr, PhysRange, GuestPhysRange};
pub use board::{
    BoardDescription, Cpu, GicDescription, GpioButton, MAX_CPUS, StorageDescription, VIRTIO_MMIO_WINDOW_SIZE,
};
