//! The driver side of a split virtqueue against fake rings: chains are
//! written linked and published, a full queue or a bad request changes
//! nothing, the device's answers are checked, and random traffic never
//! hands one descriptor to two chains.

use proptest::prelude::*;

use crate::Segment;
use crate::driver_queue::{AddError, Buffer, ChainSlot, DESCRIPTOR_NEXT, DESCRIPTOR_WRITE, DRIVER_QUEUE_SIZE, DriverQueue, RingMemory, Used};

/// A descriptor as written: address, length, flags, next.
type Written = (u64, u32, u16, u16);

/// The rings in plain arrays.
#[derive(Clone, Debug, PartialEq)]
struct FakeRings {
    descriptors: Vec<Written>,
    available: Vec<u16>,
    available_index: u16,
    used: Vec<(u32, u32)>,
    used_index: u16,
    used_flags: u16,
}

impl FakeRings {
    fn new() -> Self {
        Self {
            descriptors: vec![(0, 0, 0, 0); DRIVER_QUEUE_SIZE],
            available: vec![0; DRIVER_QUEUE_SIZE],
            available_index: 0,
            used: vec![(0, 0); DRIVER_QUEUE_SIZE],
            used_index: 0,
            used_flags: 0,
        }
    }

    /// The device returns the chain at `head` having written `length`.
    fn complete(&mut self, head: u32, length: u32) {
        self.used[usize::from(self.used_index) % DRIVER_QUEUE_SIZE] = (head, length);
        self.used_index = self.used_index.wrapping_add(1);
    }

    /// Follows a published chain from `head`: its buffers.
    fn walk(&self, head: u16) -> Vec<Written> {
        let mut chain = Vec::new();
        let mut index = head;
        loop {
            let descriptor = self.descriptors[usize::from(index)];
            chain.push(descriptor);
            assert!(chain.len() <= DRIVER_QUEUE_SIZE, "loop in the chain");
            if descriptor.2 & DESCRIPTOR_NEXT == 0 {
                return chain;
            }
            index = descriptor.3;
        }
    }
}

impl RingMemory for FakeRings {
    fn write_descriptor(&mut self, index: u16, address: u64, length: u32, flags: u16, next: u16) {
        self.descriptors[usize::from(index)] = (address, length, flags, next);
    }
    fn write_available_entry(&mut self, slot: u16, head: u16) {
        self.available[usize::from(slot)] = head;
    }
    fn write_available_index(&mut self, index: u16) {
        self.available_index = index;
    }
    fn read_used_flags(&self) -> u16 {
        self.used_flags
    }
    fn read_used_index(&self) -> u16 {
        self.used_index
    }
    fn read_used_element(&self, slot: u16) -> (u32, u32) {
        self.used[usize::from(slot)]
    }
    fn fence(&self) {}
}

const HEADER: Buffer = Buffer { address: 0x1000, length: 16, device_writes: false };
const STATUS: Buffer = Buffer { address: 0x2000, length: 1, device_writes: true };

fn segments(count: usize) -> Vec<Segment> {
    (0..count as u64).map(|i| Segment { address: 0x10_0000 + i * 0x1000, length: 4096 }).collect()
}

#[test]
fn a_request_is_one_linked_published_chain() {
    let (mut queue, mut rings) = (DriverQueue::new(), FakeRings::new());
    let data = segments(2);
    let chain = queue.add(&mut rings, HEADER, &data, true, STATUS).unwrap();
    assert_eq!(chain, ChainSlot { head: 0, tail: 3, count: 4 });
    assert_eq!((rings.available_index, rings.available[0]), (1, 0));
    let walked = rings.walk(chain.head);
    assert_eq!(
        walked.iter().map(|&(address, length, flags, _)| (address, length, flags)).collect::<Vec<_>>(),
        vec![
            (0x1000, 16, DESCRIPTOR_NEXT),
            (0x10_0000, 4096, DESCRIPTOR_NEXT | DESCRIPTOR_WRITE),
            (0x10_1000, 4096, DESCRIPTOR_NEXT | DESCRIPTOR_WRITE),
            (0x2000, 1, DESCRIPTOR_WRITE),
        ]
    );
    assert_eq!(queue.free(), DRIVER_QUEUE_SIZE as u16 - 4);
    // A write's data is device-read.
    let chain = queue.add(&mut rings, HEADER, &data, false, STATUS).unwrap();
    assert_eq!(rings.walk(chain.head)[1].2, DESCRIPTOR_NEXT);
    assert_eq!((rings.available_index, rings.available[1]), (2, chain.head));
}

#[test]
fn bad_or_oversized_requests_change_nothing() {
    let (mut queue, mut rings) = (DriverQueue::new(), FakeRings::new());
    let before = (queue.free(), rings.clone());
    let empty = [Segment { address: 0x1000, length: 0 }];
    assert_eq!(queue.add(&mut rings, HEADER, &empty, true, STATUS), Err(AddError::EmptyBuffer));
    assert_eq!(queue.add(&mut rings, HEADER, &segments(DRIVER_QUEUE_SIZE - 1), true, STATUS), Err(AddError::TooLong));
    assert_eq!((queue.free(), rings.clone()), before);
    // The largest chain takes every descriptor; the next one must wait.
    let all = queue.add(&mut rings, HEADER, &segments(DRIVER_QUEUE_SIZE - 2), true, STATUS).unwrap();
    assert_eq!(all.count, DRIVER_QUEUE_SIZE as u16);
    let published = rings.clone();
    assert_eq!(queue.add(&mut rings, HEADER, &[], true, STATUS), Err(AddError::Full));
    assert_eq!(rings, published);
    // Once it is back, there is room again.
    rings.complete(u32::from(all.head), 0);
    assert_eq!(queue.next_used(&rings), Some(Used::Chain { head: all.head, length: 0 }));
    queue.recycle(all);
    assert_eq!(queue.free(), DRIVER_QUEUE_SIZE as u16);
    assert!(queue.add(&mut rings, HEADER, &[], true, STATUS).is_ok());
}

#[test]
fn the_device_s_answers_are_checked() {
    let (mut queue, mut rings) = (DriverQueue::new(), FakeRings::new());
    assert_eq!(queue.next_used(&rings), None);
    let chain = queue.add(&mut rings, HEADER, &segments(1), true, STATUS).unwrap();
    // An id that is no chain's head, one beyond 16 bits, then the chain
    // twice: only the first return of the real head counts.
    for id in [2, 0x1_0000, u32::from(chain.head), u32::from(chain.head)] {
        rings.complete(id, 4097);
    }
    assert_eq!(queue.next_used(&rings), Some(Used::Bogus { id: 2 }));
    assert_eq!(queue.next_used(&rings), Some(Used::Bogus { id: 0x1_0000 }));
    assert_eq!(queue.next_used(&rings), Some(Used::Chain { head: chain.head, length: 4097 }));
    assert_eq!(queue.next_used(&rings), Some(Used::Bogus { id: u32::from(chain.head) }));
    assert_eq!(queue.next_used(&rings), None);
    // Recycling a chain that is still in flight, or twice, is ignored.
    let live = queue.add(&mut rings, HEADER, &[], true, STATUS).unwrap();
    let free = queue.free();
    queue.recycle(live);
    assert_eq!(queue.free(), free);
    queue.recycle(chain);
    queue.recycle(chain);
    assert_eq!(queue.free(), free + chain.count);
}

#[test]
fn notifications_follow_the_device_s_flag() {
    let (queue, mut rings) = (DriverQueue::new(), FakeRings::new());
    assert!(queue.should_notify(&rings));
    rings.used_flags = 1;
    assert!(!queue.should_notify(&rings));
}

proptest! {
    /// Random requests and completions in any order: no descriptor is ever
    /// in two chains, every chain walks exactly as added, free descriptors
    /// and chains in flight always add up to the queue size.
    #[test]
    fn random_traffic_never_shares_a_descriptor(
        steps in proptest::collection::vec((any::<bool>(), 0usize..40, any::<usize>()), 1..300),
    ) {
        let (mut queue, mut rings) = (DriverQueue::new(), FakeRings::new());
        let mut live: Vec<(ChainSlot, Vec<Written>)> = Vec::new();
        for (add, size, pick) in steps {
            if add || live.is_empty() {
                let data = segments(size);
                match queue.add(&mut rings, HEADER, &data, pick % 2 == 0, STATUS) {
                    Ok(chain) => {
                        prop_assert_eq!(usize::from(chain.count), size + 2);
                        let walked = rings.walk(chain.head);
                        prop_assert_eq!(walked.len(), size + 2);
                        live.push((chain, walked));
                    }
                    Err(error) => prop_assert_eq!(error, AddError::Full),
                }
            } else {
                let (chain, walked) = live.remove(pick % live.len());
                // Chains in flight were not overwritten meanwhile.
                prop_assert_eq!(rings.walk(chain.head), walked);
                rings.complete(u32::from(chain.head), 0);
                prop_assert_eq!(queue.next_used(&rings), Some(Used::Chain { head: chain.head, length: 0 }));
                queue.recycle(chain);
            }
            let in_flight: usize = live.iter().map(|(chain, _)| usize::from(chain.count)).sum();
            prop_assert_eq!(usize::from(queue.free()) + in_flight, DRIVER_QUEUE_SIZE);
            for (chain, walked) in &live {
                prop_assert_eq!(&rings.walk(chain.head), walked);
            }
        }
    }
}
