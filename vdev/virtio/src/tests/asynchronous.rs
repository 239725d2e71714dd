//! Asynchronous completion: a backend that starts a direct transfer and
//! finishes it later (as a DMA disk with an interrupt does). The chain stays
//! in flight until `VirtioBlock::complete`; completions may come in any
//! order; a full backend leaves chains in the available ring; a reset makes
//! late completions harmless.

use super::driver::{Driver, Request};
use crate::registers::{offset, status};
use crate::{BackendError, DeviceError, ErrorKind, MAX_IN_FLIGHT, RequestTag, request_status};

const OK: u8 = request_status::OK;
const UNTOUCHED: u8 = 0xff;

/// A device whose disk takes direct transfers asynchronously, at most
/// `capacity` at a time.
fn async_driver(capacity: usize) -> Driver {
    let mut driver = Driver::ready(512, 256);
    driver.disk.direct = true;
    driver.disk.asynchronous = true;
    driver.disk.capacity = capacity;
    driver
}

fn expected_data(driver: &Driver, sector: u64, sectors: u64) -> Vec<u8> {
    (sector..sector + sectors).flat_map(|at| driver.disk.sector(at).to_vec()).collect()
}

#[test]
fn read_stays_in_flight_until_the_backend_completes_it() {
    let mut driver = async_driver(8);
    let request = driver.submit_read(4, &[4096, 512]);
    let effects = driver.notify();
    assert_eq!(effects.completed, 0);
    assert!(!effects.interrupt_changed);
    assert!(driver.take_used().is_empty(), "nothing is used before completion");
    assert_eq!(driver.status_of(&request), UNTOUCHED);
    assert_eq!(driver.device.in_flight(), 1);
    assert_eq!(driver.disk.pending.len(), 1);
    assert!(!driver.device.interrupt_line());

    let effects = driver.finish(0).unwrap();
    assert_eq!(effects.completed, 1);
    assert!(effects.interrupt_changed);
    assert!(driver.device.interrupt_line());
    assert_eq!(driver.take_used(), vec![(u32::from(request.head), 4096 + 512 + 1)]);
    assert_eq!(driver.status_of(&request), OK);
    assert_eq!(driver.data_of(&request), expected_data(&driver, 4, 9));
    assert_eq!(driver.device.in_flight(), 0);
    assert_eq!(driver.device.statistics().completed, 1);
    assert_eq!(driver.device.statistics().bytes_read, 4608);
}

#[test]
fn write_reaches_the_disk_only_when_completed() {
    let mut driver = async_driver(8);
    let data = vec![0x5au8; 1024];
    let request = driver.submit_write(10, &[&data]);
    let before = expected_data(&driver, 10, 2);
    driver.notify();
    assert_eq!(expected_data(&driver, 10, 2), before);
    assert_eq!(driver.status_of(&request), UNTOUCHED);
    driver.finish(0).unwrap();
    assert_eq!(driver.take_used(), vec![(u32::from(request.head), 1)]);
    assert_eq!(driver.status_of(&request), OK);
    assert_eq!(expected_data(&driver, 10, 2), data);
}

#[test]
fn completions_in_any_order_return_the_right_chains() {
    let mut driver = async_driver(8);
    let requests: Vec<Request> = (0..3).map(|i| driver.submit_read(8 * i, &[512])).collect();
    driver.notify();
    assert_eq!(driver.device.in_flight(), 3);
    // The last first, then the first, then the middle one.
    for (position, index) in [(2, 2), (0, 0), (0, 1)] {
        driver.finish(position).unwrap();
        let request = &requests[index];
        assert_eq!(driver.take_used(), vec![(u32::from(request.head), 513)]);
        assert_eq!(driver.status_of(request), OK);
        assert_eq!(driver.data_of(request), expected_data(&driver, 8 * index as u64, 1));
    }
    assert_eq!(driver.device.in_flight(), 0);
}

#[test]
fn failed_transfer_completes_with_an_io_error() {
    let mut driver = async_driver(8);
    driver.disk.fail_reads = true;
    let request = driver.submit_read(3, &[512]);
    driver.notify();
    assert_eq!(driver.status_of(&request), UNTOUCHED);
    driver.finish(0).unwrap();
    assert_eq!(driver.take_used(), vec![(u32::from(request.head), 1)]);
    assert_eq!(driver.status_of(&request), request_status::IO_ERROR);
    assert_eq!(driver.device.statistics().failed, 1);
    assert_eq!(driver.device.take_last_error(), Some(DeviceError::Backend { error: BackendError::Io, sector: 3 }));
    assert!(!driver.needs_reset());
}

#[test]
fn full_backend_leaves_the_chain_available_until_a_completion() {
    let mut driver = async_driver(1);
    let first = driver.submit_read(0, &[512]);
    let second = driver.submit_read(1, &[512]);
    driver.notify();
    assert_eq!(driver.device.in_flight(), 1);
    assert_eq!(driver.disk.calls.len(), 1, "the second chain waits in the ring");
    assert_eq!(driver.status_of(&second), UNTOUCHED);
    // The first completion makes room: the second is served at once.
    let effects = driver.finish(0).unwrap();
    assert_eq!(effects.completed, 1);
    assert_eq!(driver.take_used(), vec![(u32::from(first.head), 513)]);
    assert_eq!(driver.device.in_flight(), 1);
    assert_eq!(driver.disk.calls.len(), 2);
    driver.finish(0).unwrap();
    assert_eq!(driver.take_used(), vec![(u32::from(second.head), 513)]);
    assert_eq!(driver.data_of(&second), expected_data(&driver, 1, 1));
    assert_eq!(driver.device.statistics().total_errors(), 0);
    // Turned away once, served once: two reads, not three.
    assert_eq!(driver.device.statistics().reads, 2);
}

#[test]
fn full_backend_with_nothing_in_flight_fails_the_request() {
    // No completion would ever come: waiting would hang the guest's disk.
    let mut driver = async_driver(0);
    let request = driver.submit_read(0, &[512]);
    let (status, length) = driver.run(&request);
    assert_eq!(status, request_status::IO_ERROR);
    assert_eq!(length, 1);
    assert_eq!(driver.device.statistics().errors(ErrorKind::BackendBusy), 1);
    assert_eq!(driver.device.in_flight(), 0);
}

#[test]
fn in_flight_table_full_waits_for_a_completion() {
    let mut driver = async_driver(usize::MAX);
    let requests: Vec<Request> = (0..=MAX_IN_FLIGHT as u64).map(|i| driver.submit_read(i, &[512])).collect();
    driver.notify();
    assert_eq!(driver.device.in_flight(), MAX_IN_FLIGHT);
    assert_eq!(driver.disk.pending.len(), MAX_IN_FLIGHT);
    driver.finish(0).unwrap();
    assert_eq!(driver.device.in_flight(), MAX_IN_FLIGHT, "the waiting chain took the slot");
    while driver.finish(0).is_some() {}
    let used = driver.take_used();
    assert_eq!(used.len(), requests.len());
    for request in &requests {
        assert_eq!(driver.status_of(request), OK);
    }
    // Tags stayed unique while in flight (the fake asserts it).
}

#[test]
fn completion_after_a_reset_is_dropped() {
    let mut driver = async_driver(8);
    let old = driver.submit_read(0, &[512]);
    driver.notify();
    let tag = driver.disk.pending[0].tag;
    assert!(driver.device.is_current(tag));
    driver.reset_and_initialize();
    assert!(!driver.device.is_current(tag), "a reset forgets the request");
    assert_eq!(driver.device.in_flight(), 0);
    // The driver reuses the same descriptors and status address.
    let new = driver.submit_read(7, &[512]);
    assert_eq!(new.head, old.head);
    let effects = driver.finish(0).unwrap();
    assert_eq!(effects.completed, 0);
    assert!(driver.take_used().is_empty());
    assert_eq!(driver.device.statistics().stale_completions, 1);
    assert_eq!(driver.status_of(&new), UNTOUCHED);
    // The new request is served normally.
    driver.notify();
    driver.finish(0).unwrap();
    assert_eq!(driver.take_used(), vec![(u32::from(new.head), 513)]);
    assert_eq!(driver.data_of(&new), expected_data(&driver, 7, 1));
}

#[test]
fn completion_after_the_queue_is_disabled_is_dropped() {
    let mut driver = async_driver(8);
    driver.submit_read(0, &[512]);
    driver.notify();
    driver.write(offset::QUEUE_READY, 0);
    assert_eq!(driver.device.in_flight(), 0);
    let effects = driver.finish(0).unwrap();
    assert_eq!(effects, crate::Effects::default());
    assert_eq!(driver.device.statistics().stale_completions, 1);
}

#[test]
fn unknown_or_repeated_tags_change_nothing() {
    let mut driver = async_driver(8);
    let request = driver.submit_read(0, &[512]);
    driver.notify();
    let tag = driver.disk.pending[0].tag;
    for bogus in [RequestTag::from_bits(tag.to_bits() ^ 1), RequestTag::from_bits(tag.to_bits() ^ (1 << 20))] {
        let effects = driver.device.complete(bogus, Ok(()), &mut driver.memory, &mut driver.disk, &mut driver.scratch);
        assert_eq!(effects, crate::Effects::default());
    }
    assert_eq!(driver.device.in_flight(), 1);
    assert!(driver.device.is_current(tag));
    driver.finish(0).unwrap();
    assert!(!driver.device.is_current(tag), "completed");
    let effects = driver.device.complete(tag, Ok(()), &mut driver.memory, &mut driver.disk, &mut driver.scratch);
    assert_eq!(effects, crate::Effects::default());
    assert_eq!(driver.take_used(), vec![(u32::from(request.head), 513)]);
    assert_eq!(driver.device.statistics().stale_completions, 3);
}

#[test]
fn suppressed_interrupt_is_not_raised_on_completion() {
    let mut driver = async_driver(8);
    driver.set_available_flags(1);
    driver.submit_read(0, &[512]);
    driver.notify();
    let effects = driver.finish(0).unwrap();
    assert_eq!(effects.completed, 1);
    assert!(!driver.device.interrupt_line());
}

#[test]
fn status_byte_gone_at_completion_needs_a_reset() {
    let mut driver = async_driver(8);
    let request = driver.submit_read(0, &[512]);
    driver.notify();
    // The guest's RAM map cannot change under Janus, but the model must not
    // trust that: the status byte becomes unwritable in flight.
    driver.memory.holes.push((request.status, request.status + 1));
    let effects = driver.finish(0).unwrap();
    assert!(effects.needs_reset);
    assert!(driver.needs_reset());
    assert!(driver.take_used().is_empty());
    assert_eq!(driver.device.statistics().errors(ErrorKind::StatusUnwritable), 1);
    assert_eq!(driver.read(offset::STATUS) & status::DEVICE_NEEDS_RESET, status::DEVICE_NEEDS_RESET);
}
