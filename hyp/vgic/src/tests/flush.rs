//! List register management: overflow, priority, preemption, merging of
//! pending-and-active, hardware interrupts, eviction, and the fast path.

use super::fake::*;
use crate::{AccessSize, GicVersion, ListRegister, ListRegisters, LrState, PhysicalAction, VirtualGic};

const BOTH: [GicVersion; 2] = [GicVersion::V3, GicVersion::V2];

/// One vCPU owning SPIs 32..32 + `count`, all enabled with `priorities`.
fn spis_with_priorities(version: GicVersion, priorities: &[u8]) -> (VirtualGic, Vec<u32>) {
    let intids: Vec<u32> = (32..32 + priorities.len() as u32).collect();
    let mut gic = gic(version, 1, &intids);
    enable_distributor(&mut gic);
    for (&intid, &priority) in intids.iter().zip(priorities) {
        configure(&mut gic, 0, intid, priority);
    }
    (gic, intids)
}

#[test]
fn overflow_delivers_everything_once_by_priority() {
    for version in BOTH {
        // Ten interrupts, priorities deliberately not in INTID order, with ties.
        let priorities = [0x80, 0x10, 0xF0, 0x10, 0x40, 0x20, 0xA0, 0x08, 0x40, 0x60];
        let (mut gic, intids) = spis_with_priorities(version, &priorities);
        let mut lrs = FakeListRegisters::new(version, 4);
        for &intid in &intids {
            assert_eq!(gic.inject(0, intid), Some(0));
        }
        let mut expected: Vec<(u8, u32)> = priorities.iter().copied().zip(intids.iter().copied()).collect();
        expected.sort();

        let outcome = flush(&mut gic, 0, &mut lrs);
        assert!(outcome.needs_maintenance, "{version:?}: six still wait");
        let mut first: Vec<u32> = lrs.pending_intids();
        first.sort();
        let mut best_four: Vec<u32> = expected.iter().take(4).map(|(_, intid)| *intid).collect();
        best_four.sort();
        assert_eq!(first, best_four, "{version:?}: the four best go first");

        let mut delivered = Vec::new();
        for _ in 0..10 {
            // The guest handles one interrupt at a time, the best one first.
            let mut pending: Vec<(usize, ListRegister)> = lrs.entries().into_iter().filter(|(_, entry)| entry.state == LrState::Pending).collect();
            pending.sort_by_key(|(_, entry)| (entry.priority, entry.intid));
            let Some((index, _)) = pending.first().copied() else {
                break;
            };
            delivered.push(lrs.acknowledge(index).unwrap());
            lrs.complete(index);
            let _ = flush(&mut gic, 0, &mut lrs);
        }
        let in_order: Vec<u32> = expected.iter().map(|(_, intid)| *intid).collect();
        assert_eq!(delivered, in_order, "{version:?}: each exactly once, by priority");
        assert!(lrs.entries().is_empty());
        assert!(!flush(&mut gic, 0, &mut lrs).needs_maintenance);
    }
}

#[test]
fn completing_a_batch_refills_by_priority() {
    let (mut gic, intids) = spis_with_priorities(GicVersion::V3, &[0x50; 10]);
    let mut lrs = FakeListRegisters::new(GicVersion::V3, 4);
    for &intid in &intids {
        let _ = gic.inject(0, intid);
    }
    let mut seen = Vec::new();
    for _ in 0..5 {
        let _ = flush(&mut gic, 0, &mut lrs);
        let mut batch = lrs.run_guest();
        batch.sort();
        seen.extend(batch);
    }
    // Equal priorities: lowest INTID first, so batches come in INTID order.
    assert_eq!(seen, intids);
}

#[test]
fn higher_priority_preempts_a_pending_entry() {
    for version in BOTH {
        let mut priorities = vec![0xF0; 4];
        priorities.push(0x10);
        let (mut gic, intids) = spis_with_priorities(version, &priorities);
        let mut lrs = FakeListRegisters::new(version, 4);
        for &intid in &intids[..4] {
            let _ = gic.inject(0, intid);
        }
        assert!(!flush(&mut gic, 0, &mut lrs).needs_maintenance);
        assert_eq!(lrs.pending_intids().len(), 4);

        let _ = gic.inject(0, 36);
        let outcome = flush(&mut gic, 0, &mut lrs);
        let held = lrs.pending_intids();
        assert!(held.contains(&36), "{version:?}: the urgent one is in: {held:?}");
        // Among equal priorities the highest INTID is the one evicted.
        assert!(!held.contains(&35), "{version:?}: {held:?}");
        assert!(outcome.needs_maintenance, "{version:?}: the evicted one waits");
        // Evicted, not lost: still reads as pending.
        assert!(read_bit(&mut gic, 0, GICD_ISPENDR, 35));
    }
}

#[test]
fn active_entries_are_never_evicted() {
    let (mut gic, intids) = spis_with_priorities(GicVersion::V3, &[0xF0, 0xF0, 0xF0, 0xF0, 0x10]);
    let mut lrs = FakeListRegisters::new(GicVersion::V3, 4);
    for &intid in &intids[..4] {
        let _ = gic.inject(0, intid);
    }
    let _ = flush(&mut gic, 0, &mut lrs);
    for index in 0..4 {
        lrs.acknowledge(index);
    }
    let _ = gic.inject(0, 36);
    let outcome = flush(&mut gic, 0, &mut lrs);
    assert!(outcome.needs_maintenance);
    assert!(lrs.entries().iter().all(|(_, entry)| entry.state == LrState::Active));
    // Once one completes, the waiting interrupt takes its place.
    lrs.complete(2);
    let _ = flush(&mut gic, 0, &mut lrs);
    assert_eq!(lrs.pending_intids(), vec![36]);
}

#[test]
fn pending_again_while_active_becomes_pending_active() {
    for version in BOTH {
        let (mut gic, _) = spis_with_priorities(version, &[0x20]);
        let mut lrs = FakeListRegisters::new(version, 4);
        let _ = gic.inject(0, 32);
        let _ = flush(&mut gic, 0, &mut lrs);
        assert_eq!(lrs.acknowledge(0), Some(32));
        let _ = gic.inject(0, 32);
        let _ = flush(&mut gic, 0, &mut lrs);
        let entries = lrs.entries();
        assert_eq!(entries.len(), 1, "{version:?}: one register, not two");
        assert_eq!(entries[0].1.state, LrState::PendingActive);
        // The guest completes the first instance, then takes the second.
        lrs.complete(0);
        assert_eq!(lrs.acknowledge(0), Some(32));
        lrs.complete(0);
        let _ = flush(&mut gic, 0, &mut lrs);
        assert!(lrs.entries().is_empty());
        assert!(!read_bit(&mut gic, 0, GICD_ISPENDR, 32));
    }
}

#[test]
fn pending_twice_before_acknowledgement_merges() {
    let (mut gic, _) = spis_with_priorities(GicVersion::V3, &[0x20]);
    let mut lrs = FakeListRegisters::new(GicVersion::V3, 4);
    let _ = gic.inject(0, 32);
    let _ = flush(&mut gic, 0, &mut lrs);
    let _ = gic.inject(0, 32);
    let _ = flush(&mut gic, 0, &mut lrs);
    assert_eq!(lrs.run_guest(), vec![32]);
    let _ = flush(&mut gic, 0, &mut lrs);
    assert!(lrs.run_guest().is_empty());
}

#[test]
fn hardware_interrupt_carries_hw_and_pintid() {
    for version in BOTH {
        let (mut gic, _) = spis_with_priorities(version, &[0xA0, 0xA0, 0xA0, 0xA0, 0xA0, 0xA0, 0xA0, 0xA0, 0xA0]);
        let mut lrs = FakeListRegisters::new(version, 4);
        assert_eq!(gic.inject_hardware(0, 40, 72), Some(0));
        let _ = flush(&mut gic, 0, &mut lrs);
        let (index, entry) = lrs.entries()[0];
        assert_eq!(entry.intid, 40);
        assert_eq!(entry.hardware, Some(72));
        let raw = lrs.raw(index);
        match version {
            GicVersion::V3 => {
                assert_ne!(raw & (1 << 61), 0, "HW bit");
                assert_eq!((raw >> 32) & 0x1FFF, 72, "pINTID");
            }
            GicVersion::V2 => {
                assert_ne!(raw & (1 << 31), 0, "HW bit");
                assert_eq!((raw >> 10) & 0x3FF, 72, "PhysicalID");
            }
        }
        let mirror = gic.hardware_mirrors().next().unwrap();
        assert_eq!((mirror.intid, mirror.physical_intid), (40, 72));
        assert!(mirror.physical_active);
        lrs.acknowledge(index);
        assert_eq!(lrs.complete(index), Some(72), "the guest deactivates the line");
        let _ = flush(&mut gic, 0, &mut lrs);
        assert!(!gic.hardware_mirrors().next().unwrap().physical_active);
    }
}

#[test]
fn hardware_interrupt_never_pending_and_active() {
    let (mut gic, _) = spis_with_priorities(GicVersion::V3, &[0x20]);
    let mut lrs = FakeListRegisters::new(GicVersion::V3, 4);
    let _ = gic.inject_hardware(0, 32, 64);
    let _ = flush(&mut gic, 0, &mut lrs);
    lrs.acknowledge(0);
    // The guest pends it again through the distributor while it is active.
    let _ = write_bit(&mut gic, 0, GICD_ISPENDR, 32);
    let outcome = flush(&mut gic, 0, &mut lrs);
    assert_eq!(lrs.get(0).state, LrState::Active);
    assert_eq!(lrs.entries().len(), 1, "not in a second register either");
    // It is in a list register, so no maintenance interrupt: the second
    // instance goes in at the first flush after the guest completes.
    assert!(!outcome.needs_maintenance);
    assert_eq!(lrs.complete(0), Some(64));
    let _ = flush(&mut gic, 0, &mut lrs);
    let entry = lrs.get(0);
    assert_eq!((entry.state, entry.hardware), (LrState::Pending, None));
}

#[test]
fn hardware_line_firing_again_before_synchronization_stays_active() {
    let (mut gic, _) = spis_with_priorities(GicVersion::V3, &[0x20]);
    let mut lrs = FakeListRegisters::new(GicVersion::V3, 4);
    let _ = gic.inject_hardware(0, 32, 64);
    let _ = flush(&mut gic, 0, &mut lrs);
    lrs.acknowledge(0);
    assert_eq!(lrs.complete(0), Some(64));
    // The line fires again before the next flush saw the completion.
    let _ = gic.inject_hardware(0, 32, 64);
    let _ = flush(&mut gic, 0, &mut lrs);
    assert_eq!(lrs.get(0).hardware, Some(64), "the new instance still deactivates the line");
}

#[test]
fn clearing_state_through_the_distributor_reaches_the_list_register() {
    let (mut gic, _) = spis_with_priorities(GicVersion::V3, &[0x20, 0x20]);
    let mut lrs = FakeListRegisters::new(GicVersion::V3, 4);
    let _ = gic.inject(0, 32);
    let _ = gic.inject_hardware(0, 33, 90);
    let _ = flush(&mut gic, 0, &mut lrs);
    let effects = write_bit(&mut gic, 0, GICD_ICPENDR, 32);
    assert_eq!(effects.vcpus_to_refresh, 1);
    assert!(!read_bit(&mut gic, 0, GICD_ISPENDR, 32));
    let hardware_index = lrs.entries().iter().find(|(_, entry)| entry.intid == 33).unwrap().0;
    lrs.acknowledge(hardware_index);
    let _ = flush(&mut gic, 0, &mut lrs);
    let effects = write_bit(&mut gic, 0, GICD_ICACTIVER, 33);
    assert_eq!(effects.physical.iter().collect::<Vec<_>>(), vec![PhysicalAction::Deactivate(90)]);
    let _ = flush(&mut gic, 0, &mut lrs);
    assert!(lrs.entries().is_empty());
}

#[test]
fn disabling_evicts_a_pending_entry() {
    let (mut gic, _) = spis_with_priorities(GicVersion::V3, &[0x20]);
    let mut lrs = FakeListRegisters::new(GicVersion::V3, 4);
    let _ = gic.inject(0, 32);
    let _ = flush(&mut gic, 0, &mut lrs);
    let effects = write_bit(&mut gic, 0, GICD_ICENABLER, 32);
    assert_eq!(effects.vcpus_to_refresh, 1);
    let _ = flush(&mut gic, 0, &mut lrs);
    assert!(lrs.entries().is_empty());
    assert!(read_bit(&mut gic, 0, GICD_ISPENDR, 32), "still pending");
    let _ = write_bit(&mut gic, 0, GICD_ISENABLER, 32);
    let _ = flush(&mut gic, 0, &mut lrs);
    assert_eq!(lrs.run_guest(), vec![32]);
}

#[test]
fn rerouting_moves_a_pending_interrupt() {
    for version in BOTH {
        let mut gic = gic(version, 2, &[32]);
        enable_distributor(&mut gic);
        configure(&mut gic, 0, 32, 0x20);
        let mut lrs0 = FakeListRegisters::new(version, 4);
        let mut lrs1 = FakeListRegisters::new(version, 4);
        assert_eq!(gic.inject(0, 32), Some(0));
        let _ = flush(&mut gic, 0, &mut lrs0);
        let effects = route(&mut gic, 32, 1);
        assert_eq!(effects.vcpus_to_refresh, 0b11, "{version:?}");
        let _ = flush(&mut gic, 0, &mut lrs0);
        assert!(lrs0.entries().is_empty(), "{version:?}");
        let _ = flush(&mut gic, 1, &mut lrs1);
        assert_eq!(lrs1.run_guest(), vec![32], "{version:?}");
    }
}

#[test]
fn completion_on_the_old_vcpu_hands_over_to_the_new_one() {
    let mut gic = gic(GicVersion::V3, 2, &[32]);
    enable_distributor(&mut gic);
    configure(&mut gic, 0, 32, 0x20);
    let mut lrs0 = FakeListRegisters::new(GicVersion::V3, 4);
    let mut lrs1 = FakeListRegisters::new(GicVersion::V3, 4);
    let _ = gic.inject(0, 32);
    let _ = flush(&mut gic, 0, &mut lrs0);
    lrs0.acknowledge(0);
    let _ = route(&mut gic, 32, 1);
    // Pending again while still active on vCPU 0.
    assert_eq!(gic.inject(0, 32), Some(1));
    let _ = flush(&mut gic, 1, &mut lrs1);
    assert!(lrs1.entries().is_empty(), "not in two list registers at once");
    lrs0.complete(0);
    let outcome = flush(&mut gic, 0, &mut lrs0);
    assert_eq!(outcome.vcpus_to_refresh, 0b10);
    let _ = flush(&mut gic, 1, &mut lrs1);
    assert_eq!(lrs1.run_guest(), vec![32]);
}

#[test]
fn distributor_disable_holds_delivery() {
    let (mut gic, _) = spis_with_priorities(GicVersion::V2, &[0x20]);
    let mut lrs = FakeListRegisters::new(GicVersion::V2, 4);
    let _ = gic.distributor_write(0, GICD_CTLR, AccessSize::Word, 0);
    let _ = gic.inject(0, 32);
    assert!(!flush(&mut gic, 0, &mut lrs).needs_maintenance);
    assert!(lrs.entries().is_empty());
    enable_distributor(&mut gic);
    let _ = flush(&mut gic, 0, &mut lrs);
    assert_eq!(lrs.run_guest(), vec![32]);
}

#[test]
fn flush_is_free_when_nothing_changed() {
    let (mut gic, _) = spis_with_priorities(GicVersion::V3, &[0x20]);
    let mut lrs = FakeListRegisters::new(GicVersion::V3, 4);
    let _ = flush(&mut gic, 0, &mut lrs);
    let (reads, writes) = (lrs.reads.get(), lrs.writes);
    for _ in 0..3 {
        assert!(!flush(&mut gic, 0, &mut lrs).needs_maintenance);
    }
    assert_eq!((lrs.reads.get(), lrs.writes), (reads, writes));
    // An injection makes the next flush do work again.
    let _ = gic.inject(0, 32);
    let _ = flush(&mut gic, 0, &mut lrs);
    assert!(lrs.writes > writes);
}

#[test]
fn first_flush_clears_stale_list_registers() {
    let mut gic = gic(GicVersion::V3, 1, &[]);
    let mut lrs = FakeListRegisters::new(GicVersion::V3, 4);
    lrs.set(1, ListRegister { state: LrState::Pending, intid: 99, ..ListRegister::INVALID });
    let _ = flush(&mut gic, 0, &mut lrs);
    assert!(lrs.entries().is_empty());
}

#[test]
fn private_interrupts_of_each_vcpu_stay_on_it() {
    let mut gic = gic(GicVersion::V3, 2, &[]);
    enable_distributor(&mut gic);
    configure(&mut gic, 0, 27, 0x20);
    configure(&mut gic, 1, 27, 0x20);
    let mut lrs0 = FakeListRegisters::new(GicVersion::V3, 4);
    let mut lrs1 = FakeListRegisters::new(GicVersion::V3, 4);
    assert_eq!(gic.inject(1, 27), Some(1));
    let _ = flush(&mut gic, 0, &mut lrs0);
    let _ = flush(&mut gic, 1, &mut lrs1);
    assert!(lrs0.entries().is_empty());
    assert_eq!(lrs1.run_guest(), vec![27]);
}

#[test]
fn lost_list_register_gives_its_state_back() {
    let (mut gic, _) = spis_with_priorities(GicVersion::V3, &[0x20]);
    let mut lrs = FakeListRegisters::new(GicVersion::V3, 4);
    let _ = gic.inject(0, 32);
    let _ = flush(&mut gic, 0, &mut lrs);
    // Someone overwrote the register with something else.
    lrs.set(0, ListRegister { state: LrState::Active, intid: 77, ..ListRegister::INVALID });
    let _ = flush(&mut gic, 0, &mut lrs);
    assert_eq!(lrs.pending_intids(), vec![32]);
    // A bank that shrank to nothing: no panic, the interrupt waits.
    let mut none = FakeListRegisters::new(GicVersion::V3, 0);
    assert!(flush(&mut gic, 0, &mut none).needs_maintenance);
    assert!(read_bit(&mut gic, 0, GICD_ISPENDR, 32));
}

#[test]
fn reset_vcpu_drops_the_shadow_and_keeps_spis_pending() {
    let mut gic = gic(GicVersion::V3, 2, &[32, 33]);
    enable_distributor(&mut gic);
    configure(&mut gic, 0, 32, 0x20);
    configure(&mut gic, 0, 33, 0x20);
    configure(&mut gic, 0, 27, 0x20);
    let mut lrs = FakeListRegisters::new(GicVersion::V3, 4);
    let _ = gic.inject(0, 32);
    let _ = gic.inject(0, 27);
    let _ = gic.inject_hardware(0, 33, 80);
    let _ = flush(&mut gic, 0, &mut lrs);
    let hardware_index = lrs.entries().iter().find(|(_, entry)| entry.intid == 33).unwrap().0;
    lrs.acknowledge(hardware_index);
    let _ = flush(&mut gic, 0, &mut lrs);

    let effects = gic.reset_vcpu(0);
    assert_eq!(effects.physical.iter().collect::<Vec<_>>(), vec![PhysicalAction::Deactivate(80)]);
    // The PPI is gone with the vCPU's banked state, the SPI is still pending.
    assert!(!read_bit(&mut gic, 0, GICD_ISPENDR, 27));
    assert!(!read_bit(&mut gic, 0, GICD_ISENABLER, 27));
    assert!(read_bit(&mut gic, 0, GICD_ISPENDR, 32));
    assert!(!read_bit(&mut gic, 0, GICD_ISACTIVER, 33));
    let _ = flush(&mut gic, 0, &mut lrs);
    assert_eq!(lrs.run_guest(), vec![32]);
}

#[test]
fn reset_returns_everything_to_power_on() {
    let mut gic = gic(GicVersion::V3, 1, &[32]);
    gic.bind_hardware(0, 32, Some(64)).unwrap();
    enable_distributor(&mut gic);
    configure(&mut gic, 0, 32, 0x20);
    let _ = gic.inject(0, 32);
    let effects = gic.reset();
    let actions: Vec<_> = effects.physical.iter().collect();
    assert!(actions.contains(&PhysicalAction::Disable(64)));
    assert!(actions.contains(&PhysicalAction::SetPriority(64, 0)));
    assert_eq!(gic.distributor_read(0, GICD_CTLR, AccessSize::Word), 0x10);
    assert!(!read_bit(&mut gic, 0, GICD_ISPENDR, 32));
    assert!(!read_bit(&mut gic, 0, GICD_ISENABLER, 32));
    let mirror = gic.hardware_mirrors().next().unwrap();
    assert_eq!((mirror.enabled, mirror.priority, mirror.vcpu), (false, 0, Some(0)));
}

#[test]
fn list_register_count_above_the_maximum_is_capped() {
    let priorities = [0x20u8; 20];
    let (mut gic, intids) = spis_with_priorities(GicVersion::V2, &priorities);
    let mut lrs = FakeListRegisters::new(GicVersion::V2, 64);
    for &intid in &intids {
        let _ = gic.inject(0, intid);
    }
    assert!(flush(&mut gic, 0, &mut lrs).needs_maintenance);
    assert_eq!(lrs.entries().len(), crate::MAX_LIST_REGISTERS);
    assert!(lrs.entries().iter().all(|(index, _)| *index < crate::MAX_LIST_REGISTERS));
    let _ = lrs.count();
}
