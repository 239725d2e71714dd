//! The physical disk and entropy source on virtio-mmio boards, driven with
//! the `virtio-drivers` crate (polling, no interrupts): Janus probes the
//! board's virtio-mmio windows once at boot, keeps the block device behind
//! a fair (ticket) lock so neither personality can starve the other's I/O,
//! and reads random bytes from a virtio-rng device for key generation.
//!
//! Janus' stage-1 map is the identity, so a buffer's address is its
//! physical address and DMA needs no translation; QEMU's virtio devices are
//! cache coherent, so no cache maintenance either.

use core::ptr::NonNull;

use janus_platform::StorageDescription;
use spin::Mutex;
use spin::mutex::TicketMutex;
use virtio_drivers::device::blk::VirtIOBlk;
use virtio_drivers::device::rng::VirtIORng;
use virtio_drivers::transport::mmio::{MmioTransport, VirtIOHeader};
use virtio_drivers::transport::{DeviceType, Transport};
use virtio_drivers::{BufferDirection, Hal, PhysAddr};

/// Bytes per sector.
pub const SECTOR: usize = 512;
const PAGE: usize = 4096;
/// DMA memory for the physical devices' queues (allocated once, at boot).
const DMA_PAGES: usize = 16;

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

/// Janus' physical disk.
pub struct Disk {
    device: VirtIOBlk<JanusHal, Transport0>,
    sectors: u64,
}

/// A physical I/O failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DiskError {
    /// The request reaches past the end of the disk.
    OutOfRange,
    /// The buffer is not a whole number of sectors.
    Unaligned,
    /// The device reported an error.
    Device,
}

impl Disk {
    fn check(&self, sector: u64, length: usize) -> Result<(), DiskError> {
        if length == 0 || !length.is_multiple_of(SECTOR) {
            return Err(DiskError::Unaligned);
        }
        let count = (length / SECTOR) as u64;
        match sector.checked_add(count) {
            Some(end) if end <= self.sectors => Ok(()),
            _ => Err(DiskError::OutOfRange),
        }
    }

    /// Reads whole sectors starting at `sector`.
    pub fn read(&mut self, sector: u64, buffer: &mut [u8]) -> Result<(), DiskError> {
        self.check(sector, buffer.len())?;
        let block = usize::try_from(sector).map_err(|_| DiskError::OutOfRange)?;
        self.device.read_blocks(block, buffer).map_err(|_| DiskError::Device)
    }

    /// Writes whole sectors starting at `sector`.
    pub fn write(&mut self, sector: u64, data: &[u8]) -> Result<(), DiskError> {
        self.check(sector, data.len())?;
        let block = usize::try_from(sector).map_err(|_| DiskError::OutOfRange)?;
        self.device.write_blocks(block, data).map_err(|_| DiskError::Device)
    }

    /// Returns once everything written so far is on the medium.
    pub fn flush(&mut self) -> Result<(), DiskError> {
        self.device.flush().map_err(|_| DiskError::Device)
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
                if let Ok(device) = VirtIOBlk::<JanusHal, _>::new(transport) {
                    let sectors = device.capacity();
                    found.disk_sectors = Some(sectors);
                    *DISK.lock() = Some(Disk { device, sectors });
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
