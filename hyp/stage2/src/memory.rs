//! Where table pages come from, and what kind of memory a mapping is.

use janus_platform::PhysAddr;

/// The memory holding the translation tables.
///
/// The hypervisor implements it over real memory (a pool of hypervisor-owned
/// pages that no personality can reach); tests implement it over a fake. The
/// builder only ever reads and writes whole 64-bit descriptors through it.
///
/// An implementation over real memory must make each `write_entry` a single
/// 64-bit store (the hardware walker may read the entry concurrently), and
/// the caller must issue `dsb ishst` after a [`crate::Stage2Table::map`] and
/// before a guest may use the new mapping.
pub trait TableMemory {
    /// Hands out a fresh 4 KiB-aligned 4 KiB page for a translation table,
    /// or `None` when the pool is exhausted.
    ///
    /// The page should be zeroed; the builder clears it anyway before linking
    /// it, because a stale entry would map arbitrary memory into a guest.
    fn allocate_table(&mut self) -> Option<PhysAddr>;

    /// Reads descriptor `index` (below 512) of the table page at `table`.
    fn read_entry(&self, table: PhysAddr, index: usize) -> u64;

    /// Writes descriptor `index` (below 512) of the table page at `table`.
    fn write_entry(&mut self, table: PhysAddr, index: usize, value: u64);
}

/// What a mapping is: its stage-2 memory type, permissions and executability.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MemoryKind {
    /// RAM: Normal memory, inner and outer write-back cacheable, inner
    /// shareable, read/write, executable.
    Normal,
    /// A device's registers: Device-nGnRE, read/write, execute-never.
    Device,
}
