//! Several personalities' stage-2 tables under one rule: no physical page is ever mapped for two of them.
//!
//! [`PartitionMap`] owns every personality's [`Stage2Table`] and hands out
//! only shared references to them, so every mapping goes through
//! [`PartitionMap::map`], which enforces the rule from the design ("nothing
//! is mapped in two personalities' stage-2 tables at once, ever") with no
//! exception, not even for device pages. It also keeps the translation
//! tables themselves out of every personality's reach: a table page never
//! lies inside a guest-mapped physical range.
//!
//! The one kind of page that may appear in several tables is a *banked*
//! device frame, such as GICv2's virtual CPU interface (GICV): every core
//! that reads it sees only its own copy of the registers, and every core
//! belongs to exactly one personality, so mapping the frame everywhere
//! shares no state. [`PartitionMap::map_banked_device`] accepts it only for
//! the identical physical frame, never overlapping RAM or any other device.

use janus_platform::{GuestPhysAddr, GuestPhysRange, PhysAddr, PhysRange};

use crate::config::Stage2Config;
use crate::descriptor::PAGE_SIZE;
use crate::error::Stage2Error;
use crate::memory::{MemoryKind, TableMemory};
use crate::table::{Stage2Table, validate};

/// How many mappings a [`PartitionMap`] records unless told otherwise.
pub const DEFAULT_RANGE_CAPACITY: usize = 32;

/// One mapping made through a [`PartitionMap`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OwnedRange {
    /// The personality it belongs to.
    pub owner: usize,
    /// Where the personality sees it.
    pub guest: GuestPhysRange,
    /// The physical memory, which no other personality may map.
    pub physical: PhysRange,
    /// Its attributes.
    pub kind: MemoryKind,
    /// A per-core banked device frame (see [`PartitionMap::map_banked_device`]).
    pub banked: bool,
}

/// The stage-2 tables of `OWNERS` personalities, with a record of up to
/// `RANGES` mappings used to keep their physical memory disjoint.
#[derive(Debug)]
pub struct PartitionMap<const OWNERS: usize, const RANGES: usize = DEFAULT_RANGE_CAPACITY> {
    /// Table `i` belongs to personality `i`.
    tables: heapless::Vec<Stage2Table, OWNERS>,
    /// Every successful mapping, in order.
    ranges: heapless::Vec<OwnedRange, RANGES>,
}

/// A [`TableMemory`] that refuses to hand out a table page inside memory a
/// personality has (or is about to have) mapped, remembering the refusal.
struct GuardedMemory<'a, M: TableMemory + ?Sized> {
    /// The real table memory.
    inner: &'a mut M,
    /// Memory already mapped for some personality.
    owned: &'a [OwnedRange],
    /// Memory the current request maps.
    requested: PhysRange,
    /// The page refused and the range it fell in, if any.
    refused: Option<(PhysAddr, PhysRange)>,
}

impl<M: TableMemory + ?Sized> TableMemory for GuardedMemory<'_, M> {
    fn allocate_table(&mut self) -> Option<PhysAddr> {
        let page = self.inner.allocate_table()?;
        let page_range = PhysRange::new(page.0, PAGE_SIZE);
        let conflict = self.owned.iter().map(|range| range.physical).chain(core::iter::once(self.requested)).find(|range| range.overlaps(&page_range));
        match conflict {
            Some(range) => {
                // The page is not returned to the pool (the trait has no way
                // to); the hypervisor's pool is misconfigured anyway.
                self.refused = Some((page, range));
                None
            }
            None => Some(page),
        }
    }

    fn read_entry(&self, table: PhysAddr, index: usize) -> u64 {
        self.inner.read_entry(table, index)
    }

    fn write_entry(&mut self, table: PhysAddr, index: usize, value: u64) {
        self.inner.write_entry(table, index, value);
    }
}

impl<const OWNERS: usize, const RANGES: usize> PartitionMap<OWNERS, RANGES> {
    /// `OWNERS` empty tables of the same shape, one per personality.
    pub fn new<M: TableMemory + ?Sized>(mem: &mut M, config: Stage2Config) -> Result<Self, Stage2Error> {
        let mut tables = heapless::Vec::new();
        while !tables.is_full() {
            // Cannot be refused: the vector is not full.
            let _ = tables.push(Stage2Table::new(mem, config)?);
        }
        Ok(Self { tables, ranges: heapless::Vec::new() })
    }

    /// How many personalities the map holds.
    pub fn owners(&self) -> usize {
        self.tables.len()
    }

    /// Personality `owner`'s table, to program VTTBR_EL2 from.
    pub fn table(&self, owner: usize) -> Option<&Stage2Table> {
        self.tables.get(owner)
    }

    /// Every mapping made so far.
    pub fn ranges(&self) -> &[OwnedRange] {
        &self.ranges
    }

    /// The personality that has the physical address `pa` mapped, if any.
    pub fn owner_of(&self, pa: PhysAddr) -> Option<usize> {
        self.ranges.iter().find(|range| range.physical.contains(pa.0)).map(|range| range.owner)
    }

    /// What `ipa` maps to in personality `owner`'s table.
    pub fn translate<M: TableMemory + ?Sized>(&self, owner: usize, mem: &M, ipa: GuestPhysAddr) -> Option<(PhysAddr, MemoryKind)> {
        self.tables.get(owner)?.translate(mem, ipa)
    }

    /// Maps `size` bytes at guest address `ipa` to physical `pa` for
    /// personality `owner` (see [`Stage2Table::map`]).
    ///
    /// Refuses with [`Stage2Error::PhysicalOwnedByOther`] if any of the
    /// physical range is mapped for another personality, and with
    /// [`Stage2Error::TablePageConflict`] if it contains a translation table
    /// page. The same personality may map one physical page at several
    /// guest addresses. On any error the mappings are unchanged.
    pub fn map<M: TableMemory + ?Sized>(
        &mut self,
        owner: usize,
        mem: &mut M,
        ipa: GuestPhysAddr,
        pa: PhysAddr,
        size: u64,
        kind: MemoryKind,
    ) -> Result<(), Stage2Error> {
        self.insert(owner, mem, ipa, pa, size, kind, false)
    }

    /// Maps a per-core banked device frame (GICv2's GICV) for `owner`. It
    /// may be mapped for several personalities, but only as the identical
    /// physical range, and it may overlap nothing else that is mapped.
    pub fn map_banked_device<M: TableMemory + ?Sized>(
        &mut self,
        owner: usize,
        mem: &mut M,
        ipa: GuestPhysAddr,
        pa: PhysAddr,
        size: u64,
    ) -> Result<(), Stage2Error> {
        self.insert(owner, mem, ipa, pa, size, MemoryKind::Device, true)
    }

    /// Whether an existing mapping forbids a new one of `physical`.
    fn conflicts(existing: &OwnedRange, owner: usize, physical: &PhysRange, banked: bool) -> bool {
        if !existing.physical.overlaps(physical) {
            return false;
        }
        if banked {
            // Only the identical banked frame, and only for another owner.
            !(existing.banked && existing.physical == *physical && existing.owner != owner)
        } else {
            existing.owner != owner || existing.banked
        }
    }

    #[allow(clippy::too_many_arguments, reason = "the two public entry points differ only in the last argument")]
    fn insert<M: TableMemory + ?Sized>(
        &mut self,
        owner: usize,
        mem: &mut M,
        ipa: GuestPhysAddr,
        pa: PhysAddr,
        size: u64,
        kind: MemoryKind,
        banked: bool,
    ) -> Result<(), Stage2Error> {
        let owners = self.tables.len();
        let table = self.tables.get(owner).ok_or(Stage2Error::UnknownOwner { owner, owners })?;
        let request = validate(table.config(), ipa, pa, size, kind)?;
        let physical = request.physical;
        if let Some(owned) = self.ranges.iter().find(|range| Self::conflicts(range, owner, &physical, banked)) {
            return Err(Stage2Error::PhysicalOwnedByOther { owner: owned.owner, requested_by: owner, requested: physical, owned: owned.physical });
        }
        if let Some(page) = self.table_page_inside(mem, physical) {
            return Err(Stage2Error::TablePageConflict { page, range: physical });
        }
        // Checked before mapping: a mapping that could not be recorded would
        // escape the isolation check.
        if self.ranges.is_full() {
            return Err(Stage2Error::RangeCapacityExceeded { capacity: RANGES });
        }
        let mut guarded = GuardedMemory { inner: mem, owned: &self.ranges, requested: physical, refused: None };
        let table = self.tables.get_mut(owner).ok_or(Stage2Error::UnknownOwner { owner, owners })?;
        match table.map(&mut guarded, ipa, pa, size, kind) {
            Ok(()) => {}
            Err(Stage2Error::OutOfTableMemory) => {
                return Err(match guarded.refused {
                    Some((page, range)) => Stage2Error::TablePageConflict { page, range },
                    None => Stage2Error::OutOfTableMemory,
                });
            }
            Err(error) => return Err(error),
        }
        self.ranges
            .push(OwnedRange { owner, guest: request.guest, physical, kind, banked })
            .map_err(|_| Stage2Error::RangeCapacityExceeded { capacity: RANGES })
    }

    /// A table page of any personality that lies inside `range`, if any.
    fn table_page_inside<M: TableMemory + ?Sized>(&self, mem: &M, range: PhysRange) -> Option<PhysAddr> {
        let mut found = None;
        for table in &self.tables {
            table.for_each_table_page(mem, &mut |page| {
                if found.is_none() && range.contains(page.0) {
                    found = Some(page);
                }
            });
        }
        found
    }
}
