//! Bounds-checked little-endian reads from byte slices (never panic).

/// `N` bytes at `offset`, or `None` if they are not all inside `bytes`.
pub(crate) fn read_array<const N: usize>(bytes: &[u8], offset: u64) -> Option<[u8; N]> {
    let start = usize::try_from(offset).ok()?;
    let end = start.checked_add(N)?;
    bytes.get(start..end)?.try_into().ok()
}

/// The `u16` at `offset`.
#[cfg(feature = "std")]
pub(crate) fn read_u16(bytes: &[u8], offset: u64) -> Option<u16> {
    read_array(bytes, offset).map(u16::from_le_bytes)
}

/// The `u32` at `offset`.
pub(crate) fn read_u32(bytes: &[u8], offset: u64) -> Option<u32> {
    read_array(bytes, offset).map(u32::from_le_bytes)
}

/// The `u64` at `offset`.
pub(crate) fn read_u64(bytes: &[u8], offset: u64) -> Option<u64> {
    read_array(bytes, offset).map(u64::from_le_bytes)
}

/// `bytes[offset..offset + length]`, or `None` if any of it is outside.
pub(crate) fn sub_slice(bytes: &[u8], offset: u64, length: u64) -> Option<&[u8]> {
    let start = usize::try_from(offset).ok()?;
    let end = start.checked_add(usize::try_from(length).ok()?)?;
    bytes.get(start..end)
}
