//! The physical disk and entropy source on virtio-mmio boards: Janus probes
//! the board's virtio-mmio windows once at boot with the `virtio-drivers`
//! crate's transport, drives the block device's request queue itself
//! ([`crate::virtqueue`]) behind a fair (ticket) lock, with a share of the
//! queue per personality so neither can starve the other's I/O, and reads
//! random bytes from a virtio-rng device (`virtio-drivers`' driver) for key
//! generation. Janus' own requests wait by polling; personalities' requests
//! finish with the device's interrupt ([`crate::storage::interrupt`]).
//!
//! Janus' stage-1 map is the identity, so a buffer's address is its
//! physical address and DMA needs no translation; QEMU's virtio devices are
//! cache coherent, so no cache maintenance either.

use core::ptr::NonNull;
use core::sync::atomic::{AtomicBool, Ordering};

use janus_manifest::MAX_PERSONALITIES;
use janus_platform::StorageDescription;
use janus_virtio::Segment;
use spin::Mutex;
use spin::mutex::TicketMutex;

use janus_virtio::driver_queue::{AddError, Buffer, ChainSlot, Used};

use crate::virtqueue::{self, SplitQueue};
use virtio_drivers::device::rng::VirtIORng;
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

/// Requests in flight at most: each takes at least two descriptors.
const SLOTS: usize = QUEUE_SIZE / 2;

/// Each request's header and status byte, by slot: the device reads and
/// writes them by DMA, so Janus touches them only through raw pointers,
/// while it holds [`DISK`] (which owns the slot).
#[repr(C, align(64))]
struct RequestBuffers {
    headers: [[u8; 16]; SLOTS],
    statuses: [u8; SLOTS],
}

static mut REQUEST_BUFFERS: RequestBuffers = RequestBuffers { headers: [[0; 16]; SLOTS], statuses: [0; SLOTS] };

/// Who waits for a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Waiter {
    /// Janus itself, spinning with the disk locked ([`Disk::read`] and
    /// friends).
    Janus,
    /// A personality's virtual disk: the completion is queued for
    /// [`Disk::take_finished`] with this cookie.
    Guest {
        /// The personality.
        personality: u8,
        /// What the virtual disk wants back (its request tag).
        cookie: u32,
    },
}

/// A request on the physical queue, by token (its head descriptor).
#[derive(Clone, Copy, Debug)]
struct InFlight {
    chain: ChainSlot,
    slot: u8,
    waiter: Waiter,
}

/// A guest request the device finished.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Finished {
    /// The personality.
    pub personality: u8,
    /// Its cookie.
    pub cookie: u32,
    /// The device reported success.
    pub ok: bool,
}

/// Janus' physical disk: a virtio-blk device driven through
/// `virtio-drivers`' transport and Janus' own queue. Each request carries every buffer
/// it moves, so a guest request scattered over many pages is one physical
/// request whose data the device moves by DMA. Janus' own requests are
/// synchronous (the caller holds [`DISK`] until the device answers);
/// personalities' plain requests are asynchronous: submitted, and finished
/// when the device's interrupt (or anyone holding the lock) collects them.
/// Each personality may hold at most its budget of descriptors, so one that
/// floods its queue cannot take the other's share.
pub struct Disk {
    transport: Transport0,
    queue: SplitQueue,
    sectors: u64,
    flush: bool,
    /// Requests of up to MAX_SEGMENTS buffers of MAX_SEGMENT_BYTES each fit
    /// the device's limits.
    scatter_gather: bool,
    /// The device misbehaved and was reset: every request fails.
    broken: bool,
    in_flight: [Option<InFlight>; QUEUE_SIZE],
    /// Bit per free slot of [`REQUEST_BUFFERS`].
    free_slots: u128,
    /// Descriptors each personality has on the queue, and the most it may.
    descriptors: [u16; MAX_PERSONALITIES],
    budget: u16,
    /// The last of Janus' own requests the device finished: token, success.
    janus_finished: Option<(u16, bool)>,
    /// Guest requests finished, for their virtual disks, per personality.
    finished: [heapless::Deque<Finished, SLOTS>; MAX_PERSONALITIES],
    /// Per personality: requests submitted and not yet taken with
    /// [`Disk::take_finished`] (on the queue, or finished and waiting). At
    /// most SLOTS, so its `finished` queue never overflows.
    outstanding: [u16; MAX_PERSONALITIES],
}

const _: () = assert!(SLOTS <= 128 && QUEUE_SIZE == janus_virtio::driver_queue::DRIVER_QUEUE_SIZE);

/// A physical I/O failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DiskError {
    /// The request reaches past the end of the disk.
    OutOfRange,
    /// The buffer is not a whole number of sectors.
    Unaligned,
    /// More buffers than one request carries.
    TooManySegments,
    /// The personality's share of the queue is taken: try again after one
    /// of its requests finished.
    Busy,
    /// The device reported an error or misbehaved.
    Device,
}

/// Per personality: whether finished requests wait to be handed to its
/// virtual disk (checked without the lock).
pub static FINISHED_WAITING: [AtomicBool; MAX_PERSONALITIES] = [const { AtomicBool::new(false) }; MAX_PERSONALITIES];

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
        let queue = SplitQueue::new::<JanusHal, _>(&mut transport, QUEUE).map_err(|error| match error {
            virtqueue::SetupError::TooSmall => virtio_drivers::Error::InvalidParam,
            virtqueue::SetupError::InUse => virtio_drivers::Error::AlreadyUsed,
            virtqueue::SetupError::NoMemory => virtio_drivers::Error::DmaError,
        })?;
        transport.finish_init();
        // Janus' scatter-gather requests carry up to MAX_SEGMENTS buffers of
        // up to 1 MiB; a device that says it takes less gets single-buffer
        // requests only (the copy path).
        let segments_fit = !features.contains(Features::SEG_MAX) || seg_max as usize >= MAX_SEGMENTS;
        let sizes_fit = !features.contains(Features::SIZE_MAX) || size_max as usize >= MAX_SEGMENT_BYTES;
        Ok(Self {
            transport,
            queue,
            sectors,
            flush: features.contains(Features::FLUSH),
            scatter_gather: segments_fit && sizes_fit,
            broken: false,
            in_flight: [None; QUEUE_SIZE],
            free_slots: u128::MAX,
            descriptors: [0; MAX_PERSONALITIES],
            budget: QUEUE_SIZE as u16,
            janus_finished: None,
            finished: [const { heapless::Deque::new() }; MAX_PERSONALITIES],
            outstanding: [0; MAX_PERSONALITIES],
        })
    }

    /// Whether the device takes Janus' scatter-gather requests.
    pub const fn scatter_gather(&self) -> bool {
        self.scatter_gather
    }

    /// Shares the queue among `personalities` personalities with a disk.
    pub fn share(&mut self, personalities: usize) {
        let share = QUEUE_SIZE / personalities.clamp(1, MAX_PERSONALITIES);
        self.budget = u16::try_from(share).unwrap_or(u16::MAX);
    }

    /// The most data buffers one asynchronous request of a personality may
    /// carry (its budget less header and status).
    pub fn max_guest_segments(&self) -> usize {
        usize::from(self.budget).saturating_sub(2).min(MAX_SEGMENTS)
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
        let kind = self.data_request(write, sector, segments)?;
        // SAFETY: forwarded from the caller.
        let token = unsafe { self.start_waiting(kind, sector, segments, !write) }?;
        self.wait(token)
    }

    /// Starts a guest's request like [`Disk::transfer`] and returns at once:
    /// the device's interrupt (or whoever holds the lock next) finishes it
    /// and queues a [`Finished`] with `cookie` for `personality`.
    /// [`DiskError::Busy`] if the personality's share of the queue is
    /// taken.
    ///
    /// # Safety
    ///
    /// Every segment must lie in `personality`'s RAM (identity-mapped, never
    /// used by Janus itself), device-writable for a read as the guest
    /// allowed (or be a Janus buffer set aside for the request, untouched
    /// until it finishes), and the personality must not be reloaded while
    /// the request is in flight ([`Disk::in_flight`]).
    pub unsafe fn submit(&mut self, write: bool, sector: u64, segments: &[Segment], personality: usize, cookie: u32) -> Result<(), DiskError> {
        let kind = self.data_request(write, sector, segments)?;
        let owner = u8::try_from(personality).map_err(|_| DiskError::Device)?;
        // Anything finished meanwhile is collected here too, so the other
        // personality's completions never wait only for the core that takes
        // the interrupt (it may be busy at EL2, e.g. restarting its guest).
        self.collect();
        let taken = self.descriptors.get(personality).copied().ok_or(DiskError::Device)?;
        let outstanding = self.outstanding.get(personality).copied().ok_or(DiskError::Device)?;
        let needed = segments.len().saturating_add(2);
        // Finished requests a reset forgot wait to be taken like any other:
        // until they are, they count, so the finished queue has room.
        if usize::from(taken).saturating_add(needed) > usize::from(self.budget) || usize::from(outstanding) >= SLOTS {
            return Err(DiskError::Busy);
        }
        let waiter = Waiter::Guest { personality: owner, cookie };
        // SAFETY: forwarded from the caller.
        unsafe { self.add(kind, sector, segments, !write, waiter) }?;
        if let Some(outstanding) = self.outstanding.get_mut(personality) {
            *outstanding = outstanding.saturating_add(1);
        }
        Ok(())
    }

    /// Whether any of `personality`'s requests is still on the queue.
    pub fn in_flight(&self, personality: usize) -> bool {
        self.descriptors.get(personality).is_some_and(|&taken| taken > 0)
    }

    /// Checks a data request and names its type.
    fn data_request(&self, write: bool, sector: u64, segments: &[Segment]) -> Result<u32, DiskError> {
        if segments.len() > MAX_SEGMENTS {
            return Err(DiskError::TooManySegments);
        }
        let length = segments.iter().fold(0u64, |sum, segment| sum.saturating_add(u64::from(segment.length)));
        self.check(sector, length)?;
        Ok(if write { REQUEST_OUT } else { REQUEST_IN })
    }

    /// Returns once everything written so far is on the medium.
    pub fn flush(&mut self) -> Result<(), DiskError> {
        if !self.flush {
            return Ok(());
        }
        // SAFETY: no data buffers.
        let token = unsafe { self.start_waiting(REQUEST_FLUSH, 0, &[], false) }?;
        self.wait(token)
    }

    /// Adds one of Janus' own requests, waiting for room on the queue.
    ///
    /// # Safety
    ///
    /// As for [`Disk::transfer`].
    unsafe fn start_waiting(&mut self, kind: u32, sector: u64, segments: &[Segment], into_memory: bool) -> Result<u16, DiskError> {
        loop {
            // SAFETY: forwarded from the caller.
            match unsafe { self.add(kind, sector, segments, into_memory, Waiter::Janus) } {
                Err(DiskError::Busy) => {
                    // Guests' requests hold the queue: they finish.
                    self.collect();
                    core::hint::spin_loop();
                }
                result => return result,
            }
        }
    }

    /// Spins until the device finished Janus' request `token`, collecting
    /// whatever else finishes meanwhile.
    fn wait(&mut self, token: u16) -> Result<(), DiskError> {
        loop {
            self.collect();
            if self.broken {
                return Err(DiskError::Device);
            }
            if let Some((finished, ok)) = self.janus_finished
                && finished == token
            {
                self.janus_finished = None;
                return if ok { Ok(()) } else { Err(DiskError::Device) };
            }
            core::hint::spin_loop();
        }
    }

    /// One request onto the queue: header, `segments` (device-writable if
    /// `into_memory`), status; notifies the device. Returns its token.
    /// [`DiskError::Busy`] if there is no room.
    ///
    /// # Safety
    ///
    /// As for [`Disk::transfer`], for as long as the request is in flight.
    unsafe fn add(&mut self, kind: u32, sector: u64, segments: &[Segment], into_memory: bool, waiter: Waiter) -> Result<u16, DiskError> {
        if self.broken {
            return Err(DiskError::Device);
        }
        let slot = self.free_slots.trailing_zeros() as usize;
        if slot >= SLOTS {
            return Err(DiskError::Busy);
        }
        let buffers = core::ptr::addr_of_mut!(REQUEST_BUFFERS);
        // SAFETY: the slot is free, so neither the device nor anyone else
        // uses its header or status; `buffers` is the static's address.
        let (header, status) = unsafe {
            let header = core::ptr::addr_of_mut!((*buffers).headers).cast::<[u8; 16]>().add(slot);
            let status = core::ptr::addr_of_mut!((*buffers).statuses).cast::<u8>().add(slot);
            let mut bytes = [0u8; 16];
            let (kind_bytes, rest) = bytes.split_at_mut(4);
            kind_bytes.copy_from_slice(&kind.to_le_bytes());
            if let Some(sector_bytes) = rest.get_mut(4..12) {
                sector_bytes.copy_from_slice(&sector.to_le_bytes());
            }
            header.write_volatile(bytes);
            status.write_volatile(0xff);
            (header.cast::<u8>().cast_const(), status.cast_const())
        };
        let header = Buffer { address: header as u64, length: 16, device_writes: false };
        let status = Buffer { address: status as u64, length: 1, device_writes: true };
        // SAFETY: every buffer stays valid and untouched by Janus until
        // `collect` takes the chain back (the header and status slot is
        // taken until then, the segments per the caller's contract).
        let chain = match unsafe { self.queue.add(header, segments, into_memory, status) } {
            Ok(chain) => chain,
            Err(AddError::Full) => return Err(DiskError::Busy),
            Err(AddError::TooLong) => return Err(DiskError::TooManySegments),
            Err(AddError::EmptyBuffer) => return Err(DiskError::Unaligned),
        };
        self.free_slots &= !(1u128 << slot);
        let entry = InFlight { chain, slot: slot as u8, waiter };
        if let Some(place) = self.in_flight.get_mut(usize::from(chain.head)) {
            *place = Some(entry);
        }
        if let Waiter::Guest { personality, .. } = waiter
            && let Some(taken) = self.descriptors.get_mut(usize::from(personality))
        {
            *taken = taken.saturating_add(chain.count);
        }
        if self.queue.should_notify() {
            self.transport.notify(QUEUE);
        }
        Ok(chain.head)
    }

    /// Acknowledges the device's interrupt (before collecting, so a request
    /// finishing meanwhile raises it again).
    pub fn acknowledge_interrupt(&mut self) {
        self.transport.ack_interrupt();
    }

    /// Pops every request the device finished: Janus' own into
    /// `janus_finished`, guests' into `finished`. A device that returns a
    /// request that is not in flight is reset and fails everything.
    pub fn collect(&mut self) {
        while let Some(used) = self.queue.next_used() {
            let entry = match used {
                Used::Chain { head, .. } => self.in_flight.get_mut(usize::from(head)).and_then(Option::take),
                Used::Bogus { .. } => None,
            };
            let Some(entry) = entry else {
                // A request that is not in flight: the device cannot be
                // trusted with any buffer any more.
                self.fail_device();
                return;
            };
            self.queue.recycle(entry.chain);
            let slot = usize::from(entry.slot);
            let buffers = core::ptr::addr_of!(REQUEST_BUFFERS);
            // SAFETY: the device has finished with the slot (the chain came
            // back); read through a raw pointer into the static.
            let status = unsafe { core::ptr::addr_of!((*buffers).statuses).cast::<u8>().add(slot).read_volatile() };
            self.free_slots |= 1u128 << slot;
            self.finish(entry, status == 0);
        }
    }

    /// Records that `entry` finished.
    fn finish(&mut self, entry: InFlight, ok: bool) {
        match entry.waiter {
            Waiter::Janus => self.janus_finished = Some((entry.chain.head, ok)),
            Waiter::Guest { personality, cookie } => {
                if let Some(taken) = self.descriptors.get_mut(usize::from(personality)) {
                    *taken = taken.saturating_sub(entry.chain.count);
                }
                let index = usize::from(personality);
                // Room by construction: at most SLOTS of a personality's
                // requests are outstanding (`submit`).
                let queued = self.finished.get_mut(index).is_some_and(|queue| queue.push_back(Finished { personality, cookie, ok }).is_ok());
                if !queued {
                    log::error!("disk: a finished request of personality {index} has nowhere to go; it is lost");
                }
                if let Some(waiting) = FINISHED_WAITING.get(index) {
                    waiting.store(true, Ordering::Release);
                }
            }
        }
    }

    /// The device returned a request that is not in flight: reset it, so
    /// it lets go of every buffer, and fail everything from now on.
    fn fail_device(&mut self) {
        self.transport.set_status(DeviceStatus::empty());
        self.broken = true;
        // The reset is done when Status reads back 0 (virtio 1.2 §4.2.3.1);
        // until then the device may still be moving data. One that never
        // finishes keeps every buffer: nothing is handed back.
        let mut stopped = false;
        for _ in 0..1_000_000 {
            if self.transport.get_status().is_empty() {
                stopped = true;
                break;
            }
            core::hint::spin_loop();
        }
        if !stopped {
            log::error!("disk: the device does not finish its reset; its requests are never completed");
            return;
        }
        for token in 0..QUEUE_SIZE {
            if let Some(entry) = self.in_flight.get_mut(token).and_then(Option::take) {
                self.finish(entry, false);
            }
        }
    }

    /// Takes personality `index`'s next finished request.
    pub fn take_finished(&mut self, index: usize) -> Option<Finished> {
        let queue = self.finished.get_mut(index)?;
        let next = queue.pop_front();
        if next.is_some()
            && let Some(outstanding) = self.outstanding.get_mut(index)
        {
            *outstanding = outstanding.saturating_sub(1);
        }
        if queue.is_empty()
            && let Some(waiting) = FINISHED_WAITING.get(index)
        {
            waiting.store(false, Ordering::Release);
        }
        next
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
    /// The block device's interrupt.
    pub disk_interrupt: Option<u32>,
    /// Whether an entropy source was found.
    pub entropy: bool,
}

/// Probes the board's virtio-mmio windows for a block device and an entropy
/// source and initializes the first of each (boot core, once).
#[cold]
pub fn probe(storage: &StorageDescription) -> Found {
    let StorageDescription::VirtioMmio { base, slots, stride, .. } = *storage;
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
                        found.disk_interrupt = u32::try_from(slot).ok().and_then(|slot| storage.interrupt(slot));
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
