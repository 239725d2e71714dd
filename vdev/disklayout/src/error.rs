//! Why a disk is not a usable Janus disk: [`LayoutError`] and [`HeaderProblem`].

use core::fmt;

use gpt_disk_types::{GptPartitionName, Guid};

use crate::layout::PartitionKind;

/// Which of the two GPT headers (UEFI 2.10 §5.3.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum HeaderLocation {
    /// The primary header at LBA 1.
    Primary,
    /// The backup header at the last sector of the disk.
    Backup,
}

/// Why one GPT header is unusable (the checks of UEFI 2.10 §5.3.2, plus
/// Janus' limits).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeaderProblem {
    /// The signature is not "EFI PART".
    BadSignature,
    /// The revision is not 1.0.
    UnsupportedRevision {
        /// The revision field as stored.
        revision: u32,
    },
    /// The header size is not 92 bytes.
    BadHeaderSize {
        /// The header size field.
        size: u32,
    },
    /// The header's CRC32 does not match its contents.
    HeaderChecksum,
    /// The header says it lives at another LBA than the one it was read from.
    WrongLocation {
        /// The header's MyLBA field.
        my_lba: u64,
        /// Where it was read from.
        expected: u64,
    },
    /// The header points at the other header somewhere else than the other
    /// end of the disk (for example the disk was resized).
    WrongAlternate {
        /// The header's AlternateLBA field.
        alternate_lba: u64,
        /// Where the other header must be.
        expected: u64,
    },
    /// The partition entry size is not 128, 256 or 512 bytes.
    BadEntrySize {
        /// The entry size field.
        size: u32,
    },
    /// The partition entry array is larger than Janus reads
    /// ([`MAX_ENTRY_ARRAY_BYTES`](crate::MAX_ENTRY_ARRAY_BYTES)).
    EntryArrayTooLarge {
        /// Entries times entry size.
        bytes: u64,
    },
    /// The usable LBA range is empty, reversed or covers a header.
    BadUsableRange {
        /// First usable LBA.
        first: u64,
        /// Last usable LBA.
        last: u64,
    },
    /// The partition entry array is outside the disk or overlaps a header
    /// or the usable range.
    EntryArrayMisplaced {
        /// The first LBA of the array.
        lba: u64,
    },
    /// The partition entry array's CRC32 does not match.
    EntryArrayChecksum,
    /// The backup header is intact but describes a different partition
    /// table than the primary (only reported for the backup).
    DisagreesWithPrimary,
}

impl fmt::Display for HeaderProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadSignature => f.write_str("no \"EFI PART\" signature"),
            Self::UnsupportedRevision { revision } => {
                write!(f, "revision {revision:#010x} is not 1.0")
            }
            Self::BadHeaderSize { size } => write!(f, "header size {size} is not 92"),
            Self::HeaderChecksum => f.write_str("header CRC32 mismatch"),
            Self::WrongLocation { my_lba, expected } => {
                write!(f, "header says it is at LBA {my_lba}, not {expected}")
            }
            Self::WrongAlternate { alternate_lba, expected } => {
                write!(f, "header puts the other header at LBA {alternate_lba}, not {expected} (disk resized?)")
            }
            Self::BadEntrySize { size } => {
                write!(f, "partition entry size {size} is not 128, 256 or 512")
            }
            Self::EntryArrayTooLarge { bytes } => write!(f, "partition entry array of {bytes} bytes is larger than {} bytes", crate::MAX_ENTRY_ARRAY_BYTES),
            Self::BadUsableRange { first, last } => {
                write!(f, "usable LBA range {first}..={last} is not inside the disk")
            }
            Self::EntryArrayMisplaced { lba } => write!(f, "partition entry array at LBA {lba} is outside the disk or overlaps a header or the usable range"),
            Self::EntryArrayChecksum => f.write_str("partition entry array CRC32 mismatch"),
            Self::DisagreesWithPrimary => f.write_str("intact but describes a different partition table than the primary"),
        }
    }
}

/// What kind of partition table that is not Janus' was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ForeignTable {
    /// A classic MBR partition table with no GPT-protective (0xEE) entry.
    Mbr,
    /// A valid GPT without a single Janus partition type.
    Gpt,
}

/// Why a disk is not a usable Janus disk. Every value names one problem in
/// one line (no fix: the caller knows whether the disk is an image file or a
/// physical device and says what to do).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LayoutError {
    /// The sector reader failed at this LBA.
    ReadFailed {
        /// The sector that could not be read.
        lba: u64,
    },
    /// The disk is smaller than the smallest Janus disk.
    DiskTooSmall {
        /// The disk size in sectors.
        sectors: u64,
        /// [`MIN_DISK_SECTORS`](crate::MIN_DISK_SECTORS).
        minimum: u64,
    },
    /// Sector 0 holds no MBR at all (a blank or unformatted disk).
    NoProtectiveMbr,
    /// The disk holds a partition table that Janus did not make.
    ForeignPartitionTable {
        /// MBR or GPT.
        table: ForeignTable,
    },
    /// Sector 0 is a protective MBR but neither GPT header is usable.
    BadHeaders {
        /// Why the primary header is unusable.
        primary: HeaderProblem,
        /// Why the backup header is unusable.
        backup: HeaderProblem,
    },
    /// No partition with this kind's type GUID and name.
    MissingPartition {
        /// The missing kind.
        kind: PartitionKind,
    },
    /// Two partitions with this kind's type GUID and name.
    DuplicatePartition {
        /// The duplicated kind.
        kind: PartitionKind,
    },
    /// A partition carries a Janus name but not that kind's type GUID.
    WrongPartitionType {
        /// The kind its name says.
        kind: PartitionKind,
        /// Its type GUID.
        found: Guid,
    },
    /// A partition carries a Janus type GUID but not that kind's name.
    WrongPartitionName {
        /// The kind its type GUID says.
        kind: PartitionKind,
        /// Its name.
        found: GptPartitionName,
    },
    /// A partition's last LBA is before its first.
    EmptyPartition {
        /// Which partition.
        kind: PartitionKind,
        /// Its first LBA.
        first_lba: u64,
        /// Its last LBA (inclusive).
        last_lba: u64,
    },
    /// A partition is not inside the usable LBA range the GPT header gives.
    PartitionOutsideDisk {
        /// Which partition.
        kind: PartitionKind,
        /// Its first LBA.
        first_lba: u64,
        /// Its last LBA (inclusive).
        last_lba: u64,
        /// The header's first usable LBA.
        first_usable: u64,
        /// The header's last usable LBA.
        last_usable: u64,
    },
    /// A Janus partition shares sectors with another partition.
    Overlap {
        /// The Janus partition.
        a: PartitionKind,
        /// The name of the other partition (Janus or not).
        b: GptPartitionName,
    },
    /// A partition is smaller than its kind's minimum.
    TooSmall {
        /// Which partition.
        kind: PartitionKind,
        /// Its size in sectors.
        sectors: u64,
        /// The minimum in sectors.
        minimum: u64,
    },
}

impl LayoutError {
    /// Whether the disk carries something that is not a Janus partition
    /// table at all (as opposed to a damaged or wrongly edited Janus table).
    #[must_use]
    pub const fn is_foreign(&self) -> bool {
        matches!(self, Self::NoProtectiveMbr | Self::ForeignPartitionTable { .. })
    }
}

/// Writes a GPT name in quotes; an empty name as `""`.
struct Quoted<'a>(&'a GptPartitionName);

impl fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{}\"", self.0)
    }
}

impl fmt::Display for LayoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ReadFailed { lba } => write!(f, "reading sector {lba} failed"),
            Self::DiskTooSmall { sectors, minimum } => write!(f, "the disk has {sectors} sectors, fewer than the {minimum} of the smallest Janus disk"),
            Self::NoProtectiveMbr => f.write_str("no partition table (sector 0 has no MBR signature)"),
            Self::ForeignPartitionTable { table: ForeignTable::Mbr } => f.write_str("a foreign partition table (an MBR partition table, no GPT)"),
            Self::ForeignPartitionTable { table: ForeignTable::Gpt } => f.write_str("a foreign partition table (a GPT without Janus partitions)"),
            Self::BadHeaders { primary, backup } => {
                write!(f, "both GPT headers are damaged: primary: {primary}; backup: {backup}")
            }
            Self::MissingPartition { kind } => write!(f, "the partition \"{kind}\" is missing"),
            Self::DuplicatePartition { kind } => {
                write!(f, "the partition \"{kind}\" appears twice")
            }
            Self::WrongPartitionType { kind, found } => write!(f, "the partition \"{kind}\" has type {found}, not {}", kind.type_guid().0),
            Self::WrongPartitionName { kind, found } => write!(f, "the partition with the \"{kind}\" type GUID is named {}", Quoted(found)),
            Self::EmptyPartition { kind, first_lba, last_lba } => {
                write!(f, "the partition \"{kind}\" ends (LBA {last_lba}) before it starts (LBA {first_lba})")
            }
            Self::PartitionOutsideDisk { kind, first_lba, last_lba, first_usable, last_usable } => write!(
                f,
                "the partition \"{kind}\" (LBA {first_lba}..={last_lba}) is outside the usable sectors \
                 {first_usable}..={last_usable}"
            ),
            Self::Overlap { a, b } => {
                write!(f, "the partition \"{a}\" overlaps the partition {}", Quoted(b))
            }
            Self::TooSmall { kind, sectors, minimum } => write!(f, "the partition \"{kind}\" has {sectors} sectors, fewer than its minimum {minimum}"),
        }
    }
}

impl core::error::Error for LayoutError {}
