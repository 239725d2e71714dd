//! Property tests: read_layout never panics on arbitrary sectors, and whatever it accepts is a sound layout.

use gpt_disk_types::{GptPartitionEntry, GptPartitionType, LbaLe};
use proptest::prelude::*;

use super::{GptBuilder, LINUX_DATA, MemoryDisk, SMALL_DISK, entry};
use crate::{Layout, MIN_DISK_SECTORS, PartitionKind};

/// What any accepted layout satisfies.
fn assert_sound(layout: &Layout) {
    let partitions = layout.partitions();
    for (index, (kind, partition)) in partitions.iter().enumerate() {
        assert!(partition.sectors >= kind.minimum_sectors(), "{kind} too small");
        assert!(partition.first_lba >= 2, "{kind} covers the MBR or primary header");
        assert!(partition.end_lba().unwrap() < layout.disk_sectors, "{kind} reaches the backup header");
        for (other_kind, other) in partitions.iter().skip(index + 1) {
            assert!(!partition.overlaps(other), "{kind} overlaps {other_kind}");
        }
    }
}

/// A sector LBA: near the start, near the end, or anywhere.
fn sector_lba(disk_sectors: u64) -> impl Strategy<Value = u64> {
    prop_oneof![0..40u64, (1..40u64).prop_map(move |back| disk_sectors.saturating_sub(back)), any::<u64>()]
}

fn sparse_disk() -> impl Strategy<Value = MemoryDisk> {
    prop_oneof![Just(SMALL_DISK), MIN_DISK_SECTORS..SMALL_DISK * 2, any::<u64>()].prop_flat_map(|disk_sectors| {
        proptest::collection::vec((sector_lba(disk_sectors), proptest::array::uniform32(any::<[u8; 16]>())), 0..6).prop_map(move |sectors| {
            let mut disk = MemoryDisk::new(disk_sectors);
            for (lba, chunks) in sectors {
                let sector = disk.sector_mut(lba);
                for (target, chunk) in sector.chunks_mut(16).zip(chunks) {
                    target.copy_from_slice(&chunk);
                }
            }
            disk
        })
    })
}

fn type_guid() -> impl Strategy<Value = GptPartitionType> {
    prop_oneof![proptest::sample::select(PartitionKind::ALL.to_vec()).prop_map(PartitionKind::type_guid), Just(LINUX_DATA), Just(GptPartitionType::UNUSED),]
}

fn name() -> impl Strategy<Value = &'static str> {
    proptest::sample::select(vec!["janus-meta", "personal", "work", "shared", "root", "", "work "])
}

/// An LBA that is often near a meaningful boundary of the small disk.
fn boundary_lba() -> impl Strategy<Value = u64> {
    prop_oneof![
        0..64u64,
        (0..8u64, -3i64..=3).prop_map(|(step, delta)| (2048 + step * 16384).saturating_add_signed(delta)),
        (0..64u64).prop_map(|back| SMALL_DISK - back),
        any::<u64>(),
    ]
}

fn gpt_entry() -> impl Strategy<Value = GptPartitionEntry> {
    (type_guid(), name(), boundary_lba(), boundary_lba()).prop_map(|(type_guid, name, first, last)| entry(type_guid, name, first, last))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_sectors_never_panic(disk in sparse_disk()) {
        if let Ok(layout) = disk.layout() {
            assert_sound(&layout);
        }
    }

    #[test]
    fn arbitrary_valid_tables_give_sound_layouts(
        entries in proptest::collection::vec(gpt_entry(), 0..10),
        janus_first in any::<bool>(),
    ) {
        let mut all = if janus_first { GptBuilder::janus().entries } else { Vec::new() };
        all.extend(entries);
        all.truncate(128);
        let disk = GptBuilder::new(all).build();
        if let Ok(layout) = disk.layout() {
            assert_sound(&layout);
        }
    }

    #[test]
    fn damaged_janus_tables_never_panic(
        flips in proptest::collection::vec((prop_oneof![0..40u64, (SMALL_DISK - 40)..SMALL_DISK], 0..512usize, 1..=255u8), 1..6),
        first_usable in prop_oneof![Just(None), any::<u64>().prop_map(Some)],
    ) {
        let builder = GptBuilder::janus().edit_primary(move |header| {
            if let Some(first_usable) = first_usable {
                header.first_usable_lba = LbaLe::from_u64(first_usable);
            }
        });
        let mut disk = builder.build();
        for (lba, offset, mask) in flips {
            disk.sector_mut(lba)[offset] ^= mask;
        }
        if let Ok(layout) = disk.layout() {
            assert_sound(&layout);
        }
    }
}
