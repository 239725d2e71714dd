//! Stage-2 geometry chosen from the physical address size, and the VTCR_EL2 and VTTBR_EL2 values for it.
//!
//! The root table is always a single 4 KiB page (no concatenated root
//! tables). One page holds 512 entries, 9 bits of input address, on top of
//! the 30 bits a level-1 entry covers or the 39 a level-0 entry covers (ARM
//! ARM D8.2, "initial lookup level"), so a single-page root gives at most a
//! 39-bit IPA starting at level 1, or a 48-bit IPA starting at level 0:
//!
//! | PARange | PA size             | IPA size | start level | root entries |
//! |---------|---------------------|----------|-------------|--------------|
//! | 0       | 32 bits             | 32 bits  | 1           | 4            |
//! | 1       | 36 bits             | 36 bits  | 1           | 64           |
//! | 2, 3, 4 | 40, 42, 44 bits     | 39 bits  | 1           | 512          |
//! | 5       | 48 bits             | 48 bits  | 0           | 512          |
//! | 6       | 52 bits, used as 48 | 48 bits  | 0           | 512          |
//!
//! The IPA size never exceeds the PA size. With 40 to 44-bit PAs the guest
//! physical space stops at 512 GiB, more than any board layout Janus targets
//! needs; a larger IPA would need two to sixteen concatenated level-1 roots
//! or a level-0 start, for no benefit. A 52-bit PA needs FEAT_LPA2
//! descriptors with the 4 KiB granule, so it is used as a 48-bit one
//! (PS = 48 bits, output addresses in descriptor bits \[47:12\]).
//!
//! Register layouts follow the VTCR_EL2 and VTTBR_EL2 register descriptions
//! in the ARM ARM (DDI 0487, "AArch64 System Register Descriptions").

use janus_platform::PhysAddr;

use crate::descriptor::{ENTRIES_PER_TABLE, Level, OUTPUT_ADDRESS_BITS};
use crate::error::Stage2Error;

/// VTCR_EL2.T0SZ, bits \[5:0\]: the IPA size is 2^(64 - T0SZ) bytes.
const VTCR_T0SZ_SHIFT: u32 = 0;
/// VTCR_EL2.SL0, bits \[7:6\]: the start level, encoded per granule.
const VTCR_SL0_SHIFT: u32 = 6;
/// SL0 encoding of start level 0 with the 4 KiB granule.
const VTCR_SL0_LEVEL_0: u64 = 0b10;
/// SL0 encoding of start level 1 with the 4 KiB granule.
const VTCR_SL0_LEVEL_1: u64 = 0b01;
/// VTCR_EL2.IRGN0, bits \[9:8\]: inner cacheability of table walks.
const VTCR_IRGN0_SHIFT: u32 = 8;
/// VTCR_EL2.ORGN0, bits \[11:10\]: outer cacheability of table walks.
const VTCR_ORGN0_SHIFT: u32 = 10;
/// IRGN0/ORGN0 0b01: Normal, write-back read-allocate write-allocate cacheable.
const VTCR_CACHE_WRITE_BACK_WRITE_ALLOCATE: u64 = 0b01;
/// VTCR_EL2.SH0, bits \[13:12\]: shareability of table walks.
const VTCR_SH0_SHIFT: u32 = 12;
/// SH0 0b11: inner shareable.
const VTCR_SHAREABILITY_INNER: u64 = 0b11;
/// VTCR_EL2.TG0, bits \[15:14\]: the translation granule.
const VTCR_TG0_SHIFT: u32 = 14;
/// TG0 0b00: 4 KiB granule.
const VTCR_TG0_4KIB: u64 = 0b00;
/// VTCR_EL2.PS, bits \[18:16\]: the physical address size, encoded like
/// ID_AA64MMFR0_EL1.PARange.
const VTCR_PS_SHIFT: u32 = 16;
/// VTCR_EL2 bit 31 is RES1.
const VTCR_RES1: u64 = 1 << 31;
/// VTTBR_EL2.VMID, bits \[63:48\] (bits \[55:48\] with VTCR_EL2.VS = 0, the
/// 8-bit VMIDs every implementation supports).
const VTTBR_VMID_SHIFT: u32 = 48;

/// The PA size encoding for 48 bits, used for PARange 6 (52 bits) too.
const PARANGE_48_BITS: u8 = 0b101;
/// The largest IPA size with a single-page level-1 root table.
const SINGLE_PAGE_LEVEL_1_IPA_BITS: u8 = 39;
/// The IPA size of a single-page level-0 root table.
const SINGLE_PAGE_LEVEL_0_IPA_BITS: u8 = 48;

/// The lookup level a walk starts at; only the two this crate uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum StartLevel {
    /// Level 0 (48-bit IPA).
    Zero,
    /// Level 1 (32 to 39-bit IPA).
    One,
}

/// The shape of every stage-2 table on this machine: IPA size, start level
/// and physical address size. Built from the PARange field only, so all
/// personalities on a board share it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stage2Config {
    /// Physical address bits the tables may output.
    pa_bits: u8,
    /// The VTCR_EL2.PS encoding of `pa_bits`.
    physical_size_field: u8,
    /// Input (IPA) bits.
    ipa_bits: u8,
    /// The level of the root table.
    start: StartLevel,
}

impl Stage2Config {
    /// The configuration for the ID_AA64MMFR0_EL1.PARange field value
    /// `parange` (bits \[3:0\] of that register), following the table in the
    /// module documentation.
    pub fn for_parange(parange: u8) -> Result<Self, Stage2Error> {
        let (pa_bits, physical_size_field) = match parange {
            0 => (32, 0),
            1 => (36, 1),
            2 => (40, 2),
            3 => (42, 3),
            4 => (44, 4),
            5 | 6 => (48, PARANGE_48_BITS),
            _ => return Err(Stage2Error::UnsupportedPaRange { parange }),
        };
        let (ipa_bits, start) = if pa_bits >= SINGLE_PAGE_LEVEL_0_IPA_BITS {
            (SINGLE_PAGE_LEVEL_0_IPA_BITS, StartLevel::Zero)
        } else {
            (pa_bits.min(SINGLE_PAGE_LEVEL_1_IPA_BITS), StartLevel::One)
        };
        Ok(Self { pa_bits, physical_size_field, ipa_bits, start })
    }

    /// Input (guest physical) address bits.
    pub const fn ipa_bits(&self) -> u8 {
        self.ipa_bits
    }

    /// Physical address bits a mapping may reach.
    pub const fn pa_bits(&self) -> u8 {
        self.pa_bits
    }

    /// The level of the root table.
    pub const fn start_level(&self) -> Level {
        match self.start {
            StartLevel::Zero => Level::Zero,
            StartLevel::One => Level::One,
        }
    }

    /// One past the highest guest physical address: `2^ipa_bits`.
    pub const fn ipa_limit(&self) -> u64 {
        1 << self.ipa_bits
    }

    /// One past the highest physical address a mapping may reach: `2^pa_bits`.
    pub const fn pa_limit(&self) -> u64 {
        1 << self.pa_bits
    }

    /// How many entries of the root table the IPA size uses (4 to 512).
    pub(crate) const fn root_entries(&self) -> usize {
        let entries = self.ipa_limit() >> self.start_level().shift();
        if entries < ENTRIES_PER_TABLE as u64 { entries as usize } else { ENTRIES_PER_TABLE }
    }

    /// Whether a table page at `page` can be pointed to by a descriptor and
    /// reached by the walker: 4 KiB aligned and inside the PA size.
    pub(crate) const fn is_usable_table_page(&self, page: PhysAddr) -> bool {
        page.is_aligned(crate::descriptor::PAGE_SIZE) && page.0 < self.pa_limit() && page.0 < 1 << OUTPUT_ADDRESS_BITS
    }

    /// The VTCR_EL2 value: T0SZ and SL0 for the IPA size and start level,
    /// write-back write-allocate inner shareable table walks, 4 KiB granule,
    /// PS for the PA size, 8-bit VMIDs (VS = 0), no hardware access-flag or
    /// dirty-state updates.
    pub const fn vtcr(&self) -> u64 {
        let t0sz = 64 - self.ipa_bits as u64;
        let sl0 = match self.start {
            StartLevel::Zero => VTCR_SL0_LEVEL_0,
            StartLevel::One => VTCR_SL0_LEVEL_1,
        };
        (t0sz << VTCR_T0SZ_SHIFT)
            | (sl0 << VTCR_SL0_SHIFT)
            | (VTCR_CACHE_WRITE_BACK_WRITE_ALLOCATE << VTCR_IRGN0_SHIFT)
            | (VTCR_CACHE_WRITE_BACK_WRITE_ALLOCATE << VTCR_ORGN0_SHIFT)
            | (VTCR_SHAREABILITY_INNER << VTCR_SH0_SHIFT)
            | (VTCR_TG0_4KIB << VTCR_TG0_SHIFT)
            | ((self.physical_size_field as u64) << VTCR_PS_SHIFT)
            | VTCR_RES1
    }

    /// The VTTBR_EL2 value for a root table at `root` (4 KiB aligned, so
    /// CnP, bit 0, is clear) and an 8-bit VMID.
    pub(crate) const fn vttbr(&self, root: PhysAddr, vmid: u8) -> u64 {
        root.0 | ((vmid as u64) << VTTBR_VMID_SHIFT)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bits `[shift + width - 1 : shift]` of `value`.
    fn field(value: u64, shift: u32, width: u32) -> u64 {
        (value >> shift) & ((1 << width) - 1)
    }

    /// (PARange, PA bits, IPA bits, start level, expected PS field).
    const EXPECTED: [(u8, u8, u8, u8, u64); 7] = [
        (0, 32, 32, 1, 0b000),
        (1, 36, 36, 1, 0b001),
        (2, 40, 39, 1, 0b010),
        (3, 42, 39, 1, 0b011),
        (4, 44, 39, 1, 0b100),
        (5, 48, 48, 0, 0b101),
        (6, 48, 48, 0, 0b101),
    ];

    #[test]
    fn geometry_follows_the_parange() {
        for (parange, pa_bits, ipa_bits, start_level, _) in EXPECTED {
            let config = Stage2Config::for_parange(parange).unwrap();
            assert_eq!(config.pa_bits(), pa_bits, "PARange {parange}");
            assert_eq!(config.ipa_bits(), ipa_bits, "PARange {parange}");
            assert_eq!(config.start_level().number(), start_level, "PARange {parange}");
            assert_eq!(config.ipa_limit(), 1 << ipa_bits);
            assert_eq!(config.pa_limit(), 1 << pa_bits);
            // A single root page: the root resolves between 1 and 9 bits
            // (ARM ARM D8.2: more would need concatenated tables).
            let root_bits = u32::from(ipa_bits) - config.start_level().shift();
            assert!((1..=9).contains(&root_bits), "PARange {parange}: {root_bits} root bits");
            assert_eq!(config.root_entries(), 1 << root_bits);
            // The IPA never exceeds the PA size.
            assert!(ipa_bits <= pa_bits);
        }
    }

    #[test]
    fn vtcr_fields_match_the_register_description() {
        for (parange, _, ipa_bits, start_level, physical_size) in EXPECTED {
            let vtcr = Stage2Config::for_parange(parange).unwrap().vtcr();
            assert_eq!(field(vtcr, 0, 6), 64 - u64::from(ipa_bits), "T0SZ, PARange {parange}");
            // SL0 with TG0 = 4 KiB: 0b10 starts at level 0, 0b01 at level 1.
            let sl0 = if start_level == 0 { 0b10 } else { 0b01 };
            assert_eq!(field(vtcr, 6, 2), sl0, "SL0, PARange {parange}");
            assert_eq!(field(vtcr, 8, 2), 0b01, "IRGN0 write-back write-allocate");
            assert_eq!(field(vtcr, 10, 2), 0b01, "ORGN0 write-back write-allocate");
            assert_eq!(field(vtcr, 12, 2), 0b11, "SH0 inner shareable");
            assert_eq!(field(vtcr, 14, 2), 0b00, "TG0 4 KiB");
            assert_eq!(field(vtcr, 16, 3), physical_size, "PS, PARange {parange}");
            assert_eq!(field(vtcr, 19, 1), 0, "VS: 8-bit VMID");
            assert_eq!(field(vtcr, 31, 1), 1, "RES1");
            // Nothing else set: no hardware AF/dirty updates, no NSW/NSA, no DS.
            let known = 0x7_ffff | (1 << 31);
            assert_eq!(vtcr & !known, 0, "PARange {parange}: stray bits {vtcr:#x}");
        }
    }

    #[test]
    fn vtcr_literal_values() {
        // 40-bit PA: T0SZ 25, SL0 level 1, PS 0b010.
        assert_eq!(Stage2Config::for_parange(2).unwrap().vtcr(), 0x8002_3559);
        // 48-bit PA: T0SZ 16, SL0 level 0, PS 0b101.
        assert_eq!(Stage2Config::for_parange(5).unwrap().vtcr(), 0x8005_3590);
    }

    #[test]
    fn reserved_parange_is_refused() {
        for parange in 7..=u8::MAX {
            assert_eq!(Stage2Config::for_parange(parange), Err(Stage2Error::UnsupportedPaRange { parange }));
        }
        assert_eq!(Stage2Error::UnsupportedPaRange { parange: 7 }.to_string(), "unsupported ID_AA64MMFR0_EL1.PARange value 0x7");
    }

    #[test]
    fn vttbr_puts_the_vmid_above_the_root() {
        let config = Stage2Config::for_parange(2).unwrap();
        let vttbr = config.vttbr(PhysAddr(0x4_1234_5000), 0xa5);
        assert_eq!(field(vttbr, 48, 16), 0xa5, "VMID");
        assert_eq!(field(vttbr, 1, 47) << 1, 0x4_1234_5000, "BADDR");
        assert_eq!(vttbr & 1, 0, "CnP clear");
    }

    #[test]
    fn table_pages_must_be_aligned_and_reachable() {
        let config = Stage2Config::for_parange(0).unwrap();
        assert!(config.is_usable_table_page(PhysAddr(0xffff_f000)));
        assert!(!config.is_usable_table_page(PhysAddr(0x1_0000_0000)), "beyond 32-bit PA");
        assert!(!config.is_usable_table_page(PhysAddr(0x1008)), "misaligned");
    }
}
