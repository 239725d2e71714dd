//! Finding the Janus partitions on a disk through a sector reader: protective MBR, GPT headers with fallback to the backup, partition checks.
//!
//! The header checks follow UEFI 2.10 §5.3.2 ("GPT Header"): signature,
//! header CRC32, MyLBA, the partition entry array CRC32, and if the primary
//! header is damaged, the backup header at the last LBA. On-disk structures,
//! CRC32 and the partition entry iterator come from `gpt_disk_types` and
//! `gpt_disk_io`; this module adds the bounds checks a hostile or damaged
//! disk needs before any of its numbers is used.

use gpt_disk_io::{BlockIo, Disk, DiskError};
use gpt_disk_types::{BlockSize, Crc32, GptHeader, GptHeaderRevision, GptPartitionEntry, Lba, MasterBootRecord, U32Le};

use crate::error::{ForeignTable, HeaderLocation, HeaderProblem, LayoutError};
use crate::layout::{Layout, Partition, PartitionKind, SECTOR_SIZE};

/// The largest partition entry array Janus reads: 64 KiB (512 entries of 128
/// bytes; the usual array is 16 KiB). Bounds the reads a hostile header can
/// cause.
pub const MAX_ENTRY_ARRAY_BYTES: u64 = 64 * 1024;

/// The smallest disk [`read_layout`] accepts, in sectors: the MBR, two GPT
/// headers and the minimum partition sizes.
pub const MIN_DISK_SECTORS: u64 = 3
    + PartitionKind::Meta.minimum_sectors()
    + PartitionKind::Personal.minimum_sectors()
    + PartitionKind::Work.minimum_sectors()
    + PartitionKind::Shared.minimum_sectors();

/// `SECTOR_SIZE` as a `usize` for buffers.
const SECTOR_BYTES: usize = 512;

/// The size of the GPT header structure (UEFI 2.10 Table 5-5).
const GPT_HEADER_SIZE: u32 = 92;

/// The MBR partition type of a GPT protective partition (UEFI 2.10 §5.2.3).
const PROTECTIVE_OS_TYPE: u8 = 0xee;

/// Read the GPT through `read_sector(lba, buffer)` and return the Janus
/// layout.
///
/// Checks, in order: the disk is at least [`MIN_DISK_SECTORS`]; sector 0 is
/// a protective MBR; the primary GPT header and its partition entry array
/// are intact (CRC32s, locations, sizes), else the backup header at the last
/// sector is used ([`Layout::used_backup_header`]); the table holds at least
/// one Janus type GUID (else it is foreign); each of `janus-meta`,
/// `personal`, `work`, `shared` appears exactly once with its type GUID and
/// name, lies inside the usable sectors, has its minimum size, and overlaps
/// no other partition.
///
/// `read_sector` is only called with `lba < disk_sectors`; its error value is
/// dropped and reported as [`LayoutError::ReadFailed`] with the LBA; a read
/// failure is fatal (no fallback). Never writes, never panics, uses no
/// allocator and about 1.5 KiB of stack; a standard 128-entry table costs 131
/// sector reads (MBR, both headers, each 32-sector entry array once for its
/// CRC32, and the chosen array twice more to classify entries and to check
/// overlaps).
///
/// # Errors
///
/// The first [`LayoutError`] found.
pub fn read_layout<E>(disk_sectors: u64, read_sector: impl FnMut(u64, &mut [u8; 512]) -> Result<(), E>) -> Result<Layout, LayoutError> {
    if disk_sectors < MIN_DISK_SECTORS {
        return Err(LayoutError::DiskTooSmall { sectors: disk_sectors, minimum: MIN_DISK_SECTORS });
    }
    let mut sectors = Sectors { read: read_sector, disk_sectors };
    check_protective_mbr(&mut sectors)?;

    let primary = check_header(&mut sectors, HeaderLocation::Primary)?;
    let backup = check_header(&mut sectors, HeaderLocation::Backup)?;
    let (header, used_backup_header, other_header_problem) = match (primary, backup) {
        (Ok(primary), Ok(backup)) => {
            let problem = (!same_table(&primary, &backup)).then_some(HeaderProblem::DisagreesWithPrimary);
            (primary, false, problem)
        }
        (Ok(primary), Err(problem)) => (primary, false, Some(problem)),
        (Err(problem), Ok(backup)) => (backup, true, Some(problem)),
        (Err(primary), Err(backup)) => return Err(LayoutError::BadHeaders { primary, backup }),
    };

    let [meta, personal, work, shared] = find_partitions(&mut sectors, &header)?;
    Ok(Layout { meta, personal, work, shared, disk_sectors, used_backup_header, other_header_problem })
}

/// The caller's sector reader, with the disk size.
struct Sectors<F> {
    read: F,
    disk_sectors: u64,
}

impl<F, E> Sectors<F>
where
    F: FnMut(u64, &mut [u8; 512]) -> Result<(), E>,
{
    fn read(&mut self, lba: u64, buffer: &mut [u8; 512]) -> Result<(), LayoutError> {
        if lba >= self.disk_sectors {
            return Err(LayoutError::ReadFailed { lba });
        }
        (self.read)(lba, buffer).map_err(|_| LayoutError::ReadFailed { lba })
    }
}

/// The error `gpt_disk_io` sees from [`Sectors`]: which sector failed.
#[derive(Debug)]
struct SectorError {
    lba: u64,
}

impl core::fmt::Display for SectorError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "sector {} could not be read", self.lba)
    }
}

/// Lets `gpt_disk_io::Disk` read through the caller's sector reader. Read
/// only: writes fail.
impl<F, E> BlockIo for &mut Sectors<F>
where
    F: FnMut(u64, &mut [u8; 512]) -> Result<(), E>,
{
    type Error = SectorError;

    fn block_size(&self) -> BlockSize {
        BlockSize::BS_512
    }

    fn num_blocks(&mut self) -> Result<u64, SectorError> {
        Ok(self.disk_sectors)
    }

    fn read_blocks(&mut self, start_lba: Lba, destination: &mut [u8]) -> Result<(), SectorError> {
        let mut lba = start_lba.to_u64();
        for chunk in destination.chunks_mut(SECTOR_BYTES) {
            let sector: &mut [u8; 512] = chunk.try_into().map_err(|_| SectorError { lba })?;
            self.read(lba, sector).map_err(|_| SectorError { lba })?;
            lba = lba.checked_add(1).ok_or(SectorError { lba })?;
        }
        Ok(())
    }

    fn write_blocks(&mut self, start_lba: Lba, _source: &[u8]) -> Result<(), SectorError> {
        Err(SectorError { lba: start_lba.to_u64() })
    }

    fn flush(&mut self) -> Result<(), SectorError> {
        Ok(())
    }
}

/// Maps a `gpt_disk_io` error to a read failure. Only `Io` can happen: the
/// buffers are one sector and the entry size was checked to fit in one.
fn disk_error(error: &DiskError<SectorError>, lba: u64) -> LayoutError {
    match error {
        DiskError::Io(SectorError { lba }) => LayoutError::ReadFailed { lba: *lba },
        _ => LayoutError::ReadFailed { lba },
    }
}

/// Sector 0 must be an MBR with a GPT-protective (0xEE) partition (UEFI 2.10
/// §5.2.3; a hybrid MBR with more entries is accepted).
fn check_protective_mbr<F, E>(sectors: &mut Sectors<F>) -> Result<(), LayoutError>
where
    F: FnMut(u64, &mut [u8; 512]) -> Result<(), E>,
{
    let mut buffer = [0u8; SECTOR_BYTES];
    sectors.read(0, &mut buffer)?;
    let mbr: MasterBootRecord = bytemuck::pod_read_unaligned(&buffer);
    if mbr.signature != [0x55, 0xaa] {
        return Err(LayoutError::NoProtectiveMbr);
    }
    if !mbr.partitions.iter().any(|record| record.os_indicator == PROTECTIVE_OS_TYPE) {
        return Err(LayoutError::ForeignPartitionTable { table: ForeignTable::Mbr });
    }
    Ok(())
}

/// Reads and checks one GPT header and its partition entry array. The outer
/// error is a read failure (fatal); the inner one says why this header is
/// unusable (the other one may still be).
fn check_header<F, E>(sectors: &mut Sectors<F>, location: HeaderLocation) -> Result<Result<GptHeader, HeaderProblem>, LayoutError>
where
    F: FnMut(u64, &mut [u8; 512]) -> Result<(), E>,
{
    let last = sectors.disk_sectors.saturating_sub(1);
    let (lba, alternate) = match location {
        HeaderLocation::Primary => (1, last),
        HeaderLocation::Backup => (last, 1),
    };
    let mut buffer = [0u8; SECTOR_BYTES];
    let header = Disk::new(&mut *sectors).and_then(|mut disk| disk.read_gpt_header(Lba(lba), &mut buffer)).map_err(|error| disk_error(&error, lba))?;
    if let Err(problem) = check_header_fields(&header, lba, alternate, sectors.disk_sectors) {
        return Ok(Err(problem));
    }
    let expected = header.partition_entry_array_crc32;
    if entry_array_crc32(sectors, &header)? != expected {
        return Ok(Err(HeaderProblem::EntryArrayChecksum));
    }
    Ok(Ok(header))
}

/// The checks on the header alone (everything but the entry array CRC32).
fn check_header_fields(header: &GptHeader, lba: u64, alternate: u64, disk_sectors: u64) -> Result<(), HeaderProblem> {
    if !header.is_signature_valid() {
        return Err(HeaderProblem::BadSignature);
    }
    if header.revision != GptHeaderRevision::VERSION_1_0 {
        return Err(HeaderProblem::UnsupportedRevision { revision: header.revision.0.to_u32() });
    }
    let size = header.header_size.to_u32();
    if size != GPT_HEADER_SIZE {
        return Err(HeaderProblem::BadHeaderSize { size });
    }
    if header.header_crc32 != header.calculate_header_crc32() {
        return Err(HeaderProblem::HeaderChecksum);
    }
    let my_lba = header.my_lba.to_u64();
    if my_lba != lba {
        return Err(HeaderProblem::WrongLocation { my_lba, expected: lba });
    }
    let alternate_lba = header.alternate_lba.to_u64();
    if alternate_lba != alternate {
        return Err(HeaderProblem::WrongAlternate { alternate_lba, expected: alternate });
    }
    let entry_size = header.size_of_partition_entry.to_u32();
    if !matches!(entry_size, 128 | 256 | 512) {
        return Err(HeaderProblem::BadEntrySize { size: entry_size });
    }
    let array_bytes = u64::from(header.number_of_partition_entries.to_u32()) * u64::from(entry_size);
    if array_bytes > MAX_ENTRY_ARRAY_BYTES {
        return Err(HeaderProblem::EntryArrayTooLarge { bytes: array_bytes });
    }
    let first = header.first_usable_lba.to_u64();
    let last = header.last_usable_lba.to_u64();
    // The usable range lies strictly between the two headers.
    if first < 2 || first > last || last >= disk_sectors.saturating_sub(1) {
        return Err(HeaderProblem::BadUsableRange { first, last });
    }
    let array_start = header.partition_entry_lba.to_u64();
    let array_end = array_start.checked_add(array_bytes.div_ceil(SECTOR_SIZE));
    let placed = match array_end {
        // After the MBR and the primary header, before the last sector, and
        // clear of the usable range.
        Some(end) => array_start >= 2 && end <= disk_sectors.saturating_sub(1) && (end <= first || array_start > last),
        None => false,
    };
    if !placed {
        return Err(HeaderProblem::EntryArrayMisplaced { lba: array_start });
    }
    Ok(())
}

/// CRC32 of the partition entry array (entries × entry size bytes), read
/// one sector at a time.
fn entry_array_crc32<F, E>(sectors: &mut Sectors<F>, header: &GptHeader) -> Result<Crc32, LayoutError>
where
    F: FnMut(u64, &mut [u8; 512]) -> Result<(), E>,
{
    let crc = gpt_disk_types::crc::Crc::<u32>::new(&Crc32::ALGORITHM);
    let mut digest = crc.digest();
    let mut remaining = u64::from(header.number_of_partition_entries.to_u32()) * u64::from(header.size_of_partition_entry.to_u32());
    let mut lba = header.partition_entry_lba.to_u64();
    let mut buffer = [0u8; SECTOR_BYTES];
    while remaining > 0 {
        sectors.read(lba, &mut buffer)?;
        let take = remaining.min(SECTOR_SIZE);
        let bytes = usize::try_from(take).unwrap_or(SECTOR_BYTES);
        digest.update(buffer.get(..bytes).unwrap_or(&buffer));
        remaining -= take;
        lba = lba.checked_add(1).ok_or(LayoutError::ReadFailed { lba })?;
    }
    Ok(Crc32(U32Le(digest.finalize().to_le_bytes())))
}

/// Whether two intact headers describe the same partition table.
fn same_table(primary: &GptHeader, backup: &GptHeader) -> bool {
    // Copies: the packed header's GUID field may not be borrowed.
    let (primary_guid, backup_guid) = (primary.disk_guid, backup.disk_guid);
    primary_guid == backup_guid
        && primary.first_usable_lba == backup.first_usable_lba
        && primary.last_usable_lba == backup.last_usable_lba
        && primary.number_of_partition_entries == backup.number_of_partition_entries
        && primary.size_of_partition_entry == backup.size_of_partition_entry
        && primary.partition_entry_array_crc32 == backup.partition_entry_array_crc32
}

/// Calls `visit(index, entry)` for every used entry of the header's array.
fn for_each_used_entry<F, E>(
    sectors: &mut Sectors<F>,
    header: &GptHeader,
    mut visit: impl FnMut(usize, &GptPartitionEntry) -> Result<(), LayoutError>,
) -> Result<(), LayoutError>
where
    F: FnMut(u64, &mut [u8; 512]) -> Result<(), E>,
{
    let array_lba = header.partition_entry_lba.to_u64();
    let layout = header.get_partition_entry_array_layout().map_err(|_| LayoutError::ReadFailed { lba: array_lba })?;
    let mut buffer = [0u8; SECTOR_BYTES];
    let mut disk = Disk::new(&mut *sectors).map_err(|error| disk_error(&error, array_lba))?;
    let entries = disk.gpt_partition_entry_array_iter(layout, &mut buffer).map_err(|error| disk_error(&error, array_lba))?;
    for (index, entry) in entries.enumerate() {
        let entry = entry.map_err(|error| disk_error(&error, array_lba))?;
        if entry.is_used() {
            visit(index, &entry)?;
        }
    }
    Ok(())
}

/// A Janus partition found in the entry array.
#[derive(Clone, Copy)]
struct Found {
    index: usize,
    entry: GptPartitionEntry,
}

/// One slot per kind.
#[derive(Default)]
struct Slots {
    meta: Option<Found>,
    personal: Option<Found>,
    work: Option<Found>,
    shared: Option<Found>,
}

impl Slots {
    fn slot(&mut self, kind: PartitionKind) -> &mut Option<Found> {
        match kind {
            PartitionKind::Meta => &mut self.meta,
            PartitionKind::Personal => &mut self.personal,
            PartitionKind::Work => &mut self.work,
            PartitionKind::Shared => &mut self.shared,
        }
    }
}

/// Finds and checks the four partitions in the header's entry array.
fn find_partitions<F, E>(sectors: &mut Sectors<F>, header: &GptHeader) -> Result<[Partition; 4], LayoutError>
where
    F: FnMut(u64, &mut [u8; 512]) -> Result<(), E>,
{
    // Pass 1: classify every used entry by type GUID and name. Naming
    // problems are kept until the end of the pass: a table without any
    // Janus type GUID is foreign, whatever its partitions are called.
    let mut slots = Slots::default();
    let mut any_janus_type = false;
    let mut naming_problem = None;
    for_each_used_entry(sectors, header, |index, entry| {
        let type_guid = entry.partition_type_guid;
        let name = entry.name;
        let by_type = PartitionKind::from_type_guid(type_guid);
        let by_name = PartitionKind::from_gpt_name(&name);
        any_janus_type |= by_type.is_some();
        let problem = match (by_type, by_name) {
            (Some(kind), Some(named)) if kind == named => {
                let slot = slots.slot(kind);
                if slot.is_some() {
                    Some(LayoutError::DuplicatePartition { kind })
                } else {
                    *slot = Some(Found { index, entry: *entry });
                    None
                }
            }
            (Some(kind), _) => Some(LayoutError::WrongPartitionName { kind, found: name }),
            (None, Some(named)) => Some(LayoutError::WrongPartitionType { kind: named, found: type_guid.0 }),
            (None, None) => None,
        };
        if naming_problem.is_none() {
            naming_problem = problem;
        }
        Ok(())
    })?;
    if !any_janus_type {
        return Err(LayoutError::ForeignPartitionTable { table: ForeignTable::Gpt });
    }
    if let Some(problem) = naming_problem {
        return Err(problem);
    }

    // Each partition exists, is a forward range inside the usable sectors,
    // and has its minimum size.
    let first_usable = header.first_usable_lba.to_u64();
    let last_usable = header.last_usable_lba.to_u64();
    let mut partitions = [Partition { first_lba: 0, sectors: 0 }; 4];
    let mut indexes = [0usize; 4];
    for ((kind, partition), entry_index) in PartitionKind::ALL.into_iter().zip(partitions.iter_mut()).zip(indexes.iter_mut()) {
        let Some(found) = *slots.slot(kind) else {
            return Err(LayoutError::MissingPartition { kind });
        };
        let first_lba = found.entry.starting_lba.to_u64();
        let last_lba = found.entry.ending_lba.to_u64();
        if last_lba < first_lba {
            return Err(LayoutError::EmptyPartition { kind, first_lba, last_lba });
        }
        if first_lba < first_usable || last_lba > last_usable {
            return Err(LayoutError::PartitionOutsideDisk { kind, first_lba, last_lba, first_usable, last_usable });
        }
        // Cannot overflow: last_lba <= last_usable < disk_sectors.
        let count = last_lba - first_lba + 1;
        if count < kind.minimum_sectors() {
            return Err(LayoutError::TooSmall { kind, sectors: count, minimum: kind.minimum_sectors() });
        }
        *partition = Partition { first_lba, sectors: count };
        *entry_index = found.index;
    }

    // Pass 2: no Janus partition shares a sector with any other used entry,
    // Janus or foreign (a foreign entry that ends before it starts covers
    // nothing).
    for_each_used_entry(sectors, header, |index, entry| {
        let first_lba = entry.starting_lba.to_u64();
        let last_lba = entry.ending_lba.to_u64();
        if last_lba < first_lba {
            return Ok(());
        }
        for ((kind, partition), own_index) in PartitionKind::ALL.into_iter().zip(partitions).zip(indexes) {
            let shares_a_sector = partition.last_lba().is_some_and(|own_last| partition.first_lba <= last_lba && first_lba <= own_last);
            if own_index != index && shares_a_sector {
                return Err(LayoutError::Overlap { a: kind, b: entry.name });
            }
        }
        Ok(())
    })?;
    Ok(partitions)
}
