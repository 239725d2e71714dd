//! Fuzz target: `parse_chain` over arbitrary guest memory.
//!
//! The first byte picks the queue size (a power of two up to 256), the next
//! two the head; the rest is guest RAM at address 0, the descriptor table at
//! its start. Nothing may panic, `parse_chain` must agree with `walk_chain`
//! followed by `Chain::check`, and an accepted chain must hold: at most
//! queue-size descriptors, each index below the queue size and equal to its
//! predecessor's `next`, no indirect descriptor, every buffer inside RAM
//! without overflow, readable descriptors before writable ones.
#![no_main]

mod common;

use common::Input;
use janus_virtio::mock::FakeMemory;
use janus_virtio::{GuestMemory, QueueLayout, parse_chain, walk_chain};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut input = Input { bytes: data };
    let size = 1u32 << (input.byte() % 9);
    let head = input.u16();
    let mut memory = FakeMemory::new(0, input.bytes.len() as u64);
    memory.store(0, input.bytes);
    let Ok(layout) = QueueLayout::new(size, 256, 0, 0, 0) else {
        panic!("a power of two up to 256 is a valid size");
    };

    let parsed = parse_chain(&memory, &layout, head);
    let walked = walk_chain(&memory, &layout, head);
    match (&parsed, &walked) {
        (Ok(parsed), Ok(walked)) => {
            assert_eq!(parsed, walked);
            assert_eq!(walked.check(&memory), Ok(()));
        }
        (Err(error), Err(walk_error)) => assert_eq!(error, walk_error),
        (Err(error), Ok(walked)) => {
            assert!(!error.is_structural());
            assert_eq!(walked.check(&memory), Err(*error));
        }
        (Ok(_), Err(_)) => panic!("parse accepted what walk refused"),
    }
    let _ = parsed.as_ref().map_err(|error| error.to_string());

    let Ok(chain) = parsed else { return };
    let descriptors = chain.descriptors();
    assert!(!descriptors.is_empty() && descriptors.len() <= size as usize);
    assert_eq!(descriptors[0].index, head);
    let mut writable = false;
    for (position, descriptor) in descriptors.iter().enumerate() {
        assert!(u32::from(descriptor.index) < size);
        let mut raw = [0u8; 16];
        memory.read(16 * u64::from(descriptor.index), &mut raw).expect("descriptor inside RAM");
        assert_eq!(u64::from_le_bytes(raw[..8].try_into().unwrap()), descriptor.address);
        assert_eq!(u32::from_le_bytes(raw[8..12].try_into().unwrap()), descriptor.length);
        let flags = u16::from_le_bytes(raw[12..14].try_into().unwrap());
        assert_eq!(flags, descriptor.flags);
        let last = position + 1 == descriptors.len();
        assert_eq!(flags & 1 == 0, last);
        if !last {
            assert_eq!(descriptors[position + 1].index, u16::from_le_bytes([raw[14], raw[15]]));
        }
        assert!(!descriptor.is_indirect());
        let end = descriptor.end().expect("no overflow");
        if descriptor.length > 0 {
            assert!(end <= memory.size);
        }
        assert!(!writable || descriptor.is_writable());
        writable |= descriptor.is_writable();
    }
    assert_eq!(chain.readable().len() + chain.writable().len(), descriptors.len());
});
