//! Host-testable disk encryption and key handling: AES-XTS-256 sectors, wrapped data keys, crash-consistent key metadata.
//!
//! Three layers, each its own module:
//!
//! - [`sector`]: [`SectorCipher`] encrypts and decrypts whole 512-byte
//!   sectors with AES-XTS-256 (IEEE 1619-2007, NIST SP 800-38E), tweak =
//!   sector number as a 128-bit little-endian integer: dm-crypt's
//!   `aes-xts-plain64`, so `cryptsetup open --type plain --cipher
//!   aes-xts-plain64 --key-size 512` opens an extracted partition given the
//!   64-byte data key.
//! - [`keys`]: the 64-byte [`DataKey`] of one encrypted partition, the 32-byte
//!   [`DeviceKey`] only the hypervisor holds, and AES key wrap (RFC 3394, NIST
//!   SP 800-38F "KW") of the first under the second ([`wrap`], [`unwrap`]).
//! - [`round_keys`]: the same key expanded into the AES-256 round keys the
//!   ARMv8 Cryptography Extension instructions take ([`XtsRoundKeys`]), for
//!   the hypervisor's hardware XTS path on cores that have it; the software
//!   [`SectorCipher`] stays the fallback and the reference.
//! - [`meta`]: the two-slot, checksummed metadata record in the `janus-meta`
//!   partition that holds the wrapped keys, with the crash-consistency rules
//!   for updating it and for destroying a key (the remote wipe).
//!
//! Nothing here touches hardware: the caller reads and writes the blocks,
//! flushes, and supplies random bytes. Secrets are zeroized on drop and have
//! no `Debug` output that shows them.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

pub mod keys;
pub mod meta;
pub mod round_keys;
pub mod sector;
#[cfg(test)]
mod test_support;

pub use keys::{DataKey, DeviceKey, KeyError, WRAPPED_KEY_SIZE, WrappedKey, new_data_key, unwrap, wrap};
pub use meta::{
    CommitPlan, KEY_SLOTS, META_BLOCK_SIZE, MetaError, MetaRecord, PERSONAL_KEY_SLOT, PartitionMode, PartitionProvisioned, PlannedWrite, ProvisionError,
    Provisioned, SLOT_BYTE_OFFSETS, SLOT_FIRST_SECTORS, Selection, WORK_KEY_SLOT, decode, encode, plan_commit, plan_reprovision, plan_scrub, plan_wipe,
    provision_or_load, provision_partition, select,
};
pub use round_keys::{AES256_ROUND_KEYS, Aes256RoundKeys, RoundKey, XtsRoundKeys};
pub use sector::{CryptError, SECTOR_SIZE, SectorCipher, check_request};
