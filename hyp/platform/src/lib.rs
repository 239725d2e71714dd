//! Address types and the board description shared by the hypervisor, the
//! manifest validator, the board crates and xtask.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

pub mod addr;
pub mod board;

pub use addr::{GuestPhysAddr, GuestPhysRange, PhysAddr, PhysRange};
pub use board::{
    BoardDescription, Cpu, DmaMaster, GICV2_CPU_INTERFACE_SIZE, GICV2_DISTRIBUTOR_SIZE, GICV2_HYPERVISOR_INTERFACE_SIZE, GICV3_DISTRIBUTOR_SIZE,
    GICV3_REDISTRIBUTOR_SIZE, GUEST_UART_WINDOW_SIZE, GicDescription, GicRegion, GpioButton, MAX_CPUS, MAX_DMA_INCAPABLE, MAX_DMA_MASTERS,
    PRIMECELL_WINDOW_SIZE, StorageDescription, VIRTIO_MMIO_WINDOW_SIZE,
};
