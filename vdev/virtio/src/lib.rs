//! Host-testable virtio 1.x over MMIO: transport registers, split virtqueues over a GuestMemory trait, and the virtio-blk device model
#![cfg_attr(not(test), no_std)]
