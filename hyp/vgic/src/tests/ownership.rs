//! Isolation: SPIs a personality does not own are invisible to it, and every
//! error variant of construction and configuration.

use super::fake::*;
use crate::{AccessSize, GicVersion, VgicError, VirtualGic};

use AccessSize::{Byte, Doubleword, Word};

/// The personality owns SPI 32 only; 33 belongs to someone else.
const OWNED: u32 = 32;
const FOREIGN: u32 = 33;

#[test]
fn writes_to_a_foreign_spi_have_no_effect_and_are_counted() {
    for version in [GicVersion::V3, GicVersion::V2] {
        let mut gic = gic(version, 2, &[OWNED]);
        let foreign = bit(FOREIGN);
        let writes = [
            (GICD_ISENABLER + 4, Word, foreign),
            (GICD_ISPENDR + 4, Word, foreign),
            (GICD_ISACTIVER + 4, Word, foreign),
            (GICD_IPRIORITYR + u64::from(FOREIGN), Byte, 0x80),
            (GICD_ICFGR + 8, Word, 0b10 << 2),
        ];
        for (offset, size, value) in writes {
            let effects = gic.distributor_write(0, offset, size, value);
            assert_eq!(effects.vcpus_to_refresh, 0, "{version:?} {offset:#x}");
            assert!(effects.physical.is_empty());
        }
        let route_write = match version {
            GicVersion::V3 => (GICD_IROUTER + 8 * u64::from(FOREIGN), Doubleword, 1),
            GicVersion::V2 => (GICD_ITARGETSR + u64::from(FOREIGN), Byte, 2),
        };
        let _ = gic.distributor_write(0, route_write.0, route_write.1, route_write.2);
        assert_eq!(gic.ignored_writes(), 6, "{version:?}");

        // (offset, bits of INTID 33 in the register)
        let reads = [
            (GICD_IGROUPR + 4, foreign),
            (GICD_ISENABLER + 4, foreign),
            (GICD_ISPENDR + 4, foreign),
            (GICD_ISACTIVER + 4, foreign),
            (GICD_ICFGR + 8, 0b11 << 2),
        ];
        for (offset, bits) in reads {
            let value = gic.distributor_read(0, offset, Word);
            assert_eq!(value & bits, 0, "{version:?} {offset:#x}");
        }
        assert_eq!(gic.distributor_read(1, GICD_ISPENDR + 4, Word), 0);
        assert_eq!(gic.distributor_read(0, GICD_IPRIORITYR + u64::from(FOREIGN), Byte), 0);
        assert_eq!(gic.distributor_read(0, route_write.0, route_write.1), 0);
        assert_eq!(gic.inject(0, FOREIGN), None);
        assert_eq!(gic.inject_hardware(0, FOREIGN, 99), None);
    }
}

#[test]
fn a_word_touching_owned_and_foreign_spis_applies_the_owned_part() {
    let mut gic = gic(GicVersion::V3, 1, &[OWNED]);
    let _ = gic.distributor_write(0, GICD_ISENABLER + 4, Word, 0b11);
    assert_eq!(gic.distributor_read(0, GICD_ISENABLER + 4, Word), 0b01);
    assert_eq!(gic.ignored_writes(), 1);
    // Writing zeros to a set-enable register names nothing: not counted.
    let _ = gic.distributor_write(0, GICD_ISENABLER + 8, Word, 0);
    assert_eq!(gic.ignored_writes(), 1);
    // Beyond the emulated lines (INTID 256 and up).
    let _ = gic.distributor_write(0, GICD_ISENABLER + 32, Word, 1);
    assert_eq!(gic.ignored_writes(), 2);
}

#[test]
fn foreign_spi_never_reaches_a_list_register() {
    let mut gic = gic(GicVersion::V3, 1, &[OWNED]);
    enable_distributor(&mut gic);
    let _ = gic.distributor_write(0, GICD_ISENABLER + 4, Word, 0xFFFF_FFFF);
    let _ = gic.distributor_write(0, GICD_ISPENDR + 4, Word, 0xFFFF_FFFF);
    let mut lrs = FakeListRegisters::new(GicVersion::V3, 4);
    let _ = flush(&mut gic, 0, &mut lrs);
    assert_eq!(lrs.run_guest(), vec![OWNED]);
}

#[test]
fn private_interrupts_of_missing_vcpus_do_not_exist() {
    let mut gic = gic(GicVersion::V2, 2, &[]);
    assert_eq!(gic.inject(2, 27), None);
    assert_eq!(gic.inject(usize::MAX, 1), None);
    // A hypervisor bug passing a missing vCPU: banked registers are invisible.
    let _ = gic.distributor_write(5, GICD_ISENABLER, Word, 1);
    assert_eq!(gic.distributor_read(5, GICD_ISENABLER, Word), 0);
    assert_eq!(gic.ignored_writes(), 1);
    let mut lrs = FakeListRegisters::new(GicVersion::V2, 4);
    assert!(!flush(&mut gic, 7, &mut lrs).needs_maintenance);
}

#[test]
fn construction_errors() {
    assert_eq!(VirtualGic::new(GicVersion::V3, 0, &[]).unwrap_err(), VgicError::InvalidVcpuCount { vcpu_count: 0 });
    assert_eq!(VirtualGic::new(GicVersion::V2, 9, &[]).unwrap_err(), VgicError::InvalidVcpuCount { vcpu_count: 9 });
    assert_eq!(VirtualGic::new(GicVersion::V3, 1, &[31]).unwrap_err(), VgicError::InvalidSpi { intid: 31 });
    assert_eq!(VirtualGic::new(GicVersion::V3, 1, &[32, 256]).unwrap_err(), VgicError::InvalidSpi { intid: 256 });
    assert!(VirtualGic::new(GicVersion::V3, 8, &[32, 32, 255]).is_ok());
}

#[test]
fn hardware_binding_errors() {
    let mut gic = gic(GicVersion::V3, 1, &[OWNED]);
    assert_eq!(gic.bind_hardware(0, FOREIGN, Some(64)), Err(VgicError::NotVisible { intid: FOREIGN }));
    assert_eq!(gic.bind_hardware(0, 3, Some(64)), Err(VgicError::NotVisible { intid: 3 }));
    assert_eq!(gic.bind_hardware(0, OWNED, Some(1020)), Err(VgicError::InvalidPhysicalIntid { physical_intid: 1020 }));
    assert_eq!(gic.bind_hardware(0, OWNED, Some(15)), Err(VgicError::InvalidPhysicalIntid { physical_intid: 15 }));
    assert_eq!(gic.bind_hardware(0, 27, Some(27)), Ok(()));
    assert_eq!(gic.bind_hardware(0, OWNED, Some(64)), Ok(()));
    assert_eq!(gic.inject_hardware(0, OWNED, 5000), None);
    assert_eq!(gic.inject_hardware(0, 1, 64), None, "SGIs cannot be hardware-backed");
}
