//! Host tests: an in-memory sparse disk, a GPT builder with knobs to damage it, and temporary directories.
#![cfg(feature = "std")]

mod image_tests;
mod properties;
mod read_tests;
mod tool_tests;

use std::collections::HashMap;
use std::convert::Infallible;
use std::path::PathBuf;

use gpt_disk_io::{BlockIo, Disk};
use gpt_disk_types::{
    BlockSize, GptHeader, GptPartitionEntry, GptPartitionEntryArray, GptPartitionName, GptPartitionType, Lba, LbaLe, MasterBootRecord, U32Le, guid,
};

use crate::{Layout, LayoutError, PartitionKind, SECTOR_SIZE, read_layout};

/// Minimum-size Janus disk used by most tests: 1 MiB alignment, 1 MiB meta,
/// 16 MiB data partitions, 128 entries.
pub(crate) const SMALL_META: u64 = 2048;
pub(crate) const SMALL_DATA: u64 = 32768;
pub(crate) const FIRST_LBA: u64 = 2048;
/// 2048 + 2048 + 3 × 32768 + 33.
pub(crate) const SMALL_DISK: u64 = FIRST_LBA + SMALL_META + 3 * SMALL_DATA + 33;

/// A type GUID no Janus kind has (Linux filesystem data).
pub(crate) const LINUX_DATA: GptPartitionType = GptPartitionType(guid!("0fc63daf-8483-4772-8e79-3d69d8477de4"));

/// A sparse in-memory disk: sectors never written read as zero.
#[derive(Clone, Debug, Default)]
pub(crate) struct MemoryDisk {
    pub(crate) sectors: HashMap<u64, [u8; 512]>,
    pub(crate) disk_sectors: u64,
}

impl MemoryDisk {
    pub(crate) fn new(disk_sectors: u64) -> Self {
        Self { sectors: HashMap::new(), disk_sectors }
    }

    pub(crate) fn sector(&self, lba: u64) -> [u8; 512] {
        self.sectors.get(&lba).copied().unwrap_or([0; 512])
    }

    pub(crate) fn sector_mut(&mut self, lba: u64) -> &mut [u8; 512] {
        self.sectors.entry(lba).or_insert([0; 512])
    }

    /// `read_layout` over this disk, with its own size.
    pub(crate) fn layout(&self) -> Result<Layout, LayoutError> {
        self.layout_as(self.disk_sectors)
    }

    /// `read_layout` over this disk, told it has `disk_sectors` sectors.
    pub(crate) fn layout_as(&self, disk_sectors: u64) -> Result<Layout, LayoutError> {
        read_layout(disk_sectors, |lba, buffer: &mut [u8; 512]| {
            *buffer = self.sector(lba);
            Ok::<(), Infallible>(())
        })
    }
}

impl BlockIo for &mut MemoryDisk {
    type Error = Infallible;

    fn block_size(&self) -> BlockSize {
        BlockSize::BS_512
    }

    fn num_blocks(&mut self) -> Result<u64, Infallible> {
        Ok(self.disk_sectors)
    }

    fn read_blocks(&mut self, start_lba: Lba, destination: &mut [u8]) -> Result<(), Infallible> {
        for (lba, chunk) in (start_lba.0..).zip(destination.chunks_mut(512)) {
            chunk.copy_from_slice(&self.sector(lba));
        }
        Ok(())
    }

    fn write_blocks(&mut self, start_lba: Lba, source: &[u8]) -> Result<(), Infallible> {
        for (lba, chunk) in (start_lba.0..).zip(source.chunks(512)) {
            if chunk.iter().any(|byte| *byte != 0) {
                self.sector_mut(lba).copy_from_slice(chunk);
            } else {
                self.sectors.remove(&lba);
            }
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), Infallible> {
        Ok(())
    }
}

/// One GPT entry.
pub(crate) fn entry(type_guid: GptPartitionType, name: &str, first_lba: u64, last_lba: u64) -> GptPartitionEntry {
    GptPartitionEntry {
        partition_type_guid: type_guid,
        unique_partition_guid: guid!("11111111-2222-4333-8444-555555555555"),
        starting_lba: LbaLe::from_u64(first_lba),
        ending_lba: LbaLe::from_u64(last_lba),
        attributes: Default::default(),
        name: name.parse::<GptPartitionName>().unwrap(),
    }
}

/// A Janus entry of `kind` covering `sectors` from `first_lba`.
pub(crate) fn janus(kind: PartitionKind, first_lba: u64, sectors: u64) -> GptPartitionEntry {
    entry(kind.type_guid(), kind.name(), first_lba, first_lba + sectors - 1)
}

/// The four Janus entries of the small disk, laid out like `create_image`.
pub(crate) fn janus_entries() -> Vec<GptPartitionEntry> {
    let mut lba = FIRST_LBA;
    PartitionKind::ALL
        .into_iter()
        .map(|kind| {
            let sectors = if kind == PartitionKind::Meta { SMALL_META } else { SMALL_DATA };
            let built = janus(kind, lba, sectors);
            lba += sectors;
            built
        })
        .collect()
}

/// Builds a GPT disk in memory. The header edits run before the CRC32 is
/// computed, so they produce intact headers with odd contents.
pub(crate) struct GptBuilder {
    pub(crate) disk_sectors: u64,
    pub(crate) entries: Vec<GptPartitionEntry>,
    pub(crate) entry_count: u32,
    pub(crate) edit_primary: Box<dyn Fn(&mut GptHeader)>,
    pub(crate) edit_backup: Box<dyn Fn(&mut GptHeader)>,
}

impl GptBuilder {
    pub(crate) fn new(entries: Vec<GptPartitionEntry>) -> Self {
        Self { disk_sectors: SMALL_DISK, entries, entry_count: 128, edit_primary: Box::new(|_| {}), edit_backup: Box::new(|_| {}) }
    }

    pub(crate) fn janus() -> Self {
        Self::new(janus_entries())
    }

    pub(crate) fn edit_primary(mut self, edit: impl Fn(&mut GptHeader) + 'static) -> Self {
        self.edit_primary = Box::new(edit);
        self
    }

    pub(crate) fn edit_backup(mut self, edit: impl Fn(&mut GptHeader) + 'static) -> Self {
        self.edit_backup = Box::new(edit);
        self
    }

    pub(crate) fn build(&self) -> MemoryDisk {
        let mut memory = MemoryDisk::new(self.disk_sectors);
        let array_sectors = u64::from(self.entry_count) * 128 / SECTOR_SIZE;
        let last = self.disk_sectors - 1;
        let mut header = GptHeader {
            my_lba: LbaLe::from_u64(1),
            alternate_lba: LbaLe::from_u64(last),
            first_usable_lba: LbaLe::from_u64(2 + array_sectors),
            last_usable_lba: LbaLe::from_u64(last - array_sectors - 1),
            disk_guid: guid!("aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"),
            partition_entry_lba: LbaLe::from_u64(2),
            number_of_partition_entries: U32Le::from_u32(self.entry_count),
            ..GptHeader::default()
        };
        let layout = header.get_partition_entry_array_layout().unwrap();
        let mut storage = vec![0u8; (array_sectors * SECTOR_SIZE) as usize];
        let mut array = GptPartitionEntryArray::new(layout, BlockSize::BS_512, &mut storage).unwrap();
        for (index, built) in (0u32..).zip(&self.entries) {
            *array.get_partition_entry_mut(index).unwrap() = *built;
        }
        header.partition_entry_array_crc32 = array.calculate_crc32();
        let mut backup = GptHeader {
            my_lba: LbaLe::from_u64(last),
            alternate_lba: LbaLe::from_u64(1),
            partition_entry_lba: LbaLe::from_u64(last - array_sectors),
            ..header
        };
        (self.edit_primary)(&mut header);
        header.update_header_crc32();
        (self.edit_backup)(&mut backup);
        backup.update_header_crc32();

        let mut disk = Disk::new(&mut memory).unwrap();
        let mut block = [0u8; 512];
        disk.write_protective_mbr(&mut block).unwrap();
        disk.write_primary_gpt_header(&header, &mut block).unwrap();
        disk.write_gpt_partition_entry_array(&array).unwrap();
        array.set_start_lba(Lba(last - array_sectors));
        disk.write_gpt_partition_entry_array(&array).unwrap();
        disk.write_secondary_gpt_header(&backup, &mut block).unwrap();
        drop(disk);
        memory
    }
}

/// An MBR with one classic Linux (0x83) partition and no GPT.
pub(crate) fn mbr_only_sector(disk_sectors: u64) -> [u8; 512] {
    let mut mbr = MasterBootRecord::protective_mbr(disk_sectors);
    mbr.partitions[0].os_indicator = 0x83;
    mbr.partitions[0].starting_lba = U32Le::from_u32(2048);
    bytemuck::cast(mbr)
}

/// A temporary directory removed on drop.
pub(crate) struct TempDir(PathBuf);

impl TempDir {
    pub(crate) fn new(label: &str) -> Self {
        use std::sync::atomic::{AtomicU32, Ordering};
        static COUNT: AtomicU32 = AtomicU32::new(0);
        let path = std::env::temp_dir().join(format!("janus-disklayout-{label}-{}-{}", std::process::id(), COUNT.fetch_add(1, Ordering::Relaxed)));
        std::fs::create_dir_all(&path).unwrap();
        Self(path)
    }

    pub(crate) fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
