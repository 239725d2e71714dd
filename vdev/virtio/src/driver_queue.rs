//! The driver side of one split virtqueue (virtio 1.2 §2.7), for a
//! hypervisor that drives a physical virtio device: a request's buffers go
//! straight into the device's descriptor table as one chain, the free list
//! lives in the driver's own memory (the device never sees it), and a
//! finished chain goes back to the free list in constant time. The rings
//! are reached only through [`RingMemory`], so the bookkeeping is
//! host-tested; the hypervisor implements the trait over the DMA memory it
//! gave the device.

use crate::backend::Segment;

/// Entries: fixed, so ring positions are masks and the free list an array.
pub const DRIVER_QUEUE_SIZE: usize = 256;

/// Descriptor flags (§2.7.5).
pub const DESCRIPTOR_NEXT: u16 = 1;
/// The device writes the buffer.
pub const DESCRIPTOR_WRITE: u16 = 2;
/// Used ring flag: the device needs no notification (§2.7.10).
const USED_NO_NOTIFY: u16 = 1;

/// The rings of one queue, as the device sees them.
pub trait RingMemory {
    /// Writes descriptor `index` (below [`DRIVER_QUEUE_SIZE`]).
    fn write_descriptor(&mut self, index: u16, address: u64, length: u32, flags: u16, next: u16);
    /// Writes available ring entry `slot` (below [`DRIVER_QUEUE_SIZE`]).
    fn write_available_entry(&mut self, slot: u16, head: u16);
    /// Writes the available ring's index.
    fn write_available_index(&mut self, index: u16);
    /// Reads the used ring's flags.
    fn read_used_flags(&self) -> u16;
    /// Reads the used ring's index.
    fn read_used_index(&self) -> u16;
    /// Reads used element `slot` (below [`DRIVER_QUEUE_SIZE`]): id and
    /// length.
    fn read_used_element(&self, slot: u16) -> (u32, u32);
    /// A full memory barrier between the driver's and the device's view.
    fn fence(&self);
}

/// One buffer of a request: address, length, whether the device writes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Buffer {
    /// Physical address.
    pub address: u64,
    /// Bytes, more than zero.
    pub length: u32,
    /// The device writes it (else reads it).
    pub device_writes: bool,
}

/// A chain on the queue: its head (the token the device returns), its last
/// descriptor and its length, for recycling.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChainSlot {
    /// The head descriptor: the token.
    pub head: u16,
    /// The last descriptor.
    pub tail: u16,
    /// Descriptors in the chain.
    pub count: u16,
}

/// Why a chain was not added. Nothing was published.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddError {
    /// Not enough free descriptors now.
    Full,
    /// More buffers than the queue has descriptors.
    TooLong,
    /// A data buffer of no bytes.
    EmptyBuffer,
}

/// What the device returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Used {
    /// The chain with head `head` is done; the device wrote `length` bytes.
    Chain {
        /// Its head.
        head: u16,
        /// Bytes the device reported writing.
        length: u32,
    },
    /// The device returned an id that is no chain in flight: it cannot be
    /// trusted any more.
    Bogus {
        /// The id it returned.
        id: u32,
    },
}

/// The driver's bookkeeping for one queue.
#[derive(Clone, Debug)]
pub struct DriverQueue {
    /// Next free descriptor after each free one.
    free_next: [u16; DRIVER_QUEUE_SIZE],
    free_head: u16,
    free_count: u16,
    /// Heads of the chains in flight, a bit each.
    heads: [u64; DRIVER_QUEUE_SIZE / 64],
    /// The next available index to publish.
    available_index: u16,
    /// The next used index to consume.
    last_used: u16,
}

impl Default for DriverQueue {
    fn default() -> Self {
        Self::new()
    }
}

impl DriverQueue {
    /// Every descriptor free, both rings at index 0 (the device's view after
    /// the queue is set up with zeroed rings).
    pub fn new() -> Self {
        let mut free_next = [0u16; DRIVER_QUEUE_SIZE];
        for (index, next) in free_next.iter_mut().enumerate() {
            *next = ((index + 1) % DRIVER_QUEUE_SIZE) as u16;
        }
        Self { free_next, free_head: 0, free_count: DRIVER_QUEUE_SIZE as u16, heads: [0; DRIVER_QUEUE_SIZE / 64], available_index: 0, last_used: 0 }
    }

    /// Free descriptors.
    pub const fn free(&self) -> u16 {
        self.free_count
    }

    /// Writes one request as a chain, `header`, then each of `data` (all
    /// device-written if `data_device_writes`, else device-read), then
    /// `status`, and makes it available (§2.7.13). Fails, changing nothing,
    /// if there are not enough free descriptors or a data buffer is empty.
    /// The caller keeps the buffers valid until the chain comes back from
    /// [`DriverQueue::next_used`].
    pub fn add<R: RingMemory>(
        &mut self,
        rings: &mut R,
        header: Buffer,
        data: &[Segment],
        data_device_writes: bool,
        status: Buffer,
    ) -> Result<ChainSlot, AddError> {
        let count =
            data.len().checked_add(2).filter(|&count| count <= DRIVER_QUEUE_SIZE).and_then(|count| u16::try_from(count).ok()).ok_or(AddError::TooLong)?;
        if data.iter().any(|segment| segment.length == 0) {
            return Err(AddError::EmptyBuffer);
        }
        if count > self.free_count {
            return Err(AddError::Full);
        }
        let head = self.free_head;
        let mut index = head;
        let mut next = self.next_free(index);
        rings.write_descriptor(index, header.address, header.length, flags(header.device_writes) | DESCRIPTOR_NEXT, next);
        let data_flags = flags(data_device_writes) | DESCRIPTOR_NEXT;
        for segment in data {
            index = next;
            next = self.next_free(index);
            rings.write_descriptor(index, segment.address, segment.length, data_flags, next);
        }
        index = next;
        rings.write_descriptor(index, status.address, status.length, flags(status.device_writes), 0);
        self.free_head = self.next_free(index);
        self.free_count -= count;
        self.mark(head, true);
        rings.write_available_entry(self.available_index % DRIVER_QUEUE_SIZE as u16, head);
        // Descriptors and the ring entry before the index.
        rings.fence();
        self.available_index = self.available_index.wrapping_add(1);
        rings.write_available_index(self.available_index);
        Ok(ChainSlot { head, tail: index, count })
    }

    /// Whether the device wants a notification now: it has not suppressed
    /// them (§2.7.10). The index is published before the flags are read.
    pub fn should_notify<R: RingMemory>(&self, rings: &R) -> bool {
        rings.fence();
        rings.read_used_flags() & USED_NO_NOTIFY == 0
    }

    /// The next chain the device returned, if any. A [`Used::Bogus`] id is
    /// consumed too; the caller should stop trusting the device.
    pub fn next_used<R: RingMemory>(&mut self, rings: &R) -> Option<Used> {
        if rings.read_used_index() == self.last_used {
            return None;
        }
        // The element is read after the index that covers it.
        rings.fence();
        let (id, length) = rings.read_used_element(self.last_used % DRIVER_QUEUE_SIZE as u16);
        self.last_used = self.last_used.wrapping_add(1);
        match u16::try_from(id) {
            Ok(head) if self.is_head(head) => {
                self.mark(head, false);
                Some(Used::Chain { head, length })
            }
            _ => Some(Used::Bogus { id }),
        }
    }

    /// Returns a finished chain's descriptors to the free list. `chain` must
    /// be what [`DriverQueue::add`] returned for a head that
    /// [`DriverQueue::next_used`] since gave back (anything else is
    /// ignored).
    pub fn recycle(&mut self, chain: ChainSlot) {
        let valid = usize::from(chain.count) <= DRIVER_QUEUE_SIZE - usize::from(self.free_count) && chain.count > 0 && !self.is_head(chain.head);
        if !valid {
            return;
        }
        if let Some(next) = self.free_next.get_mut(usize::from(chain.tail)) {
            *next = self.free_head;
        }
        self.free_head = chain.head;
        self.free_count += chain.count;
    }

    fn next_free(&self, index: u16) -> u16 {
        self.free_next.get(usize::from(index) % DRIVER_QUEUE_SIZE).copied().unwrap_or(0)
    }

    fn is_head(&self, head: u16) -> bool {
        let word = usize::from(head) / 64;
        self.heads.get(word).is_some_and(|bits| bits & (1 << (head % 64)) != 0)
    }

    fn mark(&mut self, head: u16, live: bool) {
        if let Some(bits) = self.heads.get_mut(usize::from(head) / 64) {
            if live {
                *bits |= 1 << (head % 64);
            } else {
                *bits &= !(1 << (head % 64));
            }
        }
    }
}

const fn flags(device_writes: bool) -> u16 {
    if device_writes { DESCRIPTOR_WRITE } else { 0 }
}
