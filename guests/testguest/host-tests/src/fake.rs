//! The device side for host tests: `janus-virtio`'s `VirtioBlock` behind a
//! `Transport`, guest RAM that is really this process' memory (the guest's
//! DMA area), and a disk in a `Vec` with a neighbour behind its end.

use std::cell::RefCell;
use std::rc::Rc;

use janus_virtio::registers::status;
use janus_virtio::{BackendError, BlockBackend, BlockConfig, GuestMemory, MemoryError, VirtioBlock};

use crate::virtio::Transport;

/// Host memory ranges that count as guest RAM.
pub struct HostMemory {
    pub ranges: Vec<(u64, u64)>,
}

impl HostMemory {
    fn inside(&self, address: u64, length: u64) -> bool {
        let Some(end) = address.checked_add(length) else { return false };
        self.ranges.iter().any(|&(start, size)| address >= start && end <= start + size)
    }
}

impl GuestMemory for HostMemory {
    fn read(&self, address: u64, buffer: &mut [u8]) -> Result<(), MemoryError> {
        if !self.inside(address, buffer.len() as u64) {
            return Err(MemoryError);
        }
        for (index, byte) in buffer.iter_mut().enumerate() {
            // SAFETY: inside one of the ranges, which are live host memory
            // (the guest's static DMA area, or a buffer the test owns).
            *byte = unsafe { ((address as usize + index) as *const u8).read_volatile() };
        }
        Ok(())
    }

    fn write(&mut self, address: u64, data: &[u8]) -> Result<(), MemoryError> {
        if !self.inside(address, data.len() as u64) {
            return Err(MemoryError);
        }
        for (index, byte) in data.iter().enumerate() {
            // SAFETY: as above.
            unsafe { ((address as usize + index) as *mut u8).write_volatile(*byte) };
        }
        Ok(())
    }

    fn contains(&self, address: u64, length: u64) -> bool {
        length == 0 || self.inside(address, length)
    }
}

/// `sectors` sectors of a `Vec` that also holds a neighbour's sectors
/// after them, which no request may reach.
pub struct FakeDisk {
    pub bytes: Vec<u8>,
    pub sectors: u64,
    pub flushes: u64,
}

impl FakeDisk {
    pub fn new(sectors: u64, neighbour_sectors: u64) -> Self {
        let total = ((sectors + neighbour_sectors) * 512) as usize;
        let bytes = (0..total).map(|index| (index / 512 % 251) as u8 ^ 0xa7).collect();
        Self { bytes, sectors, flushes: 0 }
    }

    pub fn sector(&self, sector: u64) -> &[u8] {
        &self.bytes[sector as usize * 512..(sector as usize + 1) * 512]
    }
}

impl BlockBackend for FakeDisk {
    fn sectors(&self) -> u64 {
        self.sectors
    }

    fn read(&mut self, sector: u64, buffer: &mut [u8]) -> Result<(), BackendError> {
        assert!(sector + buffer.len() as u64 / 512 <= self.sectors, "model read past the disk");
        let start = sector as usize * 512;
        buffer.copy_from_slice(&self.bytes[start..start + buffer.len()]);
        Ok(())
    }

    fn write(&mut self, sector: u64, data: &[u8]) -> Result<(), BackendError> {
        assert!(sector + data.len() as u64 / 512 <= self.sectors, "model wrote past the disk");
        let start = sector as usize * 512;
        self.bytes[start..start + data.len()].copy_from_slice(data);
        Ok(())
    }

    fn flush(&mut self) -> Result<(), BackendError> {
        self.flushes += 1;
        Ok(())
    }
}

/// The device and everything it works on.
pub struct Device {
    pub model: VirtioBlock,
    pub memory: HostMemory,
    pub disk: FakeDisk,
    pub scratch: Vec<u8>,
    /// A broken device: `Status` never shows `DEVICE_NEEDS_RESET`.
    pub hide_needs_reset: bool,
    pub notifications: u64,
}

/// A `Transport` onto a shared `Device`.
#[derive(Clone)]
pub struct FakeTransport(pub Rc<RefCell<Device>>);

impl FakeTransport {
    /// A device with a disk of `sectors` sectors; guest RAM is `ram`.
    pub fn new(sectors: u64, ram: Vec<(u64, u64)>) -> Self {
        let config = BlockConfig { serial: *b"janus-host-test-0001", queue_size_max: 256, segment_max: 64, size_max: 65536 };
        Self(Rc::new(RefCell::new(Device {
            model: VirtioBlock::new(config),
            memory: HostMemory { ranges: ram },
            disk: FakeDisk::new(sectors, 64),
            scratch: vec![0; 64 * 1024],
            hide_needs_reset: false,
            notifications: 0,
        })))
    }
}

impl Transport for FakeTransport {
    fn read32(&mut self, offset: u64) -> u32 {
        let mut device = self.0.borrow_mut();
        let device = &mut *device;
        let mut value = device.model.read(offset, 4, &device.disk) as u32;
        if offset == janus_virtio::registers::offset::STATUS && device.hide_needs_reset {
            value &= !status::DEVICE_NEEDS_RESET;
        }
        value
    }

    fn write32(&mut self, offset: u64, value: u32) {
        let mut device = self.0.borrow_mut();
        let device = &mut *device;
        if offset == janus_virtio::registers::offset::QUEUE_NOTIFY {
            device.notifications += 1;
        }
        let _ = device.model.write(offset, 4, u64::from(value), &mut device.memory, &mut device.disk, &mut device.scratch);
    }
}
