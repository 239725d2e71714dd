//! One personality's stage-2 translation table: map ranges into it, walk it, describe it.
//!
//! Mapping works in three passes over the requested range, so that a failure
//! never leaves a half-made mapping behind:
//! 1. a read-only check that no part of the range is already mapped;
//! 2. allocation of every missing intermediate table (the only pass that
//!    can run out of table memory; it writes table descriptors only, and a
//!    table with nothing under it translates nothing);
//! 3. writing the block and page descriptors, which cannot fail.
//!
//! Only invalid entries are ever changed into valid ones, so no
//! break-before-make sequence or TLB invalidation is needed (ARM ARM D8.15,
//! D8.16).

use janus_platform::{GuestPhysAddr, GuestPhysRange, PhysAddr, PhysRange};

use crate::config::Stage2Config;
use crate::descriptor::{self, Descriptor, ENTRIES_PER_TABLE, Level, PAGE_SIZE};
use crate::error::Stage2Error;
use crate::memory::{MemoryKind, TableMemory};

/// One block or page mapping found by walking a table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeafMapping {
    /// The guest physical range the entry covers.
    pub guest: GuestPhysRange,
    /// The physical range it maps to.
    pub physical: PhysRange,
    /// Its attributes.
    pub kind: MemoryKind,
    /// The level of the entry: 1 for 1 GiB blocks, 2 for 2 MiB blocks, 3 for pages.
    pub level: Level,
}

/// The stage-2 translation table of one personality.
///
/// It holds only the root address and the configuration; the descriptors
/// live in the [`TableMemory`] passed to every call, which must be the same
/// one each time.
#[derive(Debug, PartialEq, Eq)]
pub struct Stage2Table {
    /// Physical address of the root table page.
    root: PhysAddr,
    /// The shape of the table.
    config: Stage2Config,
}

/// A mapping request that passed validation.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Request {
    /// The guest physical range to map.
    pub(crate) guest: GuestPhysRange,
    /// The physical range it maps to.
    pub(crate) physical: PhysRange,
    /// One past the last guest physical address.
    guest_end: u64,
    /// The attributes of the mapping.
    kind: MemoryKind,
}

/// Checks a mapping request against the configuration, without looking at
/// any table: size, 4 KiB alignment, overflow, IPA and PA limits.
pub(crate) fn validate(config: &Stage2Config, ipa: GuestPhysAddr, pa: PhysAddr, size: u64, kind: MemoryKind) -> Result<Request, Stage2Error> {
    if size == 0 {
        return Err(Stage2Error::ZeroSize { ipa, pa });
    }
    if !ipa.is_aligned(PAGE_SIZE) || !pa.is_aligned(PAGE_SIZE) || !size.is_multiple_of(PAGE_SIZE) {
        return Err(Stage2Error::Misaligned { ipa, pa, size });
    }
    let (Some(guest_end), Some(physical_end)) = (ipa.0.checked_add(size), pa.0.checked_add(size)) else {
        return Err(Stage2Error::AddressOverflow { ipa, pa, size });
    };
    let guest = GuestPhysRange::new(ipa.0, size);
    let physical = PhysRange::new(pa.0, size);
    if guest_end > config.ipa_limit() {
        return Err(Stage2Error::IpaOutOfRange { range: guest, limit: config.ipa_limit() });
    }
    if physical_end > config.pa_limit() {
        return Err(Stage2Error::PaOutOfRange { range: physical, limit: config.pa_limit() });
    }
    Ok(Request { guest, physical, guest_end, kind })
}

/// Which part of the work a pass over the range does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Pass {
    /// Link every missing intermediate table; write no leaf.
    AllocateTables,
    /// Write the block and page descriptors.
    WriteLeaves,
}

/// The part of a request that falls inside one table.
#[derive(Clone, Copy, Debug)]
struct Span {
    /// First guest physical address.
    start: u64,
    /// One past the last guest physical address.
    end: u64,
    /// Physical address `start` maps to.
    output: u64,
}

/// What a walk reports.
enum Visit {
    /// A table page (the root included).
    TablePage(PhysAddr),
    /// A block or page mapping.
    Leaf(LeafMapping),
}

/// Allocates a table page and clears it, refusing pages a descriptor cannot
/// point to.
fn allocate_table<M: TableMemory + ?Sized>(mem: &mut M, config: &Stage2Config) -> Result<PhysAddr, Stage2Error> {
    let page = mem.allocate_table().ok_or(Stage2Error::OutOfTableMemory)?;
    if !config.is_usable_table_page(page) {
        return Err(Stage2Error::InvalidTablePage { page });
    }
    for index in 0..ENTRIES_PER_TABLE {
        mem.write_entry(page, index, descriptor::INVALID);
    }
    Ok(page)
}

/// The entry-aligned bounds `[entry_start, entry_end)` of the entry at
/// `level` that covers `address`, and the end of the chunk of
/// `[address, end)` inside it.
const fn entry_bounds(level: Level, address: u64, end: u64) -> (u64, u64, u64) {
    let entry_start = address & !(level.entry_size() - 1);
    let entry_end = entry_start.saturating_add(level.entry_size());
    let chunk_end = if entry_end < end { entry_end } else { end };
    (entry_start, entry_end, chunk_end)
}

impl Stage2Table {
    /// An empty table: allocates and clears the root page.
    pub fn new<M: TableMemory + ?Sized>(mem: &mut M, config: Stage2Config) -> Result<Self, Stage2Error> {
        let root = allocate_table(mem, &config)?;
        Ok(Self { root, config })
    }

    /// Physical address of the root table page.
    pub const fn root(&self) -> PhysAddr {
        self.root
    }

    /// The shape of the table.
    pub const fn config(&self) -> &Stage2Config {
        &self.config
    }

    /// The VTTBR_EL2 value that selects this table with the 8-bit `vmid`
    /// (VTCR_EL2.VS = 0, see [`Stage2Config::vtcr`]). Each personality needs
    /// its own VMID, or TLB entries would be shared between them.
    pub const fn vttbr(&self, vmid: u8) -> u64 {
        self.config.vttbr(self.root, vmid)
    }

    /// Maps `size` bytes of guest physical space at `ipa` to physical memory
    /// at `pa`, with the largest entries alignment allows: 1 GiB blocks at
    /// level 1, 2 MiB blocks at level 2, 4 KiB pages at level 3.
    ///
    /// Refuses if any part of the guest range is already mapped; on any error
    /// the mappings are unchanged.
    pub fn map<M: TableMemory + ?Sized>(&mut self, mem: &mut M, ipa: GuestPhysAddr, pa: PhysAddr, size: u64, kind: MemoryKind) -> Result<(), Stage2Error> {
        let request = validate(&self.config, ipa, pa, size, kind)?;
        let start_level = self.config.start_level();
        if let Some(conflict) = self.first_mapped(mem, self.root, start_level, ipa.0, request.guest_end) {
            return Err(Stage2Error::AlreadyMapped { range: request.guest, conflict: GuestPhysAddr(conflict) });
        }
        let span = Span { start: ipa.0, end: request.guest_end, output: pa.0 };
        self.map_span(mem, &request, self.root, start_level, span, Pass::AllocateTables)?;
        self.map_span(mem, &request, self.root, start_level, span, Pass::WriteLeaves)
    }

    /// Walks the table like the hardware would: the physical address and
    /// attributes `ipa` maps to, or `None` if it is unmapped or beyond the
    /// IPA size.
    pub fn translate<M: TableMemory + ?Sized>(&self, mem: &M, ipa: GuestPhysAddr) -> Option<(PhysAddr, MemoryKind)> {
        if ipa.0 >= self.config.ipa_limit() {
            return None;
        }
        let mut table = self.root;
        let mut level = self.config.start_level();
        loop {
            match descriptor::decode(mem.read_entry(table, level.index(ipa.0)), level) {
                Descriptor::Invalid | Descriptor::Unrecognised(_) => return None,
                Descriptor::Leaf { output, kind } => {
                    let offset = ipa.0 & (level.entry_size() - 1);
                    return Some((output.checked_add(offset)?, kind));
                }
                Descriptor::Table { next } => {
                    table = next;
                    level = level.next()?;
                }
            }
        }
    }

    /// Calls `visit` for every block and page mapping, in guest address order.
    pub fn for_each_leaf<M: TableMemory + ?Sized>(&self, mem: &M, visit: &mut dyn FnMut(LeafMapping)) {
        self.walk(mem, self.root, self.config.start_level(), 0, &mut |item| {
            if let Visit::Leaf(leaf) = item {
                visit(leaf);
            }
        });
    }

    /// Calls `visit` for every table page, the root first.
    pub fn for_each_table_page<M: TableMemory + ?Sized>(&self, mem: &M, visit: &mut dyn FnMut(PhysAddr)) {
        self.walk(mem, self.root, self.config.start_level(), 0, &mut |item| {
            if let Visit::TablePage(page) = item {
                visit(page);
            }
        });
    }

    /// Visits `table` (at `level`, covering guest addresses from `base`) and
    /// everything below it.
    fn walk<M: TableMemory + ?Sized>(&self, mem: &M, table: PhysAddr, level: Level, base: u64, visit: &mut dyn FnMut(Visit)) {
        visit(Visit::TablePage(table));
        let entries = if level == self.config.start_level() { self.config.root_entries() } else { ENTRIES_PER_TABLE };
        let mut entry_base = base;
        for index in 0..entries {
            match descriptor::decode(mem.read_entry(table, index), level) {
                Descriptor::Invalid | Descriptor::Unrecognised(_) => {}
                Descriptor::Table { next } => {
                    if let Some(next_level) = level.next() {
                        self.walk(mem, next, next_level, entry_base, visit);
                    }
                }
                Descriptor::Leaf { output, kind } => visit(Visit::Leaf(LeafMapping {
                    guest: GuestPhysRange::new(entry_base, level.entry_size()),
                    physical: PhysRange::new(output.0, level.entry_size()),
                    kind,
                    level,
                })),
            }
            entry_base = entry_base.saturating_add(level.entry_size());
        }
    }

    /// The first guest address in `[start, end)` that the table below
    /// `table` maps (or holds an unrecognised entry for), if any.
    fn first_mapped<M: TableMemory + ?Sized>(&self, mem: &M, table: PhysAddr, level: Level, start: u64, end: u64) -> Option<u64> {
        let mut address = start;
        while address < end {
            let (_, _, chunk_end) = entry_bounds(level, address, end);
            match descriptor::decode(mem.read_entry(table, level.index(address)), level) {
                Descriptor::Invalid => {}
                Descriptor::Table { next } => {
                    let Some(next_level) = level.next() else {
                        return Some(address);
                    };
                    if let Some(found) = self.first_mapped(mem, next, next_level, address, chunk_end) {
                        return Some(found);
                    }
                }
                Descriptor::Leaf { .. } | Descriptor::Unrecognised(_) => return Some(address),
            }
            address = chunk_end;
        }
        None
    }

    /// One pass over the part `span` of `request` that lies in `table` at
    /// `level`. Both passes take the same decisions (the allocation pass
    /// leaves every would-be leaf entry invalid), so the leaf pass never
    /// needs to allocate.
    fn map_span<M: TableMemory + ?Sized>(
        &self,
        mem: &mut M,
        request: &Request,
        table: PhysAddr,
        level: Level,
        span: Span,
        pass: Pass,
    ) -> Result<(), Stage2Error> {
        let mut address = span.start;
        while address < span.end {
            let (entry_start, entry_end, chunk_end) = entry_bounds(level, address, span.end);
            // Validation guarantees `span.output + (span.end - span.start)`
            // fits below the PA limit, so this cannot overflow.
            let output = span.output + (address - span.start);
            let index = level.index(address);
            let current = descriptor::decode(mem.read_entry(table, index), level);
            let covers_entry = address == entry_start && chunk_end == entry_end;
            let leaf = if covers_entry && current == Descriptor::Invalid && output.is_multiple_of(level.entry_size()) {
                descriptor::encode_leaf(PhysAddr(output), request.kind, level)
            } else {
                None
            };
            if let Some(raw) = leaf {
                if pass == Pass::WriteLeaves {
                    mem.write_entry(table, index, raw);
                }
            } else {
                let conflict = Stage2Error::AlreadyMapped { range: request.guest, conflict: GuestPhysAddr(address) };
                let Some(next_level) = level.next() else {
                    // A page that could not be encoded: only an output
                    // address the descriptor cannot hold (validation rules
                    // that out), or an occupied entry (the check pass does).
                    return Err(if current == Descriptor::Invalid {
                        Stage2Error::PaOutOfRange { range: request.physical, limit: self.config.pa_limit() }
                    } else {
                        conflict
                    });
                };
                let next = match current {
                    Descriptor::Table { next } => next,
                    Descriptor::Invalid => self.link_new_table(mem, table, index)?,
                    Descriptor::Leaf { .. } | Descriptor::Unrecognised(_) => return Err(conflict),
                };
                let inner = Span { start: address, end: chunk_end, output };
                self.map_span(mem, request, next, next_level, inner, pass)?;
            }
            address = chunk_end;
        }
        Ok(())
    }

    /// Allocates a cleared table page and points entry `index` of `table` at it.
    fn link_new_table<M: TableMemory + ?Sized>(&self, mem: &mut M, table: PhysAddr, index: usize) -> Result<PhysAddr, Stage2Error> {
        let page = allocate_table(mem, &self.config)?;
        let raw = descriptor::encode_table(page).ok_or(Stage2Error::InvalidTablePage { page })?;
        mem.write_entry(table, index, raw);
        Ok(page)
    }
}
