//! virtio-blk requests (virtio 1.2 §5.2.6): the header, the data and the
//! status byte of one descriptor chain, executed against the backend.
//!
//! Framing follows §2.6.4 ("Message Framing"): the device-readable bytes of
//! a chain form one stream (the 16-byte header, then write data), the
//! device-writable bytes another (read data, then the status byte as the very
//! last byte of the last descriptor), however the driver split them into
//! descriptors. Linux puts header, each data segment and status in separate
//! descriptors, every data segment a multiple of 512 bytes; only the total
//! data length must be a multiple of 512 here.

use crate::backend::{BlockBackend, RequestTag, Segment, Transfer};
use crate::config::{BlockConfig, SECTOR_BYTES, SERIAL_BYTES};
use crate::error::{DeviceError, Statistics, increment};
use crate::memory::GuestMemory;
use crate::queue::{Chain, Descriptor, MAX_QUEUE_SIZE, QueueLayout, walk_chain_into};

/// Request types (`virtio_blk_req.type`, §5.2.6).
pub mod request_type {
    /// `VIRTIO_BLK_T_IN`: read sectors.
    pub const IN: u32 = 0;
    /// `VIRTIO_BLK_T_OUT`: write sectors.
    pub const OUT: u32 = 1;
    /// `VIRTIO_BLK_T_FLUSH`: make written data durable.
    pub const FLUSH: u32 = 4;
    /// `VIRTIO_BLK_T_GET_ID`: the 20-byte serial number.
    pub const GET_ID: u32 = 8;
}

/// Status byte values (§5.2.6).
pub mod request_status {
    /// `VIRTIO_BLK_S_OK`.
    pub const OK: u8 = 0;
    /// `VIRTIO_BLK_S_IOERR`.
    pub const IO_ERROR: u8 = 1;
    /// `VIRTIO_BLK_S_UNSUPP`.
    pub const UNSUPPORTED: u8 = 2;
}

/// Bytes of the request header: `type`, `reserved`, `sector`.
pub const HEADER_BYTES: u64 = 16;

/// What became of one chain.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The status byte is written: return the chain with `used.len =
    /// written`. `error` says why the status is not `OK`.
    Completed { written: u32, error: Option<DeviceError> },
    /// The backend started the transfer and completes it later under the
    /// request's tag: then the device writes `OK` (or `IOERR`) at
    /// `status_address` and returns the chain with `used.len = written`
    /// (or 1 after a failure).
    Submitted { status_address: u64, written: u32 },
    /// The backend is full: leave the chain in the available ring.
    Busy,
    /// There is no status byte to trust: the device must stop.
    Broken(DeviceError),
}

/// How a checked request went.
enum Executed {
    /// Finished; the status is `OK`.
    Done,
    /// Started by the backend, to be completed later.
    Submitted,
    /// The backend is full.
    Busy,
}

/// What a request needs from the device and the caller.
pub(crate) struct Context<'a, M: ?Sized, B: ?Sized> {
    pub(crate) memory: &'a mut M,
    pub(crate) backend: &'a mut B,
    pub(crate) scratch: &'a mut [u8],
    pub(crate) config: &'a BlockConfig,
    pub(crate) statistics: &'a mut Statistics,
    /// The tag the request gets if the backend takes it asynchronously.
    pub(crate) tag: RequestTag,
    /// Whether the device has other requests in flight (so a busy backend
    /// will complete one and the chain can wait).
    pub(crate) others_in_flight: bool,
    /// Set to a data request's first sector (for a later error report).
    pub(crate) sector: u64,
}

/// Where a request is taken apart: the chain's descriptors and the data's
/// segments, kept by the device and reused (4 KiB each: building them
/// afresh on the stack for every request costs more than the request's own
/// checks, as zeroing).
#[derive(Clone, Debug)]
pub(crate) struct Workspace {
    chain: Chain,
    segments: Segments,
}

impl Workspace {
    pub(crate) const fn new() -> Self {
        Self { chain: Chain::empty(), segments: Segments::new() }
    }
}

/// Serves the chain at `head`.
pub(crate) fn serve<M, B>(context: &mut Context<'_, M, B>, queue: &QueueLayout, head: u16, workspace: &mut Workspace) -> Outcome
where
    M: GuestMemory,
    B: BlockBackend + ?Sized,
{
    let Workspace { chain, segments } = workspace;
    if let Err(error) = walk_chain_into(&*context.memory, queue, head, chain) {
        return Outcome::Broken(DeviceError::Chain(error));
    }
    // The status byte: the last byte of the last descriptor, which must be a
    // sound device-writable buffer of its own even if the rest is not.
    let Some(last) = chain.descriptors().last().copied().filter(|last| last.is_writable() && last.length > 0) else {
        return Outcome::Broken(DeviceError::MissingStatus { head });
    };
    if let Err(error) = last.check(&*context.memory) {
        return Outcome::Broken(DeviceError::Chain(error));
    }
    let Some(status_address) = last.end().and_then(|end| end.checked_sub(1)) else {
        return Outcome::Broken(DeviceError::MissingStatus { head });
    };

    let mut written = 0u64;
    let (status, error) = match chain.check(&*context.memory) {
        Err(error) => (request_status::IO_ERROR, Some(DeviceError::Chain(error))),
        Ok(()) => match execute(context, chain, segments, &mut written) {
            Ok(Executed::Done) => (request_status::OK, None),
            Ok(Executed::Submitted) => {
                let written = u32::try_from(written.saturating_add(1)).unwrap_or(u32::MAX);
                return Outcome::Submitted { status_address, written };
            }
            Ok(Executed::Busy) if context.others_in_flight => return Outcome::Busy,
            Ok(Executed::Busy) => (request_status::IO_ERROR, Some(DeviceError::BackendBusy { head })),
            Err(error @ DeviceError::Unsupported { .. }) => (request_status::UNSUPPORTED, Some(error)),
            Err(error) => (request_status::IO_ERROR, Some(error)),
        },
    };
    if status != request_status::OK {
        increment(&mut context.statistics.failed);
    }
    if context.memory.write(status_address, &[status]).is_err() {
        return Outcome::Broken(DeviceError::StatusUnwritable { address: status_address });
    }
    let written = u32::try_from(written.saturating_add(1)).unwrap_or(u32::MAX);
    Outcome::Completed { written, error }
}

/// Total length of some descriptors (at most 256 · 2^32, no overflow).
fn total(descriptors: &[Descriptor]) -> u64 {
    descriptors.iter().fold(0u64, |sum, descriptor| sum.saturating_add(u64::from(descriptor.length)))
}

/// Executes a checked chain; `written` counts data bytes stored into guest
/// buffers (the status byte not included), or to be stored by a submitted
/// transfer.
fn execute<M, B>(context: &mut Context<'_, M, B>, chain: &Chain, segments: &mut Segments, written: &mut u64) -> Result<Executed, DeviceError>
where
    M: GuestMemory,
    B: BlockBackend + ?Sized,
{
    let readable = total(chain.readable());
    // At least the status byte is writable (checked by `serve`).
    let data_in = total(chain.writable()).saturating_sub(1);
    let Some(data_out) = readable.checked_sub(HEADER_BYTES) else {
        return Err(DeviceError::HeaderTooShort { length: readable });
    };
    let mut source = Stream::new(chain.readable(), readable);
    let mut header = [0u8; HEADER_BYTES as usize];
    source.read(&*context.memory, &mut header)?;
    let [t0, t1, t2, t3, _, _, _, _, s0, s1, s2, s3, s4, s5, s6, s7] = header;
    let request = u32::from_le_bytes([t0, t1, t2, t3]);
    let sector = u64::from_le_bytes([s0, s1, s2, s3, s4, s5, s6, s7]);
    context.sector = sector;
    let mut sink = Stream::new(chain.writable(), data_in);

    match request {
        request_type::IN => {
            increment(&mut context.statistics.reads);
            if data_out != 0 {
                return Err(DeviceError::ReadIntoReadOnlyBuffer { length: data_out });
            }
            check_range(context, sector, data_in)?;
            if collect_segments(segments, chain.writable(), 0, data_in)
                && let Some(executed) = transfer_direct(context, false, sector, segments, data_in)?
            {
                if !matches!(executed, Executed::Busy) {
                    *written = data_in;
                }
                return Ok(executed);
            }
            read_sectors(context, sector, data_in, &mut sink, written).map(|()| Executed::Done)
        }
        request_type::OUT => {
            increment(&mut context.statistics.writes);
            if data_in != 0 {
                return Err(DeviceError::WriteFromWritableBuffer { length: data_in });
            }
            check_range(context, sector, data_out)?;
            if context.backend.read_only() {
                return Err(DeviceError::WriteToReadOnly { sector });
            }
            if source.segments(segments)
                && let Some(executed) = transfer_direct(context, true, sector, segments, data_out)?
            {
                return Ok(executed);
            }
            write_sectors(context, sector, data_out, &mut source).map(|()| Executed::Done)
        }
        request_type::FLUSH => {
            increment(&mut context.statistics.flushes);
            if data_in != 0 || data_out != 0 {
                return Err(DeviceError::UnexpectedData { request });
            }
            context.backend.flush().map(|()| Executed::Done).map_err(|error| DeviceError::Backend { error, sector: 0 })
        }
        request_type::GET_ID => {
            increment(&mut context.statistics.identifies);
            if data_out != 0 {
                return Err(DeviceError::UnexpectedData { request });
            }
            // §5.2.6: the serial is NUL-padded to 20 bytes, and truncated to
            // a shorter buffer.
            let serial = context.config.serial;
            let length = usize::try_from(data_in).unwrap_or(usize::MAX).min(SERIAL_BYTES);
            let part = serial.get(..length).unwrap_or(&serial);
            sink.write(context.memory, part)?;
            *written = part.len() as u64;
            Ok(Executed::Done)
        }
        _ => {
            increment(&mut context.statistics.unsupported);
            Err(DeviceError::Unsupported { request })
        }
    }
}

/// Offers the backend a direct transfer of `bytes` between the disk at
/// `sector` and the guest's `segments` (to the disk if `write`), counting
/// the bytes it takes; `None` when it declined (copy instead). A chain the
/// full backend turns away stays in the ring when a completion is due: its
/// request is counted when it is served, not each time it is offered.
fn transfer_direct<M, B>(context: &mut Context<'_, M, B>, write: bool, sector: u64, segments: &[Segment], bytes: u64) -> Result<Option<Executed>, DeviceError>
where
    M: GuestMemory,
    B: BlockBackend + ?Sized,
{
    let transfer =
        context.backend.transfer_guest(write, sector, segments, context.memory, context.tag).map_err(|error| DeviceError::Backend { error, sector })?;
    let statistics = &mut *context.statistics;
    let (requests, moved) = if write { (&mut statistics.writes, &mut statistics.bytes_written) } else { (&mut statistics.reads, &mut statistics.bytes_read) };
    let executed = match transfer {
        Transfer::Declined => return Ok(None),
        Transfer::Busy => {
            if context.others_in_flight {
                *requests = requests.saturating_sub(1);
            }
            return Ok(Some(Executed::Busy));
        }
        Transfer::Done => Executed::Done,
        Transfer::Submitted => Executed::Submitted,
    };
    *moved = moved.saturating_add(bytes);
    Ok(Some(executed))
}

/// A transfer of `length` bytes at `sector`: whole sectors, within the
/// request limit, inside the disk.
fn check_range<M: ?Sized, B: BlockBackend + ?Sized>(context: &Context<'_, M, B>, sector: u64, length: u64) -> Result<(), DeviceError> {
    if !length.is_multiple_of(SECTOR_BYTES) {
        return Err(DeviceError::UnalignedLength { length });
    }
    let maximum = context.config.max_request_bytes();
    if length > maximum {
        return Err(DeviceError::TooLarge { length, maximum });
    }
    let count = length / SECTOR_BYTES;
    let Some(end) = sector.checked_add(count) else {
        return Err(DeviceError::SectorOverflow { sector, length });
    };
    let capacity = context.backend.sectors();
    if end > capacity {
        return Err(DeviceError::SectorOutOfRange { sector, count, capacity });
    }
    Ok(())
}

/// Bytes per chunk: the scratch buffer rounded down to whole sectors.
fn chunk_bytes(scratch: &[u8]) -> Result<usize, DeviceError> {
    let chunk = scratch.len() - scratch.len() % SECTOR_BYTES as usize;
    if chunk == 0 {
        return Err(DeviceError::ScratchTooSmall { length: scratch.len() });
    }
    Ok(chunk)
}

/// Disk to guest, through the scratch buffer.
fn read_sectors<M, B>(context: &mut Context<'_, M, B>, sector: u64, length: u64, sink: &mut Stream<'_>, written: &mut u64) -> Result<(), DeviceError>
where
    M: GuestMemory,
    B: BlockBackend + ?Sized,
{
    if length == 0 {
        return Ok(());
    }
    let chunk = chunk_bytes(context.scratch)?;
    let mut done = 0u64;
    while let Some(remaining) = length.checked_sub(done).filter(|remaining| *remaining > 0) {
        let bytes = usize::try_from(remaining).unwrap_or(usize::MAX).min(chunk);
        // No overflow: `sector + length / 512` was checked.
        let at = sector.saturating_add(done / SECTOR_BYTES);
        let Some(buffer) = context.scratch.get_mut(..bytes) else {
            return Err(DeviceError::ScratchTooSmall { length: context.scratch.len() });
        };
        context.backend.read(at, buffer).map_err(|error| DeviceError::Backend { error, sector: at })?;
        sink.write(context.memory, buffer)?;
        done = done.saturating_add(bytes as u64);
        *written = done;
        context.statistics.bytes_read = context.statistics.bytes_read.saturating_add(bytes as u64);
    }
    Ok(())
}

/// Guest to disk, through the scratch buffer: each chunk is copied out of
/// guest memory once and written from the copy.
fn write_sectors<M, B>(context: &mut Context<'_, M, B>, sector: u64, length: u64, source: &mut Stream<'_>) -> Result<(), DeviceError>
where
    M: GuestMemory,
    B: BlockBackend + ?Sized,
{
    if length == 0 {
        return Ok(());
    }
    let chunk = chunk_bytes(context.scratch)?;
    let mut done = 0u64;
    while let Some(remaining) = length.checked_sub(done).filter(|remaining| *remaining > 0) {
        let bytes = usize::try_from(remaining).unwrap_or(usize::MAX).min(chunk);
        let at = sector.saturating_add(done / SECTOR_BYTES);
        let Some(buffer) = context.scratch.get_mut(..bytes) else {
            return Err(DeviceError::ScratchTooSmall { length: context.scratch.len() });
        };
        source.read(&*context.memory, buffer)?;
        context.backend.write(at, buffer).map_err(|error| DeviceError::Backend { error, sector: at })?;
        done = done.saturating_add(bytes as u64);
        context.statistics.bytes_written = context.statistics.bytes_written.saturating_add(bytes as u64);
    }
    Ok(())
}

/// A request's data as [`Segment`]s for a direct transfer (filled in place:
/// 4 KiB is not worth moving on every request).
type Segments = heapless::Vec<Segment, { MAX_QUEUE_SIZE as usize }>;

/// Fills `segments` with the first `limit` bytes of `descriptors`, from
/// `skip` bytes into the first: empty pieces dropped, the last cut short
/// where the limit ends (a read's status byte shares the last descriptor
/// when the driver did not give it one of its own). False if there is
/// nothing to move or the descriptors hold less than `limit`.
fn collect_segments(segments: &mut Segments, descriptors: &[Descriptor], skip: u32, limit: u64) -> bool {
    segments.clear();
    let mut remaining = limit;
    let mut skip = skip;
    for descriptor in descriptors {
        let available = descriptor.length.saturating_sub(skip);
        let Some(address) = descriptor.address.checked_add(u64::from(skip)) else {
            return false;
        };
        skip = 0;
        // At most `available`, a u32.
        let length = available.min(u32::try_from(remaining).unwrap_or(u32::MAX));
        if length == 0 {
            continue;
        }
        if segments.push(Segment { address, length }).is_err() {
            return false;
        }
        remaining -= u64::from(length);
    }
    remaining == 0 && !segments.is_empty()
}

/// A byte stream over consecutive descriptors, limited to `remaining` bytes.
struct Stream<'a> {
    descriptors: &'a [Descriptor],
    /// Bytes already consumed from `descriptors[0]`.
    offset: u32,
    remaining: u64,
}

impl<'a> Stream<'a> {
    fn new(descriptors: &'a [Descriptor], limit: u64) -> Self {
        Self { descriptors, offset: 0, remaining: limit }
    }

    /// The next piece of at most `wanted` bytes: its guest address and
    /// length. Skips exhausted (and zero-length) descriptors.
    fn next_piece(&mut self, wanted: usize) -> Result<(u64, usize), DeviceError> {
        loop {
            let (first, rest) = self.descriptors.split_first().ok_or(DeviceError::DataInaccessible { address: 0 })?;
            let available = first.length.saturating_sub(self.offset);
            if available == 0 {
                self.descriptors = rest;
                self.offset = 0;
                continue;
            }
            let address = first.address.saturating_add(u64::from(self.offset));
            let limit = u64::from(available).min(self.remaining);
            let bytes = usize::try_from(limit).unwrap_or(usize::MAX).min(wanted);
            if bytes == 0 {
                return Err(DeviceError::DataInaccessible { address });
            }
            return Ok((address, bytes));
        }
    }

    /// Fills `segments` with the rest of the stream, for a direct
    /// transfer; false if it cannot be.
    fn segments(&self, segments: &mut Segments) -> bool {
        collect_segments(segments, self.descriptors, self.offset, self.remaining)
    }

    fn advance(&mut self, bytes: usize) {
        // `bytes` is at most what `next_piece` offered: no overflow.
        let bytes32 = u32::try_from(bytes).unwrap_or(u32::MAX);
        self.offset = self.offset.saturating_add(bytes32);
        self.remaining = self.remaining.saturating_sub(bytes as u64);
    }

    /// Copies the next `buffer.len()` bytes of the stream out of guest
    /// memory.
    fn read<M: GuestMemory + ?Sized>(&mut self, memory: &M, buffer: &mut [u8]) -> Result<(), DeviceError> {
        let mut rest = buffer;
        while !rest.is_empty() {
            let (address, bytes) = self.next_piece(rest.len())?;
            let (piece, tail) = rest.split_at_mut(bytes.min(rest.len()));
            memory.read(address, piece).map_err(|_| DeviceError::DataInaccessible { address })?;
            self.advance(piece.len());
            rest = tail;
        }
        Ok(())
    }

    /// Copies `data` into the next `data.len()` bytes of the stream.
    fn write<M: GuestMemory + ?Sized>(&mut self, memory: &mut M, data: &[u8]) -> Result<(), DeviceError> {
        let mut rest = data;
        while !rest.is_empty() {
            let (address, bytes) = self.next_piece(rest.len())?;
            let (piece, tail) = rest.split_at(bytes.min(rest.len()));
            memory.write(address, piece).map_err(|_| DeviceError::DataInaccessible { address })?;
            self.advance(piece.len());
            rest = tail;
        }
        Ok(())
    }
}
