//! The test guest's `virtio` and `disk` modules, compiled for the host and
//! driven against `janus-virtio`'s device model: the guest's bounce buffers
//! and queue (its DMA area) are the fake guest RAM, host addresses standing
//! in for guest-physical ones.

#[path = "../../src/virtio.rs"]
pub mod virtio;

#[path = "../../src/disk.rs"]
pub mod disk;

#[path = "../../src/disk_attacks.rs"]
pub mod disk_attacks;

pub mod console;

#[cfg(test)]
mod fake;
#[cfg(test)]
mod tests;
