//! Stage-2 descriptor encodings for the 4 KiB granule: the only module that knows the bit layout.
//!
//! Everything else in the crate (the table builder, the walker, the tests)
//! goes through [`Level`], [`encode_table`], [`encode_leaf`] and [`decode`],
//! so the walking logic never depends on where a bit lives (the idea behind
//! Hafnium's scrambled fake architecture).
//!
//! References are to the Arm Architecture Reference Manual for A-profile
//! (DDI 0487), chapter D8 "The AArch64 Virtual Memory System Architecture":
//! - D8.2, translation process: 4 KiB granule, 9 bits of input address
//!   resolved per lookup level, 512 entries per table.
//! - D8.3, translation table descriptor formats: bits \[1:0\] select invalid,
//!   block, table or page; the output address lives in bits \[47:12\] (48-bit
//!   output addresses, no FEAT_LPA2).
//! - D8.4, memory access control: stage-2 S2AP\[7:6\] and XN\[54:53\].
//! - D8.5, hardware updates to the translation tables: the access flag
//!   AF\[10\], set by software here so no access faults on it.
//! - D8.6, memory region attributes: stage-2 MemAttr\[5:2\] (with
//!   HCR_EL2.FWB = 0) and SH\[9:8\].
//! - D8.15, TLBs: invalid entries are never cached, so turning an invalid
//!   entry into a valid one (the only change this crate makes) needs no
//!   break-before-make and no TLB invalidation, only a `dsb ishst` before
//!   the guest may use the mapping.

use janus_platform::PhysAddr;

use crate::memory::MemoryKind;

/// log2 of the translation granule: 4 KiB pages (ARM ARM D8.2).
pub const PAGE_SHIFT: u32 = 12;
/// Size of a page, of a translation table, and the alignment of every mapping.
pub const PAGE_SIZE: u64 = 1 << PAGE_SHIFT;
/// log2 of the number of descriptors in one 4 KiB table.
const BITS_PER_LEVEL: u32 = 9;
/// Number of 64-bit descriptors in one 4 KiB table.
pub const ENTRIES_PER_TABLE: usize = 1 << BITS_PER_LEVEL;
/// Largest output address size the descriptors can hold without FEAT_LPA2.
pub const OUTPUT_ADDRESS_BITS: u32 = 48;

/// Descriptor bit 0: the entry is valid (ARM ARM D8.3).
const VALID: u64 = 1 << 0;
/// Descriptor bit 1: a table descriptor at levels 0-2, a page descriptor at
/// level 3; clear for a block descriptor (ARM ARM D8.3).
const TABLE_OR_PAGE: u64 = 1 << 1;
/// The two type bits together.
const TYPE_MASK: u64 = VALID | TABLE_OR_PAGE;
/// Bits \[47:12\]: next-level table address or output address (ARM ARM D8.3).
const ADDRESS_MASK: u64 = ((1 << OUTPUT_ADDRESS_BITS) - 1) & !(PAGE_SIZE - 1);

/// Shift of the stage-2 MemAttr\[3:0\] field, descriptor bits \[5:2\] (ARM ARM D8.6).
const MEMORY_ATTRIBUTES_SHIFT: u32 = 2;
/// MemAttr 0b1111: Normal, outer write-back cacheable, inner write-back cacheable.
const MEMORY_ATTRIBUTES_NORMAL_WRITE_BACK: u64 = 0b1111;
/// MemAttr 0b0001: Device-nGnRE.
const MEMORY_ATTRIBUTES_DEVICE_NGNRE: u64 = 0b0001;
/// Shift of the stage-2 access permissions S2AP\[1:0\], bits \[7:6\] (ARM ARM D8.4).
const ACCESS_PERMISSIONS_SHIFT: u32 = 6;
/// S2AP 0b11: read/write from EL1 and EL0.
const ACCESS_PERMISSIONS_READ_WRITE: u64 = 0b11;
/// Shift of the shareability field SH\[1:0\], bits \[9:8\] (ARM ARM D8.6).
const SHAREABILITY_SHIFT: u32 = 8;
/// SH 0b11: inner shareable.
const SHAREABILITY_INNER: u64 = 0b11;
/// SH 0b00: non-shareable (ignored for Device memory, which is always
/// outer shareable).
const SHAREABILITY_NONE: u64 = 0b00;
/// Bit 10: access flag; set so the first access does not fault (ARM ARM D8.5).
const ACCESS_FLAG: u64 = 1 << 10;
/// Shift of the stage-2 execute-never field XN\[1:0\], bits \[54:53\] (ARM ARM D8.4).
const EXECUTE_NEVER_SHIFT: u32 = 53;
/// XN 0b00: executable at EL1 and EL0.
const EXECUTE_ALLOWED: u64 = 0b00;
/// XN 0b10: execute never at EL1 and EL0 (the same meaning with and without
/// FEAT_XNX, where bit 53 is RES0).
const EXECUTE_NEVER: u64 = 0b10;

/// The value of an invalid (fault) descriptor: a translation fault on access.
pub const INVALID: u64 = 0;

/// A lookup level of the 4 KiB-granule stage-2 walk (ARM ARM D8.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// Level 0: each entry covers 512 GiB; table descriptors only.
    Zero,
    /// Level 1: each entry covers 1 GiB; table or 1 GiB block descriptors.
    One,
    /// Level 2: each entry covers 2 MiB; table or 2 MiB block descriptors.
    Two,
    /// Level 3: each entry covers 4 KiB; page descriptors only.
    Three,
}

impl Level {
    /// The level number, 0 to 3.
    pub const fn number(self) -> u8 {
        match self {
            Self::Zero => 0,
            Self::One => 1,
            Self::Two => 2,
            Self::Three => 3,
        }
    }

    /// log2 of the input address range one entry at this level covers.
    pub const fn shift(self) -> u32 {
        let levels_below = match self {
            Self::Zero => 3,
            Self::One => 2,
            Self::Two => 1,
            Self::Three => 0,
        };
        PAGE_SHIFT + BITS_PER_LEVEL * levels_below
    }

    /// Bytes of input address covered by one entry at this level.
    pub const fn entry_size(self) -> u64 {
        1 << self.shift()
    }

    /// The level a table descriptor at this level points to, if any.
    pub const fn next(self) -> Option<Self> {
        match self {
            Self::Zero => Some(Self::One),
            Self::One => Some(Self::Two),
            Self::Two => Some(Self::Three),
            Self::Three => None,
        }
    }

    /// Whether a block or page descriptor is allowed at this level with the
    /// 4 KiB granule (no level-0 blocks without FEAT_LPA2).
    pub const fn allows_leaf(self) -> bool {
        !matches!(self, Self::Zero)
    }

    /// The index of the entry covering `address` in a table at this level.
    pub const fn index(self, address: u64) -> usize {
        // The mask keeps the value below ENTRIES_PER_TABLE, so the cast is lossless.
        ((address >> self.shift()) & (ENTRIES_PER_TABLE as u64 - 1)) as usize
    }
}

/// A decoded stage-2 descriptor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Descriptor {
    /// Not valid: accesses fault.
    Invalid,
    /// Points to the next-level table.
    Table {
        /// Physical address of the next-level table page.
        next: PhysAddr,
    },
    /// A block (levels 1 and 2) or page (level 3) mapping.
    Leaf {
        /// Physical address the first byte of the entry maps to.
        output: PhysAddr,
        /// The attributes, one of the two sets this crate writes.
        kind: MemoryKind,
    },
    /// A valid entry this crate never writes (a reserved encoding, a level-0
    /// block, unknown attribute bits). Treated as occupied by the builder and
    /// as not translating by the walker.
    Unrecognised(u64),
}

/// The attribute bits (everything but the type and address bits) of a leaf
/// of the given kind.
const fn leaf_attributes(kind: MemoryKind) -> u64 {
    let (memory_attributes, shareability, execute) = match kind {
        MemoryKind::Normal => (MEMORY_ATTRIBUTES_NORMAL_WRITE_BACK, SHAREABILITY_INNER, EXECUTE_ALLOWED),
        MemoryKind::Device => (MEMORY_ATTRIBUTES_DEVICE_NGNRE, SHAREABILITY_NONE, EXECUTE_NEVER),
    };
    (memory_attributes << MEMORY_ATTRIBUTES_SHIFT)
        | (ACCESS_PERMISSIONS_READ_WRITE << ACCESS_PERMISSIONS_SHIFT)
        | (shareability << SHAREABILITY_SHIFT)
        | ACCESS_FLAG
        | (execute << EXECUTE_NEVER_SHIFT)
}

/// Whether `address` fits the descriptor address field with the given alignment.
const fn fits_address_field(address: u64, alignment: u64) -> bool {
    address & !ADDRESS_MASK == 0 && address & (alignment - 1) == 0
}

/// Encodes a table descriptor pointing to the table page `next`, or `None`
/// if `next` is not 4 KiB aligned or lies beyond 48 bits.
pub const fn encode_table(next: PhysAddr) -> Option<u64> {
    if fits_address_field(next.0, PAGE_SIZE) { Some(next.0 | VALID | TABLE_OR_PAGE) } else { None }
}

/// Encodes a block (level 1 or 2) or page (level 3) descriptor mapping the
/// entry to `output` with the attributes of `kind`.
///
/// `None` if `level` cannot hold a leaf, or `output` is not aligned to the
/// level's entry size or lies beyond 48 bits.
pub const fn encode_leaf(output: PhysAddr, kind: MemoryKind, level: Level) -> Option<u64> {
    if !level.allows_leaf() || !fits_address_field(output.0, level.entry_size()) {
        return None;
    }
    let type_bits = match level {
        Level::Three => VALID | TABLE_OR_PAGE,
        _ => VALID,
    };
    Some(output.0 | leaf_attributes(kind) | type_bits)
}

/// Decodes a descriptor read from a table at `level`.
pub const fn decode(raw: u64, level: Level) -> Descriptor {
    if raw & VALID == 0 {
        return Descriptor::Invalid;
    }
    let address = raw & ADDRESS_MASK;
    let other_bits = raw & !ADDRESS_MASK & !TYPE_MASK;
    let is_table_or_page = raw & TABLE_OR_PAGE != 0;
    match (level, is_table_or_page) {
        // Table descriptor: nothing but the address (stage 2 has no
        // hierarchical attributes).
        (Level::Zero | Level::One | Level::Two, true) => {
            if other_bits == 0 {
                Descriptor::Table { next: PhysAddr(address) }
            } else {
                Descriptor::Unrecognised(raw)
            }
        }
        // Block (levels 1 and 2) or page (level 3) descriptor.
        (Level::One | Level::Two, false) | (Level::Three, true) => {
            // Bits below the block size are RES0 in a block descriptor.
            if address & (level.entry_size() - 1) != 0 {
                Descriptor::Unrecognised(raw)
            } else if other_bits == leaf_attributes(MemoryKind::Normal) {
                Descriptor::Leaf { output: PhysAddr(address), kind: MemoryKind::Normal }
            } else if other_bits == leaf_attributes(MemoryKind::Device) {
                Descriptor::Leaf { output: PhysAddr(address), kind: MemoryKind::Device }
            } else {
                Descriptor::Unrecognised(raw)
            }
        }
        // A level-0 block or a level-3 "block": reserved with this granule.
        (Level::Zero, false) | (Level::Three, false) => Descriptor::Unrecognised(raw),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL_LEVELS: [Level; 4] = [Level::Zero, Level::One, Level::Two, Level::Three];

    /// Extracts `width` bits from `shift`, written out here independently of
    /// the constants above.
    fn field(raw: u64, shift: u32, width: u32) -> u64 {
        (raw >> shift) & ((1 << width) - 1)
    }

    #[test]
    fn level_geometry_matches_the_4k_granule() {
        let sizes: Vec<u64> = ALL_LEVELS.iter().map(|level| level.entry_size()).collect();
        assert_eq!(sizes, [512 << 30, 1 << 30, 2 << 20, 4 << 10]);
        assert_eq!(ALL_LEVELS.map(Level::number), [0, 1, 2, 3]);
        assert_eq!(Level::Zero.next(), Some(Level::One));
        assert_eq!(Level::Three.next(), None);
        assert_eq!(ALL_LEVELS.map(Level::allows_leaf), [false, true, true, true]);
        let address = (5 << 39) | (7 << 30) | (9 << 21) | (11 << 12) | 0xabc;
        assert_eq!(ALL_LEVELS.map(|level| level.index(address)), [5, 7, 9, 11]);
        assert_eq!(Level::Zero.index(u64::MAX), 511);
    }

    #[test]
    fn table_descriptor_round_trips() {
        let next = PhysAddr(0x0000_8765_4321_0000);
        let raw = encode_table(next).unwrap();
        assert_eq!(raw & 0b11, 0b11, "valid table descriptor");
        for level in [Level::Zero, Level::One, Level::Two] {
            assert_eq!(decode(raw, level), Descriptor::Table { next });
        }
        assert_eq!(encode_table(PhysAddr(0x1000_0800)), None, "misaligned table");
        assert_eq!(encode_table(PhysAddr(1 << 48)), None, "beyond 48 bits");
    }

    #[test]
    fn normal_leaf_has_the_documented_bits() {
        let raw = encode_leaf(PhysAddr(0x4020_0000), MemoryKind::Normal, Level::Two).unwrap();
        assert_eq!(field(raw, 0, 2), 0b01, "block descriptor");
        assert_eq!(field(raw, 2, 4), 0b1111, "MemAttr: Normal write-back");
        assert_eq!(field(raw, 6, 2), 0b11, "S2AP: read/write");
        assert_eq!(field(raw, 8, 2), 0b11, "SH: inner shareable");
        assert_eq!(field(raw, 10, 1), 1, "AF");
        assert_eq!(field(raw, 53, 2), 0b00, "XN: executable");
        assert_eq!(raw & 0x0000_ffff_ffff_f000, 0x4020_0000);
    }

    #[test]
    fn device_leaf_has_the_documented_bits() {
        let raw = encode_leaf(PhysAddr(0x0900_0000), MemoryKind::Device, Level::Three).unwrap();
        assert_eq!(field(raw, 0, 2), 0b11, "page descriptor");
        assert_eq!(field(raw, 2, 4), 0b0001, "MemAttr: Device-nGnRE");
        assert_eq!(field(raw, 6, 2), 0b11, "S2AP: read/write");
        assert_eq!(field(raw, 8, 2), 0b00, "SH: not set for Device");
        assert_eq!(field(raw, 10, 1), 1, "AF");
        assert_eq!(field(raw, 53, 2), 0b10, "XN: execute never");
    }

    #[test]
    fn leaves_round_trip_at_every_leaf_level() {
        for level in [Level::One, Level::Two, Level::Three] {
            for kind in [MemoryKind::Normal, MemoryKind::Device] {
                let output = PhysAddr(3 * level.entry_size());
                let raw = encode_leaf(output, kind, level).unwrap();
                assert_eq!(decode(raw, level), Descriptor::Leaf { output, kind }, "{level:?} {kind:?}");
            }
        }
    }

    #[test]
    fn leaves_are_refused_where_the_architecture_forbids_them() {
        assert_eq!(encode_leaf(PhysAddr(0), MemoryKind::Normal, Level::Zero), None);
        assert_eq!(encode_leaf(PhysAddr(0x20_0000), MemoryKind::Normal, Level::One), None, "not 1 GiB aligned");
        assert_eq!(encode_leaf(PhysAddr(0x1000), MemoryKind::Normal, Level::Two), None, "not 2 MiB aligned");
        assert_eq!(encode_leaf(PhysAddr(0x800), MemoryKind::Normal, Level::Three), None, "not 4 KiB aligned");
        assert_eq!(encode_leaf(PhysAddr(1 << 48), MemoryKind::Normal, Level::Three), None, "beyond 48 bits");
    }

    #[test]
    fn unknown_encodings_are_unrecognised() {
        assert_eq!(decode(INVALID, Level::One), Descriptor::Invalid);
        assert_eq!(decode(0xffff_ffff_ffff_fffe, Level::Two), Descriptor::Invalid, "valid bit clear");
        let block = encode_leaf(PhysAddr(1 << 30), MemoryKind::Normal, Level::One).unwrap();
        // The same bits are a reserved level-0 block, and a reserved level-3 encoding.
        assert_eq!(decode(block, Level::Zero), Descriptor::Unrecognised(block));
        assert_eq!(decode(block, Level::Three), Descriptor::Unrecognised(block));
        // A level-2 block read as a level-1 block has RES0 address bits set.
        let small_block = encode_leaf(PhysAddr(0x20_0000), MemoryKind::Normal, Level::Two).unwrap();
        assert_eq!(decode(small_block, Level::One), Descriptor::Unrecognised(small_block));
        // Read-only (S2AP = 0b01) is not something this crate writes.
        let read_only = block & !(1 << 7);
        assert_eq!(decode(read_only, Level::One), Descriptor::Unrecognised(read_only));
        let table_with_junk = encode_table(PhysAddr(0x1000)).unwrap() | (1 << 58);
        assert_eq!(decode(table_with_junk, Level::One), Descriptor::Unrecognised(table_with_junk));
    }
}
