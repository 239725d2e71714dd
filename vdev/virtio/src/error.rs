//! Everything a guest can get wrong, as values: [`DeviceError`] for the log,
//! [`ErrorKind`] for counting, and the device's [`Statistics`].

use core::fmt;

use crate::backend::BackendError;
use crate::queue::{ChainError, QueueError, RingPart};

/// One guest error (or backend failure) the device rejected. The
/// [`Display`](fmt::Display) form is a one-line message for a rate-limited
/// warning; see the crate documentation for what the device does about each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceError {
    /// Access to an offset that is no register.
    UnknownRegister {
        /// Offset in the MMIO window.
        offset: u64,
    },
    /// A register access that is not 32 bits wide, not aligned, or (in the
    /// configuration space) not 1, 2, 4 or 8 bytes wide.
    BadWidth {
        /// Offset in the MMIO window.
        offset: u64,
        /// Access width in bytes.
        width: u8,
    },
    /// A write to a read-only register, or to the configuration space.
    ReadOnlyRegister {
        /// Offset in the MMIO window.
        offset: u64,
    },
    /// A write to a queue register while the queue is ready, or to a queue
    /// that does not exist (§4.2.2.3: the driver configures a queue before
    /// enabling it).
    QueueRegisterIgnored {
        /// Offset in the MMIO window.
        offset: u64,
        /// `QueueSel`.
        queue: u32,
    },
    /// `DriverFeatures` written after `FEATURES_OK` (§2.2.1).
    FeaturesAfterNegotiation,
    /// The driver asked for features that were not offered, or not for
    /// `VIRTIO_F_VERSION_1`; `FEATURES_OK` stays clear (§2.2.2).
    FeaturesRejected {
        /// Features the driver wrote.
        requested: u64,
        /// Features the device offers.
        offered: u64,
    },
    /// `QueueReady` set on an unusable queue configuration; the queue stays
    /// not ready.
    Queue(QueueError),
    /// A notification for a queue other than queue 0.
    NoSuchQueue {
        /// The queue index the driver wrote.
        queue: u32,
    },
    /// A notification before `DRIVER_OK` or before the queue was made ready.
    NotifyNotReady,
    /// A notification while the device needs a reset; ignored.
    NotifyWhileBroken,
    /// `avail.idx` moved further than the queue size since the last
    /// notification (§2.7.13.4).
    AvailableIndexJump {
        /// The last available index the device processed.
        last: u16,
        /// `avail.idx` now.
        index: u16,
        /// The queue size.
        size: u16,
    },
    /// A ring area could not be read or written at run time.
    RingInaccessible {
        /// Which area.
        part: RingPart,
    },
    /// A malformed descriptor chain.
    Chain(ChainError),
    /// The chain ends with no device-writable byte for the status.
    MissingStatus {
        /// Head of the chain.
        head: u16,
    },
    /// Writing the status byte failed.
    StatusUnwritable {
        /// Guest-physical address of the status byte.
        address: u64,
    },
    /// Fewer than 16 device-readable bytes: no complete request header.
    HeaderTooShort {
        /// Device-readable bytes in the chain.
        length: u64,
    },
    /// A read request (`VIRTIO_BLK_T_IN`) with device-readable data buffers:
    /// the device would have to write into buffers the driver marked
    /// read-only.
    ReadIntoReadOnlyBuffer {
        /// Device-readable bytes after the header.
        length: u64,
    },
    /// A write request (`VIRTIO_BLK_T_OUT`) with device-writable data
    /// buffers besides the status byte.
    WriteFromWritableBuffer {
        /// Device-writable bytes before the status.
        length: u64,
    },
    /// A flush or get-ID request with data buffers it cannot have.
    UnexpectedData {
        /// The request type.
        request: u32,
    },
    /// A data length that is not a multiple of 512.
    UnalignedLength {
        /// Data bytes.
        length: u64,
    },
    /// A data length above `seg_max · size_max`.
    TooLarge {
        /// Data bytes.
        length: u64,
        /// The limit.
        maximum: u64,
    },
    /// `sector + length / 512` overflows.
    SectorOverflow {
        /// First sector.
        sector: u64,
        /// Data bytes.
        length: u64,
    },
    /// The request reaches past the end of the disk.
    SectorOutOfRange {
        /// First sector.
        sector: u64,
        /// Sectors requested.
        count: u64,
        /// Disk capacity in sectors.
        capacity: u64,
    },
    /// A write request on a read-only disk.
    WriteToReadOnly {
        /// First sector.
        sector: u64,
    },
    /// A request type the device does not implement (`VIRTIO_BLK_S_UNSUPP`).
    Unsupported {
        /// The request type.
        request: u32,
    },
    /// The backend failed.
    Backend {
        /// What failed.
        error: BackendError,
        /// First sector of the failed chunk (0 for a flush).
        sector: u64,
    },
    /// A data buffer became inaccessible while the request was copied.
    DataInaccessible {
        /// Guest-physical address of the failed copy.
        address: u64,
    },
    /// The caller's scratch buffer holds less than one sector; an
    /// integration error, not a guest one.
    ScratchTooSmall {
        /// Its length.
        length: usize,
    },
    /// The backend was full while nothing of this device was in flight, so
    /// no completion would ever free it: the request failed instead of
    /// waiting for ever. A backend error, not a guest one.
    BackendBusy {
        /// The chain's head.
        head: u16,
    },
}

impl fmt::Display for DeviceError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::UnknownRegister { offset } => {
                write!(formatter, "no register at offset {offset:#x}")
            }
            Self::BadWidth { offset, width } => {
                write!(formatter, "{width}-byte access to register {offset:#x}")
            }
            Self::ReadOnlyRegister { offset } => {
                write!(formatter, "write to read-only register {offset:#x}")
            }
            Self::QueueRegisterIgnored { offset, queue } => write!(formatter, "write to register {offset:#x} of queue {queue} ignored (queue ready or absent)"),
            Self::FeaturesAfterNegotiation => formatter.write_str("driver features written after FEATURES_OK"),
            Self::FeaturesRejected { requested, offered } => write!(formatter, "driver features {requested:#x} not a subset of {offered:#x} with VERSION_1"),
            Self::Queue(error) => write!(formatter, "queue not enabled: {error}"),
            Self::NoSuchQueue { queue } => {
                write!(formatter, "notification for absent queue {queue}")
            }
            Self::NotifyNotReady => formatter.write_str("notification before DRIVER_OK or queue ready"),
            Self::NotifyWhileBroken => formatter.write_str("notification ignored: device needs reset"),
            Self::AvailableIndexJump { last, index, size } => write!(formatter, "available index jumped from {last} to {index}, beyond queue size {size}"),
            Self::RingInaccessible { part } => write!(formatter, "{part} became inaccessible"),
            Self::Chain(error) => error.fmt(formatter),
            Self::MissingStatus { head } => {
                write!(formatter, "chain {head} has no device-writable status byte")
            }
            Self::StatusUnwritable { address } => {
                write!(formatter, "status byte at {address:#x} not writable")
            }
            Self::HeaderTooShort { length } => {
                write!(formatter, "request header of {length} bytes, need 16")
            }
            Self::ReadIntoReadOnlyBuffer { length } => write!(formatter, "read request into {length} bytes of device-readable (read-only) buffers"),
            Self::WriteFromWritableBuffer { length } => write!(formatter, "write request with {length} bytes of device-writable data buffers"),
            Self::UnexpectedData { request } => {
                write!(formatter, "request type {request} carries data buffers")
            }
            Self::UnalignedLength { length } => {
                write!(formatter, "data length {length} not a multiple of 512")
            }
            Self::TooLarge { length, maximum } => {
                write!(formatter, "data length {length} above the limit {maximum}")
            }
            Self::SectorOverflow { sector, length } => {
                write!(formatter, "sector {sector} + {length} bytes overflows")
            }
            Self::SectorOutOfRange { sector, count, capacity } => write!(formatter, "sectors {sector} + {count} beyond capacity {capacity}"),
            Self::WriteToReadOnly { sector } => {
                write!(formatter, "write at sector {sector} to a read-only disk")
            }
            Self::Unsupported { request } => {
                write!(formatter, "unsupported request type {request}")
            }
            Self::Backend { error, sector } => {
                write!(formatter, "backend failed at sector {sector}: {error}")
            }
            Self::DataInaccessible { address } => {
                write!(formatter, "data buffer at {address:#x} became inaccessible")
            }
            Self::ScratchTooSmall { length } => {
                write!(formatter, "scratch buffer of {length} bytes, need at least 512")
            }
            Self::BackendBusy { head } => {
                write!(formatter, "request {head} failed: the backend is full and nothing is in flight")
            }
        }
    }
}

macro_rules! error_kinds {
    ($($(#[$meta:meta])* $kind:ident,)*) => {
        /// Kinds of [`DeviceError`], one counter each in [`Statistics`];
        /// chain and queue errors are split by variant.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum ErrorKind {
            $($(#[$meta])* $kind,)*
        }

        impl ErrorKind {
            /// Every kind, in declaration order.
            pub const ALL: [Self; Self::COUNT] = [$(Self::$kind,)*];
            /// Number of kinds.
            pub const COUNT: usize = [$(stringify!($kind),)*].len();

            /// The kind's name, for a statistics dump.
            pub const fn name(self) -> &'static str {
                match self {
                    $(Self::$kind => stringify!($kind),)*
                }
            }
        }
    };
}

error_kinds! {
    /// [`DeviceError::UnknownRegister`].
    UnknownRegister,
    /// [`DeviceError::BadWidth`].
    BadWidth,
    /// [`DeviceError::ReadOnlyRegister`].
    ReadOnlyRegister,
    /// [`DeviceError::QueueRegisterIgnored`].
    QueueRegisterIgnored,
    /// [`DeviceError::FeaturesAfterNegotiation`].
    FeaturesAfterNegotiation,
    /// [`DeviceError::FeaturesRejected`].
    FeaturesRejected,
    /// [`QueueError::InvalidSize`].
    QueueInvalidSize,
    /// [`QueueError::Misaligned`].
    QueueMisaligned,
    /// [`QueueError::OutsideMemory`].
    QueueOutsideMemory,
    /// [`DeviceError::NoSuchQueue`].
    NoSuchQueue,
    /// [`DeviceError::NotifyNotReady`].
    NotifyNotReady,
    /// [`DeviceError::NotifyWhileBroken`].
    NotifyWhileBroken,
    /// [`DeviceError::AvailableIndexJump`].
    AvailableIndexJump,
    /// [`DeviceError::RingInaccessible`].
    RingInaccessible,
    /// [`ChainError::HeadOutOfRange`].
    ChainHeadOutOfRange,
    /// [`ChainError::NextOutOfRange`].
    ChainNextOutOfRange,
    /// [`ChainError::TooLong`].
    ChainTooLong,
    /// [`ChainError::DescriptorUnreadable`].
    ChainDescriptorUnreadable,
    /// [`ChainError::Indirect`].
    ChainIndirect,
    /// [`ChainError::AddressOverflow`].
    ChainAddressOverflow,
    /// [`ChainError::OutsideMemory`].
    ChainOutsideMemory,
    /// [`ChainError::ReadableAfterWritable`].
    ChainReadableAfterWritable,
    /// [`DeviceError::MissingStatus`].
    MissingStatus,
    /// [`DeviceError::StatusUnwritable`].
    StatusUnwritable,
    /// [`DeviceError::HeaderTooShort`].
    HeaderTooShort,
    /// [`DeviceError::ReadIntoReadOnlyBuffer`].
    ReadIntoReadOnlyBuffer,
    /// [`DeviceError::WriteFromWritableBuffer`].
    WriteFromWritableBuffer,
    /// [`DeviceError::UnexpectedData`].
    UnexpectedData,
    /// [`DeviceError::UnalignedLength`].
    UnalignedLength,
    /// [`DeviceError::TooLarge`].
    TooLarge,
    /// [`DeviceError::SectorOverflow`].
    SectorOverflow,
    /// [`DeviceError::SectorOutOfRange`].
    SectorOutOfRange,
    /// [`DeviceError::WriteToReadOnly`].
    WriteToReadOnly,
    /// [`DeviceError::Unsupported`].
    Unsupported,
    /// [`DeviceError::Backend`].
    Backend,
    /// [`DeviceError::DataInaccessible`].
    DataInaccessible,
    /// [`DeviceError::ScratchTooSmall`].
    ScratchTooSmall,
    /// [`DeviceError::BackendBusy`].
    BackendBusy,
}

impl DeviceError {
    /// The counter this error goes to.
    pub const fn kind(&self) -> ErrorKind {
        match self {
            Self::UnknownRegister { .. } => ErrorKind::UnknownRegister,
            Self::BadWidth { .. } => ErrorKind::BadWidth,
            Self::ReadOnlyRegister { .. } => ErrorKind::ReadOnlyRegister,
            Self::QueueRegisterIgnored { .. } => ErrorKind::QueueRegisterIgnored,
            Self::FeaturesAfterNegotiation => ErrorKind::FeaturesAfterNegotiation,
            Self::FeaturesRejected { .. } => ErrorKind::FeaturesRejected,
            Self::Queue(QueueError::InvalidSize { .. }) => ErrorKind::QueueInvalidSize,
            Self::Queue(QueueError::Misaligned { .. }) => ErrorKind::QueueMisaligned,
            Self::Queue(QueueError::OutsideMemory { .. }) => ErrorKind::QueueOutsideMemory,
            Self::NoSuchQueue { .. } => ErrorKind::NoSuchQueue,
            Self::NotifyNotReady => ErrorKind::NotifyNotReady,
            Self::NotifyWhileBroken => ErrorKind::NotifyWhileBroken,
            Self::AvailableIndexJump { .. } => ErrorKind::AvailableIndexJump,
            Self::RingInaccessible { .. } => ErrorKind::RingInaccessible,
            Self::Chain(ChainError::HeadOutOfRange { .. }) => ErrorKind::ChainHeadOutOfRange,
            Self::Chain(ChainError::NextOutOfRange { .. }) => ErrorKind::ChainNextOutOfRange,
            Self::Chain(ChainError::TooLong { .. }) => ErrorKind::ChainTooLong,
            Self::Chain(ChainError::DescriptorUnreadable { .. }) => ErrorKind::ChainDescriptorUnreadable,
            Self::Chain(ChainError::Indirect { .. }) => ErrorKind::ChainIndirect,
            Self::Chain(ChainError::AddressOverflow { .. }) => ErrorKind::ChainAddressOverflow,
            Self::Chain(ChainError::OutsideMemory { .. }) => ErrorKind::ChainOutsideMemory,
            Self::Chain(ChainError::ReadableAfterWritable { .. }) => ErrorKind::ChainReadableAfterWritable,
            Self::MissingStatus { .. } => ErrorKind::MissingStatus,
            Self::StatusUnwritable { .. } => ErrorKind::StatusUnwritable,
            Self::HeaderTooShort { .. } => ErrorKind::HeaderTooShort,
            Self::ReadIntoReadOnlyBuffer { .. } => ErrorKind::ReadIntoReadOnlyBuffer,
            Self::WriteFromWritableBuffer { .. } => ErrorKind::WriteFromWritableBuffer,
            Self::UnexpectedData { .. } => ErrorKind::UnexpectedData,
            Self::UnalignedLength { .. } => ErrorKind::UnalignedLength,
            Self::TooLarge { .. } => ErrorKind::TooLarge,
            Self::SectorOverflow { .. } => ErrorKind::SectorOverflow,
            Self::SectorOutOfRange { .. } => ErrorKind::SectorOutOfRange,
            Self::WriteToReadOnly { .. } => ErrorKind::WriteToReadOnly,
            Self::Unsupported { .. } => ErrorKind::Unsupported,
            Self::Backend { .. } => ErrorKind::Backend,
            Self::DataInaccessible { .. } => ErrorKind::DataInaccessible,
            Self::ScratchTooSmall { .. } => ErrorKind::ScratchTooSmall,
            Self::BackendBusy { .. } => ErrorKind::BackendBusy,
        }
    }
}

/// Counters of what the device did and rejected. All saturate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Statistics {
    /// `VIRTIO_BLK_T_IN` requests.
    pub reads: u64,
    /// `VIRTIO_BLK_T_OUT` requests.
    pub writes: u64,
    /// `VIRTIO_BLK_T_FLUSH` requests.
    pub flushes: u64,
    /// `VIRTIO_BLK_T_GET_ID` requests.
    pub identifies: u64,
    /// Requests of any other type.
    pub unsupported: u64,
    /// Bytes read from the disk into guest buffers.
    pub bytes_read: u64,
    /// Bytes written from guest buffers to the disk.
    pub bytes_written: u64,
    /// Chains returned through the used ring.
    pub completed: u64,
    /// Of those, the ones completed with `VIRTIO_BLK_S_IOERR`.
    pub failed: u64,
    /// Times the device entered `DEVICE_NEEDS_RESET`.
    pub needs_reset: u64,
    /// Device resets by the driver.
    pub resets: u64,
    /// Completions the device dropped: for a request forgotten by a reset
    /// (or the queue disabled), or already completed.
    pub stale_completions: u64,
    errors: [u64; ErrorKind::COUNT],
}

impl Default for Statistics {
    fn default() -> Self {
        Self::new()
    }
}

impl Statistics {
    /// All zero.
    pub const fn new() -> Self {
        Self {
            reads: 0,
            writes: 0,
            flushes: 0,
            identifies: 0,
            unsupported: 0,
            bytes_read: 0,
            bytes_written: 0,
            completed: 0,
            failed: 0,
            needs_reset: 0,
            resets: 0,
            stale_completions: 0,
            errors: [0; ErrorKind::COUNT],
        }
    }

    /// Errors of one kind.
    pub fn errors(&self, kind: ErrorKind) -> u64 {
        self.errors.get(kind as usize).copied().unwrap_or(0)
    }

    /// Errors of all kinds.
    pub fn total_errors(&self) -> u64 {
        self.errors.iter().fold(0, |total, count| total.saturating_add(*count))
    }

    pub(crate) fn count_error(&mut self, kind: ErrorKind) {
        if let Some(counter) = self.errors.get_mut(kind as usize) {
            *counter = counter.saturating_add(1);
        }
    }
}

/// Adds one to a saturating counter.
pub(crate) fn increment(counter: &mut u64) {
    *counter = counter.saturating_add(1);
}
