//! The physical disk's request queue: `janus-virtio`'s host-tested
//! [`DriverQueue`] bookkeeping over rings in DMA memory. A request's
//! buffers go straight into the device's descriptor table as one chain and
//! come back in constant time. (`virtio-drivers`' `VirtQueue` keeps a shadow
//! table, takes one slice per buffer and walks every chain twice: for a
//! 254-buffer request about 90 instructions per buffer, a tenth of the
//! request's time under QEMU's instruction counting.)
//!
//! The rings use the legacy layout (descriptors, available ring, then the
//! used ring on the next page), which a modern transport accepts as well.

use core::sync::atomic::{Ordering, fence};

use janus_virtio::Segment;
use janus_virtio::driver_queue::{AddError, Buffer, ChainSlot, DRIVER_QUEUE_SIZE, DriverQueue, RingMemory, Used};
use virtio_drivers::transport::Transport;
use virtio_drivers::{BufferDirection, Hal};

const PAGE: usize = 4096;
/// The descriptor table's bytes; the available ring follows it.
const DESCRIPTORS_BYTES: usize = 16 * DRIVER_QUEUE_SIZE;
/// The used ring starts on the page after the available ring.
const USED_OFFSET: usize = 2 * PAGE;
const PAGES: usize = 3;
const _: () = assert!(DESCRIPTORS_BYTES + 2 * (DRIVER_QUEUE_SIZE + 3) <= USED_OFFSET);

/// The rings in a never-freed DMA allocation only this queue uses (Janus'
/// identity map: its address is also its physical address).
struct DmaRings {
    base: usize,
}

impl DmaRings {
    fn at<T>(&self, offset: usize) -> *mut T {
        (self.base + offset) as *mut T
    }
}

impl RingMemory for DmaRings {
    fn write_descriptor(&mut self, index: u16, address: u64, length: u32, flags: u16, next: u16) {
        let pointer = self.at::<u64>(16 * (usize::from(index) % DRIVER_QUEUE_SIZE));
        let rest = u64::from(length) | (u64::from(flags) << 32) | (u64::from(next) << 48);
        // SAFETY: descriptor `index` lies in the table at the start of the
        // allocation, 16-byte aligned; the device reads it only once the
        // chain is published.
        unsafe {
            pointer.write_volatile(address);
            pointer.add(1).write_volatile(rest);
        }
    }

    fn write_available_entry(&mut self, slot: u16, head: u16) {
        let offset = DESCRIPTORS_BYTES + 4 + 2 * (usize::from(slot) % DRIVER_QUEUE_SIZE);
        // SAFETY: a ring entry of the available ring, inside the allocation.
        unsafe { self.at::<u16>(offset).write_volatile(head) };
    }

    fn write_available_index(&mut self, index: u16) {
        // SAFETY: the available ring's index field.
        unsafe { self.at::<u16>(DESCRIPTORS_BYTES + 2).write_volatile(index) };
    }

    fn read_used_flags(&self) -> u16 {
        // SAFETY: the used ring's flags field.
        unsafe { self.at::<u16>(USED_OFFSET).read_volatile() }
    }

    fn read_used_index(&self) -> u16 {
        // SAFETY: the used ring's index field.
        unsafe { self.at::<u16>(USED_OFFSET + 2).read_volatile() }
    }

    fn read_used_element(&self, slot: u16) -> (u32, u32) {
        let offset = USED_OFFSET + 4 + 8 * (usize::from(slot) % DRIVER_QUEUE_SIZE);
        // SAFETY: a used element, 8-byte aligned, inside the allocation.
        let element = unsafe { self.at::<u64>(offset).read_volatile() };
        (element as u32, (element >> 32) as u32)
    }

    fn fence(&self) {
        fence(Ordering::SeqCst);
    }
}

/// One request queue of a virtio device.
pub struct SplitQueue {
    rings: DmaRings,
    queue: DriverQueue,
}

/// Why the queue could not be set up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SetupError {
    /// The device offers fewer than [`DRIVER_QUEUE_SIZE`] entries.
    TooSmall,
    /// The queue is already in use.
    InUse,
    /// No DMA memory.
    NoMemory,
}

impl SplitQueue {
    /// Sets up queue `index` of `transport` with [`DRIVER_QUEUE_SIZE`]
    /// entries, zeroed ring memory from `H`.
    pub fn new<H: Hal, T: Transport>(transport: &mut T, index: u16) -> Result<Self, SetupError> {
        if transport.max_queue_size(index) < DRIVER_QUEUE_SIZE as u32 {
            return Err(SetupError::TooSmall);
        }
        if transport.queue_used(index) {
            return Err(SetupError::InUse);
        }
        let (physical, virtual_address) = H::dma_alloc(PAGES, BufferDirection::Both);
        if physical == 0 {
            return Err(SetupError::NoMemory);
        }
        transport.queue_set(index, DRIVER_QUEUE_SIZE as u32, physical, physical + DESCRIPTORS_BYTES as u64, physical + USED_OFFSET as u64);
        Ok(Self { rings: DmaRings { base: virtual_address.as_ptr() as usize }, queue: DriverQueue::new() })
    }

    /// Adds one request (see [`DriverQueue::add`]).
    ///
    /// # Safety
    ///
    /// Every buffer must stay valid for the device, and untouched by Janus
    /// if the device writes it, until the chain comes back from
    /// [`SplitQueue::next_used`].
    pub unsafe fn add(&mut self, header: Buffer, data: &[Segment], data_device_writes: bool, status: Buffer) -> Result<ChainSlot, AddError> {
        self.queue.add(&mut self.rings, header, data, data_device_writes, status)
    }

    /// Whether the device wants a notification now.
    pub fn should_notify(&self) -> bool {
        self.queue.should_notify(&self.rings)
    }

    /// The next chain the device returned.
    pub fn next_used(&mut self) -> Option<Used> {
        self.queue.next_used(&self.rings)
    }

    /// Returns a finished chain's descriptors to the free list.
    pub fn recycle(&mut self, chain: ChainSlot) {
        self.queue.recycle(chain);
    }
}
