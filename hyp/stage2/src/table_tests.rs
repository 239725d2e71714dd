//! Unit tests of the table builder and walker: block selection, edges, attributes, one test per error.

use janus_platform::{GuestPhysAddr, GuestPhysRange, PhysAddr, PhysRange};

use crate::testing::{FakeMemory, GIB, Leaf, MIB, PAGE, leaves};
use crate::{MemoryKind, Stage2Config, Stage2Error, Stage2Table};

/// 40-bit PA: 39-bit IPA, start level 1.
fn config_40() -> Stage2Config {
    Stage2Config::for_parange(2).unwrap()
}

/// A fresh table and a pool of 64 pages.
fn setup(config: Stage2Config) -> (FakeMemory, Stage2Table) {
    let mut mem = FakeMemory::new(64);
    let table = Stage2Table::new(&mut mem, config).unwrap();
    (mem, table)
}

fn map(table: &mut Stage2Table, mem: &mut FakeMemory, ipa: u64, pa: u64, size: u64) -> Result<(), Stage2Error> {
    table.map(mem, GuestPhysAddr(ipa), PhysAddr(pa), size, MemoryKind::Normal)
}

fn normal(ipa: u64, pa: u64, size: u64, level: u8) -> Leaf {
    Leaf { ipa, pa, size, kind: MemoryKind::Normal, level }
}

#[test]
fn two_mib_aligned_four_mib_uses_two_level_2_blocks() {
    let (mut mem, mut table) = setup(config_40());
    map(&mut table, &mut mem, 0x4000_0000, 0x8000_0000, 4 * MIB).unwrap();
    assert_eq!(leaves(&mem, &table), [normal(0x4000_0000, 0x8000_0000, 2 * MIB, 2), normal(0x4020_0000, 0x8020_0000, 2 * MIB, 2)]);
    assert_eq!(mem.allocations(), 2, "root and one level-2 table");
}

#[test]
fn one_gib_aligned_one_gib_uses_one_level_1_block() {
    let (mut mem, mut table) = setup(config_40());
    map(&mut table, &mut mem, GIB, 2 * GIB, GIB).unwrap();
    assert_eq!(leaves(&mem, &table), [normal(GIB, 2 * GIB, GIB, 1)]);
    assert_eq!(mem.allocations(), 1, "the level-1 root holds the block");

    // With a level-0 root the block sits one table lower.
    let (mut mem, mut table) = setup(Stage2Config::for_parange(5).unwrap());
    map(&mut table, &mut mem, GIB, 2 * GIB, GIB).unwrap();
    assert_eq!(leaves(&mem, &table), [normal(GIB, 2 * GIB, GIB, 1)]);
    assert_eq!(mem.allocations(), 2);
}

#[test]
fn unaligned_range_uses_pages() {
    let (mut mem, mut table) = setup(config_40());
    map(&mut table, &mut mem, 0x4000_1000, 0x8000_1000, 3 * PAGE).unwrap();
    assert_eq!(
        leaves(&mem, &table),
        [normal(0x4000_1000, 0x8000_1000, PAGE, 3), normal(0x4000_2000, 0x8000_2000, PAGE, 3), normal(0x4000_3000, 0x8000_3000, PAGE, 3),]
    );
    assert_eq!(mem.allocations(), 3, "root, level 2, level 3");
}

#[test]
fn block_needs_both_addresses_aligned() {
    // A 2 MiB-aligned guest range over a physical range that is only page
    // aligned cannot use a block.
    let (mut mem, mut table) = setup(config_40());
    map(&mut table, &mut mem, 0x4000_0000, 0x8000_1000, 2 * MIB).unwrap();
    let found = leaves(&mem, &table);
    assert_eq!(found.len(), 512);
    assert!(found.iter().all(|leaf| leaf.level == 3));
    assert_eq!(found.last().unwrap().pa, 0x8000_1000 + 2 * MIB - PAGE);
}

#[test]
fn range_straddling_a_block_mixes_pages_and_blocks() {
    let (mut mem, mut table) = setup(config_40());
    let start = 0x4000_0000 + 2 * MIB - PAGE;
    map(&mut table, &mut mem, start, start + GIB, PAGE + 2 * MIB + PAGE).unwrap();
    assert_eq!(
        leaves(&mem, &table),
        [normal(start, start + GIB, PAGE, 3), normal(0x4020_0000, 0x4020_0000 + GIB, 2 * MIB, 2), normal(0x4040_0000, 0x4040_0000 + GIB, PAGE, 3),]
    );
}

#[test]
fn crate_walker_agrees_with_the_independent_one() {
    let (mut mem, mut table) = setup(config_40());
    let start = 0x4000_0000 + 2 * MIB - PAGE;
    map(&mut table, &mut mem, start, start, PAGE + 2 * MIB + PAGE).unwrap();
    map(&mut table, &mut mem, 3 * GIB, 5 * GIB, GIB).unwrap();
    let mut visited = Vec::new();
    table.for_each_leaf(&mem, &mut |leaf| visited.push(leaf));
    let expected: Vec<_> =
        leaves(&mem, &table).iter().map(|leaf| (GuestPhysRange::new(leaf.ipa, leaf.size), PhysRange::new(leaf.pa, leaf.size), leaf.level)).collect();
    let got: Vec<_> = visited.iter().map(|leaf| (leaf.guest, leaf.physical, leaf.level.number())).collect();
    assert_eq!(got, expected);
    let mut pages = Vec::new();
    table.for_each_table_page(&mem, &mut |page| pages.push(page));
    assert_eq!(pages.len(), mem.allocations());
    assert_eq!(pages.first(), Some(&table.root()));
}

#[test]
fn translate_hits_and_misses_at_range_edges() {
    let (mut mem, mut table) = setup(config_40());
    map(&mut table, &mut mem, 0x4000_0000, 0x9000_0000, 3 * PAGE).unwrap();
    map(&mut table, &mut mem, 0x4020_0000, 0xa000_0000, 2 * MIB).unwrap();
    map(&mut table, &mut mem, GIB * 2, GIB * 7, GIB).unwrap();
    let translate = |ipa: u64| table.translate(&mem, GuestPhysAddr(ipa)).map(|(pa, _)| pa.0);
    // Pages.
    assert_eq!(translate(0x3fff_ffff), None, "last byte before");
    assert_eq!(translate(0x4000_0000), Some(0x9000_0000), "first byte");
    assert_eq!(translate(0x4000_2fff), Some(0x9000_2fff), "last byte");
    assert_eq!(translate(0x4000_3000), None, "first byte after");
    // A 2 MiB block.
    assert_eq!(translate(0x401f_ffff), None);
    assert_eq!(translate(0x4020_0000), Some(0xa000_0000));
    assert_eq!(translate(0x403f_ffff), Some(0xa01f_ffff));
    assert_eq!(translate(0x4040_0000), None);
    // A 1 GiB block.
    assert_eq!(translate(2 * GIB - 1), None);
    assert_eq!(translate(2 * GIB + 0x1234), Some(7 * GIB + 0x1234));
    assert_eq!(translate(3 * GIB - 1), Some(8 * GIB - 1));
    assert_eq!(translate(3 * GIB), None);
    // Beyond the IPA size.
    assert_eq!(translate(1 << 39), None);
    assert_eq!(translate(u64::MAX), None);
}

#[test]
fn device_and_normal_attributes_round_trip() {
    let (mut mem, mut table) = setup(config_40());
    table.map(&mut mem, GuestPhysAddr(0x0900_0000), PhysAddr(0x0900_0000), PAGE, MemoryKind::Device).unwrap();
    table.map(&mut mem, GuestPhysAddr(0x4000_0000), PhysAddr(0x4000_0000), 2 * MIB, MemoryKind::Normal).unwrap();
    table.map(&mut mem, GuestPhysAddr(2 * GIB), PhysAddr(3 * GIB), GIB, MemoryKind::Device).unwrap();
    let kind = |ipa: u64| table.translate(&mem, GuestPhysAddr(ipa)).map(|(_, kind)| kind);
    assert_eq!(kind(0x0900_0ffc), Some(MemoryKind::Device));
    assert_eq!(kind(0x4010_0000), Some(MemoryKind::Normal));
    assert_eq!(kind(2 * GIB + 5 * MIB), Some(MemoryKind::Device));
    let kinds: Vec<_> = leaves(&mem, &table).iter().map(|leaf| (leaf.level, leaf.kind)).collect();
    assert_eq!(kinds, [(3, MemoryKind::Device), (2, MemoryKind::Normal), (1, MemoryKind::Device)]);
}

#[test]
fn small_ipa_spaces_use_a_partial_root() {
    let (mut mem, mut table) = setup(Stage2Config::for_parange(0).unwrap());
    map(&mut table, &mut mem, 3 * GIB, 3 * GIB, GIB).unwrap();
    assert_eq!(table.translate(&mem, GuestPhysAddr(4 * GIB - 1)), Some((PhysAddr(4 * GIB - 1), MemoryKind::Normal)));
    assert_eq!(table.translate(&mem, GuestPhysAddr(4 * GIB)), None);
}

#[test]
fn vttbr_selects_root_and_vmid() {
    let (_, table) = setup(config_40());
    let vttbr = table.vttbr(3);
    assert_eq!(vttbr >> 48, 3);
    assert_eq!(vttbr & ((1 << 48) - 1), table.root().0);
}

#[test]
fn fresh_table_pages_are_cleared() {
    // The fake fills new pages with all-ones; a map over them would see
    // "already mapped" if the builder trusted them.
    let (mut mem, mut table) = setup(config_40());
    map(&mut table, &mut mem, 0x4000_1000, 0x4000_1000, PAGE).unwrap();
    assert_eq!(leaves(&mem, &table).len(), 1);
}

// One test per error variant. Each also checks that the fake memory (every
// table page, the allocation count) is unchanged.

fn assert_refused(config: Stage2Config, ipa: u64, pa: u64, size: u64, expected: Stage2Error) {
    let (mut mem, mut table) = setup(config);
    map(&mut table, &mut mem, 0x4000_0000, 0x4000_0000, 4 * MIB).unwrap();
    let before = mem.clone();
    assert_eq!(map(&mut table, &mut mem, ipa, pa, size), Err(expected));
    assert_eq!(mem, before, "tables changed by a refused mapping");
}

#[test]
fn zero_size_is_refused() {
    let error = Stage2Error::ZeroSize { ipa: GuestPhysAddr(0x1000), pa: PhysAddr(0x2000) };
    assert_refused(config_40(), 0x1000, 0x2000, 0, error);
    assert_eq!(error.to_string(), "zero-sized stage-2 mapping of guest 0x1000 to 0x2000");
}

#[test]
fn misalignment_is_refused() {
    for (ipa, pa, size) in [(0x1800, 0x2000, PAGE), (0x1000, 0x2010, PAGE), (0x1000, 0x2000, PAGE + 1)] {
        let error = Stage2Error::Misaligned { ipa: GuestPhysAddr(ipa), pa: PhysAddr(pa), size };
        assert_refused(config_40(), ipa, pa, size, error);
    }
    let error = Stage2Error::Misaligned { ipa: GuestPhysAddr(0x1800), pa: PhysAddr(0x2000), size: PAGE };
    assert_eq!(error.to_string(), "stage-2 mapping of guest 0x1800 to 0x2000 size 0x1000 is not 4 KiB aligned");
}

#[test]
fn address_overflow_is_refused() {
    let top = u64::MAX - PAGE + 1;
    for (ipa, pa) in [(top, 0), (0, top)] {
        let error = Stage2Error::AddressOverflow { ipa: GuestPhysAddr(ipa), pa: PhysAddr(pa), size: 2 * PAGE };
        assert_refused(config_40(), ipa, pa, 2 * PAGE, error);
        assert!(error.to_string().contains("overflows"));
    }
}

#[test]
fn ipa_beyond_the_configured_size_is_refused() {
    let limit = 1 << 39;
    let (mut mem, mut table) = setup(config_40());
    map(&mut table, &mut mem, limit - PAGE, 0x1000, PAGE).unwrap();
    let error = Stage2Error::IpaOutOfRange { range: GuestPhysRange::new(limit - PAGE, 2 * PAGE), limit };
    assert_refused(config_40(), limit - PAGE, 0x1000, 2 * PAGE, error);
    assert_eq!(error.to_string(), "guest range 0x7ffffff000..0x8000001000 reaches beyond the stage-2 input size 0x8000000000");
}

#[test]
fn pa_beyond_the_physical_size_is_refused() {
    let config = Stage2Config::for_parange(0).unwrap();
    let (mut mem, mut table) = setup(config);
    map(&mut table, &mut mem, 0x1000, 4 * GIB - PAGE, PAGE).unwrap();
    let error = Stage2Error::PaOutOfRange { range: PhysRange::new(4 * GIB - PAGE, 2 * PAGE), limit: 4 * GIB };
    assert_refused(config, 0x1000, 4 * GIB - PAGE, 2 * PAGE, error);
    assert_eq!(error.to_string(), "physical range 0xfffff000..0x100001000 reaches beyond the physical address size 0x100000000");
}

#[test]
fn any_overlap_with_an_existing_mapping_is_refused() {
    // The setup maps 0x4000_0000..0x4040_0000 (two 2 MiB blocks).
    let cases = [
        (0x4000_0000, 4 * MIB, 0x4000_0000),  // exactly the same
        (0x3fff_f000, 2 * PAGE, 0x4000_0000), // overlapping the first byte
        (0x403f_f000, 2 * PAGE, 0x403f_f000), // overlapping the last page
        (0x4010_0000, PAGE, 0x4010_0000),     // a page inside a block
        (GIB, GIB, GIB),                      // a 1 GiB block over both
        (0x3fe0_0000, 8 * MIB, 0x4000_0000),  // blocks around them
    ];
    for (ipa, size, conflict) in cases {
        let error = Stage2Error::AlreadyMapped { range: GuestPhysRange::new(ipa, size), conflict: GuestPhysAddr(conflict) };
        assert_refused(config_40(), ipa, 0x8000_0000, size, error);
    }
    // Blocks over existing pages are refused too.
    let (mut mem, mut table) = setup(config_40());
    map(&mut table, &mut mem, 0x4012_3000, 0x8000_0000, PAGE).unwrap();
    let before = mem.clone();
    let error = map(&mut table, &mut mem, 0x4000_0000, 0x9000_0000, 2 * MIB).unwrap_err();
    assert_eq!(error, Stage2Error::AlreadyMapped { range: GuestPhysRange::new(0x4000_0000, 2 * MIB), conflict: GuestPhysAddr(0x4012_3000) });
    assert_eq!(mem, before);
    assert_eq!(error.to_string(), "guest range 0x40000000..0x40200000 overlaps an existing mapping at 0x40123000");
}

#[test]
fn running_out_of_table_pages_is_an_error_not_a_panic() {
    // No page even for the root.
    let mut empty = FakeMemory::new(0);
    assert_eq!(Stage2Table::new(&mut empty, config_40()), Err(Stage2Error::OutOfTableMemory));

    // Three pages: root and a level-2 table for a block mapping, then a page
    // mapping in another 1 GiB region needs two more tables and fails after
    // allocating one.
    let mut mem = FakeMemory::new(3);
    let mut table = Stage2Table::new(&mut mem, config_40()).unwrap();
    map(&mut table, &mut mem, 0x4000_0000, 0x4000_0000, 2 * MIB).unwrap();
    let before = leaves(&mem, &table);
    assert_eq!(map(&mut table, &mut mem, 0x8000_1000, 0x8000_1000, 3 * PAGE), Err(Stage2Error::OutOfTableMemory));
    assert_eq!(mem.allocations(), 3, "every page used");
    assert_eq!(leaves(&mem, &table), before, "the mappings are unchanged");
    assert_eq!(table.translate(&mem, GuestPhysAddr(0x8000_1000)), None);

    // More pages: the same request succeeds, reusing the table linked before.
    mem.refill(1);
    map(&mut table, &mut mem, 0x8000_1000, 0x8000_1000, 3 * PAGE).unwrap();
    assert_eq!(mem.allocations(), 4);
    assert_eq!(leaves(&mem, &table).len(), 4);
    assert_eq!(Stage2Error::OutOfTableMemory.to_string(), "no page left for a stage-2 translation table");
}

#[test]
fn unusable_table_pages_are_refused() {
    let mut misaligned = FakeMemory::at(0x1000_0800, 4);
    assert_eq!(Stage2Table::new(&mut misaligned, config_40()), Err(Stage2Error::InvalidTablePage { page: PhysAddr(0x1000_0800) }));
    let mut too_high = FakeMemory::at(1 << 40, 4);
    let error = Stage2Table::new(&mut too_high, config_40()).unwrap_err();
    assert_eq!(error, Stage2Error::InvalidTablePage { page: PhysAddr(1 << 40) });
    assert_eq!(error.to_string(), "table memory handed out 0x10000000000, not a usable 4 KiB table page");
}

#[test]
fn unsupported_parange_is_refused() {
    assert_eq!(Stage2Config::for_parange(7), Err(Stage2Error::UnsupportedPaRange { parange: 7 }));
}
