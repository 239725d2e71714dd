//! Block requests end to end through the test driver: the happy paths, one
//! test per request error (completed with an error status) and one per
//! queue error (the device needs a reset).

use super::driver::{AVAILABLE, BASE, Buffer, DESCRIPTORS, Driver, INDIRECT, NEXT, RAM, Request, SERIAL, USED, WRITE};
use crate::mock::DiskCall;
use crate::registers::{interrupt, offset, status};
use crate::{BackendError, ChainError, DeviceError, ErrorKind, RingPart, Segment, request_status, request_type};

const IO_ERROR: u8 = request_status::IO_ERROR;

/// Runs `request`, which must fail with an I/O error of `kind` and leave
/// the device working.
fn failed(driver: &mut Driver, request: &Request, kind: ErrorKind) -> DeviceError {
    let (status, length) = driver.run(request);
    assert_eq!(status, IO_ERROR);
    assert_eq!(length, 1, "only the status byte was written");
    assert_eq!(driver.device.statistics().errors(kind), 1);
    assert_eq!(driver.device.statistics().failed, 1);
    assert!(!driver.needs_reset());
    assert!(driver.device.interrupt_line());
    let error = driver.device.take_last_error().unwrap();
    assert_eq!(error.kind(), kind);
    error
}

/// Notifies; the device must stop with an error of `kind`, completing
/// nothing.
fn broken(driver: &mut Driver, kind: ErrorKind) -> DeviceError {
    let line = driver.device.interrupt_line();
    let effects = driver.notify();
    assert!(effects.needs_reset);
    assert_eq!(effects.interrupt_changed, !line);
    assert!(driver.device.interrupt_line());
    assert_eq!(effects.completed, 0);
    assert!(driver.take_used().is_empty());
    assert!(driver.needs_reset());
    assert_ne!(driver.read(offset::INTERRUPT_STATUS) & interrupt::CONFIG_CHANGE, 0);
    assert_eq!(driver.device.statistics().errors(kind), 1);
    assert_eq!(driver.device.statistics().needs_reset, 1);
    let error = driver.device.take_last_error().unwrap();
    assert_eq!(error.kind(), kind);
    // Further notifications are ignored until a reset.
    let calls = driver.disk.calls.len();
    driver.submit_read(0, &[512]);
    assert!(!driver.notify().needs_reset);
    assert_eq!(driver.device.take_last_error(), Some(DeviceError::NotifyWhileBroken));
    assert_eq!(driver.disk.calls.len(), calls);
    error
}

fn pattern(length: usize, seed: u8) -> Vec<u8> {
    (0..length).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect()
}

#[test]
fn read_one_sector() {
    let mut driver = Driver::ready(64, 8);
    let request = driver.submit_read(3, &[512]);
    let effects = driver.notify();
    assert_eq!(effects.completed, 1);
    assert!(effects.interrupt_changed);
    assert_eq!(driver.take_used(), [(u32::from(request.head), 513)]);
    assert_eq!(driver.status_of(&request), request_status::OK);
    assert_eq!(driver.data_of(&request), driver.disk.sector(3));
    assert_eq!(driver.disk.calls, [DiskCall::Read { sector: 3, length: 512 }]);
    let statistics = driver.device.statistics();
    assert_eq!((statistics.reads, statistics.bytes_read, statistics.completed), (1, 512, 1));
    assert_eq!(statistics.total_errors(), 0);
    assert!(driver.memory.fences.get() >= 2);
}

#[test]
fn multi_segment_round_trip() {
    let mut driver = Driver::ready(256, 16);
    let segments = [pattern(4096, 1), pattern(512, 2), pattern(8192, 3)];
    let slices: Vec<&[u8]> = segments.iter().map(Vec::as_slice).collect();
    let write = driver.submit_write(10, &slices);
    assert_eq!(driver.run(&write), (request_status::OK, 1));
    let written: Vec<u8> = segments.concat();
    assert_eq!(&driver.disk.data[10 * 512..10 * 512 + written.len()], &written[..]);
    // Read back with a different segmentation.
    let read = driver.submit_read(10, &[1024, 11776]);
    assert_eq!(driver.run(&read), (request_status::OK, 12801));
    assert_eq!(driver.data_of(&read), written);
    let statistics = driver.device.statistics();
    assert_eq!((statistics.writes, statistics.bytes_written), (1, 12800));
    assert_eq!((statistics.reads, statistics.bytes_read), (1, 12800));
}

#[test]
fn several_requests_in_one_notification() {
    let mut driver = Driver::ready(64, 16);
    let data = pattern(1024, 9);
    let write = driver.submit_write(4, &[&data]);
    let read = driver.submit_read(4, &[512, 512]);
    let flush = driver.submit(request_type::FLUSH, 0, &[]);
    let effects = driver.notify();
    assert_eq!(effects.completed, 3);
    let heads: Vec<u32> = driver.take_used().iter().map(|&(head, _)| head).collect();
    assert_eq!(heads, [write.head, read.head, flush.head].map(u32::from));
    assert_eq!(driver.data_of(&read), data);
    assert_eq!(driver.disk.calls.last(), Some(&DiskCall::Flush));
}

#[test]
fn arbitrary_framing() {
    // §2.6.4: the header split over two descriptors, the data and the status
    // byte in one.
    let mut driver = Driver::ready(64, 8);
    let header = driver.header(request_type::IN, 5);
    let buffer = driver.allocate(513, 0xee);
    let head = driver.add_chain(&[Buffer::readable(header, 4), Buffer::readable(header + 4, 12), Buffer::writable(buffer, 513)]);
    driver.make_available(head);
    driver.notify();
    assert_eq!(driver.take_used(), [(u32::from(head), 513)]);
    assert_eq!(driver.memory.bytes(buffer, 512), driver.disk.sector(5));
    assert_eq!(driver.memory.bytes(buffer + 512, 1), [0]);
    // A write with header and data in one descriptor, 512 bytes split 100 +
    // 412 across descriptors.
    let data = pattern(512, 4);
    let header = driver.header(request_type::OUT, 6);
    let first = driver.allocate(116, 0);
    let mut bytes = driver.memory.bytes(header, 16);
    bytes.extend_from_slice(&data[..100]);
    driver.memory.store(first, &bytes);
    let second = driver.allocate(412, 0);
    driver.memory.store(second, &data[100..]);
    let status = driver.allocate(1, 0xff);
    let head = driver.add_chain(&[Buffer::readable(first, 116), Buffer::readable(second, 412), Buffer::writable(status, 1)]);
    driver.make_available(head);
    driver.notify();
    assert_eq!(driver.take_used(), [(u32::from(head), 1)]);
    assert_eq!(driver.memory.bytes(status, 1), [0]);
    assert_eq!(driver.disk.sector(6), &data[..]);
}

#[test]
fn data_moves_in_scratch_sized_chunks() {
    let mut driver = Driver::ready(1024, 8);
    driver.scratch = vec![0; 1000];
    let read = driver.submit_read(0, &[2048]);
    assert_eq!(driver.run(&read).0, request_status::OK);
    assert_eq!(driver.data_of(&read), &driver.disk.data[..2048]);
    assert_eq!(driver.disk.calls.len(), 4);
    assert!(driver.disk.calls.iter().all(|call| matches!(call, DiskCall::Read { length: 512, .. })));

    driver.scratch = vec![0; 64 * 1024];
    driver.disk.calls.clear();
    let data = pattern(160 * 1024, 5);
    let write = driver.submit_write(100, &[&data[..65536], &data[65536..]]);
    assert_eq!(driver.run(&write).0, request_status::OK);
    assert_eq!(
        driver.disk.calls,
        [DiskCall::Write { sector: 100, length: 65536 }, DiskCall::Write { sector: 228, length: 65536 }, DiskCall::Write { sector: 356, length: 32768 },]
    );
    assert_eq!(&driver.disk.data[100 * 512..100 * 512 + data.len()], &data[..]);
}

#[test]
fn scratch_too_small() {
    let mut driver = Driver::ready(64, 8);
    driver.scratch = vec![0; 511];
    let read = driver.submit_read(0, &[512]);
    assert_eq!(failed(&mut driver, &read, ErrorKind::ScratchTooSmall), DeviceError::ScratchTooSmall { length: 511 });
    assert_eq!(driver.memory.bytes(read.data[0].0, 512), vec![0xee; 512]);
    // Requests without data still work.
    let flush = driver.submit(request_type::FLUSH, 0, &[]);
    assert_eq!(driver.run(&flush), (request_status::OK, 1));
    driver.scratch = Vec::new();
    let write = driver.submit_write(0, &[&[1; 512]]);
    driver.run(&write);
    assert!(driver.disk.calls.iter().all(|call| *call == DiskCall::Flush));
}

#[test]
fn flush_reaches_the_backend() {
    let mut driver = Driver::ready(64, 8);
    let flush = driver.submit(request_type::FLUSH, 0, &[]);
    assert_eq!(driver.run(&flush), (request_status::OK, 1));
    assert_eq!(driver.disk.calls, [DiskCall::Flush]);
    assert_eq!(driver.device.statistics().flushes, 1);
}

#[test]
fn failed_flush() {
    let mut driver = Driver::ready(64, 8);
    driver.disk.fail_flush = true;
    let flush = driver.submit(request_type::FLUSH, 0, &[]);
    assert_eq!(failed(&mut driver, &flush, ErrorKind::Backend), DeviceError::Backend { error: BackendError::Io, sector: 0 });
}

#[test]
fn get_id() {
    let mut driver = Driver::ready(64, 8);
    let request = driver.submit(request_type::GET_ID, 0, &[(20, true)]);
    assert_eq!(driver.run(&request), (request_status::OK, 21));
    assert_eq!(driver.data_of(&request), SERIAL);
    // A longer buffer gets 20 bytes, a shorter one a truncated serial.
    let long = driver.submit(request_type::GET_ID, 0, &[(512, true)]);
    assert_eq!(driver.run(&long), (request_status::OK, 21));
    let data = driver.data_of(&long);
    assert_eq!(&data[..20], SERIAL);
    assert!(data[20..].iter().all(|&byte| byte == 0xee));
    let short = driver.submit(request_type::GET_ID, 0, &[(8, true)]);
    assert_eq!(driver.run(&short), (request_status::OK, 9));
    assert_eq!(driver.data_of(&short), &SERIAL[..8]);
    assert_eq!(driver.device.statistics().identifies, 3);
    assert!(driver.disk.calls.is_empty());
}

#[test]
fn unsupported_request_types() {
    for kind in [2u32, 3, 11, 13, 14, 0xdead_beef] {
        let mut driver = Driver::ready(64, 8);
        let data = driver.disk.data.clone();
        let request = driver.submit(kind, 0, &[(512, false)]);
        assert_eq!(driver.run(&request), (request_status::UNSUPPORTED, 1));
        assert_eq!(driver.device.take_last_error(), Some(DeviceError::Unsupported { request: kind }));
        assert_eq!(driver.device.statistics().unsupported, 1);
        assert_eq!(driver.disk.data, data);
        assert!(!driver.needs_reset());
    }
}

#[test]
fn zero_length_read() {
    let mut driver = Driver::ready(64, 8);
    let request = driver.submit(request_type::IN, 10, &[]);
    assert_eq!(driver.run(&request), (request_status::OK, 1));
    assert!(driver.disk.calls.is_empty());
}

#[test]
fn no_interrupt_is_honoured() {
    let mut driver = Driver::ready(64, 8);
    driver.set_available_flags(1);
    let request = driver.submit_read(0, &[512]);
    let effects = driver.notify();
    assert_eq!(effects.completed, 1);
    assert!(!effects.interrupt_changed);
    assert!(!driver.device.interrupt_line());
    assert_eq!(driver.take_used().len(), 1);
    assert_eq!(driver.status_of(&request), request_status::OK);
    // Re-enabled, the next completion interrupts.
    driver.set_available_flags(0);
    driver.submit_read(0, &[512]);
    assert!(driver.notify().interrupt_changed);
}

#[test]
fn at_most_queue_size_requests_per_notification() {
    let mut driver = Driver::ready(64, 4);
    let flush = driver.submit(request_type::FLUSH, 0, &[]);
    // Every slot of the ring names the same chain: four requests.
    for _ in 0..3 {
        driver.make_available(flush.head);
    }
    let effects = driver.notify();
    assert_eq!(effects.completed, 4);
    assert_eq!(driver.take_used().len(), 4);
    assert_eq!(driver.disk.calls.len(), 4);
    // Nothing new: nothing to do.
    assert_eq!(driver.notify().completed, 0);
    assert_eq!(driver.disk.calls.len(), 4);
    // Five more than seen in a ring of four is a broken driver.
    driver.set_available_index(driver.available_index.wrapping_add(5));
    let error = broken(&mut driver, ErrorKind::AvailableIndexJump);
    assert_eq!(error, DeviceError::AvailableIndexJump { last: 4, index: 9, size: 4 });
    assert_eq!(error.to_string(), "available index jumped from 4 to 9, beyond queue size 4");
}

#[test]
fn available_index_jump() {
    let mut driver = Driver::ready(64, 256);
    driver.submit_read(0, &[512]);
    driver.set_available_index(257);
    broken(&mut driver, ErrorKind::AvailableIndexJump);
    assert!(driver.disk.calls.is_empty());
    // Going backwards is a jump of nearly 2^16.
    let mut driver = Driver::ready(64, 8);
    driver.set_available_index(0xffff);
    broken(&mut driver, ErrorKind::AvailableIndexJump);
}

#[test]
fn ring_indices_wrap() {
    let mut driver = Driver::ready(64, 256);
    let flush = driver.submit(request_type::FLUSH, 0, &[]);
    let mut total = 1u64;
    driver.notify();
    while total < 70_000 {
        for _ in 0..256 {
            driver.make_available(flush.head);
        }
        let effects = driver.notify();
        assert_eq!(effects.completed, 256);
        total += 256;
    }
    assert_eq!(driver.device.statistics().flushes, total);
    assert_eq!(driver.memory.u16(USED + 2), total as u16);
    assert_eq!(driver.take_used().len() as u64, total % 65536);
    assert!(!driver.needs_reset());
}

#[test]
fn read_into_read_only_buffer() {
    let mut driver = Driver::ready(64, 8);
    let request = driver.submit(request_type::IN, 0, &[(512, false)]);
    let memory = driver.memory.snapshot();
    let error = failed(&mut driver, &request, ErrorKind::ReadIntoReadOnlyBuffer);
    assert_eq!(error, DeviceError::ReadIntoReadOnlyBuffer { length: 512 });
    assert_eq!(driver.memory.bytes(request.data[0].0, 512), vec![0xee; 512], "nothing written");
    assert!(driver.disk.calls.is_empty());
    // Only the status byte and the used ring changed.
    let after = driver.memory.snapshot();
    let changed: Vec<u64> = after.keys().filter(|page| memory.get(page) != after.get(page)).copied().collect();
    assert_eq!(changed, [USED / 4096, request.status / 4096]);
}

#[test]
fn write_from_writable_buffer() {
    let mut driver = Driver::ready(64, 8);
    let disk = driver.disk.data.clone();
    let request = driver.submit(request_type::OUT, 0, &[(512, true)]);
    let error = failed(&mut driver, &request, ErrorKind::WriteFromWritableBuffer);
    assert_eq!(error, DeviceError::WriteFromWritableBuffer { length: 512 });
    assert_eq!(driver.memory.bytes(request.data[0].0, 512), vec![0xee; 512]);
    assert_eq!(driver.disk.data, disk);
}

#[test]
fn unexpected_data() {
    let mut driver = Driver::ready(64, 8);
    let flush = driver.submit(request_type::FLUSH, 0, &[(512, true)]);
    let error = failed(&mut driver, &flush, ErrorKind::UnexpectedData);
    assert_eq!(error, DeviceError::UnexpectedData { request: request_type::FLUSH });
    assert!(driver.disk.calls.is_empty());
    let mut driver = Driver::ready(64, 8);
    let get_id = driver.submit(request_type::GET_ID, 0, &[(20, false), (20, true)]);
    failed(&mut driver, &get_id, ErrorKind::UnexpectedData);
    assert_eq!(driver.memory.bytes(get_id.data[1].0, 20), vec![0xee; 20]);
}

#[test]
fn unaligned_length() {
    let mut driver = Driver::ready(64, 8);
    let read = driver.submit_read(0, &[500]);
    assert_eq!(failed(&mut driver, &read, ErrorKind::UnalignedLength), DeviceError::UnalignedLength { length: 500 });
    let mut driver = Driver::ready(64, 8);
    let disk = driver.disk.data.clone();
    let write = driver.submit_write(0, &[&[1; 512], &[2; 1]]);
    failed(&mut driver, &write, ErrorKind::UnalignedLength);
    assert_eq!(driver.disk.data, disk);
}

#[test]
fn too_large() {
    // seg_max · size_max = 64 · 64 KiB = 4 MiB.
    let mut driver = Driver::ready(16384, 8);
    let read = driver.submit_read(0, &[4 << 20, 512]);
    let error = failed(&mut driver, &read, ErrorKind::TooLarge);
    assert_eq!(error, DeviceError::TooLarge { length: (4 << 20) + 512, maximum: 4 << 20 });
    assert!(driver.disk.calls.is_empty());
    // Exactly the limit is fine.
    let read = driver.submit_read(0, &[4 << 20]);
    assert_eq!(driver.run(&read).0, request_status::OK);
}

#[test]
fn four_gigabyte_length() {
    let mut driver = Driver::ready(64, 8);
    driver.memory.size = 16 << 30;
    let disk = driver.disk.data.clone();
    // Two descriptors of almost 2 GiB and 2 GiB: 4 GiB - 512 of data.
    let read = driver.submit_read(0, &[0x7fff_fe00, 0x8000_0000]);
    let error = failed(&mut driver, &read, ErrorKind::TooLarge);
    assert_eq!(error, DeviceError::TooLarge { length: 0xffff_fe00, maximum: 4 << 20 });
    // One descriptor of 4 GiB - 1 plus one byte: 4 GiB exactly.
    let mut driver = Driver::ready(64, 8);
    driver.memory.size = 16 << 30;
    let write = driver.submit(request_type::OUT, 0, &[(u32::MAX, false), (1, false)]);
    let error = failed(&mut driver, &write, ErrorKind::TooLarge);
    assert_eq!(error, DeviceError::TooLarge { length: 1 << 32, maximum: 4 << 20 });
    assert_eq!(driver.disk.data, disk);
    assert!(driver.disk.calls.is_empty());
}

#[test]
fn sector_past_the_end() {
    let mut driver = Driver::ready(64, 8);
    for (sector, length) in [(63u64, 1024u32), (64, 512), (1 << 40, 512)] {
        let read = driver.submit_read(sector, &[length]);
        let (status, _) = driver.run(&read);
        assert_eq!(status, IO_ERROR);
        assert_eq!(driver.device.take_last_error(), Some(DeviceError::SectorOutOfRange { sector, count: u64::from(length) / 512, capacity: 64 }));
    }
    let disk = driver.disk.data.clone();
    let write = driver.submit_write(63, &[&[7; 1024]]);
    assert_eq!(driver.run(&write).0, IO_ERROR);
    assert_eq!(driver.disk.data, disk);
    assert!(driver.disk.calls.is_empty());
    assert_eq!(driver.device.statistics().errors(ErrorKind::SectorOutOfRange), 4);
    // The last sector itself is fine.
    let read = driver.submit_read(63, &[512]);
    assert_eq!(driver.run(&read).0, request_status::OK);
}

#[test]
fn sector_overflow() {
    let mut driver = Driver::ready(64, 8);
    let read = driver.submit_read(u64::MAX, &[1024]);
    let error = failed(&mut driver, &read, ErrorKind::SectorOverflow);
    assert_eq!(error, DeviceError::SectorOverflow { sector: u64::MAX, length: 1024 });
    let mut driver = Driver::ready(64, 8);
    let write = driver.submit_write(u64::MAX - 1, &[&[0; 2048]]);
    failed(&mut driver, &write, ErrorKind::SectorOverflow);
    assert!(driver.disk.calls.is_empty());
}

#[test]
fn write_to_read_only_backend() {
    let mut driver = Driver::new(64);
    driver.disk.read_only = true;
    driver.initialize(8);
    let disk = driver.disk.data.clone();
    let write = driver.submit_write(0, &[&[1; 512]]);
    let error = failed(&mut driver, &write, ErrorKind::WriteToReadOnly);
    assert_eq!(error, DeviceError::WriteToReadOnly { sector: 0 });
    assert_eq!(driver.disk.data, disk);
    // Reads still work.
    let read = driver.submit_read(0, &[512]);
    assert_eq!(driver.run(&read).0, request_status::OK);
}

#[test]
fn backend_failures() {
    let mut driver = Driver::ready(64, 8);
    driver.disk.fail_reads = true;
    let read = driver.submit_read(2, &[512]);
    let error = failed(&mut driver, &read, ErrorKind::Backend);
    assert_eq!(error, DeviceError::Backend { error: BackendError::Io, sector: 2 });
    assert_eq!(error.to_string(), "backend failed at sector 2: I/O error");

    let mut driver = Driver::ready(64, 8);
    driver.disk.fail_writes = true;
    let write = driver.submit_write(5, &[&[1; 512]]);
    failed(&mut driver, &write, ErrorKind::Backend);
}

#[test]
fn failure_in_a_later_chunk_reports_what_was_written() {
    let mut driver = Driver::ready(64, 8);
    driver.scratch = vec![0; 512];
    // A hole in the middle of the data buffer: the first chunk is copied,
    // the second fails.
    let read = driver.submit_read(0, &[2048]);
    let data = read.data[0].0;
    driver.memory.holes.push((data + 600, data + 601));
    driver.notify();
    assert_eq!(driver.take_used(), [(u32::from(read.head), 513)]);
    assert_eq!(driver.status_of(&read), IO_ERROR);
    assert_eq!(driver.device.take_last_error(), Some(DeviceError::DataInaccessible { address: data + 512 }));
}

#[test]
fn data_buffer_becomes_inaccessible() {
    let mut driver = Driver::ready(64, 8);
    let disk = driver.disk.data.clone();
    let write = driver.submit_write(0, &[&[1; 1024]]);
    let data = write.data[0].0;
    driver.memory.holes.push((data + 100, data + 200));
    let error = failed(&mut driver, &write, ErrorKind::DataInaccessible);
    assert_eq!(error, DeviceError::DataInaccessible { address: data });
    assert_eq!(driver.disk.data, disk);
}

#[test]
fn header_too_short() {
    let mut driver = Driver::ready(64, 8);
    let header = driver.header(request_type::IN, 0);
    let status = driver.allocate(1, 0xff);
    let head = driver.add_chain(&[Buffer::readable(header, 8), Buffer::writable(status, 1)]);
    driver.make_available(head);
    driver.notify();
    assert_eq!(driver.take_used(), [(u32::from(head), 1)]);
    assert_eq!(driver.memory.bytes(status, 1), [IO_ERROR]);
    assert_eq!(driver.device.take_last_error(), Some(DeviceError::HeaderTooShort { length: 8 }));
    // No readable descriptor at all.
    let head = driver.add_chain(&[Buffer::writable(status, 1)]);
    driver.make_available(head);
    driver.notify();
    assert_eq!(driver.device.take_last_error(), Some(DeviceError::HeaderTooShort { length: 0 }));
    assert_eq!(driver.device.statistics().errors(ErrorKind::HeaderTooShort), 2);
}

/// A read whose data descriptor (index `head + 1`) is rewritten with
/// `address`, `length`, `flags`.
fn read_with_bad_data(address: u64, length: u32, flags: u16) -> (Driver, Request) {
    let mut driver = Driver::ready(64, 8);
    let request = driver.submit_read(0, &[512]);
    driver.descriptor(request.head + 1, address, length, flags | NEXT, request.head + 2);
    (driver, request)
}

#[test]
fn indirect_data_descriptor() {
    let (mut driver, request) = read_with_bad_data(BASE + 0x8000, 512, WRITE | INDIRECT);
    let error = failed(&mut driver, &request, ErrorKind::ChainIndirect);
    assert_eq!(error, DeviceError::Chain(ChainError::Indirect { index: request.head + 1 }));
    assert!(driver.disk.calls.is_empty());
}

#[test]
fn overflowing_data_descriptor() {
    let (mut driver, request) = read_with_bad_data(0xffff_ffff_ffff_fff0, 0x100, WRITE);
    let error = failed(&mut driver, &request, ErrorKind::ChainAddressOverflow);
    assert_eq!(error, DeviceError::Chain(ChainError::AddressOverflow { index: 1, address: 0xffff_ffff_ffff_fff0, length: 0x100 }));
    assert_eq!(driver.memory.refused_writes.get(), 0, "no write was even attempted");
}

#[test]
fn data_descriptor_outside_memory() {
    let (mut driver, request) = read_with_bad_data(BASE + RAM - 256, 512, WRITE);
    let error = failed(&mut driver, &request, ErrorKind::ChainOutsideMemory);
    assert_eq!(error, DeviceError::Chain(ChainError::OutsideMemory { index: 1, address: BASE + RAM - 256, length: 512 }));
    assert!(driver.disk.calls.is_empty());
    assert_eq!(driver.memory.refused_writes.get(), 0);
}

#[test]
fn readable_after_writable_data() {
    let mut driver = Driver::ready(64, 8);
    let request = driver.submit(request_type::IN, 0, &[(512, true), (512, false)]);
    let error = failed(&mut driver, &request, ErrorKind::ChainReadableAfterWritable);
    assert_eq!(error, DeviceError::Chain(ChainError::ReadableAfterWritable { index: 2 }));
    assert_eq!(driver.memory.bytes(request.data[0].0, 512), vec![0xee; 512]);
}

#[test]
fn head_beyond_queue_size() {
    let mut driver = Driver::ready(64, 256);
    driver.make_available(300);
    let error = broken(&mut driver, ErrorKind::ChainHeadOutOfRange);
    assert_eq!(error.to_string(), "descriptor 300 beyond queue size 256");
}

#[test]
fn next_beyond_queue_size() {
    let mut driver = Driver::ready(64, 8);
    let request = driver.submit_read(0, &[512]);
    driver.descriptor(request.head + 1, request.data[0].0, 512, WRITE | NEXT, 9);
    let error = broken(&mut driver, ErrorKind::ChainNextOutOfRange);
    assert_eq!(error, DeviceError::Chain(ChainError::NextOutOfRange { index: 1, next: 9, size: 8 }));
    assert_eq!(driver.status_of(&request), 0xff, "no status written");
}

#[test]
fn descriptor_loop() {
    let mut driver = Driver::ready(64, 8);
    let request = driver.submit_read(0, &[512]);
    driver.descriptor(request.head + 2, request.status, 1, WRITE | NEXT, request.head);
    let error = broken(&mut driver, ErrorKind::ChainTooLong);
    assert_eq!(error, DeviceError::Chain(ChainError::TooLong { size: 8 }));
    assert!(driver.disk.calls.is_empty());
}

#[test]
fn descriptor_table_becomes_inaccessible() {
    let mut driver = Driver::ready(64, 8);
    driver.submit_read(0, &[512]);
    driver.memory.holes.push((DESCRIPTORS + 16, DESCRIPTORS + 32));
    let error = broken(&mut driver, ErrorKind::ChainDescriptorUnreadable);
    assert_eq!(error, DeviceError::Chain(ChainError::DescriptorUnreadable { index: 1 }));
}

#[test]
fn missing_status() {
    // Only device-readable descriptors.
    let mut driver = Driver::ready(64, 8);
    let header = driver.header(request_type::OUT, 0);
    let data = driver.allocate(512, 1);
    let head = driver.add_chain(&[Buffer::readable(header, 16), Buffer::readable(data, 512)]);
    driver.make_available(head);
    let disk = driver.disk.data.clone();
    assert_eq!(broken(&mut driver, ErrorKind::MissingStatus), DeviceError::MissingStatus { head });
    assert_eq!(driver.disk.data, disk);
    // A zero-length status descriptor.
    let mut driver = Driver::ready(64, 8);
    let request = driver.submit_read(0, &[512]);
    driver.descriptor(request.head + 2, request.status, 0, WRITE, 0);
    broken(&mut driver, ErrorKind::MissingStatus);
}

#[test]
fn status_outside_memory() {
    let mut driver = Driver::ready(64, 8);
    let request = driver.submit_read(0, &[512]);
    driver.descriptor(request.head + 2, BASE + RAM, 1, WRITE, 0);
    let error = broken(&mut driver, ErrorKind::ChainOutsideMemory);
    assert_eq!(error, DeviceError::Chain(ChainError::OutsideMemory { index: 2, address: BASE + RAM, length: 1 }));
    assert!(driver.disk.calls.is_empty());
    let mut driver = Driver::ready(64, 8);
    let request = driver.submit_read(0, &[512]);
    driver.descriptor(request.head + 2, u64::MAX, 1, WRITE, 0);
    broken(&mut driver, ErrorKind::ChainAddressOverflow);
    let mut driver = Driver::ready(64, 8);
    let request = driver.submit_read(0, &[512]);
    driver.descriptor(request.head + 2, request.status, 1, WRITE | INDIRECT, 0);
    broken(&mut driver, ErrorKind::ChainIndirect);
}

#[test]
fn status_unwritable() {
    let mut driver = Driver::ready(64, 8);
    let request = driver.submit_read(0, &[512]);
    driver.memory.write_protected.push((request.status, request.status + 1));
    let error = broken(&mut driver, ErrorKind::StatusUnwritable);
    assert_eq!(error, DeviceError::StatusUnwritable { address: request.status });
}

#[test]
fn used_ring_becomes_inaccessible() {
    let mut driver = Driver::ready(64, 8);
    driver.submit_read(0, &[512]);
    driver.memory.holes.push((USED + 4, USED + 12));
    let error = broken(&mut driver, ErrorKind::RingInaccessible);
    assert_eq!(error, DeviceError::RingInaccessible { part: RingPart::Used });
    // The used index write failing is caught too.
    let mut driver = Driver::ready(64, 8);
    driver.submit_read(0, &[512]);
    driver.memory.write_protected.push((USED + 2, USED + 4));
    let effects = driver.notify();
    assert!(effects.needs_reset);
    assert_eq!(effects.completed, 1);
}

#[test]
fn available_ring_becomes_inaccessible() {
    let mut driver = Driver::ready(64, 8);
    driver.submit_read(0, &[512]);
    driver.memory.holes.push((AVAILABLE + 4, AVAILABLE + 6));
    let error = broken(&mut driver, ErrorKind::RingInaccessible);
    assert_eq!(error, DeviceError::RingInaccessible { part: RingPart::Available });
    let mut driver = Driver::ready(64, 8);
    driver.submit_read(0, &[512]);
    driver.memory.holes.push((AVAILABLE, AVAILABLE + 2));
    broken(&mut driver, ErrorKind::RingInaccessible);
}

#[test]
fn completions_before_a_broken_chain_are_published() {
    let mut driver = Driver::ready(64, 16);
    let good = driver.submit_read(1, &[512]);
    driver.make_available(200);
    let effects = driver.notify();
    assert!(effects.needs_reset);
    assert_eq!(effects.completed, 1);
    assert_eq!(driver.take_used(), [(u32::from(good.head), 513)]);
    assert_eq!(driver.data_of(&good), driver.disk.sector(1));
    assert_eq!(driver.read(offset::INTERRUPT_STATUS), interrupt::USED_BUFFER | interrupt::CONFIG_CHANGE);
    assert_ne!(driver.read(offset::STATUS) & status::DEVICE_NEEDS_RESET, 0);
}

#[test]
fn every_error_kind_is_counted_separately() {
    use std::collections::HashSet;
    let names: HashSet<&str> = crate::ErrorKind::ALL.iter().map(|kind| kind.name()).collect();
    assert_eq!(names.len(), crate::ErrorKind::COUNT);
    for (position, kind) in crate::ErrorKind::ALL.iter().enumerate() {
        assert_eq!(*kind as usize, position);
    }
}

// Direct transfers: a backend that moves data by DMA gets the guest's own
// buffers as segments, checked, and the copy path is not used.

fn direct_driver() -> Driver {
    let mut driver = Driver::ready(64, 8);
    driver.disk.direct = true;
    driver
}

fn segments_of(request: &Request) -> Vec<Segment> {
    request.data.iter().map(|&(address, length)| Segment { address, length }).collect()
}

#[test]
fn direct_read_hands_the_guest_buffers_to_the_backend() {
    let mut driver = direct_driver();
    let request = driver.submit_read(5, &[1024, 512]);
    assert_eq!(driver.run(&request), (request_status::OK, 1537));
    let expected = [driver.disk.sector(5), driver.disk.sector(6), driver.disk.sector(7)].concat();
    assert_eq!(driver.data_of(&request), expected);
    assert_eq!(driver.disk.calls, [DiskCall::ReadDirect { sector: 5, segments: segments_of(&request) }]);
    assert_eq!(driver.device.statistics().bytes_read, 1536);
}

#[test]
fn direct_write_hands_the_guest_buffers_to_the_backend() {
    let mut driver = direct_driver();
    let first = pattern(512, 1);
    let second = pattern(1536, 2);
    let request = driver.submit_write(9, &[&first, &second]);
    assert_eq!(driver.run(&request), (request_status::OK, 1));
    assert_eq!(driver.disk.sector(9), first.as_slice());
    assert_eq!(driver.disk.data[10 * 512..13 * 512], second[..]);
    assert_eq!(driver.disk.calls, [DiskCall::WriteDirect { sector: 9, segments: segments_of(&request) }]);
    assert_eq!(driver.device.statistics().bytes_written, 2048);
}

#[test]
fn direct_read_stops_before_a_status_byte_that_shares_the_last_buffer() {
    let mut driver = direct_driver();
    let header = driver.header(request_type::IN, 2);
    let buffer = driver.allocate(1025, 0xee);
    let head = driver.add_chain(&[Buffer::readable(header, 16), Buffer::writable(buffer, 1025)]);
    driver.make_available(head);
    driver.notify();
    assert_eq!(driver.take_used(), [(u32::from(head), 1025)]);
    assert_eq!(driver.memory.bytes(buffer + 1024, 1), [request_status::OK]);
    assert_eq!(driver.memory.bytes(buffer, 1024), [driver.disk.sector(2), driver.disk.sector(3)].concat());
    assert_eq!(driver.disk.calls, [DiskCall::ReadDirect { sector: 2, segments: vec![Segment { address: buffer, length: 1024 }] }]);
}

#[test]
fn direct_write_starts_after_a_header_that_shares_the_first_buffer() {
    let mut driver = direct_driver();
    let buffer = driver.allocate(16 + 512, 0);
    let mut bytes = vec![0u8; 16];
    bytes[..4].copy_from_slice(&request_type::OUT.to_le_bytes());
    bytes[8..].copy_from_slice(&7u64.to_le_bytes());
    let data = pattern(512, 9);
    bytes.extend_from_slice(&data);
    driver.memory.store(buffer, &bytes);
    let status = driver.allocate(1, 0xff);
    let head = driver.add_chain(&[Buffer::readable(buffer, 16 + 512), Buffer::writable(status, 1)]);
    driver.make_available(head);
    driver.notify();
    assert_eq!(driver.take_used(), [(u32::from(head), 1)]);
    assert_eq!(driver.memory.bytes(status, 1), [request_status::OK]);
    assert_eq!(driver.disk.sector(7), data.as_slice());
    assert_eq!(driver.disk.calls, [DiskCall::WriteDirect { sector: 7, segments: vec![Segment { address: buffer + 16, length: 512 }] }]);
}

#[test]
fn direct_transfer_failure_completes_with_an_io_error() {
    let mut driver = direct_driver();
    driver.disk.fail_reads = true;
    let read = driver.submit_read(1, &[512]);
    let error = failed(&mut driver, &read, ErrorKind::Backend);
    assert_eq!(error, DeviceError::Backend { error: BackendError::Io, sector: 1 });
    assert!(matches!(driver.disk.calls.as_slice(), [DiskCall::ReadDirect { .. }]));
}

#[test]
fn direct_read_into_a_read_only_buffer_never_reaches_the_backend() {
    let mut driver = direct_driver();
    let request = driver.submit(request_type::IN, 0, &[(512, false)]);
    failed(&mut driver, &request, ErrorKind::ReadIntoReadOnlyBuffer);
    assert!(driver.disk.calls.is_empty());
}

#[test]
fn direct_read_out_of_range_never_reaches_the_backend() {
    let mut driver = direct_driver();
    let request = driver.submit_read(63, &[1024]);
    failed(&mut driver, &request, ErrorKind::SectorOutOfRange);
    assert!(driver.disk.calls.is_empty());
}

#[test]
fn direct_write_over_a_hole_in_guest_ram_is_refused_by_the_backend() {
    // `contains` only probes a buffer's ends, so the model offers a buffer
    // with a hole in its middle; a DMA backend checks every byte and fails
    // the request, writing nothing.
    let mut driver = direct_driver();
    let disk = driver.disk.data.clone();
    let write = driver.submit_write(0, &[&[1; 1024]]);
    let data = write.data[0].0;
    driver.memory.holes.push((data + 100, data + 200));
    let error = failed(&mut driver, &write, ErrorKind::Backend);
    assert_eq!(error, DeviceError::Backend { error: BackendError::Io, sector: 0 });
    assert_eq!(driver.disk.data, disk);
    assert!(driver.disk.calls.is_empty());
}
