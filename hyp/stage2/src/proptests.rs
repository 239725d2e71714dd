//! Property tests: the table against a reference model, and the isolation rule across random owners.

use janus_platform::{GuestPhysAddr, PhysAddr};
use proptest::prelude::*;

use crate::testing::{FakeMemory, GIB, MIB, PAGE, leaves, merged};
use crate::{MemoryKind, PartitionMap, Stage2Config, Stage2Error, Stage2Table};

/// One requested mapping.
#[derive(Clone, Copy, Debug)]
struct Mapping {
    ipa: u64,
    pa: u64,
    size: u64,
    kind: MemoryKind,
}

impl Mapping {
    fn ipa_overlaps(&self, other: &Mapping) -> bool {
        self.ipa < other.ipa + other.size && other.ipa < self.ipa + self.size
    }

    fn pa_overlaps(&self, other: &Mapping) -> bool {
        self.pa < other.pa + other.size && other.pa < self.pa + self.size
    }
}

/// An address below `gibibytes` GiB, 2 MiB or 4 KiB aligned about half the
/// time each, so blocks and pages both get used.
fn address(gibibytes: u64) -> impl Strategy<Value = u64> {
    (0..gibibytes, prop_oneof![Just(0u64), 0..512u64], prop_oneof![Just(0u64), 0..512u64])
        .prop_map(|(gib, block, page)| gib * GIB + block * 2 * MIB + page * PAGE)
}

fn kind() -> impl Strategy<Value = MemoryKind> {
    prop_oneof![Just(MemoryKind::Normal), Just(MemoryKind::Device)]
}

/// Small mappings anywhere, plus whole aligned GiBs.
fn mapping() -> impl Strategy<Value = Mapping> {
    let size = prop_oneof![(1..64u64).prop_map(|pages| pages * PAGE), (1..4u64, 0..4u64).prop_map(|(blocks, pages)| blocks * 2 * MIB + pages * PAGE),];
    prop_oneof![
        4 => (address(4), address(8), size, kind()).prop_map(|(ipa, pa, size, kind)| Mapping { ipa, pa, size, kind }),
        1 => (0..4u64, 0..8u64, kind()).prop_map(|(ipa, pa, kind)| Mapping { ipa: ipa * GIB, pa: pa * GIB, size: GIB, kind }),
    ]
}

/// What the reference model says `ipa` translates to.
fn model_translate(accepted: &[Mapping], ipa: u64) -> Option<(PhysAddr, MemoryKind)> {
    accepted
        .iter()
        .find(|mapping| mapping.ipa <= ipa && ipa < mapping.ipa + mapping.size)
        .map(|mapping| (PhysAddr(mapping.pa + (ipa - mapping.ipa)), mapping.kind))
}

proptest! {
    #[test]
    fn translate_agrees_with_a_reference_model(
        parange in prop_oneof![Just(0u8), Just(2u8), Just(5u8)],
        candidates in proptest::collection::vec(mapping(), 1..12),
        random_probes in proptest::collection::vec(0..5 * GIB, 64),
    ) {
        let config = Stage2Config::for_parange(parange).unwrap();
        let mut mem = FakeMemory::new(4096);
        let mut table = Stage2Table::new(&mut mem, config).unwrap();
        let mut accepted: Vec<Mapping> = Vec::new();
        for candidate in &candidates {
            let expected = if candidate.ipa + candidate.size > config.ipa_limit() {
                Some("ipa")
            } else if candidate.pa + candidate.size > config.pa_limit() {
                Some("pa")
            } else if accepted.iter().any(|mapping| mapping.ipa_overlaps(candidate)) {
                Some("overlap")
            } else {
                None
            };
            let before = mem.clone();
            let result = table.map(
                &mut mem, GuestPhysAddr(candidate.ipa), PhysAddr(candidate.pa), candidate.size, candidate.kind,
            );
            match (expected, result) {
                (None, Ok(())) => accepted.push(*candidate),
                (Some("ipa"), Err(Stage2Error::IpaOutOfRange { .. }))
                | (Some("pa"), Err(Stage2Error::PaOutOfRange { .. })) => prop_assert_eq!(&mem, &before),
                (Some("overlap"), Err(Stage2Error::AlreadyMapped { conflict, .. })) => {
                    // The lowest mapped address inside the requested range.
                    let lowest = accepted
                        .iter()
                        .filter(|mapping| mapping.ipa_overlaps(candidate))
                        .map(|mapping| mapping.ipa.max(candidate.ipa))
                        .min();
                    prop_assert_eq!(Some(conflict.0), lowest);
                    prop_assert_eq!(&mem, &before, "refused mapping changed the tables");
                }
                (expected, result) => prop_assert!(false, "{candidate:x?}: expected {expected:?}, got {result:?}"),
            }
        }

        // Probe random addresses and the edges of every mapping.
        let mut probes = random_probes;
        for mapping in &accepted {
            let end = mapping.ipa + mapping.size;
            probes.extend([mapping.ipa, end - 1, end, mapping.ipa.wrapping_sub(1)]);
        }
        for probe in probes {
            prop_assert_eq!(
                table.translate(&mem, GuestPhysAddr(probe)),
                model_translate(&accepted, probe),
                "probe {:#x}", probe
            );
        }

        // The leaves are exactly the accepted mappings, nothing more.
        accepted.sort_by_key(|mapping| mapping.ipa);
        let model: Vec<_> = accepted
            .iter()
            .map(|mapping| crate::testing::Leaf {
                ipa: mapping.ipa, pa: mapping.pa, size: mapping.size, kind: mapping.kind, level: 3,
            })
            .collect();
        prop_assert_eq!(merged(&leaves(&mem, &table)), merged(&model));
    }
}

/// A RAM range for some owner, mapped identity (guest address = physical).
#[derive(Clone, Copy, Debug)]
struct Attempt {
    owner: usize,
    start: u64,
    size: u64,
}

fn attempt(owners: usize) -> impl Strategy<Value = Attempt> {
    let start = (0..32u64, prop_oneof![Just(0u64), 0..512u64]).prop_map(|(block, page)| GIB + block * 2 * MIB + page * PAGE);
    let size = prop_oneof![(1..256u64).prop_map(|pages| pages * PAGE), (1..3u64).prop_map(|blocks| blocks * 2 * MIB),];
    (0..owners, start, size).prop_map(|(owner, start, size)| Attempt { owner, start, size })
}

/// An attack on an accepted range: another owner maps part of it elsewhere.
#[derive(Clone, Copy, Debug)]
struct Intrusion {
    victim: usize,
    other: usize,
    offset_pages: u64,
    size_pages: u64,
    guest_page: u64,
}

fn intrusion() -> impl Strategy<Value = Intrusion> {
    (any::<usize>(), any::<usize>(), 0..1024u64, 1..600u64, 0..4096u64).prop_map(|(victim, other, offset_pages, size_pages, guest_page)| Intrusion {
        victim,
        other,
        offset_pages,
        size_pages,
        guest_page,
    })
}

/// Builds a partition from `attempts` against a model, then checks every
/// leaf of every table and tries `intrusions`.
fn check_isolation<const OWNERS: usize>(attempts: &[Attempt], intrusions: &[Intrusion]) -> Result<(), TestCaseError> {
    let mut mem = FakeMemory::new(4096);
    let mut map: PartitionMap<OWNERS> = PartitionMap::new(&mut mem, Stage2Config::for_parange(2).unwrap()).unwrap();
    let mut accepted: Vec<(usize, Mapping)> = Vec::new();
    for attempt in attempts {
        let request = Mapping { ipa: attempt.start, pa: attempt.start, size: attempt.size, kind: MemoryKind::Normal };
        let before = mem.clone();
        let result = map.map(attempt.owner, &mut mem, GuestPhysAddr(attempt.start), PhysAddr(attempt.start), attempt.size, MemoryKind::Normal);
        let other_owner = accepted.iter().find(|(owner, mapping)| *owner != attempt.owner && mapping.pa_overlaps(&request)).map(|(owner, _)| *owner);
        let own_overlap = accepted.iter().any(|(owner, mapping)| *owner == attempt.owner && mapping.ipa_overlaps(&request));
        match (other_owner, result) {
            (Some(expected), Err(Stage2Error::PhysicalOwnedByOther { owner, requested_by, .. })) => {
                prop_assert_eq!((owner, requested_by), (expected, attempt.owner));
            }
            (None, Err(Stage2Error::RangeCapacityExceeded { .. })) => {
                prop_assert_eq!(accepted.len(), crate::DEFAULT_RANGE_CAPACITY);
            }
            (None, Err(Stage2Error::AlreadyMapped { .. })) => prop_assert!(own_overlap),
            (None, Ok(())) => {
                prop_assert!(!own_overlap);
                accepted.push((attempt.owner, request));
                continue;
            }
            (expected, result) => prop_assert!(false, "{attempt:x?}: expected owner {expected:?}, got {result:?}"),
        }
        prop_assert_eq!(&mem, &before, "refused mapping changed the tables");
        prop_assert_eq!(map.ranges().len(), accepted.len());
    }

    // Walk every leaf entry of every table: no physical byte under two owners.
    let mut intervals: Vec<(u64, u64, usize)> = Vec::new();
    for owner in 0..OWNERS {
        let table = map.table(owner).unwrap();
        let found = leaves(&mem, table);
        for leaf in &found {
            prop_assert_eq!(leaf.ipa, leaf.pa, "identity mapping");
            intervals.push((leaf.pa, leaf.pa + leaf.size, owner));
        }
        let mut model: Vec<_> = accepted
            .iter()
            .filter(|(mapping_owner, _)| *mapping_owner == owner)
            .map(|(_, mapping)| crate::testing::Leaf { ipa: mapping.ipa, pa: mapping.pa, size: mapping.size, kind: mapping.kind, level: 3 })
            .collect();
        model.sort_by_key(|leaf| leaf.ipa);
        prop_assert_eq!(merged(&found), merged(&model), "owner {}", owner);
    }
    intervals.sort();
    for pair in intervals.windows(2) {
        let ((_, first_end, first_owner), (second_start, _, second_owner)) = (pair[0], pair[1]);
        prop_assert!(first_end <= second_start, "physical {:#x} mapped for owners {} and {}", second_start, first_owner, second_owner);
    }

    // Other owners reaching into accepted memory always fail, changing nothing.
    if accepted.is_empty() {
        return Ok(());
    }
    for intrusion in intrusions {
        let (victim, target) = accepted[intrusion.victim % accepted.len()];
        let other = (victim + 1 + intrusion.other % (OWNERS - 1)) % OWNERS;
        let pa = target.pa + (intrusion.offset_pages * PAGE) % target.size;
        let ipa = 3 * GIB + intrusion.guest_page * PAGE;
        let before = mem.clone();
        let result = map.map(other, &mut mem, GuestPhysAddr(ipa), PhysAddr(pa), intrusion.size_pages * PAGE, MemoryKind::Device);
        prop_assert!(
            matches!(result, Err(Stage2Error::PhysicalOwnedByOther { requested_by, .. }) if requested_by == other),
            "{:x?} by owner {} gave {:?}",
            intrusion,
            other,
            result
        );
        prop_assert_eq!(&mem, &before, "refused intrusion changed the tables");
        prop_assert_eq!(map.translate(other, &mem, GuestPhysAddr(ipa)), None);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn two_owners_never_share_a_physical_page(
        attempts in proptest::collection::vec(attempt(2), 1..40),
        intrusions in proptest::collection::vec(intrusion(), 8),
    ) {
        check_isolation::<2>(&attempts, &intrusions)?;
    }

    #[test]
    fn three_owners_never_share_a_physical_page(
        attempts in proptest::collection::vec(attempt(3), 1..40),
        intrusions in proptest::collection::vec(intrusion(), 8),
    ) {
        check_isolation::<3>(&attempts, &intrusions)?;
    }
}
