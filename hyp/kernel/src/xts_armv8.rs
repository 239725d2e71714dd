//! AES-XTS-256 sectors with the ARMv8 Cryptography Extension: the fast path
//! for `janus-diskcrypt`'s [`SectorCipher`](janus_diskcrypt::SectorCipher).
//!
//! Same cipher, same rules, same bytes: IEEE 1619-2007 XTS-AES-256 over
//! 512-byte sectors, tweak = the sector number as a 128-bit little-endian
//! integer (dm-crypt `aes-xts-plain64`). The work is done by
//! `janus_xts_aes256` in `xts_armv8.S` from the round keys
//! [`XtsRoundKeys`] expands.
//!
//! Janus is built without FP/SIMD because those registers hold the running
//! guest's state; the assembly saves every V register it uses and restores
//! it before returning, and never touches FPCR/FPSR. Two conditions hold it
//! up: the core must implement the AES instructions (a [`CryptoExtension`]
//! exists only if ID_AA64ISAR0_EL1 says so; the Raspberry Pi 4's Cortex-A72
//! does not, so callers fall back to the software `SectorCipher`), and
//! CPTR_EL2.TFP must be 0 so that FP/SIMD at EL2 does not trap.

use janus_diskcrypt::{CryptError, XtsRoundKeys, check_request};

use crate::arch::read_sysreg;

core::arch::global_asm!(include_str!("xts_armv8.S"), options(raw));

unsafe extern "C" {
    /// See the header comment of `xts_armv8.S`.
    fn janus_xts_aes256(
        data_keys: *const [u8; 16],
        tweak_keys: *const [u8; 16],
        destination: *mut u8,
        sectors: u64,
        first_sector: u64,
        decrypt: u64,
        source: *const u8,
    );
}

/// ID_AA64ISAR0_EL1.AES, bits [7:4]: 0b0001 AESE/AESD/AESMC/AESIMC,
/// 0b0010 those plus PMULL.
const ISAR0_AES_SHIFT: u32 = 4;
/// ID_AA64PFR0_EL1.SVE, bits [35:32].
const PFR0_SVE_SHIFT: u32 = 32;
/// ID_AA64PFR1_EL1.SME, bits [27:24].
const PFR1_SME_SHIFT: u32 = 24;
/// CPTR_EL2.TFP (HCR_EL2.E2H == 0 layout): FP/SIMD traps to EL2, from EL2 too.
const CPTR_EL2_TFP: u64 = 1 << 10;

/// Proof that the assembly can run here: the only way to reach it.
#[derive(Debug, Clone, Copy)]
pub struct CryptoExtension(());

impl CryptoExtension {
    /// `Some` if this core implements the AES instructions
    /// (ID_AA64ISAR0_EL1.AES >= 1), FP/SIMD does not trap at EL2
    /// (CPTR_EL2.TFP == 0), and the core has neither SVE nor SME: writing a
    /// V register zeroes the rest of its SVE Z register, which the
    /// save/restore of the 128-bit V registers would not bring back, and in
    /// a guest's SME streaming mode SIMD instructions trap.
    ///
    /// Janus's cores are all one model and boot with the same CPTR_EL2, so
    /// one detection on any core holds for every core.
    pub fn detect() -> Option<Self> {
        let aes = (read_sysreg!(id_aa64isar0_el1) >> ISAR0_AES_SHIFT) & 0xf;
        let sve = (read_sysreg!(id_aa64pfr0_el1) >> PFR0_SVE_SHIFT) & 0xf;
        let sme = (read_sysreg!(id_aa64pfr1_el1) >> PFR1_SME_SHIFT) & 0xf;
        let fp_trapped = read_sysreg!(cptr_el2) & CPTR_EL2_TFP != 0;
        (aes >= 1 && sve == 0 && sme == 0 && !fp_trapped).then_some(Self(()))
    }

    /// Encrypts `buffer` in place, exactly as
    /// [`SectorCipher::encrypt_sectors`](janus_diskcrypt::SectorCipher::encrypt_sectors):
    /// `buffer.len()` must be a non-zero multiple of 512 and sector `i` of
    /// the buffer is `first_sector + i`. On error the buffer is unchanged.
    pub fn encrypt_sectors(self, keys: &XtsRoundKeys, first_sector: u64, buffer: &mut [u8]) -> Result<(), CryptError> {
        self.run(keys, first_sector, buffer, false)
    }

    /// Decrypts `buffer` in place; the inverse of
    /// [`encrypt_sectors`](Self::encrypt_sectors), with the same rules.
    pub fn decrypt_sectors(self, keys: &XtsRoundKeys, first_sector: u64, buffer: &mut [u8]) -> Result<(), CryptError> {
        self.run(keys, first_sector, buffer, true)
    }

    fn run(self, keys: &XtsRoundKeys, first_sector: u64, buffer: &mut [u8], decrypt: bool) -> Result<(), CryptError> {
        let pointer = buffer.as_mut_ptr();
        // SAFETY: `buffer` is an exclusive borrow of its whole length, read
        // and written in place.
        unsafe { self.run_raw(keys, first_sector, pointer, pointer, buffer.len(), decrypt) }
    }

    /// Enciphers `length` bytes at `source` into `destination`, as
    /// [`encrypt_sectors`](Self::encrypt_sectors) would in place.
    ///
    /// # Safety
    ///
    /// `source` must be readable and `destination` writable for `length`
    /// bytes, identity-mapped normal memory, and the two the same pointer or
    /// not overlapping. Either may be guest RAM that the guest changes
    /// meanwhile: the routine is assembly and only the bytes it produced
    /// are ever used.
    pub unsafe fn encrypt_raw(self, keys: &XtsRoundKeys, first_sector: u64, source: *const u8, destination: *mut u8, length: usize) -> Result<(), CryptError> {
        // SAFETY: forwarded from the caller.
        unsafe { self.run_raw(keys, first_sector, source, destination, length, false) }
    }

    /// Deciphers `length` bytes at `source` into `destination`; the inverse
    /// of [`encrypt_raw`](Self::encrypt_raw), with the same rules.
    ///
    /// # Safety
    ///
    /// As for [`encrypt_raw`](Self::encrypt_raw).
    pub unsafe fn decrypt_raw(self, keys: &XtsRoundKeys, first_sector: u64, source: *const u8, destination: *mut u8, length: usize) -> Result<(), CryptError> {
        // SAFETY: forwarded from the caller.
        unsafe { self.run_raw(keys, first_sector, source, destination, length, true) }
    }

    /// # Safety
    ///
    /// As for [`encrypt_raw`](Self::encrypt_raw).
    unsafe fn run_raw(
        self,
        keys: &XtsRoundKeys,
        first_sector: u64,
        source: *const u8,
        destination: *mut u8,
        length: usize,
        decrypt: bool,
    ) -> Result<(), CryptError> {
        let sectors = check_request(first_sector, length)?;
        let data_keys = if decrypt { keys.data().decrypt() } else { keys.data().encrypt() };
        // SAFETY: `self` exists only if this core implements AESE/AESD/
        // AESMC/AESIMC, FP/SIMD does not trap at EL2, and there is no SVE
        // or SME state for the V registers to alias (`detect`). Both
        // schedules are 15 round keys of 16 bytes, borrowed for the call.
        // `source` and `destination` are `sectors * 512` bytes (checked
        // above) that the caller vouches for, all the routine reads and
        // writes; `check_request` also proved `first_sector + sectors - 1`
        // fits in a u64. The routine
        // saves and restores every FP/SIMD register it uses (the guest's
        // state), leaves FPCR/FPSR alone, and follows AAPCS64 for the
        // general registers and the stack (512 bytes of it).
        unsafe {
            janus_xts_aes256(data_keys.as_ptr(), keys.tweak().encrypt().as_ptr(), destination, sectors, first_sector, u64::from(decrypt), source);
        }
        Ok(())
    }
}
