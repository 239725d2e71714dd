//! The direct path of `inject_hardware_and_flush` against the general one
//! (`inject_hardware`, then `flush`): same model state, same list register
//! contents, same outcome, whichever path is taken.

use super::fake::*;
use super::invariants::check_word_sets;
use crate::{FlushOutcome, GicVersion, ListRegister, LrState, VirtualGic};

/// Which path `inject_hardware_and_flush` took.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Path {
    /// `inject_hardware` and `flush`.
    General,
    /// The direct path, updating the model.
    Direct,
    /// The steady state: list register 0 rewritten, the model unchanged.
    InPlace,
}

/// Runs `inject_hardware_and_flush` on `gic` and `bank`, and the general path
/// on copies of both, and checks that they agree; also checks that a
/// declined direct path changes nothing. Returns the outcome and the path
/// taken.
pub(crate) fn inject_and_flush_checked(
    gic: &mut VirtualGic,
    vcpu: usize,
    intid: u32,
    physical_intid: u32,
    bank: &mut FakeListRegisters,
) -> (FlushOutcome, Path) {
    let (mut general, mut general_bank) = (gic.clone(), bank.clone());
    let _ = general.inject_hardware(vcpu, intid, physical_intid);
    let expected = general.flush(vcpu, &mut general_bank);
    let direct = {
        let (mut probe, mut probe_bank) = (gic.clone(), bank.clone());
        let in_place = probe.reinject_in_place(vcpu, intid, physical_intid, &mut probe_bank);
        if in_place {
            assert_eq!(&probe, gic, "reinjecting in place changed the model");
            assert_eq!(probe_bank.writes, bank.writes + 1, "one write");
        } else {
            assert_eq!(&probe, gic, "a declined in-place path changed the model");
            assert_eq!(probe_bank.writes, bank.writes, "a declined in-place path wrote");
        }
        let mut second = gic.clone();
        let mut second_bank = bank.clone();
        let taken = second.inject_directly(vcpu, intid, physical_intid, &mut second_bank);
        if !taken {
            assert_eq!(&second, gic, "a declined direct path changed the model");
            assert_eq!(second_bank.writes, bank.writes, "a declined direct path wrote");
        } else if in_place {
            assert_eq!(second, probe, "the two direct paths disagree");
            for index in 0..bank.raw_count() {
                assert_eq!(second_bank.raw(index), probe_bank.raw(index));
            }
        }
        assert!(taken || !in_place, "in place but not direct");
        match (in_place, taken) {
            (true, _) => Path::InPlace,
            (false, true) => Path::Direct,
            (false, false) => Path::General,
        }
    };
    let outcome = gic.inject_hardware_and_flush(vcpu, intid, physical_intid, bank);
    assert_eq!(outcome, expected, "outcome ({direct:?})");
    assert_eq!(gic, &general, "model state ({direct:?})");
    for index in 0..bank.raw_count() {
        assert_eq!(bank.raw(index), general_bank.raw(index), "list register {index} ({direct:?})");
    }
    (outcome, direct)
}

/// A GIC with the distributor and PPI 27 of every vCPU enabled at `priority`.
fn timer_gic(version: GicVersion, vcpus: usize, priority: u8) -> VirtualGic {
    let mut gic = gic(version, vcpus, &[32, 33]);
    enable_distributor(&mut gic);
    for vcpu in 0..vcpus {
        configure(&mut gic, vcpu, 27, priority);
    }
    gic
}

/// The guest acknowledges and completes list register `index`; its fields
/// stay with state Invalid, as hardware leaves them.
fn guest_handles(bank: &mut FakeListRegisters, index: usize) {
    assert!(bank.acknowledge(index).is_some());
    let fields = bank.get(index);
    assert_eq!(bank.complete(index), Some(27));
    bank.set(index, ListRegister { state: LrState::Invalid, ..fields });
}

#[test]
fn the_timer_cycle_takes_the_direct_path() {
    for version in [GicVersion::V3, GicVersion::V2] {
        let mut gic = timer_gic(version, 2, 0xa0);
        let mut bank = FakeListRegisters::new(version, 4);
        // The first flush clears the list registers: general path.
        let _ = gic.flush(1, &mut bank);
        let (_, path) = inject_and_flush_checked(&mut gic, 1, 27, 27, &mut bank);
        assert_eq!(path, Path::Direct, "first injection into empty list registers");
        let expected = ListRegister { state: LrState::Pending, intid: 27, priority: 0xa0, group1: version == GicVersion::V3, hardware: Some(27) };
        assert_eq!(bank.get(0), expected);
        for _ in 0..3 {
            guest_handles(&mut bank, 0);
            let reads = bank.reads.get();
            let writes = bank.writes;
            let (outcome, path) = inject_and_flush_checked(&mut gic, 1, 27, 27, &mut bank);
            assert_eq!(path, Path::InPlace);
            assert_eq!(outcome, FlushOutcome::default());
            assert_eq!(bank.get(0), expected);
            // The checked helper ran the paths on copies: this bank saw
            // one read and one write.
            assert_eq!(bank.reads.get(), reads + 1);
            assert_eq!(bank.writes, writes + 1);
        }
        check_word_sets(&gic);
    }
}

#[test]
fn a_completed_timer_in_a_higher_register_moves_to_register_0() {
    let mut gic = timer_gic(GicVersion::V3, 1, 0x80);
    configure(&mut gic, 0, 20, 0x00);
    configure(&mut gic, 0, 21, 0x00);
    let mut bank = FakeListRegisters::new(GicVersion::V3, 4);
    let _ = gic.inject(0, 20);
    let _ = gic.inject(0, 21);
    let _ = gic.flush(0, &mut bank);
    // 20 and 21 hold registers 0 and 1: the timer goes to 2.
    let (_, path) = inject_and_flush_checked(&mut gic, 0, 27, 27, &mut bank);
    assert_eq!(path, Path::General, "other registers in use");
    assert_eq!(bank.get(2).intid, 27);
    // The guest handles everything; a flush folds 20 and 21 back but the
    // completed timer entry stays (its completion is noted at the next
    // injection).
    assert_eq!(bank.run_guest(), vec![20, 21, 27]);
    let mut entry = ListRegister { state: LrState::Invalid, ..bank.get(2) };
    entry.hardware = Some(27);
    bank.set(2, entry);
    let _ = gic.flush(0, &mut bank);
    let (_, path) = inject_and_flush_checked(&mut gic, 0, 27, 27, &mut bank);
    assert_eq!(path, Path::Direct);
    assert_eq!(bank.get(0).intid, 27);
    assert_eq!(bank.raw(2), 0, "the vacated register is written Invalid");
    check_word_sets(&gic);
}

#[test]
fn the_direct_path_declines_what_it_does_not_cover() {
    let version = GicVersion::V3;
    // Each case sets up a state, then the injection must take the general
    // path and still agree with it.
    type Setup = fn(&mut VirtualGic, &mut FakeListRegisters);
    let cases: [(&str, Setup); 8] = [
        ("distributor disabled", |gic, _| {
            let _ = gic.distributor_write(0, GICD_CTLR, crate::AccessSize::Word, 0);
        }),
        ("timer disabled", |gic, _| {
            let _ = write_bit(gic, 0, GICD_ICENABLER, 27);
        }),
        ("dirty", |gic, _| {
            let _ = gic.inject(0, 20);
        }),
        ("pending again in software while the hardware instance was active", |gic, bank| {
            let _ = gic.inject_hardware(0, 27, 27);
            let _ = gic.flush(0, bank);
            let _ = bank.acknowledge(0);
            let _ = write_bit(gic, 0, GICD_ISPENDR, 27);
            let _ = gic.flush(0, bank);
            assert_eq!(bank.get(0).state, LrState::Active, "the second instance waits in software");
            let fields = bank.get(0);
            let _ = bank.complete(0);
            bank.set(0, ListRegister { state: LrState::Invalid, ..fields });
        }),
        ("waiting", |gic, bank| {
            configure(gic, 0, 20, 0x10);
            configure(gic, 0, 21, 0x10);
            let _ = gic.inject(0, 20);
            let _ = gic.inject(0, 21);
            let _ = gic.flush(0, bank);
        }),
        ("timer still pending in its register", |gic, bank| {
            let _ = gic.inject_hardware(0, 27, 27);
            let _ = gic.flush(0, bank);
        }),
        ("another interrupt in a register", |gic, bank| {
            configure(gic, 0, 20, 0x10);
            let _ = gic.inject(0, 20);
            let _ = gic.flush(0, bank);
        }),
        ("register overwritten behind the model's back", |gic, bank| {
            let _ = gic.inject_hardware(0, 27, 27);
            let _ = gic.flush(0, bank);
            let foreign = ListRegister { intid: 99, ..bank.get(0) };
            bank.set(0, ListRegister { state: LrState::Invalid, ..foreign });
            let _ = gic;
        }),
    ];
    for (name, setup) in cases {
        let mut gic = timer_gic(version, 1, 0x80);
        let mut bank = FakeListRegisters::new(version, 1);
        let _ = gic.flush(0, &mut bank);
        setup(&mut gic, &mut bank);
        let (_, path) = inject_and_flush_checked(&mut gic, 0, 27, 27, &mut bank);
        // The last case is covered: an Invalid register is a completed one
        // whatever its other fields say.
        let expected = if name == "register overwritten behind the model's back" { Path::InPlace } else { Path::General };
        assert_eq!(path, expected, "{name}");
        check_word_sets(&gic);
    }
}

#[test]
fn the_direct_path_declines_bad_arguments() {
    let mut gic = timer_gic(GicVersion::V3, 1, 0x80);
    let mut bank = FakeListRegisters::new(GicVersion::V3, 2);
    let _ = gic.flush(0, &mut bank);
    for (vcpu, intid, physical) in [(0, 3, 27), (0, 27, 5), (0, 27, 1020), (1, 27, 27), (0, 40, 40)] {
        let (_, path) = inject_and_flush_checked(&mut gic, vcpu, intid, physical, &mut bank);
        assert_eq!(path, Path::General, "{vcpu} {intid} {physical}");
    }
    let mut none = FakeListRegisters::new(GicVersion::V3, 0);
    let (_, path) = inject_and_flush_checked(&mut gic, 0, 27, 27, &mut none);
    assert_eq!(path, Path::General, "no list registers");
}
