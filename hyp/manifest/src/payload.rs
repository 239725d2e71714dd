//! The payload appended to the hypervisor image: a fixed 64-byte header, the
//! encoded boot plan, then the 4 KiB aligned blobs (kernels, device trees,
//! initrds) the plan points at.
//!
//! ```text
//! offset  size  field
//!      0     8  magic "JANUSPLD"
//!      8     4  format version (PAYLOAD_FORMAT_VERSION, 4)
//!     12     4  header size (64)
//!     16     8  plan offset
//!     24     8  plan length
//!     32     8  total payload length
//!     40     8  FNV-1a 64 checksum of bytes [64, total)
//!     48    16  reserved, zero
//! ```

use core::fmt;

use crate::codec::{MAX_ENCODED_PLAN_SIZE, decode_plan};
use crate::little_endian::{read_array, read_u32, read_u64, sub_slice};
use crate::plan::{Blob, BootPlan};

/// The first eight bytes of every payload.
pub const PAYLOAD_MAGIC: [u8; 8] = *b"JANUSPLD";
/// The payload (and plan encoding) format this crate reads and writes.
/// Version 3 added storage, the guest disk, per-personality disks and the
/// device key; version 4 added passed-through devices.
pub const PAYLOAD_FORMAT_VERSION: u32 = 4;
/// The header's size in bytes.
pub const PAYLOAD_HEADER_SIZE: u64 = 64;
/// Blobs start on multiples of this, counted from the payload start.
pub const PAYLOAD_BLOB_ALIGNMENT: u64 = 4096;

const RESERVED_OFFSET: u64 = 48;
const RESERVED_SIZE: usize = 16;

const _: () = assert!(PAYLOAD_HEADER_SIZE as usize + MAX_ENCODED_PLAN_SIZE <= PAYLOAD_BLOB_ALIGNMENT as usize);

/// Why a payload was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PayloadError {
    /// Fewer bytes than the header needs.
    TooShort {
        /// Bytes available.
        length: u64,
    },
    /// The magic is not `JANUSPLD`.
    BadMagic,
    /// A format version this build does not understand.
    UnsupportedVersion {
        /// The version found.
        version: u32,
    },
    /// The header size field is not 64.
    BadHeaderSize {
        /// The size found.
        size: u32,
    },
    /// The reserved header bytes are not zero.
    ReservedNotZero,
    /// The declared total length is smaller than the header.
    TotalTooSmall {
        /// The declared total length.
        total: u64,
    },
    /// The plan does not lie between the header and the payload end.
    PlanOutOfBounds {
        /// Declared plan offset.
        offset: u64,
        /// Declared plan length.
        length: u64,
        /// Declared total length.
        total: u64,
    },
    /// The bytes handed over are not exactly the declared total length.
    LengthMismatch {
        /// Declared total length.
        declared: u64,
        /// Bytes handed over.
        actual: u64,
    },
    /// The checksum does not match the contents.
    ChecksumMismatch {
        /// The checksum in the header.
        expected: u64,
        /// The checksum computed over the contents.
        actual: u64,
    },
    /// The plan ends in the middle of a field.
    PlanTruncated {
        /// The field being read.
        field: &'static str,
        /// Its offset within the plan.
        offset: u64,
    },
    /// Bytes follow the last personality.
    PlanTrailingBytes {
        /// How many.
        count: u64,
    },
    /// A string in the plan is not UTF-8.
    PlanNotUtf8 {
        /// The field.
        field: &'static str,
    },
    /// A string or list is longer than its fixed capacity.
    PlanCapacityExceeded {
        /// The field.
        field: &'static str,
        /// The length found.
        count: u64,
        /// The capacity.
        capacity: usize,
    },
    /// An enumeration tag has no meaning.
    PlanInvalidTag {
        /// The field.
        field: &'static str,
        /// The tag found.
        value: u8,
    },
}

impl fmt::Display for PayloadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooShort { length } => {
                write!(f, "payload is {length} bytes, shorter than its {PAYLOAD_HEADER_SIZE}-byte header")
            }
            Self::BadMagic => write!(f, "payload magic is not \"JANUSPLD\" (no payload appended to the image?)"),
            Self::UnsupportedVersion { version } => write!(
                f,
                "payload format version {version} is not {PAYLOAD_FORMAT_VERSION}; rebuild the image with a \
                 matching xtask"
            ),
            Self::BadHeaderSize { size } => {
                write!(f, "payload header size {size} is not {PAYLOAD_HEADER_SIZE}")
            }
            Self::ReservedNotZero => write!(f, "payload header reserved bytes are not zero"),
            Self::TotalTooSmall { total } => {
                write!(f, "payload total length {total:#x} is smaller than the header")
            }
            Self::PlanOutOfBounds { offset, length, total } => {
                write!(f, "payload plan at {offset:#x} length {length:#x} is not inside the payload (length {total:#x})")
            }
            Self::LengthMismatch { declared, actual } => {
                write!(f, "payload declares {declared:#x} bytes but {actual:#x} were given")
            }
            Self::ChecksumMismatch { expected, actual } => {
                write!(f, "payload checksum is {actual:#018x}, header says {expected:#018x} (corrupted image)")
            }
            Self::PlanTruncated { field, offset } => {
                write!(f, "boot plan ends inside {field} at offset {offset:#x}")
            }
            Self::PlanTrailingBytes { count } => {
                write!(f, "boot plan has {count} unexpected trailing bytes")
            }
            Self::PlanNotUtf8 { field } => write!(f, "boot plan {field} is not UTF-8"),
            Self::PlanCapacityExceeded { field, count, capacity } => {
                write!(f, "boot plan {field} has {count} entries, more than the {capacity} allowed")
            }
            Self::PlanInvalidTag { field, value } => {
                write!(f, "boot plan {field} has invalid tag {value}")
            }
        }
    }
}

/// The header fields, read and sanity-checked.
struct Header {
    plan_offset: u64,
    plan_length: u64,
    total: u64,
    checksum: u64,
}

fn read_header(bytes: &[u8]) -> Result<Header, PayloadError> {
    let too_short = PayloadError::TooShort { length: bytes.len() as u64 };
    if read_array::<8>(bytes, 0).ok_or(too_short)? != PAYLOAD_MAGIC {
        return Err(PayloadError::BadMagic);
    }
    let version = read_u32(bytes, 8).ok_or(too_short)?;
    if version != PAYLOAD_FORMAT_VERSION {
        return Err(PayloadError::UnsupportedVersion { version });
    }
    let header_size = read_u32(bytes, 12).ok_or(too_short)?;
    if u64::from(header_size) != PAYLOAD_HEADER_SIZE {
        return Err(PayloadError::BadHeaderSize { size: header_size });
    }
    let header = Header {
        plan_offset: read_u64(bytes, 16).ok_or(too_short)?,
        plan_length: read_u64(bytes, 24).ok_or(too_short)?,
        total: read_u64(bytes, 32).ok_or(too_short)?,
        checksum: read_u64(bytes, 40).ok_or(too_short)?,
    };
    if read_array::<RESERVED_SIZE>(bytes, RESERVED_OFFSET).ok_or(too_short)? != [0; RESERVED_SIZE] {
        return Err(PayloadError::ReservedNotZero);
    }
    if header.total < PAYLOAD_HEADER_SIZE {
        return Err(PayloadError::TotalTooSmall { total: header.total });
    }
    let plan_end = header.plan_offset.checked_add(header.plan_length);
    if header.plan_offset < PAYLOAD_HEADER_SIZE || plan_end.is_none_or(|end| end > header.total) {
        return Err(PayloadError::PlanOutOfBounds { offset: header.plan_offset, length: header.plan_length, total: header.total });
    }
    Ok(header)
}

/// The payload's total length, read from its first [`PAYLOAD_HEADER_SIZE`]
/// bytes (more may be passed), after checking the magic, version and the
/// header's internal consistency. Lets the hypervisor slice the payload
/// before parsing it.
pub fn payload_length(header: &[u8]) -> Result<u64, PayloadError> {
    read_header(header).map(|header| header.total)
}

/// The payload bytes, for reading blobs the plan points at.
#[derive(Clone, Copy, Debug)]
pub struct PayloadBlobs<'a> {
    bytes: &'a [u8],
}

impl<'a> PayloadBlobs<'a> {
    /// The blob's bytes, or `None` if it is not wholly inside the payload.
    pub fn get(&self, blob: Blob) -> Option<&'a [u8]> {
        sub_slice(self.bytes, blob.offset, blob.size)
    }

    /// The payload's length in bytes.
    pub fn len(&self) -> u64 {
        self.bytes.len() as u64
    }

    /// Whether the payload is empty (never true for a parsed payload).
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }
}

/// Parses a payload: `bytes` must be exactly the payload (see
/// [`payload_length`]). Checks magic, version, lengths and checksum, then
/// decodes the plan. The plan still needs [`crate::validate_plan`].
pub fn parse_payload(bytes: &[u8]) -> Result<(BootPlan, PayloadBlobs<'_>), PayloadError> {
    let header = read_header(bytes)?;
    let actual = bytes.len() as u64;
    if actual != header.total {
        return Err(PayloadError::LengthMismatch { declared: header.total, actual });
    }
    let body = sub_slice(bytes, PAYLOAD_HEADER_SIZE, header.total.saturating_sub(PAYLOAD_HEADER_SIZE))
        .ok_or(PayloadError::LengthMismatch { declared: header.total, actual })?;
    let checksum = fnv1a64(body);
    if checksum != header.checksum {
        return Err(PayloadError::ChecksumMismatch { expected: header.checksum, actual: checksum });
    }
    let plan_bytes = sub_slice(bytes, header.plan_offset, header.plan_length).ok_or(PayloadError::PlanOutOfBounds {
        offset: header.plan_offset,
        length: header.plan_length,
        total: header.total,
    })?;
    let plan = decode_plan(plan_bytes)?;
    Ok((plan, PayloadBlobs { bytes }))
}

/// Where the device key lies in a payload that [`parse_payload`] accepted
/// (byte range), if its plan carries one. Scrubbing those bytes makes the
/// payload's checksum fail: do it only once the plan is decoded.
pub fn device_key_span(bytes: &[u8]) -> Option<core::ops::Range<usize>> {
    let header = read_header(bytes).ok()?;
    let plan_bytes = sub_slice(bytes, header.plan_offset, header.plan_length)?;
    let (offset, length) = crate::codec::device_key_span(plan_bytes)?;
    let start = usize::try_from(header.plan_offset.checked_add(offset)?).ok()?;
    Some(start..start.checked_add(length)?)
}

/// FNV-1a, 64-bit.
pub(crate) fn fnv1a64(bytes: &[u8]) -> u64 {
    const OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    bytes.iter().fold(OFFSET_BASIS, |hash, &byte| (hash ^ u64::from(byte)).wrapping_mul(PRIME))
}

/// Builds a payload on the host: add the blobs first, then finish with the
/// plan that points at them.
#[cfg(feature = "std")]
#[derive(Clone, Debug, Default)]
pub struct PayloadBuilder {
    /// Blob bytes; `blobs[0]` sits at payload offset [`PAYLOAD_BLOB_ALIGNMENT`].
    blobs: Vec<u8>,
}

#[cfg(feature = "std")]
impl PayloadBuilder {
    /// An empty payload.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a blob at the next 4 KiB boundary and returns where it is.
    pub fn add_blob(&mut self, bytes: &[u8]) -> Blob {
        let padded = self.blobs.len().next_multiple_of(PAYLOAD_BLOB_ALIGNMENT as usize);
        self.blobs.resize(padded, 0);
        let offset = PAYLOAD_BLOB_ALIGNMENT + self.blobs.len() as u64;
        self.blobs.extend_from_slice(bytes);
        Blob { offset, size: bytes.len() as u64 }
    }

    /// Lays out header, plan and blobs and computes the checksum.
    pub fn finish(self, plan: &BootPlan) -> Vec<u8> {
        let plan_bytes = crate::codec::encode_plan(plan);
        let blobs_start = if self.blobs.is_empty() { PAYLOAD_HEADER_SIZE as usize + plan_bytes.len() } else { PAYLOAD_BLOB_ALIGNMENT as usize };
        let mut out = vec![0; PAYLOAD_HEADER_SIZE as usize];
        out.extend_from_slice(&plan_bytes);
        out.resize(blobs_start, 0);
        out.extend_from_slice(&self.blobs);
        let total = out.len() as u64;
        let checksum = fnv1a64(out.get(PAYLOAD_HEADER_SIZE as usize..).unwrap_or_default());
        let mut header = Vec::with_capacity(PAYLOAD_HEADER_SIZE as usize);
        header.extend_from_slice(&PAYLOAD_MAGIC);
        header.extend_from_slice(&PAYLOAD_FORMAT_VERSION.to_le_bytes());
        header.extend_from_slice(&(PAYLOAD_HEADER_SIZE as u32).to_le_bytes());
        header.extend_from_slice(&PAYLOAD_HEADER_SIZE.to_le_bytes());
        header.extend_from_slice(&(plan_bytes.len() as u64).to_le_bytes());
        header.extend_from_slice(&total.to_le_bytes());
        header.extend_from_slice(&checksum.to_le_bytes());
        header.resize(PAYLOAD_HEADER_SIZE as usize, 0);
        out.splice(0..PAYLOAD_HEADER_SIZE as usize, header);
        out
    }
}
