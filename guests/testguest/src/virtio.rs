//! A small polling virtio-blk driver over virtio-mmio version 2, with bounce
//! buffers in this guest's RAM and the raw queue access the disk attacks
//! need. Follows virtio 1.2 §3.1.1 (initialisation), §4.2.2/§4.2.3 (MMIO
//! registers and their use), §2.7 (split virtqueues) and §5.2 (block
//! device). Guest RAM is identity mapped (the MMU is off), so a pointer is
//! a guest-physical address.

use core::cell::UnsafeCell;
use core::fmt;

/// Register offsets in the MMIO window (virtio 1.2 §4.2.2).
pub mod register {
    pub const MAGIC_VALUE: u64 = 0x000;
    pub const VERSION: u64 = 0x004;
    pub const DEVICE_ID: u64 = 0x008;
    pub const DEVICE_FEATURES: u64 = 0x010;
    pub const DEVICE_FEATURES_SELECT: u64 = 0x014;
    pub const DRIVER_FEATURES: u64 = 0x020;
    pub const DRIVER_FEATURES_SELECT: u64 = 0x024;
    pub const QUEUE_SELECT: u64 = 0x030;
    pub const QUEUE_SIZE_MAX: u64 = 0x034;
    pub const QUEUE_SIZE: u64 = 0x038;
    pub const QUEUE_READY: u64 = 0x044;
    pub const QUEUE_NOTIFY: u64 = 0x050;
    pub const INTERRUPT_STATUS: u64 = 0x060;
    pub const INTERRUPT_ACKNOWLEDGE: u64 = 0x064;
    pub const STATUS: u64 = 0x070;
    pub const QUEUE_DESCRIPTOR_LOW: u64 = 0x080;
    pub const QUEUE_DESCRIPTOR_HIGH: u64 = 0x084;
    pub const QUEUE_DRIVER_LOW: u64 = 0x090;
    pub const QUEUE_DRIVER_HIGH: u64 = 0x094;
    pub const QUEUE_DEVICE_LOW: u64 = 0x0a0;
    pub const QUEUE_DEVICE_HIGH: u64 = 0x0a4;
    pub const CONFIG_GENERATION: u64 = 0x0fc;
    /// `struct virtio_blk_config` (§5.2.4): `capacity` (u64) at 0x00,
    /// `size_max` at 0x08, `seg_max` at 0x0c, `blk_size` at 0x14.
    pub const CONFIG: u64 = 0x100;
    pub const CONFIG_CAPACITY: u64 = CONFIG;
    pub const CONFIG_SIZE_MAX: u64 = CONFIG + 0x08;
    pub const CONFIG_SEGMENT_MAX: u64 = CONFIG + 0x0c;
}

/// Device status bits (§2.1).
pub mod status {
    pub const ACKNOWLEDGE: u32 = 1;
    pub const DRIVER: u32 = 2;
    pub const DRIVER_OK: u32 = 4;
    pub const FEATURES_OK: u32 = 8;
    pub const DEVICE_NEEDS_RESET: u32 = 0x40;
    pub const FAILED: u32 = 0x80;
}

/// `InterruptStatus` bits (§4.2.2).
pub mod interrupt {
    pub const CONFIG_CHANGE: u32 = 2;
}

/// Feature bits (§5.2.3, §6).
pub mod feature {
    pub const BLOCK_SIZE_MAX: u64 = 1 << 1;
    pub const BLOCK_SEGMENT_MAX: u64 = 1 << 2;
    pub const BLOCK_READ_ONLY: u64 = 1 << 5;
    pub const BLOCK_BLOCK_SIZE: u64 = 1 << 6;
    pub const BLOCK_FLUSH: u64 = 1 << 9;
    pub const VERSION_1: u64 = 1 << 32;
    /// Everything this driver can use; it accepts the offered subset.
    pub const WANTED: u64 = VERSION_1 | BLOCK_SIZE_MAX | BLOCK_SEGMENT_MAX | BLOCK_READ_ONLY | BLOCK_BLOCK_SIZE | BLOCK_FLUSH;
}

/// Request types (`virtio_blk_req.type`, §5.2.6).
pub mod request_type {
    pub const IN: u32 = 0;
    pub const OUT: u32 = 1;
    pub const FLUSH: u32 = 4;
}

/// Status byte values (§5.2.6).
pub mod request_status {
    pub const OK: u8 = 0;
    pub const IO_ERROR: u8 = 1;
    /// Not a status: what the driver puts in the status byte before
    /// submitting, to see whether the device wrote it.
    pub const UNTOUCHED: u8 = 0xff;
}

/// `MagicValue`: "virt".
pub const MAGIC: u32 = 0x7472_6976;
/// `Version` of the modern transport.
pub const VERSION: u32 = 2;
/// `DeviceID` of a block device (§5).
pub const DEVICE_ID_BLOCK: u32 = 2;

/// `VIRTQ_DESC_F_NEXT` (§2.7.5).
pub const DESCRIPTOR_NEXT: u16 = 1;
/// `VIRTQ_DESC_F_WRITE`: device-writable.
pub const DESCRIPTOR_WRITE: u16 = 2;
/// `VIRTQ_AVAIL_F_NO_INTERRUPT` (§2.7.7): this driver polls.
const AVAILABLE_NO_INTERRUPT: u16 = 1;

/// Bytes of a sector.
pub const SECTOR_BYTES: usize = 512;
/// Bytes of a request header (`type`, `reserved`, `sector`).
pub const HEADER_BYTES: u32 = 16;
/// Largest queue this driver sets up (fewer if `QueueNumMax` is smaller).
pub const QUEUE_SIZE: u16 = 16;
/// Request header and status slots (requests in flight at once).
pub const SLOTS: u16 = 8;
/// Bytes of the bounce buffer for data.
pub const DATA_BYTES: usize = 8192;
/// How long a request may take before the driver gives up on it.
const TIMEOUT_MILLISECONDS: u64 = 1000;

/// `struct virtq_desc` (§2.7.5).
#[repr(C)]
struct RawDescriptor {
    address: u64,
    length: u32,
    flags: u16,
    next: u16,
}

/// `struct virtq_avail` (§2.7.6).
#[repr(C)]
struct RawAvailable {
    flags: u16,
    index: u16,
    ring: [u16; QUEUE_SIZE as usize],
    used_event: u16,
}

/// `struct virtq_used_elem` (§2.7.8).
#[repr(C)]
struct RawUsedElement {
    id: u32,
    length: u32,
}

/// `struct virtq_used` (§2.7.8).
#[repr(C)]
struct RawUsed {
    flags: u16,
    index: u16,
    ring: [RawUsedElement; QUEUE_SIZE as usize],
    available_event: u16,
}

/// `struct virtio_blk_req`'s header (§5.2.6).
#[repr(C)]
struct RawHeader {
    request: u32,
    reserved: u32,
    sector: u64,
}

/// Everything the device reads or writes: the queue, request headers and
/// status bytes, and the data bounce buffer. Every part is aligned as §2.7
/// requires (descriptors 16, available ring 2, used ring 4), and every field
/// at its natural alignment (the MMU is off: all data accesses are Device
/// memory and must be aligned).
#[repr(C, align(4096))]
struct DmaArea {
    descriptors: [RawDescriptor; QUEUE_SIZE as usize],
    available: RawAvailable,
    used: RawUsed,
    headers: [RawHeader; SLOTS as usize],
    statuses: [u8; SLOTS as usize],
    data: Data,
}

#[repr(C, align(16))]
struct Data([u8; DATA_BYTES]);

struct Dma(UnsafeCell<DmaArea>);

// SAFETY: only the driver touches the area, through raw pointers, on the
// primary vCPU; there is one `Driver` at a time (see `Driver::new`).
unsafe impl Sync for Dma {}

// SAFETY: an all-zero `DmaArea` is valid: it is made of integers only.
static DMA: Dma = Dma(UnsafeCell::new(unsafe { core::mem::zeroed() }));

fn area() -> *mut DmaArea {
    DMA.0.get()
}

/// Guest-physical address of a pointer into the DMA area (identity map).
fn physical<T>(pointer: *const T) -> u64 {
    pointer as usize as u64
}

/// Orders this guest's memory accesses (ring entries before the index that
/// publishes them, the used index before what it covers).
fn memory_barrier() {
    #[cfg(target_os = "none")]
    // SAFETY: a barrier has no effect besides ordering.
    unsafe {
        core::arch::asm!("dmb sy", options(nostack, preserves_flags))
    };
    #[cfg(not(target_os = "none"))]
    core::sync::atomic::fence(core::sync::atomic::Ordering::SeqCst);
}

/// Completes every memory access before the device is notified.
fn completion_barrier() {
    #[cfg(target_os = "none")]
    // SAFETY: as above.
    unsafe {
        core::arch::asm!("dsb sy", options(nostack, preserves_flags))
    };
    #[cfg(not(target_os = "none"))]
    core::sync::atomic::fence(core::sync::atomic::Ordering::SeqCst);
}

/// The virtual counter, for timeouts.
#[cfg(target_os = "none")]
pub fn now() -> u64 {
    let value: u64;
    // SAFETY: reading the virtual counter has no side effects.
    unsafe { core::arch::asm!("isb", "mrs {}, cntvct_el0", out(reg) value, options(nomem, nostack)) };
    value
}

/// Counter ticks per second.
#[cfg(target_os = "none")]
pub fn ticks_per_second() -> u64 {
    let value: u64;
    // SAFETY: reading the counter frequency has no side effects.
    unsafe { core::arch::asm!("mrs {}, cntfrq_el0", out(reg) value, options(nomem, nostack)) };
    value.max(1)
}

/// Nanoseconds since the first call (host tests).
#[cfg(not(target_os = "none"))]
pub fn now() -> u64 {
    static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    START.get_or_init(std::time::Instant::now).elapsed().as_nanos() as u64
}

/// Nanoseconds per second (host tests).
#[cfg(not(target_os = "none"))]
pub fn ticks_per_second() -> u64 {
    1_000_000_000
}

/// Access to the device's registers.
pub trait Transport {
    /// A 32-bit register read at `offset` in the window.
    fn read32(&mut self, offset: u64) -> u32;
    /// A 32-bit register write.
    fn write32(&mut self, offset: u64, value: u32);
}

/// The device's MMIO window, as named by the device tree.
#[cfg(target_os = "none")]
pub struct Mmio {
    base: u64,
}

#[cfg(target_os = "none")]
impl Mmio {
    /// The window at `base` (a `virtio,mmio` node's `reg`).
    pub fn new(base: u64) -> Self {
        Self { base }
    }
}

/// Whether the virtio-mmio window at `base` holds a block device (a board
/// may describe empty transports, with device ID 0).
#[cfg(target_os = "none")]
pub fn is_block_device(base: u64) -> bool {
    let mut window = Mmio::new(base);
    window.read32(register::MAGIC_VALUE) == MAGIC && window.read32(register::DEVICE_ID) == DEVICE_ID_BLOCK
}

#[cfg(target_os = "none")]
impl Transport for Mmio {
    fn read32(&mut self, offset: u64) -> u32 {
        crate::gic::read32(self.base + offset)
    }

    fn write32(&mut self, offset: u64, value: u32) {
        crate::gic::write32(self.base + offset, value);
    }
}

/// One buffer of a descriptor chain, as the driver writes it into the
/// table (§2.7.5). Attacks build arbitrary ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Descriptor {
    pub address: u64,
    pub length: u32,
    pub flags: u16,
    pub next: u16,
}

impl Descriptor {
    /// A device-readable buffer, end of chain.
    pub const fn readable(address: u64, length: u32) -> Self {
        Self { address, length, flags: 0, next: 0 }
    }

    /// A device-writable buffer, end of chain.
    pub const fn writable(address: u64, length: u32) -> Self {
        Self { address, length, flags: DESCRIPTOR_WRITE, next: 0 }
    }

    /// The same buffer, chained to descriptor `next`.
    pub const fn then(self, next: u16) -> Self {
        Self { flags: self.flags | DESCRIPTOR_NEXT, next, ..self }
    }
}

/// What the driver could not do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// No virtio-mmio version 2 device in the window.
    NotVirtio { magic: u32, version: u32 },
    /// A virtio device, but not a block device.
    NotBlock { device: u32 },
    /// The device does not offer `VIRTIO_F_VERSION_1`.
    NoVersion1 { offered: u64 },
    /// `FEATURES_OK` did not stick (§3.1.1 step 6).
    FeaturesRefused { requested: u64 },
    /// The device did not read back 0 after a reset.
    ResetStuck { status: u32 },
    /// Queue 0 is already ready right after a reset.
    QueueBusy,
    /// Queue 0 is too small (or absent): `QueueNumMax`.
    QueueTooSmall { maximum: u32 },
    /// `QueueReady` stayed 0 for this driver's own queue.
    QueueRefused,
    /// A request neither completed nor made the device ask for a reset.
    Timeout,
    /// The device set `DEVICE_NEEDS_RESET`.
    NeedsReset { status: u32, interrupt: u32 },
    /// A request completed with a status other than OK.
    Status { status: u8 },
    /// The used ring returned a chain this driver did not submit.
    UnexpectedUsed { id: u32 },
    /// A transfer longer than the bounce buffer or not whole sectors.
    BadLength { length: usize },
}

impl fmt::Display for Error {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::NotVirtio { magic, version } => {
                write!(formatter, "no virtio-mmio v2 device (magic {magic:#x}, version {version})")
            }
            Self::NotBlock { device } => write!(formatter, "virtio device {device} is not a block device"),
            Self::NoVersion1 { offered } => write!(formatter, "VIRTIO_F_VERSION_1 not offered (features {offered:#x})"),
            Self::FeaturesRefused { requested } => write!(formatter, "FEATURES_OK refused for features {requested:#x}"),
            Self::ResetStuck { status } => write!(formatter, "status {status:#x} after a reset, not 0"),
            Self::QueueBusy => formatter.write_str("queue 0 ready right after a reset"),
            Self::QueueTooSmall { maximum } => write!(formatter, "queue 0 holds {maximum} entries, need 4"),
            Self::QueueRefused => formatter.write_str("queue 0 not ready after QueueReady=1"),
            Self::Timeout => write!(formatter, "no completion within {TIMEOUT_MILLISECONDS} ms"),
            Self::NeedsReset { status, interrupt } => {
                write!(formatter, "device needs a reset (status {status:#x}, interrupt status {interrupt:#x})")
            }
            Self::Status { status } => write!(formatter, "request failed with status {status}"),
            Self::UnexpectedUsed { id } => write!(formatter, "used ring returned chain {id}, not submitted"),
            Self::BadLength { length } => write!(formatter, "transfer of {length} bytes"),
        }
    }
}

/// How waiting for the used ring ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wait {
    /// The used index moved by at least the count waited for.
    Done,
    /// The device set `DEVICE_NEEDS_RESET` instead.
    NeedsReset { status: u32, interrupt: u32 },
    /// Neither, within the timeout.
    Timeout,
}

/// One used ring element (§2.7.8).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Used {
    pub id: u32,
    pub length: u32,
}

/// The driver of one virtio-blk device with queue 0 in the DMA area.
pub struct Driver<T: Transport> {
    transport: T,
    /// Entries of queue 0.
    size: u16,
    /// Next `avail.idx` to publish.
    available_index: u16,
    /// Next used ring position to consume.
    used_index: u16,
    features: u64,
    capacity: u64,
    size_max: u32,
    segment_max: u32,
}

impl<T: Transport> Driver<T> {
    /// Probes and initialises the device behind `transport`. The driver
    /// owns the one DMA area: create one driver at a time.
    pub fn new(transport: T) -> Result<Self, Error> {
        let mut driver = Self { transport, size: 0, available_index: 0, used_index: 0, features: 0, capacity: 0, size_max: 0, segment_max: 0 };
        driver.initialise()?;
        Ok(driver)
    }

    /// Capacity in 512-byte sectors.
    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    /// Entries of queue 0.
    pub fn queue_size(&self) -> u16 {
        self.size
    }

    /// Negotiated features.
    pub fn features(&self) -> u64 {
        self.features
    }

    /// Whether the device is read-only (`VIRTIO_BLK_F_RO`).
    pub fn read_only(&self) -> bool {
        self.features & feature::BLOCK_READ_ONLY != 0
    }

    /// `size_max` if negotiated, else 0.
    pub fn size_max(&self) -> u32 {
        self.size_max
    }

    /// `seg_max` if negotiated, else 0.
    pub fn segment_max(&self) -> u32 {
        self.segment_max
    }

    /// Largest transfer in one data descriptor: the bounce buffer, within
    /// `size_max`, whole sectors, at least one sector.
    pub fn max_transfer(&self) -> usize {
        let limit = if self.size_max == 0 { DATA_BYTES } else { (self.size_max as usize).min(DATA_BYTES) };
        (limit - limit % SECTOR_BYTES).max(SECTOR_BYTES)
    }

    /// Resets the device and brings it up again (§3.1.1): after
    /// `DEVICE_NEEDS_RESET`, or to start over.
    pub fn initialise(&mut self) -> Result<(), Error> {
        self.negotiate()?;
        let (descriptors, available, used) = own_rings();
        if !self.configure_queue(descriptors, available, used)? {
            self.set_status(status::FAILED);
            return Err(Error::QueueRefused);
        }
        self.add_status(status::DRIVER_OK);
        self.read_config();
        Ok(())
    }

    /// Probe, reset, ACKNOWLEDGE, DRIVER, features, FEATURES_OK (§3.1.1
    /// steps 1-6).
    fn negotiate(&mut self) -> Result<(), Error> {
        let magic = self.transport.read32(register::MAGIC_VALUE);
        let version = self.transport.read32(register::VERSION);
        if magic != MAGIC || version != VERSION {
            return Err(Error::NotVirtio { magic, version });
        }
        let device = self.transport.read32(register::DEVICE_ID);
        if device != DEVICE_ID_BLOCK {
            return Err(Error::NotBlock { device });
        }
        self.reset()?;
        self.add_status(status::ACKNOWLEDGE);
        self.add_status(status::DRIVER);
        let mut offered = 0u64;
        for select in [1u32, 0] {
            self.transport.write32(register::DEVICE_FEATURES_SELECT, select);
            offered = (offered << 32) | u64::from(self.transport.read32(register::DEVICE_FEATURES));
        }
        if offered & feature::VERSION_1 == 0 {
            self.add_status(status::FAILED);
            return Err(Error::NoVersion1 { offered });
        }
        let requested = offered & feature::WANTED;
        for (select, half) in [(0u32, requested as u32), (1, (requested >> 32) as u32)] {
            self.transport.write32(register::DRIVER_FEATURES_SELECT, select);
            self.transport.write32(register::DRIVER_FEATURES, half);
        }
        self.add_status(status::FEATURES_OK);
        if self.transport.read32(register::STATUS) & status::FEATURES_OK == 0 {
            self.add_status(status::FAILED);
            return Err(Error::FeaturesRefused { requested });
        }
        self.features = requested;
        Ok(())
    }

    /// Writes 0 to `Status` and waits until it reads back 0 (§4.2.3.1).
    pub fn reset(&mut self) -> Result<(), Error> {
        self.transport.write32(register::STATUS, 0);
        let deadline = deadline();
        loop {
            let status = self.transport.read32(register::STATUS);
            if status == 0 {
                break;
            }
            if now() > deadline {
                return Err(Error::ResetStuck { status });
            }
        }
        self.available_index = 0;
        self.used_index = 0;
        Ok(())
    }

    fn set_status(&mut self, value: u32) {
        self.transport.write32(register::STATUS, value);
    }

    fn add_status(&mut self, bits: u32) {
        let current = self.transport.read32(register::STATUS);
        self.set_status(current | bits);
    }

    /// Sets up queue 0 with its three areas at the given guest-physical
    /// addresses (§4.2.3.2); returns whether the device made it ready.
    /// The rings, if they are this driver's own, start empty.
    fn configure_queue(&mut self, descriptors: u64, available: u64, used: u64) -> Result<bool, Error> {
        self.transport.write32(register::QUEUE_SELECT, 0);
        if self.transport.read32(register::QUEUE_READY) != 0 {
            return Err(Error::QueueBusy);
        }
        let maximum = self.transport.read32(register::QUEUE_SIZE_MAX);
        let wanted = maximum.min(u32::from(QUEUE_SIZE));
        // The largest power of two not above `wanted` (§2.7: split queue
        // sizes are powers of two); at least 4 for a 3-descriptor request.
        let size = if wanted == 0 { 0 } else { 1u32 << (31 - wanted.leading_zeros()) };
        if size < 4 {
            return Err(Error::QueueTooSmall { maximum });
        }
        self.size = size as u16;
        // SAFETY: fields of the DMA area, which only this driver touches.
        unsafe {
            (&raw mut (*area()).available.flags).write_volatile(AVAILABLE_NO_INTERRUPT);
            (&raw mut (*area()).available.index).write_volatile(0);
            (&raw mut (*area()).used.flags).write_volatile(0);
            (&raw mut (*area()).used.index).write_volatile(0);
        }
        self.available_index = 0;
        self.used_index = 0;
        completion_barrier();
        self.transport.write32(register::QUEUE_SIZE, size);
        for (low, high, address) in [
            (register::QUEUE_DESCRIPTOR_LOW, register::QUEUE_DESCRIPTOR_HIGH, descriptors),
            (register::QUEUE_DRIVER_LOW, register::QUEUE_DRIVER_HIGH, available),
            (register::QUEUE_DEVICE_LOW, register::QUEUE_DEVICE_HIGH, used),
        ] {
            self.transport.write32(low, address as u32);
            self.transport.write32(high, (address >> 32) as u32);
        }
        self.transport.write32(register::QUEUE_READY, 1);
        Ok(self.transport.read32(register::QUEUE_READY) == 1)
    }

    /// Resets the device, negotiates, and offers queue 0 at the given
    /// addresses (an attack: rings outside this guest's RAM). Returns
    /// whether the device accepted them; the device is left reset either
    /// way, so call [`Driver::initialise`] next.
    pub fn offer_rings(&mut self, descriptors: u64, available: u64, used: u64) -> Result<bool, Error> {
        self.negotiate()?;
        let accepted = self.configure_queue(descriptors, available, used);
        self.reset()?;
        accepted
    }

    /// Reads the configuration space, consistently (§2.5.1: generation
    /// before and after).
    fn read_config(&mut self) {
        for _ in 0..8 {
            let generation = self.transport.read32(register::CONFIG_GENERATION);
            let low = u64::from(self.transport.read32(register::CONFIG_CAPACITY));
            let high = u64::from(self.transport.read32(register::CONFIG_CAPACITY + 4));
            let size_max = self.transport.read32(register::CONFIG_SIZE_MAX);
            let segment_max = self.transport.read32(register::CONFIG_SEGMENT_MAX);
            self.capacity = (high << 32) | low;
            self.size_max = if self.features & feature::BLOCK_SIZE_MAX != 0 { size_max } else { 0 };
            self.segment_max = if self.features & feature::BLOCK_SEGMENT_MAX != 0 { segment_max } else { 0 };
            if self.transport.read32(register::CONFIG_GENERATION) == generation {
                return;
            }
        }
    }

    /// The device status register.
    pub fn device_status(&mut self) -> u32 {
        self.transport.read32(register::STATUS)
    }

    /// `InterruptStatus`.
    pub fn interrupt_status(&mut self) -> u32 {
        self.transport.read32(register::INTERRUPT_STATUS)
    }

    /// Writes descriptor `index` of the table. False if `index` is not a
    /// slot of this driver's table (the table holds `QUEUE_SIZE`).
    pub fn set_descriptor(&mut self, index: u16, descriptor: Descriptor) -> bool {
        if index >= QUEUE_SIZE {
            return false;
        }
        // SAFETY: `index` is inside the table (checked above), which lies in
        // the DMA area that only this driver touches.
        unsafe {
            let slot = (&raw mut (*area()).descriptors).cast::<RawDescriptor>().add(usize::from(index));
            (&raw mut (*slot).address).write_volatile(descriptor.address);
            (&raw mut (*slot).length).write_volatile(descriptor.length);
            (&raw mut (*slot).flags).write_volatile(descriptor.flags);
            (&raw mut (*slot).next).write_volatile(descriptor.next);
        }
        true
    }

    /// Guest-physical address of request header `slot` (16 bytes).
    pub fn header_address(&self, slot: u16) -> u64 {
        let slot = slot.min(SLOTS - 1);
        // SAFETY: in bounds (clamped above); only the address is taken.
        physical(unsafe { (&raw const (*area()).headers).cast::<RawHeader>().add(usize::from(slot)) })
    }

    /// Guest-physical address of status byte `slot`.
    pub fn status_address(&self, slot: u16) -> u64 {
        let slot = slot.min(SLOTS - 1);
        // SAFETY: as above.
        physical(unsafe { (&raw const (*area()).statuses).cast::<u8>().add(usize::from(slot)) })
    }

    /// Guest-physical address of byte `offset` of the bounce buffer
    /// (clamped to its end).
    pub fn data_address(&self, offset: usize) -> u64 {
        let offset = offset.min(DATA_BYTES);
        // SAFETY: in bounds or one past the end (clamped above).
        physical(unsafe { (&raw const (*area()).data).cast::<u8>().add(offset) })
    }

    /// Writes request header `slot`.
    pub fn set_header(&mut self, slot: u16, request: u32, sector: u64) {
        if slot >= SLOTS {
            return;
        }
        // SAFETY: `slot` is in bounds (checked above), in the DMA area.
        unsafe {
            let header = (&raw mut (*area()).headers).cast::<RawHeader>().add(usize::from(slot));
            (&raw mut (*header).request).write_volatile(request);
            (&raw mut (*header).reserved).write_volatile(0);
            (&raw mut (*header).sector).write_volatile(sector);
        }
    }

    /// Status byte `slot`.
    pub fn status(&self, slot: u16) -> u8 {
        if slot >= SLOTS {
            return request_status::UNTOUCHED;
        }
        memory_barrier();
        // SAFETY: in bounds (checked above), in the DMA area.
        unsafe { (&raw const (*area()).statuses).cast::<u8>().add(usize::from(slot)).read_volatile() }
    }

    /// Sets status byte `slot` (to `UNTOUCHED` before a request).
    pub fn set_status_byte(&mut self, slot: u16, value: u8) {
        if slot >= SLOTS {
            return;
        }
        // SAFETY: as above.
        unsafe { (&raw mut (*area()).statuses).cast::<u8>().add(usize::from(slot)).write_volatile(value) };
    }

    /// Copies `bytes` into the bounce buffer at `offset`; false (nothing
    /// copied) if they do not fit.
    pub fn put_data(&mut self, offset: usize, bytes: &[u8]) -> bool {
        if offset.checked_add(bytes.len()).is_none_or(|end| end > DATA_BYTES) {
            return false;
        }
        for (index, byte) in bytes.iter().enumerate() {
            // SAFETY: `offset + index < DATA_BYTES` (checked above).
            unsafe { (&raw mut (*area()).data).cast::<u8>().add(offset + index).write_volatile(*byte) };
        }
        true
    }

    /// Fills `length` bytes of the bounce buffer at `offset` with `value`.
    pub fn fill_data(&mut self, offset: usize, length: usize, value: u8) -> bool {
        if offset.checked_add(length).is_none_or(|end| end > DATA_BYTES) {
            return false;
        }
        for index in offset..offset + length {
            // SAFETY: `index < DATA_BYTES` (checked above).
            unsafe { (&raw mut (*area()).data).cast::<u8>().add(index).write_volatile(value) };
        }
        true
    }

    /// Copies the bounce buffer at `offset` into `out`; false (nothing
    /// copied) if that reaches past its end.
    pub fn get_data(&self, offset: usize, out: &mut [u8]) -> bool {
        if offset.checked_add(out.len()).is_none_or(|end| end > DATA_BYTES) {
            return false;
        }
        memory_barrier();
        for (index, byte) in out.iter_mut().enumerate() {
            // SAFETY: `offset + index < DATA_BYTES` (checked above).
            *byte = unsafe { (&raw const (*area()).data).cast::<u8>().add(offset + index).read_volatile() };
        }
        true
    }

    /// Makes the chains at `heads` available (§2.7.13): ring entries, a
    /// barrier, then one update of `avail.idx`.
    pub fn publish(&mut self, heads: &[u16]) {
        for &head in heads {
            let slot = usize::from(self.available_index & self.size.wrapping_sub(1)).min(usize::from(QUEUE_SIZE - 1));
            // SAFETY: `slot < QUEUE_SIZE` (masked and clamped above).
            unsafe { (&raw mut (*area()).available.ring).cast::<u16>().add(slot).write_volatile(head) };
            self.available_index = self.available_index.wrapping_add(1);
        }
        memory_barrier();
        // SAFETY: a field of the DMA area.
        unsafe { (&raw mut (*area()).available.index).write_volatile(self.available_index) };
        memory_barrier();
    }

    /// Writes `avail.idx` as given, without entries behind it (an attack:
    /// far more requests than the queue holds).
    pub fn publish_raw_index(&mut self, index: u16) {
        memory_barrier();
        // SAFETY: a field of the DMA area.
        unsafe { (&raw mut (*area()).available.index).write_volatile(index) };
        memory_barrier();
    }

    /// The next `avail.idx` this driver would publish.
    pub fn available_index(&self) -> u16 {
        self.available_index
    }

    /// Notifies queue 0 (§4.2.3.3).
    pub fn notify(&mut self) {
        completion_barrier();
        self.transport.write32(register::QUEUE_NOTIFY, 0);
    }

    fn device_used_index(&self) -> u16 {
        memory_barrier();
        // SAFETY: a field of the DMA area (the device writes it).
        let index = unsafe { (&raw const (*area()).used.index).read_volatile() };
        memory_barrier();
        index
    }

    /// Used elements not consumed yet.
    pub fn pending_used(&self) -> u16 {
        self.device_used_index().wrapping_sub(self.used_index)
    }

    /// Polls until `count` more used elements are there, the device asks
    /// for a reset, or the timeout passes.
    pub fn wait(&mut self, count: u16) -> Wait {
        let deadline = deadline();
        loop {
            if self.pending_used() >= count {
                return Wait::Done;
            }
            let status = self.device_status();
            if status & status::DEVICE_NEEDS_RESET != 0 {
                // As an interrupt handler would: read and acknowledge.
                let interrupt = self.interrupt_status();
                self.transport.write32(register::INTERRUPT_ACKNOWLEDGE, interrupt);
                return Wait::NeedsReset { status, interrupt };
            }
            if now() > deadline {
                return Wait::Timeout;
            }
        }
    }

    /// Consumes the next used element, if any.
    pub fn take_used(&mut self) -> Option<Used> {
        if self.pending_used() == 0 {
            return None;
        }
        let slot = usize::from(self.used_index & self.size.wrapping_sub(1)).min(usize::from(QUEUE_SIZE - 1));
        // SAFETY: `slot < QUEUE_SIZE` (masked and clamped above).
        let used = unsafe {
            let element = (&raw const (*area()).used.ring).cast::<RawUsedElement>().add(slot);
            Used { id: (&raw const (*element).id).read_volatile(), length: (&raw const (*element).length).read_volatile() }
        };
        self.used_index = self.used_index.wrapping_add(1);
        Some(used)
    }

    /// One request with at most one data buffer, through slot 0 and
    /// descriptors 0-2, waited for.
    fn request(&mut self, request: u32, sector: u64, length: usize, device_writes: bool) -> Result<Used, Error> {
        let data_length = u32::try_from(length).map_err(|_| Error::BadLength { length })?;
        if length > DATA_BYTES || !length.is_multiple_of(SECTOR_BYTES) {
            return Err(Error::BadLength { length });
        }
        self.set_header(0, request, sector);
        self.set_status_byte(0, request_status::UNTOUCHED);
        let header = Descriptor::readable(self.header_address(0), HEADER_BYTES).then(1);
        let status = Descriptor::writable(self.status_address(0), 1);
        self.set_descriptor(0, header);
        if length == 0 {
            self.set_descriptor(1, status);
        } else {
            let data =
                if device_writes { Descriptor::writable(self.data_address(0), data_length) } else { Descriptor::readable(self.data_address(0), data_length) };
            self.set_descriptor(1, data.then(2));
            self.set_descriptor(2, status);
        }
        self.publish(&[0]);
        self.notify();
        match self.wait(1) {
            Wait::Done => {}
            Wait::NeedsReset { status, interrupt } => return Err(Error::NeedsReset { status, interrupt }),
            Wait::Timeout => return Err(Error::Timeout),
        }
        let used = self.take_used().ok_or(Error::Timeout)?;
        if used.id != 0 {
            return Err(Error::UnexpectedUsed { id: used.id });
        }
        match self.status(0) {
            request_status::OK => Ok(used),
            status => Err(Error::Status { status }),
        }
    }

    /// Reads `length` bytes (whole sectors) at `sector` into the bounce
    /// buffer.
    pub fn read(&mut self, sector: u64, length: usize) -> Result<(), Error> {
        self.request(request_type::IN, sector, length, true).map(|_| ())
    }

    /// Writes `length` bytes (whole sectors) of the bounce buffer at
    /// `sector`.
    pub fn write(&mut self, sector: u64, length: usize) -> Result<(), Error> {
        self.request(request_type::OUT, sector, length, false).map(|_| ())
    }

    /// Makes everything written durable (`VIRTIO_BLK_T_FLUSH`); a no-op if
    /// the device has no flush.
    pub fn flush(&mut self) -> Result<(), Error> {
        if self.features & feature::BLOCK_FLUSH == 0 {
            return Ok(());
        }
        self.request(request_type::FLUSH, 0, 0, false).map(|_| ())
    }
}

/// The guest-physical addresses of this driver's own rings.
pub fn own_rings() -> (u64, u64, u64) {
    // SAFETY: only the addresses of fields of the DMA area are taken.
    unsafe { (physical(&raw const (*area()).descriptors), physical(&raw const (*area()).available), physical(&raw const (*area()).used)) }
}

/// The guest-physical range of the whole DMA area (host tests use it as
/// "guest RAM").
#[cfg(not(target_os = "none"))]
pub fn dma_range() -> (u64, usize) {
    (physical(area()), core::mem::size_of::<DmaArea>())
}

fn deadline() -> u64 {
    now().saturating_add(ticks_per_second().saturating_mul(TIMEOUT_MILLISECONDS) / 1000)
}
