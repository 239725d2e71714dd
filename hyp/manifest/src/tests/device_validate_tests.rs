//! One test per device `ValidationError` variant: the variant is reported
//! on the device field, its message has the values and a fix.

use janus_platform::{DmaMaster, GicDescription, GpioButton, GuestPhysAddr, PhysAddr, PhysRange};

use super::{With, board, rtc, sample_with_rtc};
use crate::model::{DeviceConfig, DeviceRef, Manifest, PersonalityRef};
use crate::rules::{NameProblem, ReservedInterrupt, ReservedRegion};
use crate::validate::{ValidationError, validate};

/// Validates, finds the error matching `$pattern`, checks its message starts
/// with `$field` and has a fix, and returns it with its text.
macro_rules! expect_error {
    ($manifest:expr, $board:expr, $pattern:pat, $field:expr) => {{
        let errors = validate(&$manifest, &$board).expect_err("manifest should be rejected");
        let error = errors.iter().find(|error| matches!(error, $pattern)).unwrap_or_else(|| panic!("no {} in {errors:#?}", stringify!($pattern))).clone();
        let text = error.to_string();
        assert!(text.starts_with(&format!("{}: ", $field)), "field missing: {text}");
        assert!(text.contains(". Fix: "), "fix missing: {text}");
        (error, text)
    }};
    ($manifest:expr, $pattern:pat, $field:expr) => {
        expect_error!($manifest, board(), $pattern, $field)
    };
}

/// [`sample_with_rtc`] with personal's RTC edited.
fn with_rtc(change: impl FnOnce(&mut DeviceConfig)) -> Manifest {
    sample_with_rtc().with(|manifest| change(&mut manifest.devices[0]))
}

/// A device of personal at `page` pages above 0x0901_0000 with `interrupt`.
fn device(name: &str, page: u64, interrupt: u32) -> DeviceConfig {
    rtc(0).with(|device| {
        device.name = name.into();
        device.mmio = PhysRange::new(0x0901_0000 + page * 0x1000, 0x1000);
        device.interrupts = vec![interrupt];
    })
}

#[test]
fn a_passed_through_rtc_is_valid() {
    assert_eq!(validate(&sample_with_rtc(), &board()), Ok(()));
    // Several devices, with several interrupts or none, on both personalities.
    let manifest = sample_with_rtc().with(|manifest| {
        manifest.devices.push(device("gpio", 1, 40).with(|device| device.interrupts.push(41)));
        manifest.devices.push(device("flash", 2, 0).with(|device| {
            device.personality = 1;
            device.interrupts.clear();
        }));
    });
    assert_eq!(validate(&manifest, &board()), Ok(()));
}

#[test]
fn too_many_devices() {
    let manifest = sample_with_rtc().with(|manifest| manifest.devices = (0..5).map(|index| device(&format!("d{index}"), index, 64 + index as u32)).collect());
    let (error, text) = expect_error!(manifest, ValidationError::TooManyDevices { .. }, "personality \"personal\" device \"d4\"");
    assert!(matches!(error, ValidationError::TooManyDevices { count: 5, .. }), "{error:?}");
    assert!(text.contains("more than the 4 allowed") && text.contains("remove 1 devices from personal"), "{text}");
}

#[test]
fn device_invalid_name() {
    let manifest = with_rtc(|rtc| rtc.name = "RTC".into());
    let (error, text) = expect_error!(manifest, ValidationError::DeviceInvalidName { .. }, "personality \"personal\" device \"RTC\" name");
    assert!(matches!(error, ValidationError::DeviceInvalidName { problem: NameProblem::BadCharacter { character: 'R' }, .. }), "{error:?}");
    assert!(text.contains("e.g. \"rtc\""), "{text}");
    let manifest = with_rtc(|rtc| rtc.name.clear());
    expect_error!(manifest, ValidationError::DeviceInvalidName { .. }, "personality \"personal\" device #1 name");
}

#[test]
fn device_duplicate_name() {
    let manifest = sample_with_rtc().with(|manifest| manifest.devices.push(device("rtc", 1, 40)));
    let (error, text) = expect_error!(manifest, ValidationError::DeviceDuplicateName { .. }, "personality \"personal\" device \"rtc\" name");
    assert!(matches!(&error, ValidationError::DeviceDuplicateName { device: DeviceRef { index: 1, .. }, first_index: 0, .. }), "{error:?}");
    assert!(text.contains("already used by the personality's device #1"), "{text}");
    // The same name in another personality is fine.
    let manifest = sample_with_rtc().with(|manifest| manifest.devices.push(device("rtc", 1, 40).with(|device| device.personality = 1)));
    assert_eq!(validate(&manifest, &board()), Ok(()));
}

#[test]
fn device_mmio_empty() {
    let manifest = with_rtc(|rtc| rtc.mmio.size = 0);
    let (_, text) = expect_error!(manifest, ValidationError::DeviceMmioEmpty { .. }, "personality \"personal\" device \"rtc\" mmio.size");
    assert!(text.contains("size is 0") && text.contains("size = \"4K\""), "{text}");
}

#[test]
fn device_mmio_wraps() {
    let manifest = with_rtc(|rtc| rtc.mmio = PhysRange::new(0xffff_ffff_ffff_f000, 0x2000));
    let (_, text) = expect_error!(manifest, ValidationError::DeviceMmioWraps { .. }, "personality \"personal\" device \"rtc\" mmio");
    assert!(text.contains("runs past the end of the address space"), "{text}");
}

#[test]
fn device_mmio_base_misaligned() {
    let manifest = with_rtc(|rtc| rtc.mmio.start.0 = 0x0901_0800);
    let (_, text) =
        expect_error!(manifest, ValidationError::DeviceMmioBaseMisaligned { base: 0x0901_0800, .. }, "personality \"personal\" device \"rtc\" mmio.base");
    assert!(text.contains("not 4 KiB (page) aligned") && text.contains("use base = 0x9010000"), "{text}");
}

#[test]
fn device_mmio_size_misaligned() {
    let manifest = with_rtc(|rtc| rtc.mmio.size = 0x800);
    let (_, text) = expect_error!(manifest, ValidationError::DeviceMmioSizeMisaligned { size: 0x800, .. }, "personality \"personal\" device \"rtc\" mmio.size");
    assert!(text.contains("use size = 0x1000"), "{text}");
}

#[test]
fn device_mmio_reserved() {
    use janus_platform::GicRegion;
    let gicv2 = board().with(|board| {
        board.gic = GicDescription::V2 {
            distributor: PhysAddr(0x0800_0000),
            cpu_interface: PhysAddr(0x0801_0000),
            hypervisor_interface: PhysAddr(0x0803_0000),
            virtual_cpu_interface: PhysAddr(0x0804_0000),
        };
    });
    let with_button = board().with(|board| {
        board.hotkey_button = Some(GpioButton { controller: PhysAddr(0x0903_0000), line: 3, interrupt: 39 });
    });
    // Guest windows moved away from the physical UART and storage, so each
    // is its own region.
    let moved_windows = board().with(|board| {
        board.guest_uart = GuestPhysAddr(0x0b00_0000);
        board.guest_disk = GuestPhysAddr(0x0c00_0000);
    });
    let cases = [
        (board(), 0x4800_0000, ReservedRegion::BoardRam, "the board's RAM 0x40000000..0xc0000000"),
        (board(), 0x4000_0000, ReservedRegion::BoardRam, "the board's RAM"),
        (board(), 0x0900_0000, ReservedRegion::Uart, "Janus' console UART 0x9000000..0x9001000"),
        (board(), 0x0800_f000, ReservedRegion::Gic(GicRegion::Distributor), "the GIC distributor 0x8000000..0x8010000"),
        (board(), 0x0811_f000, ReservedRegion::Gic(GicRegion::Redistributors), "the GIC redistributors 0x80a0000..0x8120000"),
        (board(), 0x0a00_3000, ReservedRegion::Storage, "Janus' storage transports 0xa000000..0xa004000"),
        (gicv2.clone(), 0x0800_0000, ReservedRegion::Gic(GicRegion::Distributor), "0x8000000..0x8001000"),
        (gicv2.clone(), 0x0801_1000, ReservedRegion::Gic(GicRegion::CpuInterface), "the GIC CPU interface 0x8010000..0x8012000"),
        (gicv2.clone(), 0x0803_0000, ReservedRegion::Gic(GicRegion::HypervisorInterface), "the GIC hypervisor interface"),
        (gicv2, 0x0804_1000, ReservedRegion::Gic(GicRegion::VirtualCpuInterface), "the GIC virtual CPU interface"),
        (with_button, 0x0903_0000, ReservedRegion::HotkeyButton, "the hotkey button's GPIO controller 0x9030000..0x9031000"),
        (moved_windows.clone(), 0x0b00_0000, ReservedRegion::GuestUart, "the emulated guest UART 0xb000000..0xb001000"),
        (moved_windows, 0x0c00_0000, ReservedRegion::GuestDisk, "the emulated guest disk 0xc000000..0xc000200"),
    ];
    for (board, base, expected, needle) in cases {
        let manifest = with_rtc(|rtc| rtc.mmio.start.0 = base);
        let (error, text) = expect_error!(manifest, board, ValidationError::DeviceMmioReserved { .. }, "personality \"personal\" device \"rtc\" mmio.base");
        assert!(matches!(error, ValidationError::DeviceMmioReserved { region, .. } if region == expected), "{error:?}");
        assert!(text.contains(needle), "{text}");
        assert!(text.contains("Fix: pass through only a device that Janus does not use or emulate"), "{text}");
    }
    // Right next to the GIC distributor and below the UART is free.
    let manifest = with_rtc(|rtc| rtc.mmio.start.0 = 0x0801_0000);
    assert_eq!(validate(&manifest, &board()), Ok(()));
    let manifest = with_rtc(|rtc| rtc.mmio = PhysRange::new(0x08ff_f000, 0x1000));
    assert_eq!(validate(&manifest, &board()), Ok(()));
}

/// The test board as QEMU virt declares it for DMA: only the PL031 RTC
/// page is DMA-incapable; the GIC ITS and fw_cfg master DMA.
fn board_with_dma() -> janus_platform::BoardDescription {
    board().with(|board| {
        board.dma_incapable = [PhysRange::new(0x0901_0000, 0x1000)].into_iter().collect();
        board.dma_masters = [(DmaMaster::GicIts, PhysRange::new(0x0808_0000, 0x2_0000)), (DmaMaster::FirmwareConfig, PhysRange::new(0x0902_0000, 0x1000))]
            .into_iter()
            .collect();
    })
}

#[test]
fn device_mmio_dma_capable() {
    // The RTC, which the board declares DMA-incapable, may be passed through.
    assert_eq!(validate(&sample_with_rtc(), &board_with_dma()), Ok(()));
    // Anything else may master DMA: refused, even half inside the RTC's page.
    for mmio in [PhysRange::new(0x0c00_0000, 0x1000), PhysRange::new(0x0901_0000, 0x2000), PhysRange::new(0x1000_0000, 0x1000)] {
        let manifest = with_rtc(|rtc| rtc.mmio = mmio);
        let (error, text) =
            expect_error!(manifest, board_with_dma(), ValidationError::DeviceMmioDmaCapable { .. }, "personality \"personal\" device \"rtc\" mmio.base");
        assert!(matches!(error, ValidationError::DeviceMmioDmaCapable { mmio: found, .. } if found == mmio), "{error:?}");
        assert!(text.contains("may master DMA (the board does not declare it DMA-incapable) and Janus programs no IOMMU"), "{text}");
        assert!(text.contains("Fix: pass through only a device the board declares DMA-incapable: 0x9010000..0x9011000"), "{text}");
    }
    // A board that declares nothing DMA-incapable allows no device at all.
    let none = board_with_dma().with(|board| board.dma_incapable.clear());
    let (_, text) = expect_error!(sample_with_rtc(), none, ValidationError::DeviceMmioDmaCapable { .. }, "personality \"personal\" device \"rtc\" mmio.base");
    assert!(text.contains("Fix: this board declares no device DMA-incapable, so none can be passed through"), "{text}");
}

#[test]
fn the_gic_its_and_fw_cfg_are_janus_own() {
    for (base, master, needle) in [
        (0x0809_0000, DmaMaster::GicIts, "overlaps the GIC ITS (it masters DMA: it writes its tables to memory) 0x8080000..0x80a0000"),
        (0x0902_0000, DmaMaster::FirmwareConfig, "overlaps fw_cfg (it masters DMA: its DMA interface writes memory) 0x9020000..0x9021000"),
    ] {
        let manifest = with_rtc(|rtc| rtc.mmio.start.0 = base);
        let (error, text) =
            expect_error!(manifest, board_with_dma(), ValidationError::DeviceMmioReserved { .. }, "personality \"personal\" device \"rtc\" mmio.base");
        assert!(matches!(error, ValidationError::DeviceMmioReserved { region, .. } if region == ReservedRegion::DmaMaster(master)), "{error:?}");
        assert!(text.contains(needle), "{text}");
    }
}

#[test]
fn device_mmio_overlap() {
    // The RTC given to both personalities.
    let manifest = sample_with_rtc().with(|manifest| manifest.devices.push(rtc(1)));
    let (error, text) = expect_error!(manifest, ValidationError::DeviceMmioOverlap { .. }, "personality \"work\" device \"rtc\" mmio.base");
    assert_eq!(
        error,
        ValidationError::DeviceMmioOverlap {
            personality: PersonalityRef { index: 1, name: "work".into() },
            device: DeviceRef { index: 0, name: "rtc".into() },
            mmio: PhysRange::new(0x0901_0000, 0x1000),
            other: PersonalityRef { index: 0, name: "personal".into() },
            other_device: DeviceRef { index: 0, name: "rtc".into() },
            other_mmio: PhysRange::new(0x0901_0000, 0x1000),
        }
    );
    assert!(text.contains("overlaps personality \"personal\" device \"rtc\"'s MMIO 0x9010000..0x9011000"), "{text}");
    assert!(text.contains("Fix: give the device to one personality only: remove device \"rtc\" from work or device \"rtc\" from personal"), "{text}");
    // Two devices of one personality sharing a page.
    let manifest = sample_with_rtc().with(|manifest| manifest.devices.push(device("clock", 0, 40).with(|device| device.mmio.size = 0x2000)));
    let (_, text) = expect_error!(manifest, ValidationError::DeviceMmioOverlap { .. }, "personality \"personal\" device \"clock\" mmio.base");
    assert!(text.contains("correct the mmio of device \"clock\" or device \"rtc\""), "{text}");
}

#[test]
fn device_no_compatible() {
    let manifest = with_rtc(|rtc| rtc.compatible.clear());
    let (_, text) = expect_error!(manifest, ValidationError::DeviceNoCompatible { .. }, "personality \"personal\" device \"rtc\" compatible");
    assert!(text.contains("compatible = [\"arm,pl031\", \"arm,primecell\"]"), "{text}");
}

#[test]
fn device_bad_compatible() {
    for bad in ["", "arm pl031", "arm,pl031\0", "arm,\"pl031\""] {
        let manifest = with_rtc(|rtc| rtc.compatible.push(bad.into()));
        let (error, text) = expect_error!(manifest, ValidationError::DeviceBadCompatible { .. }, "personality \"personal\" device \"rtc\" compatible[2]");
        assert!(matches!(&error, ValidationError::DeviceBadCompatible { entry, .. } if entry == bad), "{error:?}");
        assert!(text.contains("manufacturer,model"), "{text}");
    }
    let manifest = with_rtc(|rtc| rtc.compatible = vec!["vendor,dev_1.0+x-y".into()]);
    assert_eq!(validate(&manifest, &board()), Ok(()));
}

#[test]
fn too_many_device_interrupts() {
    let manifest = with_rtc(|rtc| rtc.interrupts = vec![64, 65, 66, 67, 68]);
    let (_, text) = expect_error!(manifest, ValidationError::TooManyDeviceInterrupts { count: 5, .. }, "personality \"personal\" device \"rtc\" interrupts");
    assert!(text.contains("list at most 4 interrupts"), "{text}");
}

#[test]
fn device_interrupt_not_spi() {
    for interrupt in [0, 15, 27, 31, 256, 1019, 1020, 1023, u32::MAX] {
        let manifest = with_rtc(|rtc| rtc.interrupts = vec![64, interrupt]);
        let (_, text) =
            expect_error!(manifest, ValidationError::DeviceInterruptNotSpi { position: 1, .. }, "personality \"personal\" device \"rtc\" interrupts[1]");
        assert!(text.contains(&format!("interrupt {interrupt} is not an SPI a personality can be given")), "{text}");
        assert!(text.contains("an SPI from 32 to 255"), "{text}");
    }
    for interrupt in [32, 255] {
        let manifest = with_rtc(|rtc| rtc.interrupts = vec![interrupt]);
        assert_eq!(validate(&manifest, &board()), Ok(()));
    }
}

#[test]
fn device_interrupt_reserved() {
    let with_button = board().with(|board| {
        board.hotkey_button = Some(GpioButton { controller: PhysAddr(0x0903_0000), line: 3, interrupt: 39 });
        board.guest_uart_interrupt = 35;
    });
    let cases = [
        (board(), 33, ReservedInterrupt::Uart, "interrupt 33 belongs to Janus' console UART"),
        (board(), 48, ReservedInterrupt::GuestDisk, "interrupt 48 belongs to the emulated guest disk"),
        (with_button.clone(), 39, ReservedInterrupt::HotkeyButton, "belongs to the hotkey button"),
        (with_button, 35, ReservedInterrupt::GuestUart, "belongs to the emulated guest UART"),
        // QEMU virt's virtio-mmio transports raise SPIs 48..80: the last.
        (board(), 79, ReservedInterrupt::Storage, "interrupt 79 belongs to Janus' physical disk transports"),
    ];
    for (board, interrupt, expected, needle) in cases {
        let manifest = with_rtc(|rtc| rtc.interrupts = vec![interrupt]);
        let (error, text) =
            expect_error!(manifest, board, ValidationError::DeviceInterruptReserved { .. }, "personality \"personal\" device \"rtc\" interrupts[0]");
        assert!(matches!(error, ValidationError::DeviceInterruptReserved { owner, .. } if owner == expected), "{error:?}");
        assert!(text.contains(needle), "{text}");
        assert!(text.contains(&format!("Fix: remove interrupt {interrupt}")), "{text}");
    }
}

#[test]
fn device_interrupt_shared() {
    // Another personality's device has it.
    let manifest = sample_with_rtc().with(|manifest| manifest.devices.push(device("clock", 1, 34).with(|device| device.personality = 1)));
    let (_, text) = expect_error!(manifest, ValidationError::DeviceInterruptShared { .. }, "personality \"work\" device \"clock\" interrupts[0]");
    assert!(text.contains("interrupt 34 is already given to personality \"personal\" device \"rtc\""), "{text}");
    assert!(
        text.contains(
            "Fix: give each interrupt to one device: remove 34 from personality \"work\" device \"clock\" or from personality \"personal\" device \"rtc\""
        ),
        "{text}"
    );
    // Listed twice by one device.
    let manifest = with_rtc(|rtc| rtc.interrupts = vec![34, 40, 34]);
    let (_, text) =
        expect_error!(manifest, ValidationError::DeviceInterruptShared { position: 2, .. }, "personality \"personal\" device \"rtc\" interrupts[2]");
    assert!(text.contains("interrupt 34 is listed twice") && text.contains("Fix: list interrupt 34 once"), "{text}");
}

#[test]
fn the_rtc_given_to_both_personalities_reports_registers_and_interrupt() {
    let manifest = sample_with_rtc().with(|manifest| manifest.devices.push(rtc(1)));
    let errors = validate(&manifest, &board()).unwrap_err();
    assert_eq!(errors.len(), 2, "{errors:#?}");
    assert!(matches!(errors[0], ValidationError::DeviceMmioOverlap { .. }));
    assert!(matches!(errors[1], ValidationError::DeviceInterruptShared { interrupt: 34, .. }));
}
