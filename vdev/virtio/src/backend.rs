//! The disk behind the virtio-blk device: 512-byte sectors, read, write,
//! flush.

use core::fmt;

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
}
