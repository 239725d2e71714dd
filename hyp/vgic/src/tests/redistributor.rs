//! GICv3 redistributor registers, one test per register group.

use super::fake::*;
use crate::{AccessSize, GicVersion, REDISTRIBUTOR_FRAME_SIZE};

use AccessSize::{Byte, Doubleword, Word};

#[test]
fn type_register_names_each_vcpu_and_marks_the_last() {
    let mut gic = gic(GicVersion::V3, 3, &[]);
    for vcpu in 0..3u64 {
        let last = if vcpu == 2 { 1 << 4 } else { 0 };
        let expected = (vcpu << 32) | (vcpu << 8) | last;
        let offset = frame(vcpu as usize) + GICR_TYPER;
        assert_eq!(gic.redistributor_read(offset, Doubleword), expected, "vCPU {vcpu}");
        assert_eq!(gic.redistributor_read(offset, Word), expected & 0xFFFF_FFFF);
        assert_eq!(gic.redistributor_read(offset + 4, Word), expected >> 32);
    }
    // Beyond the last frame: nothing.
    assert_eq!(gic.redistributor_read(frame(3) + GICR_TYPER, Doubleword), 0);
    assert_eq!(gic.redistributor_read(u64::MAX - 7, Doubleword), 0);
}

#[test]
fn single_vcpu_frame_is_the_last() {
    let mut gic = gic(GicVersion::V3, 1, &[]);
    assert_eq!(gic.redistributor_read(GICR_TYPER, Doubleword), 1 << 4);
}

#[test]
fn identification_and_control() {
    let mut gic = gic(GicVersion::V3, 2, &[]);
    assert_eq!(gic.redistributor_read(frame(1) + GICR_PIDR2, Word), 0x3B);
    assert_eq!(gic.redistributor_read(frame(1) + GICR_IIDR, Word), 0x4A00_0000);
    let _ = gic.redistributor_write(GICR_CTLR, Word, 0xFFFF_FFFF);
    assert_eq!(gic.redistributor_read(GICR_CTLR, Word), 0, "no LPIs, RWP = 0");
    assert_eq!(gic.ignored_writes(), 0);
}

#[test]
fn waker_mirrors_processor_sleep() {
    let mut gic = gic(GicVersion::V3, 2, &[]);
    assert_eq!(gic.redistributor_read(frame(1) + GICR_WAKER, Word), 0b110);
    let _ = gic.redistributor_write(frame(1) + GICR_WAKER, Word, 0);
    assert_eq!(gic.redistributor_read(frame(1) + GICR_WAKER, Word), 0);
    assert_eq!(gic.redistributor_read(frame(0) + GICR_WAKER, Word), 0b110);
    let _ = gic.redistributor_write(frame(1) + GICR_WAKER, Word, 0b010);
    assert_eq!(gic.redistributor_read(frame(1) + GICR_WAKER, Word), 0b110);
    let _ = gic.reset_vcpu(0);
    assert_eq!(gic.redistributor_read(frame(0) + GICR_WAKER, Word), 0b110);
}

#[test]
fn group_and_group_modifier() {
    let mut gic = gic(GicVersion::V3, 1, &[]);
    assert_eq!(gic.redistributor_read(GICR_IGROUPR0, Word), 0xFFFF_FFFF);
    let _ = gic.redistributor_write(GICR_IGROUPR0, Word, 0);
    assert_eq!(gic.redistributor_read(GICR_IGROUPR0, Word), 0xFFFF_FFFF);
    let _ = gic.redistributor_write(GICR_IGRPMODR0, Word, 0xFFFF_FFFF);
    assert_eq!(gic.redistributor_read(GICR_IGRPMODR0, Word), 0);
    assert_eq!(gic.ignored_writes(), 0);
}

#[test]
fn enable_pending_and_active_per_frame() {
    let mut gic = gic(GicVersion::V3, 2, &[]);
    let one = frame(1);
    let _ = gic.redistributor_write(one + GICR_ISENABLER0, Word, 0x0800_0001);
    assert_eq!(gic.redistributor_read(one + GICR_ICENABLER0, Word), 0x0800_0001);
    assert_eq!(gic.redistributor_read(GICR_ISENABLER0, Word), 0);
    let _ = gic.redistributor_write(one + GICR_ICENABLER0, Word, 1);
    assert_eq!(gic.redistributor_read(one + GICR_ISENABLER0, Word), 0x0800_0000);

    let effects = gic.redistributor_write(one + GICR_ISPENDR0, Word, 1 << 3);
    assert_eq!(effects.vcpus_to_refresh, 0b10);
    assert_eq!(gic.redistributor_read(one + GICR_ICPENDR0, Word), 1 << 3);
    let _ = gic.redistributor_write(one + GICR_ICPENDR0, Word, 1 << 3);
    assert_eq!(gic.redistributor_read(one + GICR_ISPENDR0, Word), 0);

    let _ = gic.redistributor_write(one + GICR_ISACTIVER0, Word, 1 << 30);
    assert_eq!(gic.redistributor_read(one + GICR_ICACTIVER0, Word), 1 << 30);
    let _ = gic.redistributor_write(one + GICR_ICACTIVER0, Word, 1 << 30);
    assert_eq!(gic.redistributor_read(one + GICR_ISACTIVER0, Word), 0);
}

#[test]
fn priorities_per_frame() {
    let mut gic = gic(GicVersion::V3, 2, &[]);
    let _ = gic.redistributor_write(frame(1) + GICR_IPRIORITYR + 27, Byte, 0x9F);
    assert_eq!(gic.redistributor_read(frame(1) + GICR_IPRIORITYR + 27, Byte), 0x98);
    assert_eq!(gic.redistributor_read(frame(1) + GICR_IPRIORITYR + 24, Word), 0x9800_0000);
    assert_eq!(gic.redistributor_read(GICR_IPRIORITYR + 24, Word), 0);
    // Only IPRIORITYR0..7 exist in SGI_base.
    let _ = gic.redistributor_write(GICR_IPRIORITYR + 32, Word, 0xFFFF_FFFF);
    assert_eq!(gic.redistributor_read(GICR_IPRIORITYR + 32, Word), 0);
    assert_eq!(gic.ignored_writes(), 1);
}

#[test]
fn configuration_sgis_fixed_ppis_programmable() {
    let mut gic = gic(GicVersion::V3, 1, &[]);
    assert_eq!(gic.redistributor_read(GICR_ICFGR0, Word), 0xAAAA_AAAA);
    let _ = gic.redistributor_write(GICR_ICFGR0, Word, 0);
    assert_eq!(gic.redistributor_read(GICR_ICFGR0, Word), 0xAAAA_AAAA);
    assert_eq!(gic.redistributor_read(GICR_ICFGR1, Word), 0);
    let _ = gic.redistributor_write(GICR_ICFGR1, Word, 0xFFFF_FFFF);
    assert_eq!(gic.redistributor_read(GICR_ICFGR1, Word), 0xAAAA_AAAA);
}

#[test]
fn outside_the_frames_is_ignored_and_counted() {
    let mut gic = gic(GicVersion::V3, 2, &[]);
    let _ = gic.redistributor_write(2 * REDISTRIBUTOR_FRAME_SIZE + GICR_ISENABLER0, Word, 1);
    let _ = gic.redistributor_write(GICR_ISENABLER0 + 4, Word, 1);
    let _ = gic.redistributor_write(GICR_ISENABLER0, Byte, 1);
    let _ = gic.redistributor_write(GICR_WAKER + 1, Byte, 1);
    assert_eq!(gic.ignored_writes(), 4);
    assert_eq!(gic.redistributor_read(GICR_ISENABLER0, Word), 0);

    // A GICv2 personality has no redistributors.
    let mut v2 = self::gic(GicVersion::V2, 1, &[]);
    assert_eq!(v2.redistributor_read(GICR_TYPER, Doubleword), 0);
    let _ = v2.redistributor_write(GICR_ISENABLER0, Word, 1);
    assert_eq!(v2.ignored_writes(), 1);
    assert_eq!(v2.distributor_read(0, GICD_ISENABLER, Word), 0);
}
