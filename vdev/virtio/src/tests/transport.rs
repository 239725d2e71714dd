//! The virtio-mmio registers: identification, feature negotiation, status,
//! queue setup, configuration space, interrupts, reset, ignored accesses.

use super::driver::{AVAILABLE, BASE, DESCRIPTORS, Driver, RAM, SERIAL, USED};
use crate::mock::FakeDisk;
use crate::registers::{feature, interrupt, offset, status};
use crate::{BlockConfig, DeviceError, ErrorKind, QueueError, RingPart, VirtioBlock};

/// The device can live in a static: `new` is a `const fn`.
static STATIC_DEVICE: VirtioBlock = VirtioBlock::new(BlockConfig { serial: [0; 20], queue_size_max: 128, segment_max: 8, size_max: 65536 });

#[test]
fn new_is_const() {
    assert_eq!(STATIC_DEVICE.config().queue_size_max, 128);
    assert!(!STATIC_DEVICE.interrupt_line());
}

#[test]
fn identification() {
    let mut driver = Driver::new(64);
    assert_eq!(driver.read(offset::MAGIC_VALUE), 0x7472_6976);
    assert_eq!(driver.read(offset::VERSION), 2);
    assert_eq!(driver.read(offset::DEVICE_ID), 2);
    assert_eq!(driver.read(offset::VENDOR_ID), 0x4a41_4e55);
    assert_eq!(driver.read(offset::STATUS), 0);
    assert_eq!(driver.read(offset::INTERRUPT_STATUS), 0);
    assert_eq!(driver.read(offset::CONFIG_GENERATION), 0);
    assert_eq!(driver.device.statistics().total_errors(), 0);
}

#[test]
fn offered_features() {
    let mut driver = Driver::new(64);
    let expected = feature::VERSION_1 | feature::BLOCK_SIZE_MAX | feature::BLOCK_SEGMENT_MAX | feature::BLOCK_BLOCK_SIZE | feature::BLOCK_FLUSH;
    assert_eq!(driver.device_features(), expected);
    driver.write(offset::DEVICE_FEATURES_SELECT, 2);
    assert_eq!(driver.read(offset::DEVICE_FEATURES), 0);
    driver.disk.read_only = true;
    assert_eq!(driver.device_features(), expected | feature::BLOCK_READ_ONLY);
    assert_eq!(driver.device_features() & (feature::INDIRECT_DESCRIPTORS | feature::EVENT_INDEX), 0);
}

#[test]
fn linux_negotiation() {
    let mut driver = Driver::ready(64, 256);
    assert_eq!(driver.read(offset::STATUS), status::ACKNOWLEDGE | status::DRIVER | status::FEATURES_OK | status::DRIVER_OK);
    assert_eq!(driver.device.driver_features(), VirtioBlock::offered_features(false));
    assert!(driver.device.queue().is_some());
    assert_eq!(driver.device.statistics().total_errors(), 0);
    assert_eq!(driver.device.take_last_error(), None);
}

#[test]
fn features_without_version_1_are_refused() {
    let mut driver = Driver::new(64);
    let features = VirtioBlock::offered_features(false) & !feature::VERSION_1;
    assert!(!driver.negotiate_features(features));
    assert_eq!(driver.read(offset::STATUS), status::ACKNOWLEDGE | status::DRIVER);
    assert_eq!(driver.device.statistics().errors(ErrorKind::FeaturesRejected), 1);
    assert_eq!(driver.device.take_last_error(), Some(DeviceError::FeaturesRejected { requested: features, offered: VirtioBlock::offered_features(false) }));
    // The driver may try again with a good set.
    driver.write_driver_features(feature::VERSION_1);
    driver.write(offset::STATUS, status::ACKNOWLEDGE | status::DRIVER | status::FEATURES_OK);
    assert_ne!(driver.read(offset::STATUS) & status::FEATURES_OK, 0);
}

#[test]
fn features_not_offered_are_refused() {
    for extra in [feature::INDIRECT_DESCRIPTORS, feature::EVENT_INDEX, feature::BLOCK_READ_ONLY, 1 << 63] {
        let mut driver = Driver::new(64);
        assert!(!driver.negotiate_features(feature::VERSION_1 | extra), "{extra:#x}");
    }
    // A bit beyond 63, through DriverFeaturesSel = 2.
    let mut driver = Driver::new(64);
    driver.write(offset::STATUS, status::ACKNOWLEDGE | status::DRIVER);
    driver.write_driver_features(feature::VERSION_1);
    driver.write(offset::DRIVER_FEATURES_SELECT, 2);
    driver.write(offset::DRIVER_FEATURES, 1);
    driver.write(offset::STATUS, status::ACKNOWLEDGE | status::DRIVER | status::FEATURES_OK);
    assert_eq!(driver.read(offset::STATUS) & status::FEATURES_OK, 0);
    // The read-only bit is fine when offered.
    let mut driver = Driver::new(64);
    driver.disk.read_only = true;
    assert!(driver.negotiate_features(feature::VERSION_1 | feature::BLOCK_READ_ONLY));
}

#[test]
fn features_are_frozen_after_features_ok() {
    let mut driver = Driver::new(64);
    assert!(driver.negotiate_features(feature::VERSION_1));
    driver.write(offset::DRIVER_FEATURES_SELECT, 0);
    driver.write(offset::DRIVER_FEATURES, feature::BLOCK_FLUSH as u32);
    assert_eq!(driver.device.driver_features(), feature::VERSION_1);
    assert_eq!(driver.device.take_last_error(), Some(DeviceError::FeaturesAfterNegotiation));
    // Driver features read back as written.
    driver.write(offset::DRIVER_FEATURES_SELECT, 1);
    assert_eq!(driver.read(offset::DRIVER_FEATURES), 1);
}

#[test]
fn driver_cannot_set_needs_reset() {
    let mut driver = Driver::new(64);
    driver.write(offset::STATUS, status::ACKNOWLEDGE | status::DEVICE_NEEDS_RESET | 0x100);
    assert_eq!(driver.read(offset::STATUS), status::ACKNOWLEDGE);
}

/// A backend that only has a capacity.
struct Capacity(u64);

impl crate::BlockBackend for Capacity {
    fn sectors(&self) -> u64 {
        self.0
    }

    fn read(&mut self, _: u64, _: &mut [u8]) -> Result<(), crate::BackendError> {
        Err(crate::BackendError::Io)
    }

    fn write(&mut self, _: u64, _: &[u8]) -> Result<(), crate::BackendError> {
        Err(crate::BackendError::Io)
    }

    fn flush(&mut self) -> Result<(), crate::BackendError> {
        Ok(())
    }
}

#[test]
fn configuration_space_at_every_width() {
    let mut driver = Driver::new(1);
    let capacity = 0x1_2345_6789u64;
    let backend: &dyn crate::BlockBackend = &Capacity(capacity);
    let mut image = vec![0u8; 0x100];
    image[..8].copy_from_slice(&capacity.to_le_bytes());
    image[8..12].copy_from_slice(&65536u32.to_le_bytes());
    image[12..16].copy_from_slice(&64u32.to_le_bytes());
    image[0x14..0x18].copy_from_slice(&512u32.to_le_bytes());
    image[0x22..0x24].copy_from_slice(&1u16.to_le_bytes());
    for width in [1u8, 2, 4, 8] {
        for start in 0..0x100u64 {
            let value = driver.device.read(offset::CONFIG + start, width, backend);
            let mut expected = [0u8; 8];
            for (byte, slot) in expected.iter_mut().enumerate().take(usize::from(width)) {
                *slot = image.get(start as usize + byte).copied().unwrap_or(0);
            }
            assert_eq!(value, u64::from_le_bytes(expected), "width {width} at {start:#x}");
        }
    }
    assert_eq!(driver.device.statistics().total_errors(), 0);
    // 3-byte reads are not a thing.
    assert_eq!(driver.device.read(offset::CONFIG, 3, backend), 0);
    assert_eq!(driver.device.statistics().errors(ErrorKind::BadWidth), 1);
}

#[test]
fn capacity_follows_the_backend() {
    let mut driver = Driver::new(64);
    assert_eq!(driver.device.read(offset::CONFIG, 8, &driver.disk), 64);
    driver.disk = FakeDisk::new(128);
    assert_eq!(driver.device.read(offset::CONFIG, 4, &driver.disk), 128);
    let effects = driver.device.config_changed();
    assert!(!effects.interrupt_changed, "no interrupt before DRIVER_OK");
    assert_eq!(driver.read(offset::CONFIG_GENERATION), 1);
    let mut driver = Driver::ready(64, 8);
    assert!(driver.device.config_changed().interrupt_changed);
    assert_eq!(driver.read(offset::INTERRUPT_STATUS), interrupt::CONFIG_CHANGE);
}

#[test]
fn configuration_space_is_read_only() {
    let mut driver = Driver::ready(64, 8);
    let effects = driver.device.write(offset::CONFIG + 0x20, 1, 1, &mut driver.memory, &mut driver.disk, &mut driver.scratch);
    assert_eq!(effects, Default::default());
    assert_eq!(driver.device.read(offset::CONFIG + 0x20, 1, &driver.disk), 0);
    assert_eq!(driver.device.take_last_error(), Some(DeviceError::ReadOnlyRegister { offset: 0x120 }));
}

#[test]
fn normalized_configuration() {
    let normalized = |queue_size_max, segment_max, size_max| {
        let config = BlockConfig { serial: SERIAL, queue_size_max, segment_max, size_max }.normalized();
        (config.queue_size_max, config.segment_max, config.size_max)
    };
    assert_eq!(normalized(256, 64, 65536), (256, 64, 65536));
    assert_eq!(normalized(0, 0, 0), (256, 1, 4096));
    assert_eq!(normalized(1000, 1000, u32::MAX), (256, 1, 4 << 20));
    assert_eq!(normalized(200, 500, 4096), (128, 126, 4096));
    assert_eq!(normalized(3, 500, 4096), (2, 1, 4096));
    assert_eq!(normalized(256, 128, 65536 + 100), (256, 64, 65536));
    for queue in 0..=300u16 {
        for segments in [0, 1, 7, 300, u32::MAX] {
            for size in [0, 511, 4096, 100_000, u32::MAX] {
                let (queue, segments, size) = normalized(queue, segments, size);
                assert!(queue.is_power_of_two() && queue <= 256);
                assert!(segments >= 1 && (segments <= u32::from(queue).saturating_sub(2) || segments == 1));
                assert!(size % 512 == 0 && size >= 4096);
                assert!(u64::from(segments) * u64::from(size) <= 4 << 20);
            }
        }
    }
}

#[test]
fn queue_registers() {
    let mut driver = Driver::new(64);
    assert_eq!(driver.read(offset::QUEUE_SIZE_MAX), 256);
    assert_eq!(driver.read(offset::QUEUE_SIZE), 256, "QueueNum starts at the maximum");
    driver.write(offset::QUEUE_DESCRIPTOR_LOW, 0x1234_5670);
    driver.write(offset::QUEUE_DESCRIPTOR_HIGH, 0x9);
    assert_eq!(driver.read(offset::QUEUE_DESCRIPTOR_LOW), 0x1234_5670);
    assert_eq!(driver.read(offset::QUEUE_DESCRIPTOR_HIGH), 0x9);
    // Queues other than 0 do not exist.
    driver.write(offset::QUEUE_SELECT, 1);
    assert_eq!(driver.read(offset::QUEUE_SELECT), 1);
    assert_eq!(driver.read(offset::QUEUE_SIZE_MAX), 0);
    assert_eq!(driver.read(offset::QUEUE_READY), 0);
    assert_eq!(driver.read(offset::QUEUE_DESCRIPTOR_LOW), 0);
    driver.write(offset::QUEUE_SIZE, 8);
    assert_eq!(driver.device.take_last_error(), Some(DeviceError::QueueRegisterIgnored { offset: offset::QUEUE_SIZE, queue: 1 }));
    driver.write(offset::QUEUE_READY, 1);
    assert_eq!(driver.read(offset::QUEUE_READY), 0);
    assert_eq!(driver.device.statistics().errors(ErrorKind::QueueRegisterIgnored), 2);
    driver.write(offset::QUEUE_SELECT, 0);
    assert_eq!(driver.read(offset::QUEUE_DESCRIPTOR_LOW), 0x1234_5670);
}

#[test]
fn bad_queue_sizes_keep_the_queue_off() {
    for size in [0u32, 3, 100, 512] {
        let mut driver = Driver::new(64);
        assert!(driver.negotiate_features(feature::VERSION_1));
        assert!(!driver.setup_queue(size), "size {size}");
        assert_eq!(driver.device.take_last_error(), Some(DeviceError::Queue(QueueError::InvalidSize { size, maximum: 256 })));
        assert_eq!(driver.device.statistics().errors(ErrorKind::QueueInvalidSize), 1);
        // Fixed, it works.
        assert!(driver.setup_queue(16));
    }
}

#[test]
fn misaligned_or_absent_rings_keep_the_queue_off() {
    let cases = [
        (DESCRIPTORS + 4, AVAILABLE, USED, ErrorKind::QueueMisaligned),
        (DESCRIPTORS, AVAILABLE + 1, USED, ErrorKind::QueueMisaligned),
        (DESCRIPTORS, AVAILABLE, USED + 2, ErrorKind::QueueMisaligned),
        (BASE - 0x1000, AVAILABLE, USED, ErrorKind::QueueOutsideMemory),
        (DESCRIPTORS, BASE + RAM, USED, ErrorKind::QueueOutsideMemory),
        (DESCRIPTORS, AVAILABLE, BASE + RAM - 8, ErrorKind::QueueOutsideMemory),
        (0xffff_ffff_ffff_fff0, AVAILABLE, USED, ErrorKind::QueueOutsideMemory),
    ];
    for (descriptors, available, used, kind) in cases {
        let mut driver = Driver::new(64);
        assert!(driver.negotiate_features(feature::VERSION_1));
        assert!(!driver.setup_queue_at(8, descriptors, available, used));
        assert_eq!(driver.device.statistics().errors(kind), 1, "{descriptors:#x} {available:#x} {used:#x}");
        assert!(driver.device.queue().is_none());
    }
    let mut driver = Driver::new(64);
    driver.setup_queue_at(8, DESCRIPTORS, AVAILABLE, BASE + RAM - 8);
    assert_eq!(driver.device.take_last_error().unwrap().to_string(), format!("queue not enabled: used ring at {:#x} outside guest RAM", BASE + RAM - 8));
    let _ = RingPart::Used;
}

#[test]
fn queue_registers_are_frozen_while_ready() {
    let mut driver = Driver::ready(64, 8);
    driver.write(offset::QUEUE_SIZE, 4);
    driver.write(offset::QUEUE_DESCRIPTOR_LOW, 0);
    assert_eq!(driver.device.statistics().errors(ErrorKind::QueueRegisterIgnored), 2);
    assert_eq!(driver.device.queue().unwrap().size(), 8);
    assert_eq!(driver.device.queue().unwrap().descriptors(), DESCRIPTORS);
    // Writing 1 again changes nothing; 0 disables the queue (Linux's
    // del_vq reads it back as 0).
    driver.write(offset::QUEUE_READY, 1);
    assert!(driver.device.queue().is_some());
    driver.write(offset::QUEUE_READY, 0);
    assert_eq!(driver.read(offset::QUEUE_READY), 0);
    driver.write(offset::QUEUE_SIZE, 4);
    assert_eq!(driver.read(offset::QUEUE_SIZE), 4);
}

#[test]
fn unknown_offsets_and_widths() {
    let mut driver = Driver::ready(64, 8);
    for offset in [0x018u64, 0x040, 0x0c0, 0x0f8, 0x200, 0x1000, u64::MAX] {
        assert_eq!(driver.device.read(offset, 4, &driver.disk), 0, "{offset:#x}");
        assert_eq!(driver.device.take_last_error(), Some(DeviceError::UnknownRegister { offset }));
    }
    for (offset, width) in [(0x000u64, 1u8), (0x000, 2), (0x000, 8), (0x002, 4), (0x070, 0), (0x070, 255)] {
        assert_eq!(driver.device.read(offset, width, &driver.disk), 0);
        assert_eq!(driver.device.take_last_error(), Some(DeviceError::BadWidth { offset, width }));
    }
    // Writes: bad widths and unknown offsets change nothing.
    let before = driver.read(offset::STATUS);
    for (offset, width) in [(offset::STATUS, 1u8), (offset::STATUS, 8), (offset::STATUS + 1, 4), (0x018, 4), (0x300, 4)] {
        let effects = driver.device.write(offset, width, 0, &mut driver.memory, &mut driver.disk, &mut driver.scratch);
        assert_eq!(effects, Default::default());
    }
    assert_eq!(driver.read(offset::STATUS), before);
    assert_eq!(driver.device.statistics().errors(ErrorKind::UnknownRegister), 7 + 2);
    assert_eq!(driver.device.statistics().errors(ErrorKind::BadWidth), 6 + 3);
    // Every read-only register ignores writes.
    for offset in [
        offset::MAGIC_VALUE,
        offset::VERSION,
        offset::DEVICE_ID,
        offset::VENDOR_ID,
        offset::DEVICE_FEATURES,
        offset::QUEUE_SIZE_MAX,
        offset::INTERRUPT_STATUS,
        offset::SHARED_MEMORY_LENGTH_LOW,
        offset::SHARED_MEMORY_LENGTH_HIGH,
        offset::SHARED_MEMORY_BASE_LOW,
        offset::SHARED_MEMORY_BASE_HIGH,
        offset::CONFIG_GENERATION,
    ] {
        driver.write(offset, 0xffff_ffff);
        assert_eq!(driver.device.take_last_error(), Some(DeviceError::ReadOnlyRegister { offset }));
    }
    assert_eq!(driver.read(offset::MAGIC_VALUE), 0x7472_6976);
    assert_eq!(driver.read(offset::INTERRUPT_STATUS), 0);
}

#[test]
fn shared_memory_regions_do_not_exist() {
    let mut driver = Driver::new(64);
    for region in [0u32, 1, 7] {
        driver.write(offset::SHARED_MEMORY_SELECT, region);
        assert_eq!(driver.read(offset::SHARED_MEMORY_LENGTH_LOW), u32::MAX);
        assert_eq!(driver.read(offset::SHARED_MEMORY_LENGTH_HIGH), u32::MAX);
        assert_eq!(driver.read(offset::SHARED_MEMORY_BASE_LOW), 0);
        assert_eq!(driver.read(offset::SHARED_MEMORY_BASE_HIGH), 0);
    }
    assert_eq!(driver.device.statistics().total_errors(), 0);
}

#[test]
fn interrupt_acknowledge() {
    let mut driver = Driver::ready(64, 8);
    let request = driver.submit_read(0, &[512]);
    let effects = driver.notify();
    assert!(effects.interrupt_changed && driver.device.interrupt_line());
    assert_eq!(driver.status_of(&request), 0);
    driver.device.config_changed();
    assert_eq!(driver.read(offset::INTERRUPT_STATUS), interrupt::ALL);
    assert!(!driver.write(offset::INTERRUPT_ACKNOWLEDGE, interrupt::USED_BUFFER | 0xf0).interrupt_changed);
    assert_eq!(driver.read(offset::INTERRUPT_STATUS), interrupt::CONFIG_CHANGE);
    assert!(driver.write(offset::INTERRUPT_ACKNOWLEDGE, interrupt::CONFIG_CHANGE).interrupt_changed);
    assert!(!driver.device.interrupt_line());
}

#[test]
fn reset_clears_everything() {
    let mut driver = Driver::ready(64, 8);
    driver.set_available_index(100);
    let effects = driver.notify();
    assert!(effects.needs_reset);
    assert!(driver.device.interrupt_line());
    driver.write(offset::DEVICE_FEATURES_SELECT, 1);
    driver.write(offset::QUEUE_SELECT, 3);

    let effects = driver.write(offset::STATUS, 0);
    assert!(effects.reset && effects.interrupt_changed);
    assert!(!driver.device.interrupt_line());
    for register in [
        offset::STATUS,
        offset::INTERRUPT_STATUS,
        offset::DEVICE_FEATURES_SELECT,
        offset::DRIVER_FEATURES_SELECT,
        offset::QUEUE_SELECT,
        offset::QUEUE_READY,
        offset::QUEUE_DESCRIPTOR_LOW,
        offset::QUEUE_DRIVER_LOW,
        offset::QUEUE_DEVICE_LOW,
    ] {
        assert_eq!(driver.read(register), 0, "{register:#x}");
    }
    assert_eq!(driver.read(offset::QUEUE_SIZE), 256);
    assert_eq!(driver.device.driver_features(), 0);
    assert!(driver.device.queue().is_none());
    // Two resets: one when the driver first initialized the device.
    assert_eq!(driver.device.statistics().resets, 2);
    assert_eq!(driver.device.statistics().needs_reset, 1, "counters survive a reset");

    // A fresh initialization works, with the ring indices back at 0.
    driver.initialize(8);
    let request = driver.submit_read(1, &[512]);
    assert_eq!(driver.run(&request), (0, 513));
    assert_eq!(driver.data_of(&request), driver.disk.sector(1));
}

#[test]
fn reset_method_matches_status_zero() {
    let mut driver = Driver::ready(64, 8);
    driver.device.reset();
    assert_eq!(driver.read(offset::STATUS), 0);
    assert!(driver.device.queue().is_none());
}

#[test]
fn notifications_before_driver_ok_are_ignored() {
    let mut driver = Driver::new(64);
    assert!(driver.negotiate_features(feature::VERSION_1));
    assert!(driver.setup_queue(8));
    let request = driver.submit_read(0, &[512]);
    assert_eq!(driver.notify(), Default::default());
    assert_eq!(driver.device.take_last_error(), Some(DeviceError::NotifyNotReady));
    assert_eq!(driver.status_of(&request), 0xff);
    assert!(driver.disk.calls.is_empty());
    // DRIVER_OK without FEATURES_OK is not enough either.
    let mut driver = Driver::new(64);
    driver.write(offset::STATUS, status::ACKNOWLEDGE | status::DRIVER);
    assert!(driver.setup_queue(8));
    driver.write(offset::STATUS, status::ACKNOWLEDGE | status::DRIVER | status::DRIVER_OK);
    driver.submit_read(0, &[512]);
    driver.notify();
    assert_eq!(driver.device.take_last_error(), Some(DeviceError::NotifyNotReady));
    assert!(driver.disk.calls.is_empty());
}

#[test]
fn notification_of_queue_not_ready() {
    let mut driver = Driver::ready(64, 8);
    driver.write(offset::QUEUE_READY, 0);
    driver.submit_read(0, &[512]);
    driver.notify();
    assert_eq!(driver.device.take_last_error(), Some(DeviceError::NotifyNotReady));
    assert_eq!(driver.device.statistics().errors(ErrorKind::NotifyNotReady), 1);
    assert!(driver.disk.calls.is_empty());
}

#[test]
fn notification_of_absent_queue() {
    let mut driver = Driver::ready(64, 8);
    driver.submit_read(0, &[512]);
    assert_eq!(driver.write(offset::QUEUE_NOTIFY, 1), Default::default());
    assert_eq!(driver.device.take_last_error(), Some(DeviceError::NoSuchQueue { queue: 1 }));
    assert!(driver.disk.calls.is_empty());
}
