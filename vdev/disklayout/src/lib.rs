//! The Janus disk layout: GPT partitions `janus-meta`, `personal`, `work`, `shared`.
//!
//! The hypervisor owns the physical disk. It is a GPT disk (UEFI 2.10 §5)
//! with four partitions, each with a Janus type GUID and name (see
//! [`PartitionKind`]); each personality gets one as its private virtio-blk
//! disk.
//!
//! * The **boot side** (always built, `no_std`, no allocator, no unsafe):
//!   [`read_layout`] finds and checks the partitions through a sector reader
//!   and returns a [`Layout`], or a [`LayoutError`] naming the problem.
//! * The **host side** (feature `std`, for xtask and the QEMU tests):
//!   [`create_image`] makes a sparse raw image, [`check_image`] checks one
//!   without writing, [`read_partition`] and [`extract_partition`] get at a
//!   partition's bytes. Their [`ImageError`]s name the problem and the fix.
#![cfg_attr(not(any(test, feature = "std")), no_std)]
#![forbid(unsafe_code)]

mod error;
mod layout;
mod read;

#[cfg(feature = "std")]
mod image;
#[cfg(feature = "std")]
mod image_error;

#[cfg(test)]
mod tests;

pub use error::{ForeignTable, HeaderProblem, LayoutError};
pub use layout::{DATA_MINIMUM_BYTES, Layout, META_MINIMUM_BYTES, MIB, Partition, PartitionKind, SECTOR_SIZE};
pub use read::{MAX_ENTRY_ARRAY_BYTES, MIN_DISK_SECTORS, read_layout};

#[cfg(feature = "std")]
pub use image::{Sizes, check_image, create_image, extract_partition, read_partition, read_partition_range, write_partition_range};
#[cfg(feature = "std")]
pub use image_error::ImageError;

/// The GPT types this crate speaks in (type GUIDs, names), for callers that
/// build or inspect tables themselves.
pub use gpt_disk_types;
