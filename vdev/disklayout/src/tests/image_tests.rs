//! Image files: create/check round trip, never overwriting or touching a foreign file, partition reads and writes, one test per ImageError.

use std::fs::{self, OpenOptions};
use std::io::{Seek, SeekFrom, Write};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::SystemTime;

use super::{SMALL_DATA, SMALL_META, TempDir, mbr_only_sector};
use crate::{
    ForeignTable, HeaderProblem, ImageError, LayoutError, MIB, MIN_DISK_SECTORS, Partition, PartitionKind, SECTOR_SIZE, Sizes, check_image, create_image,
    extract_partition, read_partition, read_partition_range, write_partition_range,
};

/// The smallest sizes create_image accepts.
pub(crate) const SMALL: Sizes = Sizes { meta: MIB, personal: 16 * MIB, work: 16 * MIB, shared: 16 * MIB };

/// Length, modification time and every byte.
fn fingerprint(path: &Path) -> (u64, SystemTime, Vec<u8>) {
    let metadata = fs::metadata(path).unwrap();
    (metadata.len(), metadata.modified().unwrap(), fs::read(path).unwrap())
}

fn write_at(path: &Path, offset: u64, bytes: &[u8]) {
    let mut file = OpenOptions::new().write(true).open(path).unwrap();
    file.seek(SeekFrom::Start(offset)).unwrap();
    file.write_all(bytes).unwrap();
}

/// A sparse file of `bytes` zeros.
fn zero_file(path: &Path, bytes: u64) {
    fs::File::create(path).unwrap().set_len(bytes).unwrap();
}

fn assert_fix(error: &ImageError) {
    let text = error.to_string();
    assert!(text.contains(". Fix: ") && !text.contains('\n'), "{text}");
}

#[test]
fn create_then_check_round_trip() {
    let directory = TempDir::new("round-trip");
    let path = directory.join("disk.img");
    let created = create_image(&path, &Sizes::default()).unwrap();
    let data = 256 * MIB / SECTOR_SIZE;
    assert_eq!(created.meta, Partition { first_lba: 2048, sectors: 2048 });
    assert_eq!(created.personal, Partition { first_lba: 4096, sectors: data });
    assert_eq!(created.work, Partition { first_lba: 4096 + data, sectors: data });
    assert_eq!(created.shared, Partition { first_lba: 4096 + 2 * data, sectors: data });
    assert!(created.headers_intact());
    for (_, partition) in created.partitions() {
        assert_eq!(partition.byte_offset().unwrap() % MIB, 0, "1 MiB aligned");
    }
    let metadata = fs::metadata(&path).unwrap();
    assert_eq!(metadata.len(), (4096 + 3 * data + 33) * SECTOR_SIZE);
    assert_eq!(Some(metadata.len()), Sizes::default().image_bytes());
    assert!(metadata.blocks() * 512 < MIB, "sparse: {} blocks allocated", metadata.blocks());
    assert_eq!(check_image(&path).unwrap(), created);
}

#[test]
fn created_guids_differ_between_images() {
    let directory = TempDir::new("guids");
    let (first, second) = (directory.join("a.img"), directory.join("b.img"));
    create_image(&first, &SMALL).unwrap();
    create_image(&second, &SMALL).unwrap();
    let header = |path: &Path| read_partition_range(path, &Partition { first_lba: 1, sectors: 1 }, 0, 512).unwrap();
    assert_ne!(header(&first)[56..72], header(&second)[56..72], "disk GUIDs");
}

#[test]
fn create_refuses_an_existing_file() {
    let directory = TempDir::new("exists");
    let path = directory.join("disk.img");
    fs::write(&path, b"precious").unwrap();
    let error = create_image(&path, &SMALL).unwrap_err();
    assert!(matches!(&error, ImageError::Exists { path: reported } if *reported == path));
    assert_fix(&error);
    assert_eq!(fs::read(&path).unwrap(), b"precious");
    // An existing Janus disk is not overwritten either.
    let janus = directory.join("janus.img");
    create_image(&janus, &SMALL).unwrap();
    let before = fingerprint(&janus);
    assert!(matches!(create_image(&janus, &SMALL), Err(ImageError::Exists { .. })));
    assert_eq!(fingerprint(&janus), before);
}

#[test]
fn create_rejects_bad_sizes() {
    let directory = TempDir::new("sizes");
    let path = directory.join("disk.img");
    let error = create_image(&path, &Sizes { meta: MIB / 2, ..SMALL }).unwrap_err();
    assert!(matches!(error, ImageError::BadSize { kind: PartitionKind::Meta, bytes, minimum } if bytes == MIB / 2 && minimum == MIB));
    assert_fix(&error);
    let error = create_image(&path, &Sizes { work: 16 * MIB + 512, ..SMALL }).unwrap_err();
    assert!(matches!(error, ImageError::BadSize { kind: PartitionKind::Work, .. }));
    let error = create_image(&path, &Sizes { shared: u64::MAX / MIB * MIB, ..SMALL }).unwrap_err();
    assert!(matches!(error, ImageError::BadSize { .. }));
    assert!(!path.exists(), "nothing created");
}

#[test]
fn create_in_a_missing_directory_is_an_io_error() {
    let directory = TempDir::new("io");
    let path = directory.join("no/such/dir/disk.img");
    let error = create_image(&path, &SMALL).unwrap_err();
    assert!(matches!(&error, ImageError::Io { error, .. } if error.kind() == std::io::ErrorKind::NotFound));
    assert_fix(&error);
}

#[test]
fn check_missing_image() {
    let directory = TempDir::new("missing");
    let error = check_image(&directory.join("nothing.img")).unwrap_err();
    assert!(matches!(error, ImageError::Missing { .. }));
    assert_fix(&error);
}

#[test]
fn check_too_small_image_leaves_it_alone() {
    let directory = TempDir::new("small");
    let path = directory.join("disk.img");
    fs::write(&path, vec![7u8; 4096]).unwrap();
    let before = fingerprint(&path);
    let error = check_image(&path).unwrap_err();
    assert!(matches!(error, ImageError::TooSmall { bytes: 4096, minimum, .. } if minimum == MIN_DISK_SECTORS * 512));
    assert_fix(&error);
    assert_eq!(fingerprint(&path), before);
    // create_image does not "fix" it either.
    assert!(matches!(create_image(&path, &SMALL), Err(ImageError::Exists { .. })));
    assert_eq!(fingerprint(&path), before);
}

#[test]
fn check_image_with_a_partial_sector() {
    let directory = TempDir::new("partial");
    let path = directory.join("disk.img");
    zero_file(&path, MIN_DISK_SECTORS * 512 + 100);
    let error = check_image(&path).unwrap_err();
    assert!(matches!(error, ImageError::PartialSector { .. }));
    assert_fix(&error);
}

#[test]
fn check_blank_image_is_foreign() {
    let directory = TempDir::new("blank");
    let path = directory.join("disk.img");
    zero_file(&path, 64 * MIB);
    let error = check_image(&path).unwrap_err();
    assert!(matches!(error, ImageError::Foreign { problem: LayoutError::NoProtectiveMbr, .. }));
    assert_fix(&error);
}

#[test]
fn check_mbr_image_is_foreign_and_untouched() {
    let directory = TempDir::new("mbr");
    let path = directory.join("disk.img");
    zero_file(&path, 64 * MIB);
    write_at(&path, 0, &mbr_only_sector(64 * MIB / 512));
    let before = fingerprint(&path);
    let error = check_image(&path).unwrap_err();
    assert!(matches!(error, ImageError::Foreign { problem: LayoutError::ForeignPartitionTable { table: ForeignTable::Mbr }, .. }));
    let text = error.to_string();
    assert!(
        text.ends_with(
            "disk.img has a foreign partition table (an MBR partition table, no GPT); it is not a Janus disk and \
             will not be touched. Fix: move it away (Janus creates a fresh one) or point JANUS_DISK at a Janus disk"
        ),
        "{text}"
    );
    assert_eq!(fingerprint(&path), before);
    assert!(matches!(create_image(&path, &SMALL), Err(ImageError::Exists { .. })));
    assert_eq!(fingerprint(&path), before);
}

#[test]
fn check_damaged_janus_image() {
    let directory = TempDir::new("damaged");
    let path = directory.join("disk.img");
    let layout = create_image(&path, &SMALL).unwrap();
    write_at(&path, 512 + 60, b"xx");
    write_at(&path, (layout.disk_sectors - 1) * 512, &[0; 8]);
    let before = fingerprint(&path);
    let error = check_image(&path).unwrap_err();
    assert!(matches!(
        error,
        ImageError::Damaged { problem: LayoutError::BadHeaders { primary: HeaderProblem::HeaderChecksum, backup: HeaderProblem::BadSignature }, .. }
    ));
    assert_fix(&error);
    assert_eq!(fingerprint(&path), before);
}

#[test]
fn check_uses_the_backup_and_repairs_nothing() {
    let directory = TempDir::new("backup");
    let path = directory.join("disk.img");
    let created = create_image(&path, &SMALL).unwrap();
    write_at(&path, 512, &[0; 512]);
    let before = fingerprint(&path);
    let layout = check_image(&path).unwrap();
    assert!(layout.used_backup_header);
    assert_eq!(layout.other_header_problem, Some(HeaderProblem::BadSignature));
    assert_eq!(layout.partitions(), created.partitions());
    assert_eq!(fingerprint(&path), before, "reading never repairs");
}

#[test]
fn check_never_modifies_a_janus_image() {
    let directory = TempDir::new("readonly");
    let path = directory.join("disk.img");
    create_image(&path, &SMALL).unwrap();
    let before = fingerprint(&path);
    std::thread::sleep(std::time::Duration::from_millis(20));
    check_image(&path).unwrap();
    assert_eq!(fingerprint(&path), before);
    // Works on a read-only file too.
    let mut permissions = fs::metadata(&path).unwrap().permissions();
    permissions.set_readonly(true);
    fs::set_permissions(&path, permissions).unwrap();
    check_image(&path).unwrap();
}

#[test]
fn partition_ranges_are_read_and_written_in_place() {
    let directory = TempDir::new("ranges");
    let path = directory.join("disk.img");
    let layout = create_image(&path, &SMALL).unwrap();
    write_partition_range(&path, &layout.work, 4096, b"JANUS-MARKER").unwrap();
    assert_eq!(read_partition_range(&path, &layout.work, 4096, 12).unwrap(), b"JANUS-MARKER");
    let work = read_partition(&path, &layout.work).unwrap();
    assert_eq!(work.len() as u64, SMALL_DATA * 512);
    assert_eq!(&work[4096..4108], b"JANUS-MARKER");
    let personal = read_partition(&path, &layout.personal).unwrap();
    assert!(personal.iter().all(|byte| *byte == 0));
    // The last byte of the partition is writable, one past it is not.
    write_partition_range(&path, &layout.meta, SMALL_META * 512 - 1, b"!").unwrap();
    let error = write_partition_range(&path, &layout.meta, SMALL_META * 512 - 1, b"!!").unwrap_err();
    assert!(matches!(error, ImageError::RangeOutsidePartition { length: 2, .. }));
    assert_fix(&error);
    let error = read_partition_range(&path, &layout.meta, u64::MAX, 2).unwrap_err();
    assert!(matches!(error, ImageError::RangeOutsidePartition { .. }));
    assert_eq!(check_image(&path).unwrap(), layout, "the table is untouched");
}

#[test]
fn writes_only_go_to_janus_partitions() {
    let directory = TempDir::new("not-a-partition");
    let path = directory.join("disk.img");
    create_image(&path, &SMALL).unwrap();
    let before = fingerprint(&path);
    let header = Partition { first_lba: 0, sectors: 34 };
    let error = write_partition_range(&path, &header, 0, b"boom").unwrap_err();
    assert!(matches!(error, ImageError::NotAPartition { .. }));
    assert_fix(&error);
    assert_eq!(fingerprint(&path), before);
    // And never into a foreign file.
    let foreign = directory.join("foreign.img");
    zero_file(&foreign, 64 * MIB);
    let error = write_partition_range(&foreign, &Partition { first_lba: 2048, sectors: 2048 }, 0, b"boom");
    assert!(matches!(error, Err(ImageError::Foreign { .. })));
    assert!(fs::read(&foreign).unwrap().iter().all(|byte| *byte == 0));
}

#[test]
fn partition_outside_the_image() {
    let directory = TempDir::new("outside");
    let path = directory.join("disk.img");
    let layout = create_image(&path, &SMALL).unwrap();
    let beyond = Partition { first_lba: layout.disk_sectors - 10, sectors: 20 };
    let error = read_partition(&path, &beyond).unwrap_err();
    assert!(matches!(error, ImageError::PartitionOutsideImage { .. }));
    assert_fix(&error);
    let overflowing = Partition { first_lba: u64::MAX, sectors: u64::MAX };
    assert!(matches!(read_partition(&path, &overflowing), Err(ImageError::PartitionOutsideImage { .. })));
}

#[test]
fn extract_partition_copies_sparsely_and_never_overwrites() {
    let directory = TempDir::new("extract");
    let path = directory.join("disk.img");
    let layout = create_image(&path, &SMALL).unwrap();
    write_partition_range(&path, &layout.personal, 3 * MIB + 17, b"hello personal").unwrap();
    let out = directory.join("personal.raw");
    extract_partition(&path, &layout.personal, &out).unwrap();
    let extracted = fs::read(&out).unwrap();
    assert_eq!(extracted.len() as u64, 16 * MIB);
    assert_eq!(extracted, read_partition(&path, &layout.personal).unwrap());
    assert!(fs::metadata(&out).unwrap().blocks() * 512 <= 2 * MIB, "holes for zero chunks");
    let error = extract_partition(&path, &layout.work, &out).unwrap_err();
    assert!(matches!(&error, ImageError::Exists { path } if *path == out));
    assert_eq!(fs::read(&out).unwrap(), extracted);
    assert!(matches!(extract_partition(&directory.join("missing.img"), &layout.work, &directory.join("work.raw")), Err(ImageError::Missing { .. })));
    assert!(!directory.join("work.raw").exists());
}

#[test]
fn every_image_error_names_a_fix() {
    let path = Path::new("target/janus/disk.img").to_path_buf();
    let partition = Partition { first_lba: 1, sectors: 2 };
    let errors = [
        ImageError::Missing { path: path.clone() },
        ImageError::Exists { path: path.clone() },
        ImageError::TooSmall { path: path.clone(), bytes: 1, minimum: 2 },
        ImageError::PartialSector { path: path.clone(), bytes: 1 },
        ImageError::Foreign { path: path.clone(), problem: LayoutError::NoProtectiveMbr },
        ImageError::Damaged { path: path.clone(), problem: LayoutError::MissingPartition { kind: PartitionKind::Work } },
        ImageError::BadSize { kind: PartitionKind::Work, bytes: 1, minimum: 16 * MIB },
        ImageError::NotAPartition { path: path.clone(), partition },
        ImageError::RangeOutsidePartition { offset: 1, length: 2, partition_bytes: 3 },
        ImageError::PartitionOutsideImage { path: path.clone(), partition, image_bytes: 5 },
        ImageError::Io { path: path.clone(), error: std::io::Error::other("disk on fire") },
    ];
    for error in &errors {
        assert_fix(error);
    }
    assert_eq!(
        errors[4].to_string(),
        "target/janus/disk.img has no partition table (sector 0 has no MBR signature); it is not a Janus disk and \
         will not be touched. Fix: move it away (Janus creates a fresh one) or point JANUS_DISK at a Janus disk"
    );
    assert_eq!(
        errors[5].to_string(),
        "target/janus/disk.img is a damaged Janus disk: the partition \"work\" is missing; it will not be touched. \
         Fix: copy out what you need (sgdisk -p shows the table), then move it away (Janus creates a fresh one)"
    );
}
