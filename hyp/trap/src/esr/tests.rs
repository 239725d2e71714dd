//! Tests of ESR_EL2 decoding against syndromes built by hand from field values.
//!
//! The helpers below shift fields into place with the offsets written out from
//! the Arm ARM, independently of the `register_bitfields!` declarations, so a
//! wrong offset in either place shows up as a failure.

use proptest::prelude::*;

use super::*;

/// EC, IL = 1 (32-bit instruction) and ISS assembled into an ESR_EL2 value.
fn esr(class: u64, iss: u64) -> u64 {
    (class << 26) | (1 << 25) | iss
}

/// ISS of a Data Abort with a valid instruction syndrome.
fn data_abort_iss(size: u64, sign_extend: bool, register: u64, sixty_four: bool, is_write: bool, dfsc: u64) -> u64 {
    (1 << 24) | (size << 22) | (u64::from(sign_extend) << 21) | (register << 16) | (u64::from(sixty_four) << 15) | (u64::from(is_write) << 6) | dfsc
}

/// ISS of a trapped MSR / MRS / System instruction.
fn system_register_iss(op0: u64, op1: u64, crn: u64, crm: u64, op2: u64, rt: u64, read: bool) -> u64 {
    (op0 << 20) | (op2 << 17) | (op1 << 14) | (crn << 10) | (rt << 5) | (crm << 1) | u64::from(read)
}

/// The `MmioAccess` carried by a Data Abort, failing the test otherwise.
fn mmio_access(esr_value: u64) -> MmioAccess {
    match decode(esr_value) {
        Exception::DataAbort { access: Some(access), .. } => access,
        other => panic!("expected a data abort with a syndrome, got {other:?}"),
    }
}

/// Translation fault, level 3: the typical code of an MMIO stage 2 fault.
const DFSC_TRANSLATION_LEVEL_3: u64 = 0b00_0111;

// ---- Exception classes ----

#[test]
fn unknown_class() {
    assert_eq!(decode(esr(0x00, 0)), Exception::Unknown);
}

#[test]
fn wait_for_interrupt() {
    assert_eq!(decode(esr(0x01, 0b00)), Exception::WaitForInterrupt { is_wfe: false });
    assert_eq!(decode(esr(0x01, 0b01)), Exception::WaitForInterrupt { is_wfe: true });
    // WFIT and WFET (FEAT_WFxT).
    assert_eq!(decode(esr(0x01, 0b10)), Exception::WaitForInterrupt { is_wfe: false });
    assert_eq!(decode(esr(0x01, 0b11)), Exception::WaitForInterrupt { is_wfe: true });
}

#[test]
fn floating_point_access() {
    assert_eq!(decode(esr(0x07, 0x1e0_0000)), Exception::FloatingPointAccess);
}

#[test]
fn hypercall_immediate() {
    assert_eq!(decode(esr(0x16, 0)), Exception::Hypercall { immediate: 0 });
    assert_eq!(decode(esr(0x16, 0xbeef)), Exception::Hypercall { immediate: 0xbeef });
}

#[test]
fn secure_monitor_call_immediate() {
    assert_eq!(decode(esr(0x17, 0x1234)), Exception::SecureMonitorCall { immediate: 0x1234 });
}

#[test]
fn system_register_read_of_ctr_el0() {
    // MRS x3, CTR_EL0: op0 = 3, op1 = 3, CRn = 0, CRm = 0, op2 = 1.
    let value = esr(0x18, system_register_iss(3, 3, 0, 0, 1, 3, true));
    assert_eq!(decode(value), Exception::SystemRegister(SystemRegisterAccess { op0: 3, op1: 3, crn: 0, crm: 0, op2: 1, rt: 3, is_read: true }));
}

#[test]
fn system_register_write_from_zero_register() {
    // MSR ACTLR_EL1, xzr: op0 = 3, op1 = 0, CRn = 1, CRm = 0, op2 = 1.
    let value = esr(0x18, system_register_iss(3, 0, 1, 0, 1, 31, false));
    let Exception::SystemRegister(access) = decode(value) else {
        panic!("expected a system register access");
    };
    assert_eq!(access.rt, 31);
    assert!(!access.is_read);
    assert_eq!(access.set_way_operation(), None);
}

#[test]
fn system_register_fields_at_maximum() {
    let value = esr(0x18, system_register_iss(3, 7, 15, 15, 7, 31, true));
    assert_eq!(decode(value), Exception::SystemRegister(SystemRegisterAccess { op0: 3, op1: 7, crn: 15, crm: 15, op2: 7, rt: 31, is_read: true }));
}

#[test]
fn instruction_abort() {
    let value = esr(0x20, (1 << 7) | 0b00_1111);
    assert_eq!(decode(value), Exception::InstructionAbort { fault: FaultStatus::Permission { level: 3 }, stage1_walk: true });
}

#[test]
fn data_abort_with_syndrome() {
    let value = esr(0x24, data_abort_iss(0b10, false, 5, false, true, DFSC_TRANSLATION_LEVEL_3));
    assert_eq!(
        decode(value),
        Exception::DataAbort {
            access: Some(MmioAccess { size: AccessSize::Word, register: 5, sign_extend: false, sixty_four_bit_register: false, is_write: true }),
            is_write: true,
            fault: FaultStatus::Translation { level: 3 },
            stage1_walk: false,
            cache_maintenance: false,
        }
    );
}

#[test]
fn data_abort_without_syndrome_has_no_access() {
    // ISV = 0 (for example LDP or a post-indexed load); the other syndrome
    // bits are ignored even if set.
    let iss = data_abort_iss(0b11, true, 7, true, false, DFSC_TRANSLATION_LEVEL_3) & !(1 << 24);
    assert_eq!(
        decode(esr(0x24, iss)),
        Exception::DataAbort { access: None, is_write: false, fault: FaultStatus::Translation { level: 3 }, stage1_walk: false, cache_maintenance: false }
    );
}

#[test]
fn data_abort_from_cache_maintenance_on_table_walk() {
    let iss = (1 << 8) | (1 << 7) | (1 << 6) | 0b00_0101;
    assert_eq!(
        decode(esr(0x24, iss)),
        Exception::DataAbort { access: None, is_write: true, fault: FaultStatus::Translation { level: 1 }, stage1_walk: true, cache_maintenance: true }
    );
}

#[test]
fn aborts_from_the_same_level_are_other() {
    assert_eq!(decode(esr(0x25, 0b00_0111)), Exception::Other { class: 0x25, syndrome: 0b00_0111 });
    assert_eq!(decode(esr(0x21, 0b00_0111)), Exception::Other { class: 0x21, syndrome: 0b00_0111 });
}

#[test]
fn other_class_keeps_class_and_syndrome() {
    // EC 0x15: SVC from AArch64, never routed to EL2 but still decodable.
    assert_eq!(decode(esr(0x15, 0x1ff_ffff)), Exception::Other { class: 0x15, syndrome: 0x1ff_ffff });
    // The largest class value, with ISS2 bits set above bit 32.
    assert_eq!(decode((0xff_ffff << 32) | esr(0x3f, 0)), Exception::Other { class: 0x3f, syndrome: 0 });
}

#[test]
fn instruction_length_follows_il() {
    assert_eq!(instruction_length(esr(0x17, 0)), 4);
    assert_eq!(instruction_length(esr(0x17, 0) & !(1 << 25)), 2);
    assert_eq!(instruction_length(0), 2);
    assert_eq!(instruction_length(u64::MAX), 4);
}

// ---- Fault status codes ----

#[test]
fn fault_status_levelled_kinds() {
    for level in 0..=3u8 {
        assert_eq!(FaultStatus::decode(level), FaultStatus::AddressSize { level });
        assert_eq!(FaultStatus::decode(0b00_0100 | level), FaultStatus::Translation { level });
        assert_eq!(FaultStatus::decode(0b00_1000 | level), FaultStatus::AccessFlag { level });
        assert_eq!(FaultStatus::decode(0b00_1100 | level), FaultStatus::Permission { level });
        assert_eq!(FaultStatus::decode(0b01_0100 | level), FaultStatus::SynchronousExternalAbortOnTableWalk { level });
        assert_eq!(FaultStatus::decode(0b00_0100 | level).level(), Some(level));
    }
}

#[test]
fn fault_status_synchronous_external_abort() {
    assert_eq!(FaultStatus::decode(0b01_0000), FaultStatus::SynchronousExternalAbort);
    assert_eq!(FaultStatus::SynchronousExternalAbort.level(), None);
}

#[test]
fn fault_status_alignment() {
    assert_eq!(FaultStatus::decode(0b10_0001), FaultStatus::Alignment);
}

#[test]
fn fault_status_tlb_conflict() {
    assert_eq!(FaultStatus::decode(0b11_0000), FaultStatus::TlbConflict);
}

#[test]
fn fault_status_other_codes_stay_raw() {
    // Tag check fault, translation fault level -1 (FEAT_LPA2), parity error.
    for code in [0b01_0001, 0b10_1011, 0b01_1000] {
        assert_eq!(FaultStatus::decode(code), FaultStatus::Other { code });
    }
    // Bits above the six-bit field are ignored.
    assert_eq!(FaultStatus::decode(0b1100_0111), FaultStatus::Translation { level: 3 });
}

#[test]
fn fault_status_through_data_abort() {
    let value = esr(0x24, 0b00_1010);
    let Exception::DataAbort { fault, .. } = decode(value) else {
        panic!("expected a data abort");
    };
    assert_eq!(fault, FaultStatus::AccessFlag { level: 2 });
}

// ---- MMIO value rules ----

#[test]
fn load_signed_byte_into_w_register() {
    // LDRSB w1, [x0]: SAS = byte, SSE = 1, SF = 0.
    let access = mmio_access(esr(0x24, data_abort_iss(0b00, true, 1, false, false, DFSC_TRANSLATION_LEVEL_3)));
    assert_eq!(access.bytes(), 1);
    assert!(!access.is_write);
    assert_eq!(access.value_to_load(0x80), 0xffff_ff80);
    assert_eq!(access.value_to_load(0x7f), 0x7f);
    // Device bits above the access size are ignored.
    assert_eq!(access.value_to_load(0xdead_be80), 0xffff_ff80);
}

#[test]
fn load_signed_byte_into_x_register() {
    // LDRSB x1, [x0]: SAS = byte, SSE = 1, SF = 1.
    let access = mmio_access(esr(0x24, data_abort_iss(0b00, true, 1, true, false, DFSC_TRANSLATION_LEVEL_3)));
    assert_eq!(access.value_to_load(0x80), 0xffff_ffff_ffff_ff80);
    assert_eq!(access.value_to_load(0x17f), 0x7f);
}

#[test]
fn load_signed_halfword_and_word() {
    // LDRSH w2 and LDRSW x2.
    let halfword = mmio_access(esr(0x24, data_abort_iss(0b01, true, 2, false, false, DFSC_TRANSLATION_LEVEL_3)));
    assert_eq!(halfword.value_to_load(0x8001), 0xffff_8001);
    let word = mmio_access(esr(0x24, data_abort_iss(0b10, true, 2, true, false, DFSC_TRANSLATION_LEVEL_3)));
    assert_eq!(word.value_to_load(0x8000_0000), 0xffff_ffff_8000_0000);
}

#[test]
fn load_unsigned_halfword_zero_extends() {
    // LDRH w3, [x0]: SAS = halfword, SSE = 0, SF = 0.
    let access = mmio_access(esr(0x24, data_abort_iss(0b01, false, 3, false, false, DFSC_TRANSLATION_LEVEL_3)));
    assert_eq!(access.bytes(), 2);
    assert_eq!(access.value_to_load(0xffff_ffff_1234_8765), 0x8765);
}

#[test]
fn load_doubleword_keeps_all_bits() {
    let access = mmio_access(esr(0x24, data_abort_iss(0b11, false, 4, true, false, DFSC_TRANSLATION_LEVEL_3)));
    assert_eq!(access.bytes(), 8);
    assert_eq!(access.value_to_load(u64::MAX - 1), u64::MAX - 1);
}

#[test]
fn store_byte_truncates() {
    // STRB w5, [x0]: SAS = byte, WnR = 1.
    let access = mmio_access(esr(0x24, data_abort_iss(0b00, false, 5, false, true, DFSC_TRANSLATION_LEVEL_3)));
    assert!(access.is_write);
    assert_eq!(access.register, 5);
    assert_eq!(access.value_to_write(0x1234_5678_9abc_def0), 0xf0);
}

#[test]
fn store_word_and_doubleword_truncate() {
    let word = mmio_access(esr(0x24, data_abort_iss(0b10, false, 30, false, true, DFSC_TRANSLATION_LEVEL_3)));
    assert_eq!(word.value_to_write(0x1234_5678_9abc_def0), 0x9abc_def0);
    let doubleword = mmio_access(esr(0x24, data_abort_iss(0b11, false, 31, true, true, DFSC_TRANSLATION_LEVEL_3)));
    assert_eq!(doubleword.register, 31);
    assert_eq!(doubleword.value_to_write(0x1234_5678_9abc_def0), 0x1234_5678_9abc_def0);
}

// ---- Set/way recognition ----

/// The SystemRegisterAccess of `SYS #op1, C7, Cm, #op2, Xt` (or SYSL).
fn cache_instruction(crm: u64, op2: u64, read: bool) -> SystemRegisterAccess {
    match decode(esr(0x18, system_register_iss(1, 0, 7, crm, op2, 9, read))) {
        Exception::SystemRegister(access) => access,
        other => panic!("expected a system register access, got {other:?}"),
    }
}

#[test]
fn set_way_operations_are_recognised() {
    assert_eq!(cache_instruction(6, 2, false).set_way_operation(), Some(SetWayOperation::Invalidate));
    assert_eq!(cache_instruction(10, 2, false).set_way_operation(), Some(SetWayOperation::Clean));
    assert_eq!(cache_instruction(14, 2, false).set_way_operation(), Some(SetWayOperation::CleanInvalidate));
}

#[test]
fn other_cache_instructions_are_not_set_way() {
    // DC IVAC (CRm = 6, op2 = 1), DC CVAC (CRm = 10, op2 = 1), DC CIVAC
    // (op1 = 3, CRm = 14, op2 = 1) and a SYSL with the DC ISW encoding.
    assert_eq!(cache_instruction(6, 1, false).set_way_operation(), None);
    assert_eq!(cache_instruction(10, 1, false).set_way_operation(), None);
    assert_eq!(cache_instruction(6, 2, true).set_way_operation(), None);
    let civac = SystemRegisterAccess { op1: 3, op2: 1, ..cache_instruction(14, 1, false) };
    assert_eq!(civac.set_way_operation(), None);
    let wrong_op1 = SystemRegisterAccess { op1: 4, ..cache_instruction(6, 2, false) };
    assert_eq!(wrong_op1.set_way_operation(), None);
}

// ---- Properties ----

proptest! {
    #[test]
    fn decode_is_total(value in any::<u64>()) {
        let exception = decode(value);
        let length = instruction_length(value);
        prop_assert!(length == 2 || length == 4);
        if let Exception::SystemRegister(access) = exception {
            let _ = access.set_way_operation();
        }
    }

    #[test]
    fn data_abort_values_respect_the_access(iss in 0u64..(1 << 25), register_value in any::<u64>()) {
        let Exception::DataAbort { access: Some(access), is_write, .. } = decode(esr(0x24, iss | (1 << 24))) else {
            return Err(TestCaseError::fail("ISV = 1 must yield an access"));
        };
        prop_assert_eq!(access.is_write, is_write);
        prop_assert!(access.register <= 31);
        let bits = access.size.bits();
        if bits < 64 {
            prop_assert!(access.value_to_write(register_value) < (1 << bits));
        }
        if !access.sixty_four_bit_register {
            prop_assert!(access.value_to_load(register_value) <= u64::from(u32::MAX));
        }
        if !access.sign_extend && bits < 64 {
            prop_assert!(access.value_to_load(register_value) < (1 << bits));
        }
    }
}
