//! Property tests: random injections, guest activity and register writes
//! against the reference model (see [`super::reference`]), and arbitrary
//! MMIO that must never panic.

use proptest::prelude::*;
use proptest::strategy::ValueTree;

use super::fake::FakeListRegisters;
use super::reference::{Harness, INTIDS, OWNED, Operation};
use crate::{AccessSize, GicVersion, VirtualGic};

fn operation() -> impl Strategy<Value = Operation> {
    let vcpu = 0usize..4;
    let intid = proptest::sample::select(INTIDS.to_vec());
    let index = 0usize..4;
    prop_oneof![
        3 => (vcpu.clone(), intid.clone()).prop_map(|(vcpu, intid)| Operation::Inject { vcpu, intid }),
        2 => (0usize..2).prop_map(|which| Operation::InjectHardware { which }),
        3 => vcpu.clone().prop_map(|vcpu| Operation::Timer { vcpu }),
        3 => vcpu.clone().prop_map(|vcpu| Operation::TimerPeriod { vcpu }),
        3 => vcpu.clone().prop_map(|vcpu| Operation::Flush { vcpu }),
        3 => (vcpu.clone(), index.clone()).prop_map(|(vcpu, index)| Operation::Acknowledge { vcpu, index }),
        3 => (vcpu.clone(), index).prop_map(|(vcpu, index)| Operation::Complete { vcpu, index }),
        2 => (vcpu.clone(), intid.clone(), prop::bool::weighted(0.8))
            .prop_map(|(vcpu, intid, enabled)| Operation::Enable { vcpu, intid, enabled }),
        2 => (vcpu.clone(), intid.clone(), any::<u8>())
            .prop_map(|(vcpu, intid, priority)| Operation::Priority { vcpu, intid, priority }),
        1 => (vcpu.clone(), intid.clone()).prop_map(|(vcpu, intid)| Operation::SetPending { vcpu, intid }),
        1 => (vcpu.clone(), intid.clone()).prop_map(|(vcpu, intid)| Operation::ClearPending { vcpu, intid }),
        1 => (vcpu.clone(), intid.clone()).prop_map(|(vcpu, intid)| Operation::SetActive { vcpu, intid }),
        1 => (vcpu.clone(), intid.clone()).prop_map(|(vcpu, intid)| Operation::ClearActive { vcpu, intid }),
        1 => (intid.clone(), vcpu.clone()).prop_map(|(intid, vcpu)| Operation::Route { intid, vcpu }),
        1 => prop::bool::weighted(0.8).prop_map(|enabled| Operation::Distributor { enabled }),
        1 => (vcpu, 0u32..16, any::<u16>())
            .prop_map(|(sender, intid, targets)| Operation::Sgi { sender, intid, targets }),
    ]
}

/// The random scenarios exercise all three paths of
/// `inject_hardware_and_flush` (each timer injection is checked against the
/// general path in the harness).
#[test]
fn scenarios_take_both_timer_paths() {
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let scenario = (prop_oneof![Just(GicVersion::V3), Just(GicVersion::V2)], 1usize..=3, proptest::collection::vec(operation(), 0..120));
    let mut paths = [0; 3];
    for _ in 0..128 {
        let (version, vcpus, operations) = scenario.new_tree(&mut runner).unwrap().current();
        let mut harness = Harness::new(version, vcpus, 2);
        harness.configure_timers();
        for operation in &operations {
            harness.run(operation);
        }
        harness.drain();
        for (total, count) in paths.iter_mut().zip(harness.timer_paths) {
            *total += count;
        }
    }
    // General, direct, in place.
    assert!(paths.iter().all(|&count| count >= 20), "timer injections by path: {paths:?}");
}

/// Operations on the hardware-backed lines only (the timer PPI 27 and the
/// SPIs 34 and 35), with the guest changing their pending and active state
/// through the distributor far more often than in [`operation`]: the state
/// space where a physical line can be left active (the bug behind
/// `timer_firing_while_pending_and_active_in_software`).
fn hardware_operation() -> impl Strategy<Value = Operation> {
    let vcpu = 0usize..2;
    let intid = proptest::sample::select(vec![27u32, 34, 35]);
    let index = 0usize..2;
    prop_oneof![
        2 => (vcpu.clone(), intid.clone()).prop_map(|(vcpu, intid)| Operation::Inject { vcpu, intid }),
        2 => (0usize..2).prop_map(|which| Operation::InjectHardware { which }),
        3 => vcpu.clone().prop_map(|vcpu| Operation::Timer { vcpu }),
        2 => vcpu.clone().prop_map(|vcpu| Operation::TimerPeriod { vcpu }),
        2 => vcpu.clone().prop_map(|vcpu| Operation::Flush { vcpu }),
        3 => (vcpu.clone(), index.clone()).prop_map(|(vcpu, index)| Operation::Acknowledge { vcpu, index }),
        3 => (vcpu.clone(), index).prop_map(|(vcpu, index)| Operation::Complete { vcpu, index }),
        1 => (vcpu.clone(), intid.clone(), prop::bool::weighted(0.7))
            .prop_map(|(vcpu, intid, enabled)| Operation::Enable { vcpu, intid, enabled }),
        1 => (vcpu.clone(), intid.clone(), prop_oneof![Just(0x00u8), Just(0x80), Just(0xf8)])
            .prop_map(|(vcpu, intid, priority)| Operation::Priority { vcpu, intid, priority }),
        2 => (vcpu.clone(), intid.clone()).prop_map(|(vcpu, intid)| Operation::SetPending { vcpu, intid }),
        2 => (vcpu.clone(), intid.clone()).prop_map(|(vcpu, intid)| Operation::ClearPending { vcpu, intid }),
        2 => (vcpu.clone(), intid.clone()).prop_map(|(vcpu, intid)| Operation::SetActive { vcpu, intid }),
        2 => (vcpu.clone(), intid.clone()).prop_map(|(vcpu, intid)| Operation::ClearActive { vcpu, intid }),
        1 => (proptest::sample::select(vec![34u32, 35]), vcpu).prop_map(|(intid, vcpu)| Operation::Route { intid, vcpu }),
        1 => prop::bool::weighted(0.9).prop_map(|enabled| Operation::Distributor { enabled }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn hardware_lines_are_never_left_active(
        version in prop_oneof![Just(GicVersion::V3), Just(GicVersion::V2)],
        vcpus in 1usize..=2,
        list_registers in prop_oneof![Just(1usize), Just(2), Just(4)],
        operations in proptest::collection::vec(hardware_operation(), 0..60),
    ) {
        let mut harness = Harness::new(version, vcpus, list_registers);
        harness.configure_timers();
        for operation in &operations {
            harness.run(operation);
        }
        harness.drain();
    }

    #[test]
    fn never_lose_duplicate_or_misplace(
        version in prop_oneof![Just(GicVersion::V3), Just(GicVersion::V2)],
        vcpus in 1usize..=3,
        list_registers in prop_oneof![Just(1usize), Just(2), Just(4)],
        timers_configured in any::<bool>(),
        operations in proptest::collection::vec(operation(), 0..120),
    ) {
        let mut harness = Harness::new(version, vcpus, list_registers);
        if timers_configured {
            harness.configure_timers();
        }
        for operation in &operations {
            harness.run(operation);
        }
        harness.drain();
    }

    #[test]
    fn arbitrary_mmio_never_panics(
        version in prop_oneof![Just(GicVersion::V3), Just(GicVersion::V2)],
        vcpus in 1usize..=8,
        accesses in proptest::collection::vec(
            (any::<bool>(), any::<bool>(), 0usize..10, prop_oneof![0u64..0x1_0000, 0u64..0x10_0000, any::<u64>()], 0u8..4, any::<u64>()),
            0..64,
        ),
    ) {
        let mut gic = VirtualGic::new(version, vcpus, &OWNED).unwrap();
        let mut bank = FakeListRegisters::new(version, 4);
        for (distributor, write, vcpu, offset, size, value) in accesses {
            let size = [AccessSize::Byte, AccessSize::Halfword, AccessSize::Word, AccessSize::Doubleword][usize::from(size)];
            let read = match (distributor, write) {
                (true, true) => { let _ = gic.distributor_write(vcpu, offset, size, value); 0 }
                (true, false) => gic.distributor_read(vcpu, offset, size),
                (false, true) => { let _ = gic.redistributor_write(offset, size, value); 0 }
                (false, false) => gic.redistributor_read(offset, size),
            };
            prop_assert_eq!(size.truncate(read), read, "read wider than the access");
            let _ = gic.flush(vcpu % vcpus, &mut bank);
        }
    }
}

/// Found by `never_lose_duplicate_or_misplace` in CI: the timer fires while
/// its line is pending and active in software (the guest set it active and
/// something injected it); the physical line must still be deactivated once
/// the guest is done with it.
#[test]
fn timer_firing_while_pending_and_active_in_software() {
    let mut harness = Harness::new(GicVersion::V3, 1, 1);
    harness.configure_timers();
    for operation in [
        Operation::SetActive { vcpu: 0, intid: 27 },
        Operation::Inject { vcpu: 0, intid: 27 },
        Operation::TimerPeriod { vcpu: 0 },
        Operation::Complete { vcpu: 0, index: 0 },
        Operation::Acknowledge { vcpu: 0, index: 0 },
    ] {
        harness.run(&operation);
    }
    harness.drain();
}
