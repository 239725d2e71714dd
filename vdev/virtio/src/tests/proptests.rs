//! Property tests: arbitrary descriptor tables and rings never panic and
//! every accepted chain is sound; arbitrary register traffic never panics
//! or touches anything outside guest RAM or the disk; random well-formed
//! request sequences leave the disk as a reference model says.

use proptest::prelude::*;

use super::driver::{AVAILABLE, BASE, DESCRIPTORS, Driver, RAM, USED};
use crate::mock::{DiskCall, FakeMemory, descriptor_bytes, header_bytes};
use crate::registers::offset;
use crate::{GuestMemory, QueueLayout, parse_chain, request_status, request_type};

/// A raw descriptor: (address, length, flags, next), biased towards values
/// near guest RAM and near the queue size.
fn raw_descriptor() -> impl Strategy<Value = (u64, u32, u16, u16)> {
    let address = prop_oneof![
        4 => (0u64..RAM).prop_map(|offset| BASE + offset),
        1 => any::<u64>(),
        1 => (0u64..0x1000).prop_map(|offset| BASE + RAM - offset),
        1 => (0u64..0x1000).prop_map(|offset| u64::MAX - offset),
    ];
    let length = prop_oneof![4 => 0u32..0x2000, 1 => any::<u32>()];
    let flags = prop_oneof![4 => 0u16..8, 1 => any::<u16>()];
    let next = prop_oneof![4 => 0u16..64, 1 => any::<u16>()];
    (address, length, flags, next)
}

/// A queue size (a power of two up to 256) and a descriptor table for it.
fn queue() -> impl Strategy<Value = (u16, Vec<(u64, u32, u16, u16)>)> {
    (0u32..=8).prop_flat_map(|size_log| {
        let size = 1u16 << size_log;
        (Just(size), proptest::collection::vec(raw_descriptor(), usize::from(size)))
    })
}

fn store_descriptor(memory: &mut FakeMemory, index: u16, (address, length, flags, next): (u64, u32, u16, u16)) {
    memory.store(DESCRIPTORS + 16 * u64::from(index), &descriptor_bytes(address, length, flags, next));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn accepted_chains_are_sound(
        (size, table) in queue(),
        head in prop_oneof![4 => 0u16..64, 1 => any::<u16>()],
    ) {
        let mut memory = FakeMemory::new(BASE, RAM);
        for (index, descriptor) in table.iter().take(usize::from(size)).enumerate() {
            store_descriptor(&mut memory, index as u16, *descriptor);
        }
        let layout = QueueLayout::new(u32::from(size), 256, DESCRIPTORS, AVAILABLE, USED).unwrap();
        if let Ok(chain) = parse_chain(&memory, &layout, head) {
            let descriptors = chain.descriptors();
            prop_assert!(!descriptors.is_empty() && descriptors.len() <= usize::from(size));
            prop_assert_eq!(descriptors[0].index, head);
            let mut writable = false;
            for (position, descriptor) in descriptors.iter().enumerate() {
                prop_assert!(descriptor.index < size);
                let (address, length, flags, next) = table[usize::from(descriptor.index)];
                prop_assert_eq!((descriptor.address, descriptor.length, descriptor.flags), (address, length, flags));
                let last = position + 1 == descriptors.len();
                prop_assert_eq!(flags & 1 == 0, last);
                if !last {
                    prop_assert_eq!(descriptors[position + 1].index, next);
                }
                prop_assert!(flags & 4 == 0);
                let end = address.checked_add(u64::from(length));
                prop_assert!(end.is_some());
                if length > 0 {
                    prop_assert!(address >= BASE && end.unwrap() <= BASE + RAM);
                }
                prop_assert!(!writable || descriptor.is_writable(), "readable after writable");
                writable |= descriptor.is_writable();
            }
            prop_assert_eq!(chain.readable().len() + chain.writable().len(), descriptors.len());
        }
    }

    #[test]
    fn arbitrary_rings_never_panic_or_escape(
        (size, table) in queue(),
        ring in proptest::collection::vec(prop_oneof![4 => 0u16..64, 1 => any::<u16>()], 256),
        available_index in prop_oneof![3 => 0u16..300, 1 => any::<u16>()],
        available_flags in 0u16..4,
        headers in proptest::collection::vec((0u32..10, prop_oneof![3 => 0u64..80, 1 => any::<u64>()]), 16),
        scratch in prop_oneof![3 => Just(65536usize), 1 => 0usize..2048],
        read_only in any::<bool>(),
        direct in any::<bool>(),
    ) {
        let mut driver = Driver::new(64);
        driver.disk.read_only = read_only;
        driver.disk.direct = direct;
        driver.scratch = vec![0; scratch];
        driver.initialize(size);
        for (index, descriptor) in table.iter().take(usize::from(size)).enumerate() {
            store_descriptor(&mut driver.memory, index as u16, *descriptor);
        }
        // Plausible request headers where some buffers point.
        for (position, &(kind, sector)) in headers.iter().enumerate() {
            let Some(&(address, _, _, _)) = table.get(position) else { break };
            if address >= BASE && address.checked_add(16).is_some_and(|end| end <= BASE + RAM) {
                driver.memory.store(address, &header_bytes(kind, sector));
            }
        }
        for (slot, head) in ring.iter().take(usize::from(size)).enumerate() {
            driver.memory.store(AVAILABLE + 4 + 2 * slot as u64, &head.to_le_bytes());
        }
        driver.set_available_flags(available_flags);
        driver.set_available_index(available_index);
        let before = driver.disk.data.len();
        let effects = driver.notify();
        let effects_again = driver.notify();
        prop_assert!(effects.completed <= size && effects_again.completed <= size);
        prop_assert_eq!(driver.memory.refused_writes.get(), 0, "a write outside guest RAM was attempted");
        prop_assert_eq!(driver.disk.data.len(), before);
        let status = driver.read(offset::STATUS);
        prop_assert_eq!(effects.needs_reset, status & 0x40 != 0);
        prop_assert_eq!(driver.device.interrupt_line(), driver.read(offset::INTERRUPT_STATUS) != 0);
        // Whatever happened, a reset brings the device back.
        driver.write(offset::STATUS, 0);
        driver.initialize(8);
        let request = driver.submit_read(0, &[512]);
        let (status, _) = driver.run(&request);
        prop_assert_eq!(status, if scratch >= 512 || direct { request_status::OK } else { request_status::IO_ERROR });
    }
}

/// One well-formed request for the reference model.
#[derive(Clone, Debug)]
enum Operation {
    /// Read `segments` sector counts at `sector`.
    Read {
        sector: u64,
        segments: Vec<u8>,
    },
    /// Write `segments` sector counts of bytes derived from `seed`.
    Write {
        sector: u64,
        segments: Vec<u8>,
        seed: u8,
    },
    Flush,
}

fn operation() -> impl Strategy<Value = Operation> {
    let sector = prop_oneof![8 => 0u64..120, 1 => 120u64..140];
    let segments = proptest::collection::vec(1u8..=8, 1..=4);
    prop_oneof![
        4 => (sector.clone(), segments.clone()).prop_map(|(sector, segments)| Operation::Read { sector, segments }),
        4 => (sector, segments, any::<u8>()).prop_map(|(sector, segments, seed)| Operation::Write { sector, segments, seed }),
        1 => Just(Operation::Flush),
    ]
}

const CAPACITY: u64 = 128;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn requests_match_the_reference_model(
        batches in proptest::collection::vec(proptest::collection::vec(operation(), 1..=8), 1..=12),
        scratch_sectors in 1usize..=8,
        direct in any::<bool>(),
    ) {
        let mut driver = Driver::ready(CAPACITY, 64);
        driver.disk.direct = direct;
        driver.scratch = vec![0; scratch_sectors * 512 + 100];
        let mut model = driver.disk.data.clone();
        for batch in batches {
            driver.reset_heap();
            let mut submitted = Vec::new();
            for operation in &batch {
                let request = match operation {
                    Operation::Read { sector, segments } => {
                        let lengths: Vec<u32> = segments.iter().map(|&count| u32::from(count) * 512).collect();
                        driver.submit_read(*sector, &lengths)
                    }
                    Operation::Write { sector, segments, seed } => {
                        let data: Vec<Vec<u8>> = segments
                            .iter()
                            .enumerate()
                            .map(|(position, &count)| {
                                (0..usize::from(count) * 512)
                                    .map(|i| (i as u8) ^ seed.wrapping_add(position as u8))
                                    .collect()
                            })
                            .collect();
                        let slices: Vec<&[u8]> = data.iter().map(Vec::as_slice).collect();
                        driver.submit_write(*sector, &slices)
                    }
                    Operation::Flush => driver.submit(request_type::FLUSH, 0, &[]),
                };
                // The model: apply in submission order.
                submitted.push((operation.clone(), request, model.clone()));
                if let Operation::Write { sector, segments, .. } = operation {
                    let bytes: usize = segments.iter().map(|&count| usize::from(count) * 512).sum();
                    if sector * 512 + bytes as u64 <= CAPACITY * 512 {
                        let data = driver.data_of(&submitted.last().unwrap().1);
                        let start = *sector as usize * 512;
                        model[start..start + bytes].copy_from_slice(&data);
                    }
                }
            }
            let effects = driver.notify();
            prop_assert_eq!(usize::from(effects.completed), batch.len());
            let used = driver.take_used();
            prop_assert_eq!(used.len(), batch.len());
            for ((operation, request, before), (head, length)) in submitted.iter().zip(&used) {
                prop_assert_eq!(*head, u32::from(request.head));
                let status = driver.status_of(request);
                match operation {
                    Operation::Read { sector, segments } => {
                        let bytes: usize = segments.iter().map(|&count| usize::from(count) * 512).sum();
                        if sector * 512 + bytes as u64 <= CAPACITY * 512 {
                            prop_assert_eq!(status, request_status::OK);
                            prop_assert_eq!(*length as usize, bytes + 1);
                            let start = *sector as usize * 512;
                            prop_assert_eq!(driver.data_of(request), before[start..start + bytes].to_vec());
                        } else {
                            prop_assert_eq!((status, *length), (request_status::IO_ERROR, 1));
                        }
                    }
                    Operation::Write { sector, segments, .. } => {
                        let bytes: u64 = segments.iter().map(|&count| u64::from(count) * 512).sum();
                        let expected = if sector * 512 + bytes <= CAPACITY * 512 {
                            request_status::OK
                        } else {
                            request_status::IO_ERROR
                        };
                        prop_assert_eq!((status, *length), (expected, 1));
                    }
                    Operation::Flush => prop_assert_eq!((status, *length), (request_status::OK, 1)),
                }
            }
            prop_assert!(driver.disk.data == model, "disk differs from the model");
            // A direct backend is never asked to copy, a copying one never
            // gets segments.
            let copied = driver.disk.calls.iter().filter(|call| matches!(call, DiskCall::Read { .. } | DiskCall::Write { .. })).count();
            let moved = driver.disk.calls.iter().filter(|call| matches!(call, DiskCall::ReadDirect { .. } | DiskCall::WriteDirect { .. })).count();
            prop_assert_eq!(if direct { copied } else { moved }, 0);
            driver.disk.calls.clear();
        }
        prop_assert!(!driver.needs_reset());
        prop_assert!(driver.memory.contains(BASE, RAM));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// A backend that finishes direct transfers later, in any order, and
    /// is full now and then: every request completes exactly once, with
    /// the right status and length; a read returns what the disk held when
    /// it finished; no more than the table holds is ever in flight.
    #[test]
    fn asynchronous_completions_in_any_order(
        batches in proptest::collection::vec(proptest::collection::vec(operation(), 1..=12), 1..=6),
        capacity in 1usize..=6,
        picks in proptest::collection::vec(any::<usize>(), 64),
    ) {
        // A whole batch is on the queue at once: up to 12 chains of up to 6
        // descriptors (header, 4 buffers, status) must fit the table, or the
        // test driver's wrapping allocator overwrites a chain still in
        // flight (found by a random seed: 65 descriptors in a 64 queue).
        let mut driver = Driver::ready(CAPACITY, 128);
        driver.disk.direct = true;
        driver.disk.asynchronous = true;
        driver.disk.capacity = capacity;
        let mut picks = picks.into_iter().cycle();
        for batch in batches {
            driver.reset_heap();
            let descriptors: usize = batch
                .iter()
                .map(|operation| match operation {
                    Operation::Read { segments, .. } | Operation::Write { segments, .. } => segments.len() + 2,
                    Operation::Flush => 2,
                })
                .sum();
            prop_assert!(descriptors <= 128, "the batch does not fit the queue");
            let requests: Vec<_> = batch
                .iter()
                .map(|operation| match operation {
                    Operation::Read { sector, segments } => {
                        let lengths: Vec<u32> = segments.iter().map(|&count| u32::from(count) * 512).collect();
                        driver.submit_read(*sector, &lengths)
                    }
                    Operation::Write { sector, segments, seed } => {
                        let data: Vec<Vec<u8>> = segments.iter().map(|&count| vec![*seed; usize::from(count) * 512]).collect();
                        let slices: Vec<&[u8]> = data.iter().map(Vec::as_slice).collect();
                        driver.submit_write(*sector, &slices)
                    }
                    Operation::Flush => driver.submit(request_type::FLUSH, 0, &[]),
                })
                .collect();
            let mut used = Vec::new();
            driver.notify();
            used.extend(driver.take_used());
            // Finish pending transfers one at a time, in a random order,
            // checking a read's data against the disk as it finishes.
            while !driver.disk.pending.is_empty() {
                prop_assert!(driver.device.in_flight() <= capacity.min(crate::MAX_IN_FLIGHT));
                let position = picks.next().unwrap_or(0) % driver.disk.pending.len();
                let pending = driver.disk.pending[position].clone();
                driver.finish(position);
                let fresh = driver.take_used();
                prop_assert!(!fresh.is_empty());
                if !pending.write {
                    let start = pending.sector as usize * 512;
                    let bytes: usize = pending.segments.iter().map(|segment| segment.length as usize).sum();
                    let mut read = Vec::new();
                    for segment in &pending.segments {
                        read.extend(driver.memory.bytes(segment.address, segment.length as usize));
                    }
                    prop_assert_eq!(read, driver.disk.data[start..start + bytes].to_vec());
                }
                used.extend(fresh);
            }
            prop_assert_eq!(driver.device.in_flight(), 0);
            // Every chain came back exactly once, with its status.
            prop_assert_eq!(used.len(), requests.len());
            for (operation, request) in batch.iter().zip(&requests) {
                let returned: Vec<_> = used.iter().filter(|(head, _)| *head == u32::from(request.head)).collect();
                prop_assert_eq!(returned.len(), 1);
                let length = returned[0].1;
                let status = driver.status_of(request);
                match operation {
                    Operation::Read { sector, segments } => {
                        let bytes: u64 = segments.iter().map(|&count| u64::from(count) * 512).sum();
                        if sector * 512 + bytes <= CAPACITY * 512 {
                            prop_assert_eq!((status, u64::from(length)), (request_status::OK, bytes + 1));
                        } else {
                            prop_assert_eq!((status, length), (request_status::IO_ERROR, 1));
                        }
                    }
                    Operation::Write { sector, segments, seed } => {
                        let bytes: u64 = segments.iter().map(|&count| u64::from(count) * 512).sum();
                        if sector * 512 + bytes <= CAPACITY * 512 {
                            prop_assert_eq!((status, length), (request_status::OK, 1));
                            // Written data is on the disk unless a later
                            // write of this batch covered it.
                            let start = *sector as usize * 512;
                            let overwritten = batch.iter().filter(|other| matches!(other, Operation::Write { .. })).count() > 1;
                            if !overwritten {
                                prop_assert!(driver.disk.data[start..start + bytes as usize].iter().all(|byte| byte == seed));
                            }
                        } else {
                            prop_assert_eq!((status, length), (request_status::IO_ERROR, 1));
                        }
                    }
                    Operation::Flush => prop_assert_eq!((status, length), (request_status::OK, 1)),
                }
            }
            prop_assert_eq!(driver.device.statistics().errors(crate::ErrorKind::BackendBusy), 0);
        }
        prop_assert!(!driver.needs_reset());
    }
}
