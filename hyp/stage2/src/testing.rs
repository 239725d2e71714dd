//! Test helpers: a fake table memory that counts allocations, and a walker independent of the crate's own.

use std::collections::BTreeMap;

use janus_platform::PhysAddr;

use crate::descriptor::{self, Descriptor, ENTRIES_PER_TABLE, Level};
use crate::memory::{MemoryKind, TableMemory};
use crate::table::Stage2Table;

/// 1 MiB.
pub const MIB: u64 = 1 << 20;
/// 1 GiB.
pub const GIB: u64 = 1 << 30;
/// 4 KiB.
pub const PAGE: u64 = 4096;
/// Where the fake hands out table pages by default: below 4 GiB (so 32-bit
/// configurations can use them) and away from the RAM the tests map.
pub const TABLE_POOL_BASE: u64 = 0xf000_0000;

/// Table pages in a map keyed by address. New pages are filled with junk
/// that decodes as valid entries, so a builder that forgot to clear them
/// would be caught.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FakeMemory {
    pages: BTreeMap<u64, Box<[u64; ENTRIES_PER_TABLE]>>,
    next: u64,
    remaining: usize,
    allocations: usize,
}

impl FakeMemory {
    /// A pool of `capacity` pages at `TABLE_POOL_BASE`.
    pub fn new(capacity: usize) -> Self {
        Self::at(TABLE_POOL_BASE, capacity)
    }

    /// A pool of `capacity` pages starting at `base`.
    pub fn at(base: u64, capacity: usize) -> Self {
        Self { pages: BTreeMap::new(), next: base, remaining: capacity, allocations: 0 }
    }

    /// How many pages were handed out.
    pub fn allocations(&self) -> usize {
        self.allocations
    }

    /// Adds `pages` pages to the pool.
    pub fn refill(&mut self, pages: usize) {
        self.remaining += pages;
    }
}

impl TableMemory for FakeMemory {
    fn allocate_table(&mut self) -> Option<PhysAddr> {
        if self.remaining == 0 {
            return None;
        }
        self.remaining -= 1;
        self.allocations += 1;
        let page = self.next;
        self.next += PAGE;
        self.pages.insert(page, Box::new([u64::MAX; ENTRIES_PER_TABLE]));
        Some(PhysAddr(page))
    }

    fn read_entry(&self, table: PhysAddr, index: usize) -> u64 {
        assert!(index < ENTRIES_PER_TABLE, "index {index} out of table");
        self.pages.get(&table.0).unwrap_or_else(|| panic!("read from unallocated table {table}"))[index]
    }

    fn write_entry(&mut self, table: PhysAddr, index: usize, value: u64) {
        assert!(index < ENTRIES_PER_TABLE, "index {index} out of table");
        self.pages.get_mut(&table.0).unwrap_or_else(|| panic!("write to unallocated table {table}"))[index] = value;
    }
}

/// A leaf as the independent walker reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Leaf {
    pub ipa: u64,
    pub pa: u64,
    pub size: u64,
    pub kind: MemoryKind,
    pub level: u8,
}

/// Every leaf of `table`, found by reading every entry of every table page
/// straight from the fake (not through the crate's walker). Panics on an
/// entry the crate would never write.
pub fn leaves(mem: &FakeMemory, table: &Stage2Table) -> Vec<Leaf> {
    let mut found = Vec::new();
    collect(mem, table.root(), table.config().start_level(), 0, &mut found);
    found
}

fn collect(mem: &FakeMemory, table: PhysAddr, level: Level, base: u64, found: &mut Vec<Leaf>) {
    for index in 0..ENTRIES_PER_TABLE {
        let ipa = base + index as u64 * level.entry_size();
        match descriptor::decode(mem.read_entry(table, index), level) {
            Descriptor::Invalid => {}
            Descriptor::Table { next } => collect(mem, next, level.next().expect("table at level 3"), ipa, found),
            Descriptor::Leaf { output, kind } => {
                found.push(Leaf { ipa, pa: output.0, size: level.entry_size(), kind, level: level.number() });
            }
            Descriptor::Unrecognised(raw) => panic!("unrecognised entry {raw:#x} at {ipa:#x}"),
        }
    }
}

/// Leaves merged into maximal contiguous runs (same kind, contiguous in both
/// address spaces), to compare with the mappings that were asked for.
pub fn merged(leaves: &[Leaf]) -> Vec<(u64, u64, u64, MemoryKind)> {
    let mut runs: Vec<(u64, u64, u64, MemoryKind)> = Vec::new();
    for leaf in leaves {
        match runs.last_mut() {
            Some((ipa, pa, size, kind)) if *ipa + *size == leaf.ipa && *pa + *size == leaf.pa && *kind == leaf.kind => {
                *size += leaf.size;
            }
            _ => runs.push((leaf.ipa, leaf.pa, leaf.size, leaf.kind)),
        }
    }
    runs
}
