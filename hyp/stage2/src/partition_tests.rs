//! Unit tests of the isolation rule: one owner per physical page, table pages out of every guest's reach.

use janus_platform::{GuestPhysAddr, PhysAddr, PhysRange};

use crate::testing::{FakeMemory, MIB, PAGE, TABLE_POOL_BASE};
use crate::{MemoryKind, PartitionMap, Stage2Config, Stage2Error};

const PERSONAL: usize = 0;
const WORK: usize = 1;

fn setup() -> (FakeMemory, PartitionMap<2>) {
    let mut mem = FakeMemory::new(64);
    let map = PartitionMap::new(&mut mem, Stage2Config::for_parange(2).unwrap()).unwrap();
    (mem, map)
}

fn ram(map: &mut PartitionMap<2>, mem: &mut FakeMemory, owner: usize, ipa: u64, pa: u64, size: u64) -> Result<(), Stage2Error> {
    map.map(owner, mem, GuestPhysAddr(ipa), PhysAddr(pa), size, MemoryKind::Normal)
}

#[test]
fn each_personality_gets_its_own_table() {
    let (mut mem, mut map) = setup();
    assert_eq!(map.owners(), 2);
    assert_eq!(mem.allocations(), 2, "one root each");
    assert_ne!(map.table(PERSONAL).unwrap().root(), map.table(WORK).unwrap().root());
    assert!(map.table(2).is_none());
    // Same guest layout, different physical memory.
    ram(&mut map, &mut mem, PERSONAL, 0x4000_0000, 0x4000_0000, 64 * MIB).unwrap();
    ram(&mut map, &mut mem, WORK, 0x4000_0000, 0x8000_0000, 64 * MIB).unwrap();
    assert_eq!(map.translate(PERSONAL, &mem, GuestPhysAddr(0x4000_1000)), Some((PhysAddr(0x4000_1000), MemoryKind::Normal)));
    assert_eq!(map.translate(WORK, &mem, GuestPhysAddr(0x4000_1000)), Some((PhysAddr(0x8000_1000), MemoryKind::Normal)));
    assert_eq!(map.owner_of(PhysAddr(0x43ff_ffff)), Some(PERSONAL));
    assert_eq!(map.owner_of(PhysAddr(0x8000_0000)), Some(WORK));
    assert_eq!(map.owner_of(PhysAddr(0x4400_0000)), None);
    assert_eq!(map.ranges().len(), 2);
    assert_eq!(map.ranges()[1].physical, PhysRange::new(0x8000_0000, 64 * MIB));
}

#[test]
fn physical_memory_of_another_personality_is_refused() {
    let (mut mem, mut map) = setup();
    ram(&mut map, &mut mem, PERSONAL, 0x4000_0000, 0x4000_0000, 64 * MIB).unwrap();
    let before = mem.clone();
    // One page overlapping the last page, at an unrelated guest address.
    let error = ram(&mut map, &mut mem, WORK, 0x1000_0000, 0x43ff_f000, 2 * PAGE).unwrap_err();
    assert_eq!(
        error,
        Stage2Error::PhysicalOwnedByOther {
            owner: PERSONAL,
            requested_by: WORK,
            requested: PhysRange::new(0x43ff_f000, 2 * PAGE),
            owned: PhysRange::new(0x4000_0000, 64 * MIB),
        }
    );
    assert_eq!(mem, before, "tables unchanged");
    assert_eq!(map.ranges().len(), 1);
    assert_eq!(
        error.to_string(),
        "physical range 0x43fff000..0x44001000 for personality 1 overlaps 0x40000000..0x44000000, \
         already mapped for personality 0"
    );
}

#[test]
fn shared_device_pages_are_refused_too() {
    let (mut mem, mut map) = setup();
    let uart = 0x0900_0000;
    map.map(PERSONAL, &mut mem, GuestPhysAddr(uart), PhysAddr(uart), PAGE, MemoryKind::Device).unwrap();
    let result = map.map(WORK, &mut mem, GuestPhysAddr(uart), PhysAddr(uart), PAGE, MemoryKind::Device);
    assert!(matches!(result, Err(Stage2Error::PhysicalOwnedByOther { owner: PERSONAL, requested_by: WORK, .. })));
}

#[test]
fn one_personality_may_alias_its_own_memory() {
    let (mut mem, mut map) = setup();
    ram(&mut map, &mut mem, WORK, 0x4000_0000, 0x8000_0000, 2 * MIB).unwrap();
    ram(&mut map, &mut mem, WORK, 0x5000_0000, 0x8000_0000, PAGE).unwrap();
    assert_eq!(map.translate(WORK, &mem, GuestPhysAddr(0x5000_0000)), Some((PhysAddr(0x8000_0000), MemoryKind::Normal)));
    // But never over its own guest mappings.
    assert!(matches!(ram(&mut map, &mut mem, WORK, 0x4000_0000, 0x9000_0000, PAGE), Err(Stage2Error::AlreadyMapped { .. })));
    assert_eq!(map.ranges().len(), 2, "refused mappings are not recorded");
}

#[test]
fn unknown_owner_is_refused() {
    let (mut mem, mut map) = setup();
    let error = ram(&mut map, &mut mem, 2, 0x4000_0000, 0x4000_0000, PAGE).unwrap_err();
    assert_eq!(error, Stage2Error::UnknownOwner { owner: 2, owners: 2 });
    assert_eq!(error.to_string(), "personality 2 does not exist (there are 2)");
    assert_eq!(map.translate(2, &mem, GuestPhysAddr(0x4000_0000)), None);
}

#[test]
fn range_capacity_is_enforced_before_mapping() {
    let mut mem = FakeMemory::new(64);
    let mut map: PartitionMap<2, 3> = PartitionMap::new(&mut mem, Stage2Config::for_parange(2).unwrap()).unwrap();
    for index in 0..3 {
        let address = 0x4000_0000 + index * PAGE;
        map.map(index as usize % 2, &mut mem, GuestPhysAddr(address), PhysAddr(address), PAGE, MemoryKind::Normal).unwrap();
    }
    let before = mem.clone();
    let result = map.map(PERSONAL, &mut mem, GuestPhysAddr(0x5000_0000), PhysAddr(0x5000_0000), PAGE, MemoryKind::Normal);
    assert_eq!(result, Err(Stage2Error::RangeCapacityExceeded { capacity: 3 }));
    assert_eq!(mem, before, "nothing mapped that could not be recorded");
    assert_eq!(Stage2Error::RangeCapacityExceeded { capacity: 3 }.to_string(), "all 3 owned-range slots are in use");
}

#[test]
fn table_pages_cannot_be_mapped_into_a_guest() {
    let (mut mem, mut map) = setup();
    let root = map.table(WORK).unwrap().root();
    let before = mem.clone();
    let error = ram(&mut map, &mut mem, PERSONAL, 0x4000_0000, TABLE_POOL_BASE, 2 * MIB).unwrap_err();
    assert_eq!(error, Stage2Error::TablePageConflict { page: PhysAddr(TABLE_POOL_BASE), range: PhysRange::new(TABLE_POOL_BASE, 2 * MIB) });
    assert_eq!(mem, before);
    assert!(TABLE_POOL_BASE <= root.0 && root.0 < TABLE_POOL_BASE + 2 * MIB);
    assert_eq!(error.to_string(), "stage-2 table page 0xf0000000 lies inside guest-mapped physical range 0xf0000000..0xf0200000");
}

#[test]
fn table_memory_inside_guest_memory_is_refused() {
    // A misconfigured pool at 0x8000_0000: roots at 0x8000_0000 and
    // 0x8000_1000, later pages follow.
    let mut mem = FakeMemory::at(0x8000_0000, 64);
    let mut map: PartitionMap<2> = PartitionMap::new(&mut mem, Stage2Config::for_parange(2).unwrap()).unwrap();

    // A new table page inside the range being mapped: level 2 gets
    // 0x8000_2000, level 3 would get 0x8000_3000.
    let requested = PhysRange::new(0x8000_3000, PAGE);
    let error = ram(&mut map, &mut mem, PERSONAL, 0x4000_0000, requested.start.0, PAGE).unwrap_err();
    assert_eq!(error, Stage2Error::TablePageConflict { page: PhysAddr(0x8000_3000), range: requested });
    assert_eq!(map.translate(PERSONAL, &mem, GuestPhysAddr(0x4000_0000)), None);
    assert!(map.ranges().is_empty());

    // A new table page inside memory another personality owns: personality
    // 0 owns 0x8000_5000 (its level 3 table took 0x8000_4000), then the
    // work level-2 table would get 0x8000_5000.
    ram(&mut map, &mut mem, PERSONAL, 0x4000_0000, 0x8000_5000, PAGE).unwrap();
    let error = ram(&mut map, &mut mem, WORK, 0x4000_0000, 0x9000_0000, PAGE).unwrap_err();
    assert_eq!(error, Stage2Error::TablePageConflict { page: PhysAddr(0x8000_5000), range: PhysRange::new(0x8000_5000, PAGE) });
    assert_eq!(map.translate(WORK, &mem, GuestPhysAddr(0x4000_0000)), None);
    assert_eq!(map.ranges().len(), 1);
}

const GICV: u64 = 0x0804_0000;
const GICC_IPA: u64 = 0x0801_0000;

fn banked(map: &mut PartitionMap<2>, mem: &mut FakeMemory, owner: usize, pa: u64, size: u64) -> Result<(), Stage2Error> {
    map.map_banked_device(owner, mem, GuestPhysAddr(GICC_IPA), PhysAddr(pa), size)
}

#[test]
fn a_banked_frame_may_be_mapped_for_every_personality() {
    let (mut mem, mut map) = setup();
    banked(&mut map, &mut mem, PERSONAL, GICV, 0x2000).unwrap();
    banked(&mut map, &mut mem, WORK, GICV, 0x2000).unwrap();
    for owner in [PERSONAL, WORK] {
        let (pa, kind) = map.translate(owner, &mem, GuestPhysAddr(GICC_IPA + 0x1000)).unwrap();
        assert_eq!(pa, PhysAddr(GICV + 0x1000));
        assert_eq!(kind, MemoryKind::Device);
    }
}

#[test]
fn a_banked_frame_must_be_identical_and_overlap_nothing_else() {
    let (mut mem, mut map) = setup();
    banked(&mut map, &mut mem, PERSONAL, GICV, 0x2000).unwrap();
    // A different span of the same frame is not the banked frame.
    let error = banked(&mut map, &mut mem, WORK, GICV, 0x1000).unwrap_err();
    assert!(matches!(error, Stage2Error::PhysicalOwnedByOther { owner: PERSONAL, .. }), "{error:?}");
    // Normal or device mappings over a banked frame are refused, even for its owner.
    let error = map.map(PERSONAL, &mut mem, GuestPhysAddr(0x0900_0000), PhysAddr(GICV), 0x1000, MemoryKind::Device).unwrap_err();
    assert!(matches!(error, Stage2Error::PhysicalOwnedByOther { .. }), "{error:?}");
    // And a banked mapping over another personality's RAM is refused.
    ram(&mut map, &mut mem, WORK, 0x4000_0000, 0x4000_0000, 2 * MIB).unwrap();
    let error = map.map_banked_device(PERSONAL, &mut mem, GuestPhysAddr(0x0802_0000), PhysAddr(0x4000_0000), 0x1000).unwrap_err();
    assert!(matches!(error, Stage2Error::PhysicalOwnedByOther { owner: WORK, .. }), "{error:?}");
    // The same owner cannot map the banked frame twice.
    let error = map.map_banked_device(PERSONAL, &mut mem, GuestPhysAddr(0x0803_0000), PhysAddr(GICV), 0x2000).unwrap_err();
    assert!(matches!(error, Stage2Error::PhysicalOwnedByOther { .. }), "{error:?}");
}
