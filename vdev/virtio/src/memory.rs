//! Guest RAM as the device model sees it: copies in and out through a trait,
//! never a reference into guest memory.

use core::fmt;

/// A guest-physical range that is not (entirely) inside the personality's
/// RAM, or whose end overflows the address space.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryError;

impl fmt::Display for MemoryError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("guest address range outside guest RAM")
    }
}

/// The personality's RAM, accessed by copying.
///
/// The guest owns this memory and may change it at any time, including while
/// the device model runs on another core: every structure the model reads is
/// copied out once, validated as a copy, and only the copy is used.
pub trait GuestMemory {
    /// Copies guest-physical `[address, address + buffer.len())` into
    /// `buffer`. Fails if any byte is outside guest RAM or the range
    /// overflows.
    fn read(&self, address: u64, buffer: &mut [u8]) -> Result<(), MemoryError>;

    /// Copies `data` to guest-physical `[address, address + data.len())`.
    /// Fails, writing nothing, if any byte is outside guest RAM or the range
    /// overflows.
    fn write(&mut self, address: u64, data: &[u8]) -> Result<(), MemoryError>;

    /// Memory barrier (a `dmb ish` on the target): between reading the
    /// available index and reading ring entries and descriptors, and between
    /// writing used elements and publishing the used index. The default does
    /// nothing, which is right for single-threaded host tests.
    fn fence(&self) {}

    /// Whether `[address, address + length)` lies inside guest RAM, without
    /// using its contents. A zero-length range is always valid.
    ///
    /// The default probes the first and the last byte with one-byte reads,
    /// which is exact when guest RAM is one contiguous region; an
    /// implementation with holes in its RAM should override it with an exact
    /// check. If the probe is too lenient, the copy path's data copy fails
    /// instead and the request completes with an I/O error — but a backend
    /// that moves [`Segment`](crate::Segment)s by DMA gets no such second
    /// check, so it must check each segment exactly itself (Janus' does).
    fn contains(&self, address: u64, length: u64) -> bool {
        let Some(last_offset) = length.checked_sub(1) else {
            return true;
        };
        let Some(last) = address.checked_add(last_offset) else {
            return false;
        };
        let mut probe = [0u8; 1];
        self.read(address, &mut probe).is_ok() && self.read(last, &mut probe).is_ok()
    }
}

/// Reads a little-endian `u16` from guest memory.
pub(crate) fn read_u16<M: GuestMemory + ?Sized>(memory: &M, address: u64) -> Result<u16, MemoryError> {
    let mut bytes = [0u8; 2];
    memory.read(address, &mut bytes)?;
    Ok(u16::from_le_bytes(bytes))
}
