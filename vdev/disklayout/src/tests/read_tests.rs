//! `read_layout` on in-memory disks: the Janus layout, every LayoutError and HeaderProblem, and the fallback to the backup header.

use gpt_disk_types::{GptHeaderRevision, GptHeaderSignature, GptPartitionType, LbaLe, U32Le, U64Le};

use super::{FIRST_LBA, GptBuilder, LINUX_DATA, MemoryDisk, SMALL_DATA, SMALL_DISK, SMALL_META, entry, janus, janus_entries, mbr_only_sector};
use crate::{ForeignTable, HeaderProblem, LayoutError, MIN_DISK_SECTORS, Partition, PartitionKind, read_layout};

fn damage(disk: &mut MemoryDisk, lba: u64, offset: usize) {
    disk.sector_mut(lba)[offset] ^= 0x5a;
}

#[test]
fn janus_layout_is_read() {
    let layout = GptBuilder::janus().build().layout().unwrap();
    assert_eq!(layout.meta, Partition { first_lba: 2048, sectors: SMALL_META });
    assert_eq!(layout.personal, Partition { first_lba: 4096, sectors: SMALL_DATA });
    assert_eq!(layout.work, Partition { first_lba: 4096 + SMALL_DATA, sectors: SMALL_DATA });
    assert_eq!(layout.shared, Partition { first_lba: 4096 + 2 * SMALL_DATA, sectors: SMALL_DATA });
    assert_eq!(layout.disk_sectors, SMALL_DISK);
    assert!(!layout.used_backup_header);
    assert_eq!(layout.other_header_problem, None);
    assert!(layout.headers_intact());
    assert_eq!(layout.partition(PartitionKind::Work), layout.work);
    assert_eq!(layout.partitions().map(|(kind, _)| kind), PartitionKind::ALL);
}

#[test]
fn partitions_in_any_entry_order_and_extra_partitions_are_accepted() {
    let mut entries = janus_entries();
    entries.reverse();
    // A foreign partition (an ESP, say) beside the Janus ones.
    entries.insert(2, entry(GptPartitionType::EFI_SYSTEM, "esp", 40, 2047));
    let layout = GptBuilder::new(entries).build().layout().unwrap();
    assert_eq!(layout.meta.first_lba, FIRST_LBA);
}

#[test]
fn partition_helpers() {
    let partition = Partition { first_lba: 2048, sectors: 100 };
    assert_eq!(partition.byte_offset(), Some(2048 * 512));
    assert_eq!(partition.byte_length(), Some(100 * 512));
    assert_eq!(partition.end_lba(), Some(2148));
    assert_eq!(partition.last_lba(), Some(2147));
    assert!(partition.contains(2048) && partition.contains(2147));
    assert!(!partition.contains(2047) && !partition.contains(2148));
    assert!(partition.contains_relative(0, 100) && partition.contains_relative(99, 1));
    assert!(!partition.contains_relative(99, 2) && !partition.contains_relative(u64::MAX, 2));
    assert_eq!(partition.disk_lba(5), Some(2053));
    assert_eq!(partition.disk_lba(100), None);
    assert!(partition.overlaps(&Partition { first_lba: 2147, sectors: 1 }));
    assert!(!partition.overlaps(&Partition { first_lba: 2148, sectors: 10 }));
    assert!(!partition.overlaps(&Partition { first_lba: 2100, sectors: 0 }));
    let huge = Partition { first_lba: u64::MAX, sectors: 2 };
    assert_eq!(huge.end_lba(), None);
    assert_eq!(huge.byte_offset(), None);
    assert!(huge.contains(u64::MAX));
}

#[test]
fn kinds_have_distinct_guids_names_and_minimums() {
    for kind in PartitionKind::ALL {
        assert_eq!(PartitionKind::from_type_guid(kind.type_guid()), Some(kind));
        assert_eq!(kind.type_guid().0.version(), 4, "{kind}: random GUIDs are version 4");
        assert_eq!(kind.to_string(), kind.name());
    }
    assert_eq!(PartitionKind::Meta.minimum_sectors(), 2048);
    assert_eq!(PartitionKind::Shared.minimum_sectors(), 32768);
    assert_eq!(PartitionKind::from_type_guid(LINUX_DATA), None);
}

// --- One test per LayoutError variant ---------------------------------------

#[test]
fn read_failure_names_the_sector() {
    let disk = GptBuilder::janus().build();
    let error = read_layout(disk.disk_sectors, |lba, buffer: &mut [u8; 512]| {
        if lba == 2 {
            return Err("bad sector");
        }
        *buffer = disk.sector(lba);
        Ok(())
    })
    .unwrap_err();
    assert_eq!(error, LayoutError::ReadFailed { lba: 2 });
}

#[test]
fn disk_smaller_than_the_smallest_janus_disk() {
    let disk = GptBuilder::janus().build();
    assert_eq!(disk.layout_as(MIN_DISK_SECTORS - 1).unwrap_err(), LayoutError::DiskTooSmall { sectors: MIN_DISK_SECTORS - 1, minimum: MIN_DISK_SECTORS });
    assert!(matches!(disk.layout_as(0), Err(LayoutError::DiskTooSmall { .. })));
}

#[test]
fn all_zero_disk_has_no_protective_mbr() {
    let disk = MemoryDisk::new(SMALL_DISK);
    assert_eq!(disk.layout().unwrap_err(), LayoutError::NoProtectiveMbr);
}

#[test]
fn mbr_only_disk_is_foreign() {
    let mut disk = MemoryDisk::new(SMALL_DISK);
    *disk.sector_mut(0) = mbr_only_sector(SMALL_DISK);
    let error = disk.layout().unwrap_err();
    assert_eq!(error, LayoutError::ForeignPartitionTable { table: ForeignTable::Mbr });
    assert!(error.is_foreign());
}

#[test]
fn gpt_without_janus_types_is_foreign_even_with_janus_names() {
    let entries = vec![
        entry(LINUX_DATA, "root", 2048, 40000),
        // Somebody else's "work" partition does not make the disk Janus'.
        entry(LINUX_DATA, "work", 40001, 90000),
    ];
    let error = GptBuilder::new(entries).build().layout().unwrap_err();
    assert_eq!(error, LayoutError::ForeignPartitionTable { table: ForeignTable::Gpt });
    assert!(error.is_foreign());
}

#[test]
fn both_headers_damaged() {
    let mut disk = GptBuilder::janus().build();
    damage(&mut disk, 1, 40);
    disk.sectors.remove(&(SMALL_DISK - 1));
    assert_eq!(disk.layout().unwrap_err(), LayoutError::BadHeaders { primary: HeaderProblem::HeaderChecksum, backup: HeaderProblem::BadSignature });
}

#[test]
fn missing_partition() {
    let entries: Vec<_> = janus_entries()
        .into_iter()
        .filter(|built| {
            let type_guid = built.partition_type_guid;
            type_guid != PartitionKind::Work.type_guid()
        })
        .collect();
    let error = GptBuilder::new(entries).build().layout().unwrap_err();
    assert_eq!(error, LayoutError::MissingPartition { kind: PartitionKind::Work });
    assert!(!error.is_foreign());
}

#[test]
fn duplicate_partition() {
    let mut entries = janus_entries();
    entries.push(janus(PartitionKind::Shared, 40, 100));
    let error = GptBuilder::new(entries).build().layout().unwrap_err();
    assert_eq!(error, LayoutError::DuplicatePartition { kind: PartitionKind::Shared });
}

#[test]
fn janus_name_with_another_type() {
    let mut entries = janus_entries();
    let work = entries[2];
    entries[2] = entry(LINUX_DATA, "work", work.starting_lba.to_u64(), work.ending_lba.to_u64());
    let error = GptBuilder::new(entries).build().layout().unwrap_err();
    assert_eq!(error, LayoutError::WrongPartitionType { kind: PartitionKind::Work, found: LINUX_DATA.0 });
}

#[test]
fn swapped_types_are_a_wrong_type() {
    let mut entries = janus_entries();
    entries[1].partition_type_guid = PartitionKind::Work.type_guid();
    entries[2].partition_type_guid = PartitionKind::Personal.type_guid();
    assert!(matches!(GptBuilder::new(entries).build().layout().unwrap_err(), LayoutError::WrongPartitionName { kind: PartitionKind::Work, .. }));
}

#[test]
fn janus_type_with_another_name() {
    let mut entries = janus_entries();
    entries[3].name = "scratch".parse().unwrap();
    let error = GptBuilder::new(entries).build().layout().unwrap_err();
    assert_eq!(error, LayoutError::WrongPartitionName { kind: PartitionKind::Shared, found: "scratch".parse().unwrap() });
    assert!(error.to_string().contains("\"scratch\""), "{error}");
}

#[test]
fn partition_ending_before_it_starts() {
    let mut entries = janus_entries();
    entries[0].ending_lba = LbaLe::from_u64(FIRST_LBA - 1);
    assert_eq!(
        GptBuilder::new(entries).build().layout().unwrap_err(),
        LayoutError::EmptyPartition { kind: PartitionKind::Meta, first_lba: FIRST_LBA, last_lba: FIRST_LBA - 1 }
    );
}

#[test]
fn partition_outside_the_usable_sectors() {
    let mut entries = janus_entries();
    // Runs into the backup entry array.
    let last = entries[3].ending_lba.to_u64() + 1;
    entries[3].ending_lba = LbaLe::from_u64(last);
    assert_eq!(
        GptBuilder::new(entries).build().layout().unwrap_err(),
        LayoutError::PartitionOutsideDisk {
            kind: PartitionKind::Shared,
            first_lba: FIRST_LBA + SMALL_META + 2 * SMALL_DATA,
            last_lba: last,
            first_usable: 34,
            last_usable: SMALL_DISK - 34,
        }
    );
    // Into the primary array.
    let mut entries = janus_entries();
    entries[0].starting_lba = LbaLe::from_u64(33);
    assert!(matches!(GptBuilder::new(entries).build().layout().unwrap_err(), LayoutError::PartitionOutsideDisk { kind: PartitionKind::Meta, .. }));
}

#[test]
fn overlapping_janus_partitions() {
    let mut entries = janus_entries();
    entries[2].starting_lba = LbaLe::from_u64(entries[1].ending_lba.to_u64());
    assert_eq!(GptBuilder::new(entries).build().layout().unwrap_err(), LayoutError::Overlap { a: PartitionKind::Work, b: "personal".parse().unwrap() });
}

#[test]
fn janus_partition_overlapping_a_foreign_one() {
    let mut entries = janus_entries();
    entries.push(entry(LINUX_DATA, "intruder", SMALL_DISK - 30_000, SMALL_DISK - 20_000));
    assert_eq!(GptBuilder::new(entries).build().layout().unwrap_err(), LayoutError::Overlap { a: PartitionKind::Shared, b: "intruder".parse().unwrap() });
}

#[test]
fn too_small_partition() {
    let mut entries = janus_entries();
    entries[2].ending_lba = LbaLe::from_u64(entries[2].starting_lba.to_u64() + 999);
    assert_eq!(GptBuilder::new(entries).build().layout().unwrap_err(), LayoutError::TooSmall { kind: PartitionKind::Work, sectors: 1000, minimum: 32768 });
    let mut entries = janus_entries();
    entries[0].ending_lba = LbaLe::from_u64(FIRST_LBA + 2046);
    assert_eq!(GptBuilder::new(entries).build().layout().unwrap_err(), LayoutError::TooSmall { kind: PartitionKind::Meta, sectors: 2047, minimum: 2048 });
}

// --- Header fallback and one test per HeaderProblem -------------------------

#[test]
fn corrupt_primary_header_falls_back_to_the_backup() {
    let mut disk = GptBuilder::janus().build();
    damage(&mut disk, 1, 60);
    let layout = disk.layout().unwrap();
    assert!(layout.used_backup_header);
    assert_eq!(layout.other_header_problem, Some(HeaderProblem::HeaderChecksum));
    assert!(!layout.headers_intact());
    assert_eq!(
        layout,
        GptBuilder::janus()
            .build()
            .layout()
            .map(|mut intact| {
                intact.used_backup_header = true;
                intact.other_header_problem = Some(HeaderProblem::HeaderChecksum);
                intact
            })
            .unwrap()
    );
}

#[test]
fn corrupt_primary_entry_array_falls_back_to_the_backup() {
    let mut disk = GptBuilder::janus().build();
    damage(&mut disk, 2, 0);
    let layout = disk.layout().unwrap();
    assert!(layout.used_backup_header);
    assert_eq!(layout.other_header_problem, Some(HeaderProblem::EntryArrayChecksum));
}

#[test]
fn wiped_primary_header_falls_back_to_the_backup() {
    let mut disk = GptBuilder::janus().build();
    disk.sectors.remove(&1);
    let layout = disk.layout().unwrap();
    assert!(layout.used_backup_header);
    assert_eq!(layout.other_header_problem, Some(HeaderProblem::BadSignature));
}

#[test]
fn corrupt_backup_is_reported_but_the_primary_is_used() {
    let mut disk = GptBuilder::janus().build();
    damage(&mut disk, SMALL_DISK - 1, 30);
    let layout = disk.layout().unwrap();
    assert!(!layout.used_backup_header);
    assert_eq!(layout.other_header_problem, Some(HeaderProblem::HeaderChecksum));
}

/// The primary header's problem, with the backup removed so it is reported.
fn primary_problem(builder: GptBuilder) -> HeaderProblem {
    let mut disk = builder.build();
    disk.sectors.remove(&(disk.disk_sectors - 1));
    match disk.layout() {
        Err(LayoutError::BadHeaders { primary, backup: HeaderProblem::BadSignature }) => primary,
        other => panic!("expected BadHeaders, got {other:?}"),
    }
}

#[test]
fn header_bad_signature() {
    let builder = GptBuilder::janus().edit_primary(|header| {
        header.signature = GptHeaderSignature(U64Le::from_u64(0x1234));
    });
    assert_eq!(primary_problem(builder), HeaderProblem::BadSignature);
}

#[test]
fn header_unsupported_revision() {
    let builder = GptBuilder::janus().edit_primary(|header| {
        header.revision = GptHeaderRevision(U32Le::from_u32(0x0002_0000));
    });
    assert_eq!(primary_problem(builder), HeaderProblem::UnsupportedRevision { revision: 0x0002_0000 });
    assert_eq!(GptHeaderRevision::VERSION_1_0.0.to_u32(), 0x0001_0000, "what Janus accepts");
}

#[test]
fn header_bad_size() {
    let builder = GptBuilder::janus().edit_primary(|header| header.header_size = U32Le::from_u32(96));
    assert_eq!(primary_problem(builder), HeaderProblem::BadHeaderSize { size: 96 });
}

#[test]
fn header_checksum() {
    let mut disk = GptBuilder::janus().build();
    damage(&mut disk, 1, 24); // MyLBA, covered by the header CRC32.
    disk.sectors.remove(&(SMALL_DISK - 1));
    assert!(matches!(disk.layout(), Err(LayoutError::BadHeaders { primary: HeaderProblem::HeaderChecksum, .. })));
}

#[test]
fn header_wrong_location() {
    let builder = GptBuilder::janus().edit_primary(|header| header.my_lba = LbaLe::from_u64(5));
    assert_eq!(primary_problem(builder), HeaderProblem::WrongLocation { my_lba: 5, expected: 1 });
}

#[test]
fn header_wrong_alternate_after_the_disk_grew() {
    let disk = GptBuilder::janus().build();
    let grown = SMALL_DISK + 2048;
    assert_eq!(
        disk.layout_as(grown).unwrap_err(),
        LayoutError::BadHeaders {
            primary: HeaderProblem::WrongAlternate { alternate_lba: SMALL_DISK - 1, expected: grown - 1 },
            backup: HeaderProblem::BadSignature,
        }
    );
}

#[test]
fn header_bad_entry_size() {
    let builder = GptBuilder::janus().edit_primary(|header| {
        header.size_of_partition_entry = U32Le::from_u32(1024);
    });
    assert_eq!(primary_problem(builder), HeaderProblem::BadEntrySize { size: 1024 });
    let builder = GptBuilder::janus().edit_primary(|header| {
        header.size_of_partition_entry = U32Le::from_u32(100);
    });
    assert_eq!(primary_problem(builder), HeaderProblem::BadEntrySize { size: 100 });
}

#[test]
fn header_entry_array_too_large() {
    let builder = GptBuilder::janus().edit_primary(|header| {
        header.number_of_partition_entries = U32Le::from_u32(u32::MAX);
    });
    assert_eq!(primary_problem(builder), HeaderProblem::EntryArrayTooLarge { bytes: u64::from(u32::MAX) * 128 });
}

#[test]
fn header_bad_usable_range() {
    let builder = GptBuilder::janus().edit_primary(|header| {
        header.last_usable_lba = LbaLe::from_u64(SMALL_DISK - 1);
    });
    assert_eq!(primary_problem(builder), HeaderProblem::BadUsableRange { first: 34, last: SMALL_DISK - 1 });
    let builder = GptBuilder::janus().edit_primary(|header| header.first_usable_lba = LbaLe::from_u64(1));
    assert!(matches!(primary_problem(builder), HeaderProblem::BadUsableRange { first: 1, .. }));
    let builder = GptBuilder::janus().edit_primary(|header| {
        header.first_usable_lba = LbaLe::from_u64(5000);
        header.last_usable_lba = LbaLe::from_u64(4000);
    });
    assert!(matches!(primary_problem(builder), HeaderProblem::BadUsableRange { first: 5000, last: 4000 }));
}

#[test]
fn header_entry_array_misplaced() {
    for lba in [0, 1, 20, SMALL_DISK - 10, u64::MAX - 3] {
        let builder = GptBuilder::janus().edit_primary(move |header| {
            header.partition_entry_lba = LbaLe::from_u64(lba);
        });
        assert_eq!(primary_problem(builder), HeaderProblem::EntryArrayMisplaced { lba }, "array at {lba}");
    }
}

#[test]
fn header_entry_array_checksum() {
    let mut disk = GptBuilder::janus().build();
    damage(&mut disk, 33, 500); // The last sector of the array is covered too.
    disk.sectors.remove(&(SMALL_DISK - 1));
    assert!(matches!(disk.layout(), Err(LayoutError::BadHeaders { primary: HeaderProblem::EntryArrayChecksum, .. })));
}

#[test]
fn backup_that_disagrees_with_the_primary() {
    let builder = GptBuilder::janus().edit_backup(|header| {
        header.last_usable_lba = LbaLe::from_u64(SMALL_DISK - 40);
    });
    let layout = builder.build().layout().unwrap();
    assert!(!layout.used_backup_header);
    assert_eq!(layout.other_header_problem, Some(HeaderProblem::DisagreesWithPrimary));
}

#[test]
fn smaller_and_larger_entry_arrays_are_read() {
    let mut builder = GptBuilder::janus();
    builder.entry_count = 4;
    assert!(builder.build().layout().unwrap().headers_intact());
    let mut builder = GptBuilder::janus();
    builder.entry_count = 256;
    // 256 entries take 64 sectors at each end: the disk grows by 32.
    builder.disk_sectors += 32;
    assert!(builder.build().layout().unwrap().headers_intact());
}

#[test]
fn hybrid_mbr_with_a_protective_entry_is_accepted() {
    let mut disk = GptBuilder::janus().build();
    let sector = disk.sector_mut(0);
    // A second, classic record beside the 0xEE one.
    sector[446 + 16 + 4] = 0x0c;
    assert!(disk.layout().is_ok());
}

// --- Display ----------------------------------------------------------------

#[test]
fn every_error_displays_as_one_line() {
    let name = "x".parse().unwrap();
    let errors = [
        LayoutError::ReadFailed { lba: 7 },
        LayoutError::DiskTooSmall { sectors: 1, minimum: 2 },
        LayoutError::NoProtectiveMbr,
        LayoutError::ForeignPartitionTable { table: ForeignTable::Mbr },
        LayoutError::ForeignPartitionTable { table: ForeignTable::Gpt },
        LayoutError::BadHeaders { primary: HeaderProblem::BadSignature, backup: HeaderProblem::HeaderChecksum },
        LayoutError::MissingPartition { kind: PartitionKind::Meta },
        LayoutError::DuplicatePartition { kind: PartitionKind::Work },
        LayoutError::WrongPartitionType { kind: PartitionKind::Work, found: LINUX_DATA.0 },
        LayoutError::WrongPartitionName { kind: PartitionKind::Work, found: name },
        LayoutError::EmptyPartition { kind: PartitionKind::Work, first_lba: 5, last_lba: 4 },
        LayoutError::PartitionOutsideDisk { kind: PartitionKind::Work, first_lba: 1, last_lba: 2, first_usable: 34, last_usable: 99 },
        LayoutError::Overlap { a: PartitionKind::Work, b: name },
        LayoutError::TooSmall { kind: PartitionKind::Work, sectors: 1, minimum: 2 },
    ];
    let problems = [
        HeaderProblem::BadSignature,
        HeaderProblem::UnsupportedRevision { revision: 3 },
        HeaderProblem::BadHeaderSize { size: 1 },
        HeaderProblem::HeaderChecksum,
        HeaderProblem::WrongLocation { my_lba: 1, expected: 2 },
        HeaderProblem::WrongAlternate { alternate_lba: 1, expected: 2 },
        HeaderProblem::BadEntrySize { size: 1 },
        HeaderProblem::EntryArrayTooLarge { bytes: 1 },
        HeaderProblem::BadUsableRange { first: 1, last: 2 },
        HeaderProblem::EntryArrayMisplaced { lba: 1 },
        HeaderProblem::EntryArrayChecksum,
        HeaderProblem::DisagreesWithPrimary,
    ];
    let texts: Vec<String> = errors.iter().map(ToString::to_string).chain(problems.iter().map(ToString::to_string)).collect();
    for text in &texts {
        assert!(!text.is_empty() && !text.contains('\n'), "{text:?}");
    }
    let unique: std::collections::HashSet<_> = texts.iter().collect();
    assert_eq!(unique.len(), texts.len(), "messages are distinct");
    assert_eq!(
        LayoutError::WrongPartitionType { kind: PartitionKind::Work, found: LINUX_DATA.0 }.to_string(),
        "the partition \"work\" has type 0fc63daf-8483-4772-8e79-3d69d8477de4, not \
         ef3ce24a-077f-4aac-a18f-9f5f7ac2b20a"
    );
}

/// The fuzz seeds (fuzz/seeds/gpt_parse, format in the fuzz target's header)
/// are Janus disks, so fuzzing starts from the deep end.
#[test]
fn fuzz_seeds_are_janus_disks() {
    let seeds = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/gpt_parse");
    let mut count = 0;
    for seed in std::fs::read_dir(seeds).unwrap() {
        let bytes = std::fs::read(seed.unwrap().path()).unwrap();
        let disk_sectors = u64::from_le_bytes(bytes[1..9].try_into().unwrap());
        let mut disk = MemoryDisk::new(disk_sectors);
        for record in bytes[9..].chunks(516) {
            let position = u32::from_le_bytes(record[..4].try_into().unwrap());
            let lba = if position & 0x8000_0000 != 0 { disk_sectors - 1 - u64::from(position & 0x7fff_ffff) } else { u64::from(position) };
            disk.sector_mut(lba)[..record.len() - 4].copy_from_slice(&record[4..]);
        }
        assert!(disk.layout().unwrap().headers_intact());
        count += 1;
    }
    assert!(count >= 1);
}
