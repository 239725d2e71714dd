//! The virtio-mmio transport of one block device (virtio 1.2 §4.2.2 and
//! §4.2.3): registers, feature negotiation, device status, queue 0 and its
//! notifications.

use crate::backend::{BackendError, BlockBackend, RequestTag};
use crate::config::{BlockConfig, CONFIG_BYTES, config_image};
use crate::error::{DeviceError, Statistics, increment};
use crate::memory::GuestMemory;
use crate::queue::{AVAILABLE_NO_INTERRUPT, QueueLayout, RingPart};
use crate::registers::{self, feature, interrupt, offset, status};
use crate::request::{Context, Outcome, Workspace, serve};

/// What the hypervisor must do after a register write.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Effects {
    /// The level of [`VirtioBlock::interrupt_line`] changed: raise or lower
    /// the device's interrupt.
    pub interrupt_changed: bool,
    /// The driver reset the device (wrote 0 to `Status`).
    pub reset: bool,
    /// The device just entered `DEVICE_NEEDS_RESET`; the reason is in
    /// [`VirtioBlock::take_last_error`].
    pub needs_reset: bool,
    /// Chains returned through the used ring by this write.
    pub completed: u16,
}

/// Requests a device keeps in flight at most (submitted to the backend, not
/// yet completed); further chains wait in the available ring.
pub const MAX_IN_FLIGHT: usize = 64;

/// A request the backend took asynchronously.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct InFlight {
    head: u16,
    /// The status byte (inside guest RAM: checked when the chain was).
    status_address: u64,
    /// `used.len` on success.
    written: u32,
    /// First sector, for the error report.
    sector: u64,
}

/// The registers of queue 0 as the driver wrote them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct QueueRegisters {
    size: u32,
    descriptors: u64,
    available: u64,
    used: u64,
}

/// One virtio-blk device with one request queue, seen through the
/// virtio-mmio transport.
#[derive(Clone, Debug)]
pub struct VirtioBlock {
    config: BlockConfig,
    status: u32,
    device_features_select: u32,
    driver_features_select: u32,
    driver_features: u64,
    /// The driver set a feature bit beyond bit 63, which nothing offers.
    driver_features_beyond: bool,
    queue_select: u32,
    queue: QueueRegisters,
    /// Queue 0 once the driver made it ready with a usable configuration.
    ready: Option<QueueLayout>,
    /// Next available ring position to process.
    last_available: u16,
    /// Next used ring position to fill.
    used_index: u16,
    interrupt_status: u32,
    config_generation: u32,
    statistics: Statistics,
    last_error: Option<DeviceError>,
    /// Requests the backend is still working on, by tag slot.
    in_flight: [Option<InFlight>; MAX_IN_FLIGHT],
    /// Bit `slot` set when `in_flight[slot]` is `Some`: counting, finding a
    /// free slot and "anything in flight?" without scanning the table
    /// (asked on every register access and every request).
    occupied: u64,
    /// Bumped whenever in-flight requests are forgotten (a reset, the queue
    /// disabled), so their late completions are recognized and dropped.
    generation: u32,
    /// Serving stopped at a chain the backend (or the in-flight table) had
    /// no room for; the next completion resumes it.
    stalled: bool,
    /// Reused for every request.
    workspace: Workspace,
}

impl VirtioBlock {
    /// A device in its reset state. `config` is normalized (see
    /// [`BlockConfig::normalized`]).
    pub const fn new(config: BlockConfig) -> Self {
        let config = config.normalized();
        Self {
            config,
            status: 0,
            device_features_select: 0,
            driver_features_select: 0,
            driver_features: 0,
            driver_features_beyond: false,
            queue_select: 0,
            queue: QueueRegisters { size: config.queue_size_max as u32, descriptors: 0, available: 0, used: 0 },
            ready: None,
            last_available: 0,
            used_index: 0,
            interrupt_status: 0,
            config_generation: 0,
            statistics: Statistics::new(),
            last_error: None,
            in_flight: [None; MAX_IN_FLIGHT],
            occupied: 0,
            generation: 0,
            stalled: false,
            workspace: Workspace::new(),
        }
    }

    /// The features offered to the driver: `VIRTIO_F_VERSION_1`,
    /// `SIZE_MAX`, `SEG_MAX`, `BLK_SIZE`, `FLUSH`, and `RO` for a read-only
    /// backend.
    pub const fn offered_features(read_only: bool) -> u64 {
        let features = feature::VERSION_1 | feature::BLOCK_SIZE_MAX | feature::BLOCK_SEGMENT_MAX | feature::BLOCK_BLOCK_SIZE | feature::BLOCK_FLUSH;
        if read_only { features | feature::BLOCK_READ_ONLY } else { features }
    }

    /// A guest read of `width` bytes at `offset` in the MMIO window.
    /// Registers below 0x100 take aligned 32-bit reads; the configuration
    /// space takes 1-, 2-, 4- and 8-byte reads at any offset. Anything else
    /// reads as zero and is counted.
    pub fn read<B: BlockBackend + ?Sized>(&mut self, offset: u64, width: u8, backend: &B) -> u64 {
        if (offset::CONFIG..offset::WINDOW).contains(&offset) {
            return self.read_config(offset, width, backend);
        }
        if offset >= offset::WINDOW {
            self.record(DeviceError::UnknownRegister { offset });
            return 0;
        }
        if width != 4 || !offset.is_multiple_of(4) {
            self.record(DeviceError::BadWidth { offset, width });
            return 0;
        }
        let value = match offset {
            offset::MAGIC_VALUE => registers::MAGIC,
            offset::VERSION => registers::VERSION,
            offset::DEVICE_ID => registers::DEVICE_ID_BLOCK,
            offset::VENDOR_ID => registers::VENDOR_ID,
            offset::DEVICE_FEATURES => {
                let features = Self::offered_features(backend.read_only());
                match self.device_features_select {
                    0 => features as u32,
                    1 => (features >> 32) as u32,
                    _ => 0,
                }
            }
            offset::DEVICE_FEATURES_SELECT => self.device_features_select,
            offset::DRIVER_FEATURES => match self.driver_features_select {
                0 => self.driver_features as u32,
                1 => (self.driver_features >> 32) as u32,
                _ => 0,
            },
            offset::DRIVER_FEATURES_SELECT => self.driver_features_select,
            offset::QUEUE_SELECT => self.queue_select,
            offset::QUEUE_SIZE_MAX => self.queue_register(|_| u32::from(self.config.queue_size_max)),
            offset::QUEUE_SIZE => self.queue_register(|queue| queue.size),
            offset::QUEUE_READY => self.queue_register(|_| u32::from(self.ready.is_some())),
            offset::QUEUE_DESCRIPTOR_LOW => self.queue_register(|queue| queue.descriptors as u32),
            offset::QUEUE_DESCRIPTOR_HIGH => self.queue_register(|queue| (queue.descriptors >> 32) as u32),
            offset::QUEUE_DRIVER_LOW => self.queue_register(|queue| queue.available as u32),
            offset::QUEUE_DRIVER_HIGH => self.queue_register(|queue| (queue.available >> 32) as u32),
            offset::QUEUE_DEVICE_LOW => self.queue_register(|queue| queue.used as u32),
            offset::QUEUE_DEVICE_HIGH => self.queue_register(|queue| (queue.used >> 32) as u32),
            offset::QUEUE_NOTIFY | offset::INTERRUPT_ACKNOWLEDGE | offset::SHARED_MEMORY_SELECT => 0,
            offset::INTERRUPT_STATUS => self.interrupt_status,
            offset::STATUS => self.status,
            // §4.2.2: a shared memory region that does not exist has length
            // -1 (Linux tests for that); there are none.
            offset::SHARED_MEMORY_LENGTH_LOW | offset::SHARED_MEMORY_LENGTH_HIGH => u32::MAX,
            offset::SHARED_MEMORY_BASE_LOW | offset::SHARED_MEMORY_BASE_HIGH => 0,
            offset::CONFIG_GENERATION => self.config_generation,
            _ => {
                self.record(DeviceError::UnknownRegister { offset });
                0
            }
        };
        u64::from(value)
    }

    /// A guest write of `width` bytes of `value` at `offset`. A write of
    /// queue 0 to `QueueNotify` serves the queue before returning, with
    /// `memory`, `backend` and `scratch` (data moves in chunks of
    /// `scratch.len()` rounded down to 512 bytes; less than 512 bytes fails
    /// every data request with `VIRTIO_BLK_S_IOERR`).
    pub fn write<M, B>(&mut self, offset: u64, width: u8, value: u64, memory: &mut M, backend: &mut B, scratch: &mut [u8]) -> Effects
    where
        M: GuestMemory,
        B: BlockBackend + ?Sized,
    {
        let line = self.interrupt_line();
        let mut effects = Effects::default();
        if (offset::CONFIG..offset::WINDOW).contains(&offset) {
            // No writable configuration field is offered (`writeback` needs
            // VIRTIO_BLK_F_CONFIG_WCE).
            self.record(DeviceError::ReadOnlyRegister { offset });
        } else if offset >= offset::WINDOW {
            self.record(DeviceError::UnknownRegister { offset });
        } else if width != 4 || !offset.is_multiple_of(4) {
            self.record(DeviceError::BadWidth { offset, width });
        } else {
            let value = value as u32;
            match offset {
                offset::DEVICE_FEATURES_SELECT => self.device_features_select = value,
                offset::DRIVER_FEATURES => self.write_driver_features(value),
                offset::DRIVER_FEATURES_SELECT => self.driver_features_select = value,
                offset::QUEUE_SELECT => self.queue_select = value,
                offset::QUEUE_SIZE => self.write_queue_register(offset, |queue| queue.size = value),
                offset::QUEUE_DESCRIPTOR_LOW => self.write_queue_register(offset, |queue| set_low(&mut queue.descriptors, value)),
                offset::QUEUE_DESCRIPTOR_HIGH => self.write_queue_register(offset, |queue| set_high(&mut queue.descriptors, value)),
                offset::QUEUE_DRIVER_LOW => self.write_queue_register(offset, |queue| set_low(&mut queue.available, value)),
                offset::QUEUE_DRIVER_HIGH => self.write_queue_register(offset, |queue| set_high(&mut queue.available, value)),
                offset::QUEUE_DEVICE_LOW => self.write_queue_register(offset, |queue| set_low(&mut queue.used, value)),
                offset::QUEUE_DEVICE_HIGH => self.write_queue_register(offset, |queue| set_high(&mut queue.used, value)),
                offset::QUEUE_READY => self.write_queue_ready(value, &*memory),
                offset::QUEUE_NOTIFY => self.notify(value, memory, backend, scratch, &mut effects),
                offset::INTERRUPT_ACKNOWLEDGE => self.interrupt_status &= !(value & interrupt::ALL),
                offset::STATUS => {
                    if value == 0 {
                        self.reset();
                        effects.reset = true;
                    } else {
                        self.write_status(value, &*backend);
                    }
                }
                offset::SHARED_MEMORY_SELECT => {}
                offset::MAGIC_VALUE
                | offset::VERSION
                | offset::DEVICE_ID
                | offset::VENDOR_ID
                | offset::DEVICE_FEATURES
                | offset::QUEUE_SIZE_MAX
                | offset::INTERRUPT_STATUS
                | offset::SHARED_MEMORY_LENGTH_LOW
                | offset::SHARED_MEMORY_LENGTH_HIGH
                | offset::SHARED_MEMORY_BASE_LOW
                | offset::SHARED_MEMORY_BASE_HIGH
                | offset::CONFIG_GENERATION => self.record(DeviceError::ReadOnlyRegister { offset }),
                _ => self.record(DeviceError::UnknownRegister { offset }),
            }
        }
        effects.interrupt_changed = line != self.interrupt_line();
        effects
    }

    /// The level of the device's interrupt line: high while
    /// `InterruptStatus` is non-zero.
    pub fn interrupt_line(&self) -> bool {
        self.interrupt_status != 0
    }

    /// The device's counters.
    pub fn statistics(&self) -> &Statistics {
        &self.statistics
    }

    /// Takes (and clears) the most recent error, for a rate-limited warning.
    pub fn take_last_error(&mut self) -> Option<DeviceError> {
        self.last_error.take()
    }

    /// The device status register (virtio 1.2 §2.1).
    pub fn status(&self) -> u32 {
        self.status
    }

    /// The features the driver wrote (accepted or not: see
    /// [`status::FEATURES_OK`] in [`VirtioBlock::status`]).
    pub fn driver_features(&self) -> u64 {
        self.driver_features
    }

    /// Queue 0, if the driver made it ready.
    pub fn queue(&self) -> Option<QueueLayout> {
        self.ready
    }

    /// The normalized configuration.
    pub fn config(&self) -> &BlockConfig {
        &self.config
    }

    /// Requests the backend took asynchronously and has not completed.
    pub fn in_flight(&self) -> usize {
        self.occupied.count_ones() as usize
    }

    /// Whether `tag` names a request still in flight (not completed, not
    /// forgotten by a reset): a backend that must still move data for it
    /// (deciphering a read into the guest's buffers) checks this first, so
    /// nothing is written into buffers the driver took back.
    pub fn is_current(&self, tag: RequestTag) -> bool {
        tag.0 >> SLOT_BITS == self.generation && self.in_flight.get((tag.0 & SLOT_MASK) as usize).is_some_and(Option::is_some)
    }

    /// The backend finished the request it took under `tag`
    /// ([`crate::Transfer::Submitted`]): the device writes its status
    /// (`OK`, or `IOERR` for an error), returns the chain through the used
    /// ring, raises the used-buffer interrupt unless the driver suppressed
    /// it, and then serves chains that had to wait for room, with `memory`,
    /// `backend` and `scratch` as for [`VirtioBlock::write`]. A tag from
    /// before a reset, or one completed already, changes nothing.
    pub fn complete<M, B>(&mut self, tag: RequestTag, result: Result<(), BackendError>, memory: &mut M, backend: &mut B, scratch: &mut [u8]) -> Effects
    where
        M: GuestMemory,
        B: BlockBackend + ?Sized,
    {
        let line = self.interrupt_line();
        let mut effects = Effects::default();
        let slot = (tag.0 & SLOT_MASK) as usize;
        let current = tag.0 >> SLOT_BITS == self.generation;
        let entry = self.in_flight.get_mut(slot).filter(|_| current).and_then(Option::take);
        if entry.is_some() {
            self.occupied &= !(1u64 << slot);
        }
        let (Some(entry), Some(layout)) = (entry, self.ready) else {
            increment(&mut self.statistics.stale_completions);
            return effects;
        };
        let (status_byte, written) = match result {
            Ok(()) => (crate::request::request_status::OK, entry.written),
            Err(error) => {
                self.record(DeviceError::Backend { error, sector: entry.sector });
                (crate::request::request_status::IO_ERROR, 1)
            }
        };
        let published =
            memory.write(entry.status_address, &[status_byte]).map_err(|_| DeviceError::StatusUnwritable { address: entry.status_address }).and_then(|()| {
                layout.write_used_element(memory, self.used_index, entry.head, written).map_err(|_| DeviceError::RingInaccessible { part: RingPart::Used })
            });
        let broken = match published {
            Ok(()) => {
                self.used_index = self.used_index.wrapping_add(1);
                increment(&mut self.statistics.completed);
                if result.is_err() {
                    increment(&mut self.statistics.failed);
                }
                self.publish_used(&layout, memory, 1).err()
            }
            Err(error) => Some(error),
        };
        if let Some(error) = broken {
            self.enter_needs_reset(error, &mut effects);
        } else if self.stalled {
            self.stalled = false;
            self.notify(0, memory, backend, scratch, &mut effects);
            effects.completed = effects.completed.saturating_add(1);
        } else {
            effects.completed = 1;
        }
        effects.interrupt_changed = line != self.interrupt_line();
        effects
    }

    /// Drops every in-flight request: their completions will not match.
    fn forget_in_flight(&mut self) {
        self.in_flight = [None; MAX_IN_FLIGHT];
        self.occupied = 0;
        self.generation = self.generation.wrapping_add(1) & GENERATION_MASK;
        self.stalled = false;
    }

    /// The device cannot go on: `DEVICE_NEEDS_RESET` and the configuration
    /// change interrupt (§2.1.2).
    fn enter_needs_reset(&mut self, error: DeviceError, effects: &mut Effects) {
        self.record(error);
        self.status |= status::DEVICE_NEEDS_RESET;
        self.interrupt_status |= interrupt::CONFIG_CHANGE;
        increment(&mut self.statistics.needs_reset);
        effects.needs_reset = true;
    }

    /// The backend's capacity or read-only state changed: bump
    /// `ConfigGeneration` and, once the driver is running, send a
    /// configuration change notification (§4.2.3.3).
    pub fn config_changed(&mut self) -> Effects {
        let line = self.interrupt_line();
        self.config_generation = self.config_generation.wrapping_add(1);
        if self.status & status::DRIVER_OK != 0 {
            self.interrupt_status |= interrupt::CONFIG_CHANGE;
        }
        Effects { interrupt_changed: line != self.interrupt_line(), ..Effects::default() }
    }

    fn record(&mut self, error: DeviceError) {
        self.statistics.count_error(error.kind());
        self.last_error = Some(error);
    }

    /// Back to the state of [`VirtioBlock::new`], as when the driver writes 0
    /// to `Status` (§2.4), keeping the counters, the last error and the
    /// configuration generation. The interrupt line goes low.
    pub fn reset(&mut self) {
        let mut statistics = core::mem::take(&mut self.statistics);
        increment(&mut statistics.resets);
        let (last_error, config_generation) = (self.last_error, self.config_generation);
        // In-flight requests are forgotten; their completions are dropped.
        let generation = self.generation.wrapping_add(1) & GENERATION_MASK;
        *self = Self { statistics, last_error, config_generation, generation, ..Self::new(self.config) };
    }

    /// Reads 1, 2, 4 or 8 bytes of `struct virtio_blk_config`, little-endian;
    /// bytes past the structure read as zero.
    fn read_config<B: BlockBackend + ?Sized>(&mut self, offset: u64, width: u8, backend: &B) -> u64 {
        if !matches!(width, 1 | 2 | 4 | 8) {
            self.record(DeviceError::BadWidth { offset, width });
            return 0;
        }
        let image = config_image(backend.sectors(), &self.config);
        let start = offset.saturating_sub(offset::CONFIG);
        (0..u64::from(width)).rev().fold(0u64, |value, byte| {
            let index = usize::try_from(start.saturating_add(byte)).unwrap_or(CONFIG_BYTES);
            (value << 8) | u64::from(image.get(index).copied().unwrap_or(0))
        })
    }

    /// Reads a register of the selected queue; queues other than 0 read as
    /// zero.
    fn queue_register(&self, read: impl FnOnce(&QueueRegisters) -> u32) -> u32 {
        if self.queue_select == 0 { read(&self.queue) } else { 0 }
    }

    /// Writes a configuration register of queue 0 while it is not ready.
    fn write_queue_register(&mut self, offset: u64, write: impl FnOnce(&mut QueueRegisters)) {
        if self.queue_select != 0 || self.ready.is_some() {
            self.record(DeviceError::QueueRegisterIgnored { offset, queue: self.queue_select });
        } else {
            write(&mut self.queue);
        }
    }

    fn write_driver_features(&mut self, value: u32) {
        if self.status & status::FEATURES_OK != 0 {
            self.record(DeviceError::FeaturesAfterNegotiation);
            return;
        }
        match self.driver_features_select {
            0 => set_low(&mut self.driver_features, value),
            1 => set_high(&mut self.driver_features, value),
            _ => self.driver_features_beyond |= value != 0,
        }
    }

    /// `QueueReady`: 1 enables queue 0 if its configuration is usable (the
    /// ring indices start at 0), 0 disables it.
    fn write_queue_ready<M: GuestMemory + ?Sized>(&mut self, value: u32, memory: &M) {
        if self.queue_select != 0 {
            if value != 0 {
                self.record(DeviceError::QueueRegisterIgnored { offset: offset::QUEUE_READY, queue: self.queue_select });
            }
            return;
        }
        if value == 0 {
            self.ready = None;
            self.forget_in_flight();
            return;
        }
        if self.ready.is_some() {
            return;
        }
        let queue = self.queue;
        let layout = QueueLayout::new(queue.size, self.config.queue_size_max, queue.descriptors, queue.available, queue.used)
            .and_then(|layout| layout.check_memory(memory).map(|()| layout));
        match layout {
            Ok(layout) => {
                self.ready = Some(layout);
                self.last_available = 0;
                self.used_index = 0;
            }
            Err(error) => self.record(DeviceError::Queue(error)),
        }
    }

    /// `Status` (§2.1, §3.1.1): the driver cannot set `DEVICE_NEEDS_RESET`,
    /// and `FEATURES_OK` only sticks if the driver's features are a subset
    /// of the offered ones and include `VIRTIO_F_VERSION_1`.
    fn write_status<B: BlockBackend + ?Sized>(&mut self, value: u32, backend: &B) {
        let mut new = (value & 0xff & !status::DEVICE_NEEDS_RESET) | (self.status & status::DEVICE_NEEDS_RESET);
        if new & status::FEATURES_OK != 0 && self.status & status::FEATURES_OK == 0 {
            let offered = Self::offered_features(backend.read_only());
            let requested = self.driver_features;
            if requested & !offered != 0 || requested & feature::VERSION_1 == 0 || self.driver_features_beyond {
                self.record(DeviceError::FeaturesRejected { requested, offered });
                new &= !status::FEATURES_OK;
            }
        }
        self.status = new;
    }

    fn notify<M, B>(&mut self, queue: u32, memory: &mut M, backend: &mut B, scratch: &mut [u8], effects: &mut Effects)
    where
        M: GuestMemory,
        B: BlockBackend + ?Sized,
    {
        let running = status::DRIVER_OK | status::FEATURES_OK;
        if queue != 0 {
            self.record(DeviceError::NoSuchQueue { queue });
            return;
        }
        if self.status & status::DEVICE_NEEDS_RESET != 0 {
            self.record(DeviceError::NotifyWhileBroken);
            return;
        }
        let Some(layout) = self.ready.filter(|_| self.status & running == running) else {
            self.record(DeviceError::NotifyNotReady);
            return;
        };
        let (completed, broken) = self.serve_queue(&layout, memory, backend, scratch);
        effects.completed = completed;
        if let Some(error) = broken {
            self.enter_needs_reset(error, effects);
        }
    }

    /// Serves every chain made available since the last notification, at
    /// most the queue size (§2.7.13). Returns the chains completed and, if
    /// the device must stop, why. Completed chains are published even then.
    fn serve_queue<M, B>(&mut self, layout: &QueueLayout, memory: &mut M, backend: &mut B, scratch: &mut [u8]) -> (u16, Option<DeviceError>)
    where
        M: GuestMemory,
        B: BlockBackend + ?Sized,
    {
        let Ok((_, available_index)) = layout.read_available_header(&*memory) else {
            return (0, Some(DeviceError::RingInaccessible { part: RingPart::Available }));
        };
        // Ring entries and descriptors are read only after the index.
        memory.fence();
        let pending = available_index.wrapping_sub(self.last_available);
        if pending > layout.size() {
            let error = DeviceError::AvailableIndexJump { last: self.last_available, index: available_index, size: layout.size() };
            return (0, Some(error));
        }

        let mut completed = 0u16;
        let mut broken = None;
        for _ in 0..pending {
            // Room to take the request asynchronously; without it, wait for
            // a completion.
            // trailing_zeros of a u64 is at most 64.
            let slot = (!self.occupied).trailing_zeros() as usize;
            if slot >= MAX_IN_FLIGHT {
                self.stalled = true;
                break;
            }
            let Ok(head) = layout.read_available_entry(&*memory, self.last_available) else {
                broken = Some(DeviceError::RingInaccessible { part: RingPart::Available });
                break;
            };
            let others_in_flight = self.occupied != 0;
            let mut context = Context {
                memory: &mut *memory,
                backend: &mut *backend,
                scratch: &mut *scratch,
                config: &self.config,
                statistics: &mut self.statistics,
                tag: RequestTag((self.generation << SLOT_BITS) | slot as u32),
                others_in_flight,
                sector: 0,
            };
            let written = match serve(&mut context, layout, head, &mut self.workspace) {
                Outcome::Completed { written, error } => {
                    if let Some(error) = error {
                        self.record(error);
                    }
                    written
                }
                Outcome::Submitted { status_address, written } => {
                    let sector = context.sector;
                    if let Some(entry) = self.in_flight.get_mut(slot) {
                        *entry = Some(InFlight { head, status_address, written, sector });
                        self.occupied |= 1u64 << slot;
                    }
                    self.last_available = self.last_available.wrapping_add(1);
                    continue;
                }
                Outcome::Busy => {
                    self.stalled = true;
                    break;
                }
                Outcome::Broken(error) => {
                    broken = Some(error);
                    break;
                }
            };
            if layout.write_used_element(memory, self.used_index, head, written).is_err() {
                broken = Some(DeviceError::RingInaccessible { part: RingPart::Used });
                break;
            }
            self.used_index = self.used_index.wrapping_add(1);
            self.last_available = self.last_available.wrapping_add(1);
            completed = completed.saturating_add(1);
            increment(&mut self.statistics.completed);
        }

        if completed > 0
            && let Err(error) = self.publish_used(layout, memory, completed)
        {
            return (completed, Some(error));
        }
        (completed, broken)
    }

    /// Publishes `used.idx` after `count` (> 0) new used elements and
    /// raises the used-buffer interrupt unless the driver suppressed it.
    fn publish_used<M: GuestMemory>(&mut self, layout: &QueueLayout, memory: &mut M, count: u16) -> Result<(), DeviceError> {
        if count == 0 {
            return Ok(());
        }
        // Used elements, data and status bytes before the index.
        memory.fence();
        layout.write_used_index(memory, self.used_index).map_err(|_| DeviceError::RingInaccessible { part: RingPart::Used })?;
        // §2.7.10: the flags are read after the index is published, so a
        // driver re-enabling interrupts concurrently is not missed.
        memory.fence();
        let flags = layout.read_available_flags(&*memory).unwrap_or(0);
        if flags & AVAILABLE_NO_INTERRUPT == 0 {
            self.interrupt_status |= interrupt::USED_BUFFER;
        }
        Ok(())
    }
}

/// Bits of a [`RequestTag`] naming the in-flight slot (the rest: the
/// generation).
const SLOT_BITS: u32 = 8;
const SLOT_MASK: u32 = (1 << SLOT_BITS) - 1;
const GENERATION_MASK: u32 = u32::MAX >> SLOT_BITS;
const _: () = assert!(MAX_IN_FLIGHT <= 1 << SLOT_BITS && MAX_IN_FLIGHT <= u64::BITS as usize);

fn set_low(register: &mut u64, value: u32) {
    *register = (*register & !0xffff_ffff) | u64::from(value);
}

fn set_high(register: &mut u64, value: u32) {
    *register = (*register & 0xffff_ffff) | (u64::from(value) << 32);
}
