//! Fuzz target: arbitrary bytes as a small sparse disk through `read_layout`, which must never panic.
//!
//! Input format (missing bytes read as zero):
//!
//! * byte 0: flags. Bit 0 repairs the CRC32s of both GPT headers and their
//!   entry arrays before reading, so mutations get past the checksums and
//!   reach the partition checks.
//! * bytes 1..9: the disk size in sectors (u64 little-endian).
//! * then records of a 4-byte little-endian position and up to 512 bytes of
//!   sector contents. A position with the top bit set counts back from the
//!   last sector (0x8000_0000 is the last sector); otherwise it is the LBA.
//!   Sectors no record names read as zeros.
//!
//! Whatever `read_layout` accepts must be sound: partitions inside the disk,
//! at least their minimum size, not overlapping.
#![no_main]

use std::collections::HashMap;

use gpt_disk_types::{Crc32, GptHeader, U32Le};
use janus_disklayout::{MAX_ENTRY_ARRAY_BYTES, read_layout};
use libfuzzer_sys::fuzz_target;

/// Bytes of a record: position plus one sector.
const RECORD: usize = 4 + 512;

struct Disk {
    sectors: HashMap<u64, [u8; 512]>,
    disk_sectors: u64,
}

impl Disk {
    fn parse(bytes: &[u8]) -> (Self, bool) {
        let flags = bytes.first().copied().unwrap_or(0);
        let mut size = [0u8; 8];
        for (target, source) in size.iter_mut().zip(bytes.iter().skip(1)) {
            *target = *source;
        }
        let disk_sectors = u64::from_le_bytes(size);
        let mut sectors = HashMap::new();
        for record in bytes.get(9..).unwrap_or(&[]).chunks(RECORD) {
            let mut position = [0u8; 4];
            for (target, source) in position.iter_mut().zip(record) {
                *target = *source;
            }
            let position = u32::from_le_bytes(position);
            let lba = if position & 0x8000_0000 != 0 {
                disk_sectors.saturating_sub(1).saturating_sub(u64::from(position & 0x7fff_ffff))
            } else {
                u64::from(position)
            };
            let mut sector = [0u8; 512];
            for (target, source) in sector.iter_mut().zip(record.iter().skip(4)) {
                *target = *source;
            }
            sectors.insert(lba, sector);
        }
        (Self { sectors, disk_sectors }, flags & 1 != 0)
    }

    fn sector(&self, lba: u64) -> [u8; 512] {
        self.sectors.get(&lba).copied().unwrap_or([0; 512])
    }

    /// Rewrites the entry array CRC32 and the header CRC32 of the header at
    /// `lba`, if it looks like a header with a bounded array.
    fn repair_header(&mut self, lba: u64) {
        let Some(sector) = self.sectors.get(&lba).copied() else {
            return;
        };
        let mut header: GptHeader = bytemuck::pod_read_unaligned(&sector[..92]);
        let entries = u64::from(header.number_of_partition_entries.to_u32());
        let entry_size = u64::from(header.size_of_partition_entry.to_u32());
        let bytes = entries * entry_size;
        if bytes <= MAX_ENTRY_ARRAY_BYTES {
            let crc = gpt_disk_types::crc::Crc::<u32>::new(&Crc32::ALGORITHM);
            let mut digest = crc.digest();
            let mut remaining = bytes;
            let mut array_lba = header.partition_entry_lba.to_u64();
            while remaining > 0 {
                let take = remaining.min(512) as usize;
                digest.update(&self.sector(array_lba)[..take]);
                remaining -= take as u64;
                array_lba = array_lba.wrapping_add(1);
            }
            header.partition_entry_array_crc32 = Crc32(U32Le(digest.finalize().to_le_bytes()));
        }
        header.update_header_crc32();
        let mut repaired = sector;
        repaired[..92].copy_from_slice(bytemuck::bytes_of(&header));
        self.sectors.insert(lba, repaired);
    }
}

fuzz_target!(|bytes: &[u8]| {
    let (mut disk, repair) = Disk::parse(bytes);
    if repair {
        disk.repair_header(1);
        disk.repair_header(disk.disk_sectors.saturating_sub(1));
    }
    let result = read_layout(disk.disk_sectors, |lba, buffer: &mut [u8; 512]| {
        assert!(lba < disk.disk_sectors, "read past the end of the disk: {lba}");
        *buffer = disk.sector(lba);
        Ok::<(), ()>(())
    });
    if let Ok(layout) = result {
        let partitions = layout.partitions();
        for (index, (kind, partition)) in partitions.iter().enumerate() {
            assert!(partition.sectors >= kind.minimum_sectors());
            assert!(partition.first_lba >= 2);
            assert!(partition.end_lba().is_some_and(|end| end < disk.disk_sectors));
            for (_, other) in partitions.iter().skip(index + 1) {
                assert!(!partition.overlaps(other));
            }
        }
    }
});
