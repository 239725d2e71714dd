//! Planning metadata writes: two-step commits, wipes, scrubs, and boot-time provisioning.

use core::fmt;

use super::{KEY_SLOTS, META_BLOCK_SIZE, MetaError, MetaRecord, SLOT_BYTE_OFFSETS, Selection, encode};
use crate::keys::{self, DataKey, DeviceKey, KeyError};

/// One block to write: encode `record` into slot `slot`, write it, flush.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedWrite {
    /// Slot 0 or 1.
    pub slot: usize,
    /// The record, sequence number set.
    pub record: MetaRecord,
}

impl PlannedWrite {
    /// Byte offset of the slot in the `janus-meta` partition.
    pub fn byte_offset(&self) -> u64 {
        if self.slot == 0 { SLOT_BYTE_OFFSETS[0] } else { SLOT_BYTE_OFFSETS[1] }
    }

    /// First 512-byte sector of the slot in the `janus-meta` partition.
    pub fn first_sector(&self) -> u64 {
        self.byte_offset() / crate::SECTOR_SIZE as u64
    }

    /// The block to write.
    pub fn encode(&self, block: &mut [u8; META_BLOCK_SIZE]) {
        encode(&self.record, block);
    }
}

/// Two writes, in order, each followed by a flush; after both, both slots
/// hold `record` (with consecutive sequence numbers) and nothing else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitPlan {
    /// First the next slot, then the other one.
    pub writes: [PlannedWrite; 2],
}

/// Plans writing `record` to both slots: sequence `next_sequence` to the next
/// slot, then `next_sequence + 1` to the other. Use it for every change that
/// removes or replaces a wrapped key, so no copy of the old one survives.
pub fn plan_commit(selection: &Selection, record: &MetaRecord) -> CommitPlan {
    let first = selection.next_slot;
    let sequence = selection.next_sequence;
    let write = |slot, sequence| PlannedWrite { slot, record: MetaRecord { sequence, ..record.clone() } };
    CommitPlan { writes: [write(first, sequence), write(1 - first.min(1), sequence.wrapping_add(1))] }
}

/// Plans destroying the key in `key_slot` (the remote wipe): both slots end
/// up without it, and the wipe counter goes up by one. Drop the in-memory
/// [`DataKey`] and [`SectorCipher`](crate::SectorCipher) before the first
/// write; the key is gone from the disk once the second write is flushed.
pub fn plan_wipe(selection: &Selection, key_slot: usize) -> Result<CommitPlan, MetaError> {
    let mut record = without_key(selection, key_slot)?;
    record.wipe_counter = record.wipe_counter.checked_add(1).ok_or(MetaError::WipeCounterExhausted)?;
    Ok(plan_commit(selection, &record))
}

/// The current record with key slot `key_slot` emptied.
fn without_key(selection: &Selection, key_slot: usize) -> Result<MetaRecord, MetaError> {
    let current = selection.current.as_ref().ok_or(MetaError::Unformatted)?;
    let mut record = current.clone();
    *record.key_slots.get_mut(key_slot).ok_or(MetaError::NoSuchKeySlot { slot: key_slot })? = None;
    Ok(record)
}

/// If [`Selection::other_slot_needs_rewrite`], the write that copies the
/// current record over the other slot (finishing an interrupted wipe or
/// commit).
pub fn plan_scrub(selection: &Selection) -> Option<PlannedWrite> {
    match (&selection.current, selection.other_slot_needs_rewrite) {
        (Some(current), true) => Some(PlannedWrite { slot: selection.next_slot, record: MetaRecord { sequence: selection.next_sequence, ..current.clone() } }),
        _ => None,
    }
}

/// How a partition keeps its data, as `janus-meta` records it at first use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartitionMode {
    /// In plaintext.
    Plaintext,
    /// AES-XTS-256 under a data key wrapped in the key slot.
    Encrypted,
}

impl fmt::Display for PartitionMode {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(match self {
            Self::Plaintext => "not encrypted",
            Self::Encrypted => "encrypted",
        })
    }
}

/// Why [`provision_or_load`] or [`provision_partition`] gave no key.
/// Nothing is to be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProvisionError {
    /// The stored key did not unwrap (wrong device key, tampering), or the
    /// random bytes were refused.
    Key(KeyError),
    /// The key slot index is out of range.
    Meta(MetaError),
    /// The partition was provisioned in one mode and is asked for the
    /// other: its data would be unreadable (and reformatted).
    ModeMismatch {
        /// What `janus-meta` records.
        recorded: PartitionMode,
        /// What the caller asks for.
        requested: PartitionMode,
    },
    /// The partition is asked to be encrypted, `janus-meta` records no mode
    /// for it, and it is not blank: it holds data from before modes were
    /// recorded, which encrypting would destroy.
    UnrecordedData,
    /// An encrypted partition and no device key.
    NoDeviceKey,
}

impl fmt::Display for ProvisionError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Key(error) => write!(formatter, "disk key: {error}"),
            Self::Meta(error) => write!(formatter, "disk key metadata: {error}"),
            Self::ModeMismatch { recorded, requested } => write!(formatter, "janus-meta records it as {recorded}, the manifest asks for {requested}"),
            Self::UnrecordedData => formatter.write_str("it holds data and janus-meta records no mode for it, the manifest asks for encrypted"),
            Self::NoDeviceKey => formatter.write_str("it is encrypted and there is no device key"),
        }
    }
}

impl core::error::Error for ProvisionError {}

impl From<KeyError> for ProvisionError {
    fn from(error: KeyError) -> Self {
        Self::Key(error)
    }
}

impl From<MetaError> for ProvisionError {
    fn from(error: MetaError) -> Self {
        Self::Meta(error)
    }
}

/// The outcome of [`provision_or_load`].
// `Created` carries two records (about 700 bytes) and there is no allocator
// to box them into; the value is built once per boot and moved once.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Provisioned {
    /// The existing key, unwrapped.
    Loaded {
        /// The partition's data key.
        key: DataKey,
        /// A pending [`plan_scrub`] write, if the other slot needs it.
        scrub: Option<PlannedWrite>,
    },
    /// No key existed (first boot, or after a wipe): a new one, and the
    /// writes that record it. Carry out `plan` (write, flush, write, flush)
    /// before the partition is written with `key`; the old contents of the
    /// partition are noise under the new key.
    Created {
        /// The partition's new data key.
        key: DataKey,
        /// The metadata writes to carry out first.
        plan: CommitPlan,
    },
}

/// Boot-time key handling for one key slot: unwraps the stored key, or makes
/// a new one from `random` (called only then) and plans recording it.
///
/// A key that fails to unwrap is an error, never a reason to make a new key:
/// a wrong device key must not silently destroy the partition.
pub fn provision_or_load(selection: &Selection, device: &DeviceKey, key_slot: usize, random: impl FnOnce() -> [u8; 64]) -> Result<Provisioned, ProvisionError> {
    if key_slot >= KEY_SLOTS {
        return Err(MetaError::NoSuchKeySlot { slot: key_slot }.into());
    }
    let stored = selection.current.as_ref().and_then(|record| record.key_slots.get(key_slot).copied().flatten());
    if let Some(wrapped) = stored {
        return Ok(Provisioned::Loaded { key: keys::unwrap(device, &wrapped)?, scrub: plan_scrub(selection) });
    }
    let key = keys::new_data_key(random())?;
    let mut record = selection.current.clone().unwrap_or_else(MetaRecord::empty);
    if let Some(target) = record.key_slots.get_mut(key_slot) {
        *target = Some(keys::wrap(device, &key));
    }
    Ok(Provisioned::Created { plan: plan_commit(selection, &record), key })
}

/// The outcome of [`provision_partition`].
// As for `Provisioned`: built once per partition and boot, moved once.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub struct PartitionProvisioned {
    /// The data key of an encrypted partition.
    pub key: Option<DataKey>,
    /// Whether this boot provisioned the partition (recorded its mode): its
    /// contents are no file system yet and may be formatted.
    pub new: bool,
    /// The metadata writes to carry out (each written and flushed, in
    /// order) before the partition is used.
    pub writes: [Option<PlannedWrite>; 2],
}

/// Boot-time handling of one partition's key slot: checks the mode the
/// manifest asks for (`requested`) against the one recorded at first use,
/// then loads or makes the key ([`provision_or_load`]) or records the
/// plaintext mode. `blank` says whether the partition's first sectors are
/// all zero (freshly made or re-provisioned).
///
/// - Recorded mode differs from `requested`: [`ProvisionError::ModeMismatch`].
/// - Nothing recorded: the mode is recorded now and `new` is set, except
///   that a partition that is not blank is adopted as plaintext data from
///   before modes were recorded (not new), or refused for encryption
///   ([`ProvisionError::UnrecordedData`]).
pub fn provision_partition(
    selection: &Selection,
    device: Option<&DeviceKey>,
    key_slot: usize,
    requested: PartitionMode,
    blank: bool,
    random: impl FnOnce() -> [u8; 64],
) -> Result<PartitionProvisioned, ProvisionError> {
    if key_slot >= KEY_SLOTS {
        return Err(MetaError::NoSuchKeySlot { slot: key_slot }.into());
    }
    let recorded = selection.current.as_ref().and_then(|record| record.mode(key_slot));
    match (recorded, requested) {
        (Some(recorded), requested) if recorded != requested => Err(ProvisionError::ModeMismatch { recorded, requested }),
        (None, PartitionMode::Encrypted) if !blank => Err(ProvisionError::UnrecordedData),
        (_, PartitionMode::Encrypted) => {
            let device = device.ok_or(ProvisionError::NoDeviceKey)?;
            Ok(match provision_or_load(selection, device, key_slot, random)? {
                Provisioned::Loaded { key, scrub } => PartitionProvisioned { key: Some(key), new: false, writes: [scrub, None] },
                Provisioned::Created { key, plan } => {
                    let [first, second] = plan.writes;
                    PartitionProvisioned { key: Some(key), new: true, writes: [Some(first), Some(second)] }
                }
            })
        }
        (Some(_), PartitionMode::Plaintext) => Ok(PartitionProvisioned { key: None, new: false, writes: [plan_scrub(selection), None] }),
        (None, PartitionMode::Plaintext) => {
            let mut record = selection.current.clone().unwrap_or_else(MetaRecord::empty);
            if let Some(target) = record.plaintext.get_mut(key_slot) {
                *target = true;
            }
            let [first, second] = plan_commit(selection, &record).writes;
            Ok(PartitionProvisioned { key: None, new: blank, writes: [Some(first), Some(second)] })
        }
    }
}

/// Plans forgetting how the partition of `key_slot` was provisioned (its
/// wrapped key or its plaintext mark), so the next boot provisions it
/// afresh in whatever mode the manifest asks. Both slots end up without
/// the old key. The caller erases the partition's data as well: this is
/// the only way to change a partition's mode, and it destroys the data.
pub fn plan_reprovision(selection: &Selection, key_slot: usize) -> Result<CommitPlan, MetaError> {
    let mut record = without_key(selection, key_slot)?;
    if let Some(plaintext) = record.plaintext.get_mut(key_slot) {
        *plaintext = false;
    }
    Ok(plan_commit(selection, &record))
}
