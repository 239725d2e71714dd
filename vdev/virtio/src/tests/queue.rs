//! `QueueLayout`: sizes, alignments, overflow and containment.

use super::driver::{AVAILABLE, BASE, DESCRIPTORS, RAM, USED};
use crate::mock::FakeMemory;
use crate::{QueueError, QueueLayout, RingPart};

#[test]
fn valid_sizes() {
    for size in [1u32, 2, 4, 8, 16, 32, 64, 128, 256] {
        let layout = QueueLayout::new(size, 256, DESCRIPTORS, AVAILABLE, USED).unwrap();
        assert_eq!(u32::from(layout.size()), size);
        assert_eq!(layout.check_memory(&FakeMemory::new(BASE, RAM)), Ok(()));
    }
}

#[test]
fn invalid_sizes() {
    for size in [0u32, 3, 6, 100, 255, 512, 65536, u32::MAX] {
        assert_eq!(QueueLayout::new(size, 256, DESCRIPTORS, AVAILABLE, USED), Err(QueueError::InvalidSize { size, maximum: 256 }));
    }
    // Above the device's maximum.
    assert_eq!(QueueLayout::new(128, 64, DESCRIPTORS, AVAILABLE, USED), Err(QueueError::InvalidSize { size: 128, maximum: 64 }));
    // The maximum itself is capped at 256.
    assert!(QueueLayout::new(512, 1024, DESCRIPTORS, AVAILABLE, USED).is_err());
}

#[test]
fn alignment() {
    let cases = [
        (RingPart::Descriptors, DESCRIPTORS + 8, AVAILABLE, USED),
        (RingPart::Available, DESCRIPTORS, AVAILABLE + 1, USED),
        (RingPart::Used, DESCRIPTORS, AVAILABLE, USED + 2),
    ];
    for (part, descriptors, available, used) in cases {
        let address = match part {
            RingPart::Descriptors => descriptors,
            RingPart::Available => available,
            RingPart::Used => used,
        };
        assert_eq!(QueueLayout::new(8, 256, descriptors, available, used), Err(QueueError::Misaligned { part, address }));
    }
    // The minimum alignments are enough.
    assert!(QueueLayout::new(8, 256, DESCRIPTORS + 16, AVAILABLE + 2, USED + 4).is_ok());
}

#[test]
fn overflowing_areas() {
    let address = 0xffff_ffff_ffff_fff0;
    assert_eq!(QueueLayout::new(8, 256, address, AVAILABLE, USED), Err(QueueError::OutsideMemory { part: RingPart::Descriptors, address }));
    assert_eq!(
        QueueLayout::new(8, 256, DESCRIPTORS, 0xffff_ffff_ffff_fffe, USED),
        Err(QueueError::OutsideMemory { part: RingPart::Available, address: 0xffff_ffff_ffff_fffe })
    );
}

#[test]
fn areas_outside_memory() {
    let memory = FakeMemory::new(BASE, RAM);
    // The used ring of 256 entries is 6 + 2048 bytes: 2 past the end of RAM.
    let used = BASE + RAM - 2052;
    let layout = QueueLayout::new(256, 256, DESCRIPTORS, AVAILABLE, used).unwrap();
    assert_eq!(layout.check_memory(&memory), Err(QueueError::OutsideMemory { part: RingPart::Used, address: used }));
    let layout = QueueLayout::new(4, 256, 0, AVAILABLE, USED).unwrap();
    assert_eq!(layout.check_memory(&memory), Err(QueueError::OutsideMemory { part: RingPart::Descriptors, address: 0 }));
}

#[test]
fn ring_sizes_follow_the_spec() {
    assert_eq!(RingPart::Descriptors.bytes(256), 4096);
    assert_eq!(RingPart::Available.bytes(256), 518);
    assert_eq!(RingPart::Used.bytes(256), 2054);
    assert_eq!(QueueError::InvalidSize { size: 3, maximum: 256 }.to_string(), "queue size 3 is not a power of two between 1 and 256");
}
