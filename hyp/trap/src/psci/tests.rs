//! Tests of PSCI decoding and emulation against a fake personality.

use proptest::prelude::*;

use super::*;

/// A personality of four vCPUs with fixed power states and RAM at
/// `0x4000_0000..0x5000_0000`.
struct FakePersonality {
    states: [VcpuPowerState; 4],
}

const RAM_START: u64 = 0x4000_0000;
const RAM_END: u64 = 0x5000_0000;

impl FakePersonality {
    /// vCPU 0 on, 1 off, 2 on pending, 3 off.
    fn new() -> Self {
        Self { states: [VcpuPowerState::On, VcpuPowerState::Off, VcpuPowerState::OnPending, VcpuPowerState::Off] }
    }
}

impl PsciPersonality for FakePersonality {
    fn vcpu_count(&self) -> usize {
        self.states.len()
    }

    fn power_state(&self, vcpu: usize) -> VcpuPowerState {
        self.states[vcpu]
    }

    fn is_valid_entry(&self, address: u64) -> bool {
        (RAM_START..RAM_END).contains(&address)
    }
}

/// The action for `call` made by vCPU 0 of the fake personality.
fn run(call: PsciCall) -> PsciAction {
    emulate(call, 0, &FakePersonality::new())
}

fn returns(code: PsciReturn) -> PsciAction {
    PsciAction::Return(code.as_register())
}

const GARBAGE: u64 = 0xdead_beef_0000_0000;

// ---- Decoding ----

#[test]
fn decode_version_and_32_bit_only_calls() {
    assert_eq!(decode(0x8400_0000, 0, 0, 0), PsciCall::Version);
    assert_eq!(decode(0x8400_0002, 0, 0, 0), PsciCall::CpuOff);
    assert_eq!(decode(0x8400_0006, 0, 0, 0), PsciCall::MigrateInfoType);
    assert_eq!(decode(0x8400_0008, 0, 0, 0), PsciCall::SystemOff);
    assert_eq!(decode(0x8400_0009, 0, 0, 0), PsciCall::SystemReset);
    assert_eq!(decode(0x8000_0000, 0, 0, 0), PsciCall::SmcccVersion);
}

#[test]
fn decode_cpu_suspend_both_widths() {
    assert_eq!(decode(0x8400_0001, 0, 0, 0), PsciCall::CpuSuspend);
    assert_eq!(decode(0xC400_0001, 0, 0, 0), PsciCall::CpuSuspend);
}

#[test]
fn decode_cpu_on_32_uses_low_halves() {
    assert_eq!(decode(0x8400_0003, GARBAGE | 1, GARBAGE | RAM_START, GARBAGE | 7), PsciCall::CpuOn { target: 1, entry: RAM_START, context: 7 });
}

#[test]
fn decode_cpu_on_64_uses_full_registers() {
    assert_eq!(
        decode(0xC400_0003, 0xff_0000_0001, 0x1_4000_0000, u64::MAX),
        PsciCall::CpuOn { target: 0xff_0000_0001, entry: 0x1_4000_0000, context: u64::MAX }
    );
}

#[test]
fn decode_affinity_info_both_widths() {
    assert_eq!(decode(0x8400_0004, GARBAGE | 2, GARBAGE, 0), PsciCall::AffinityInfo { target: 2, lowest_level: 0 });
    assert_eq!(decode(0xC400_0004, GARBAGE | 2, GARBAGE, 0), PsciCall::AffinityInfo { target: GARBAGE | 2, lowest_level: GARBAGE });
}

#[test]
fn decode_features_take_a_32_bit_function_id() {
    assert_eq!(decode(0x8400_000A, GARBAGE | 0xC400_0003, 0, 0), PsciCall::Features { function_id: 0xC400_0003 });
    assert_eq!(decode(0x8000_0001, GARBAGE | 0x8000_8000, 0, 0), PsciCall::SmcccArchFeatures { function_id: 0x8000_8000 });
}

#[test]
fn decode_unknown_function() {
    // MIGRATE, SYSTEM_SUSPEND and a vendor-specific service call.
    for function_id in [0x8400_0005, 0xC400_000E, 0xC600_0000, 0] {
        assert_eq!(decode(function_id, 0, 0, 0), PsciCall::Unknown { function_id });
    }
}

#[test]
fn decode_smc64_form_of_32_bit_only_calls_is_unknown() {
    for function_id in [0xC400_0000, 0xC400_0002, 0xC400_0008, 0xC400_000A, 0xC000_0000] {
        assert_eq!(decode(function_id, 0, 0, 0), PsciCall::Unknown { function_id });
    }
}

#[test]
fn decode_garbage_in_upper_function_id_bits_is_unknown() {
    for function_id in [GARBAGE | 0x8400_0000, 1 << 32 | 0xC400_0003, u64::MAX] {
        assert_eq!(decode(function_id, 0, 0, 0), PsciCall::Unknown { function_id });
    }
}

// ---- Return codes ----

#[test]
fn return_codes_are_sign_extended() {
    assert_eq!(PsciReturn::Success.as_register(), 0);
    assert_eq!(PsciReturn::NotSupported.as_register(), u64::MAX);
    assert_eq!(PsciReturn::InvalidParameters.as_register(), 0xffff_ffff_ffff_fffe);
    assert_eq!(PsciReturn::Denied.as_register(), (-3i64).cast_unsigned());
    assert_eq!(PsciReturn::AlreadyOn.as_register(), (-4i64).cast_unsigned());
    assert_eq!(PsciReturn::OnPending.as_register(), (-5i64).cast_unsigned());
    assert_eq!(PsciReturn::InternalFailure.as_register(), (-6i64).cast_unsigned());
    assert_eq!(PsciReturn::NotPresent.as_register(), (-7i64).cast_unsigned());
    assert_eq!(PsciReturn::Disabled.as_register(), (-8i64).cast_unsigned());
    assert_eq!(PsciReturn::InvalidAddress.as_register(), 0xffff_ffff_ffff_fff7);
}

// ---- Emulation, one test per outcome ----

#[test]
fn version_is_1_1() {
    assert_eq!(run(PsciCall::Version), PsciAction::Return(0x0001_0001));
}

#[test]
fn cpu_suspend_is_not_supported() {
    assert_eq!(run(PsciCall::CpuSuspend), returns(PsciReturn::NotSupported));
}

#[test]
fn cpu_off_stops_the_caller() {
    assert_eq!(run(PsciCall::CpuOff), PsciAction::StopCaller);
}

#[test]
fn cpu_on_starts_an_off_vcpu() {
    let call = decode(0xC400_0003, 1, RAM_START + 0x8_0000, 0x1234);
    assert_eq!(run(call), PsciAction::StartVcpu { vcpu: 1, entry: RAM_START + 0x8_0000, context: 0x1234 });
}

#[test]
fn cpu_on_unknown_target_is_invalid_parameters() {
    // vCPU 4 does not exist; Aff1 = 1 is another cluster.
    for target in [4, 0x100, 0xff_0000_0001] {
        let call = PsciCall::CpuOn { target, entry: RAM_START, context: 0 };
        assert_eq!(run(call), returns(PsciReturn::InvalidParameters), "target {target:#x}");
    }
}

#[test]
fn cpu_on_target_with_non_affinity_bits_is_invalid_parameters() {
    // RES1 bit 31, MT bit 24, and a bit above Aff3.
    for target in [virtual_mpidr(1), 1 << 24 | 1, 1 << 40 | 1] {
        let call = PsciCall::CpuOn { target, entry: RAM_START, context: 0 };
        assert_eq!(run(call), returns(PsciReturn::InvalidParameters), "target {target:#x}");
    }
}

#[test]
fn cpu_on_entry_outside_ram_is_invalid_address() {
    for entry in [0, RAM_START - 4, RAM_END, u64::MAX] {
        let call = PsciCall::CpuOn { target: 1, entry, context: 0 };
        assert_eq!(run(call), returns(PsciReturn::InvalidAddress), "entry {entry:#x}");
    }
}

#[test]
fn cpu_on_running_vcpu_is_already_on() {
    let personality = FakePersonality { states: [VcpuPowerState::On; 4] };
    let call = PsciCall::CpuOn { target: 3, entry: RAM_START, context: 0 };
    assert_eq!(emulate(call, 0, &personality), returns(PsciReturn::AlreadyOn));
}

#[test]
fn cpu_on_of_the_caller_itself_is_already_on() {
    // vCPU 1 is Off in the fake's bookkeeping, but it is the caller.
    let call = PsciCall::CpuOn { target: 1, entry: RAM_START, context: 0 };
    assert_eq!(emulate(call, 1, &FakePersonality::new()), returns(PsciReturn::AlreadyOn));
}

#[test]
fn cpu_on_starting_vcpu_is_on_pending() {
    let call = PsciCall::CpuOn { target: 2, entry: RAM_START, context: 0 };
    assert_eq!(run(call), returns(PsciReturn::OnPending));
}

#[test]
fn affinity_info_reports_each_state() {
    let ask = |target| run(PsciCall::AffinityInfo { target, lowest_level: 0 });
    assert_eq!(ask(0), PsciAction::Return(0));
    assert_eq!(ask(1), PsciAction::Return(1));
    assert_eq!(ask(2), PsciAction::Return(2));
    assert_eq!(ask(3), PsciAction::Return(1));
}

#[test]
fn affinity_info_above_level_0_is_invalid_parameters() {
    for lowest_level in [1, 3, GARBAGE] {
        let call = PsciCall::AffinityInfo { target: 1, lowest_level };
        assert_eq!(run(call), returns(PsciReturn::InvalidParameters));
    }
}

#[test]
fn affinity_info_unknown_target_is_invalid_parameters() {
    for target in [4, 0x1_0000, u64::MAX] {
        let call = PsciCall::AffinityInfo { target, lowest_level: 0 };
        assert_eq!(run(call), returns(PsciReturn::InvalidParameters));
    }
}

#[test]
fn migrate_info_type_is_not_required() {
    assert_eq!(run(PsciCall::MigrateInfoType), PsciAction::Return(2));
}

#[test]
fn system_off_and_reset_are_actions() {
    assert_eq!(run(PsciCall::SystemOff), PsciAction::SystemOff);
    assert_eq!(run(PsciCall::SystemReset), PsciAction::SystemReset);
}

#[test]
fn features_reports_implemented_functions() {
    for function_id in [
        function_id::PSCI_VERSION,
        function_id::CPU_OFF,
        function_id::CPU_ON_32,
        function_id::CPU_ON_64,
        function_id::AFFINITY_INFO_32,
        function_id::AFFINITY_INFO_64,
        function_id::MIGRATE_INFO_TYPE,
        function_id::SYSTEM_OFF,
        function_id::SYSTEM_RESET,
        function_id::PSCI_FEATURES,
        function_id::SMCCC_VERSION,
    ] {
        assert_eq!(run(PsciCall::Features { function_id }), returns(PsciReturn::Success), "function {function_id:#x}");
    }
}

#[test]
fn features_reports_everything_else_not_supported() {
    for function_id in [
        function_id::CPU_SUSPEND_32,
        function_id::CPU_SUSPEND_64,
        function_id::SMCCC_ARCH_FEATURES,
        0x8400_0005, // MIGRATE
        0xC400_000E, // SYSTEM_SUSPEND
        0xC400_0000, // SMC64 form of PSCI_VERSION, which does not exist
        u32::MAX,
    ] {
        assert_eq!(run(PsciCall::Features { function_id }), returns(PsciReturn::NotSupported), "function {function_id:#x}");
    }
}

#[test]
fn smccc_version_is_1_1() {
    assert_eq!(run(PsciCall::SmcccVersion), PsciAction::Return(0x1_0001));
}

#[test]
fn smccc_arch_features_is_not_supported() {
    let call = PsciCall::SmcccArchFeatures { function_id: 0x8000_8000 };
    assert_eq!(run(call), returns(PsciReturn::NotSupported));
}

#[test]
fn unknown_function_is_not_supported() {
    let call = PsciCall::Unknown { function_id: GARBAGE | 0x8400_0000 };
    assert_eq!(run(call), returns(PsciReturn::NotSupported));
}

// ---- Virtual MPIDR ----

#[test]
fn virtual_mpidr_layout() {
    assert_eq!(virtual_mpidr(0), 0x8000_0000);
    assert_eq!(virtual_mpidr(3), 0x8000_0003);
    assert_eq!(virtual_mpidr(255), 0x8000_00ff);
    // Beyond Aff0, the index carries into Aff1.
    assert_eq!(virtual_mpidr(256), 0x8000_0100);
}

#[test]
fn vcpu_from_mpidr_checks_affinity_fields() {
    assert_eq!(vcpu_from_mpidr(2, 4), Some(2));
    assert_eq!(vcpu_from_mpidr(4, 4), None);
    assert_eq!(vcpu_from_mpidr(0x100, 4), None);
    assert_eq!(vcpu_from_mpidr(0x1_0000, 4), None);
    assert_eq!(vcpu_from_mpidr(0x1_0000_0000, 4), None);
    assert_eq!(vcpu_from_mpidr(0, 0), None);
    // Non-affinity bits (RES1, U, MT, above Aff3) are not compared.
    assert_eq!(vcpu_from_mpidr(0xffff_ff00_4100_0001, 4), Some(1));
}

#[test]
fn affinity_only_bits() {
    assert!(has_only_affinity_bits(0xff_00ff_ffff));
    assert!(!has_only_affinity_bits(1 << 31));
    assert!(!has_only_affinity_bits(1 << 30));
    assert!(!has_only_affinity_bits(1 << 24));
    assert!(!has_only_affinity_bits(1 << 40));
}

// ---- Properties ----

/// A personality with arbitrary states and a RAM window, for property tests.
struct ArbitraryPersonality {
    states: Vec<VcpuPowerState>,
    ram: core::ops::Range<u64>,
}

impl PsciPersonality for ArbitraryPersonality {
    fn vcpu_count(&self) -> usize {
        self.states.len()
    }

    fn power_state(&self, vcpu: usize) -> VcpuPowerState {
        // Indexing panics on a bad index: the property checks that emulate
        // only asks about existing vCPUs.
        self.states[vcpu]
    }

    fn is_valid_entry(&self, address: u64) -> bool {
        self.ram.contains(&address)
    }
}

fn power_state_strategy() -> impl Strategy<Value = VcpuPowerState> {
    prop_oneof![Just(VcpuPowerState::Off), Just(VcpuPowerState::OnPending), Just(VcpuPowerState::On),]
}

/// Function identifiers biased towards the ones this module knows.
fn function_id_strategy() -> impl Strategy<Value = u64> {
    prop_oneof![
        any::<u64>(),
        any::<u32>().prop_map(u64::from),
        (0u64..=0x14).prop_map(|number| 0x8400_0000 | number),
        (0u64..=0x14).prop_map(|number| 0xC400_0000 | number),
        (0u64..=2).prop_map(|number| 0x8000_0000 | number),
    ]
}

/// Arguments biased towards small affinities and the fake's RAM.
fn argument_strategy() -> impl Strategy<Value = u64> {
    prop_oneof![any::<u64>(), 0u64..8, RAM_START..RAM_END, Just(virtual_mpidr(1))]
}

/// vCPU indices: mostly realistic ones, some up to the 32 affinity bits.
fn vcpu_strategy() -> impl Strategy<Value = usize> {
    prop_oneof![0usize..512, 0usize..=(u32::MAX as usize)]
}

proptest! {
    #[test]
    fn decode_and_emulate_never_panic(
        function_id in function_id_strategy(),
        arg1 in argument_strategy(),
        arg2 in argument_strategy(),
        arg3 in argument_strategy(),
        caller in 0usize..10,
        states in proptest::collection::vec(power_state_strategy(), 0..8),
        ram_start in any::<u64>(),
        ram_length in any::<u64>(),
    ) {
        let personality = ArbitraryPersonality {
            states,
            ram: ram_start..ram_start.saturating_add(ram_length),
        };
        let call = decode(function_id, arg1, arg2, arg3);
        let action = emulate(call, caller, &personality);
        if let PsciAction::StartVcpu { vcpu, entry, .. } = action {
            prop_assert!(vcpu < personality.vcpu_count());
            prop_assert_ne!(vcpu, caller);
            prop_assert!(personality.is_valid_entry(entry));
        }
    }

    #[test]
    fn emulate_never_panics_on_any_call(call in prop_oneof![
        Just(PsciCall::Version),
        Just(PsciCall::CpuSuspend),
        Just(PsciCall::CpuOff),
        (any::<u64>(), any::<u64>(), any::<u64>())
            .prop_map(|(target, entry, context)| PsciCall::CpuOn { target, entry, context }),
        (any::<u64>(), any::<u64>())
            .prop_map(|(target, lowest_level)| PsciCall::AffinityInfo { target, lowest_level }),
        Just(PsciCall::MigrateInfoType),
        Just(PsciCall::SystemOff),
        Just(PsciCall::SystemReset),
        any::<u32>().prop_map(|function_id| PsciCall::Features { function_id }),
        Just(PsciCall::SmcccVersion),
        any::<u32>().prop_map(|function_id| PsciCall::SmcccArchFeatures { function_id }),
        any::<u64>().prop_map(|function_id| PsciCall::Unknown { function_id }),
    ], caller in any::<usize>()) {
        let _ = emulate(call, caller, &FakePersonality::new());
    }

    #[test]
    fn virtual_mpidr_round_trips(vcpu in vcpu_strategy(), extra in 1usize..1000) {
        prop_assert_eq!(vcpu_from_mpidr(virtual_mpidr(vcpu), vcpu + extra), Some(vcpu));
    }

    #[test]
    fn virtual_mpidr_beyond_count_is_none(vcpu in vcpu_strategy(), count in 0usize..300) {
        prop_assume!(vcpu >= count);
        prop_assert_eq!(vcpu_from_mpidr(virtual_mpidr(vcpu), count), None);
    }

    #[test]
    fn small_personalities_match_the_aff0_rule(target in any::<u64>(), count in 0usize..=256) {
        // With at most 256 vCPUs, a target names vCPU Aff0 exactly when
        // Aff1..3 are 0 and Aff0 < count.
        let aff0 = target & 0xff;
        let upper_affinity = target & 0xff_00ff_ff00;
        let expected = (upper_affinity == 0 && (aff0 as usize) < count).then_some(aff0 as usize);
        prop_assert_eq!(vcpu_from_mpidr(target, count), expected);
    }
}
