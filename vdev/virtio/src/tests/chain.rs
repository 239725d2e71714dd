//! `parse_chain`: one test per `ChainError` variant, and the chains that
//! must be accepted.

use super::driver::{AVAILABLE, BASE, DESCRIPTORS, INDIRECT, NEXT, RAM, USED, WRITE};
use crate::mock::{FakeMemory, descriptor_bytes};
use crate::{ChainError, Descriptor, GuestMemory, QueueLayout, parse_chain, walk_chain};

const DATA: u64 = BASE + 0x10_0000;

fn layout(size: u32) -> QueueLayout {
    QueueLayout::new(size, 256, DESCRIPTORS, AVAILABLE, USED).unwrap()
}

fn memory() -> FakeMemory {
    FakeMemory::new(BASE, RAM)
}

fn put(memory: &mut FakeMemory, index: u16, address: u64, length: u32, flags: u16, next: u16) {
    memory.store(DESCRIPTORS + 16 * u64::from(index), &descriptor_bytes(address, length, flags, next));
}

#[test]
fn single_descriptor() {
    let mut memory = memory();
    put(&mut memory, 3, DATA, 512, WRITE, 0);
    let chain = parse_chain(&memory, &layout(8), 3).unwrap();
    assert_eq!(chain.head(), 3);
    assert_eq!(chain.descriptors(), &[Descriptor { address: DATA, length: 512, flags: WRITE, index: 3 }]);
    assert!(chain.readable().is_empty());
    assert_eq!(chain.writable().len(), 1);
}

#[test]
fn readable_then_writable_in_any_index_order() {
    let mut memory = memory();
    put(&mut memory, 5, DATA, 16, NEXT, 1);
    put(&mut memory, 1, DATA + 16, 4096, NEXT, 7);
    put(&mut memory, 7, DATA + 8192, 4096, NEXT | WRITE, 0);
    put(&mut memory, 0, DATA + 16384, 1, WRITE, 0);
    let chain = parse_chain(&memory, &layout(8), 5).unwrap();
    let indices: Vec<u16> = chain.descriptors().iter().map(|descriptor| descriptor.index).collect();
    assert_eq!(indices, [5, 1, 7, 0]);
    assert_eq!(chain.readable().len(), 2);
    assert_eq!(chain.writable().len(), 2);
    assert_eq!(chain.writable()[1].length, 1);
}

#[test]
fn chain_as_long_as_the_queue() {
    let mut memory = memory();
    for index in 0..4u16 {
        let flags = if index < 3 { NEXT } else { 0 };
        put(&mut memory, index, DATA, 1, flags, index + 1);
    }
    assert_eq!(parse_chain(&memory, &layout(4), 0).unwrap().descriptors().len(), 4);
}

#[test]
fn head_beyond_queue_size() {
    let memory = memory();
    let error = parse_chain(&memory, &layout(256), 300).unwrap_err();
    assert_eq!(error, ChainError::HeadOutOfRange { head: 300, size: 256 });
    assert!(error.is_structural());
    assert_eq!(error.to_string(), "descriptor 300 beyond queue size 256");
    // The table beyond the queue is never read, even when it holds memory.
    assert_eq!(parse_chain(&memory, &layout(8), 8).unwrap_err(), ChainError::HeadOutOfRange { head: 8, size: 8 });
}

#[test]
fn next_beyond_queue_size() {
    let mut memory = memory();
    put(&mut memory, 0, DATA, 16, NEXT, 1);
    put(&mut memory, 1, DATA, 16, NEXT, 8);
    let error = parse_chain(&memory, &layout(8), 0).unwrap_err();
    assert_eq!(error, ChainError::NextOutOfRange { index: 1, next: 8, size: 8 });
    assert!(error.is_structural());
    // `next` is ignored without NEXT.
    put(&mut memory, 1, DATA, 16, 0, 0xffff);
    assert!(parse_chain(&memory, &layout(8), 0).is_ok());
}

#[test]
fn descriptor_loop() {
    let mut memory = memory();
    put(&mut memory, 0, DATA, 16, NEXT, 1);
    put(&mut memory, 1, DATA, 16, NEXT, 2);
    put(&mut memory, 2, DATA, 16, NEXT, 0);
    let error = parse_chain(&memory, &layout(8), 0).unwrap_err();
    assert_eq!(error, ChainError::TooLong { size: 8 });
    assert!(error.is_structural());
    // A descriptor pointing at itself.
    put(&mut memory, 5, DATA, 16, NEXT, 5);
    assert_eq!(parse_chain(&memory, &layout(256), 5).unwrap_err(), ChainError::TooLong { size: 256 });
}

#[test]
fn descriptor_table_outside_memory() {
    let memory = memory();
    let outside = QueueLayout::new(8, 256, BASE + RAM - 64, AVAILABLE, USED).unwrap();
    // Descriptors 0..3 are inside RAM, 4 is not.
    assert_eq!(parse_chain(&memory, &outside, 4).unwrap_err(), ChainError::DescriptorUnreadable { index: 4 });
    let mut memory = memory;
    memory.store(BASE + RAM - 64, &descriptor_bytes(0, 0, NEXT, 4));
    let error = parse_chain(&memory, &outside, 0).unwrap_err();
    assert_eq!(error, ChainError::DescriptorUnreadable { index: 4 });
    assert!(error.is_structural());
}

#[test]
fn indirect_descriptor() {
    let mut memory = memory();
    put(&mut memory, 0, DATA, 16, NEXT, 1);
    put(&mut memory, 1, DATA, 64, INDIRECT, 0);
    let error = parse_chain(&memory, &layout(8), 0).unwrap_err();
    assert_eq!(error, ChainError::Indirect { index: 1 });
    assert!(!error.is_structural());
    assert!(walk_chain(&memory, &layout(8), 0).is_ok());
}

#[test]
fn address_overflow() {
    let mut memory = memory();
    put(&mut memory, 0, 0xffff_ffff_ffff_fff0, 0x100, 0, 0);
    let error = parse_chain(&memory, &layout(8), 0).unwrap_err();
    assert_eq!(error, ChainError::AddressOverflow { index: 0, address: 0xffff_ffff_ffff_fff0, length: 0x100 });
    assert!(!error.is_structural());
    // Ending exactly at 2^64 overflows too.
    put(&mut memory, 0, 0xffff_ffff_ffff_ff00, 0x100, WRITE, 0);
    assert!(matches!(parse_chain(&memory, &layout(8), 0).unwrap_err(), ChainError::AddressOverflow { .. }));
}

#[test]
fn buffer_outside_memory() {
    let mut memory = memory();
    for (address, length) in [(BASE - 16, 16), (BASE + RAM - 8, 16), (BASE + RAM, 1), (0, 1), (BASE - 1, 2)] {
        put(&mut memory, 0, address, length, 0, 0);
        let error = parse_chain(&memory, &layout(8), 0).unwrap_err();
        assert_eq!(error, ChainError::OutsideMemory { index: 0, address, length }, "{address:#x}+{length}");
        assert!(!error.is_structural());
    }
    // The last byte of RAM is fine.
    put(&mut memory, 0, BASE + RAM - 16, 16, 0, 0);
    assert!(parse_chain(&memory, &layout(8), 0).is_ok());
}

#[test]
fn readable_after_writable() {
    let mut memory = memory();
    put(&mut memory, 0, DATA, 16, NEXT | WRITE, 1);
    put(&mut memory, 1, DATA, 16, 0, 0);
    let error = parse_chain(&memory, &layout(8), 0).unwrap_err();
    assert_eq!(error, ChainError::ReadableAfterWritable { index: 1 });
    assert!(!error.is_structural());
}

#[test]
fn four_gigabyte_descriptor_inside_sparse_memory() {
    // Parsing accepts any length that is inside RAM; the block layer bounds
    // transfers (see the requests tests).
    let mut memory = FakeMemory::new(0, 8 << 30);
    put(&mut memory, 0, 0x1000_0000, u32::MAX, WRITE, 0);
    let chain = parse_chain(&memory, &layout(8), 0).unwrap();
    assert_eq!(chain.descriptors()[0].length, u32::MAX);
    assert!(memory.contains(0x1000_0000, u64::from(u32::MAX)));
}

#[test]
fn every_error_displays_one_line() {
    let errors = [
        ChainError::HeadOutOfRange { head: 1, size: 1 },
        ChainError::NextOutOfRange { index: 1, next: 2, size: 1 },
        ChainError::TooLong { size: 4 },
        ChainError::DescriptorUnreadable { index: 1 },
        ChainError::Indirect { index: 1 },
        ChainError::AddressOverflow { index: 1, address: 2, length: 3 },
        ChainError::OutsideMemory { index: 1, address: 2, length: 3 },
        ChainError::ReadableAfterWritable { index: 1 },
    ];
    for error in errors {
        let text = error.to_string();
        assert!(!text.is_empty() && !text.contains('\n'), "{text}");
    }
}
