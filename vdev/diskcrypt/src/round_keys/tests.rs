//! Round-key tests: FIPS-197 Appendix A.3 and C.3, a model of the ARMv8 AES
//! instruction sequence checked against the `aes` crate, and XTS over that
//! model checked against [`SectorCipher`] and the IEEE 1619 vectors.

use aes::Aes256;
use aes::cipher::{BlockCipherDecrypt, BlockCipherEncrypt, KeyInit};
use aes::hazmat::{equiv_inv_cipher_round, mix_columns};
use proptest::prelude::*;

use super::*;
use crate::sector::{SECTOR_SIZE, SectorCipher};
use crate::test_support::hex;

// The sector tests' vectors, compiled a second time here: their items are
// private to those tests.
#[allow(clippy::duplicate_mod)]
#[path = "../sector/tests/ieee1619.rs"]
mod ieee1619;

fn round_key(text: &str) -> RoundKey {
    hex(text).try_into().unwrap()
}

fn key32(text: &str) -> [u8; 32] {
    hex(text).try_into().unwrap()
}

// --- A model of the ARMv8 instructions, built from the `aes` crate's round
// functions (cipher_round = SubBytes, ShiftRows, MixColumns, AddRoundKey;
// equiv_inv_cipher_round = InvSubBytes, InvShiftRows, InvMixColumns,
// AddRoundKey).

fn xor(block: RoundKey, key: &RoundKey) -> RoundKey {
    core::array::from_fn(|index| block[index] ^ key[index])
}

/// AESE: ShiftRows(SubBytes(state ^ key)).
fn aese(state: RoundKey, key: &RoundKey) -> RoundKey {
    let mut block = Array(xor(state, key));
    cipher_round(&mut block, &Block::default());
    inv_mix_columns(&mut block);
    block.0
}

/// AESMC: MixColumns(state).
fn aesmc(state: RoundKey) -> RoundKey {
    let mut block = Array(state);
    mix_columns(&mut block);
    block.0
}

/// AESD: InvShiftRows(InvSubBytes(state ^ key)).
fn aesd(state: RoundKey, key: &RoundKey) -> RoundKey {
    let mut block = Array(xor(state, key));
    equiv_inv_cipher_round(&mut block, &Block::default());
    mix_columns(&mut block);
    block.0
}

/// AESIMC: InvMixColumns(state).
fn aesimc(state: RoundKey) -> RoundKey {
    let mut block = Array(state);
    inv_mix_columns(&mut block);
    block.0
}

/// The assembly's encryption: AESE k0; AESMC; ...; AESE k13; EOR k14.
fn encrypt_block(keys: &Aes256RoundKeys, block: RoundKey) -> RoundKey {
    let schedule = keys.encrypt();
    let mut state = block;
    for key in &schedule[..13] {
        state = aesmc(aese(state, key));
    }
    xor(aese(state, &schedule[13]), &schedule[14])
}

/// The assembly's decryption: AESD d0; AESIMC; ...; AESD d13; EOR d14.
fn decrypt_block(keys: &Aes256RoundKeys, block: RoundKey) -> RoundKey {
    let schedule = keys.decrypt();
    let mut state = block;
    for key in &schedule[..13] {
        state = aesimc(aesd(state, key));
    }
    xor(aesd(state, &schedule[13]), &schedule[14])
}

/// Multiplication by x in GF(2^128), IEEE 1619 §5.2: little-endian, feedback 0x87.
fn double(tweak: RoundKey) -> RoundKey {
    let value = u128::from_le_bytes(tweak);
    let carry = (value >> 127) as u8;
    ((value << 1) ^ u128::from(carry * 0x87)).to_le_bytes()
}

/// XTS over the instruction model, sector by sector (plain64 tweaks).
fn xts_model(keys: &XtsRoundKeys, first_sector: u64, buffer: &mut [u8], decrypt: bool) {
    for (index, sector) in buffer.chunks_exact_mut(SECTOR_SIZE).enumerate() {
        let number = u128::from(first_sector + index as u64).to_le_bytes();
        let mut tweak = encrypt_block(keys.tweak(), number);
        for chunk in sector.chunks_exact_mut(16) {
            let input = xor(chunk.try_into().unwrap(), &tweak);
            let output = if decrypt { decrypt_block(keys.data(), input) } else { encrypt_block(keys.data(), input) };
            chunk.copy_from_slice(&xor(output, &tweak));
            tweak = double(tweak);
        }
    }
}

fn data_key(seed: u8) -> DataKey {
    DataKey::from_bytes(core::array::from_fn(|index| (index as u8).wrapping_mul(53).wrapping_add(seed))).unwrap()
}

// --- FIPS-197 vectors.

#[test]
fn fips197_a3_key_expansion() {
    let keys = Aes256RoundKeys::new(&key32("603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4"));
    let schedule = keys.encrypt();
    // w[0..8] is the key; w[8..16] and w[56..60] from Appendix A.3.
    assert_eq!(schedule[0], round_key("603deb1015ca71be2b73aef0857d7781"));
    assert_eq!(schedule[1], round_key("1f352c073b6108d72d9810a30914dff4"));
    assert_eq!(schedule[2], round_key("9ba354118e6925afa51a8b5f2067fcde"));
    assert_eq!(schedule[3], round_key("a8b09c1a93d194cdbe49846eb75d5b9a"));
    assert_eq!(schedule[14], round_key("fe4890d1e6188d0b046df344706c631e"));
}

#[test]
fn fips197_c3_schedules_and_block() {
    let keys = Aes256RoundKeys::new(&key32("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"));
    // Appendix C.3, cipher: round[r].k_sch.
    assert_eq!(keys.encrypt()[0], round_key("000102030405060708090a0b0c0d0e0f"));
    assert_eq!(keys.encrypt()[1], round_key("101112131415161718191a1b1c1d1e1f"));
    assert_eq!(keys.encrypt()[2], round_key("a573c29fa176c498a97fce93a572c09c"));
    assert_eq!(keys.encrypt()[14], round_key("24fc79ccbf0979e9371ac23c6d68de36"));
    // Appendix C.3, equivalent inverse cipher: round[r].ik_sch.
    assert_eq!(keys.decrypt()[0], round_key("24fc79ccbf0979e9371ac23c6d68de36"));
    assert_eq!(keys.decrypt()[1], round_key("34f1d1ffbfceaa2ffce9e25f2558016e"));
    assert_eq!(keys.decrypt()[14], round_key("000102030405060708090a0b0c0d0e0f"));

    let plaintext = round_key("00112233445566778899aabbccddeeff");
    let ciphertext = round_key("8ea2b7ca516745bfeafc49904b496089");
    assert_eq!(encrypt_block(&keys, plaintext), ciphertext);
    assert_eq!(decrypt_block(&keys, ciphertext), plaintext);
}

#[test]
fn sub_word_is_the_aes_s_box() {
    // FIPS-197 Figure 7: S(00) = 63, S(01) = 7c, S(53) = ed, S(ff) = 16.
    assert_eq!(sub_word([0x00, 0x01, 0x53, 0xff]), [0x63, 0x7c, 0xed, 0x16]);
    // A permutation of the 256 byte values.
    let mut seen = [false; 256];
    for value in 0..=255u8 {
        let [out, ..] = sub_word([value, 0, 0, 0]);
        assert!(!seen[usize::from(out)]);
        seen[usize::from(out)] = true;
    }
}

#[test]
fn debug_shows_no_key_bytes() {
    let keys = XtsRoundKeys::new(&data_key(3));
    assert_eq!(format!("{keys:?}"), "XtsRoundKeys(<secret>)");
    assert_eq!(format!("{:?}", keys.data()), "Aes256RoundKeys(<secret>)");
}

#[test]
fn wipe_zeroizes_both_schedules() {
    let mut keys = Aes256RoundKeys::new(&[7; 32]);
    assert!(keys.encrypt().iter().flatten().any(|byte| *byte != 0));
    assert!(keys.decrypt().iter().flatten().any(|byte| *byte != 0));
    // What `Drop` runs.
    keys.wipe();
    assert!(keys.encrypt().iter().flatten().all(|byte| *byte == 0));
    assert!(keys.decrypt().iter().flatten().all(|byte| *byte == 0));
}

// --- XTS over the instruction model.

#[test]
fn ieee1619_vectors_10_to_14_through_the_instruction_model() {
    let key = DataKey::from_bytes(hex(ieee1619::KEY).try_into().unwrap()).unwrap();
    let keys = XtsRoundKeys::new(&key);
    let plaintext: Vec<u8> = (0..=255u8).chain(0..=255u8).collect();
    for (number, vector) in ieee1619::VECTORS {
        let mut buffer = plaintext.clone();
        xts_model(&keys, vector.data_unit, &mut buffer, false);
        assert_eq!(buffer, hex(&vector.ciphertext.concat()), "vector {number}");
        xts_model(&keys, vector.data_unit, &mut buffer, true);
        assert_eq!(buffer, plaintext, "vector {number} decrypt");
    }
}

proptest! {
    #[test]
    fn model_matches_the_aes_crate(key in any::<[u8; 32]>(), block in any::<[u8; 16]>()) {
        let keys = Aes256RoundKeys::new(&key);
        let reference = Aes256::new(&Array(key));
        let mut expected = Array(block);
        reference.encrypt_block(&mut expected);
        prop_assert_eq!(encrypt_block(&keys, block), expected.0);
        let mut expected = Array(block);
        reference.decrypt_block(&mut expected);
        prop_assert_eq!(decrypt_block(&keys, block), expected.0);
    }

    #[test]
    fn model_xts_matches_sector_cipher(
        seed in any::<u8>(),
        first_sector in any::<u64>(),
        sectors in 1usize..=3,
        fill in any::<u8>(),
    ) {
        let first_sector = first_sector.min(u64::MAX - sectors as u64 + 1);
        let key = data_key(seed);
        let plaintext: Vec<u8> = (0..sectors * SECTOR_SIZE)
            .map(|index| (index as u8).wrapping_mul(fill | 1).wrapping_add(fill))
            .collect();
        let mut expected = plaintext.clone();
        SectorCipher::new(&key).encrypt_sectors(first_sector, &mut expected).unwrap();
        let keys = XtsRoundKeys::new(&key);
        let mut buffer = plaintext.clone();
        xts_model(&keys, first_sector, &mut buffer, false);
        prop_assert_eq!(&buffer, &expected);
        xts_model(&keys, first_sector, &mut buffer, true);
        prop_assert_eq!(buffer, plaintext);
    }
}

#[test]
fn check_request_counts_sectors_and_refuses_what_sector_cipher_refuses() {
    use crate::sector::{CryptError, check_request};
    assert_eq!(check_request(0, SECTOR_SIZE), Ok(1));
    assert_eq!(check_request(7, 9 * SECTOR_SIZE), Ok(9));
    assert_eq!(check_request(u64::MAX, SECTOR_SIZE), Ok(1));
    assert_eq!(check_request(u64::MAX - 1, 2 * SECTOR_SIZE), Ok(2));
    assert_eq!(check_request(0, 0), Err(CryptError::Empty));
    assert_eq!(check_request(0, 100), Err(CryptError::PartialSector { length: 100 }));
    assert_eq!(check_request(u64::MAX, 2 * SECTOR_SIZE), Err(CryptError::SectorOutOfRange { first_sector: u64::MAX, sectors: 2 }));
}
