//! Fuzz target: whole devices driven by arbitrary register traffic and
//! arbitrary guest memory.
//!
//! The first bytes choose the device configuration, the disk (up to 64
//! sectors, maybe read-only, copying or moving data straight to and from
//! guest memory), the scratch buffer size and 64 KiB of guest
//! RAM contents. Then each operation is an opcode byte and its operands:
//! raw register reads and writes at any offset and width, a Linux-like
//! initialization with the queue at a chosen place, descriptors (mostly
//! pointing into RAM), available ring entries and index, notifications,
//! guest memory pokes, backend failures, resets and configuration changes.
//!
//! Nothing may panic; the device never writes outside guest RAM (the fake
//! refuses and counts such writes: none may come), never calls the backend
//! with a bad length or a range past the disk, never writes a read-only
//! disk, and its interrupt line follows InterruptStatus.
#![no_main]

mod common;

use common::Input;
use janus_virtio::mock::{FakeDisk, FakeMemory, descriptor_bytes, header_bytes};
use janus_virtio::registers::{offset, status};
use janus_virtio::{BlockConfig, VirtioBlock};
use libfuzzer_sys::fuzz_target;

const BASE: u64 = 0x4000_0000;
const RAM: usize = 64 * 1024;

/// A guest address: mostly inside RAM, sometimes near or past its edges,
/// sometimes anything.
fn address(input: &mut Input) -> u64 {
    match input.byte() % 8 {
        0 => input.u64(),
        1 => BASE + RAM as u64 - u64::from(input.byte()),
        2 => BASE - u64::from(input.byte()),
        _ => BASE + u64::from(input.u16()),
    }
}

struct World {
    device: VirtioBlock,
    memory: FakeMemory,
    disk: FakeDisk,
    scratch: Vec<u8>,
    available: u64,
    /// The driver's next available index, for well-formed submissions.
    available_index: u16,
}

impl World {
    fn write(&mut self, offset: u64, width: u8, value: u64) {
        let line = self.device.interrupt_line();
        let effects = self.device.write(offset, width, value, &mut self.memory, &mut self.disk, &mut self.scratch);
        self.check_writes();
        assert_eq!(effects.interrupt_changed, line != self.device.interrupt_line());
        assert!(effects.completed <= 256);
        if effects.reset {
            assert_eq!(self.device.status(), 0);
            assert!(!self.device.interrupt_line());
        }
        if effects.needs_reset {
            assert_ne!(self.device.status() & status::DEVICE_NEEDS_RESET, 0);
        }
    }

    fn read(&mut self, offset: u64, width: u8) -> u64 {
        let value = self.device.read(offset, width, &self.disk);
        if width < 8 {
            assert_eq!(value >> (8 * u32::from(width)), 0, "read wider than the access");
        }
        value
    }

    fn register(&mut self, offset: u64, value: u32) {
        self.write(offset, 4, u64::from(value));
    }

    /// Reset, features, queue at `descriptors`, DRIVER_OK.
    fn initialize(&mut self, size: u32, descriptors: u64, available: u64, used: u64, features: u64) {
        self.register(offset::STATUS, 0);
        self.register(offset::STATUS, status::ACKNOWLEDGE | status::DRIVER);
        self.register(offset::DRIVER_FEATURES_SELECT, 0);
        self.register(offset::DRIVER_FEATURES, features as u32);
        self.register(offset::DRIVER_FEATURES_SELECT, 1);
        self.register(offset::DRIVER_FEATURES, (features >> 32) as u32);
        self.register(offset::STATUS, status::ACKNOWLEDGE | status::DRIVER | status::FEATURES_OK);
        self.register(offset::QUEUE_SELECT, 0);
        self.register(offset::QUEUE_SIZE, size);
        for (low, value) in [(offset::QUEUE_DESCRIPTOR_LOW, descriptors), (offset::QUEUE_DRIVER_LOW, available), (offset::QUEUE_DEVICE_LOW, used)] {
            self.register(low, value as u32);
            self.register(low + 4, (value >> 32) as u32);
        }
        self.register(offset::QUEUE_READY, 1);
        let current = self.read(offset::STATUS, 4) as u32;
        self.register(offset::STATUS, current | status::DRIVER_OK);
        self.available = available;
        self.available_index = 0;
        self.poke(available, &[0; 4]);
    }

    /// A plausible request: header, `segments` data buffers (mostly whole
    /// sectors, in the direction the type wants), status byte, in
    /// consecutive descriptors from a chosen head, made available.
    fn submit(&mut self, input: &mut Input) {
        let Some(queue) = self.device.queue() else {
            return;
        };
        let size = queue.size();
        let kind = match input.byte() % 8 {
            0..=2 => 0,
            3..=5 => 1,
            6 => 4,
            _ => u32::from(input.byte() % 10),
        };
        let sector = if input.byte().is_multiple_of(8) { input.u64() } else { u64::from(input.byte() % 70) };
        let header = BASE + 0x8000 + (u64::from(input.byte()) << 4);
        self.poke(header, &header_bytes(kind, sector));
        let mut buffers = vec![(header, 16u32, 0u16)];
        let mut cursor = BASE + 0x9000;
        for _ in 0..input.byte() % 4 {
            let length = match input.byte() % 8 {
                0 => u32::from(input.u16()),
                _ => 512 * u32::from(input.byte() % 9),
            };
            let writable = match input.byte() % 4 {
                0 => 2,
                1 => 0,
                _ if kind == 0 || kind == 8 => 2,
                _ => 0,
            };
            buffers.push((cursor, length, writable));
            cursor = cursor.wrapping_add(u64::from(length));
        }
        buffers.push((BASE + 0x8ff0, 1, 2));
        let head = u16::from(input.byte()) % size;
        let mut index = head;
        for (position, &(address, length, flags)) in buffers.iter().enumerate() {
            let next = (index + 1) % size;
            let flags = if position + 1 < buffers.len() { flags | 1 } else { flags };
            self.poke(queue.descriptors().wrapping_add(16 * u64::from(index)), &descriptor_bytes(address, length, flags, next));
            index = next;
        }
        let slot = u64::from(self.available_index % size);
        self.poke(queue.available().wrapping_add(4 + 2 * slot), &head.to_le_bytes());
        self.available_index = self.available_index.wrapping_add(1);
        self.poke(queue.available().wrapping_add(2), &self.available_index.to_le_bytes());
    }

    /// The device checks every range it writes first (rings when the queue
    /// is enabled, buffers when a chain is parsed), so a write outside guest
    /// RAM is a bug, not a guest error.
    fn check_writes(&self) {
        assert_eq!(self.memory.refused_writes.get(), 0, "the device wrote outside guest RAM");
    }

    /// A driver's write to guest memory: dropped outside RAM.
    fn poke(&mut self, address: u64, data: &[u8]) {
        let _ = self.memory.try_store(address, data);
    }
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input { bytes: data };
    let config = BlockConfig {
        serial: *b"janus-fuzz-serial-00",
        queue_size_max: u16::from(input.byte()) * 2,
        segment_max: u32::from(input.byte()),
        size_max: input.u32(),
    };
    let sectors = usize::from(input.byte() % 65);
    let read_only = input.byte().is_multiple_of(4);
    // Half the runs with a backend that moves data by "DMA", as Janus' does.
    let direct = input.byte().is_multiple_of(2);
    // And of those, half that finish transfers later (as Janus' does with
    // the disk's interrupt), with room for a few.
    let asynchronous = direct && input.byte().is_multiple_of(2);
    let capacity = usize::from(input.byte() % 8);
    let scratch = match input.byte() % 4 {
        0 => usize::from(input.u16()) % 2048,
        _ => 4096,
    };
    let seed = input.u64();
    let contents: Vec<u8> = (0..RAM).map(|index| (seed.rotate_left(index as u32 % 64) as u8) ^ (index as u8)).collect();
    let mut memory = FakeMemory::new(BASE, RAM as u64);
    memory.store(BASE, &contents);
    let mut world = World {
        device: VirtioBlock::new(config),
        memory,
        disk: FakeDisk { data: vec![0x5a; sectors * 512], read_only, direct, asynchronous, capacity, ..FakeDisk::default() },
        scratch: vec![0; scratch],
        available: BASE,
        available_index: 0,
    };

    while !input.is_empty() {
        match input.byte() % 15 {
            0 => {
                let (offset, width) = (input.u16() as u64 % 0x240, input.byte() % 9);
                let value = input.u64();
                world.write(offset, width, value);
            }
            1 => {
                let (offset, width) = (input.u16() as u64 % 0x240, input.byte() % 9);
                world.read(offset, width);
            }
            2 => {
                // Mostly a usable queue in the first 24 KiB of RAM.
                let size = 1u32 << (input.byte() % 10);
                let descriptors = BASE + 0x4000 + (u64::from(input.byte() % 16) << 8);
                let (available, used) = if input.byte().is_multiple_of(8) {
                    (address(&mut input) & !1, BASE + (u64::from(input.u16()) & 0xfffc))
                } else {
                    (BASE + 0x1000 + (u64::from(input.byte() % 16) << 4), BASE + 0x2000)
                };
                let features = if input.byte().is_multiple_of(8) { input.u64() } else { VirtioBlock::offered_features(read_only) };
                world.initialize(size, descriptors, available, used, features);
            }
            3 | 4 => {
                // A descriptor in the table, mostly pointing into RAM.
                let Some(table) = world.device.queue().map(|queue| queue.descriptors()) else {
                    continue;
                };
                let index = u64::from(input.byte());
                let buffer = address(&mut input);
                let length = match input.byte() % 4 {
                    0 => input.u32(),
                    1 => 1,
                    2 => 16,
                    _ => u32::from(input.byte()) * 64,
                };
                let flags = u16::from(input.byte() % 8);
                let next = u16::from(input.byte());
                world.poke(table.wrapping_add(16 * index), &descriptor_bytes(buffer, length, flags, next));
            }
            5 => {
                // A request header somewhere.
                let at = address(&mut input);
                let kind = u32::from(input.byte() % 10);
                let sector = if input.byte().is_multiple_of(4) { input.u64() } else { u64::from(input.byte() % 70) };
                world.poke(at, &header_bytes(kind, sector));
            }
            6 => {
                // Available ring: entry, then index (flags sometimes).
                let available = world.available;
                let slot = u64::from(input.byte());
                let head = u16::from(input.byte());
                world.poke(available.wrapping_add(4 + 2 * slot), &head.to_le_bytes());
                let index = input.u16();
                world.poke(available.wrapping_add(2), &index.to_le_bytes());
                if input.byte().is_multiple_of(4) {
                    world.poke(available, &u16::from(input.byte() % 2).to_le_bytes());
                }
            }
            7 | 8 => {
                let queue = if input.byte().is_multiple_of(8) { input.u32() } else { 0 };
                world.register(offset::QUEUE_NOTIFY, queue);
            }
            9 => {
                let at = address(&mut input);
                let length = usize::from(input.byte());
                let bytes: Vec<u8> = (0..length).map(|_| input.byte()).collect();
                world.poke(at, &bytes);
            }
            10 => match input.byte() % 4 {
                0 => {
                    let fail = !world.disk.fail_reads;
                    world.disk.fail_all(fail);
                }
                1 => {
                    world.device.reset();
                    assert_eq!(world.device.status(), 0);
                }
                2 => {
                    world.device.config_changed();
                }
                _ => {
                    let acknowledge = u32::from(input.byte() % 4);
                    world.register(offset::INTERRUPT_ACKNOWLEDGE, acknowledge);
                }
            },
            12 | 13 => world.submit(&mut input),
            14 => {
                // The disk finishes a transfer, in any order.
                let position = usize::from(input.byte()) % world.disk.pending.len().max(1);
                if let Some((tag, result)) = world.disk.finish(position, &mut world.memory) {
                    let line = world.device.interrupt_line();
                    let effects = world.device.complete(tag, result, &mut world.memory, &mut world.disk, &mut world.scratch);
                    world.check_writes();
                    assert_eq!(effects.interrupt_changed, line != world.device.interrupt_line());
                }
            }
            _ => {
                let _ = world.device.take_last_error().map(|error| error.to_string());
                let interrupt_status = world.read(offset::INTERRUPT_STATUS, 4);
                assert_eq!(world.device.interrupt_line(), interrupt_status != 0);
                // Every failed request was also a completed one.
                let statistics = world.device.statistics();
                assert!(statistics.failed <= statistics.completed);
                // The device never waits on more than the disk holds.
                assert!(world.device.in_flight() <= world.disk.pending.len());
                assert!(world.device.in_flight() <= janus_virtio::MAX_IN_FLIGHT);
            }
        }
    }
    assert_eq!(world.disk.data.len(), sectors * 512);
});
