//! One test per device `PlanError` variant: `validate_plan` reports it and
//! its message names the personality and the device.

use janus_platform::{GicRegion, PhysRange};

use super::{PLAN_PAYLOAD_LENGTH, With, device_plan, valid_plan_with_devices};
use crate::plan::{BootPlan, DevicePlan, PlanError, validate_plan};
use crate::rules::{NameProblem, ReservedInterrupt, ReservedRegion};

/// Validates and checks the message mentions `needle`.
fn rejected(plan: &BootPlan, needle: &str) -> PlanError {
    let error = validate_plan(plan, PLAN_PAYLOAD_LENGTH).expect_err("plan should be rejected");
    assert!(error.to_string().contains(needle), "{error} lacks {needle:?}");
    error
}

/// [`valid_plan_with_devices`] with personal's RTC edited.
fn with_rtc(change: impl FnOnce(&mut DevicePlan)) -> BootPlan {
    valid_plan_with_devices().with(|plan| change(&mut plan.personalities[0].devices[0]))
}

#[test]
fn valid_plan_with_devices_passes() {
    assert_eq!(validate_plan(&valid_plan_with_devices(), PLAN_PAYLOAD_LENGTH), Ok(()));
}

#[test]
fn device_invalid_name() {
    let plan = with_rtc(|rtc| rtc.name = "Rtc".try_into().unwrap());
    assert_eq!(
        rejected(&plan, "personality \"personal\" device #0"),
        PlanError::DeviceInvalidName { personality: "personal".try_into().unwrap(), index: 0, problem: NameProblem::BadCharacter { character: 'R' } }
    );
}

#[test]
fn device_duplicate_name() {
    let plan = valid_plan_with_devices().with(|plan| plan.personalities[0].devices.push(device_plan("rtc", 0x0903_0000, 0x1000, &[50])).unwrap());
    assert!(matches!(rejected(&plan, "\"personal\" has more than one device called \"rtc\""), PlanError::DeviceDuplicateName { .. }));
}

#[test]
fn device_mmio_empty() {
    let plan = with_rtc(|rtc| rtc.mmio.size = 0);
    assert!(matches!(rejected(&plan, "\"personal\" device \"rtc\" has an empty MMIO range"), PlanError::DeviceMmioEmpty { .. }));
}

#[test]
fn device_mmio_wraps() {
    let plan = with_rtc(|rtc| rtc.mmio = PhysRange::new(0xffff_ffff_ffff_f000, 0x2000));
    assert!(matches!(rejected(&plan, "wraps the address space"), PlanError::DeviceMmioWraps { .. }));
}

#[test]
fn device_mmio_misaligned() {
    for mmio in [PhysRange::new(0x0901_0200, 0x1000), PhysRange::new(0x0901_0000, 0x1200)] {
        let plan = with_rtc(|rtc| rtc.mmio = mmio);
        assert_eq!(
            rejected(&plan, "is not 0x1000 aligned"),
            PlanError::DeviceMmioMisaligned { personality: "personal".try_into().unwrap(), device: "rtc".try_into().unwrap(), mmio }
        );
    }
}

#[test]
fn device_mmio_reserved() {
    let cases = [
        (0x4800_0000, ReservedRegion::BoardRam, "the board's RAM"),
        (0x0900_0000, ReservedRegion::Uart, "Janus' console UART"),
        (0x080a_0000, ReservedRegion::Gic(GicRegion::Redistributors), "the GIC redistributors"),
        (0x0a00_0000, ReservedRegion::Storage, "Janus' storage transports"),
    ];
    for (base, expected, needle) in cases {
        let plan = with_rtc(|rtc| rtc.mmio.start.0 = base);
        let error = rejected(&plan, needle);
        assert!(matches!(error, PlanError::DeviceMmioReserved { region, .. } if region == expected), "{error:?}");
    }
    let plan = with_rtc(|rtc| rtc.mmio.start.0 = 0x0b00_0000).with(|plan| plan.board.guest_disk = janus_platform::GuestPhysAddr(0x0b00_0000));
    assert!(matches!(rejected(&plan, "the emulated guest disk"), PlanError::DeviceMmioReserved { region: ReservedRegion::GuestDisk, .. }));
}

#[test]
fn device_mmio_overlap() {
    // Work given personal's RTC (with another interrupt, so only the
    // registers clash).
    let plan = valid_plan_with_devices().with(|plan| plan.personalities[1].devices[0].mmio = PhysRange::new(0x0900_f000, 0x2000));
    assert_eq!(
        rejected(&plan, "\"work\" device \"gpio\" MMIO overlaps personality \"personal\" device \"rtc\""),
        PlanError::DeviceMmioOverlap {
            personality: "work".try_into().unwrap(),
            device: "gpio".try_into().unwrap(),
            other: "personal".try_into().unwrap(),
            other_device: "rtc".try_into().unwrap(),
        }
    );
    // Within one personality.
    let plan = valid_plan_with_devices().with(|plan| plan.personalities[0].devices.push(device_plan("clock", 0x0901_0000, 0x1000, &[100])).unwrap());
    assert!(matches!(rejected(&plan, "\"personal\" device \"clock\""), PlanError::DeviceMmioOverlap { .. }));
}

#[test]
fn device_interrupt_not_spi() {
    for interrupt in [27, 256, 1020] {
        let plan = with_rtc(|rtc| rtc.interrupts[0] = interrupt);
        assert!(matches!(rejected(&plan, &format!("\"rtc\" interrupt {interrupt} is not an SPI")), PlanError::DeviceInterruptNotSpi { .. }));
    }
}

#[test]
fn device_interrupt_reserved() {
    let plan = with_rtc(|rtc| rtc.interrupts[0] = 33);
    assert_eq!(
        rejected(&plan, "\"rtc\" interrupt 33 belongs to Janus' console UART"),
        PlanError::DeviceInterruptReserved {
            personality: "personal".try_into().unwrap(),
            device: "rtc".try_into().unwrap(),
            interrupt: 33,
            owner: ReservedInterrupt::Uart,
        }
    );
    let plan = with_rtc(|rtc| rtc.interrupts[0] = 48);
    assert!(matches!(rejected(&plan, "the emulated guest disk"), PlanError::DeviceInterruptReserved { owner: ReservedInterrupt::GuestDisk, .. }));
}

#[test]
fn device_interrupt_shared() {
    let plan = valid_plan_with_devices().with(|plan| plan.personalities[1].devices[0].interrupts[1] = 34);
    assert_eq!(
        rejected(&plan, "\"work\" device \"gpio\" interrupt 34 is already personality \"personal\" device \"rtc\"'s"),
        PlanError::DeviceInterruptShared {
            personality: "work".try_into().unwrap(),
            device: "gpio".try_into().unwrap(),
            other: "personal".try_into().unwrap(),
            other_device: "rtc".try_into().unwrap(),
            interrupt: 34,
        }
    );
    // One device listing it twice.
    let plan = valid_plan_with_devices().with(|plan| plan.personalities[1].devices[0].interrupts[1] = 40);
    assert!(matches!(rejected(&plan, "\"gpio\" interrupt 40 is already personality \"work\" device \"gpio\"'s"), PlanError::DeviceInterruptShared { .. }));
}
