//! Key tests: validation, RFC 3394 key wrap vectors, wrong keys and tampering.

use proptest::prelude::*;

use super::*;
use crate::test_support::hex;

fn sample_random(seed: u8) -> [u8; DATA_KEY_SIZE] {
    core::array::from_fn(|index| (index as u8).wrapping_mul(97).wrapping_add(seed))
}

fn device(seed: u8) -> DeviceKey {
    DeviceKey::from_bytes(core::array::from_fn(|index| (index as u8).wrapping_mul(13).wrapping_add(seed))).unwrap()
}

#[test]
fn data_key_refuses_all_zero() {
    assert_eq!(DataKey::from_bytes([0; 64]).unwrap_err(), KeyError::AllZero);
}

#[test]
fn data_key_refuses_equal_halves() {
    let half: [u8; 32] = core::array::from_fn(|index| index as u8 + 1);
    let mut bytes = [0u8; 64];
    bytes[..32].copy_from_slice(&half);
    bytes[32..].copy_from_slice(&half);
    assert_eq!(DataKey::from_bytes(bytes).unwrap_err(), KeyError::EqualHalves);
    // Uniform non-zero bytes have equal halves too.
    assert_eq!(DataKey::from_bytes([0xff; 64]).unwrap_err(), KeyError::EqualHalves);
}

#[test]
fn data_key_accepts_distinct_halves() {
    let key = DataKey::from_bytes(sample_random(1)).unwrap();
    assert_eq!(key.bytes.0, sample_random(1));
    let (data, tweak) = key.halves();
    assert_eq!(data.0[..], sample_random(1)[..32]);
    assert_eq!(tweak.0[..], sample_random(1)[32..]);
}

#[test]
fn device_key_refuses_all_zero_and_uniform() {
    assert_eq!(DeviceKey::from_bytes([0; 32]).unwrap_err(), KeyError::AllZero);
    assert_eq!(DeviceKey::from_bytes([0xff; 32]).unwrap_err(), KeyError::UniformBytes);
    assert!(DeviceKey::from_bytes(core::array::from_fn(|index| index as u8)).is_ok());
}

#[test]
fn new_data_key_refuses_non_random_input() {
    assert_eq!(new_data_key([0; 64]).unwrap_err(), KeyError::AllZero);
    assert_eq!(new_data_key([0x42; 64]).unwrap_err(), KeyError::UniformBytes);
    let mut repeated = [0u8; 64];
    repeated[..32].copy_from_slice(&sample_random(3)[..32]);
    repeated[32..].copy_from_slice(&sample_random(3)[..32]);
    assert_eq!(new_data_key(repeated).unwrap_err(), KeyError::EqualHalves);
}

#[test]
fn new_data_key_uses_the_random_bytes() {
    assert_eq!(new_data_key(sample_random(5)).unwrap().bytes.0, sample_random(5));
    assert_ne!(new_data_key(sample_random(5)).unwrap().bytes.0, new_data_key(sample_random(6)).unwrap().bytes.0);
}

#[test]
fn debug_hides_secrets() {
    let data = DataKey::from_bytes(sample_random(1)).unwrap();
    assert_eq!(format!("{data:?}"), "DataKey(<secret>)");
    assert_eq!(format!("{:?}", device(1)), "DeviceKey(<secret>)");
}

#[test]
fn errors_display_one_line() {
    for error in [KeyError::AllZero, KeyError::UniformBytes, KeyError::EqualHalves, KeyError::UnwrapFailed] {
        let text = error.to_string();
        assert!(!text.is_empty() && !text.contains('\n'), "{text}");
    }
}

/// RFC 3394 §4.6: "Wrap 256 bits of Key Data with a 256-bit KEK", checked
/// through the same `aes-kw` type [`wrap`] uses (the data key is 512 bits,
/// so the RFC's vectors apply to the primitive, not to `wrap` itself).
#[test]
fn rfc3394_section_4_6_vector() {
    let kek = hex("000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F");
    let data = hex("00112233445566778899AABBCCDDEEFF000102030405060708090A0B0C0D0E0F");
    let expected = hex("28C9F404C4B810F4CBCCB35CFB87F8263F5786E2D80ED326CBC7F0E71A99F43BFB988B9B7A02DD21");
    let device = DeviceKey::from_bytes(kek.try_into().unwrap()).unwrap();
    let mut wrapped = [0u8; 40];
    device.wrapper().wrap_key(&data, &mut wrapped).unwrap();
    assert_eq!(wrapped[..], expected[..]);
    let mut unwrapped = [0u8; 32];
    device.wrapper().unwrap_key(&wrapped, &mut unwrapped).unwrap();
    assert_eq!(unwrapped[..], data[..]);
}

#[test]
fn wrap_is_72_bytes_and_unwraps() {
    let device = device(1);
    let key = DataKey::from_bytes(sample_random(7)).unwrap();
    let wrapped = wrap(&device, &key);
    assert_eq!(wrapped.0.len(), 72);
    assert_ne!(wrapped.0[8..], sample_random(7)[..]);
    assert_eq!(unwrap(&device, &wrapped).unwrap().bytes.0, sample_random(7));
}

#[test]
fn wrong_device_key_fails() {
    let key = DataKey::from_bytes(sample_random(7)).unwrap();
    let wrapped = wrap(&device(1), &key);
    assert_eq!(unwrap(&device(2), &wrapped).unwrap_err(), KeyError::UnwrapFailed);
}

#[test]
fn wrapped_key_debug_is_short() {
    let wrapped = WrappedKey([0xab; WRAPPED_KEY_SIZE]);
    assert_eq!(format!("{wrapped:?}"), "WrappedKey(abababababababab..)");
}

proptest! {
    #[test]
    fn any_single_bit_flip_is_detected(byte in 0..WRAPPED_KEY_SIZE, bit in 0..8u8, seed in any::<u8>()) {
        let device = device(seed);
        let key = DataKey::from_bytes(sample_random(seed)).unwrap();
        let mut wrapped = wrap(&device, &key);
        wrapped.0[byte] ^= 1 << bit;
        prop_assert_eq!(unwrap(&device, &wrapped).unwrap_err(), KeyError::UnwrapFailed);
    }

    #[test]
    fn random_bytes_never_unwrap(bytes in proptest::collection::vec(any::<u8>(), WRAPPED_KEY_SIZE)) {
        let wrapped = WrappedKey(bytes.try_into().unwrap());
        prop_assert_eq!(unwrap(&device(3), &wrapped).unwrap_err(), KeyError::UnwrapFailed);
    }

    #[test]
    fn wrap_round_trips(seed in any::<u8>(), device_seed in any::<u8>()) {
        let device = device(device_seed);
        let key = DataKey::from_bytes(sample_random(seed)).unwrap();
        prop_assert_eq!(unwrap(&device, &wrap(&device, &key)).unwrap().bytes.0, sample_random(seed));
    }
}
