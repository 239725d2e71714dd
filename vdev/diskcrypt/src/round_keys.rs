//! Expanded AES-256 round keys in the byte layout of the ARMv8 AES instructions, for a hardware XTS path.
//!
//! [`SectorCipher`](crate::SectorCipher) is portable but slow on a core
//! without FP/SIMD in compiled code. A core that implements the ARMv8
//! Cryptography Extension (`AESE`/`AESMC`, `AESD`/`AESIMC`) can run
//! AES-XTS-256 in a few instructions per block, but only from assembly, which
//! needs the expanded keys. This module computes them, and nothing else: the
//! cipher itself is the assembly routine's (and, in this crate's tests, a
//! small reference cipher that checks these schedules against the `aes`
//! crate and the IEEE 1619 vectors).
//!
//! # Layout
//!
//! A round key is 16 bytes in FIPS-197 order (`w[4r]` ‖ `w[4r+1]` ‖ `w[4r+2]`
//! ‖ `w[4r+3]`, each word's bytes in order), which is the state layout `LD1
//! {Vn.16B}` gives the AES instructions on a little-endian core.
//!
//! - [`Aes256RoundKeys::encrypt`]: FIPS-197 §5.2's schedule, round keys 0..=14.
//!   Encryption is `AESE k0; AESMC; … AESE k12; AESMC; AESE k13; EOR k14`.
//! - [`Aes256RoundKeys::decrypt`]: the equivalent inverse cipher's schedule
//!   (FIPS-197 §5.3.5) in the order the instructions use it: `k14`,
//!   `InvMixColumns(k13)`, …, `InvMixColumns(k1)`, `k0`. Decryption is
//!   `AESD d0; AESIMC; … AESD d12; AESIMC; AESD d13; EOR d14`.
//!
//! # Where the S-box comes from
//!
//! The key expansion needs `SubWord`. Rather than a lookup table (secret-
//! indexed loads), it borrows the `aes` crate's constant-time round function
//! ([`aes::hazmat`]): for a state whose four columns are equal, `ShiftRows`
//! is the identity, so `InvMixColumns(cipher_round(state, 0))` is
//! `SubBytes(state)` and its first column is `SubWord` of the word repeated.
//!
//! Every schedule is zeroized on drop; no type here is `Clone`, and `Debug`
//! shows no key bytes.

use core::fmt;

use aes::Block;
use aes::cipher::Array;
use aes::hazmat::{cipher_round, inv_mix_columns};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::keys::DataKey;

/// AES-256 round keys: `Nr + 1` for `Nr = 14` rounds (FIPS-197 §5).
pub const AES256_ROUND_KEYS: usize = 15;

/// One round key, 16 bytes in FIPS-197 order.
pub type RoundKey = [u8; 16];

/// The encryption and decryption schedules of one AES-256 key.
///
/// Zeroized on drop. Each schedule is 15 contiguous round keys (an array),
/// so `schedule.as_ptr()` is what assembly takes; `align(16)` keeps every
/// round key on a 16-byte boundary.
#[repr(C, align(16))]
pub struct Aes256RoundKeys {
    encrypt: [RoundKey; AES256_ROUND_KEYS],
    decrypt: [RoundKey; AES256_ROUND_KEYS],
}

impl Aes256RoundKeys {
    /// Expands `key` (FIPS-197 §5.2) and derives the equivalent inverse
    /// cipher's schedule (§5.3.5).
    pub fn new(key: &[u8; 32]) -> Self {
        let mut schedules = Self { encrypt: [[0; 16]; AES256_ROUND_KEYS], decrypt: [[0; 16]; AES256_ROUND_KEYS] };
        expand(key, &mut schedules.encrypt);
        schedules.decrypt = schedules.encrypt;
        schedules.decrypt.reverse();
        // The first and last keys of the reversed schedule (k14, k0) are
        // used as they are; the 13 between get InvMixColumns.
        for round_key in schedules.decrypt.iter_mut().skip(1).take(AES256_ROUND_KEYS - 2) {
            let mut block: Block = Array(*round_key);
            inv_mix_columns(&mut block);
            *round_key = block.0;
            block.0.zeroize();
        }
        schedules
    }

    /// The encryption schedule, round keys 0..=14 in order (for `AESE`).
    pub fn encrypt(&self) -> &[RoundKey; AES256_ROUND_KEYS] {
        &self.encrypt
    }

    /// The decryption schedule in the order `AESD` uses it: round key 14,
    /// then InvMixColumns of round keys 13 down to 1, then round key 0.
    pub fn decrypt(&self) -> &[RoundKey; AES256_ROUND_KEYS] {
        &self.decrypt
    }
}

impl Aes256RoundKeys {
    /// Zeroizes both schedules (what `Drop` does).
    fn wipe(&mut self) {
        self.encrypt.zeroize();
        self.decrypt.zeroize();
    }
}

impl Drop for Aes256RoundKeys {
    fn drop(&mut self) {
        self.wipe();
    }
}

impl ZeroizeOnDrop for Aes256RoundKeys {}

impl fmt::Debug for Aes256RoundKeys {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("Aes256RoundKeys(<secret>)")
    }
}

/// The round keys of one partition's AES-XTS-256 key: Key1 encrypts and
/// decrypts the data, Key2 (only its encryption schedule is ever used)
/// encrypts the tweak (IEEE 1619-2007 §5.1).
///
/// Zeroized on drop; `Debug` shows no key bytes; not `Clone`.
#[repr(C)]
pub struct XtsRoundKeys {
    data: Aes256RoundKeys,
    tweak: Aes256RoundKeys,
}

impl XtsRoundKeys {
    /// Expands both halves of `key` (Key1 ‖ Key2, as [`DataKey::from_bytes`]
    /// takes them); the key itself is only borrowed.
    pub fn new(key: &DataKey) -> Self {
        let (data, tweak) = key.halves();
        Self { data: Aes256RoundKeys::new(&data.0), tweak: Aes256RoundKeys::new(&tweak.0) }
    }

    /// Key1's schedules, for the data blocks.
    pub fn data(&self) -> &Aes256RoundKeys {
        &self.data
    }

    /// Key2's schedules, for the tweak (only [`Aes256RoundKeys::encrypt`]
    /// is needed: XTS encrypts the tweak in both directions).
    pub fn tweak(&self) -> &Aes256RoundKeys {
        &self.tweak
    }
}

impl fmt::Debug for XtsRoundKeys {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("XtsRoundKeys(<secret>)")
    }
}

impl ZeroizeOnDrop for XtsRoundKeys {}

/// FIPS-197 §5.2 `KeyExpansion` for `Nk = 8`, `Nr = 14`: writes the 60 words
/// of the schedule into `schedule`, four to a round key.
fn expand(key: &[u8; 32], schedule: &mut [RoundKey; AES256_ROUND_KEYS]) {
    // The last eight words: window[j] is w[i - 8 + j] when computing w[i].
    let mut window = [[0u8; 4]; 8];
    for (word, bytes) in window.iter_mut().zip(key.chunks_exact(4)) {
        word.copy_from_slice(bytes);
    }
    let mut round_constant = 1u8;
    let words = schedule.iter_mut().flat_map(|round_key| round_key.chunks_exact_mut(4));
    for (index, word) in words.enumerate() {
        if index < 8 {
            // w[0..8] is the key itself; the window holds it already.
            word.copy_from_slice(&window[0]);
        } else {
            let mut temp = window[7];
            if index % 8 == 0 {
                temp.rotate_left(1);
                temp = sub_word(temp);
                temp[0] ^= round_constant;
                // Rcon[i/8] for i/8 = 1..=7 is 01, 02, ..., 40: never
                // reduced modulo the AES polynomial.
                round_constant <<= 1;
            } else if index % 8 == 4 {
                temp = sub_word(temp);
            }
            for (byte, back) in temp.iter_mut().zip(window[0]) {
                *byte ^= back;
            }
            window[0] = temp;
            temp.zeroize();
            word.copy_from_slice(&window[0]);
        }
        window.rotate_left(1);
    }
    window.zeroize();
}

/// FIPS-197 §5.2 `SubWord`, through the `aes` crate's constant-time round
/// function (see the module documentation).
fn sub_word(word: [u8; 4]) -> [u8; 4] {
    let mut state = Block::default();
    for column in state.chunks_exact_mut(4) {
        column.copy_from_slice(&word);
    }
    cipher_round(&mut state, &Block::default());
    inv_mix_columns(&mut state);
    let [a, b, c, d, ..] = state.0;
    state.0.zeroize();
    [a, b, c, d]
}

#[cfg(test)]
mod tests;
