//! The disk behind the virtio-blk device: 512-byte sectors, read, write,
//! flush, and optionally transfers straight between the disk and guest
//! memory (DMA, scatter-gather) so a request's data is never copied by the
//! CPU.

use core::fmt;

use crate::memory::GuestMemory;

/// One piece of a request's data in guest memory: `length` bytes at
/// guest-physical `address`. The model hands a backend only pieces that
/// passed [`GuestMemory::contains`] and that the request's direction allows
/// (device-writable pieces for a read, device-readable for a write); none is
/// empty. `contains` may only probe a range's ends (its default does), so a
/// backend that hands segments to a device for DMA must check each one
/// exactly against guest RAM itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    /// Guest-physical address of the first byte.
    pub address: u64,
    /// Bytes, more than zero.
    pub length: u32,
}

impl Segment {
    /// One past the last byte (no overflow: the model checked the range).
    pub const fn end(&self) -> u64 {
        self.address.saturating_add(self.length as u64)
    }
}

/// Why the backing store failed a request. Each completes the request with
/// `VIRTIO_BLK_S_IOERR`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackendError {
    /// The medium failed (a controller error, a failed decryption, …).
    Io,
    /// The sector range is outside the disk (the model checks first, so this
    /// means the backend shrank underneath it).
    OutOfRange,
    /// The backend refuses writes.
    ReadOnly,
}

impl fmt::Display for BackendError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(match self {
            Self::Io => "I/O error",
            Self::OutOfRange => "sector range outside the disk",
            Self::ReadOnly => "disk is read-only",
        })
    }
}

/// Names one request a backend accepted for later completion
/// ([`Transfer::Submitted`]): the backend hands it back to
/// [`crate::VirtioBlock::complete`] when the transfer has finished. Opaque;
/// a tag from before a device reset is recognized and ignored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RequestTag(pub(crate) u32);

impl RequestTag {
    /// The tag as a number, for a backend to store.
    pub const fn to_bits(self) -> u32 {
        self.0
    }

    /// A tag from [`RequestTag::to_bits`].
    pub const fn from_bits(bits: u32) -> Self {
        Self(bits)
    }
}

/// What a backend did with a direct transfer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transfer {
    /// Not taken: the model copies through its scratch buffer with
    /// [`BlockBackend::read`] / [`BlockBackend::write`] instead.
    Declined,
    /// Finished: the data has moved.
    Done,
    /// Started: the backend calls [`crate::VirtioBlock::complete`] with the
    /// request's tag when it has finished, and until then leaves the
    /// segments to the device (the guest sees the request in flight).
    Submitted,
    /// Not now: the backend's queue is full. The model leaves the chain in
    /// the available ring and serves it again after the next completion;
    /// with nothing of this device in flight that would never come, so then
    /// the request fails instead.
    Busy,
}

/// Walks a request's [`Segment`]s in order, a piece at a time: for a
/// backend that moves a request in chunks smaller than the request.
#[derive(Clone, Debug)]
pub struct SegmentCursor<'a> {
    segments: &'a [Segment],
    /// Bytes of `segments[0]` already walked.
    offset: u32,
}

impl<'a> SegmentCursor<'a> {
    /// A cursor at the first byte of `segments`.
    pub const fn new(segments: &'a [Segment]) -> Self {
        Self { segments, offset: 0 }
    }

    /// Walks the next `bytes` bytes, calling `each` with every piece's
    /// guest address, its offset into those `bytes` and its length; a piece
    /// never spans two segments, so the pieces are whole sectors when
    /// `bytes` and every segment are. Fails with [`BackendError::Io`] if the
    /// segments end first (or one is empty), and with whatever `each`
    /// returns.
    pub fn pieces(&mut self, bytes: usize, mut each: impl FnMut(u64, usize, usize) -> Result<(), BackendError>) -> Result<(), BackendError> {
        let mut filled = 0usize;
        while filled < bytes {
            let (address, length) = self.next(bytes - filled).ok_or(BackendError::Io)?;
            each(address, filled, length)?;
            filled += length;
        }
        Ok(())
    }

    /// The next piece of at most `wanted` (> 0) bytes: its address and
    /// length; `None` at the end or at an empty segment.
    fn next(&mut self, wanted: usize) -> Option<(u64, usize)> {
        let (first, rest) = self.segments.split_first()?;
        let available = first.length.checked_sub(self.offset)?;
        let length = (available as usize).min(wanted);
        let address = first.address.checked_add(u64::from(self.offset))?;
        let advanced = self.offset.checked_add(u32::try_from(length).ok()?)?;
        if advanced == first.length {
            self.segments = rest;
            self.offset = 0;
        } else {
            self.offset = advanced;
        }
        (length > 0).then_some((address, length))
    }
}

/// A block device of 512-byte sectors.
pub trait BlockBackend {
    /// Capacity in 512-byte sectors.
    fn sectors(&self) -> u64;

    /// Whether writes are refused; offered to the driver as
    /// `VIRTIO_BLK_F_RO`.
    fn read_only(&self) -> bool {
        false
    }

    /// Reads `buffer.len() / 512` sectors starting at `sector`. The caller
    /// guarantees that `buffer.len()` is a non-zero multiple of 512 and that
    /// `sector + buffer.len() / 512 <= sectors()`.
    fn read(&mut self, sector: u64, buffer: &mut [u8]) -> Result<(), BackendError>;

    /// Writes `data` at `sector`, with the same guarantees as
    /// [`BlockBackend::read`].
    fn write(&mut self, sector: u64, data: &[u8]) -> Result<(), BackendError>;

    /// Returns only when everything written so far is durable.
    fn flush(&mut self) -> Result<(), BackendError>;

    /// Moves sectors from `sector` on straight between the disk and the
    /// guest's `segments`, in order: writes the segments to the disk if
    /// `write`, else reads the disk into them (their lengths add up to a
    /// non-zero multiple of 512; the range is checked as for
    /// [`BlockBackend::read`]). A backend that moves data by DMA ignores
    /// `memory`; one that copies uses it. It may finish the transfer now
    /// ([`Transfer::Done`]), start it and report back later with `tag`
    /// ([`Transfer::Submitted`]), be full ([`Transfer::Busy`]) or decline
    /// ([`Transfer::Declined`], the default: the model then copies through
    /// its scratch buffer with [`BlockBackend::read`] or
    /// [`BlockBackend::write`]). After a failed read the segments may hold
    /// part of the data.
    fn transfer_guest(
        &mut self,
        _write: bool,
        _sector: u64,
        _segments: &[Segment],
        _memory: &mut dyn GuestMemory,
        _tag: RequestTag,
    ) -> Result<Transfer, BackendError> {
        Ok(Transfer::Declined)
    }
}

/// Forwarding through `&mut`, so a backend borrowed for one call can be
/// passed by value.
impl<B: BlockBackend + ?Sized> BlockBackend for &mut B {
    fn sectors(&self) -> u64 {
        (**self).sectors()
    }

    fn read_only(&self) -> bool {
        (**self).read_only()
    }

    fn read(&mut self, sector: u64, buffer: &mut [u8]) -> Result<(), BackendError> {
        (**self).read(sector, buffer)
    }

    fn write(&mut self, sector: u64, data: &[u8]) -> Result<(), BackendError> {
        (**self).write(sector, data)
    }

    fn flush(&mut self) -> Result<(), BackendError> {
        (**self).flush()
    }

    fn transfer_guest(
        &mut self,
        write: bool,
        sector: u64,
        segments: &[Segment],
        memory: &mut dyn GuestMemory,
        tag: RequestTag,
    ) -> Result<Transfer, BackendError> {
        (**self).transfer_guest(write, sector, segments, memory, tag)
    }
}
