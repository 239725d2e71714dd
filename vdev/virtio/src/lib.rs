//! A virtio 1.x block device over the virtio-mmio transport (version 2,
//! modern only), pure and host-testable, for an unmodified Linux
//! `virtio_mmio` + `virtio_blk` driver.
//!
//! The hypervisor traps the guest's accesses to the device's 0x200-byte MMIO
//! window and calls [`VirtioBlock::read`] and [`VirtioBlock::write`]. The
//! device touches guest RAM only through the [`GuestMemory`] trait (copies,
//! never references) and the disk only through [`BlockBackend`]; a write to
//! `QueueNotify` serves the request queue: each request either completes
//! before the write returns (moved through a bounce buffer the caller lends
//! for the call, or by the backend straight between disk and guest
//! buffers), or the backend starts it ([`Transfer::Submitted`]) and later
//! reports it finished with [`VirtioBlock::complete`], which returns the
//! chain to the driver. After each call the hypervisor applies the returned
//! [`Effects`] and drives the device's interrupt from
//! [`VirtioBlock::interrupt_line`].
//!
//! What is offered: one request queue of at most 256 entries, features
//! `VIRTIO_F_VERSION_1`, `VIRTIO_BLK_F_SIZE_MAX`, `SEG_MAX`, `BLK_SIZE`
//! (512), `FLUSH`, and `RO` for a read-only backend; requests `IN`, `OUT`,
//! `FLUSH` and `GET_ID`. No indirect descriptors, no event index, no
//! multiqueue, no discard, no shared memory regions.
//!
//! # Hostile guests
//!
//! Every register value and every byte of guest memory is the guest's and
//! may change at any time. Nothing here panics, indexes unchecked or
//! overflows; descriptors and request headers are copied out of guest memory
//! once and only the copy is checked and used ([`parse_chain`]).
//!
//! # Error policy
//!
//! Every rejected access or request is counted by kind in [`Statistics`] and
//! remembered for [`VirtioBlock::take_last_error`] (a [`DeviceError`] with a
//! one-line `Display`), and has exactly one of these outcomes:
//!
//! - **Ignored** — register accesses: unknown offsets and bad widths read as
//!   zero and ignore writes; writes to read-only registers, to the
//!   configuration space, to queue registers while the queue is ready and
//!   to `DriverFeatures` after `FEATURES_OK` are dropped; a notification
//!   before `DRIVER_OK`, for a queue that does not exist or while the device
//!   needs a reset is dropped.
//! - **Refused** — configuration the spec lets the device refuse: driver
//!   features that are not a subset of the offered ones or lack
//!   `VIRTIO_F_VERSION_1` leave `FEATURES_OK` clear on read-back (§3.1.1); a
//!   queue configuration with a bad size, misaligned areas or areas outside
//!   guest RAM leaves `QueueReady` at 0 (the driver may fix it and retry).
//! - **Failed request** — the chain can be walked and its last descriptor is
//!   a sound device-writable buffer, so its last byte is a trustworthy status
//!   byte: the device writes `VIRTIO_BLK_S_IOERR` there (or
//!   `VIRTIO_BLK_S_UNSUPP` for an unknown request type), writes nothing else
//!   it was not already writing, and completes the chain normally. This
//!   covers bad buffers in the chain (indirect, overflowing, outside guest
//!   RAM, readable after writable), malformed requests (short header, data
//!   in the wrong direction, lengths not a multiple of 512 or above `seg_max
//!   · size_max`, sectors past the end or overflowing), writes to a
//!   read-only disk, backend failures, and a scratch buffer under 512 bytes.
//!   Checks come before any data moves, so a refused write leaves the disk
//!   untouched.
//! - **Needs reset** — the queue itself cannot be trusted: a head or `next`
//!   index beyond the queue size, a chain longer than the queue (a loop), a
//!   descriptor table, ring or status byte outside guest RAM, no writable
//!   status byte, or `avail.idx` more than the queue size ahead. The device
//!   sets `DEVICE_NEEDS_RESET`, raises the configuration change interrupt
//!   (§2.1.2), publishes the chains it completed before, and ignores
//!   notifications until the driver resets it.
//!
//! # Requests in flight
//!
//! At most [`MAX_IN_FLIGHT`] requests are in flight; further chains, and
//! chains a full backend answered with [`Transfer::Busy`], stay in the
//! available ring until a completion makes room (a busy backend with
//! nothing of this device in flight fails the request instead: no
//! completion would come). Completions may arrive in any order and are
//! published in that order (§2.7.8). A reset, or the driver disabling the
//! queue, forgets every request in flight: a completion that arrives later
//! carries a tag of an older generation and changes nothing
//! ([`Statistics::stale_completions`]). The hypervisor must still make sure
//! the backend no longer touches the old buffers before the driver reuses
//! them (Janus waits for its physical requests to leave the queue).
//!
//! # Integration
//!
//! - [`VirtioBlock::new`] is a `const fn`: the device can live in a static.
//! - The scratch buffer passed to [`VirtioBlock::write`] bounds each backend
//!   call (its length rounded down to whole sectors); 64 KiB is a good size,
//!   and anything under 512 bytes fails every data request.
//! - [`GuestMemory::fence`] must order guest memory accesses (a `dmb ish`):
//!   the device reads `avail.idx`, fences, then ring entries and
//!   descriptors; it writes used elements, data and status, fences,
//!   publishes `used.idx`, fences and reads `avail.flags`.
//! - Serving a notification takes at most queue-size requests of at most
//!   `seg_max · size_max` (≤ 4 MiB) bytes each, on the notifying vCPU, and
//!   about 5 KiB of stack.
//!
//! References: virtio 1.2, §2.1 (device status), §2.6.4 (message framing),
//! §2.7 (split virtqueues), §4.2 (virtio over MMIO), §5.2 (block device).
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

mod backend;
mod config;
mod device;
pub mod driver_queue;
mod error;
mod memory;
mod queue;
pub mod registers;
mod request;

#[cfg(any(test, feature = "test-utils"))]
extern crate alloc;

/// Fake guest RAM and a fake disk for tests and fuzz targets.
#[cfg(any(test, feature = "test-utils"))]
pub mod mock;
#[cfg(test)]
mod tests;

pub use backend::{BackendError, BlockBackend, RequestTag, Segment, SegmentCursor, Transfer};
pub use config::{BlockConfig, MAX_REQUEST_BYTES, MIN_SEGMENT_BYTES, SECTOR_BYTES, SERIAL_BYTES};
pub use device::{Effects, MAX_IN_FLIGHT, VirtioBlock};
pub use error::{DeviceError, ErrorKind, Statistics};
pub use memory::{GuestMemory, MemoryError};
pub use queue::{Chain, ChainError, Descriptor, MAX_QUEUE_SIZE, QueueError, QueueLayout, RingPart, parse_chain, walk_chain};
pub use request::{HEADER_BYTES, request_status, request_type};
