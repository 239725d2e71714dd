//! The key metadata in the `janus-meta` partition: two checksummed 4096-byte record slots, updated so a crash never loses the current record.
//!
//! # Layout
//!
//! The partition starts with two slots, each one 4096-byte block: slot 0 at
//! byte 0 (sectors 0–7), slot 1 at byte 4096 (sectors 8–15); see
//! [`SLOT_BYTE_OFFSETS`] and [`SLOT_FIRST_SECTORS`]. A slot holds one record,
//! all integers little-endian:
//!
//! | offset | size | field |
//! |-------:|-----:|-------|
//! | 0 | 8 | magic `JANUSMT1` |
//! | 8 | 4 | format version, [`FORMAT_VERSION`] |
//! | 12 | 4 | number of key slot entries that follow (≤ [`MAX_ENCODED_KEY_SLOTS`]) |
//! | 16 | 4 | size of one key slot entry, [`KEY_SLOT_ENTRY_SIZE`] |
//! | 20 | 4 | reserved, zero |
//! | 24 | 8 | sequence number |
//! | 32 | 8 | wipe counter |
//! | 40 | 8 | last accepted wipe command |
//! | 48 | 80 × n | key slot entries: state (0 empty, 1 AES-256-KW wrapped XTS-256 key, 2 provisioned in plaintext), 7 reserved zero bytes, 72 wrapped bytes (zero unless state 1) |
//! | … | | zero |
//! | 4064 | 32 | SHA-256 of bytes 0–4063 |
//!
//! The key slot table carries its own length, so a build with more
//! [`KEY_SLOTS`] reads an older record (missing entries are empty) and an
//! older build reads a newer record as long as the extra entries are empty:
//! adding a slot changes no byte of the format.
//!
//! A key slot belongs to one partition ([`WORK_KEY_SLOT`],
//! [`PERSONAL_KEY_SLOT`]) and records how it was provisioned at first use:
//! encrypted (its wrapped key) or in plaintext (state 2). The hypervisor
//! refuses to boot a manifest that asks for the other mode
//! ([`provision_partition`]): switching would make the data unreadable.
//! Only re-provisioning on the host clears a slot, and it destroys the data.
//! A build without state 2 refuses such a record (unknown state) instead of
//! misreading it.
//!
//! # Checksum: SHA-256
//!
//! The checksum only has to tell a complete record from a torn or garbled
//! one; the secrets in it are protected by AES key wrap, whose own integrity
//! check catches a wrong device key or altered wrapped bytes. SHA-256 rather
//! than CRC32C because a false accept here would hand the hypervisor a mixed
//! half-old, half-new record, and SHA-256 makes that chance negligible
//! (2⁻²⁵⁶ against CRC's 2⁻³² for garbage not shaped like a burst) while the
//! cost is irrelevant: one 4 KiB block at boot and per update. It is not a
//! MAC: someone who can write the raw flash can forge the counters (not the
//! keys) or replay an older record. Rollback protection against such an
//! attacker needs a monotonic counter in secure hardware (eMMC RPMB).
//!
//! # Crash consistency
//!
//! [`select`] decodes both slots and takes the valid record with the higher
//! sequence number (compared as serial numbers, RFC 1982, so the counter may
//! wrap). An update writes the new record, with sequence + 1, to the *other*
//! slot ([`Selection::next_slot`]) and then flushes. A write torn at any
//! point leaves that slot with a bad checksum (or, torn before its first
//! sector, untouched), so the previous record still wins; once the flush
//! returns, the new record wins. At no point is there no valid record.
//!
//! Destroying a key (the remote wipe) must also remove the old record, which
//! still holds the wrapped key: [`plan_wipe`] (and [`plan_commit`] in
//! general) returns two writes, the new record to the next slot, flush, then
//! a copy with sequence + 2 over the older slot, flush. After both, neither
//! slot holds the old wrapped key. If the machine stops between the two, the
//! next boot's [`Selection::other_slot_needs_rewrite`] says so (the older
//! slot still holds a key the current record does not, or is torn) and
//! [`plan_scrub`] finishes the job. Caveat: overwriting a block on managed
//! flash (eMMC, UFS, SSD) does not guarantee the old physical page is erased;
//! the wrapped key is only as dead as the device key is secret, unless the
//! board also issues a secure trim/sanitize.
//!
//! First boot writes both slots too (both carry the new key), so a formatted
//! partition never has a blank slot. A blank slot beside a corrupt one can
//! therefore only be a first format that was interrupted before its first
//! flush, before the key was ever used: [`select`] reports it as unformatted.

use core::fmt;

use sha2::{Digest, Sha256};

use crate::keys::{WRAPPED_KEY_SIZE, WrappedKey};

mod plan;

pub use plan::{
    CommitPlan, PartitionMode, PartitionProvisioned, PlannedWrite, ProvisionError, Provisioned, plan_commit, plan_reprovision, plan_scrub, plan_wipe,
    provision_or_load, provision_partition,
};

/// Size of one metadata slot.
pub const META_BLOCK_SIZE: usize = 4096;
/// Number of slots.
pub const META_SLOTS: usize = 2;
/// Byte offset of each slot from the start of the `janus-meta` partition.
pub const SLOT_BYTE_OFFSETS: [u64; META_SLOTS] = [0, META_BLOCK_SIZE as u64];
/// 512-byte sectors per slot.
pub const SECTORS_PER_SLOT: u64 = (META_BLOCK_SIZE / crate::SECTOR_SIZE) as u64;
/// First 512-byte sector of each slot, relative to the partition.
pub const SLOT_FIRST_SECTORS: [u64; META_SLOTS] = [0, SECTORS_PER_SLOT];
/// The smallest `janus-meta` partition that holds both slots.
pub const META_PARTITION_MIN_SIZE: u64 = (META_SLOTS * META_BLOCK_SIZE) as u64;

/// The record's first eight bytes.
pub const MAGIC: [u8; 8] = *b"JANUSMT1";
/// The layout this crate writes and reads.
pub const FORMAT_VERSION: u32 = 1;
/// Key slots a record has in this build.
pub const KEY_SLOTS: usize = 4;
/// The work personality's disk key.
pub const WORK_KEY_SLOT: usize = 0;
/// Reserved for the personal personality's disk, should it be encrypted.
pub const PERSONAL_KEY_SLOT: usize = 1;
/// Bytes per encoded key slot entry.
pub const KEY_SLOT_ENTRY_SIZE: usize = 8 + WRAPPED_KEY_SIZE;
/// The most key slot entries a block has room for.
pub const MAX_ENCODED_KEY_SLOTS: usize = (CHECKSUM_OFFSET - ENTRIES_OFFSET) / KEY_SLOT_ENTRY_SIZE;

const VERSION_OFFSET: usize = 8;
const COUNT_OFFSET: usize = 12;
const ENTRY_SIZE_OFFSET: usize = 16;
const SEQUENCE_OFFSET: usize = 24;
const WIPE_COUNTER_OFFSET: usize = 32;
const LAST_WIPE_COMMAND_OFFSET: usize = 40;
const ENTRIES_OFFSET: usize = 48;
const CHECKSUM_OFFSET: usize = META_BLOCK_SIZE - 32;

const ENTRY_EMPTY: u8 = 0;
const ENTRY_AES256_KW_XTS256: u8 = 1;
const ENTRY_PLAINTEXT: u8 = 2;

/// One metadata record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetaRecord {
    /// Orders the two slots; the planning functions set it.
    pub sequence: u64,
    /// Wrapped data key per key slot ([`WORK_KEY_SLOT`], [`PERSONAL_KEY_SLOT`],
    /// spares), or `None`: never provisioned, or wiped.
    pub key_slots: [Option<WrappedKey>; KEY_SLOTS],
    /// Per key slot: its partition was provisioned in plaintext (never
    /// together with a wrapped key in the same slot).
    pub plaintext: [bool; KEY_SLOTS],
    /// How many times a key was wiped; only ever increases.
    pub wipe_counter: u64,
    /// Highest accepted wipe-command sequence number (replay protection).
    pub last_wipe_command: u64,
}

impl MetaRecord {
    /// A record with no keys and zero counters.
    pub const fn empty() -> Self {
        Self { sequence: 0, key_slots: [None; KEY_SLOTS], plaintext: [false; KEY_SLOTS], wipe_counter: 0, last_wipe_command: 0 }
    }

    /// How the partition of `key_slot` was provisioned, if it was.
    pub fn mode(&self, key_slot: usize) -> Option<plan::PartitionMode> {
        if self.key_slots.get(key_slot).copied().flatten().is_some() {
            Some(plan::PartitionMode::Encrypted)
        } else if self.plaintext.get(key_slot).copied().unwrap_or(false) {
            Some(plan::PartitionMode::Plaintext)
        } else {
            None
        }
    }
}

/// Why a slot holds no usable record, or why a plan cannot be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetaError {
    /// All zero or all `0xff` bytes: never written (or erased).
    Blank,
    /// The first eight bytes are not [`MAGIC`]: not a Janus record.
    BadMagic,
    /// The checksum does not match: a torn or garbled write.
    BadChecksum,
    /// A format version this build does not read.
    UnsupportedVersion {
        /// The version found.
        version: u32,
    },
    /// Checksummed, but the key slot table's shape is wrong or a reserved
    /// byte is not zero.
    BadLayout,
    /// A key slot entry has a state this build does not know.
    UnknownKeySlotState {
        /// Index of the entry.
        slot: usize,
        /// Its state byte.
        state: u8,
    },
    /// The record holds a key in a slot beyond this build's [`KEY_SLOTS`].
    KeySlotBeyondCapacity {
        /// Index of the entry.
        slot: usize,
    },
    /// Neither slot holds a valid record and they are not blank: the
    /// metadata is lost. Decode each slot for the reasons.
    NoValidRecord,
    /// The operation needs a current record and the partition is unformatted.
    Unformatted,
    /// A key slot index of [`KEY_SLOTS`] or more.
    NoSuchKeySlot {
        /// The index asked for.
        slot: usize,
    },
    /// The wipe counter is at `u64::MAX`.
    WipeCounterExhausted,
}

impl fmt::Display for MetaError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Blank => formatter.write_str("metadata slot is blank (never written)"),
            Self::BadMagic => formatter.write_str("metadata slot does not start with JANUSMT1"),
            Self::BadChecksum => formatter.write_str("metadata slot checksum mismatch (torn or garbled write)"),
            Self::UnsupportedVersion { version } => {
                write!(formatter, "metadata format version {version} is not supported")
            }
            Self::BadLayout => formatter.write_str("metadata key slot table is malformed"),
            Self::UnknownKeySlotState { slot, state } => {
                write!(formatter, "metadata key slot {slot} has unknown state {state}")
            }
            Self::KeySlotBeyondCapacity { slot } => write!(formatter, "metadata key slot {slot} holds a key but this build has {KEY_SLOTS} slots"),
            Self::NoValidRecord => formatter.write_str("neither metadata slot holds a valid record"),
            Self::Unformatted => formatter.write_str("metadata partition is not formatted"),
            Self::NoSuchKeySlot { slot } => {
                write!(formatter, "key slot {slot} does not exist (there are {KEY_SLOTS})")
            }
            Self::WipeCounterExhausted => formatter.write_str("wipe counter is exhausted"),
        }
    }
}

impl core::error::Error for MetaError {}

/// Writes `bytes` at `offset` of `block`; offsets are this module's constants.
fn put(block: &mut [u8; META_BLOCK_SIZE], offset: usize, bytes: &[u8]) {
    if let Some(target) = block.get_mut(offset..offset.saturating_add(bytes.len())) {
        target.copy_from_slice(bytes);
    }
}

/// Reads `N` bytes at `offset` of `block` (zeros if out of range, which the
/// constants rule out).
fn take<const N: usize>(block: &[u8; META_BLOCK_SIZE], offset: usize) -> [u8; N] {
    let mut bytes = [0; N];
    if let Some(source) = block.get(offset..offset.saturating_add(N)) {
        bytes.copy_from_slice(source);
    }
    bytes
}

fn checksum(block: &[u8; META_BLOCK_SIZE]) -> [u8; 32] {
    Sha256::digest(block.get(..CHECKSUM_OFFSET).unwrap_or_default()).into()
}

/// Encodes `record` into `block` (every byte of `block` is written).
pub fn encode(record: &MetaRecord, block: &mut [u8; META_BLOCK_SIZE]) {
    block.fill(0);
    put(block, 0, &MAGIC);
    put(block, VERSION_OFFSET, &FORMAT_VERSION.to_le_bytes());
    put(block, COUNT_OFFSET, &(KEY_SLOTS as u32).to_le_bytes());
    put(block, ENTRY_SIZE_OFFSET, &(KEY_SLOT_ENTRY_SIZE as u32).to_le_bytes());
    put(block, SEQUENCE_OFFSET, &record.sequence.to_le_bytes());
    put(block, WIPE_COUNTER_OFFSET, &record.wipe_counter.to_le_bytes());
    put(block, LAST_WIPE_COMMAND_OFFSET, &record.last_wipe_command.to_le_bytes());
    let entries = block.get_mut(ENTRIES_OFFSET..CHECKSUM_OFFSET).unwrap_or_default().chunks_exact_mut(KEY_SLOT_ENTRY_SIZE);
    for ((entry, slot), plaintext) in entries.zip(&record.key_slots).zip(&record.plaintext) {
        let Some((state, rest)) = entry.split_first_mut() else {
            continue;
        };
        if let Some(wrapped) = slot {
            *state = ENTRY_AES256_KW_XTS256;
            if let Some(target) = rest.get_mut(7..) {
                target.copy_from_slice(&wrapped.0);
            }
        } else if *plaintext {
            *state = ENTRY_PLAINTEXT;
        }
    }
    let sum = checksum(block);
    put(block, CHECKSUM_OFFSET, &sum);
}

/// Decodes one slot. Checks, in order: blank, magic, checksum, version, key
/// slot table.
pub fn decode(block: &[u8; META_BLOCK_SIZE]) -> Result<MetaRecord, MetaError> {
    if block.iter().all(|byte| *byte == 0) || block.iter().all(|byte| *byte == 0xff) {
        return Err(MetaError::Blank);
    }
    if take::<8>(block, 0) != MAGIC {
        return Err(MetaError::BadMagic);
    }
    if take::<32>(block, CHECKSUM_OFFSET) != checksum(block) {
        return Err(MetaError::BadChecksum);
    }
    let version = u32::from_le_bytes(take(block, VERSION_OFFSET));
    if version != FORMAT_VERSION {
        return Err(MetaError::UnsupportedVersion { version });
    }
    let count = usize::try_from(u32::from_le_bytes(take(block, COUNT_OFFSET))).map_err(|_| MetaError::BadLayout)?;
    let entry_size = u32::from_le_bytes(take(block, ENTRY_SIZE_OFFSET));
    let reserved = u32::from_le_bytes(take(block, 20));
    if count > MAX_ENCODED_KEY_SLOTS || entry_size as usize != KEY_SLOT_ENTRY_SIZE || reserved != 0 {
        return Err(MetaError::BadLayout);
    }
    let table_end = ENTRIES_OFFSET + count * KEY_SLOT_ENTRY_SIZE;
    let (table, padding) = block.get(ENTRIES_OFFSET..CHECKSUM_OFFSET).unwrap_or_default().split_at(table_end - ENTRIES_OFFSET);
    if padding.iter().any(|byte| *byte != 0) {
        return Err(MetaError::BadLayout);
    }
    let mut record = MetaRecord {
        sequence: u64::from_le_bytes(take(block, SEQUENCE_OFFSET)),
        key_slots: [None; KEY_SLOTS],
        plaintext: [false; KEY_SLOTS],
        wipe_counter: u64::from_le_bytes(take(block, WIPE_COUNTER_OFFSET)),
        last_wipe_command: u64::from_le_bytes(take(block, LAST_WIPE_COMMAND_OFFSET)),
    };
    for (slot, entry) in table.chunks_exact(KEY_SLOT_ENTRY_SIZE).enumerate() {
        let (state, rest) = entry.split_first().ok_or(MetaError::BadLayout)?;
        let (reserved, wrapped) = rest.split_at_checked(7).ok_or(MetaError::BadLayout)?;
        if reserved.iter().any(|byte| *byte != 0) {
            return Err(MetaError::BadLayout);
        }
        let blank = wrapped.iter().all(|byte| *byte == 0);
        let key = match *state {
            ENTRY_EMPTY if blank => None,
            ENTRY_PLAINTEXT if blank => {
                match record.plaintext.get_mut(slot) {
                    Some(target) => *target = true,
                    None => return Err(MetaError::KeySlotBeyondCapacity { slot }),
                }
                None
            }
            ENTRY_EMPTY | ENTRY_PLAINTEXT => return Err(MetaError::BadLayout),
            ENTRY_AES256_KW_XTS256 => Some(WrappedKey(wrapped.try_into().map_err(|_| MetaError::BadLayout)?)),
            state => return Err(MetaError::UnknownKeySlotState { slot, state }),
        };
        match (record.key_slots.get_mut(slot), key) {
            (Some(target), key) => *target = key,
            (None, None) => {}
            (None, Some(_)) => return Err(MetaError::KeySlotBeyondCapacity { slot }),
        }
    }
    Ok(record)
}

/// Which record is current and where the next one goes; the result of
/// [`select`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    /// The current record, or `None`: the partition is unformatted.
    pub current: Option<MetaRecord>,
    /// The slot holding `current`.
    pub current_slot: Option<usize>,
    /// The slot the next record must be written to: never `current_slot`.
    pub next_slot: usize,
    /// The sequence number the next record gets.
    pub next_sequence: u64,
    /// The slot that is not current is blank, torn, or still holds a wrapped
    /// key the current record does not (an interrupted wipe): rewrite it with
    /// [`plan_scrub`] before anything else.
    pub other_slot_needs_rewrite: bool,
}

/// `true` if serial number `a` is after `b` (RFC 1982 with 64 bits).
fn newer(a: u64, b: u64) -> bool {
    a.wrapping_sub(b).cast_signed() > 0
}

/// `true` if `other` holds a wrapped key that `current` does not.
fn lingering_key(current: &MetaRecord, other: &MetaRecord) -> bool {
    other.key_slots.iter().zip(&current.key_slots).any(|(old, new)| old.is_some() && old != new)
}

/// Picks the current record from both slots as read from disk.
///
/// - Both valid: the higher sequence number (RFC 1982 serial comparison;
///   equal numbers, which the protocol never writes, pick slot 0).
/// - One valid: that one, whatever the other holds.
/// - Both blank, or one blank and one invalid (a first format torn before
///   its first flush): unformatted, `current == None`.
/// - Otherwise: [`MetaError::NoValidRecord`].
pub fn select(slot0: &[u8; META_BLOCK_SIZE], slot1: &[u8; META_BLOCK_SIZE]) -> Result<Selection, MetaError> {
    let first = decode(slot0);
    let second = decode(slot1);
    let (current_slot, current, other) = match (first, second) {
        (Ok(zero), Ok(one)) if newer(one.sequence, zero.sequence) => (1, one, Ok(zero)),
        (Ok(zero), other) => (0, zero, other),
        (other, Ok(one)) => (1, one, other),
        (Err(MetaError::Blank), Err(_)) | (Err(_), Err(MetaError::Blank)) => {
            return Ok(Selection { current: None, current_slot: None, next_slot: 0, next_sequence: 1, other_slot_needs_rewrite: false });
        }
        (Err(_), Err(_)) => return Err(MetaError::NoValidRecord),
    };
    let other_slot_needs_rewrite = match &other {
        Ok(older) => lingering_key(&current, older),
        Err(_) => true,
    };
    Ok(Selection {
        next_slot: 1 - current_slot,
        next_sequence: current.sequence.wrapping_add(1),
        current_slot: Some(current_slot),
        current: Some(current),
        other_slot_needs_rewrite,
    })
}

#[cfg(test)]
mod tests;
