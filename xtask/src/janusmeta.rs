//! `janus-meta` on the host: which partitions of a disk image have been
//! provisioned (and hold keys wrapped under a device key), and
//! re-provisioning one, the only way to change a partition's mode, which
//! destroys its data.

use std::io::{Seek, SeekFrom, Write};
use std::path::Path;
#[cfg(test)]
use std::path::PathBuf;

use anyhow::{Context, Result, anyhow, bail};
use janus_diskcrypt::{META_BLOCK_SIZE, SLOT_BYTE_OFFSETS, Selection};
use janus_disklayout::Layout;
use janus_manifest::DiskPartition;

/// The current `janus-meta` record of the disk image at `disk`.
pub fn selection(disk: &Path, layout: &Layout) -> Result<Selection> {
    let bytes = janus_disklayout::read_partition_range(disk, &layout.meta, 0, 2 * META_BLOCK_SIZE as u64).map_err(|error| anyhow!("{error}"))?;
    let slot = |index: usize| -> Result<[u8; META_BLOCK_SIZE]> {
        let start = index * META_BLOCK_SIZE;
        bytes
            .get(start..start + META_BLOCK_SIZE)
            .and_then(|block| block.try_into().ok())
            .ok_or_else(|| anyhow!("janus-meta of {} is shorter than its two slots", disk.display()))
    };
    janus_diskcrypt::select(&slot(0)?, &slot(1)?).map_err(|error| anyhow!("janus-meta of {}: {error}", disk.display()))
}

/// The partitions of `disk` whose data keys `janus-meta` holds wrapped
/// under a device key (the key is needed to read them).
pub fn encrypted_partitions(disk: &Path, layout: &Layout) -> Result<Vec<DiskPartition>> {
    let selection = selection(disk, layout)?;
    Ok([DiskPartition::Personal, DiskPartition::Work]
        .into_iter()
        .filter(|partition| selection.current.as_ref().and_then(|record| record.mode(key_slot(*partition))) == Some(janus_diskcrypt::PartitionMode::Encrypted))
        .collect())
}

/// The `janus-meta` key slot of `partition`.
pub fn key_slot(partition: DiskPartition) -> usize {
    match partition {
        DiskPartition::Personal => janus_diskcrypt::PERSONAL_KEY_SLOT,
        DiskPartition::Work => janus_diskcrypt::WORK_KEY_SLOT,
    }
}

/// Re-provisions `partition` of the disk image at `disk`: forgets its mode
/// and key in `janus-meta` (both slots, each write synced) and then zeroes
/// the partition, so the next boot provisions it afresh in whatever mode
/// the manifest asks and its `/init` formats it. Destroys its data, so it
/// refuses unless `destroy_data`.
pub fn reprovision(disk: &Path, partition: DiskPartition, destroy_data: bool) -> Result<()> {
    let name = partition.name();
    if !destroy_data {
        bail!(
            "re-provisioning partition {name} of {} destroys all of its data (its key and mode are forgotten and \
             the partition is zeroed); nothing was changed. Fix: run `cargo xtask reprovision {name} --destroy-data` \
             if that is what you want",
            disk.display()
        );
    }
    let layout = janus_disklayout::check_image(disk).map_err(|error| anyhow!("{error}"))?;
    let target = layout.partition(match partition {
        DiskPartition::Personal => janus_disklayout::PartitionKind::Personal,
        DiskPartition::Work => janus_disklayout::PartitionKind::Work,
    });
    let selection = selection(disk, &layout)?;
    if selection.current.is_some() {
        let plan = janus_diskcrypt::plan_reprovision(&selection, key_slot(partition)).map_err(|error| anyhow!("janus-meta of {}: {error}", disk.display()))?;
        for write in &plan.writes {
            let mut block = [0u8; META_BLOCK_SIZE];
            write.encode(&mut block);
            let offset = SLOT_BYTE_OFFSETS.get(write.slot).copied().unwrap_or(0);
            janus_disklayout::write_partition_range(disk, &layout.meta, offset, &block).map_err(|error| anyhow!("{error}"))?;
        }
    }
    zero_partition(disk, &target).with_context(|| format!("zeroing partition {name} of {}", disk.display()))?;
    println!(
        "xtask: re-provisioned partition {name} of {}: its data is gone; the next boot provisions it in the mode the \
         manifest asks and formats it",
        disk.display()
    );
    Ok(())
}

/// Writes zeros over every sector of `partition` and syncs.
fn zero_partition(disk: &Path, partition: &janus_disklayout::Partition) -> Result<()> {
    const CHUNK: u64 = 1 << 20;
    let start = partition.byte_offset().ok_or_else(|| anyhow!("the partition starts past 2^64 bytes"))?;
    let length = partition.sectors.saturating_mul(janus_disklayout::SECTOR_SIZE);
    let mut file = std::fs::OpenOptions::new().write(true).open(disk)?;
    file.seek(SeekFrom::Start(start))?;
    let zeros = vec![0u8; CHUNK as usize];
    let mut done = 0;
    while done < length {
        let step = CHUNK.min(length - done);
        file.write_all(zeros.get(..step as usize).unwrap_or_default())?;
        done += step;
    }
    file.sync_all()?;
    Ok(())
}

/// A Janus disk image in `directory` whose janus-meta records the work
/// partition encrypted (a key wrapped under some device key) and personal
/// in plaintext.
#[cfg(test)]
pub(crate) fn disk_with_a_wrapped_key(directory: &Path) -> PathBuf {
    let disk = directory.join("disk.img");
    let layout = janus_disklayout::create_image(&disk, &janus_disklayout::Sizes::default()).unwrap();
    let device = janus_diskcrypt::DeviceKey::from_bytes(core::array::from_fn(|index| index as u8 + 7)).unwrap();
    for (slot, mode) in [
        (janus_diskcrypt::WORK_KEY_SLOT, janus_diskcrypt::PartitionMode::Encrypted),
        (janus_diskcrypt::PERSONAL_KEY_SLOT, janus_diskcrypt::PartitionMode::Plaintext),
    ] {
        let selection = crate::janusmeta::selection(&disk, &layout).unwrap();
        let outcome =
            janus_diskcrypt::provision_partition(&selection, Some(&device), slot, mode, true, || core::array::from_fn(|index| index as u8 + 1)).unwrap();
        for write in outcome.writes.iter().flatten() {
            let mut block = [0u8; janus_diskcrypt::META_BLOCK_SIZE];
            write.encode(&mut block);
            janus_disklayout::write_partition_range(&disk, &layout.meta, write.byte_offset(), &block).unwrap();
        }
    }
    disk
}

#[cfg(test)]
mod tests {
    use janus_disklayout::PartitionKind;

    use super::*;

    #[test]
    fn reprovisioning_needs_the_flag_then_forgets_the_mode_and_zeroes_only_that_partition() {
        let directory = std::env::temp_dir().join(format!("janus-janusmeta-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&directory);
        std::fs::create_dir_all(&directory).unwrap();
        let disk = disk_with_a_wrapped_key(&directory);
        let layout = janus_disklayout::check_image(&disk).unwrap();
        for kind in [PartitionKind::Personal, PartitionKind::Work] {
            janus_disklayout::write_partition_range(&disk, &layout.partition(kind), 4096, b"KEEPME").unwrap();
        }
        assert_eq!(encrypted_partitions(&disk, &layout).unwrap(), [DiskPartition::Work]);

        let before = std::fs::read(&disk).unwrap();
        let error = format!("{:#}", reprovision(&disk, DiskPartition::Personal, false).unwrap_err());
        assert!(error.contains("destroys all of its data"), "{error}");
        assert!(error.contains("nothing was changed. Fix: run `cargo xtask reprovision personal --destroy-data`"), "{error}");
        assert!(std::fs::read(&disk).unwrap() == before, "refused, so nothing may change");

        reprovision(&disk, DiskPartition::Personal, true).unwrap();
        let current = selection(&disk, &layout).unwrap().current.unwrap();
        assert_eq!(current.mode(janus_diskcrypt::PERSONAL_KEY_SLOT), None);
        assert_eq!(current.mode(janus_diskcrypt::WORK_KEY_SLOT), Some(janus_diskcrypt::PartitionMode::Encrypted));
        let personal = janus_disklayout::read_partition(&disk, &layout.personal).unwrap();
        assert!(personal.iter().all(|&byte| byte == 0), "personal's data must be gone");
        let work = janus_disklayout::read_partition_range(&disk, &layout.work, 4096, 6).unwrap();
        assert_eq!(work, b"KEEPME", "work's partition must not be touched");

        reprovision(&disk, DiskPartition::Work, true).unwrap();
        assert!(encrypted_partitions(&disk, &layout).unwrap().is_empty());
        let meta = janus_disklayout::read_partition_range(&disk, &layout.meta, 0, 8192).unwrap();
        let wrapped = selection(&disk, &layout).unwrap();
        assert!(wrapped.current.unwrap().key_slots.iter().all(Option::is_none));
        assert!(!meta.is_empty());
        std::fs::remove_dir_all(directory).unwrap();
    }
}
