//! Each personality's private disk: the virtio-blk model of `janus-virtio`
//! over one GPT partition of the physical disk (`janus-disklayout`), with
//! the work partition encrypted sector by sector (`janus-diskcrypt`).
//!
//! Requests are served synchronously on the core whose vCPU wrote
//! QueueNotify: the model copies each descriptor and header out of guest
//! RAM before checking it. Data is not copied by the CPU on the plain path:
//! the guest's buffers, checked to lie in its RAM, go to the physical disk
//! as one scatter-gather request per MiB, which the device fills or drains
//! by DMA. The enciphered path deciphers from (enciphers into) a
//! per-personality 64 KiB buffer straight to (from) the guest's buffers.
//! Anything else (a sector split between two buffers on the enciphered
//! path, more buffers than one physical request carries) goes through the
//! model's copy path and a 64 KiB bounce buffer. The physical disk's ticket
//! lock is taken once per physical request (at most 1 MiB), so a
//! personality flooding its queue delays the other by at most one of them.

use janus_diskcrypt::{CryptError, DataKey, SectorCipher, XtsRoundKeys};
use janus_disklayout::Partition;
use janus_manifest::MAX_PERSONALITIES;
use janus_platform::PhysRange;
use janus_virtio::{BackendError, BlockBackend, BlockConfig, GuestMemory, MemoryError, Segment, SegmentCursor, VirtioBlock};
use spin::Mutex;

use crate::disk::{self, SECTOR};

/// The bounce buffer per personality: the largest chunk the copy path and
/// the enciphered path move per lock.
const SCRATCH_SIZE: usize = 64 * 1024;
/// The largest physical request a direct (plain) transfer makes per lock.
const DIRECT_CHUNK: usize = disk::MAX_SEGMENT_BYTES;
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
            Self::Hardware(extension, keys) => unsafe {
                extension.encrypt_raw(keys, first_sector, source, destination.as_mut_ptr(), destination.len())
            },
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
            Self::Hardware(extension, keys) => unsafe {
                extension.decrypt_raw(keys, first_sector, source.as_ptr(), destination, source.len())
            },
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
}

static DISKS: [Mutex<Option<VirtualDisk>>; MAX_PERSONALITIES] = [const { Mutex::new(None) }; MAX_PERSONALITIES];
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
fn attach(index: usize, name: &str, ram: PhysRange, partition: Partition, cipher: Option<DiskCipher>) -> bool {
    let Some(slot) = DISKS.get(index) else { return false };
    let config = BlockConfig {
        serial: serial(name),
        queue_size_max: QUEUE_SIZE,
        segment_max: disk::MAX_SEGMENTS as u32,
        size_max: SCRATCH_SIZE as u32,
    };
    let scatter_gather = disk::DISK.lock().as_ref().is_some_and(disk::Disk::scatter_gather);
    *slot.lock() = Some(VirtualDisk { device: VirtioBlock::new(config), partition, cipher, ram, scatter_gather });
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
    fn direct_length(&self, segments: &[Segment]) -> Option<usize> {
        if segments.len() > disk::MAX_SEGMENTS || (self.cipher.is_none() && !self.scatter_gather) {
            return None;
        }
        let mut total = 0usize;
        for segment in segments {
            let whole = self.cipher.is_none() || (segment.length as usize).is_multiple_of(SECTOR);
            if !whole || !self.ram.contains_span(segment.address, u64::from(segment.length)) {
                return None;
            }
            total = total.checked_add(segment.length as usize)?;
        }
        Some(total)
    }

    /// A direct transfer, both directions: false (declined, the model
    /// copies instead) unless `direct_length` takes the segments.
    fn transfer_direct(&mut self, write: bool, sector: u64, segments: &[Segment]) -> Result<bool, BackendError> {
        let Some(total) = self.direct_length(segments) else { return Ok(false) };
        let physical = self.physical(sector, total)?;
        match self.cipher {
            None => self.transfer_plain(write, physical, segments, total)?,
            Some(cipher) => self.transfer_enciphered(write, cipher, sector, physical, segments, total)?,
        }
        Ok(true)
    }

    /// A plain transfer: the physical disk moves the data straight between
    /// the partition and the guest's buffers, one physical request per
    /// [`DIRECT_CHUNK`] (the disk lock is released in between).
    fn transfer_plain(&self, write: bool, physical: u64, segments: &[Segment], total: usize) -> Result<(), BackendError> {
        let mut cursor = SegmentCursor::new(segments);
        let mut done = 0usize;
        while done < total {
            let bytes = (total - done).min(DIRECT_CHUNK);
            // A chunk holds pieces of at most every segment: no more than
            // `direct_length` allowed.
            let mut pieces: heapless::Vec<Segment, { disk::MAX_SEGMENTS }> = heapless::Vec::new();
            cursor.pieces(bytes, |address, _, length| {
                let length = u32::try_from(length).map_err(|_| BackendError::Io)?;
                pieces.push(Segment { address, length }).map_err(|_| BackendError::Io)
            })?;
            let at = physical + (done / SECTOR) as u64;
            // SAFETY: every piece lies inside the personality's RAM
            // (`direct_length`), which Janus identity-maps and never uses
            // itself; for a read the model checked that the guest made the
            // buffers device-writable.
            with_disk(|disk| unsafe { disk.transfer(write, at, &pieces) })?;
            done += bytes;
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
            cursor.pieces(bytes, |address, filled, length| {
                let piece = chunk.get_mut(filled..filled + length).ok_or(BackendError::Io)?;
                let first = sector + ((done + filled) / SECTOR) as u64;
                // SAFETY: `address` spans `length` bytes of one segment,
                // inside the personality's RAM (`direct_length`).
                let result = unsafe {
                    if write {
                        cipher.encrypt_from_guest(first, address as *const u8, piece)
                    } else {
                        cipher.decrypt_into_guest(first, piece, address as *mut u8)
                    }
                };
                result.map_err(|_| BackendError::Io)
            })?;
            if write {
                with_disk(|disk| disk.write(at, chunk))?;
            }
            done += bytes;
        }
        Ok(())
    }
}

fn with_disk<T>(operation: impl FnOnce(&mut disk::Disk) -> Result<T, disk::DiskError>) -> Result<T, BackendError> {
    let mut guard = disk::DISK.lock();
    let Some(physical) = guard.as_mut() else { return Err(BackendError::Io) };
    operation(physical).map_err(|error| match error {
        disk::DiskError::OutOfRange => BackendError::OutOfRange,
        disk::DiskError::Unaligned | disk::DiskError::TooManySegments | disk::DiskError::Device => BackendError::Io,
    })
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

    fn read_into_guest(&mut self, sector: u64, segments: &[Segment], _memory: &mut dyn GuestMemory) -> Result<bool, BackendError> {
        self.transfer_direct(false, sector, segments)
    }

    fn write_from_guest(&mut self, sector: u64, segments: &[Segment], _memory: &mut dyn GuestMemory) -> Result<bool, BackendError> {
        self.transfer_direct(true, sector, segments)
    }
}

/// What a guest access did.
pub struct Access {
    /// The value for a read.
    pub value: u64,
    /// The device's interrupt line is up after the access.
    pub interrupt: bool,
    /// A guest error to report (rate-limited by the caller).
    pub error: Option<janus_virtio::DeviceError>,
}

/// A guest access to personality `index`'s disk registers at `offset`.
pub fn access(index: usize, offset: u64, width: u8, write: Option<u64>) -> Option<Access> {
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
    };
    let mut memory = GuestRam(disk.ram);
    let value = match write {
        Some(value) => {
            let _ = disk.device.write(offset, width, value, &mut memory, &mut backend, &mut scratch.0);
            0
        }
        None => disk.device.read(offset, width, &backend),
    };
    Some(Access { value, interrupt: disk.device.interrupt_line(), error: disk.device.take_last_error() })
}

/// Puts personality `index`'s disk back in its reset state (the
/// personality is restarting) after making everything it wrote durable.
pub fn reset(index: usize) {
    let Some(slot) = DISKS.get(index) else { return };
    let mut guard = slot.lock();
    if let Some(disk) = guard.as_mut() {
        disk.device.reset();
        let _ = with_disk(|physical| physical.flush());
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
    /// The stored key does not unwrap (or the random bytes were refused).
    Key(janus_diskcrypt::ProvisionError),
    /// The plan has an encrypted disk but no device key.
    NoDeviceKey,
}

impl core::fmt::Display for BringUpError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::NoDisk => write!(
                f,
                "no virtio-blk disk found, but a personality has a disk. Fix: attach the Janus disk (cargo xtask run attaches target/janus/disk.img)"
            ),
            Self::Layout(error) => write!(
                f,
                "the physical disk is not a Janus disk: {error}. Fix: give Janus a disk made by cargo xtask (it never overwrites a foreign one)"
            ),
            Self::Io(what) => write!(f, "physical disk I/O failed while {what}"),
            Self::NoEntropy => write!(
                f,
                "no entropy source to make the work disk's key. Fix: give the board a random number generator (QEMU: -device virtio-rng-device, which cargo xtask adds)"
            ),
            Self::Meta(error) => write!(f, "janus-meta: {error}"),
            Self::Key(error) => write!(
                f,
                "{error}: the encrypted disk's key does not unwrap with this device's key. Fix: boot with the device key the disk was made with (target/janus/device-key); the work data cannot be read without it"
            ),
            Self::NoDeviceKey => write!(f, "an encrypted disk needs a device key and the plan has none. Fix: rebuild with cargo xtask"),
        }
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

/// An encrypted disk's data key (key slot `key_slot`): unwrapped from
/// janus-meta, or made from the entropy source and recorded there
/// crash-consistently (first boot, or after a wipe).
fn disk_key(meta: Partition, device_key: &[u8; 32], key_slot: usize) -> Result<(janus_diskcrypt::DataKey, bool), BringUpError> {
    let device = janus_diskcrypt::DeviceKey::from_bytes(*device_key).map_err(|error| BringUpError::Key(error.into()))?;
    let mut slots = [[0u8; janus_diskcrypt::META_BLOCK_SIZE]; 2];
    for (slot, first) in slots.iter_mut().zip(janus_diskcrypt::SLOT_FIRST_SECTORS) {
        let lba = meta.disk_lba(first).ok_or(BringUpError::Io("locating janus-meta"))?;
        read_sector(lba, slot)?;
    }
    let [slot0, slot1] = &slots;
    let selection = janus_diskcrypt::select(slot0, slot1).map_err(BringUpError::Meta)?;
    let stored = selection
        .current
        .as_ref()
        .and_then(|record| record.key_slots.get(key_slot).copied().flatten())
        .is_some();
    let mut random = [0u8; 64];
    if !stored && !disk::random(&mut random) {
        return Err(BringUpError::NoEntropy);
    }
    let provisioned = janus_diskcrypt::provision_or_load(&selection, &device, key_slot, || random);
    random.fill(0);
    match provisioned.map_err(BringUpError::Key)? {
        janus_diskcrypt::Provisioned::Loaded { key, scrub } => {
            if let Some(write) = scrub {
                commit(meta, &write)?;
            }
            Ok((key, false))
        }
        janus_diskcrypt::Provisioned::Created { key, plan } => {
            for write in &plan.writes {
                commit(meta, write)?;
            }
            Ok((key, true))
        }
    }
}

/// Finds the physical disk, reads its partition table and gives every
/// personality with a disk in the plan its partition (boot core, once,
/// before any personality runs). Does nothing if no personality has a disk.
pub fn bring_up(plan: &janus_manifest::BootPlan) -> Result<(), BringUpError> {
    if plan.personalities.iter().all(|personality| personality.disk.is_none()) {
        return Ok(());
    }
    let Some(storage) = plan.board.storage else { return Err(BringUpError::NoDisk) };
    let found = disk::probe(&storage);
    let Some(sectors) = found.disk_sectors else { return Err(BringUpError::NoDisk) };
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
    for (index, personality) in plan.personalities.iter().enumerate() {
        let Some(disk_plan) = personality.disk else { continue };
        let (partition, key_slot) = match disk_plan.partition {
            janus_manifest::DiskPartition::Personal => (layout.personal, janus_diskcrypt::PERSONAL_KEY_SLOT),
            janus_manifest::DiskPartition::Work => (layout.work, janus_diskcrypt::WORK_KEY_SLOT),
        };
        let cipher = if disk_plan.encrypted {
            let Some(device_key) = plan.device_key.as_ref() else { return Err(BringUpError::NoDeviceKey) };
            let (key, created) = disk_key(layout.meta, device_key, key_slot)?;
            let cipher = DiskCipher::new(&key);
            log::info!(
                "{}: disk {} encrypted with AES-XTS-256, {} ({})",
                personality.name,
                disk_plan.partition.name(),
                cipher.name(),
                if created { "new key made and wrapped in janus-meta" } else { "key unwrapped from janus-meta" }
            );
            Some(cipher)
        } else {
            log::info!("{}: disk {} (not encrypted)", personality.name, disk_plan.partition.name());
            None
        };
        attach(index, &personality.name, personality.ram, partition, cipher);
    }
    Ok(())
}
