//! SGIs: targets decoded from ICC_SGI1R_EL1 and GICD_SGIR; targets outside
//! the personality dropped and counted (the XSA-225 class of bug).

use super::fake::*;
use crate::{GicVersion, SgiOutcome};

/// An ICC_SGI1R_EL1 value, fields placed by hand (IHI 0069H chapter 12).
fn sgi1r(intid: u64, target_list: u64, aff1: u64, aff2: u64, aff3: u64, irm: bool, rs: u64) -> u64 {
    target_list | (aff1 << 16) | (intid << 24) | (aff2 << 32) | (u64::from(irm) << 40) | (rs << 44) | (aff3 << 48)
}

/// A GICD_SGIR value (IHI 0048B §4.3.15).
fn sgir(intid: u32, targets: u32, filter: u32) -> u32 {
    intid | (targets << 16) | (filter << 24)
}

#[test]
fn v3_target_list_within_the_personality() {
    let mut gic = gic(GicVersion::V3, 4, &[]);
    let outcome = gic.send_sgi_v3(0, sgi1r(3, 0b0110, 0, 0, 0, false, 0));
    assert_eq!(outcome, SgiOutcome { delivered: 0b0110, dropped: 0 });
    assert!(read_bit(&mut gic, 1, GICD_ISPENDR, 3));
    assert!(read_bit(&mut gic, 2, GICD_ISPENDR, 3));
    assert!(!read_bit(&mut gic, 0, GICD_ISPENDR, 3));
    assert_eq!(gic.dropped_sgis(), 0);
}

#[test]
fn v3_targets_beyond_the_last_vcpu_are_dropped() {
    let mut gic = gic(GicVersion::V3, 2, &[]);
    let outcome = gic.send_sgi_v3(0, sgi1r(1, 0xFFFF, 0, 0, 0, false, 0));
    assert_eq!(outcome, SgiOutcome { delivered: 0b11, dropped: 14 });
    assert_eq!(gic.dropped_sgis(), 14);
}

#[test]
fn v3_other_clusters_and_ranges_are_dropped() {
    let mut gic = gic(GicVersion::V3, 2, &[]);
    for value in [sgi1r(1, 0b11, 1, 0, 0, false, 0), sgi1r(1, 0b11, 0, 1, 0, false, 0), sgi1r(1, 0b11, 0, 0, 0xFF, false, 0), sgi1r(1, 0b11, 0, 0, 0, false, 1)]
    {
        let outcome = gic.send_sgi_v3(0, value);
        assert_eq!(outcome, SgiOutcome { delivered: 0, dropped: 2 }, "{value:#x}");
    }
    assert_eq!(gic.dropped_sgis(), 8);
    assert!(!read_bit(&mut gic, 0, GICD_ISPENDR, 1));
    assert!(!read_bit(&mut gic, 1, GICD_ISPENDR, 1));
}

#[test]
fn v3_routing_mode_targets_every_other_vcpu() {
    let mut gic = gic(GicVersion::V3, 3, &[]);
    // IRM = 1 ignores the target list and affinity fields.
    let outcome = gic.send_sgi_v3(1, sgi1r(15, 0xFFFF, 0xFF, 0xFF, 0xFF, true, 0xF));
    assert_eq!(outcome, SgiOutcome { delivered: 0b101, dropped: 0 });
    assert!(read_bit(&mut gic, 0, GICD_ISPENDR, 15));
    assert!(!read_bit(&mut gic, 1, GICD_ISPENDR, 15));
    assert!(read_bit(&mut gic, 2, GICD_ISPENDR, 15));
    // A single vCPU has no other vCPU.
    let mut alone = self::gic(GicVersion::V3, 1, &[]);
    assert_eq!(alone.send_sgi_v3(0, sgi1r(0, 0, 0, 0, 0, true, 0)).delivered, 0);
}

#[test]
fn v3_unknown_sender_sends_nothing() {
    let mut gic = gic(GicVersion::V3, 2, &[]);
    let outcome = gic.send_sgi_v3(2, sgi1r(1, 0b1, 0, 0, 0, false, 0));
    assert_eq!(outcome, SgiOutcome { delivered: 0, dropped: 1 });
    assert!(!read_bit(&mut gic, 0, GICD_ISPENDR, 1));
}

#[test]
fn v2_target_list_filter() {
    let mut gic = gic(GicVersion::V2, 3, &[]);
    // Filter 0: CPUTargetList; bits 3..7 name missing vCPUs.
    let outcome = gic.send_sgi_v2(0, sgir(2, 0b1111_1010, 0));
    assert_eq!(outcome, SgiOutcome { delivered: 0b010, dropped: 5 });
    // Filter 1: everyone but the sender.
    assert_eq!(gic.send_sgi_v2(2, sgir(4, 0, 1)).delivered, 0b011);
    // Filter 2: the sender only, whatever the list says.
    assert_eq!(gic.send_sgi_v2(1, sgir(6, 0xFF, 2)), SgiOutcome { delivered: 0b010, dropped: 0 });
    // Filter 3: reserved, nothing.
    assert_eq!(gic.send_sgi_v2(1, sgir(7, 0xFF, 3)), SgiOutcome::default());
    assert_eq!(gic.dropped_sgis(), 5);
    assert!(read_bit(&mut gic, 1, GICD_ISPENDR, 2));
    assert!(read_bit(&mut gic, 0, GICD_ISPENDR, 4));
    assert!(!read_bit(&mut gic, 2, GICD_ISPENDR, 4));
    assert!(read_bit(&mut gic, 1, GICD_ISPENDR, 6));
    assert!(!read_bit(&mut gic, 1, GICD_ISPENDR, 7));
}

#[test]
fn sgis_are_delivered_through_list_registers() {
    let mut gic = gic(GicVersion::V3, 2, &[]);
    enable_distributor(&mut gic);
    configure(&mut gic, 1, 9, 0x30);
    let outcome = gic.send_sgi_v3(0, sgi1r(9, 0b10, 0, 0, 0, false, 0));
    assert_eq!(outcome.delivered, 0b10);
    let mut lrs = FakeListRegisters::new(GicVersion::V3, 4);
    let _ = flush(&mut gic, 1, &mut lrs);
    let entry = lrs.get(0);
    assert_eq!((entry.intid, entry.priority, entry.group1), (9, 0x30, true));
}
