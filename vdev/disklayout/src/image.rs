//! Host side: create, check, read and write Janus disk images (sparse raw files).
//!
//! Nothing here ever overwrites or changes a file that is not a Janus disk:
//! [`create_image`] only creates new files, [`check_image`] only reads, and
//! [`write_partition_range`] writes only inside a partition of an image that
//! [`check_image`] accepted.

use std::fs::{self, File, OpenOptions};
use std::hash::{BuildHasher, RandomState};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use gpt_disk_io::{BlockIoAdapter, Disk};
use gpt_disk_types::{BlockSize, GptHeader, GptPartitionEntry, GptPartitionEntryArray, GptPartitionName, Guid, Lba, LbaLe, U32Le};

use crate::error::LayoutError;
use crate::image_error::ImageError;
use crate::layout::{Layout, MIB, Partition, PartitionKind, SECTOR_SIZE};
use crate::read::{MIN_DISK_SECTORS, read_layout};

/// Partition entries in a Janus GPT (the usual 128).
const ENTRY_COUNT: u32 = 128;

/// Bytes per partition entry (the usual 128).
const ENTRY_SIZE: u32 = 128;

/// Sectors of one partition entry array: 128 × 128 bytes.
const ENTRY_ARRAY_SECTORS: u64 = (ENTRY_COUNT as u64) * (ENTRY_SIZE as u64) / SECTOR_SIZE;

/// The first partition starts at 1 MiB, like every partitioning tool does.
const FIRST_PARTITION_LBA: u64 = MIB / SECTOR_SIZE;

/// Sectors after the last partition: the backup entry array and header.
const TAIL_SECTORS: u64 = ENTRY_ARRAY_SECTORS + 1;

/// Chunk size for copying partitions.
const COPY_CHUNK: usize = 1 << 20;

/// The partition sizes of a new image, in bytes. Each must be a multiple of
/// 1 MiB and at least its kind's minimum.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sizes {
    /// `janus-meta`.
    pub meta: u64,
    /// `personal`.
    pub personal: u64,
    /// `work`.
    pub work: u64,
    /// `shared`.
    pub shared: u64,
}

impl Default for Sizes {
    /// 1 MiB `janus-meta`, 256 MiB each for `personal`, `work`, `shared`.
    fn default() -> Self {
        Self { meta: MIB, personal: 256 * MIB, work: 256 * MIB, shared: 256 * MIB }
    }
}

impl Sizes {
    /// The size of one kind's partition.
    #[must_use]
    pub const fn of(&self, kind: PartitionKind) -> u64 {
        match kind {
            PartitionKind::Meta => self.meta,
            PartitionKind::Personal => self.personal,
            PartitionKind::Work => self.work,
            PartitionKind::Shared => self.shared,
        }
    }

    /// The image size these partitions make: 1 MiB before the first
    /// partition (MBR, primary GPT, alignment), the partitions, then the
    /// backup GPT (33 sectors). `None` on overflow.
    #[must_use]
    pub fn image_bytes(&self) -> Option<u64> {
        let mut sectors = FIRST_PARTITION_LBA.checked_add(TAIL_SECTORS)?;
        for kind in PartitionKind::ALL {
            sectors = sectors.checked_add(self.of(kind) / SECTOR_SIZE)?;
        }
        sectors.checked_mul(SECTOR_SIZE)
    }

    /// Checks every size: a multiple of 1 MiB, at least the kind's minimum,
    /// and a total that fits.
    fn check(&self) -> Result<u64, ImageError> {
        for kind in PartitionKind::ALL {
            let bytes = self.of(kind);
            if !bytes.is_multiple_of(MIB) || bytes < kind.minimum_bytes() {
                return Err(ImageError::BadSize { kind, bytes, minimum: kind.minimum_bytes() });
            }
        }
        self.image_bytes().ok_or(ImageError::BadSize { kind: PartitionKind::Shared, bytes: self.shared, minimum: PartitionKind::Shared.minimum_bytes() })
    }
}

/// Creates a new sparse raw image at `path`: protective MBR, primary and
/// backup GPT with 128 entries, and the four partitions in order, each
/// starting on a 1 MiB boundary. The partitions' contents are left as holes
/// (they read as zeros). The size is [`Sizes::image_bytes`].
///
/// Never overwrites: if `path` exists the result is [`ImageError::Exists`].
/// If writing fails, the half-written file is removed. Returns the layout
/// as [`check_image`] reads it back.
///
/// # Errors
///
/// [`ImageError::BadSize`], [`ImageError::Exists`], [`ImageError::Io`].
pub fn create_image(path: &Path, sizes: &Sizes) -> Result<Layout, ImageError> {
    let image_bytes = sizes.check()?;
    let file = match OpenOptions::new().read(true).write(true).create_new(true).open(path) {
        Ok(file) => file,
        Err(error) if error.kind() == io::ErrorKind::AlreadyExists => {
            return Err(ImageError::Exists { path: path.to_path_buf() });
        }
        Err(error) => return Err(ImageError::io(path, error)),
    };
    let written = write_table(&file, sizes, image_bytes).and_then(|()| file.sync_all()).map_err(|error| ImageError::io(path, error));
    drop(file);
    let result = written.and_then(|()| check_image(path));
    if result.is_err() {
        // The file is ours (create_new above) and unusable: do not leave it
        // behind to be mistaken for a Janus disk.
        let _ignored = fs::remove_file(path);
    }
    result
}

/// Writes the protective MBR, both GPT headers and both entry arrays.
fn write_table(file: &File, sizes: &Sizes, image_bytes: u64) -> io::Result<()> {
    file.set_len(image_bytes)?;
    let disk_sectors = image_bytes / SECTOR_SIZE;
    let block_size = BlockSize::BS_512;
    let mut disk = Disk::new(BlockIoAdapter::new(file, block_size)).map_err(disk_io_error)?;

    let mut entries_storage = vec![0u8; (ENTRY_ARRAY_SECTORS * SECTOR_SIZE) as usize];
    let mut header = GptHeader {
        my_lba: LbaLe::from_u64(1),
        alternate_lba: LbaLe::from_u64(disk_sectors - 1),
        first_usable_lba: LbaLe::from_u64(2 + ENTRY_ARRAY_SECTORS),
        last_usable_lba: LbaLe::from_u64(disk_sectors - 1 - TAIL_SECTORS),
        disk_guid: random_guid(),
        partition_entry_lba: LbaLe::from_u64(2),
        number_of_partition_entries: U32Le::from_u32(ENTRY_COUNT),
        size_of_partition_entry: U32Le::from_u32(ENTRY_SIZE),
        ..GptHeader::default()
    };
    let layout = header.get_partition_entry_array_layout().map_err(|error| io::Error::other(error.to_string()))?;
    let mut entries = GptPartitionEntryArray::new(layout, block_size, &mut entries_storage).map_err(|error| io::Error::other(error.to_string()))?;
    let mut next_lba = FIRST_PARTITION_LBA;
    for (index, kind) in (0u32..).zip(PartitionKind::ALL) {
        let sectors = sizes.of(kind) / SECTOR_SIZE;
        let name: GptPartitionName = kind.name().parse().map_err(|_| io::Error::other("partition name does not fit a GPT entry"))?;
        let entry = entries.get_partition_entry_mut(index).ok_or_else(|| io::Error::other("partition entry array too small"))?;
        *entry = GptPartitionEntry {
            partition_type_guid: kind.type_guid(),
            unique_partition_guid: random_guid(),
            starting_lba: LbaLe::from_u64(next_lba),
            ending_lba: LbaLe::from_u64(next_lba + sectors - 1),
            attributes: Default::default(),
            name,
        };
        next_lba += sectors;
    }
    header.partition_entry_array_crc32 = entries.calculate_crc32();
    header.update_header_crc32();

    let mut block = vec![0u8; SECTOR_SIZE as usize];
    disk.write_protective_mbr(&mut block).map_err(disk_io_error)?;
    disk.write_primary_gpt_header(&header, &mut block).map_err(disk_io_error)?;
    disk.write_gpt_partition_entry_array(&entries).map_err(disk_io_error)?;

    let backup_array_lba = disk_sectors - TAIL_SECTORS;
    let mut backup = GptHeader {
        my_lba: LbaLe::from_u64(disk_sectors - 1),
        alternate_lba: LbaLe::from_u64(1),
        partition_entry_lba: LbaLe::from_u64(backup_array_lba),
        ..header
    };
    backup.update_header_crc32();
    entries.set_start_lba(Lba(backup_array_lba));
    disk.write_gpt_partition_entry_array(&entries).map_err(disk_io_error)?;
    disk.write_secondary_gpt_header(&backup, &mut block).map_err(disk_io_error)?;
    disk.flush().map_err(disk_io_error)
}

fn disk_io_error(error: gpt_disk_io::DiskError<io::Error>) -> io::Error {
    match error {
        gpt_disk_io::DiskError::Io(error) => error,
        other => io::Error::other(other.to_string()),
    }
}

/// A random (version 4) GUID. Not for secrets: it only has to differ between
/// disks and partitions. The randomness is std's per-process hash keys,
/// mixed with the time and a counter.
fn random_guid() -> Guid {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let count = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |elapsed| elapsed.as_nanos());
    let seed = (nanos, count, std::process::id());
    let low = RandomState::new().hash_one(seed);
    let high = RandomState::new().hash_one((seed, low));
    Guid::from_random_bytes((u128::from(high) << 64 | u128::from(low)).to_le_bytes())
}

/// Checks that `path` is a Janus disk and returns its layout. Opens the file
/// read-only: never writes, whatever it finds.
///
/// # Errors
///
/// [`ImageError::Missing`], [`ImageError::TooSmall`],
/// [`ImageError::PartialSector`], [`ImageError::Foreign`] (no or somebody
/// else's partition table), [`ImageError::Damaged`] (a Janus table with a
/// problem), [`ImageError::Io`].
pub fn check_image(path: &Path) -> Result<Layout, ImageError> {
    let (mut file, bytes) = open_image(path)?;
    let minimum = MIN_DISK_SECTORS * SECTOR_SIZE;
    if bytes < minimum {
        return Err(ImageError::TooSmall { path: path.to_path_buf(), bytes, minimum });
    }
    if !bytes.is_multiple_of(SECTOR_SIZE) {
        return Err(ImageError::PartialSector { path: path.to_path_buf(), bytes });
    }
    let mut read_error = None;
    let result = read_layout(bytes / SECTOR_SIZE, |lba, sector| {
        let read = file.seek(SeekFrom::Start(lba * SECTOR_SIZE)).and_then(|_| file.read_exact(sector));
        if let Err(error) = &read {
            read_error = Some(io::Error::new(error.kind(), error.to_string()));
        }
        read
    });
    result.map_err(|problem| match problem {
        LayoutError::ReadFailed { lba } => ImageError::io(path, read_error.unwrap_or_else(|| io::Error::other(format!("reading sector {lba} failed")))),
        problem if problem.is_foreign() => ImageError::Foreign { path: path.to_path_buf(), problem },
        problem => ImageError::Damaged { path: path.to_path_buf(), problem },
    })
}

/// Opens an image read-only and returns it with its size.
fn open_image(path: &Path) -> Result<(File, u64), ImageError> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(error) if error.kind() == io::ErrorKind::NotFound => {
            return Err(ImageError::Missing { path: path.to_path_buf() });
        }
        Err(error) => return Err(ImageError::io(path, error)),
    };
    let bytes = file.metadata().map_err(|error| ImageError::io(path, error))?.len();
    Ok((file, bytes))
}

/// The absolute byte range of `length` bytes at `offset` inside
/// `partition`, checked against the partition and the image size.
fn byte_range(path: &Path, partition: &Partition, offset: u64, length: u64, image_bytes: u64) -> Result<u64, ImageError> {
    let outside_image = || ImageError::PartitionOutsideImage { path: path.to_path_buf(), partition: *partition, image_bytes };
    let start = partition.byte_offset().ok_or_else(outside_image)?;
    let partition_bytes = partition.byte_length().ok_or_else(outside_image)?;
    let end = start.checked_add(partition_bytes).ok_or_else(outside_image)?;
    if end > image_bytes {
        return Err(outside_image());
    }
    match offset.checked_add(length) {
        Some(range_end) if range_end <= partition_bytes => Ok(start + offset),
        _ => Err(ImageError::RangeOutsidePartition { offset, length, partition_bytes }),
    }
}

/// Reads a whole partition of an image into memory (tests: look for
/// plaintext markers on a raw partition).
///
/// # Errors
///
/// [`ImageError::Missing`], [`ImageError::PartitionOutsideImage`],
/// [`ImageError::Io`].
pub fn read_partition(path: &Path, partition: &Partition) -> Result<Vec<u8>, ImageError> {
    let length = partition.byte_length().ok_or(ImageError::PartitionOutsideImage { path: path.to_path_buf(), partition: *partition, image_bytes: 0 })?;
    read_partition_range(path, partition, 0, length)
}

/// Reads `length` bytes at `offset` inside a partition of an image.
///
/// # Errors
///
/// [`ImageError::Missing`], [`ImageError::PartitionOutsideImage`],
/// [`ImageError::RangeOutsidePartition`], [`ImageError::Io`].
pub fn read_partition_range(path: &Path, partition: &Partition, offset: u64, length: u64) -> Result<Vec<u8>, ImageError> {
    let (mut file, image_bytes) = open_image(path)?;
    let start = byte_range(path, partition, offset, length, image_bytes)?;
    let length = usize::try_from(length).map_err(|_| ImageError::RangeOutsidePartition {
        offset,
        length,
        partition_bytes: partition.sectors.saturating_mul(SECTOR_SIZE),
    })?;
    let mut bytes = vec![0u8; length];
    file.seek(SeekFrom::Start(start)).and_then(|_| file.read_exact(&mut bytes)).map_err(|error| ImageError::io(path, error))?;
    Ok(bytes)
}

/// Writes `data` at `offset` inside a partition of a Janus image (tests:
/// plant or damage data). The image must pass [`check_image`] and
/// `partition` must be one of its four partitions; nothing outside the
/// partition is touched.
///
/// # Errors
///
/// Everything [`check_image`] returns, [`ImageError::NotAPartition`],
/// [`ImageError::RangeOutsidePartition`], [`ImageError::Io`].
pub fn write_partition_range(path: &Path, partition: &Partition, offset: u64, data: &[u8]) -> Result<(), ImageError> {
    let layout = check_image(path)?;
    if !layout.partitions().iter().any(|(_, own)| own == partition) {
        return Err(ImageError::NotAPartition { path: path.to_path_buf(), partition: *partition });
    }
    let mut file = OpenOptions::new().write(true).open(path).map_err(|error| ImageError::io(path, error))?;
    let image_bytes = layout.disk_sectors * SECTOR_SIZE;
    let start = byte_range(path, partition, offset, data.len() as u64, image_bytes)?;
    file.seek(SeekFrom::Start(start)).and_then(|_| file.write_all(data)).and_then(|()| file.sync_all()).map_err(|error| ImageError::io(path, error))
}

/// Copies one partition of an image to a new file `out` (tests: run e2fsck
/// on it). `out` must not exist; it is written sparsely (all-zero MiB
/// chunks become holes) and removed again if the copy fails.
///
/// # Errors
///
/// [`ImageError::Missing`], [`ImageError::Exists`] (for `out`),
/// [`ImageError::PartitionOutsideImage`], [`ImageError::Io`].
pub fn extract_partition(path: &Path, partition: &Partition, out: &Path) -> Result<(), ImageError> {
    let (mut file, image_bytes) = open_image(path)?;
    let length = partition.byte_length().unwrap_or(u64::MAX);
    let start = byte_range(path, partition, 0, length, image_bytes)?;
    let mut output = match OpenOptions::new().write(true).create_new(true).open(out) {
        Ok(output) => output,
        Err(error) if error.kind() == io::ErrorKind::AlreadyExists => {
            return Err(ImageError::Exists { path: out.to_path_buf() });
        }
        Err(error) => return Err(ImageError::io(out, error)),
    };
    let copied = copy_sparse(&mut file, start, length, &mut output);
    drop(output);
    copied.map_err(|(error, on_output)| {
        // The output is ours (create_new above) and incomplete.
        let _ignored = fs::remove_file(out);
        ImageError::io(if on_output { out } else { path }, error)
    })
}

/// Copies `length` bytes at `start` of `input` to the start of `output`,
/// leaving holes for all-zero chunks. The error says whether it was the
/// output's.
fn copy_sparse(input: &mut File, start: u64, length: u64, output: &mut File) -> Result<(), (io::Error, bool)> {
    input.seek(SeekFrom::Start(start)).map_err(|error| (error, false))?;
    let mut chunk = vec![0u8; COPY_CHUNK];
    let mut done = 0u64;
    while done < length {
        let take = usize::try_from((length - done).min(COPY_CHUNK as u64)).unwrap_or(COPY_CHUNK);
        let buffer = chunk.get_mut(..take).ok_or_else(|| (io::Error::other("copy chunk larger than its buffer"), false))?;
        input.read_exact(buffer).map_err(|error| (error, false))?;
        if buffer.iter().all(|byte| *byte == 0) {
            output.seek(SeekFrom::Current(take as i64)).map_err(|error| (error, true))?;
        } else {
            output.write_all(buffer).map_err(|error| (error, true))?;
        }
        done += take as u64;
    }
    output.set_len(length).map_err(|error| (error, true))?;
    output.sync_all().map_err(|error| (error, true))
}
