//! Stage-2 translation tables for Janus: build them, walk them, and keep every physical page in one personality.
//!
//! The hypervisor uses it like this at boot (ARM ARM D8, VMSAv8-64, 4 KiB
//! granule):
//!
//! 1. `let config = Stage2Config::for_parange(parange)?;` with the PARange
//!    field (bits \[3:0\]) of ID_AA64MMFR0_EL1.
//! 2. `let mut map = PartitionMap::<2>::new(&mut pool, config)?;` with a
//!    [`TableMemory`] over hypervisor-owned pages.
//! 3. `map.map(owner, &mut pool, ipa, pa, size, MemoryKind::Normal)?` for each
//!    personality's RAM, and `MemoryKind::Device` for passed-through device
//!    pages. Physical memory mapped for one personality is refused for any
//!    other.
//! 4. `dsb ishst`, then per vCPU switch: write [`Stage2Config::vtcr`] to
//!    VTCR_EL2 and `map.table(owner)?.vttbr(vmid)` to VTTBR_EL2 (a distinct
//!    8-bit VMID per personality), then `isb`.
//!
//! The crate is pure logic: it never touches a register or memory itself,
//! so all of it is tested on the host against a fake [`TableMemory`].
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

mod config;
pub mod descriptor;
mod error;
mod memory;
mod partition;
mod table;

#[cfg(test)]
mod partition_tests;
#[cfg(test)]
mod proptests;
#[cfg(test)]
mod table_tests;
#[cfg(test)]
mod testing;

pub use config::Stage2Config;
pub use descriptor::Level;
pub use error::Stage2Error;
pub use memory::{MemoryKind, TableMemory};
pub use partition::{DEFAULT_RANGE_CAPACITY, OwnedRange, PartitionMap};
pub use table::{LeafMapping, Stage2Table};
