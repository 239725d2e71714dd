//! Split virtqueues (virtio 1.2 §2.7): the queue layout a driver configured,
//! and descriptor chains copied out of guest memory and checked.
//!
//! [`parse_chain`] copies each descriptor out of the guest's table exactly
//! once and checks the copy; everything after it works on the returned
//! [`Chain`] only, never on the table again.

use core::fmt;

use heapless::Vec;

use crate::memory::{GuestMemory, MemoryError, read_u16};

/// Largest queue this crate supports; also the capacity of a [`Chain`].
pub const MAX_QUEUE_SIZE: u16 = 256;

/// Bytes of one descriptor (`struct virtq_desc`, §2.7.5).
const DESCRIPTOR_BYTES: u64 = 16;
/// `VIRTQ_DESC_F_NEXT`: the chain continues at `next`.
const DESCRIPTOR_NEXT: u16 = 1;
/// `VIRTQ_DESC_F_WRITE`: the buffer is device-writable.
const DESCRIPTOR_WRITE: u16 = 2;
/// `VIRTQ_DESC_F_INDIRECT`: the buffer is a table of descriptors.
const DESCRIPTOR_INDIRECT: u16 = 4;
/// `VIRTQ_AVAIL_F_NO_INTERRUPT` in `avail.flags` (§2.7.7).
pub(crate) const AVAILABLE_NO_INTERRUPT: u16 = 1;

/// Which of the three areas of a split virtqueue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RingPart {
    /// The descriptor table (`QueueDesc`).
    Descriptors,
    /// The available ring (`QueueDriver`).
    Available,
    /// The used ring (`QueueDevice`).
    Used,
}

impl RingPart {
    /// Alignment the spec requires of the area (§2.7, "Virtqueue Part
    /// Alignment").
    pub const fn alignment(self) -> u64 {
        match self {
            Self::Descriptors => 16,
            Self::Available => 2,
            Self::Used => 4,
        }
    }

    /// Size in bytes of the area for a queue of `size` entries (§2.7):
    /// 16·size, 6 + 2·size and 6 + 8·size.
    pub const fn bytes(self, size: u16) -> u64 {
        let size = size as u64;
        match self {
            Self::Descriptors => DESCRIPTOR_BYTES * size,
            Self::Available => 6 + 2 * size,
            Self::Used => 6 + 8 * size,
        }
    }
}

impl fmt::Display for RingPart {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(match self {
            Self::Descriptors => "descriptor table",
            Self::Available => "available ring",
            Self::Used => "used ring",
        })
    }
}

/// Why a driver's queue configuration is unusable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueueError {
    /// `QueueNum` is zero, not a power of two, or above `QueueNumMax`.
    InvalidSize {
        /// The size the driver wrote.
        size: u32,
        /// `QueueNumMax`.
        maximum: u16,
    },
    /// An area is not aligned as §2.7 requires.
    Misaligned {
        /// Which area.
        part: RingPart,
        /// Its guest-physical address.
        address: u64,
    },
    /// An area's end overflows the address space or lies outside guest RAM.
    OutsideMemory {
        /// Which area.
        part: RingPart,
        /// Its guest-physical address.
        address: u64,
    },
}

impl fmt::Display for QueueError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::InvalidSize { size, maximum } => write!(formatter, "queue size {size} is not a power of two between 1 and {maximum}"),
            Self::Misaligned { part, address } => write!(formatter, "{part} at {address:#x} not aligned to {} bytes", part.alignment()),
            Self::OutsideMemory { part, address } => {
                write!(formatter, "{part} at {address:#x} outside guest RAM")
            }
        }
    }
}

/// A split virtqueue as configured by the driver: checked sizes and
/// alignments, areas that do not overflow the address space.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueueLayout {
    size: u16,
    descriptors: u64,
    available: u64,
    used: u64,
}

impl QueueLayout {
    /// Checks a queue of `size` entries (a power of two no larger than
    /// `maximum`, itself at most [`MAX_QUEUE_SIZE`]) with its three areas at
    /// the given guest-physical addresses. Containment in guest RAM is
    /// checked separately by [`QueueLayout::check_memory`].
    pub fn new(size: u32, maximum: u16, descriptors: u64, available: u64, used: u64) -> Result<Self, QueueError> {
        let maximum = maximum.min(MAX_QUEUE_SIZE);
        let Some(size) = u16::try_from(size).ok().filter(|size| size.is_power_of_two() && *size <= maximum) else {
            return Err(QueueError::InvalidSize { size, maximum });
        };
        let layout = Self { size, descriptors, available, used };
        for (part, address) in layout.parts() {
            if !address.is_multiple_of(part.alignment()) {
                return Err(QueueError::Misaligned { part, address });
            }
            if address.checked_add(part.bytes(size)).is_none() {
                return Err(QueueError::OutsideMemory { part, address });
            }
        }
        Ok(layout)
    }

    /// Checks that all three areas lie inside guest RAM.
    pub fn check_memory<M: GuestMemory + ?Sized>(&self, memory: &M) -> Result<(), QueueError> {
        for (part, address) in self.parts() {
            if !memory.contains(address, part.bytes(self.size)) {
                return Err(QueueError::OutsideMemory { part, address });
            }
        }
        Ok(())
    }

    /// Number of entries.
    pub const fn size(&self) -> u16 {
        self.size
    }

    /// Guest-physical address of the descriptor table.
    pub const fn descriptors(&self) -> u64 {
        self.descriptors
    }

    /// Guest-physical address of the available ring.
    pub const fn available(&self) -> u64 {
        self.available
    }

    /// Guest-physical address of the used ring.
    pub const fn used(&self) -> u64 {
        self.used
    }

    fn parts(&self) -> [(RingPart, u64); 3] {
        [(RingPart::Descriptors, self.descriptors), (RingPart::Available, self.available), (RingPart::Used, self.used)]
    }

    /// Slot of ring position `index` (ring indices run freely modulo 2^16,
    /// the queue size is a power of two dividing 2^16).
    const fn slot(&self, index: u16) -> u64 {
        (index & self.size.wrapping_sub(1)) as u64
    }

    /// `avail.flags` and `avail.idx`, read in one copy.
    pub(crate) fn read_available_header<M: GuestMemory + ?Sized>(&self, memory: &M) -> Result<(u16, u16), MemoryError> {
        let mut header = [0u8; 4];
        memory.read(self.available, &mut header)?;
        let [flags_low, flags_high, index_low, index_high] = header;
        Ok((u16::from_le_bytes([flags_low, flags_high]), u16::from_le_bytes([index_low, index_high])))
    }

    /// `avail.flags` alone.
    pub(crate) fn read_available_flags<M: GuestMemory + ?Sized>(&self, memory: &M) -> Result<u16, MemoryError> {
        read_u16(memory, self.available)
    }

    /// `avail.ring[index mod size]`: the head of a chain.
    pub(crate) fn read_available_entry<M: GuestMemory + ?Sized>(&self, memory: &M, index: u16) -> Result<u16, MemoryError> {
        // In range: 4 + 2·slot < 6 + 2·size, checked by `new`.
        read_u16(memory, self.available.wrapping_add(4).wrapping_add(2 * self.slot(index)))
    }

    /// Writes `used.ring[index mod size] = { id, len }`.
    pub(crate) fn write_used_element<M: GuestMemory + ?Sized>(&self, memory: &mut M, index: u16, id: u16, length: u32) -> Result<(), MemoryError> {
        let mut element = [0u8; 8];
        let (id_bytes, length_bytes) = element.split_at_mut(4);
        id_bytes.copy_from_slice(&u32::from(id).to_le_bytes());
        length_bytes.copy_from_slice(&length.to_le_bytes());
        // In range: 4 + 8·slot < 6 + 8·size, checked by `new`.
        memory.write(self.used.wrapping_add(4).wrapping_add(8 * self.slot(index)), &element)
    }

    /// Publishes `used.idx`.
    pub(crate) fn write_used_index<M: GuestMemory + ?Sized>(&self, memory: &mut M, index: u16) -> Result<(), MemoryError> {
        memory.write(self.used.wrapping_add(2), &index.to_le_bytes())
    }
}

/// One descriptor, copied out of guest memory (§2.7.5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Descriptor {
    /// Guest-physical address of the buffer.
    pub address: u64,
    /// Length of the buffer in bytes.
    pub length: u32,
    /// The raw `flags` field.
    pub flags: u16,
    /// Its index in the descriptor table.
    pub index: u16,
}

impl Descriptor {
    /// Whether the buffer is device-writable (`VIRTQ_DESC_F_WRITE`).
    pub const fn is_writable(&self) -> bool {
        self.flags & DESCRIPTOR_WRITE != 0
    }

    /// Whether the descriptor points at an indirect table.
    pub const fn is_indirect(&self) -> bool {
        self.flags & DESCRIPTOR_INDIRECT != 0
    }

    /// One past the last byte of the buffer, if that does not overflow.
    pub const fn end(&self) -> Option<u64> {
        self.address.checked_add(self.length as u64)
    }

    /// Checks the buffer on its own: not indirect, no overflow, inside guest
    /// RAM.
    pub fn check<M: GuestMemory + ?Sized>(&self, memory: &M) -> Result<(), ChainError> {
        let (index, address, length) = (self.index, self.address, self.length);
        if self.is_indirect() {
            return Err(ChainError::Indirect { index });
        }
        if self.end().is_none() {
            return Err(ChainError::AddressOverflow { index, address, length });
        }
        if !memory.contains(address, u64::from(length)) {
            return Err(ChainError::OutsideMemory { index, address, length });
        }
        Ok(())
    }
}

/// Why a descriptor chain is unusable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChainError {
    /// The head index from the available ring is not below the queue size.
    HeadOutOfRange {
        /// The head.
        head: u16,
        /// The queue size.
        size: u16,
    },
    /// A `next` field is not below the queue size.
    NextOutOfRange {
        /// The descriptor whose `next` it is.
        index: u16,
        /// The `next` value.
        next: u16,
        /// The queue size.
        size: u16,
    },
    /// The chain has more descriptors than the queue has entries: it loops.
    TooLong {
        /// The queue size.
        size: u16,
    },
    /// A descriptor could not be read from the descriptor table.
    DescriptorUnreadable {
        /// The descriptor's index.
        index: u16,
    },
    /// A descriptor has `VIRTQ_DESC_F_INDIRECT`, which was not negotiated.
    Indirect {
        /// The descriptor's index.
        index: u16,
    },
    /// `address + length` overflows the address space.
    AddressOverflow {
        /// The descriptor's index.
        index: u16,
        /// Its address.
        address: u64,
        /// Its length.
        length: u32,
    },
    /// The buffer is not inside guest RAM.
    OutsideMemory {
        /// The descriptor's index.
        index: u16,
        /// Its address.
        address: u64,
        /// Its length.
        length: u32,
    },
    /// A device-readable descriptor follows a device-writable one (§2.7.4.2:
    /// all readable descriptors come first).
    ReadableAfterWritable {
        /// The readable descriptor's index.
        index: u16,
    },
}

impl ChainError {
    /// Whether the chain's structure itself is broken (the table cannot be
    /// walked), so that not even its last descriptor can be trusted. The
    /// other errors are about one buffer of an otherwise well-formed chain.
    pub const fn is_structural(&self) -> bool {
        matches!(self, Self::HeadOutOfRange { .. } | Self::NextOutOfRange { .. } | Self::TooLong { .. } | Self::DescriptorUnreadable { .. })
    }
}

impl fmt::Display for ChainError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::HeadOutOfRange { head, size } => {
                write!(formatter, "descriptor {head} beyond queue size {size}")
            }
            Self::NextOutOfRange { index, next, size } => write!(formatter, "descriptor {index} chains to {next}, beyond queue size {size}"),
            Self::TooLong { size } => write!(formatter, "descriptor chain longer than the queue size {size} (a loop)"),
            Self::DescriptorUnreadable { index } => {
                write!(formatter, "descriptor {index} outside guest RAM")
            }
            Self::Indirect { index } => write!(formatter, "descriptor {index} is indirect, which was not negotiated"),
            Self::AddressOverflow { index, address, length } => write!(formatter, "descriptor {index} buffer {address:#x} + {length:#x} overflows"),
            Self::OutsideMemory { index, address, length } => write!(formatter, "descriptor {index} buffer {address:#x} + {length:#x} outside guest RAM"),
            Self::ReadableAfterWritable { index } => write!(formatter, "device-readable descriptor {index} after a device-writable one"),
        }
    }
}

/// A descriptor chain copied out of guest memory, at most
/// [`MAX_QUEUE_SIZE`] descriptors (4 KiB on the stack).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chain {
    head: u16,
    descriptors: Vec<Descriptor, { MAX_QUEUE_SIZE as usize }>,
    /// Position of the first device-writable descriptor (the length if
    /// none), found while walking: the request code splits the chain there
    /// several times.
    first_writable: u16,
}

impl Chain {
    /// The head index, which identifies the chain in the used ring.
    pub const fn head(&self) -> u16 {
        self.head
    }

    /// The descriptors in chain order.
    pub fn descriptors(&self) -> &[Descriptor] {
        &self.descriptors
    }

    /// The device-readable descriptors (all come first).
    pub fn readable(&self) -> &[Descriptor] {
        self.descriptors.split_at(self.first_writable()).0
    }

    /// The device-writable descriptors (all come last).
    pub fn writable(&self) -> &[Descriptor] {
        self.descriptors.split_at(self.first_writable()).1
    }

    fn first_writable(&self) -> usize {
        usize::from(self.first_writable).min(self.descriptors.len())
    }

    /// Checks every buffer of a walked chain: no indirect descriptors, no
    /// overflow, inside guest RAM, readable before writable.
    pub fn check<M: GuestMemory + ?Sized>(&self, memory: &M) -> Result<(), ChainError> {
        let mut writable_seen = false;
        for descriptor in &self.descriptors {
            descriptor.check(memory)?;
            if descriptor.is_writable() {
                writable_seen = true;
            } else if writable_seen {
                return Err(ChainError::ReadableAfterWritable { index: descriptor.index });
            }
        }
        Ok(())
    }
}

/// Follows the chain starting at `head` through the descriptor table,
/// copying each descriptor once: indices below the queue size, at most
/// queue-size descriptors (which catches loops). Buffers are not checked; see
/// [`Chain::check`].
pub fn walk_chain<M: GuestMemory + ?Sized>(memory: &M, queue: &QueueLayout, head: u16) -> Result<Chain, ChainError> {
    let mut chain = Chain::empty();
    walk_chain_into(memory, queue, head, &mut chain)?;
    Ok(chain)
}

impl Chain {
    /// A chain of no descriptors, to walk into.
    pub(crate) const fn empty() -> Self {
        Self { head: 0, descriptors: Vec::new(), first_writable: 0 }
    }
}

/// [`walk_chain`] into `chain` (emptied first), which the device model
/// keeps on its stack rather than moving 4 KiB through a return value.
pub(crate) fn walk_chain_into<M: GuestMemory + ?Sized>(memory: &M, queue: &QueueLayout, head: u16, chain: &mut Chain) -> Result<(), ChainError> {
    let size = queue.size();
    chain.head = head;
    chain.descriptors.clear();
    chain.first_writable = u16::MAX;
    if head >= size {
        return Err(ChainError::HeadOutOfRange { head, size });
    }
    let mut index = head;
    loop {
        if chain.descriptors.len() >= usize::from(size) {
            return Err(ChainError::TooLong { size });
        }
        let mut raw = [0u8; DESCRIPTOR_BYTES as usize];
        // In range: index < size and the table spans 16·size bytes, checked
        // by `QueueLayout::new`.
        let address = queue.descriptors().wrapping_add(DESCRIPTOR_BYTES * u64::from(index));
        memory.read(address, &mut raw).map_err(|_| ChainError::DescriptorUnreadable { index })?;
        // struct virtq_desc, little-endian: addr (u64), len (u32), flags
        // (u16), next (u16). One 128-bit value: the fields come out as
        // shifts of two words rather than sixteen bytes reassembled.
        let raw = u128::from_le_bytes(raw);
        let descriptor = Descriptor { address: raw as u64, length: (raw >> 64) as u32, flags: (raw >> 96) as u16, index };
        let next = (raw >> 112) as u16;
        let position = chain.descriptors.len() as u16;
        if chain.descriptors.push(descriptor).is_err() {
            // Unreachable: the length check above bounds the chain by the
            // queue size, at most the capacity.
            return Err(ChainError::TooLong { size });
        }
        if descriptor.is_writable() && chain.first_writable == u16::MAX {
            chain.first_writable = position;
        }
        if descriptor.flags & DESCRIPTOR_NEXT == 0 {
            return Ok(());
        }
        if next >= size {
            return Err(ChainError::NextOutOfRange { index, next, size });
        }
        index = next;
    }
}

/// Walks and checks the chain at `head`: [`walk_chain`] then
/// [`Chain::check`]. An `Ok` chain has at most `queue.size()` descriptors,
/// all with indices below it, none indirect, every buffer inside guest RAM,
/// and its readable descriptors before its writable ones.
pub fn parse_chain<M: GuestMemory + ?Sized>(memory: &M, queue: &QueueLayout, head: u16) -> Result<Chain, ChainError> {
    let chain = walk_chain(memory, queue, head)?;
    chain.check(memory)?;
    Ok(chain)
}
