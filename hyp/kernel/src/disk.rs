//! The physical disk and entropy source on virtio-mmio boards, driven with
//! the `virtio-drivers` crate (polling, no interrupts): Janus probes the
//! board's virtio-mmio windows once at boot, keeps the block device behind
//! a fair (ticket) lock so neither personality can starve the other's I/O,
//! and reads random bytes from a virtio-rng device for key generation.
//!
//! Janus' stage-1 map is the identity, so a buffer's address is its
//! physical address and DMA needs no translation; QEMU's virtio devices are
//! cache coherent, so no cache maintenance either.

use core::mem::ManuallyDrop;
use core::ptr::NonNull;

use janus_platform::StorageDescription;
use spin::Mutex;
use spin::mutex::TicketMutex;
use janus_virtio::Segment;
use virtio_drivers::device::rng::VirtIORng;
use virtio_drivers::queue::VirtQueue;
use virtio_drivers::transport::mmio::{MmioTransport, VirtIOHeader};
use virtio_drivers::transport::{DeviceStatus, DeviceType, Transport};
use virtio_drivers::{BufferDirection, Hal, PhysAddr};

/// Bytes per sector.
pub const SECTOR: usize = 512;
const PAGE: usize = 4096;
/// DMA memory for the physical devices' queues (allocated once, at boot).
const DMA_PAGES: usize = 24;

#[repr(C, align(4096))]
struct DmaArena([u8; DMA_PAGES * PAGE]);

static mut DMA_ARENA: DmaArena = DmaArena([0; DMA_PAGES * PAGE]);
/// Pages of [`DMA_ARENA`] handed out so far.
static DMA_NEXT: Mutex<usize> = Mutex::new(0);

/// The `virtio-drivers` platform layer: identity-mapped, coherent DMA.
pub struct JanusHal;

// SAFETY: dma_alloc hands out zeroed, page-aligned, never-reused pages of a
// static arena that nothing else touches; physical equals virtual (identity
// map) for the arena, MMIO windows and shared buffers alike.
unsafe impl Hal for JanusHal {
    fn dma_alloc(pages: usize, _direction: BufferDirection) -> (PhysAddr, NonNull<u8>) {
        let mut next = DMA_NEXT.lock();
        let end = next.checked_add(pages).filter(|&end| end <= DMA_PAGES);
        let Some(end) = end else {
            // virtio-drivers treats a null-sized failure as fatal; its
            // queue set-up asks for a bounded, known amount (see DMA_PAGES).
            return (0, NonNull::dangling());
        };
        let offset = *next * PAGE;
        *next = end;
        // SAFETY: [offset, offset + pages * PAGE) lies inside the arena and
        // is handed out exactly once (DMA_NEXT only grows).
        let pointer = unsafe { core::ptr::addr_of_mut!(DMA_ARENA.0).cast::<u8>().add(offset) };
        // SAFETY: as above; the arena starts zeroed and is never reused.
        unsafe { core::ptr::write_bytes(pointer, 0, pages * PAGE) };
        let address = pointer as u64;
        (address, NonNull::new(pointer).unwrap_or(NonNull::dangling()))
    }

    unsafe fn dma_dealloc(_paddr: PhysAddr, _vaddr: NonNull<u8>, _pages: usize) -> i32 {
        // Devices live for as long as Janus does.
        0
    }

    unsafe fn mmio_phys_to_virt(paddr: PhysAddr, _size: usize) -> NonNull<u8> {
        NonNull::new(paddr as *mut u8).unwrap_or(NonNull::dangling())
    }

    unsafe fn share(buffer: NonNull<[u8]>, _direction: BufferDirection) -> PhysAddr {
        buffer.as_ptr().cast::<u8>() as u64
    }

    unsafe fn unshare(_paddr: PhysAddr, _buffer: NonNull<[u8]>, _direction: BufferDirection) {}
}

type Transport0 = MmioTransport<'static>;

/// Entries of the physical request queue: one guest request of a header,
/// [`MAX_SEGMENTS`] data buffers and a status byte fits in one physical
/// request, with no indirect descriptors.
const QUEUE_SIZE: usize = 256;
/// Most data buffers one physical request carries.
pub const MAX_SEGMENTS: usize = QUEUE_SIZE - 2;
/// The request queue's index.
const QUEUE: u16 = 0;
/// The longest buffer a scatter-gather request carries.
pub const MAX_SEGMENT_BYTES: usize = 1024 * 1024;

bitflags::bitflags! {
    /// The virtio-blk features Janus uses (virtio 1.2 §5.2.3).
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    struct Features: u64 {
        /// `VIRTIO_BLK_F_SIZE_MAX`: a limit on each buffer's length.
        const SIZE_MAX = 1 << 1;
        /// `VIRTIO_BLK_F_SEG_MAX`: a limit on buffers per request.
        const SEG_MAX = 1 << 2;
        /// `VIRTIO_BLK_F_RO`: read-only disk.
        const RO = 1 << 5;
        /// `VIRTIO_BLK_F_FLUSH`: the FLUSH request.
        const FLUSH = 1 << 9;
        /// `VIRTIO_F_VERSION_1`.
        const VERSION_1 = 1 << 32;
    }
}

/// Request types (virtio 1.2 §5.2.6).
const REQUEST_IN: u32 = 0;
const REQUEST_OUT: u32 = 1;
const REQUEST_FLUSH: u32 = 4;

/// Janus' physical disk: a virtio-blk device driven through
/// `virtio-drivers`' transport and queue, one request at a time (the caller
/// holds [`DISK`]), each request carrying every buffer it moves, so a guest
/// request scattered over many pages is one physical request whose data
/// the device moves by DMA.
pub struct Disk {
    transport: Transport0,
    queue: VirtQueue<JanusHal, QUEUE_SIZE>,
    sectors: u64,
    flush: bool,
    /// Requests of up to MAX_SEGMENTS buffers of MAX_SEGMENT_BYTES each fit
    /// the device's limits.
    scatter_gather: bool,
    /// The device misbehaved and was reset: every request fails.
    broken: bool,
}

/// A physical I/O failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DiskError {
    /// The request reaches past the end of the disk.
    OutOfRange,
    /// The buffer is not a whole number of sectors.
    Unaligned,
    /// More buffers than one request carries.
    TooManySegments,
    /// The device reported an error or misbehaved.
    Device,
}

impl Disk {
    /// Initializes the block device behind `transport` (boot core, once).
    fn new(mut transport: Transport0) -> Result<Self, virtio_drivers::Error> {
        let wanted = Features::RO | Features::FLUSH | Features::SIZE_MAX | Features::SEG_MAX | Features::VERSION_1;
        let features = transport.begin_init(wanted);
        // struct virtio_blk_config: capacity (u64 sectors) at 0, size_max
        // (u32) at 8, seg_max (u32) at 12.
        let (sectors, size_max, seg_max) = transport.read_consistent(|| {
            let low = transport.read_config_space::<u32>(0)?;
            let high = transport.read_config_space::<u32>(4)?;
            Ok((u64::from(low) | (u64::from(high) << 32), transport.read_config_space::<u32>(8)?, transport.read_config_space::<u32>(12)?))
        })?;
        let queue = VirtQueue::new(&mut transport, QUEUE, false, false)?;
        transport.finish_init();
        // Janus' scatter-gather requests carry up to MAX_SEGMENTS buffers of
        // up to 1 MiB; a device that says it takes less gets single-buffer
        // requests only (the copy path).
        let segments_fit = !features.contains(Features::SEG_MAX) || seg_max as usize >= MAX_SEGMENTS;
        let sizes_fit = !features.contains(Features::SIZE_MAX) || size_max as usize >= MAX_SEGMENT_BYTES;
        Ok(Self { transport, queue, sectors, flush: features.contains(Features::FLUSH), scatter_gather: segments_fit && sizes_fit, broken: false })
    }

    /// Whether the device takes Janus' scatter-gather requests.
    pub const fn scatter_gather(&self) -> bool {
        self.scatter_gather
    }

    fn check(&self, sector: u64, length: u64) -> Result<(), DiskError> {
        if length == 0 || !length.is_multiple_of(SECTOR as u64) {
            return Err(DiskError::Unaligned);
        }
        let count = length / SECTOR as u64;
        match sector.checked_add(count) {
            Some(end) if end <= self.sectors => Ok(()),
            _ => Err(DiskError::OutOfRange),
        }
    }

    /// Reads whole sectors starting at `sector`.
    pub fn read(&mut self, sector: u64, buffer: &mut [u8]) -> Result<(), DiskError> {
        let length = u32::try_from(buffer.len()).map_err(|_| DiskError::OutOfRange)?;
        let segment = Segment { address: buffer.as_mut_ptr() as u64, length };
        // SAFETY: `buffer` is Janus memory, exclusively borrowed for the
        // whole (synchronous) request.
        unsafe { self.transfer(false, sector, &[segment]) }
    }

    /// Writes whole sectors starting at `sector`.
    pub fn write(&mut self, sector: u64, data: &[u8]) -> Result<(), DiskError> {
        let length = u32::try_from(data.len()).map_err(|_| DiskError::OutOfRange)?;
        let segment = Segment { address: data.as_ptr() as u64, length };
        // SAFETY: `data` is Janus memory, borrowed for the whole request,
        // and the device only reads it.
        unsafe { self.transfer(true, sector, &[segment]) }
    }

    /// Moves the sectors from `sector` on between the disk and `segments`
    /// (physical memory, in order; their lengths add up to whole sectors)
    /// in one request: a write if `write`, else a read. Returns when the
    /// device has finished.
    ///
    /// # Safety
    ///
    /// Every segment must be identity-mapped normal memory that nothing else
    /// in Janus uses during the call and, for a read, that the device may
    /// overwrite: Janus' own buffers, or guest RAM of the requesting
    /// personality, checked to lie inside it.
    pub unsafe fn transfer(&mut self, write: bool, sector: u64, segments: &[Segment]) -> Result<(), DiskError> {
        if segments.len() > MAX_SEGMENTS {
            return Err(DiskError::TooManySegments);
        }
        let length = segments.iter().fold(0u64, |sum, segment| sum.saturating_add(u64::from(segment.length)));
        self.check(sector, length)?;
        let kind = if write { REQUEST_OUT } else { REQUEST_IN };
        // SAFETY: forwarded from the caller.
        unsafe { self.request(kind, sector, segments, !write) }
    }

    /// Returns once everything written so far is on the medium.
    pub fn flush(&mut self) -> Result<(), DiskError> {
        if !self.flush {
            return Ok(());
        }
        // SAFETY: no data buffers.
        unsafe { self.request(REQUEST_FLUSH, 0, &[], false) }
    }

    /// One request: header, `segments` (device-writable if `into_memory`),
    /// status; notify, wait, check the status.
    ///
    /// # Safety
    ///
    /// As for [`Disk::transfer`].
    unsafe fn request(&mut self, kind: u32, sector: u64, segments: &[Segment], into_memory: bool) -> Result<(), DiskError> {
        if self.broken {
            return Err(DiskError::Device);
        }
        let mut header = [0u8; 16];
        let (kind_bytes, rest) = header.split_at_mut(4);
        kind_bytes.copy_from_slice(&kind.to_le_bytes());
        if let Some(sector_bytes) = rest.get_mut(4..12) {
            sector_bytes.copy_from_slice(&sector.to_le_bytes());
        }
        let mut status = [0xffu8; 1];
        // Built in place, not initialized: 8 KiB is not worth writing on
        // every request. Only references inside, nothing to drop (and no
        // drop to keep `status` borrowed past the request).
        let mut inputs: ManuallyDrop<heapless::Vec<&[u8], QUEUE_SIZE>> = ManuallyDrop::new(heapless::Vec::new());
        let mut outputs: ManuallyDrop<heapless::Vec<&mut [u8], QUEUE_SIZE>> = ManuallyDrop::new(heapless::Vec::new());
        inputs.push(&header[..]).map_err(|_| DiskError::TooManySegments)?;
        for segment in segments.iter().filter(|segment| segment.length > 0) {
            let Ok(length) = usize::try_from(segment.length) else { return Err(DiskError::OutOfRange) };
            let address = segment.address as *mut u8;
            if into_memory {
                // SAFETY: the caller guarantees the span is memory the
                // device may overwrite and nothing else uses meanwhile. The
                // slice only carries the address and length to the queue;
                // the CPU never reads or writes through it.
                let slice = unsafe { core::slice::from_raw_parts_mut(address, length) };
                outputs.push(slice).map_err(|_| DiskError::TooManySegments)?;
            } else {
                // SAFETY: as above; the device only reads it.
                let slice = unsafe { core::slice::from_raw_parts(address, length) };
                inputs.push(slice).map_err(|_| DiskError::TooManySegments)?;
            }
        }
        outputs.push(&mut status[..]).map_err(|_| DiskError::TooManySegments)?;
        let (inputs, outputs) = (inputs.as_slice(), outputs.as_mut_slice());
        // SAFETY: every buffer stays valid and untouched by Janus until
        // `pop_used` returns it below (the header and status live on this
        // stack frame, the segments per the caller's contract).
        let token = unsafe { self.queue.add(inputs, outputs) }.map_err(|_| DiskError::Device)?;
        if self.queue.should_notify() {
            self.transport.notify(QUEUE);
        }
        while !self.queue.can_pop() {
            core::hint::spin_loop();
        }
        // SAFETY: the same buffers as were added for `token`.
        if unsafe { self.queue.pop_used(token, inputs, outputs) }.is_err() {
            // The device returned another request than the only one in
            // flight: reset it so it lets go of this frame's buffers, and
            // fail everything from now on.
            self.transport.set_status(DeviceStatus::empty());
            self.broken = true;
            return Err(DiskError::Device);
        }
        if status == [0] { Ok(()) } else { Err(DiskError::Device) }
    }
}

/// The physical disk, once probed. A ticket lock: cores waiting for the
/// disk are served in arrival order, so a personality that floods its
/// queue waits its turn like everyone else.
pub static DISK: TicketMutex<Option<Disk>> = TicketMutex::new(None);

/// The entropy source, once probed.
static RNG: Mutex<Option<VirtIORng<JanusHal, Transport0>>> = Mutex::new(None);

/// What [`probe`] found.
#[derive(Clone, Copy, Debug, Default)]
pub struct Found {
    /// Capacity of the block device in sectors, if there is one.
    pub disk_sectors: Option<u64>,
    /// Whether an entropy source was found.
    pub entropy: bool,
}

/// Probes the board's virtio-mmio windows for a block device and an entropy
/// source and initializes the first of each (boot core, once).
pub fn probe(storage: &StorageDescription) -> Found {
    let StorageDescription::VirtioMmio { base, slots, stride } = *storage;
    let mut found = Found::default();
    for slot in 0..u64::from(slots) {
        let Some(address) = slot.checked_mul(stride).and_then(|offset| offset.checked_add(base.get())) else { break };
        let Some(header) = NonNull::new(address as *mut VirtIOHeader) else { continue };
        let Ok(size) = usize::try_from(stride) else { break };
        // SAFETY: the board description names these windows as virtio-mmio
        // transports, mapped as device memory in Janus' identity map, and
        // only this boot-time probe touches them before they are owned by
        // DISK or RNG.
        let Ok(transport) = (unsafe { MmioTransport::new(header, size) }) else { continue };
        match transport.device_type() {
            DeviceType::Block if found.disk_sectors.is_none() => {
                match Disk::new(transport) {
                    Ok(disk) => {
                        found.disk_sectors = Some(disk.sectors);
                        *DISK.lock() = Some(disk);
                    }
                    // Janus needs a 256-entry queue, among others.
                    Err(error) => log::error!("the virtio-blk device at {address:#x} cannot be used: {error}"),
                }
            }
            DeviceType::EntropySource if !found.entropy => {
                if let Ok(device) = VirtIORng::<JanusHal, _>::new(transport) {
                    found.entropy = true;
                    *RNG.lock() = Some(device);
                }
            }
            _ => {}
        }
    }
    found
}

/// Fills `buffer` with random bytes from the entropy source; false if there
/// is none or it failed.
pub fn random(buffer: &mut [u8]) -> bool {
    let mut guard = RNG.lock();
    let Some(device) = guard.as_mut() else { return false };
    let mut filled = 0;
    // Bounded: a device that keeps returning nothing is a failure.
    for _ in 0..64 {
        let Some(rest) = buffer.get_mut(filled..) else { return false };
        if rest.is_empty() {
            return true;
        }
        match device.request_entropy(rest) {
            Ok(count) => filled = filled.saturating_add(count),
            Err(_) => return false,
        }
    }
    buffer.len() == filled
}
