//! Each personality's private disk: the virtio-blk model of `janus-virtio`
//! over one GPT partition of the physical disk (`janus-disklayout`), with
//! the work partition encrypted sector by sector (`janus-diskcrypt`).
//!
//! Requests are taken on the core whose vCPU wrote QueueNotify: the model
//! copies each descriptor and header out of guest RAM before checking it.
//! Data is not copied by the CPU on the plain path: the guest's buffers,
//! checked to lie in its RAM, go to the physical disk as one scatter-gather
//! request, which the device fills or drains by DMA. That request is
//! asynchronous: the vCPU returns to its guest at once (as it would with
//! the disk to itself), and the physical disk's interrupt, routed to the
//! first core of the first personality with a disk, collects finished
//! requests; each personality's are completed in its model on its own
//! first core (kicked if the interrupt came elsewhere), which returns the
//! chains and raises the virtual interrupt. Each personality may
//! hold only its share of the physical queue's descriptors, so one that
//! floods its queue leaves the other its share; before a personality's disk
//! is reset or its RAM reloaded, Janus waits for its requests to leave the
//! physical queue.
//!
//! The enciphered path deciphers from (enciphers into) a per-personality
//! 64 KiB ciphertext buffer straight to (from) the guest's buffers. A
//! request of at most 64 KiB is asynchronous too, one at a time: a write is
//! enciphered before it is submitted, a read deciphered when it finishes,
//! on the personality's own core, and only if its device was not reset
//! meanwhile. Larger ones are moved 64 KiB at a time, waited for. Anything
//! else (a sector split between two buffers on the enciphered path, a
//! physical disk that takes no scatter-gather requests) goes through the
//! model's copy path and a 64 KiB bounce buffer.
//!
//! Locks, always in this order: a personality's disk ([`DISKS`], with its
//! buffers), then the physical disk ([`disk::DISK`]). Finished requests are
//! handed to the models only with neither held.

use janus_diskcrypt::{CryptError, DataKey, SectorCipher, XtsRoundKeys};
use janus_disklayout::Partition;
use janus_manifest::MAX_PERSONALITIES;
use janus_platform::PhysRange;
use janus_virtio::{BackendError, BlockBackend, BlockConfig, GuestMemory, MemoryError, RequestTag, Segment, SegmentCursor, Transfer, VirtioBlock};
use spin::{Mutex, Once};

use crate::disk::{self, SECTOR};
use crate::zeroed::ZeroedOption;

/// The bounce buffer per personality: the largest chunk the copy path and
/// the enciphered path move per lock.
const SCRATCH_SIZE: usize = 64 * 1024;
/// The largest physical request a direct (plain) transfer makes per lock.
const DIRECT_CHUNK: usize = disk::MAX_SEGMENT_BYTES;
/// The longest buffer offered to the guest (`size_max`): small enough that
/// `seg_max` stays at the physical request's 254 buffers within the model's
/// 4 MiB request limit (64 KiB would cut `seg_max` to 64, and Linux would
/// split a 1 MiB transfer of scattered pages into four requests instead of
/// two, as it does on QEMU's own virtio-blk).
const GUEST_SEGMENT_BYTES: u32 = janus_virtio::MAX_REQUEST_BYTES / 256;
const _: () = assert!(janus_virtio::MAX_REQUEST_BYTES / GUEST_SEGMENT_BYTES >= disk::MAX_SEGMENTS as u32);
/// The size of the guest's register window.
pub const WINDOW: u64 = 0x200;
/// Queue size offered to the guest.
const QUEUE_SIZE: u16 = 256;

#[repr(C, align(4096))]
struct Scratch([u8; SCRATCH_SIZE]);

/// AES-XTS-256 for one partition: the ARMv8 AES instructions where the
/// core has them (about 1,200 instructions per sector), RustCrypto's
/// constant-time software AES elsewhere (the Raspberry Pi 4's Cortex-A72
/// has no Cryptography Extension). Both give the same ciphertext. Built
/// once per disk and kept in a static, so the size difference is moot.
#[allow(clippy::large_enum_variant)]
enum DiskCipher {
    Hardware(crate::xts_armv8::CryptoExtension, XtsRoundKeys),
    Software(SectorCipher),
}

impl DiskCipher {
    fn new(key: &DataKey) -> Self {
        match crate::xts_armv8::CryptoExtension::detect() {
            Some(extension) => Self::Hardware(extension, XtsRoundKeys::new(key)),
            None => Self::Software(SectorCipher::new(key)),
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Self::Hardware(..) => "ARMv8 AES instructions",
            Self::Software(_) => "software AES",
        }
    }

    fn encrypt(&self, first_sector: u64, buffer: &mut [u8]) -> Result<(), CryptError> {
        match self {
            Self::Hardware(extension, keys) => extension.encrypt_sectors(keys, first_sector, buffer),
            Self::Software(cipher) => cipher.encrypt_sectors(first_sector, buffer),
        }
    }

    fn decrypt(&self, first_sector: u64, buffer: &mut [u8]) -> Result<(), CryptError> {
        match self {
            Self::Hardware(extension, keys) => extension.decrypt_sectors(keys, first_sector, buffer),
            Self::Software(cipher) => cipher.decrypt_sectors(first_sector, buffer),
        }
    }

    /// Enciphers `destination.len()` bytes of guest RAM at `source` into
    /// `destination`: straight from guest memory with the AES
    /// instructions, through `destination` with software AES.
    ///
    /// # Safety
    ///
    /// `source` must be readable guest RAM for `destination.len()` bytes.
    unsafe fn encrypt_from_guest(&self, first_sector: u64, source: *const u8, destination: &mut [u8]) -> Result<(), CryptError> {
        match self {
            // SAFETY: per the caller, and `destination` is an exclusive
            // borrow of Janus memory that cannot overlap guest RAM.
            Self::Hardware(extension, keys) => unsafe { extension.encrypt_raw(keys, first_sector, source, destination.as_mut_ptr(), destination.len()) },
            Self::Software(cipher) => {
                // SAFETY: per the caller; the two do not overlap (Janus
                // memory is never guest RAM).
                unsafe { core::ptr::copy_nonoverlapping(source, destination.as_mut_ptr(), destination.len()) };
                cipher.encrypt_sectors(first_sector, destination)
            }
        }
    }

    /// Deciphers `source` (Janus memory, left undefined) into
    /// `source.len()` bytes of guest RAM at `destination`.
    ///
    /// # Safety
    ///
    /// `destination` must be writable guest RAM for `source.len()` bytes.
    unsafe fn decrypt_into_guest(&self, first_sector: u64, source: &mut [u8], destination: *mut u8) -> Result<(), CryptError> {
        match self {
            // SAFETY: per the caller; `source` is borrowed Janus memory.
            Self::Hardware(extension, keys) => unsafe { extension.decrypt_raw(keys, first_sector, source.as_ptr(), destination, source.len()) },
            Self::Software(cipher) => {
                cipher.decrypt_sectors(first_sector, source)?;
                // SAFETY: per the caller; Janus memory is never guest RAM.
                unsafe { core::ptr::copy_nonoverlapping(source.as_ptr(), destination, source.len()) };
                Ok(())
            }
        }
    }
}

/// One personality's disk.
struct VirtualDisk {
    device: VirtioBlock,
    partition: Partition,
    cipher: Option<DiskCipher>,
    ram: PhysRange,
    /// The physical disk takes scatter-gather requests.
    scatter_gather: bool,
    /// Most buffers per physical request (the personality's share of the
    /// physical queue, less header and status).
    max_segments: usize,
}

/// The physical disk's interrupt and the core it is routed to: set when
/// plain requests complete asynchronously (no interrupt, everything waits).
struct Route {
    interrupt: u32,
    core: usize,
}

static ROUTE: Once<Route> = Once::new();

/// Per personality: the core that hands its finished requests to its model
/// (its vCPU 0's), so deciphering a finished read runs on the
/// personality's own core, not on the one that took the interrupt.
static DELIVERY_CORE: [core::sync::atomic::AtomicUsize; MAX_PERSONALITIES] = [const { core::sync::atomic::AtomicUsize::new(usize::MAX) }; MAX_PERSONALITIES];

/// The enciphered disk's asynchronous request, per personality: one at a
/// time, through a ciphertext buffer of its own (the synchronous path keeps
/// [`CIPHERTEXT`]).
struct Enciphered {
    buffer: Scratch,
    /// The request in flight: cookie (the model's tag), whether it writes,
    /// first sector, bytes. Its guest buffers are in `segments` (kept here,
    /// not built per request: a 4 KiB list costs a `memset` to start).
    pending: ZeroedOption<(u32, bool, u64, usize)>,
    segments: heapless::Vec<Segment, { disk::MAX_SEGMENTS }>,
}

static ENCIPHERED: [Mutex<Enciphered>; MAX_PERSONALITIES] =
    [const { Mutex::new(Enciphered { buffer: Scratch([0; SCRATCH_SIZE]), pending: ZeroedOption::None, segments: heapless::Vec::new() }) }; MAX_PERSONALITIES];

static DISKS: [Mutex<ZeroedOption<VirtualDisk>>; MAX_PERSONALITIES] = [const { Mutex::new(ZeroedOption::None) }; MAX_PERSONALITIES];
static SCRATCH: [Mutex<Scratch>; MAX_PERSONALITIES] = [const { Mutex::new(Scratch([0; SCRATCH_SIZE])) }; MAX_PERSONALITIES];
/// The enciphered disk's ciphertext on its way to or from the disk, per
/// personality (a write is enciphered into it, never in the guest's
/// buffers; with software AES a read is also deciphered here first).
static CIPHERTEXT: [Mutex<Scratch>; MAX_PERSONALITIES] = [const { Mutex::new(Scratch([0; SCRATCH_SIZE])) }; MAX_PERSONALITIES];

fn serial(name: &str) -> [u8; 20] {
    let mut serial = [0u8; 20];
    for (slot, byte) in serial.iter_mut().zip(b"janus-".iter().chain(name.as_bytes())) {
        *slot = *byte;
    }
    serial
}

/// Gives personality `index` (named `name`, RAM `ram`) a disk backed by
/// `partition`, encrypted with `cipher` if given (boot core, once).
#[cold]
fn attach(index: usize, name: &str, ram: PhysRange, partition: Partition, cipher: Option<DiskCipher>) -> bool {
    let Some(slot) = DISKS.get(index) else { return false };
    let config = BlockConfig { serial: serial(name), queue_size_max: QUEUE_SIZE, segment_max: disk::MAX_SEGMENTS as u32, size_max: GUEST_SEGMENT_BYTES };
    let (scatter_gather, max_segments) = disk::DISK.lock().as_ref().map_or((false, 0), |disk| (disk.scatter_gather(), disk.max_guest_segments()));
    slot.lock().set(Some(VirtualDisk { device: VirtioBlock::new(config), partition, cipher, ram, scatter_gather, max_segments }));
    true
}

/// The personality's RAM, as the device model sees it.
struct GuestRam(PhysRange);

impl GuestRam {
    fn check(&self, address: u64, length: usize) -> Result<(), MemoryError> {
        if self.0.contains_span(address, length as u64) { Ok(()) } else { Err(MemoryError) }
    }
}

impl GuestMemory for GuestRam {
    fn read(&self, address: u64, buffer: &mut [u8]) -> Result<(), MemoryError> {
        self.check(address, buffer.len())?;
        // Descriptors: 16 bytes, 16-byte aligned (the model checked the
        // table's alignment). Two word loads instead of sixteen byte loads
        // (the target is built for strict alignment, so an unknown-alignment
        // copy goes byte by byte).
        if address.is_multiple_of(8)
            && let Ok(descriptor) = <&mut [u8; 16]>::try_from(&mut *buffer)
        {
            let words = address as *const u64;
            // SAFETY: the 16 bytes lie inside the personality's RAM
            // (checked above), identity-mapped normal memory, and `words` is
            // 8-byte aligned. The guest may change them meanwhile; the model
            // only uses this copy.
            let (low, high) = unsafe { (words.read_volatile(), words.add(1).read_volatile()) };
            *descriptor = (u128::from(low) | (u128::from(high) << 64)).to_le_bytes();
            return Ok(());
        }
        // SAFETY: the span lies inside the personality's RAM (checked
        // above), which Janus identity-maps as normal memory and which
        // never overlaps Janus' own memory (validate_plan). The guest may
        // change it concurrently; the model only uses this copy.
        unsafe { core::ptr::copy_nonoverlapping(address as *const u8, buffer.as_mut_ptr(), buffer.len()) };
        Ok(())
    }

    fn write(&mut self, address: u64, data: &[u8]) -> Result<(), MemoryError> {
        self.check(address, data.len())?;
        // SAFETY: as for read: the span is inside the personality's RAM.
        unsafe { core::ptr::copy_nonoverlapping(data.as_ptr(), address as *mut u8, data.len()) };
        Ok(())
    }

    fn fence(&self) {
        crate::arch::memory_barrier();
    }

    /// Exact, and no copies: the personality's RAM is one range.
    fn contains(&self, address: u64, length: u64) -> bool {
        self.0.contains_span(address, length)
    }
}

/// A partition of the physical disk, enciphered or not.
struct PartitionBackend<'a> {
    partition: Partition,
    cipher: Option<&'a DiskCipher>,
    ciphertext: &'a mut [u8],
    /// The personality's RAM: where its requests' data may be.
    ram: PhysRange,
    /// The physical disk takes scatter-gather requests.
    scatter_gather: bool,
    /// Most buffers per physical request.
    max_segments: usize,
    /// The personality, and whether its plain requests may complete
    /// asynchronously (the physical disk's interrupt is routed).
    personality: usize,
    asynchronous: bool,
}

impl PartitionBackend<'_> {
    fn physical(&self, sector: u64, length: usize) -> Result<u64, BackendError> {
        if !self.partition.contains_relative(sector, (length / SECTOR) as u64) {
            return Err(BackendError::OutOfRange);
        }
        self.partition.disk_lba(sector).ok_or(BackendError::OutOfRange)
    }

    /// The bytes `segments` hold, if a direct transfer can take them: few
    /// enough for one physical request, each inside the personality's RAM
    /// (the model checked; checked again where DMA is decided), and for an
    /// enciphered disk each a whole number of sectors (a sector split
    /// between two buffers goes through the copy path).
    fn direct_length(&self, segments: &[Segment]) -> Option<(usize, u32)> {
        if segments.len() > disk::MAX_SEGMENTS || (self.cipher.is_none() && !self.scatter_gather) || self.max_segments == 0 {
            return None;
        }
        // More buffers than one physical request carries are cut between
        // requests, which must each be whole sectors.
        let whole_sectors = self.cipher.is_some() || segments.len() > self.max_segments;
        let (start, end) = (self.ram.start.get(), self.ram.end()?);
        let (mut total, mut longest) = (0u64, 0u32);
        for segment in segments {
            let length = segment.length;
            let inside = segment.address >= start && segment.address.checked_add(u64::from(length)).is_some_and(|stop| stop <= end);
            if !inside || (whole_sectors && !(length as usize).is_multiple_of(SECTOR)) {
                return None;
            }
            total += u64::from(length);
            longest = longest.max(length);
        }
        Some((usize::try_from(total).ok()?, longest))
    }

    /// A direct transfer, both directions: declined (the model copies
    /// instead) unless `direct_length` takes the segments; a plain one that
    /// fits one physical request is submitted and completes with the
    /// disk's interrupt.
    fn transfer_direct(&mut self, write: bool, sector: u64, segments: &[Segment], tag: RequestTag) -> Result<Transfer, BackendError> {
        let Some((total, longest)) = self.direct_length(segments) else { return Ok(Transfer::Declined) };
        let physical = self.physical(sector, total)?;
        let Some(cipher) = self.cipher else {
            let one_request = segments.len() <= self.max_segments && longest as usize <= disk::MAX_SEGMENT_BYTES;
            if self.asynchronous && one_request {
                let personality = self.personality;
                // SAFETY: every segment lies inside the personality's RAM
                // (`direct_length`), which Janus identity-maps and never uses
                // itself; for a read the model checked that the guest made
                // the buffers device-writable; a personality is reloaded
                // only after its requests left the queue (`drain`).
                let submitted = with_disk_raw(|disk| unsafe { disk.submit(write, physical, segments, personality, tag.to_bits()) });
                return match submitted {
                    Ok(()) => Ok(Transfer::Submitted),
                    Err(disk::DiskError::Busy) => Ok(Transfer::Busy),
                    Err(error) => Err(backend_error(error)),
                };
            }
            self.transfer_plain(write, physical, segments)?;
            return Ok(Transfer::Done);
        };
        if self.asynchronous && total <= SCRATCH_SIZE {
            return self.submit_enciphered(write, cipher, sector, physical, segments, total, tag);
        }
        self.transfer_enciphered(write, cipher, sector, physical, segments, total)?;
        Ok(Transfer::Done)
    }

    /// An enciphered transfer of at most one ciphertext buffer, completed
    /// with the disk's interrupt: a write is enciphered into the
    /// personality's asynchronous buffer now, a read deciphered from it when
    /// it finishes ([`decipher_finished`]). One at a time per personality.
    #[allow(clippy::too_many_arguments)]
    fn submit_enciphered(
        &mut self,
        write: bool,
        cipher: &DiskCipher,
        sector: u64,
        physical: u64,
        segments: &[Segment],
        total: usize,
        tag: RequestTag,
    ) -> Result<Transfer, BackendError> {
        let Some(slot) = ENCIPHERED.get(self.personality) else { return Ok(Transfer::Declined) };
        let mut slot = slot.lock();
        if slot.pending.is_some() {
            return Ok(Transfer::Busy);
        }
        let Enciphered { buffer, pending, segments: saved } = &mut *slot;
        let chunk = buffer.0.get_mut(..total).ok_or(BackendError::Io)?;
        if write {
            encipher_segments(cipher, sector, segments, chunk)?;
        } else {
            saved.clear();
            saved.extend_from_slice(segments).map_err(|()| BackendError::Io)?;
        }
        let length = u32::try_from(total).map_err(|_| BackendError::Io)?;
        let ciphertext = [Segment { address: chunk.as_mut_ptr() as u64, length }];
        let personality = self.personality;
        // SAFETY: the ciphertext buffer is Janus memory set aside for this
        // request: `pending` keeps every other request out of it until the
        // request finishes (the device reads it for a write, fills it for
        // a read).
        let submitted = with_disk_raw(|disk| unsafe { disk.submit(write, physical, &ciphertext, personality, tag.to_bits()) });
        match submitted {
            Ok(()) => {
                pending.set(Some((tag.to_bits(), write, sector, total)));
                Ok(Transfer::Submitted)
            }
            Err(disk::DiskError::Busy) => Ok(Transfer::Busy),
            Err(error) => Err(backend_error(error)),
        }
    }

    /// A plain transfer, waited for: the physical disk moves the data
    /// straight between the partition and the guest's buffers, one physical
    /// request per [`DIRECT_CHUNK`] or `max_segments` buffers (whole
    /// sectors: `direct_length` checked), the disk lock released in between.
    fn transfer_plain(&self, write: bool, physical: u64, segments: &[Segment]) -> Result<(), BackendError> {
        let mut pieces: heapless::Vec<Segment, { disk::MAX_SEGMENTS }> = heapless::Vec::new();
        let mut bytes = 0usize;
        let mut at = physical;
        let limit = self.max_segments.clamp(1, disk::MAX_SEGMENTS);
        let send = |pieces: &mut heapless::Vec<Segment, { disk::MAX_SEGMENTS }>, bytes: &mut usize, at: &mut u64| {
            // SAFETY: every piece lies inside the personality's RAM
            // (`direct_length`), which Janus identity-maps and never uses
            // itself; for a read the model checked that the guest made the
            // buffers device-writable.
            with_disk(|disk| unsafe { disk.transfer(write, *at, pieces) })?;
            *at += (*bytes / SECTOR) as u64;
            *bytes = 0;
            pieces.clear();
            Ok::<(), BackendError>(())
        };
        for segment in segments {
            let mut rest = *segment;
            while rest.length > 0 {
                let room = u32::try_from(DIRECT_CHUNK - bytes).unwrap_or(u32::MAX);
                let length = rest.length.min(room);
                pieces.push(Segment { address: rest.address, length }).map_err(|_| BackendError::Io)?;
                bytes += length as usize;
                rest = Segment { address: rest.address + u64::from(length), length: rest.length - length };
                if bytes == DIRECT_CHUNK || pieces.len() == limit {
                    send(&mut pieces, &mut bytes, &mut at)?;
                }
            }
        }
        if !pieces.is_empty() {
            send(&mut pieces, &mut bytes, &mut at)?;
        }
        Ok(())
    }

    /// An enciphered transfer, a chunk of Janus' ciphertext buffer at a
    /// time: a read lands the ciphertext there and deciphers it straight
    /// into the guest's buffers; a write enciphers straight from them into
    /// the buffer and writes that.
    fn transfer_enciphered(
        &mut self,
        write: bool,
        cipher: &DiskCipher,
        sector: u64,
        physical: u64,
        segments: &[Segment],
        total: usize,
    ) -> Result<(), BackendError> {
        let mut cursor = SegmentCursor::new(segments);
        let mut done = 0usize;
        while done < total {
            let bytes = (total - done).min(self.ciphertext.len());
            let chunk = self.ciphertext.get_mut(..bytes).ok_or(BackendError::Io)?;
            let at = physical + (done / SECTOR) as u64;
            if !write {
                with_disk(|disk| disk.read(at, chunk))?;
            }
            cipher_pieces(write, cipher, sector + (done / SECTOR) as u64, &mut cursor, chunk)?;
            if write {
                with_disk(|disk| disk.write(at, chunk))?;
            }
            done += bytes;
        }
        Ok(())
    }
}

/// Enciphers the next `chunk.len()` bytes of `cursor`'s guest buffers into
/// `chunk` (`write`), or deciphers `chunk` into them; `first_sector` is the
/// chunk's first sector (the tweak).
fn cipher_pieces(write: bool, cipher: &DiskCipher, first_sector: u64, cursor: &mut SegmentCursor<'_>, chunk: &mut [u8]) -> Result<(), BackendError> {
    cursor.pieces(chunk.len(), |address, filled, length| {
        let piece = chunk.get_mut(filled..filled + length).ok_or(BackendError::Io)?;
        let first = first_sector + (filled / SECTOR) as u64;
        // SAFETY: `address` spans `length` bytes of one segment, inside the
        // personality's RAM (`direct_length`).
        let result = unsafe {
            if write { cipher.encrypt_from_guest(first, address as *const u8, piece) } else { cipher.decrypt_into_guest(first, piece, address as *mut u8) }
        };
        result.map_err(|_| BackendError::Io)
    })
}

/// Enciphers all of `segments` (guest buffers, whole sectors from
/// `first_sector`) into `destination`.
fn encipher_segments(cipher: &DiskCipher, first_sector: u64, segments: &[Segment], destination: &mut [u8]) -> Result<(), BackendError> {
    cipher_pieces(true, cipher, first_sector, &mut SegmentCursor::new(segments), destination)
}

/// Personality `index`'s asynchronous enciphered request `cookie` finished
/// (`result`): frees its ciphertext buffer and, for a read the model still
/// waits for (`current`: not forgotten by a reset, so the guest has not
/// taken its buffers back), deciphers the buffer into the guest's buffers.
/// Other requests pass through unchanged.
fn decipher_finished(index: usize, cipher: Option<&DiskCipher>, cookie: u32, current: bool, result: Result<(), BackendError>) -> Result<(), BackendError> {
    let (Some(cipher), Some(slot)) = (cipher, ENCIPHERED.get(index)) else { return result };
    let mut slot = slot.lock();
    let Some((_, write, first_sector, length)) = slot.pending.get().filter(|pending| pending.0 == cookie) else { return result };
    slot.pending.set(None);
    if write || !current || result.is_err() {
        return result;
    }
    let Enciphered { buffer, segments, .. } = &mut *slot;
    let chunk = buffer.0.get_mut(..length).ok_or(BackendError::Io)?;
    cipher_pieces(false, cipher, first_sector, &mut SegmentCursor::new(segments), chunk)
}

fn with_disk<T>(operation: impl FnOnce(&mut disk::Disk) -> Result<T, disk::DiskError>) -> Result<T, BackendError> {
    with_disk_raw(operation).map_err(backend_error)
}

fn with_disk_raw<T>(operation: impl FnOnce(&mut disk::Disk) -> Result<T, disk::DiskError>) -> Result<T, disk::DiskError> {
    let mut guard = disk::DISK.lock();
    let Some(physical) = guard.as_mut() else { return Err(disk::DiskError::Device) };
    operation(physical)
}

fn backend_error(error: disk::DiskError) -> BackendError {
    match error {
        disk::DiskError::OutOfRange => BackendError::OutOfRange,
        disk::DiskError::Unaligned | disk::DiskError::TooManySegments | disk::DiskError::Busy | disk::DiskError::Device => BackendError::Io,
    }
}

impl BlockBackend for PartitionBackend<'_> {
    fn sectors(&self) -> u64 {
        self.partition.sectors
    }

    fn read(&mut self, sector: u64, buffer: &mut [u8]) -> Result<(), BackendError> {
        let physical = self.physical(sector, buffer.len())?;
        with_disk(|disk| disk.read(physical, buffer))?;
        if let Some(cipher) = self.cipher {
            cipher.decrypt(sector, buffer).map_err(|_| BackendError::Io)?;
        }
        Ok(())
    }

    fn write(&mut self, sector: u64, data: &[u8]) -> Result<(), BackendError> {
        let physical = self.physical(sector, data.len())?;
        let Some(cipher) = self.cipher else {
            return with_disk(|disk| disk.write(physical, data));
        };
        let staging = self.ciphertext.get_mut(..data.len()).ok_or(BackendError::Io)?;
        staging.copy_from_slice(data);
        cipher.encrypt(sector, staging).map_err(|_| BackendError::Io)?;
        with_disk(|disk| disk.write(physical, staging))
    }

    fn flush(&mut self) -> Result<(), BackendError> {
        with_disk(|disk| disk.flush())
    }

    fn transfer_guest(
        &mut self,
        write: bool,
        sector: u64,
        segments: &[Segment],
        _memory: &mut dyn GuestMemory,
        tag: RequestTag,
    ) -> Result<Transfer, BackendError> {
        self.transfer_direct(write, sector, segments, tag)
    }
}

/// What a guest access did.
pub struct Access {
    /// The value for a read.
    pub value: u64,
    /// The device's interrupt line went up during the access: raise the
    /// virtual interrupt. Only a rising edge raises it: Linux acknowledges
    /// (lowering the line) before it looks at the used ring, so a request
    /// finishing later raises it again; re-raising while the line merely
    /// stays up (after the guest read InterruptStatus) would make it take
    /// every interrupt twice.
    pub interrupt: bool,
    /// A guest error to report (rate-limited by the caller).
    pub error: Option<janus_virtio::DeviceError>,
    /// Finished requests were handed to a model on the way out, which may
    /// have raised an interrupt for the calling vCPU: flush its list
    /// registers.
    pub delivered: bool,
}

/// Runs `operation` on personality `index`'s disk with everything the
/// model needs (its lock and buffers held), if it has a disk.
fn with_device<T>(index: usize, operation: impl FnOnce(&mut VirtioBlock, &mut GuestRam, &mut PartitionBackend<'_>, &mut [u8]) -> T) -> Option<T> {
    let mut guard = DISKS.get(index)?.lock();
    let disk = guard.as_mut()?;
    let mut scratch = SCRATCH.get(index)?.lock();
    let mut ciphertext = CIPHERTEXT.get(index)?.lock();
    let mut backend = PartitionBackend {
        partition: disk.partition,
        cipher: disk.cipher.as_ref(),
        ciphertext: &mut ciphertext.0,
        ram: disk.ram,
        scatter_gather: disk.scatter_gather,
        max_segments: disk.max_segments,
        personality: index,
        asynchronous: ROUTE.get().is_some(),
    };
    let mut memory = GuestRam(disk.ram);
    Some(operation(&mut disk.device, &mut memory, &mut backend, &mut scratch.0))
}

/// A guest access to personality `index`'s disk registers at `offset`.
pub fn access(index: usize, offset: u64, width: u8, write: Option<u64>) -> Option<Access> {
    let (access, reset) = with_device(index, |device, memory, backend, scratch| {
        let before = device.interrupt_line();
        let in_flight = device.in_flight();
        let (value, reset) = match write {
            Some(value) => {
                let effects = device.write(offset, width, value, memory, backend, scratch);
                // A reset, or the queue disabled, forgets requests in flight.
                (0, effects.reset || device.in_flight() < in_flight && offset == janus_virtio::registers::offset::QUEUE_READY)
            }
            None => (device.read(offset, width, backend), false),
        };
        let raised = device.interrupt_line() && !before;
        (Access { value, interrupt: raised, error: device.take_last_error(), delivered: false }, reset)
    })?;
    if reset {
        // The driver may reuse its buffers once the reset returns: wait
        // until the physical disk is done with them.
        if drain(index) {
            release_stale_ciphertext(index);
        }
    }
    // Only a write can have collected finished requests here (a notify
    // submits, which collects; a reset drains): hand them on at once. A read
    // or an acknowledgement leaves them to the disk's interrupt or the kick.
    let collected = write.is_some() && offset != janus_virtio::registers::offset::INTERRUPT_ACKNOWLEDGE;
    let delivered = collected && deliver_finished();
    Some(Access { delivered, ..access })
}

/// Waits (at most a second) until none of personality `index`'s requests
/// is on the physical queue; their completions find the device reset and
/// are dropped.
/// Returns whether they did (a device that keeps them longer is left
/// alone: any late DMA lands in that personality's own RAM or buffer).
fn drain(index: usize) -> bool {
    let deadline = crate::arch::counter().saturating_add(crate::arch::counter_frequency());
    loop {
        let busy = with_disk_raw(|disk| {
            disk.collect();
            Ok(disk.in_flight(index))
        });
        if !matches!(busy, Ok(true)) {
            return true;
        }
        if crate::arch::counter() > deadline {
            log::warn!("disk: requests of personality {index} did not finish within 1 s of its reset");
            return false;
        }
        core::hint::spin_loop();
    }
}

/// After a drain: the enciphered request a reset forgot has left the
/// physical queue, so its ciphertext buffer is free again (its completion,
/// still to be delivered, changes nothing). A request another vCPU started
/// since the reset is current and keeps the buffer.
fn release_stale_ciphertext(index: usize) {
    // No device (no disk for this personality): nothing to release.
    let _ = with_device(index, |device, _, _, _| {
        if let Some(slot) = ENCIPHERED.get(index) {
            let mut slot = slot.lock();
            if slot.pending.get().is_some_and(|(cookie, ..)| !device.is_current(RequestTag::from_bits(cookie))) {
                slot.pending.set(None);
            }
        }
    });
}

/// Hands requests the physical disk finished to their virtual disks, and
/// raises the virtual interrupt of each whose line is up. Called with no
/// storage lock held.
/// Returns whether it delivered any here (the caller then refreshes its
/// own vCPU's interrupts: a kick is not sent to the calling core).
pub fn deliver_finished() -> bool {
    let this = crate::system::this_cpu();
    let mut delivered = false;
    // Delivering can collect more (a completion lets a waiting request go
    // to the disk, and a synchronous one polls the queue), possibly for a
    // personality already looked at: go round again until a round finds
    // nothing for this core (bounded: each round delivers something).
    for _ in 0..8 {
        let mut progress = false;
        for (index, waiting) in disk::FINISHED_WAITING.iter().enumerate() {
            if !waiting.load(core::sync::atomic::Ordering::Acquire) {
                continue;
            }
            let core = DELIVERY_CORE.get(index).map_or(usize::MAX, |core| core.load(core::sync::atomic::Ordering::Relaxed));
            if core == this || core == usize::MAX {
                deliver_to(index);
                progress = true;
            } else {
                // Its own core hands them over (the kick handler calls
                // back).
                crate::gic::kick(core);
            }
        }
        delivered |= progress;
        if !progress {
            break;
        }
    }
    delivered
}

/// Hands personality `index`'s finished requests to its model (deciphering
/// finished reads of an enciphered disk) and raises its virtual interrupt
/// if the line went up.
fn deliver_to(index: usize) {
    // Bounded: at most the queue's worth per call.
    for _ in 0..256 {
        let Ok(Some(finished)) = with_disk_raw(|disk| Ok(disk.take_finished(index))) else { return };
        let tag = RequestTag::from_bits(finished.cookie);
        let result = if finished.ok { Ok(()) } else { Err(BackendError::Io) };
        let raised = with_device(index, |device, memory, backend, scratch| {
            let before = device.interrupt_line();
            let result = decipher_finished(index, backend.cipher, finished.cookie, device.is_current(tag), result);
            device.complete(tag, result, memory, backend, scratch);
            device.interrupt_line() && !before
        });
        if raised == Some(true)
            && let Some(system) = crate::system::get()
        {
            crate::trap::raise_disk_interrupt(system, index);
        }
    }
}

/// The physical disk's interrupt, if Janus takes it.
pub fn physical_interrupt() -> Option<u32> {
    ROUTE.get().map(|route| route.interrupt)
}

/// The physical disk raised its interrupt: collect what it finished and
/// hand it on.
pub fn interrupt() {
    // No physical disk: an interrupt that is not ours to collect.
    let _ = with_disk_raw(|disk| {
        disk.acknowledge_interrupt();
        disk.collect();
        Ok(())
    });
    // Called from the interrupt path, which refreshes this core's vCPU
    // (the result says whether it must: it will anyway).
    let _ = deliver_finished();
}

/// Enables the physical disk's interrupt if it is routed to this core
/// (each core calls this once its GIC interface is up).
pub fn enable_interrupt_on(cpu: usize) {
    if let Some(route) = ROUTE.get()
        && route.core == cpu
    {
        crate::gic::enable_spi_on(route.interrupt, cpu);
    }
}

/// Puts personality `index`'s disk back in its reset state (the
/// personality is restarting) once the physical disk is done with its
/// buffers, after making everything it wrote durable.
pub fn reset(index: usize) {
    let Some(slot) = DISKS.get(index) else { return };
    let present = {
        let mut guard = slot.lock();
        guard.as_mut().map(|disk| disk.device.reset()).is_some()
    };
    if present {
        if drain(index) {
            release_stale_ciphertext(index);
        }
        // A flush that fails leaves nothing more to do here: the device is
        // reset anyway (its guest is stopping); a delivery's "refresh"
        // result is moot: the personality's vCPUs are stopped.
        let _ = with_disk(|physical| physical.flush());
        let _ = deliver_finished();
    }
}

/// Why storage could not be brought up; boot stops with this line.
pub enum BringUpError {
    /// No virtio-blk device was found.
    NoDisk,
    /// The disk's partition table is not usable.
    Layout(janus_disklayout::LayoutError),
    /// A physical read or write failed.
    Io(&'static str),
    /// An encrypted disk needs random bytes and there is no entropy source.
    NoEntropy,
    /// The key metadata is unreadable.
    Meta(janus_diskcrypt::MetaError),
    /// A partition's mode or key: the stored key does not unwrap (or the
    /// random bytes were refused), the manifest asks for the other mode
    /// than the one recorded, or there is no device key.
    Provision {
        /// The partition.
        partition: &'static str,
        /// What is wrong.
        error: janus_diskcrypt::ProvisionError,
    },
}

impl core::fmt::Display for BringUpError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::NoDisk => write!(
                f,
                "no virtio-blk disk found, but a personality has a disk. Fix: attach the Janus disk (cargo xtask run attaches its disk.img, see JANUS_DISK)"
            ),
            Self::Layout(error) => {
                write!(f, "the physical disk is not a Janus disk: {error}. Fix: give Janus a disk made by cargo xtask (it never overwrites a foreign one)")
            }
            Self::Io(what) => write!(f, "physical disk I/O failed while {what}"),
            Self::NoEntropy => write!(
                f,
                "no entropy source to make the work disk's key. Fix: give the board a random number generator (QEMU: -device virtio-rng-device, which cargo xtask adds)"
            ),
            Self::Meta(error) => write!(f, "janus-meta: {error}"),
            Self::Provision { partition, error } => provision_message(f, partition, error),
        }
    }
}

/// What [`BringUpError::Provision`] says: the partition, the problem and
/// the fix.
fn provision_message(f: &mut core::fmt::Formatter<'_>, partition: &str, error: &janus_diskcrypt::ProvisionError) -> core::fmt::Result {
    use janus_diskcrypt::{PartitionMode, ProvisionError};
    let reprovision = "to change it, re-provision the partition on the host, which DESTROYS its data";
    match error {
        ProvisionError::ModeMismatch { recorded, requested } => write!(
            f,
            "disk {partition}: {error}; booting it {requested} would make its data unreadable. Fix: set encrypted = {} on the disk of partition {partition} in the manifest again (nothing on the disk was changed); {reprovision}: cargo xtask reprovision {partition} --destroy-data",
            *recorded == PartitionMode::Encrypted
        ),
        ProvisionError::UnrecordedData => write!(
            f,
            "disk {partition}: {error}; encrypting would destroy that data. Fix: boot it once with encrypted = false (janus-meta then records it as not encrypted); {reprovision}: cargo xtask reprovision {partition} --destroy-data"
        ),
        ProvisionError::NoDeviceKey => write!(f, "disk {partition}: {error}. Fix: rebuild the image with cargo xtask, which embeds the device key"),
        error => write!(
            f,
            "disk {partition}: {error}: its key does not unwrap with this device's key. Fix: boot with the device key the disk was made with (cargo xtask embeds its device-key, see JANUS_DEVICE_KEY); the data cannot be read without it"
        ),
    }
}

fn read_sector(lba: u64, buffer: &mut [u8]) -> Result<(), BringUpError> {
    with_disk(|disk| disk.read(lba, buffer)).map_err(|_| BringUpError::Io("reading"))
}

fn write_sectors(lba: u64, data: &[u8]) -> Result<(), BringUpError> {
    with_disk(|disk| disk.write(lba, data)).map_err(|_| BringUpError::Io("writing janus-meta"))?;
    with_disk(|disk| disk.flush()).map_err(|_| BringUpError::Io("flushing janus-meta"))
}

/// Sector reads for the partition table, 64 sectors per physical request
/// (the GPT reader asks for about 130 sectors one by one, each a round trip
/// to the device).
struct ReadAhead<'a> {
    first: Option<u64>,
    sectors: &'a mut [u8],
}

impl ReadAhead<'_> {
    const SECTORS: usize = 64;

    fn read(&mut self, lba: u64, buffer: &mut [u8; SECTOR]) -> Result<(), BringUpError> {
        let cached = |first: u64| lba.checked_sub(first).filter(|&offset| offset < Self::SECTORS as u64);
        let offset = match self.first.and_then(cached) {
            Some(offset) => offset,
            None => {
                // Near the end of the disk, fall back to single sectors.
                let window = self.sectors.get_mut(..Self::SECTORS * SECTOR).ok_or(BringUpError::Io("reading"))?;
                if read_sector(lba, window).is_err() {
                    self.first = None;
                    return read_sector(lba, buffer);
                }
                self.first = Some(lba);
                0
            }
        };
        let start = (offset as usize) * SECTOR;
        let cached = self.sectors.get(start..start + SECTOR).ok_or(BringUpError::Io("reading"))?;
        buffer.copy_from_slice(cached);
        Ok(())
    }
}

/// Writes one planned metadata record and flushes it.
fn commit(meta: Partition, write: &janus_diskcrypt::PlannedWrite) -> Result<(), BringUpError> {
    let mut block = [0u8; janus_diskcrypt::META_BLOCK_SIZE];
    write.encode(&mut block);
    let lba = meta.disk_lba(write.first_sector()).ok_or(BringUpError::Io("locating janus-meta"))?;
    write_sectors(lba, &block)
}

/// Whether the first 64 KiB (or all) of `partition` are zero: a partition
/// xtask made or re-provisioned, never written since.
fn is_blank(partition: Partition) -> Result<bool, BringUpError> {
    let Some(scratch) = SCRATCH.first() else { return Err(BringUpError::Io("reading")) };
    let mut scratch = scratch.lock();
    let length = usize::try_from(partition.sectors.saturating_mul(SECTOR as u64)).unwrap_or(usize::MAX).min(SCRATCH_SIZE);
    let window = scratch.0.get_mut(..length).ok_or(BringUpError::Io("reading"))?;
    if window.is_empty() {
        return Ok(true);
    }
    let lba = partition.disk_lba(0).ok_or(BringUpError::Io("locating a partition"))?;
    read_sector(lba, window)?;
    Ok(window.iter().all(|&byte| byte == 0))
}

/// Partition `name`'s key slot: checks the mode the manifest asks for
/// against the one janus-meta recorded at first use, then unwraps its data
/// key, or makes one from the entropy source (or records the plaintext
/// mode) crash-consistently on first use. Returns the key of an encrypted
/// partition and whether this boot provisioned it.
#[cold]
fn provision(
    meta: Partition,
    partition: Partition,
    name: &'static str,
    device: Option<&janus_diskcrypt::DeviceKey>,
    key_slot: usize,
    requested: janus_diskcrypt::PartitionMode,
) -> Result<(Option<janus_diskcrypt::DataKey>, bool), BringUpError> {
    let mut slots = [[0u8; janus_diskcrypt::META_BLOCK_SIZE]; 2];
    for (slot, first) in slots.iter_mut().zip(janus_diskcrypt::SLOT_FIRST_SECTORS) {
        let lba = meta.disk_lba(first).ok_or(BringUpError::Io("locating janus-meta"))?;
        read_sector(lba, slot)?;
    }
    let [slot0, slot1] = &slots;
    let selection = janus_diskcrypt::select(slot0, slot1).map_err(BringUpError::Meta)?;
    let recorded = selection.current.as_ref().and_then(|record| record.mode(key_slot));
    let mut random = zeroize::Zeroizing::new([0u8; 64]);
    if recorded.is_none() && requested == janus_diskcrypt::PartitionMode::Encrypted && !disk::random(&mut *random) {
        return Err(BringUpError::NoEntropy);
    }
    let blank = is_blank(partition)?;
    let provisioned = janus_diskcrypt::provision_partition(&selection, device, key_slot, requested, blank, || *random)
        .map_err(|error| BringUpError::Provision { partition: name, error })?;
    for write in provisioned.writes.iter().flatten() {
        commit(meta, write)?;
    }
    Ok((provisioned.key, provisioned.new))
}

/// Per personality: its disk was provisioned this boot (its `/init` may
/// format it), as [`mark_new_disk`] tells the guest.
static NEWLY_PROVISIONED: [core::sync::atomic::AtomicBool; MAX_PERSONALITIES] = [const { core::sync::atomic::AtomicBool::new(false) }; MAX_PERSONALITIES];

/// If personality `index`'s disk was provisioned this boot, rewrites the
/// disk-state argument of its device tree, just loaded at `address`
/// (`length` bytes), to say so (`janus.disk=new`).
///
/// # Safety
///
/// `[address, address + length)` must be the personality's RAM, which
/// Janus identity-maps, with none of its vCPUs running.
pub unsafe fn mark_new_disk(index: usize, address: u64, length: usize) {
    let new = NEWLY_PROVISIONED.get(index).is_some_and(|flag| flag.load(core::sync::atomic::Ordering::Acquire));
    if new {
        // SAFETY: per the contract: guest RAM, unused while it is stopped.
        let tree = unsafe { core::slice::from_raw_parts_mut(address as *mut u8, length) };
        if !janus_manifest::mark_disk_new(tree) {
            log::warn!("personality {index}: its command line has no {}: its /init is not told the disk is new", janus_manifest::DISK_STATE_ARGUMENT);
        }
    }
}

/// Finds the physical disk, reads its partition table and gives every
/// personality with a disk in the plan its partition (boot core, once,
/// before any personality runs). Does nothing if no personality has a disk.
#[cold]
pub fn bring_up(plan: &janus_manifest::BootPlan) -> Result<(), BringUpError> {
    if plan.personalities.iter().all(|personality| personality.disk.is_none()) {
        return Ok(());
    }
    let Some(storage) = plan.board.storage else { return Err(BringUpError::NoDisk) };
    let found = disk::probe(&storage);
    let Some(sectors) = found.disk_sectors else { return Err(BringUpError::NoDisk) };
    let interrupt = found.disk_interrupt;
    // Personality 0's bounce buffer is free until the disks are attached.
    let Some(scratch) = SCRATCH.first() else { return Err(BringUpError::Io("reading")) };
    let mut scratch = scratch.lock();
    let mut cache = ReadAhead { first: None, sectors: &mut scratch.0 };
    let layout = janus_disklayout::read_layout(sectors, |lba, buffer: &mut [u8; 512]| cache.read(lba, buffer)).map_err(BringUpError::Layout)?;
    drop(scratch);
    if !layout.headers_intact() {
        log::warn!("disk: one of the two GPT headers is damaged; using the other (nothing is repaired)");
    }
    log::info!("disk: {} MiB, partitions personal {} MiB, work {} MiB", sectors / 2048, layout.personal.sectors / 2048, layout.work.sectors / 2048);
    // The device key lives in this copy only until the disks are up.
    let device = match plan.device_key {
        Some(bytes) => Some(
            janus_diskcrypt::DeviceKey::from_bytes(bytes)
                .map_err(|error| BringUpError::Provision { partition: "janus-meta", error: janus_diskcrypt::ProvisionError::Key(error) })?,
        ),
        None => None,
    };
    for (index, personality) in plan.personalities.iter().enumerate() {
        let Some(disk_plan) = personality.disk else { continue };
        let (partition, key_slot) = match disk_plan.partition {
            janus_manifest::DiskPartition::Personal => (layout.personal, janus_diskcrypt::PERSONAL_KEY_SLOT),
            janus_manifest::DiskPartition::Work => (layout.work, janus_diskcrypt::WORK_KEY_SLOT),
        };
        let name = disk_plan.partition.name();
        let mode = if disk_plan.encrypted { janus_diskcrypt::PartitionMode::Encrypted } else { janus_diskcrypt::PartitionMode::Plaintext };
        let (key, new) = provision(layout.meta, partition, name, device.as_ref(), key_slot, mode)?;
        let state = if new { "provisioned now, recorded in janus-meta" } else { "as recorded in janus-meta" };
        let cipher = key.as_ref().map(DiskCipher::new);
        match &cipher {
            Some(cipher) => log::info!(
                "{}: disk {name} encrypted with AES-XTS-256, {} ({state}{})",
                personality.name,
                cipher.name(),
                if new { "; new key made and wrapped" } else { "; key unwrapped" }
            ),
            None => log::info!("{}: disk {name} not encrypted ({state})", personality.name),
        }
        if let Some(flag) = NEWLY_PROVISIONED.get(index) {
            flag.store(new, core::sync::atomic::Ordering::Release);
        }
        attach(index, &personality.name, personality.ram, partition, cipher);
    }
    share_and_route(plan, interrupt);
    Ok(())
}

/// Shares the physical queue among the personalities with a disk, names
/// the core that delivers each one's finished requests, and, if the board
/// names the disk's interrupt, routes it to the first core of the first
/// personality with a disk: requests then complete asynchronously (an
/// enciphered disk's one at a time).
fn share_and_route(plan: &janus_manifest::BootPlan, interrupt: Option<u32>) {
    let with_disk_count = plan.personalities.iter().filter(|personality| personality.disk.is_some()).count();
    let max_segments = {
        let mut guard = disk::DISK.lock();
        let Some(physical) = guard.as_mut() else { return };
        physical.share(with_disk_count);
        physical.max_guest_segments()
    };
    for slot in &DISKS {
        if let Some(disk) = slot.lock().as_mut() {
            disk.max_segments = max_segments;
        }
    }
    for (personality, core) in plan.personalities.iter().zip(&DELIVERY_CORE) {
        if let (Some(first), Some(_)) = (personality.cpus.first(), personality.disk) {
            core.store(usize::from(*first), core::sync::atomic::Ordering::Relaxed);
        }
    }
    let first = plan.personalities.iter().find(|personality| personality.disk.is_some());
    if let (Some(interrupt), Some(core)) = (interrupt, first.and_then(|personality| personality.cpus.first())) {
        ROUTE.call_once(|| Route { interrupt, core: usize::from(*core) });
        log::info!("disk: requests complete with interrupt {interrupt} on core {core}");
    }
}
