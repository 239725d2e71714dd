//! The word-wide bookkeeping against a per-INTID reference: the sets derived
//! from the list register shadows, the occupancy masks, the per-vCPU routed
//! SPI sets, register reads and the candidate search must always agree with
//! what the per-interrupt state says, after any sequence of operations.

use proptest::prelude::*;

use super::fake::*;
use crate::line::{FIRST_SPI_WORD, Flag, LINES, SPI_WORDS, Slot, WORDS};
use crate::registers::{BitRegister, View};
use crate::{AccessSize, GicVersion, ListRegister, ListRegisters, LrState, MAX_LIST_REGISTERS, MAX_SPIS, MAX_VCPUS, VirtualGic};

/// One bit-per-INTID register group per kind of state (the set and clear
/// groups read the same).
const BIT_REGISTERS: [BitRegister; 4] = [BitRegister::Group, BitRegister::SetEnable, BitRegister::ClearPending, BitRegister::SetActive];

/// The line sets the shadows imply: (resident, listed pending, listed
/// active), one bit per line.
fn shadow_sets(gic: &VirtualGic) -> [[u32; WORDS]; 3] {
    let mut sets = [[0u32; WORDS]; 3];
    for vcpu in 0..MAX_VCPUS {
        for index in 0..MAX_LIST_REGISTERS {
            let Some(entry) = gic.shadow(vcpu, index) else {
                continue;
            };
            let Some(slot) = gic.slot_of(vcpu, entry.intid) else {
                continue;
            };
            let (word, bit) = (slot.line() / 32, 1u32 << (slot.line() % 32));
            assert_eq!(gic.residence(slot), Some((vcpu, index)), "shadow {vcpu}/{index} holds {} but its residence disagrees", entry.intid);
            assert_eq!(sets[0][word] & bit, 0, "line {} in two shadows", slot.line());
            sets[0][word] |= bit;
            if entry.state.is_pending() {
                sets[1][word] |= bit;
            }
            if entry.state.is_active() {
                sets[2][word] |= bit;
            }
        }
    }
    sets
}

/// What one bit of `register` reads as, INTID by INTID as the GIC
/// specification puts it.
fn reference_bit(gic: &VirtualGic, view: View, register: BitRegister, intid: u32) -> bool {
    let shown = if intid < 32 { view.private } else { view.shared };
    let Some(slot) = gic.locate(view.vcpu, intid).filter(|_| shown) else {
        return false;
    };
    match register {
        BitRegister::Group => gic.version() == GicVersion::V3,
        BitRegister::SetEnable | BitRegister::ClearEnable => gic.flag(slot, Flag::Enabled),
        BitRegister::SetPending | BitRegister::ClearPending => gic.is_pending(slot),
        BitRegister::SetActive | BitRegister::ClearActive => gic.is_active(slot),
    }
}

/// The best candidate of `vcpu`, line by line.
fn reference_best(gic: &VirtualGic, vcpu: usize) -> Option<Slot> {
    let private = (0..32).map(|intid| gic.locate(vcpu, intid));
    let shared = (32..crate::SPI_LIMIT).map(|intid| gic.locate(0, intid));
    private
        .chain(shared)
        .flatten()
        .filter(|&slot| {
            let signalable = gic.flag(slot, Flag::Pending) && gic.flag(slot, Flag::Enabled) && gic.distributor_enabled;
            (signalable || gic.flag(slot, Flag::Active)) && !gic.flag(slot, Flag::Resident) && gic.target_vcpu(slot) == Some(vcpu)
        })
        .min_by_key(|&slot| (gic.priority(slot), slot.intid()))
}

/// Checks every word-wide structure of `gic` against its per-INTID
/// reference.
pub(crate) fn check_word_sets(gic: &VirtualGic) {
    // Shadow-derived sets and occupancy.
    let [resident, listed_pending, listed_active] = shadow_sets(gic);
    for word in 0..WORDS {
        assert_eq!(gic.flag_word(Flag::Resident, word), resident[word], "resident word {word}");
        assert_eq!(gic.flag_word(Flag::ListedPending, word), listed_pending[word], "listed pending word {word}");
        assert_eq!(gic.flag_word(Flag::ListedActive, word), listed_active[word], "listed active word {word}");
    }
    for vcpu in 0..MAX_VCPUS {
        let expected = (0..MAX_LIST_REGISTERS).filter(|&index| gic.shadow(vcpu, index).is_some()).fold(0u32, |mask, index| mask | 1 << index);
        assert_eq!(gic.vcpus[vcpu].occupied, expected, "occupancy of vCPU {vcpu}");
    }
    // Pending and active words against the per-line answers.
    for line in 0..LINES {
        let slot = Slot::from_bit(line / 32, line % 32);
        let bit = 1u32 << (line % 32);
        assert_eq!(gic.pending_word(line / 32) & bit != 0, gic.is_pending(slot), "pending line {line}");
        assert_eq!(gic.active_word(line / 32) & bit != 0, gic.is_active(slot), "active line {line}");
    }
    // Routed SPI sets.
    for vcpu in 0..MAX_VCPUS {
        for index in 0..MAX_SPIS {
            let expected = gic.owned.get(index) && gic.routed_vcpu(index) == Some(vcpu);
            assert_eq!(gic.routed_spis[vcpu].get(index), expected, "SPI {index} for vCPU {vcpu}");
        }
        for spi_word in 0..SPI_WORDS {
            let nonzero = gic.routed_spis[vcpu].word(spi_word) != 0;
            assert_eq!(gic.routed_words[vcpu] & (1 << spi_word) != 0, nonzero);
        }
    }
    // The candidate search.
    for vcpu in 0..gic.vcpu_count() {
        let mut candidates = crate::candidates::Candidates::EMPTY;
        gic.collect_candidates(vcpu, &mut candidates);
        let expected = reference_best(gic, vcpu);
        assert_eq!(candidates.best(gic), expected, "best candidate of vCPU {vcpu}");
        assert_eq!(candidates.is_empty(), expected.is_none());
        // What the direct timer path relies on: a vCPU with nothing changed
        // since a flush that left nothing waiting has no candidates.
        let state = &gic.vcpus[vcpu];
        if !state.dirty && !state.waiting && !state.clear_list_registers {
            assert!(candidates.is_empty(), "clean vCPU {vcpu} has candidates: {:?}", candidates.best(gic));
        }
    }
    check_clean_vcpus(gic);
}

/// What `reinject_in_place` relies on instead of checking: only existing
/// vCPUs have list register entries, a list register reset is only due on
/// a dirty vCPU, and on a clean vCPU (flushed since anything changed) every
/// line in a list register has no software active state or cancellation,
/// one held Pending has no software pending state and may be signalled, and
/// one with HW = 1 has its physical line active for the guest. Hardware
/// bindings only exist for PPIs and SPIs.
fn check_clean_vcpus(gic: &VirtualGic) {
    for vcpu in 0..MAX_VCPUS {
        let state = &gic.vcpus[vcpu];
        if vcpu >= gic.vcpu_count() {
            assert_eq!(state.occupied, 0, "list registers of missing vCPU {vcpu}");
        }
        if state.clear_list_registers {
            assert!(state.dirty, "vCPU {vcpu}: a reset is due but it is clean");
        }
        if state.dirty {
            continue;
        }
        for index in 0..MAX_LIST_REGISTERS {
            let Some(entry) = gic.shadow(vcpu, index) else {
                continue;
            };
            let slot = gic.slot_of(vcpu, entry.intid).unwrap();
            let line = format!("clean vCPU {vcpu}, register {index}, INTID {}", entry.intid);
            assert!(!gic.flag(slot, Flag::Active), "{line}: active in software");
            assert!(!gic.flag(slot, Flag::CancelPending), "{line}: pending cancelled");
            assert!(!gic.flag(slot, Flag::CancelActive), "{line}: active cancelled");
            if entry.state == LrState::Pending {
                assert!(!gic.flag(slot, Flag::Pending), "{line}: pending in software too");
                assert!(gic.may_signal(slot, vcpu), "{line}: pending but not signalable");
            }
            if entry.physical.is_some() {
                assert!(gic.flag(slot, Flag::PhysicalActive), "{line}: HW = 1, line inactive");
            }
        }
    }
    for line in 0..LINES {
        let slot = Slot::from_bit(line / 32, line % 32);
        if gic.hardware(slot).is_some() {
            assert!(slot.intid() >= crate::SGI_COUNT, "SGI line {line} is hardware-backed");
        }
    }
}

/// Checks register reads, word by word, against INTID-by-INTID reads in
/// every frame (slower than [`check_word_sets`]).
pub(crate) fn check_register_reads(gic: &VirtualGic) {
    // Register words against INTID-by-INTID reads, in every frame.
    for vcpu in 0..=gic.vcpu_count() {
        let views = [View { vcpu, private: true, shared: false }, View { vcpu, private: false, shared: true }, View { vcpu, private: true, shared: true }];
        for view in views {
            for number in 0..9u32 {
                let word = gic.register_word(view, number);
                for bit in 0..32 {
                    let intid = number * 32 + bit;
                    let shown = if intid < 32 { view.private } else { view.shared };
                    let visible = shown && gic.locate(vcpu, intid).is_some();
                    assert_eq!(word.shown & (1 << bit) != 0, shown, "shown {intid} {view:?}");
                    assert_eq!(word.visible & (1 << bit) != 0, visible, "visible {intid} {view:?}");
                    if visible {
                        let line_word = match intid {
                            0..32 => vcpu,
                            _ => FIRST_SPI_WORD + (intid as usize - 32) / 32,
                        };
                        assert_eq!(word.line_word, line_word, "line word of {intid}");
                    }
                }
                for register in BIT_REGISTERS {
                    let expected = (0..32).fold(0u32, |value, bit| value | u32::from(reference_bit(gic, view, register, number * 32 + bit)) << bit);
                    assert_eq!(gic.read_bits(view, register, number), expected, "{register:?} word {number} {view:?}");
                }
            }
        }
    }
}

/// One step against the GIC.
#[derive(Clone, Debug)]
enum Step {
    /// A word write to a one-bit register group (distributor or, with
    /// `redistributor`, the GICv3 SGI_base frame of `vcpu`).
    Bits {
        redistributor: bool,
        vcpu: usize,
        group: usize,
        number: u32,
        value: u32,
    },
    Priority {
        vcpu: usize,
        intid: u32,
        value: u8,
    },
    Route {
        intid: u32,
        vcpu: usize,
    },
    Distributor {
        enabled: bool,
    },
    Inject {
        vcpu: usize,
        intid: u32,
    },
    InjectHardware {
        vcpu: usize,
        intid: u32,
    },
    Sgi {
        sender: usize,
        value: u64,
    },
    Flush {
        vcpu: usize,
    },
    /// The guest changes list register `index` of `vcpu`: acknowledge,
    /// complete (fields kept, as hardware does), or overwrite.
    Guest {
        vcpu: usize,
        index: usize,
        action: u8,
        raw: u64,
    },
    ResetVcpu {
        vcpu: usize,
    },
    Reset,
    /// `inject_hardware_and_flush`, checked against the general path.
    InjectHardwareAndFlush {
        vcpu: usize,
        intid: u32,
    },
}

fn step() -> impl Strategy<Value = Step> {
    let vcpu = 0usize..4;
    let intid = prop_oneof![0u32..48, Just(27u32), 32u32..40, 0u32..300];
    prop_oneof![
        4 => (any::<bool>(), vcpu.clone(), 0usize..7, 0u32..3, any::<u32>()).prop_map(
            |(redistributor, vcpu, group, number, value)| Step::Bits { redistributor, vcpu, group, number, value }),
        2 => (vcpu.clone(), intid.clone(), any::<u8>()).prop_map(|(vcpu, intid, value)| Step::Priority { vcpu, intid, value }),
        1 => (32u32..48, 0usize..5).prop_map(|(intid, vcpu)| Step::Route { intid, vcpu }),
        1 => any::<bool>().prop_map(|enabled| Step::Distributor { enabled }),
        3 => (vcpu.clone(), intid.clone()).prop_map(|(vcpu, intid)| Step::Inject { vcpu, intid }),
        2 => (vcpu.clone(), intid.clone()).prop_map(|(vcpu, intid)| Step::InjectHardware { vcpu, intid }),
        1 => (vcpu.clone(), any::<u64>()).prop_map(|(sender, value)| Step::Sgi { sender, value: value & 0x0F00_FFFF }),
        4 => vcpu.clone().prop_map(|vcpu| Step::Flush { vcpu }),
        4 => (vcpu.clone(), 0usize..4, any::<u8>(), any::<u64>())
            .prop_map(|(vcpu, index, action, raw)| Step::Guest { vcpu, index, action, raw }),
        3 => (vcpu.clone(), prop_oneof![Just(27u32), Just(30u32), intid.clone()])
            .prop_map(|(vcpu, intid)| Step::InjectHardwareAndFlush { vcpu, intid }),
        1 => vcpu.prop_map(|vcpu| Step::ResetVcpu { vcpu }),
        1 => Just(Step::Reset),
    ]
}

fn apply(gic: &mut VirtualGic, banks: &mut [FakeListRegisters], step: &Step) {
    const GROUPS: [u64; 7] = [GICD_IGROUPR, GICD_ISENABLER, GICD_ICENABLER, GICD_ISPENDR, GICD_ICPENDR, GICD_ISACTIVER, GICD_ICACTIVER];
    match *step {
        Step::Bits { redistributor, vcpu, group, number, value } => {
            let base = GROUPS[group];
            let _ = if redistributor {
                gic.redistributor_write(frame(vcpu) + SGI_BASE + base, AccessSize::Word, u64::from(value))
            } else {
                gic.distributor_write(vcpu, base + 4 * u64::from(number), AccessSize::Word, u64::from(value))
            };
        }
        Step::Priority { vcpu, intid, value } => {
            let _ = write_priority(gic, vcpu, intid, value);
        }
        Step::Route { intid, vcpu } => {
            let _ = route(gic, intid, vcpu);
        }
        Step::Distributor { enabled } => {
            let value = if enabled { 0b11 } else { 0 };
            let _ = gic.distributor_write(0, GICD_CTLR, AccessSize::Word, value);
        }
        Step::Inject { vcpu, intid } => {
            let _ = gic.inject(vcpu, intid);
        }
        Step::InjectHardware { vcpu, intid } => {
            let _ = gic.inject_hardware(vcpu, intid, intid + 64);
        }
        Step::Sgi { sender, value } => {
            let _ = match gic.version() {
                GicVersion::V3 => gic.send_sgi_v3(sender, value),
                GicVersion::V2 => gic.send_sgi_v2(sender, value as u32),
            };
        }
        Step::Flush { vcpu } => {
            if let Some(bank) = banks.get_mut(vcpu) {
                let _ = gic.flush(vcpu, bank);
            }
        }
        Step::Guest { vcpu, index, action, raw } => {
            let Some(bank) = banks.get_mut(vcpu) else {
                return;
            };
            let index = index % bank.count();
            let mut entry = bank.get(index);
            match action % 4 {
                0 if entry.state == LrState::Pending => entry.state = LrState::Active,
                1 if entry.state == LrState::Active => entry.state = LrState::Invalid,
                2 if entry.state == LrState::PendingActive => entry.state = LrState::Active,
                3 if action > 250 => {
                    let value = match gic.version() {
                        GicVersion::V3 => crate::decode_v3(raw),
                        GicVersion::V2 => crate::decode_v2(raw as u32),
                    };
                    bank.set(index, value);
                    return;
                }
                _ => return,
            }
            bank.set(index, entry);
        }
        Step::ResetVcpu { vcpu } => {
            let _ = gic.reset_vcpu(vcpu);
        }
        Step::Reset => {
            let _ = gic.reset();
        }
        Step::InjectHardwareAndFlush { vcpu, intid } => {
            if let Some(bank) = banks.get_mut(vcpu) {
                let _ = super::direct::inject_and_flush_checked(gic, vcpu, intid, intid, bank);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn word_sets_agree_with_per_intid_reference(
        version in prop_oneof![Just(GicVersion::V3), Just(GicVersion::V2)],
        vcpus in 1usize..=3,
        list_registers in prop_oneof![Just(1usize), Just(2), Just(4)],
        steps in proptest::collection::vec(step(), 0..60),
    ) {
        let mut gic = VirtualGic::new(version, vcpus, &[32, 33, 35, 40, 63, 64, 100]).unwrap();
        gic.bind_hardware(0, 33, Some(97)).unwrap();
        let mut banks = vec![FakeListRegisters::new(version, list_registers); vcpus];
        check_word_sets(&gic);
        check_register_reads(&gic);
        for step in &steps {
            apply(&mut gic, &mut banks, step);
            check_word_sets(&gic);
            check_register_reads(&gic);
        }
    }
}

#[test]
fn a_completed_entry_is_refilled_without_an_intermediate_invalid_write() {
    let mut gic = gic(GicVersion::V3, 1, &[]);
    enable_distributor(&mut gic);
    configure(&mut gic, 0, 27, 0x80);
    let mut lrs = FakeListRegisters::new(GicVersion::V3, 4);
    assert_eq!(gic.inject_hardware(0, 27, 27), Some(0));
    let _ = gic.flush(0, &mut lrs);
    assert_eq!(lrs.get(0).state, LrState::Pending);
    // The guest acknowledges and completes it; the register keeps its
    // fields with state Invalid, as hardware leaves it.
    let mut entry = lrs.get(0);
    entry.state = LrState::Invalid;
    lrs.set(0, entry);
    assert_eq!(gic.inject_hardware(0, 27, 27), Some(0));
    let writes = lrs.writes;
    let outcome = gic.flush(0, &mut lrs);
    assert!(!outcome.needs_maintenance);
    assert_eq!(lrs.writes, writes + 1, "one write: the new instance");
    let expected = ListRegister { state: LrState::Pending, intid: 27, priority: 0x80, group1: true, hardware: Some(27) };
    assert_eq!(lrs.get(0), expected);
    check_word_sets(&gic);
}

#[test]
fn a_vacated_entry_that_is_not_refilled_is_written_invalid() {
    let mut gic = gic(GicVersion::V3, 1, &[]);
    enable_distributor(&mut gic);
    configure(&mut gic, 0, 20, 0x80);
    let mut lrs = FakeListRegisters::new(GicVersion::V3, 4);
    let _ = gic.inject(0, 20);
    let _ = gic.flush(0, &mut lrs);
    let mut entry = lrs.get(0);
    entry.state = LrState::Invalid;
    lrs.set(0, entry);
    let _ = write_bit(&mut gic, 0, GICD_ISENABLER, 21);
    let _ = gic.flush(0, &mut lrs);
    assert_eq!(lrs.get(0), ListRegister::INVALID);
    assert_eq!(lrs.raw(0), 0);
    check_word_sets(&gic);
}
