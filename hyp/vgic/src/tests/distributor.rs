//! Distributor registers, one test per register group, for both versions.

use super::fake::*;
use crate::{AccessSize, GicVersion, PhysicalAction};

use AccessSize::{Byte, Doubleword, Halfword, Word};

#[test]
fn control_v3_has_fixed_affinity_routing() {
    let mut gic = gic(GicVersion::V3, 2, &[]);
    // ARE_NS (bit 4) reads as one, RWP (bit 31) as zero.
    assert_eq!(gic.distributor_read(0, GICD_CTLR, Word), 0x10);
    let effects = gic.distributor_write(0, GICD_CTLR, Word, 0xFFFF_FFFF);
    assert_eq!(effects.vcpus_to_refresh, 0b11);
    assert_eq!(gic.distributor_read(1, GICD_CTLR, Word), 0x12);
    let _ = gic.distributor_write(0, GICD_CTLR, Word, 0);
    assert_eq!(gic.distributor_read(0, GICD_CTLR, Word), 0x10);
}

#[test]
fn control_v2_has_one_enable_bit() {
    let mut gic = gic(GicVersion::V2, 1, &[]);
    assert_eq!(gic.distributor_read(0, GICD_CTLR, Word), 0);
    let _ = gic.distributor_write(0, GICD_CTLR, Word, 0xFFFF_FFFF);
    assert_eq!(gic.distributor_read(0, GICD_CTLR, Word), 1);
}

#[test]
fn type_and_identification() {
    let mut v3 = gic(GicVersion::V3, 4, &[]);
    // ITLinesNumber 7, CPUNumber 3, SecurityExtn (bit 10), IDbits 9 at [23:19].
    assert_eq!(v3.distributor_read(0, GICD_TYPER, Word), 7 | (3 << 5) | (1 << 10) | (9 << 19));
    assert_eq!(v3.distributor_read(0, GICD_IIDR, Word), 0x4A00_0000);
    assert_eq!(v3.distributor_read(0, GICD_PIDR2, Word), 0x3B);
    assert_eq!(v3.distributor_read(0, GICD_ICPIDR2, Word), 0);

    let mut v2 = gic(GicVersion::V2, 2, &[]);
    assert_eq!(v2.distributor_read(0, GICD_TYPER, Word), 7 | (1 << 5));
    assert_eq!(v2.distributor_read(0, GICD_ICPIDR2, Word), 0x2B);
    assert_eq!(v2.distributor_read(0, GICD_PIDR2, Word), 0);
    // Read-only: writes change nothing and are not counted.
    let _ = v2.distributor_write(0, GICD_TYPER, Word, 0);
    assert_eq!(v2.distributor_read(0, GICD_TYPER, Word), 7 | (1 << 5));
    assert_eq!(v2.ignored_writes(), 0);
}

#[test]
fn group_registers() {
    let mut v3 = gic(GicVersion::V3, 1, &[33, 40]);
    // Everything visible is Non-secure Group 1; SGIs/PPIs live in the GICR.
    assert_eq!(v3.distributor_read(0, GICD_IGROUPR, Word), 0);
    assert_eq!(v3.distributor_read(0, GICD_IGROUPR + 4, Word), (1 << 1) | (1 << 8));
    let _ = v3.distributor_write(0, GICD_IGROUPR + 4, Word, 0);
    assert_eq!(v3.distributor_read(0, GICD_IGROUPR + 4, Word), (1 << 1) | (1 << 8));

    let mut v2 = gic(GicVersion::V2, 1, &[33]);
    assert_eq!(v2.distributor_read(0, GICD_IGROUPR, Word), 0);
    assert_eq!(v2.distributor_read(0, GICD_IGROUPR + 4, Word), 0);
}

#[test]
fn enable_registers() {
    for version in [GicVersion::V3, GicVersion::V2] {
        let mut gic = gic(version, 2, &[32, 63]);
        let _ = gic.distributor_write(0, GICD_ISENABLER + 4, Word, 0x8000_0001);
        assert_eq!(gic.distributor_read(0, GICD_ISENABLER + 4, Word), 0x8000_0001);
        assert_eq!(gic.distributor_read(1, GICD_ICENABLER + 4, Word), 0x8000_0001);
        let _ = gic.distributor_write(0, GICD_ICENABLER + 4, Word, 1);
        assert_eq!(gic.distributor_read(0, GICD_ISENABLER + 4, Word), 0x8000_0000);
    }
    // GICv3: word 0 is RAZ/WI in the distributor.
    let mut v3 = gic(GicVersion::V3, 1, &[]);
    let _ = v3.distributor_write(0, GICD_ISENABLER, Word, 0xFFFF_FFFF);
    assert_eq!(v3.distributor_read(0, GICD_ISENABLER, Word), 0);
    assert_eq!(v3.redistributor_read(GICR_ISENABLER0, Word), 0);
    assert_eq!(v3.ignored_writes(), 0);
    // GICv2: word 0 is banked per accessing vCPU.
    let mut v2 = gic(GicVersion::V2, 2, &[]);
    let _ = v2.distributor_write(1, GICD_ISENABLER, Word, 0x0800_0002);
    assert_eq!(v2.distributor_read(1, GICD_ISENABLER, Word), 0x0800_0002);
    assert_eq!(v2.distributor_read(0, GICD_ISENABLER, Word), 0);
}

#[test]
fn pending_registers() {
    let mut v3 = gic(GicVersion::V3, 1, &[34]);
    let effects = v3.distributor_write(0, GICD_ISPENDR + 4, Word, 1 << 2);
    assert_eq!(effects.vcpus_to_refresh, 1);
    assert_eq!(v3.distributor_read(0, GICD_ISPENDR + 4, Word), 1 << 2);
    assert_eq!(v3.distributor_read(0, GICD_ICPENDR + 4, Word), 1 << 2);
    let _ = v3.distributor_write(0, GICD_ICPENDR + 4, Word, 1 << 2);
    assert_eq!(v3.distributor_read(0, GICD_ISPENDR + 4, Word), 0);

    // GICv2: SGI set / clear-pending bits are read-only; PPIs are banked.
    let mut v2 = gic(GicVersion::V2, 2, &[]);
    let _ = v2.distributor_write(0, GICD_ISPENDR, Word, 0x0001_0001);
    assert_eq!(v2.distributor_read(0, GICD_ISPENDR, Word), 0x0001_0000);
    assert_eq!(v2.distributor_read(1, GICD_ISPENDR, Word), 0);
}

#[test]
fn active_registers() {
    for version in [GicVersion::V3, GicVersion::V2] {
        let mut gic = gic(version, 1, &[35]);
        let _ = gic.distributor_write(0, GICD_ISACTIVER + 4, Word, 1 << 3);
        assert_eq!(gic.distributor_read(0, GICD_ISACTIVER + 4, Word), 1 << 3);
        assert_eq!(gic.distributor_read(0, GICD_ICACTIVER + 4, Word), 1 << 3);
        let _ = gic.distributor_write(0, GICD_ICACTIVER + 4, Word, 1 << 3);
        assert_eq!(gic.distributor_read(0, GICD_ISACTIVER + 4, Word), 0);
    }
}

#[test]
fn priority_registers() {
    let mut v3 = gic(GicVersion::V3, 1, &[32, 33, 34, 35]);
    // Byte access; five bits implemented.
    let _ = v3.distributor_write(0, GICD_IPRIORITYR + 33, Byte, 0xFF);
    assert_eq!(v3.distributor_read(0, GICD_IPRIORITYR + 33, Byte), 0xF8);
    // Word access.
    let _ = v3.distributor_write(0, GICD_IPRIORITYR + 32, Word, 0x8040_2010);
    assert_eq!(v3.distributor_read(0, GICD_IPRIORITYR + 32, Word), 0x8040_2010);
    assert_eq!(v3.distributor_read(0, GICD_IPRIORITYR + 34, Byte), 0x40);
    // Halfword and doubleword are not allowed: RAZ/WI, counted.
    assert_eq!(v3.distributor_read(0, GICD_IPRIORITYR + 32, Halfword), 0);
    let _ = v3.distributor_write(0, GICD_IPRIORITYR + 32, Doubleword, 0);
    assert_eq!(v3.ignored_writes(), 1);
    // SGI / PPI priorities are RAZ/WI in the GICv3 distributor.
    let _ = v3.distributor_write(0, GICD_IPRIORITYR, Word, 0xFFFF_FFFF);
    assert_eq!(v3.distributor_read(0, GICD_IPRIORITYR, Word), 0);

    let mut v2 = gic(GicVersion::V2, 2, &[]);
    let _ = v2.distributor_write(1, GICD_IPRIORITYR + 27, Byte, 0xA5);
    assert_eq!(v2.distributor_read(1, GICD_IPRIORITYR + 27, Byte), 0xA0);
    assert_eq!(v2.distributor_read(0, GICD_IPRIORITYR + 27, Byte), 0);
}

#[test]
fn configuration_registers() {
    let mut v2 = gic(GicVersion::V2, 1, &[32, 47]);
    // SGIs: edge-triggered, read-only.
    assert_eq!(v2.distributor_read(0, GICD_ICFGR, Word), 0xAAAA_AAAA);
    let _ = v2.distributor_write(0, GICD_ICFGR, Word, 0);
    assert_eq!(v2.distributor_read(0, GICD_ICFGR, Word), 0xAAAA_AAAA);
    // PPIs: programmable, Int_config[0] reserved.
    let _ = v2.distributor_write(0, GICD_ICFGR + 4, Word, 0xFFFF_FFFF);
    assert_eq!(v2.distributor_read(0, GICD_ICFGR + 4, Word), 0xAAAA_AAAA);
    // SPIs 32 (field 0) and 47 (field 15) of ICFGR2.
    let _ = v2.distributor_write(0, GICD_ICFGR + 8, Word, 0x8000_0002);
    assert_eq!(v2.distributor_read(0, GICD_ICFGR + 8, Word), 0x8000_0002);

    let mut v3 = gic(GicVersion::V3, 1, &[32]);
    assert_eq!(v3.distributor_read(0, GICD_ICFGR, Word), 0, "GICR owns SGIs");
    let _ = v3.distributor_write(0, GICD_ICFGR + 8, Word, 2);
    assert_eq!(v3.distributor_read(0, GICD_ICFGR + 8, Word), 2);
}

#[test]
fn router_registers() {
    let mut gic = gic(GicVersion::V3, 4, &[40]);
    let offset = GICD_IROUTER + 8 * 40;
    assert_eq!(gic.distributor_read(0, offset, Doubleword), 0);
    // Reserved bits (63:40, 30:24) are not kept.
    let _ = gic.distributor_write(0, offset, Doubleword, 0xFFFF_FFFF_FFFF_FFFF);
    assert_eq!(gic.distributor_read(0, offset, Doubleword), 0xFF_80FF_FFFF);
    // IRM = 1: vCPU 0.
    assert_eq!(gic.inject(3, 40), Some(0));
    // Word halves.
    let _ = gic.distributor_write(0, offset, Word, 2);
    let _ = gic.distributor_write(0, offset + 4, Word, 0);
    assert_eq!(gic.distributor_read(0, offset, Doubleword), 2);
    assert_eq!(gic.distributor_read(0, offset + 4, Word), 0);
    assert_eq!(gic.inject(0, 40), Some(2));
    // Aff1 != 0 or Aff0 beyond the last vCPU: delivered nowhere, stays pending.
    let _ = gic.distributor_write(0, offset, Doubleword, 0x100);
    assert_eq!(gic.inject(0, 40), None);
    let _ = gic.distributor_write(0, offset, Doubleword, 4);
    assert_eq!(gic.inject(0, 40), None);
    assert!(read_bit(&mut gic, 0, GICD_ISPENDR, 40));
    // INTIDs 0..32 have no router.
    let _ = gic.distributor_write(0, GICD_IROUTER + 8 * 27, Doubleword, 1);
    assert_eq!(gic.distributor_read(0, GICD_IROUTER + 8 * 27, Doubleword), 0);
}

#[test]
fn router_mirrors_hardware_lines() {
    let mut gic = gic(GicVersion::V3, 2, &[40]);
    gic.bind_hardware(0, 40, Some(100)).unwrap();
    let effects = gic.distributor_write(0, GICD_IROUTER + 8 * 40, Doubleword, 1);
    assert_eq!(effects.physical.iter().collect::<Vec<_>>(), vec![PhysicalAction::Route(100, 1)]);
    let effects = gic.distributor_write(0, GICD_ISENABLER + 4, Word, 1 << 8);
    assert_eq!(effects.physical.iter().collect::<Vec<_>>(), vec![PhysicalAction::Enable(100)]);
    let effects = gic.distributor_write(0, GICD_IPRIORITYR + 40, Byte, 0x47);
    assert_eq!(effects.physical.iter().collect::<Vec<_>>(), vec![PhysicalAction::SetPriority(100, 0x40)]);
    let effects = gic.distributor_write(0, GICD_ICENABLER + 4, Word, 1 << 8);
    assert_eq!(effects.physical.iter().collect::<Vec<_>>(), vec![PhysicalAction::Disable(100)]);
}

#[test]
fn physical_actions_overflow_is_reported() {
    let owned: Vec<u32> = (32..40).collect();
    let mut gic = gic(GicVersion::V2, 1, &owned);
    for &intid in &owned {
        gic.bind_hardware(0, intid, Some(intid + 100)).unwrap();
    }
    let effects = gic.distributor_write(0, GICD_ISENABLER + 4, Word, 0xFF);
    assert_eq!(effects.physical.len(), 4);
    assert!(effects.physical.overflowed());
    assert_eq!(gic.hardware_mirrors().filter(|mirror| mirror.enabled).count(), 8);
}

#[test]
fn targets_registers() {
    let mut gic = gic(GicVersion::V2, 3, &[33]);
    // SGIs / PPIs: read-only, each byte the accessing vCPU's own bit.
    assert_eq!(gic.distributor_read(2, GICD_ITARGETSR, Word), 0x0404_0404);
    assert_eq!(gic.distributor_read(0, GICD_ITARGETSR + 28, Word), 0x0101_0101);
    let _ = gic.distributor_write(0, GICD_ITARGETSR, Word, 0);
    assert_eq!(gic.distributor_read(1, GICD_ITARGETSR + 4, Byte), 0x02);
    // SPI targets: bits for missing vCPUs read as zero; lowest set vCPU wins.
    let _ = gic.distributor_write(0, GICD_ITARGETSR + 33, Byte, 0xF6);
    assert_eq!(gic.distributor_read(0, GICD_ITARGETSR + 33, Byte), 0x06);
    assert_eq!(gic.inject(0, 33), Some(1));
    let _ = gic.distributor_write(0, GICD_ITARGETSR + 32, Word, 0x0000_0000);
    assert_eq!(gic.inject(0, 33), None, "no target: stays pending");
    // Not a GICv3 register.
    let mut v3 = self::gic(GicVersion::V3, 1, &[33]);
    assert_eq!(v3.distributor_read(0, GICD_ITARGETSR + 33, Byte), 0);
}

#[test]
fn software_generated_interrupt_register() {
    let mut gic = gic(GicVersion::V2, 2, &[]);
    // TargetListFilter 0, CPUTargetList = vCPU 1, SGI 5.
    let effects = gic.distributor_write(0, GICD_SGIR, Word, (0b10 << 16) | 5);
    assert_eq!(effects.vcpus_to_refresh, 0b10);
    assert!(read_bit(&mut gic, 1, GICD_ISPENDR, 5));
    assert!(!read_bit(&mut gic, 0, GICD_ISPENDR, 5));
    assert_eq!(gic.distributor_read(0, GICD_SGIR, Word), 0, "write-only");
    // Reserved filter: nothing sent, the write counted as ignored.
    let effects = gic.distributor_write(0, GICD_SGIR, Word, (0b11 << 24) | 6);
    assert_eq!(effects.vcpus_to_refresh, 0);
    assert_eq!(gic.ignored_writes(), 1);
    // Not a GICv3 register.
    let mut v3 = self::gic(GicVersion::V3, 2, &[]);
    let _ = v3.distributor_write(0, GICD_SGIR, Word, (0b10 << 16) | 5);
    assert_eq!(v3.ignored_writes(), 1);
}

#[test]
fn unknown_offsets_and_widths_read_zero_and_count_writes() {
    for version in [GicVersion::V3, GicVersion::V2] {
        let mut gic = gic(version, 1, &[32]);
        for (offset, size) in [
            (0x0010, Word),
            (0x0D00, Word),
            (0x1_0000, Word),
            (u64::MAX, Byte),
            (u64::MAX - 7, Doubleword),
            (GICD_CTLR, Byte),
            (GICD_ISENABLER + 4, Halfword),
            (GICD_ISENABLER + 5, Word),
            (GICD_IPRIORITYR + 33, Word),
        ] {
            assert_eq!(gic.distributor_read(0, offset, size), 0, "{version:?} {offset:#x}");
            let _ = gic.distributor_write(0, offset, size, u64::MAX);
        }
        assert_eq!(gic.ignored_writes(), 9, "{version:?}");
        assert_eq!(gic.distributor_read(0, GICD_ISENABLER + 4, Word), 0, "{version:?}");
    }
}
