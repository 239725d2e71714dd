//! Data keys, the device key, and wrapping one under the other (AES key wrap, RFC 3394).
//!
//! A partition's [`DataKey`] is two AES-256 keys (IEEE 1619-2007 §5.1: Key1
//! encrypts data, Key2 encrypts the tweak). It never touches the disk in the
//! clear: the metadata holds it wrapped under the [`DeviceKey`], a 32-byte
//! key-encryption key that lives only in the hypervisor (read from the
//! board's secure storage; on QEMU from the boot payload).
//!
//! Wrapping is AES-256 KW (RFC 3394, NIST SP 800-38F §6.2) with the default
//! IV `A6A6A6A6A6A6A6A6`: 64 key bytes become 72 wrapped bytes. KW is a
//! deterministic authenticated encryption designed for exactly this job (the
//! payload is itself a uniformly random key, so determinism leaks nothing but
//! equality), and [`unwrap`] checks its 64-bit integrity value: a wrong device
//! key or a tampered wrapped key gives [`KeyError::UnwrapFailed`], never a
//! garbage key.

use core::fmt;

use aes_kw::KeyInit;
use aes_kw::KwAes256;
use aes_kw::cipher::Array;
use aes_kw::cipher::consts::{U32, U64};
use zeroize::{Zeroize, ZeroizeOnDrop};

/// Size of a [`DataKey`]: two AES-256 keys.
pub const DATA_KEY_SIZE: usize = 64;
/// Size of a [`DeviceKey`]: one AES-256 key.
pub const DEVICE_KEY_SIZE: usize = 32;
/// Size of a [`WrappedKey`]: the data key plus KW's 8-byte integrity block.
pub const WRAPPED_KEY_SIZE: usize = DATA_KEY_SIZE + aes_kw::IV_LEN;

/// Why key bytes were refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyError {
    /// Every byte is zero: an unprogrammed key store, never a key.
    AllZero,
    /// Every byte has the same value (for example erased flash, `0xff`).
    UniformBytes,
    /// The data key's two halves are equal; IEEE 1619-2007 §5.1 and NIST SP
    /// 800-38E (FIPS 140 implementation guidance) require Key1 ≠ Key2.
    EqualHalves,
    /// The wrapped key failed its integrity check: wrong device key, or the
    /// wrapped bytes were altered.
    UnwrapFailed,
}

impl fmt::Display for KeyError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(match self {
            Self::AllZero => "key bytes are all zero",
            Self::UniformBytes => "key bytes all have the same value",
            Self::EqualHalves => "the two XTS key halves are equal",
            Self::UnwrapFailed => "wrapped key failed its integrity check (wrong device key or tampered)",
        })
    }
}

impl core::error::Error for KeyError {}

/// `true` if every byte of `bytes` equals the first one (or `bytes` is empty).
fn uniform(bytes: &[u8]) -> bool {
    bytes.windows(2).all(|pair| pair.first() == pair.get(1))
}

/// The 64-byte AES-XTS-256 key of one partition: Key1 (data) ‖ Key2 (tweak).
///
/// Zeroized on drop; `Debug` does not print it; not `Clone`, so there is one
/// copy to account for.
pub struct DataKey {
    bytes: Array<u8, U64>,
}

impl DataKey {
    /// Takes key bytes in dm-crypt's order (the first 32 bytes are the data
    /// key, the last 32 the tweak key), refusing all-zero keys and equal
    /// halves.
    pub fn from_bytes(mut bytes: [u8; DATA_KEY_SIZE]) -> Result<Self, KeyError> {
        let verdict = if bytes.iter().all(|byte| *byte == 0) {
            Err(KeyError::AllZero)
        } else if bytes.get(..DATA_KEY_SIZE / 2) == bytes.get(DATA_KEY_SIZE / 2..) {
            Err(KeyError::EqualHalves)
        } else {
            Ok(())
        };
        match verdict {
            Ok(()) => Ok(Self { bytes: Array(bytes) }),
            Err(error) => {
                bytes.zeroize();
                Err(error)
            }
        }
    }

    /// Key1 (data) and Key2 (tweak), borrowed: no copy of the key is made.
    pub(crate) fn halves(&self) -> (&Array<u8, U32>, &Array<u8, U32>) {
        self.bytes.split_ref::<U32>()
    }

    /// A copy of the key bytes, for other modules' tests.
    #[cfg(test)]
    pub(crate) fn test_bytes(&self) -> [u8; DATA_KEY_SIZE] {
        self.bytes.0
    }
}

impl Drop for DataKey {
    fn drop(&mut self) {
        self.bytes.0.zeroize();
    }
}

impl ZeroizeOnDrop for DataKey {}

impl fmt::Debug for DataKey {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("DataKey(<secret>)")
    }
}

/// The 32-byte key-encryption key held only by the hypervisor.
///
/// Zeroized on drop; `Debug` does not print it.
pub struct DeviceKey {
    bytes: Array<u8, U32>,
}

impl DeviceKey {
    /// Takes the device key, refusing all-zero and uniform bytes (an
    /// unprogrammed or erased key store).
    pub fn from_bytes(mut bytes: [u8; DEVICE_KEY_SIZE]) -> Result<Self, KeyError> {
        let verdict = if bytes.iter().all(|byte| *byte == 0) {
            Err(KeyError::AllZero)
        } else if uniform(&bytes) {
            Err(KeyError::UniformBytes)
        } else {
            Ok(())
        };
        match verdict {
            Ok(()) => Ok(Self { bytes: Array(bytes) }),
            Err(error) => {
                bytes.zeroize();
                Err(error)
            }
        }
    }

    /// The KW instance; its AES key schedule is zeroized when it drops (the
    /// `aes` crate's `zeroize` feature).
    fn wrapper(&self) -> KwAes256 {
        KwAes256::new(&self.bytes)
    }
}

impl Drop for DeviceKey {
    fn drop(&mut self) {
        self.bytes.0.zeroize();
    }
}

impl ZeroizeOnDrop for DeviceKey {}

impl fmt::Debug for DeviceKey {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("DeviceKey(<secret>)")
    }
}

/// A [`DataKey`] wrapped under a [`DeviceKey`] (RFC 3394 AES-256 KW): safe to
/// store, useless without the device key.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct WrappedKey(pub [u8; WRAPPED_KEY_SIZE]);

impl fmt::Debug for WrappedKey {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Not secret, but 72 bytes of noise help no one: show the first eight.
        write!(formatter, "WrappedKey(")?;
        for byte in self.0.iter().take(8) {
            write!(formatter, "{byte:02x}")?;
        }
        write!(formatter, "..)")
    }
}

/// Wraps `key` under `device` (RFC 3394 §2.2.1).
pub fn wrap(device: &DeviceKey, key: &DataKey) -> WrappedKey {
    WrappedKey(device.wrapper().wrap_fixed_key(&key.bytes).0)
}

/// Unwraps `wrapped` with `device` (RFC 3394 §2.2.2 and §2.2.3): a wrong
/// device key or altered bytes give [`KeyError::UnwrapFailed`]. A key that
/// unwraps but is not a valid [`DataKey`] (impossible unless someone wrapped
/// one on purpose) is refused like any other.
pub fn unwrap(device: &DeviceKey, wrapped: &WrappedKey) -> Result<DataKey, KeyError> {
    let mut plain: Array<u8, U64> = device.wrapper().unwrap_fixed_key(&Array(wrapped.0)).map_err(|_| KeyError::UnwrapFailed)?;
    let key = DataKey::from_bytes(plain.0);
    plain.0.zeroize();
    key
}

/// Builds a fresh data key from `random`, which the caller reads from a
/// hardware RNG (or virtio-rng). There is no fallback constant: input that is
/// plainly not random (all bytes equal, or equal halves) is refused, and the
/// caller must read the RNG again.
pub fn new_data_key(mut random: [u8; DATA_KEY_SIZE]) -> Result<DataKey, KeyError> {
    if uniform(&random) {
        let error = if random.first() == Some(&0) { KeyError::AllZero } else { KeyError::UniformBytes };
        random.zeroize();
        return Err(error);
    }
    DataKey::from_bytes(random)
}

#[cfg(test)]
mod tests;
