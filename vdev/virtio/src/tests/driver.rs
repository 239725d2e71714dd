//! A tiny virtio-blk driver for tests: lays out queue 0 in fake guest RAM,
//! initializes the device the way Linux's `virtio_mmio` and `virtio_blk` do,
//! builds request chains and collects used elements.

use crate::mock::{FakeDisk, FakeMemory, descriptor_bytes, header_bytes};
use crate::registers::{feature, offset, status};
use crate::{BlockConfig, Effects, VirtioBlock, request_type};

/// Guest RAM: 64 MiB (sparse) at 1 GiB.
pub const BASE: u64 = 0x4000_0000;
pub const RAM: u64 = 64 << 20;
pub const DESCRIPTORS: u64 = BASE;
pub const AVAILABLE: u64 = BASE + 0x1000;
pub const USED: u64 = BASE + 0x2000;
pub const HEAP: u64 = BASE + 0x1_0000;
pub const SERIAL: [u8; 20] = *b"janus-test-serial-01";

pub const NEXT: u16 = 1;
pub const WRITE: u16 = 2;
pub const INDIRECT: u16 = 4;

pub fn config() -> BlockConfig {
    BlockConfig { serial: SERIAL, queue_size_max: 256, segment_max: 64, size_max: 65536 }
}

/// One buffer of a chain.
#[derive(Clone, Copy, Debug)]
pub struct Buffer {
    pub address: u64,
    pub length: u32,
    pub writable: bool,
}

impl Buffer {
    pub fn readable(address: u64, length: u32) -> Self {
        Self { address, length, writable: false }
    }

    pub fn writable(address: u64, length: u32) -> Self {
        Self { address, length, writable: true }
    }
}

/// A request the driver submitted.
#[derive(Clone, Debug)]
pub struct Request {
    pub head: u16,
    /// Data buffers (address, length).
    pub data: Vec<(u64, u32)>,
    pub status: u64,
}

pub struct Driver {
    pub device: VirtioBlock,
    pub memory: FakeMemory,
    pub disk: FakeDisk,
    pub scratch: Vec<u8>,
    pub size: u16,
    next_descriptor: u16,
    pub available_index: u16,
    used_seen: u16,
    heap: u64,
}

impl Driver {
    /// A device fresh out of reset, not initialized.
    pub fn new(sectors: u64) -> Self {
        Self::with_config(sectors, config())
    }

    pub fn with_config(sectors: u64, config: BlockConfig) -> Self {
        Self {
            device: VirtioBlock::new(config),
            memory: FakeMemory::new(BASE, RAM),
            disk: FakeDisk::new(sectors),
            scratch: vec![0; 64 * 1024],
            size: 0,
            next_descriptor: 0,
            available_index: 0,
            used_seen: 0,
            heap: HEAP,
        }
    }

    /// An initialized device with a queue of `size` entries.
    pub fn ready(sectors: u64, size: u16) -> Self {
        let mut driver = Self::new(sectors);
        driver.initialize(size);
        driver
    }

    pub fn read(&mut self, offset: u64) -> u32 {
        let value = self.device.read(offset, 4, &self.disk);
        assert!(value <= u64::from(u32::MAX));
        value as u32
    }

    pub fn write(&mut self, offset: u64, value: u32) -> Effects {
        self.device.write(offset, 4, u64::from(value), &mut self.memory, &mut self.disk, &mut self.scratch)
    }

    pub fn device_features(&mut self) -> u64 {
        self.write(offset::DEVICE_FEATURES_SELECT, 0);
        let low = self.read(offset::DEVICE_FEATURES);
        self.write(offset::DEVICE_FEATURES_SELECT, 1);
        let high = self.read(offset::DEVICE_FEATURES);
        u64::from(low) | (u64::from(high) << 32)
    }

    pub fn write_driver_features(&mut self, features: u64) {
        self.write(offset::DRIVER_FEATURES_SELECT, 0);
        self.write(offset::DRIVER_FEATURES, features as u32);
        self.write(offset::DRIVER_FEATURES_SELECT, 1);
        self.write(offset::DRIVER_FEATURES, (features >> 32) as u32);
    }

    /// Reset, ACKNOWLEDGE, DRIVER, features, FEATURES_OK (virtio 1.2
    /// §3.1.1). Returns whether FEATURES_OK stuck.
    pub fn negotiate_features(&mut self, features: u64) -> bool {
        self.write(offset::STATUS, 0);
        assert_eq!(self.read(offset::STATUS), 0);
        self.write(offset::STATUS, status::ACKNOWLEDGE);
        self.write(offset::STATUS, status::ACKNOWLEDGE | status::DRIVER);
        self.write_driver_features(features);
        self.write(offset::STATUS, status::ACKNOWLEDGE | status::DRIVER | status::FEATURES_OK);
        self.read(offset::STATUS) & status::FEATURES_OK != 0
    }

    /// What Linux's virtio_blk accepts of the offered features.
    pub fn linux_features(&mut self) -> u64 {
        let wanted = feature::VERSION_1
            | feature::BLOCK_SIZE_MAX
            | feature::BLOCK_SEGMENT_MAX
            | feature::BLOCK_READ_ONLY
            | feature::BLOCK_BLOCK_SIZE
            | feature::BLOCK_FLUSH
            | feature::INDIRECT_DESCRIPTORS
            | feature::EVENT_INDEX;
        self.device_features() & wanted
    }

    /// Configures queue 0 at the standard addresses; returns whether
    /// QueueReady reads back 1.
    pub fn setup_queue(&mut self, size: u32) -> bool {
        self.setup_queue_at(size, DESCRIPTORS, AVAILABLE, USED)
    }

    pub fn setup_queue_at(&mut self, size: u32, descriptors: u64, available: u64, used: u64) -> bool {
        self.write(offset::QUEUE_SELECT, 0);
        assert_eq!(self.read(offset::QUEUE_READY), 0);
        assert!(self.read(offset::QUEUE_SIZE_MAX) >= 1);
        self.write(offset::QUEUE_SIZE, size);
        self.write(offset::QUEUE_DESCRIPTOR_LOW, descriptors as u32);
        self.write(offset::QUEUE_DESCRIPTOR_HIGH, (descriptors >> 32) as u32);
        self.write(offset::QUEUE_DRIVER_LOW, available as u32);
        self.write(offset::QUEUE_DRIVER_HIGH, (available >> 32) as u32);
        self.write(offset::QUEUE_DEVICE_LOW, used as u32);
        self.write(offset::QUEUE_DEVICE_HIGH, (used >> 32) as u32);
        self.write(offset::QUEUE_READY, 1);
        let ready = self.read(offset::QUEUE_READY) == 1;
        if ready {
            self.size = size as u16;
            self.next_descriptor = 0;
            self.available_index = 0;
            self.used_seen = 0;
        }
        ready
    }

    /// Linux's probe: features, queue, DRIVER_OK.
    pub fn initialize(&mut self, size: u16) {
        let features = self.linux_features();
        assert!(self.negotiate_features(features));
        // Linux reads the configuration space between FEATURES_OK and
        // DRIVER_OK.
        assert!(self.setup_queue(u32::from(size)));
        let current = self.read(offset::STATUS);
        self.write(offset::STATUS, current | status::DRIVER_OK);
        assert_eq!(self.read(offset::STATUS) & status::DRIVER_OK, status::DRIVER_OK);
        // Linux zeroes its rings; make the fake's explicit.
        self.memory.store(AVAILABLE, &[0; 4]);
        self.memory.store(USED, &[0; 4]);
    }

    /// Allocates `length` bytes of guest RAM, 16-byte aligned, filled with
    /// `fill`.
    pub fn allocate(&mut self, length: u64, fill: u8) -> u64 {
        let address = self.heap;
        self.heap = (self.heap + length + 15) & !15;
        assert!(self.heap <= BASE + self.memory.size, "test heap exhausted");
        if length <= 1 << 20 {
            self.memory.store(address, &vec![fill; length as usize]);
        }
        address
    }

    pub fn reset_heap(&mut self) {
        self.heap = HEAP;
    }

    /// Writes descriptor `index` directly.
    pub fn descriptor(&mut self, index: u16, address: u64, length: u32, flags: u16, next: u16) {
        self.memory.store(DESCRIPTORS + 16 * u64::from(index), &descriptor_bytes(address, length, flags, next));
    }

    /// Writes a chain into consecutive free descriptors; returns its head.
    pub fn add_chain(&mut self, buffers: &[Buffer]) -> u16 {
        assert!(self.size > 0 && buffers.len() <= usize::from(self.size));
        let head = self.next_descriptor;
        for (position, buffer) in buffers.iter().enumerate() {
            let index = self.next_descriptor;
            let next = (index + 1) % self.size;
            let mut flags = if buffer.writable { WRITE } else { 0 };
            if position + 1 < buffers.len() {
                flags |= NEXT;
            }
            self.descriptor(index, buffer.address, buffer.length, flags, next);
            self.next_descriptor = next;
        }
        head
    }

    /// Puts `head` in the next available ring slot and publishes the index.
    pub fn make_available(&mut self, head: u16) {
        let slot = u64::from(self.available_index % self.size.max(1));
        self.memory.store(AVAILABLE + 4 + 2 * slot, &head.to_le_bytes());
        self.available_index = self.available_index.wrapping_add(1);
        self.memory.store(AVAILABLE + 2, &self.available_index.to_le_bytes());
    }

    pub fn set_available_index(&mut self, index: u16) {
        self.available_index = index;
        self.memory.store(AVAILABLE + 2, &index.to_le_bytes());
    }

    pub fn set_available_flags(&mut self, flags: u16) {
        self.memory.store(AVAILABLE, &flags.to_le_bytes());
    }

    pub fn notify(&mut self) -> Effects {
        self.write(offset::QUEUE_NOTIFY, 0)
    }

    /// The used elements published since the last call: (id, len).
    pub fn take_used(&mut self) -> Vec<(u32, u32)> {
        let index = self.memory.u16(USED + 2);
        let mut used = Vec::new();
        while self.used_seen != index {
            let slot = u64::from(self.used_seen % self.size);
            used.push((self.memory.u32(USED + 4 + 8 * slot), self.memory.u32(USED + 8 + 8 * slot)));
            self.used_seen = self.used_seen.wrapping_add(1);
        }
        used
    }

    pub fn header(&mut self, kind: u32, sector: u64) -> u64 {
        let address = self.allocate(16, 0);
        self.memory.store(address, &header_bytes(kind, sector));
        address
    }

    /// A chain of header, data buffers (writable or not) and a status byte
    /// (pre-filled with 0xff), made available.
    pub fn submit(&mut self, kind: u32, sector: u64, data: &[(u32, bool)]) -> Request {
        let header = self.header(kind, sector);
        let mut buffers = vec![Buffer::readable(header, 16)];
        let mut addresses = Vec::new();
        for &(length, writable) in data {
            let address = self.allocate(u64::from(length), 0xee);
            addresses.push((address, length));
            buffers.push(Buffer { address, length, writable });
        }
        let status = self.allocate(1, 0xff);
        buffers.push(Buffer::writable(status, 1));
        let head = self.add_chain(&buffers);
        self.make_available(head);
        Request { head, data: addresses, status }
    }

    /// A read of `segments` (lengths) at `sector`.
    pub fn submit_read(&mut self, sector: u64, segments: &[u32]) -> Request {
        let data: Vec<_> = segments.iter().map(|&length| (length, true)).collect();
        self.submit(request_type::IN, sector, &data)
    }

    /// A write of `segments` (contents) at `sector`.
    pub fn submit_write(&mut self, sector: u64, segments: &[&[u8]]) -> Request {
        let data: Vec<_> = segments.iter().map(|segment| (segment.len() as u32, false)).collect();
        let request = self.submit(request_type::OUT, sector, &data);
        for (&(address, _), segment) in request.data.iter().zip(segments) {
            self.memory.store(address, segment);
        }
        request
    }

    pub fn status_of(&self, request: &Request) -> u8 {
        self.memory.bytes(request.status, 1)[0]
    }

    /// The data buffers of `request`, concatenated.
    pub fn data_of(&self, request: &Request) -> Vec<u8> {
        request.data.iter().flat_map(|&(address, length)| self.memory.bytes(address, length as usize)).collect()
    }

    /// Submits one request, notifies, and returns (status, used len).
    pub fn run(&mut self, request: &Request) -> (u8, u32) {
        self.notify();
        let used = self.take_used();
        assert_eq!(used.len(), 1, "expected one completion, got {used:?}");
        assert_eq!(used[0].0, u32::from(request.head));
        (self.status_of(request), used[0].1)
    }

    /// The disk finishes its pending transfer at `position` and the device
    /// completes it; `None` if nothing is pending there.
    pub fn finish(&mut self, position: usize) -> Option<Effects> {
        let (tag, result) = self.disk.finish(position, &mut self.memory)?;
        Some(self.device.complete(tag, result, &mut self.memory, &mut self.disk, &mut self.scratch))
    }

    /// Resets the device (Status 0) and sets it up again from scratch, as
    /// Linux does after an error.
    pub fn reset_and_initialize(&mut self) {
        self.write(offset::STATUS, 0);
        self.next_descriptor = 0;
        self.available_index = 0;
        self.used_seen = 0;
        self.reset_heap();
        self.initialize(self.size);
    }

    pub fn needs_reset(&mut self) -> bool {
        self.read(offset::STATUS) & status::DEVICE_NEEDS_RESET != 0
    }
}
