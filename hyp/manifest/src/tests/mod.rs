//! Host tests: fixtures shared by the unit and property tests.
#![cfg(feature = "std")]

mod device_parse_tests;
mod device_plan_tests;
mod device_validate_tests;
mod kernel_tests;
mod layout_tests;
mod parse_tests;
mod payload_tests;
mod plan_tests;
mod properties;
mod validate_tests;

use janus_platform::{BoardDescription, Cpu, GicDescription, GuestPhysAddr, PhysAddr, PhysRange, StorageDescription};

use crate::model::{DeviceConfig, Manifest, PersonalityConfig};
use crate::plan::{Blob, BootPlan, DevicePlan, DiskPartition, DiskPlan, PersonalityPlan};

pub(crate) const MIB: u64 = 1 << 20;

/// A qemu-virt-like board: 2 GiB of RAM at 1 GiB, the hypervisor in the
/// first 128 MiB, four cores, 32 virtio-mmio transports for storage.
pub(crate) fn board() -> BoardDescription {
    board_with_cpus(4)
}

pub(crate) fn board_with_cpus(count: u64) -> BoardDescription {
    BoardDescription {
        name: "qemu-virt".try_into().unwrap(),
        ram: PhysRange::new(0x4000_0000, 0x8000_0000),
        hypervisor: PhysRange::new(0x4000_0000, 0x800_0000),
        cpus: (0..count).map(|mpidr| Cpu { mpidr }).collect(),
        uart: PhysAddr(0x0900_0000),
        gic: GicDescription::V3 { distributor: PhysAddr(0x0800_0000), redistributor: PhysAddr(0x080a_0000), redistributor_stride: 0x2_0000 },
        guest_uart: GuestPhysAddr(0x0900_0000),
        guest_uart_interrupt: 33,
        uart_interrupt: 33,
        hotkey_button: None,
        storage: Some(StorageDescription::VirtioMmio { base: PhysAddr(0x0a00_0000), slots: 32, stride: 0x200, first_interrupt: 48 }),
        guest_disk: GuestPhysAddr(0x0a00_0000),
        guest_disk_interrupt: 48,
        dma_masters: heapless::Vec::new(),
        // Every device below RAM: the device tests here are about the
        // other rules (DMA has its own tests with a narrower board).
        dma_incapable: [PhysRange::new(0, 0x4000_0000)].into_iter().collect(),
    }
}

/// A device key that is not all zeros.
pub(crate) const DEVICE_KEY: [u8; 32] = [0x5a; 32];

pub(crate) const SAMPLE: &str = r#"# boards/qemu-virt/janus-test.toml
board = "qemu-virt"

[[personality]]
name = "personal"
cpus = [0, 1]                                  # physical core indexes on the board
ram = { base = 0x4800_0000, size = "128M" }    # size: integer bytes or string with K/M/G suffix
kernel = "builtin:testguest"                   # or a path relative to the manifest file
initrd = "initrd.img"
cmdline = "role=victim"

[[personality]]
name = "work"
cpus = [2, 3]
ram = { base = 0x5000_0000, size = "128M" }
kernel = "builtin:testguest"
"#;

/// The model [`SAMPLE`] parses to.
pub(crate) fn sample() -> Manifest {
    Manifest {
        console: crate::ConsoleMode::default(),
        board: "qemu-virt".into(),
        personalities: vec![personality("personal", &[0, 1], 0x4800_0000, 128 * MIB), personality("work", &[2, 3], 0x5000_0000, 128 * MIB)],
        devices: vec![],
    }
    .with(|manifest| {
        manifest.personalities[0].initrd = Some("initrd.img".into());
        manifest.personalities[0].cmdline = "role=victim".into();
    })
}

pub(crate) fn personality(name: &str, cpus: &[u8], base: u64, size: u64) -> PersonalityConfig {
    PersonalityConfig {
        name: name.into(),
        cpus: cpus.to_vec(),
        ram: PhysRange::new(base, size),
        kernel: "builtin:testguest".into(),
        initrd: None,
        cmdline: String::new(),
        disk: None,
    }
}

/// Tweak a value in place and hand it back.
pub(crate) trait With: Sized {
    fn with(mut self, change: impl FnOnce(&mut Self)) -> Self {
        change(&mut self);
        self
    }
}

impl<T> With for T {}

/// A valid two-personality plan whose blobs all lie in a payload of
/// [`PLAN_PAYLOAD_LENGTH`] bytes.
pub(crate) fn valid_plan() -> BootPlan {
    let entry = |name: &str, cpus: &[u8], base: u64| PersonalityPlan {
        name: name.try_into().unwrap(),
        cpus: heapless::Vec::from_slice(cpus).unwrap(),
        ram: PhysRange::new(base, 128 * MIB),
        kernel: Blob { offset: 0x1000, size: 0x3000 },
        kernel_load: GuestPhysAddr(base + 0x8_0000),
        entry: GuestPhysAddr(base + 0x8_0000),
        dtb: Blob { offset: 0x4000, size: 0x1000 },
        dtb_load: GuestPhysAddr(base + 126 * MIB),
        initrd: Some((Blob { offset: 0x5000, size: 0x1000 }, GuestPhysAddr(base + 125 * MIB))),
        disk: None,
        devices: heapless::Vec::new(),
    };
    BootPlan {
        board: board(),
        console: crate::ConsoleMode::Tagged,
        personalities: heapless::Vec::from_slice(&[entry("personal", &[0, 1], 0x4800_0000), entry("work", &[2, 3], 0x5000_0000)]).unwrap(),
        device_key: None,
    }
}

/// [`valid_plan`] with a plain personal disk, an encrypted work disk and the
/// device key that wraps the latter's key.
pub(crate) fn valid_plan_with_disks() -> BootPlan {
    valid_plan().with(|plan| {
        plan.personalities[0].disk = Some(DiskPlan { partition: DiskPartition::Personal, encrypted: false });
        plan.personalities[1].disk = Some(DiskPlan { partition: DiskPartition::Work, encrypted: true });
        plan.device_key = Some(DEVICE_KEY);
    })
}

pub(crate) const PLAN_PAYLOAD_LENGTH: u64 = 0x6000;

/// QEMU virt's PL031 real-time clock (4 KiB at 0x0901_0000, SPI 2 = INTID
/// 34) as a device of personality `personality`.
pub(crate) fn rtc(personality: usize) -> DeviceConfig {
    DeviceConfig {
        personality,
        name: "rtc".into(),
        mmio: PhysRange::new(0x0901_0000, 0x1000),
        interrupts: vec![34],
        compatible: vec!["arm,pl031".into(), "arm,primecell".into()],
    }
}

/// [`sample`] with the RTC given to personal.
pub(crate) fn sample_with_rtc() -> Manifest {
    sample().with(|manifest| manifest.devices.push(rtc(0)))
}

/// The boot plan's view of a device.
pub(crate) fn device_plan(name: &str, base: u64, size: u64, interrupts: &[u32]) -> DevicePlan {
    DevicePlan { name: name.try_into().unwrap(), mmio: PhysRange::new(base, size), interrupts: heapless::Vec::from_slice(interrupts).unwrap() }
}

/// [`valid_plan`] with the RTC passed through to personal and a GPIO
/// controller-like device (two interrupts) to work.
pub(crate) fn valid_plan_with_devices() -> BootPlan {
    valid_plan().with(|plan| {
        plan.personalities[0].devices.push(device_plan("rtc", 0x0901_0000, 0x1000, &[34])).unwrap();
        plan.personalities[1].devices.push(device_plan("gpio", 0x0902_0000, 0x2000, &[40, 41])).unwrap();
    })
}
