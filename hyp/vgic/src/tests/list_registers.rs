//! List register encodings against bit layouts written out by hand from
//! IHI 0069H (ICH_LR<n>_EL2) and IHI 0048B §5.3.8 (GICH_LR<n>).

use proptest::prelude::*;

use crate::{ListRegister, LrState, decode_v2, decode_v3, encode_v2, encode_v3};

fn state_bits(state: LrState) -> u64 {
    match state {
        LrState::Invalid => 0,
        LrState::Pending => 1,
        LrState::Active => 2,
        LrState::PendingActive => 3,
    }
}

#[test]
fn v3_layout_with_hardware() {
    let register = ListRegister { state: LrState::Pending, intid: 0x1234, priority: 0xA0, group1: true, hardware: Some(0x55) };
    let expected = (0b01 << 62) | (1 << 61) | (1 << 60) | (0xA0 << 48) | (0x55 << 32) | 0x1234;
    assert_eq!(encode_v3(&register), expected);
    assert_eq!(decode_v3(expected), register);
}

#[test]
fn v3_layout_without_hardware_leaves_pintid_and_eoi_clear() {
    let register = ListRegister { state: LrState::PendingActive, intid: 27, priority: 0xF8, group1: false, hardware: None };
    let raw = encode_v3(&register);
    assert_eq!(raw, (0b11 << 62) | (0xF8 << 48) | 27);
    // Bits [44:32] (pINTID, with EOI at 41) stay zero.
    assert_eq!(raw & (0x1FFF << 32), 0);
    assert_eq!(decode_v3(raw), register);
}

#[test]
fn v3_decode_ignores_pintid_when_hw_is_clear() {
    // EOI (bit 41) set by someone else, HW = 0: no hardware interrupt.
    let raw = (0b10 << 62) | (1 << 41) | 40;
    let register = decode_v3(raw);
    assert_eq!(register.hardware, None);
    assert_eq!(register.state, LrState::Active);
    assert_eq!(register.intid, 40);
}

#[test]
fn v3_states() {
    for state in [LrState::Invalid, LrState::Pending, LrState::Active, LrState::PendingActive] {
        let register = ListRegister { state, ..ListRegister::INVALID };
        assert_eq!(encode_v3(&register) >> 62, state_bits(state));
    }
}

#[test]
fn v2_layout_with_hardware() {
    let register = ListRegister { state: LrState::Active, intid: 0x3FF, priority: 0xF8, group1: true, hardware: Some(0x3FE) };
    let expected: u32 = (1 << 31) | (1 << 30) | (0b10 << 28) | (0x1F << 23) | (0x3FE << 10) | 0x3FF;
    assert_eq!(encode_v2(&register), expected);
    assert_eq!(decode_v2(expected), register);
}

#[test]
fn v2_layout_without_hardware_never_requests_eoi() {
    let register = ListRegister { state: LrState::Pending, intid: 3, priority: 0x48, group1: false, hardware: None };
    let raw = encode_v2(&register);
    assert_eq!(raw, (0b01 << 28) | (0x09 << 23) | 3);
    // PhysicalID [19:10] zero: EOI (bit 19) clear and CPUID 0.
    assert_eq!(raw & (0x3FF << 10), 0);
    assert_eq!(decode_v2(raw), register);
}

#[test]
fn v2_keeps_five_priority_bits() {
    let register = ListRegister { state: LrState::Pending, intid: 40, priority: 0xFF, group1: false, hardware: None };
    assert_eq!(decode_v2(encode_v2(&register)).priority, 0xF8);
}

#[test]
fn v2_decode_ignores_physical_id_when_hw_is_clear() {
    let raw: u32 = (0b01 << 28) | (1 << 19) | (0b101 << 10) | 5;
    let register = decode_v2(raw);
    assert_eq!(register.hardware, None);
    assert_eq!(register.intid, 5);
}

fn any_state() -> impl Strategy<Value = LrState> {
    prop_oneof![Just(LrState::Invalid), Just(LrState::Pending), Just(LrState::Active), Just(LrState::PendingActive),]
}

proptest! {
    #[test]
    fn v3_round_trip(
        state in any_state(),
        intid in any::<u32>(),
        priority in any::<u8>(),
        group1 in any::<bool>(),
        hardware in proptest::option::of(0u32..0x2000),
    ) {
        let register = ListRegister { state, intid, priority, group1, hardware };
        prop_assert_eq!(decode_v3(encode_v3(&register)), register);
    }

    #[test]
    fn v2_round_trip(
        state in any_state(),
        intid in 0u32..1024,
        priority in any::<u8>(),
        group1 in any::<bool>(),
        hardware in proptest::option::of(0u32..1024),
    ) {
        let register = ListRegister { state, intid, priority: priority & 0xF8, group1, hardware };
        prop_assert_eq!(decode_v2(encode_v2(&register)), register);
    }

    #[test]
    fn decoders_are_total_and_reencode_defined_fields(raw in any::<u64>()) {
        let v3 = decode_v3(raw);
        let defined_v3 = if raw & (1 << 61) != 0 {
            0xF000_0000_0000_0000 | (0xFF << 48) | (0x1FFF << 32) | 0xFFFF_FFFF
        } else {
            0xF000_0000_0000_0000 | (0xFF << 48) | 0xFFFF_FFFF
        };
        prop_assert_eq!(encode_v3(&v3), raw & defined_v3);
        let raw32 = raw as u32;
        let v2 = decode_v2(raw32);
        let defined_v2: u32 = if raw32 & (1 << 31) != 0 {
            0xF000_0000 | (0x1F << 23) | (0x3FF << 10) | 0x3FF
        } else {
            0xF000_0000 | (0x1F << 23) | 0x3FF
        };
        prop_assert_eq!(encode_v2(&v2), raw32 & defined_v2);
    }
}
