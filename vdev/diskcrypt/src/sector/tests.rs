//! Sector cipher tests: IEEE 1619 vectors, a dm-crypt plain64 vector, round trips, error cases.

mod ieee1619;

use proptest::prelude::*;

use super::*;
use crate::keys::DataKey;
use crate::test_support::hex;

fn key_from_hex(text: &str) -> DataKey {
    DataKey::from_bytes(hex(text).try_into().unwrap()).unwrap()
}

fn test_key(seed: u8) -> DataKey {
    DataKey::from_bytes(core::array::from_fn(|index| (index as u8).wrapping_mul(31).wrapping_add(seed))).unwrap()
}

#[test]
fn ieee1619_vectors_10_to_14_encrypt_and_decrypt() {
    let cipher = SectorCipher::new(&key_from_hex(ieee1619::KEY));
    let plaintext: Vec<u8> = (0..=255u8).chain(0..=255u8).collect();
    for (number, vector) in ieee1619::VECTORS {
        let expected = hex(&vector.ciphertext.concat());
        let mut buffer = plaintext.clone();
        cipher.encrypt_sectors(vector.data_unit, &mut buffer).unwrap();
        assert_eq!(buffer, expected, "vector {number} encrypt");
        cipher.decrypt_sectors(vector.data_unit, &mut buffer).unwrap();
        assert_eq!(buffer, plaintext, "vector {number} decrypt");
    }
}

/// dm-crypt `aes-xts-plain64`: two consecutive sectors starting at sector
/// 0x0123456789abcdef (so the IV's upper 32 bits matter), key bytes 01..40,
/// plaintext byte `i` = `7i + 3`. Generated with OpenSSL 3.0 XTS through
/// pyca/cryptography, IV = the sector number as 8 little-endian bytes then 8
/// zero bytes, exactly as dm-crypt's plain64 generator builds it:
///
/// ```text
/// iv = sector.to_bytes(8, 'little') + bytes(8)
/// Cipher(algorithms.AES(key), modes.XTS(iv)).encryptor().update(plaintext[i*512:(i+1)*512])
/// ```
const PLAIN64_CIPHERTEXT: &str = "
    1c7fc1ef603662a3a6dc09d3275d2dbf3f2956e6e345d280f8d53da88a8e21af
    19a446d541a524b1d2a307c2a45bf3064254ecb0adafe9f97170815351c7c845
    44a803c5a1fd792423963dcb6b7af1fa232df1ab34db554e6b59fd9092e07c64
    4521f2c17fdff03347bc08624b655ed621194261fac0e5a6206363c8412e8709
    9afcf4401ba05480d210412a73686fb19f79e13c695871b6adac48c3cb08737e
    2dc0615ed4d0bb65dcf6165bac7e434b12684c747affa8fba1f817fde3966d94
    43ea2ff9920f5a03b3d765dfea571d9cd07febd688e467581fb4c163bc9017be
    5db1bc2c7e860db4a27a20283233b403c62fb982d7f705d49ab1c26be755d1d1
    7152eaf013f3fc60cc5bb2c1bc6ea76ab069d3ce46394ac3eaa47ac1bb6eae70
    c30e20e0a299375a6b1a52786d85df7693712e49256247a505efc8307318546f
    dec5a23b09a9efb9d21f29a413422e394e1c1954c2a027a820cf2471c04b78bb
    cbc3167ea6bb88a773d26de24d6c711d20e073c99e340e8de30ed92bae928825
    44a61960d48c2cf75a95c27605fe981dad6c46908ae9ac36e1852abf1d5d5f4e
    45fe4c3a93e7558a4a2cfe20a72cb00dab700391c200aace3a8669b481112c09
    0a1f5fd2c7744f01eb08506d8ed6174943832f5688ee07b5d962fde6b2fa4e50
    79cdf5023024576120d1db7e94f5133dd155998d6492f57329acc941bccdcd0d
    fdb4a7d34e10fea2acfd1e77239fb22d6af1fad8e16bb64c0e3446393ce8d34d
    f232c414a17e1362675ee22fdf959637ac588c133ce7bfa40257d5a57183d9cb
    bdd8781493745eb53ae5d8c34e017ddb0b90f46bcafdfdc8f5fb3535226bda73
    611d2821ebc603703cab1c7a12f0eff2f3f50a9034a3aa6c3914df2c0583c3ec
    feb6aa2e8670ad01481fc52b7dd5f4bc2980509f8613b631615d69d86bdb8ef1
    5b10409b61f974fa5168618cd96f9dee310020c1bcb2d81903a9fb61c3a99f69
    8fa67fd63baa363b4b1b6db2c7c45db3c7cab431f71a4f352417379c54407665
    92976a767cc0bab5f47c6e974fae0ea90ca0e6874ce074b5c9e1b2614d48e937
    58477ec2b9c9390afbd7291c68538ab9f6e21747244c137feff943c7d4d09abe
    531ee182af2a29a5452a6ae9a2c6bc997cb9353b103d26417bb05150827963fb
    22e3460c5b4be9da0f3cb1808cdb1c8eb696629e72275809b38dcd816cbc3faf
    fbcfc4091f1dc16b02e8cb0857af8f6a9b1c00913eeab45ab691e65fe72fb125
    602c3b939f7392360ed68a32da302154f7341766161d33f4d93f6fa41641ac6c
    779a3cc3a9f9a2d9d568a072e95992c9cba147981b6ca0db1d6e3cd081bf4aee
    6c69961f401b68591f785564dac32d776129b41ed785d0a9924fe5506b698e17
    24569a51a9ab855fc6f9c102c7ce4825d20cfc96648882af35bb4c2f78598457";

#[test]
fn dm_crypt_plain64_vector_across_two_sectors() {
    let key = DataKey::from_bytes(core::array::from_fn(|index| index as u8 + 1)).unwrap();
    let cipher = SectorCipher::new(&key);
    let plaintext: Vec<u8> = (0..1024u32).map(|i| (i * 7 + 3) as u8).collect();
    let mut buffer = plaintext.clone();
    cipher.encrypt_sectors(0x0123_4567_89ab_cdef, &mut buffer).unwrap();
    assert_eq!(buffer, hex(PLAIN64_CIPHERTEXT));
    // Sector by sector gives the same bytes as the two-sector call.
    let mut second = plaintext[512..].to_vec();
    cipher.encrypt_sectors(0x0123_4567_89ab_cdf0, &mut second).unwrap();
    assert_eq!(second, buffer[512..]);
    cipher.decrypt_sectors(0x0123_4567_89ab_cdef, &mut buffer).unwrap();
    assert_eq!(buffer, plaintext);
}

#[test]
fn identical_plaintext_in_different_sectors_differs() {
    let cipher = SectorCipher::new(&test_key(1));
    let mut buffer = vec![0x5au8; 4 * SECTOR_SIZE];
    cipher.encrypt_sectors(100, &mut buffer).unwrap();
    let sectors: Vec<&[u8]> = buffer.chunks(SECTOR_SIZE).collect();
    for (index, sector) in sectors.iter().enumerate() {
        for other in &sectors[index + 1..] {
            assert_ne!(sector, other);
        }
    }
}

#[test]
fn different_keys_give_different_ciphertext() {
    let mut first = vec![0u8; SECTOR_SIZE];
    let mut second = first.clone();
    SectorCipher::new(&test_key(1)).encrypt_sectors(0, &mut first).unwrap();
    SectorCipher::new(&test_key(2)).encrypt_sectors(0, &mut second).unwrap();
    assert_ne!(first, second);
}

#[test]
fn empty_buffer_is_refused() {
    let cipher = SectorCipher::new(&test_key(1));
    assert_eq!(cipher.encrypt_sectors(0, &mut []), Err(CryptError::Empty));
    assert_eq!(cipher.decrypt_sectors(0, &mut []), Err(CryptError::Empty));
}

#[test]
fn partial_sectors_are_refused_and_buffer_untouched() {
    let cipher = SectorCipher::new(&test_key(1));
    for length in [1, 16, 511, 513, 1000, 1025] {
        let mut buffer = vec![7u8; length];
        assert_eq!(cipher.encrypt_sectors(0, &mut buffer), Err(CryptError::PartialSector { length }));
        assert_eq!(cipher.decrypt_sectors(0, &mut buffer), Err(CryptError::PartialSector { length }));
        assert!(buffer.iter().all(|byte| *byte == 7));
    }
}

#[test]
fn sector_numbers_past_u64_max_are_refused() {
    let cipher = SectorCipher::new(&test_key(1));
    let mut one = vec![0u8; SECTOR_SIZE];
    cipher.encrypt_sectors(u64::MAX, &mut one).unwrap();
    cipher.decrypt_sectors(u64::MAX, &mut one).unwrap();
    assert!(one.iter().all(|byte| *byte == 0));
    let mut two = vec![0u8; 2 * SECTOR_SIZE];
    let error = CryptError::SectorOutOfRange { first_sector: u64::MAX, sectors: 2 };
    assert_eq!(cipher.encrypt_sectors(u64::MAX, &mut two), Err(error));
    assert_eq!(cipher.decrypt_sectors(u64::MAX, &mut two), Err(error));
    assert!(two.iter().all(|byte| *byte == 0));
}

#[test]
fn errors_display_one_line() {
    for error in [CryptError::Empty, CryptError::PartialSector { length: 3 }, CryptError::SectorOutOfRange { first_sector: 1, sectors: 2 }] {
        let text = error.to_string();
        assert!(!text.is_empty() && !text.contains('\n'), "{text}");
    }
}

#[test]
fn debug_does_not_show_key_material() {
    let text = format!("{:?}", SectorCipher::new(&test_key(1)));
    assert_eq!(text, "SectorCipher(<key schedule>)");
}

proptest! {
    #[test]
    fn round_trip(
        seed in any::<u8>(),
        first_sector in any::<u64>(),
        data in proptest::collection::vec(any::<u8>(), SECTOR_SIZE..=4 * SECTOR_SIZE),
    ) {
        let sectors = data.len() / SECTOR_SIZE;
        let first_sector = first_sector.min(u64::MAX - sectors as u64 + 1);
        let plaintext = data[..sectors * SECTOR_SIZE].to_vec();
        let cipher = SectorCipher::new(&test_key(seed));
        let mut buffer = plaintext.clone();
        cipher.encrypt_sectors(first_sector, &mut buffer).unwrap();
        prop_assert_ne!(&buffer, &plaintext);
        cipher.decrypt_sectors(first_sector, &mut buffer).unwrap();
        prop_assert_eq!(buffer, plaintext);
    }

    #[test]
    fn multi_sector_call_equals_one_call_per_sector(
        first_sector in 0u64..1 << 40,
        data in proptest::collection::vec(any::<u8>(), 3 * SECTOR_SIZE),
    ) {
        let cipher = SectorCipher::new(&test_key(9));
        let mut whole = data.clone();
        cipher.encrypt_sectors(first_sector, &mut whole).unwrap();
        for (index, chunk) in data.chunks(SECTOR_SIZE).enumerate() {
            let mut single = chunk.to_vec();
            cipher.encrypt_sectors(first_sector + index as u64, &mut single).unwrap();
            prop_assert_eq!(&single[..], &whole[index * SECTOR_SIZE..(index + 1) * SECTOR_SIZE]);
        }
    }
}
