//! AES-XTS-256 over 512-byte sectors (IEEE 1619-2007, NIST SP 800-38E), dm-crypt `aes-xts-plain64` compatible.
//!
//! Sector `n` of a partition is one XTS data unit whose tweak is `n` as a
//! 128-bit little-endian integer (IEEE 1619-2007 §5.1: "the value of the
//! 128-bit tweak … j is the sequential number of the data unit", encoded
//! little-endian). That is exactly dm-crypt's `plain64` IV generator (the
//! 64-bit sector number, little-endian, zero-padded to 16 bytes), counted in
//! 512-byte sectors from the start of the partition. So a partition the
//! hypervisor wrote can be opened off-device with
//!
//! ```text
//! cryptsetup open --type plain --cipher aes-xts-plain64 --key-size 512 \
//!     --sector-size 512 --key-file data-key.bin partition.img work
//! ```
//!
//! where `data-key.bin` holds the 64 bytes of [`DataKey::from_bytes`] in the
//! same order (Key1 ‖ Key2).
//!
//! The mode itself is the `xts-mode` crate over the RustCrypto `aes` crate;
//! with `aes`'s `zeroize` feature both expanded key schedules are zeroized
//! when the [`SectorCipher`] drops.

use core::fmt;

use aes::Aes256;
use aes::cipher::{Array, KeyInit};
use xts_mode::Xts128;

use crate::keys::DataKey;

/// Bytes per sector: the XTS data unit, and the unit of `first_sector`.
pub const SECTOR_SIZE: usize = 512;

/// Why a buffer was not encrypted or decrypted. The buffer is unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CryptError {
    /// The buffer is empty.
    Empty,
    /// The buffer's length is not a multiple of [`SECTOR_SIZE`].
    PartialSector {
        /// The buffer's length in bytes.
        length: usize,
    },
    /// The last sector's number does not fit in 64 bits (plain64 has no
    /// sector numbers past `u64::MAX`).
    SectorOutOfRange {
        /// The first sector asked for.
        first_sector: u64,
        /// How many sectors the buffer holds.
        sectors: usize,
    },
}

impl fmt::Display for CryptError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => formatter.write_str("empty buffer: nothing to encrypt"),
            Self::PartialSector { length } => write!(formatter, "buffer of {length} bytes is not a whole number of {SECTOR_SIZE}-byte sectors"),
            Self::SectorOutOfRange { first_sector, sectors } => {
                write!(formatter, "{sectors} sectors from sector {first_sector} run past sector number 2^64 - 1")
            }
        }
    }
}

impl core::error::Error for CryptError {}

/// The expanded AES-XTS-256 cipher of one partition.
///
/// Holds two AES-256 key schedules (Key1 for data, Key2 for tweaks); both are
/// zeroized on drop. Not `Clone` and no `Debug` output beyond its name.
pub struct SectorCipher {
    xts: Xts128<Aes256>,
}

impl fmt::Debug for SectorCipher {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("SectorCipher(<key schedule>)")
    }
}

impl SectorCipher {
    /// Expands `key`; the key itself is only borrowed, no copy is made.
    pub fn new(key: &DataKey) -> Self {
        let (data, tweak) = key.halves();
        Self { xts: Xts128::new(Aes256::new(data), Aes256::new(tweak)) }
    }

    /// Encrypts `buffer` in place. `buffer.len()` must be a non-zero multiple
    /// of [`SECTOR_SIZE`]; sector `i` of the buffer is partition sector
    /// `first_sector + i` and uses that number as its tweak (plain64).
    pub fn encrypt_sectors(&self, first_sector: u64, buffer: &mut [u8]) -> Result<(), CryptError> {
        check(first_sector, buffer.len())?;
        let mut sector = first_sector;
        for data in buffer.chunks_exact_mut(SECTOR_SIZE) {
            self.xts.encrypt_sector(data, tweak(sector));
            // `check` proved every sector number of the buffer fits; only the
            // increment after the last one can wrap, and it is not used.
            sector = sector.wrapping_add(1);
        }
        Ok(())
    }

    /// Decrypts `buffer` in place; the inverse of
    /// [`encrypt_sectors`](Self::encrypt_sectors), with the same rules.
    pub fn decrypt_sectors(&self, first_sector: u64, buffer: &mut [u8]) -> Result<(), CryptError> {
        check(first_sector, buffer.len())?;
        let mut sector = first_sector;
        for data in buffer.chunks_exact_mut(SECTOR_SIZE) {
            self.xts.decrypt_sector(data, tweak(sector));
            // `check` proved every sector number of the buffer fits; only the
            // increment after the last one can wrap, and it is not used.
            sector = sector.wrapping_add(1);
        }
        Ok(())
    }
}

/// The plain64 tweak of `sector`: its number as a 128-bit little-endian
/// integer (IEEE 1619-2007 §5.1, dm-crypt `plain64`).
fn tweak(sector: u64) -> Array<u8, aes::cipher::consts::U16> {
    Array(u128::from(sector).to_le_bytes())
}

/// Checks a request before anything is touched: whole sectors, at least one,
/// and every sector number representable.
fn check(first_sector: u64, length: usize) -> Result<(), CryptError> {
    check_request(first_sector, length).map(|_| ())
}

/// The rules [`SectorCipher::encrypt_sectors`] and
/// [`decrypt_sectors`](SectorCipher::decrypt_sectors) apply to a request
/// of `length` bytes from `first_sector`, for other implementations of the
/// same cipher (the hypervisor's hardware path): `length` is a non-zero
/// multiple of [`SECTOR_SIZE`] and the last sector's number fits in a
/// `u64`. Returns the number of sectors.
pub fn check_request(first_sector: u64, length: usize) -> Result<u64, CryptError> {
    if length == 0 {
        return Err(CryptError::Empty);
    }
    if !length.is_multiple_of(SECTOR_SIZE) {
        return Err(CryptError::PartialSector { length });
    }
    let sectors = length / SECTOR_SIZE;
    // `extra + 1` cannot overflow: `extra` is at most `usize::MAX / 512`.
    let count = u64::try_from(sectors - 1).ok().and_then(|extra| first_sector.checked_add(extra).map(|_| extra + 1));
    match count {
        Some(count) => Ok(count),
        None => Err(CryptError::SectorOutOfRange { first_sector, sectors }),
    }
}

#[cfg(test)]
mod tests;
