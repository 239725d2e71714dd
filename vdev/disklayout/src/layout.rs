//! The four Janus partition kinds, their type GUIDs and names, and the layout found on a disk.

use gpt_disk_types::{GptPartitionName, GptPartitionType, guid};

/// Bytes per logical block. Janus disks use 512-byte sectors only (virtio-blk
/// and the QEMU images do; a 4 KiB-native disk is a different layout).
pub const SECTOR_SIZE: u64 = 512;

/// One mebibyte, the alignment of every partition Janus creates.
pub const MIB: u64 = 1 << 20;

/// Smallest `janus-meta` partition: 1 MiB.
pub const META_MINIMUM_BYTES: u64 = MIB;

/// Smallest data partition (`personal`, `work`, `shared`): 16 MiB.
pub const DATA_MINIMUM_BYTES: u64 = 16 * MIB;

/// One of the four partitions of a Janus disk.
///
/// Each kind has its own GPT partition type GUID, generated once at random
/// (version 4) for Janus and fixed forever:
///
/// | kind | name | type GUID |
/// | --- | --- | --- |
/// | [`Meta`](Self::Meta) | `janus-meta` | `e8fb31dd-fd0f-4887-92da-5cb648b1621c` |
/// | [`Personal`](Self::Personal) | `personal` | `f51390fc-a356-4cd2-a235-93086db1336a` |
/// | [`Work`](Self::Work) | `work` | `ef3ce24a-077f-4aac-a18f-9f5f7ac2b20a` |
/// | [`Shared`](Self::Shared) | `shared` | `5710c542-09e2-45e4-bd97-5226acb8d001` |
///
/// A partition belongs to Janus only if both its type GUID and its GPT name
/// (UTF-16LE) match.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PartitionKind {
    /// `janus-meta`: the hypervisor's own small partition (key slots, state).
    Meta,
    /// `personal`: the personal personality's private disk.
    Personal,
    /// `work`: the work personality's private disk.
    Work,
    /// `shared`: the disk both personalities may be given.
    Shared,
}

impl PartitionKind {
    /// All kinds, in the order Janus lays them out on the disk.
    pub const ALL: [Self; 4] = [Self::Meta, Self::Personal, Self::Work, Self::Shared];

    /// The GPT partition name.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Meta => "janus-meta",
            Self::Personal => "personal",
            Self::Work => "work",
            Self::Shared => "shared",
        }
    }

    /// The GPT partition type GUID (see the table on [`PartitionKind`]).
    #[must_use]
    pub const fn type_guid(self) -> GptPartitionType {
        GptPartitionType(match self {
            Self::Meta => guid!("e8fb31dd-fd0f-4887-92da-5cb648b1621c"),
            Self::Personal => guid!("f51390fc-a356-4cd2-a235-93086db1336a"),
            Self::Work => guid!("ef3ce24a-077f-4aac-a18f-9f5f7ac2b20a"),
            Self::Shared => guid!("5710c542-09e2-45e4-bd97-5226acb8d001"),
        })
    }

    /// The smallest size the partition may have, in bytes.
    #[must_use]
    pub const fn minimum_bytes(self) -> u64 {
        match self {
            Self::Meta => META_MINIMUM_BYTES,
            Self::Personal | Self::Work | Self::Shared => DATA_MINIMUM_BYTES,
        }
    }

    /// The smallest size the partition may have, in sectors.
    #[must_use]
    pub const fn minimum_sectors(self) -> u64 {
        self.minimum_bytes() / SECTOR_SIZE
    }

    /// The kind whose type GUID this is, if any.
    #[must_use]
    pub fn from_type_guid(type_guid: GptPartitionType) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.type_guid() == type_guid)
    }

    /// The kind with this GPT name, if any.
    #[must_use]
    pub fn from_gpt_name(name: &GptPartitionName) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| name_is(name, kind.name()))
    }
}

impl core::fmt::Display for PartitionKind {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

/// Whether a GPT name (UTF-16LE, NUL-terminated or filling all 36 units) is
/// exactly `expected`.
pub(crate) fn name_is(name: &GptPartitionName, expected: &str) -> bool {
    name.chars().eq(expected.chars())
}

/// A contiguous run of sectors on the disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Partition {
    /// The first sector (LBA) of the partition.
    pub first_lba: u64,
    /// The number of sectors; never zero in a [`Layout`].
    pub sectors: u64,
}

impl Partition {
    /// The offset of the first byte from the start of the disk, or `None` if
    /// it does not fit in a `u64`.
    #[must_use]
    pub const fn byte_offset(&self) -> Option<u64> {
        self.first_lba.checked_mul(SECTOR_SIZE)
    }

    /// The length in bytes, or `None` if it does not fit in a `u64`.
    #[must_use]
    pub const fn byte_length(&self) -> Option<u64> {
        self.sectors.checked_mul(SECTOR_SIZE)
    }

    /// The first sector after the partition, or `None` on overflow.
    #[must_use]
    pub const fn end_lba(&self) -> Option<u64> {
        self.first_lba.checked_add(self.sectors)
    }

    /// The last sector of the partition (inclusive), or `None` if it is empty
    /// or the end overflows.
    #[must_use]
    pub const fn last_lba(&self) -> Option<u64> {
        match self.end_lba() {
            Some(end) if self.sectors > 0 => Some(end - 1),
            _ => None,
        }
    }

    /// Whether the disk sector `lba` lies inside the partition.
    #[must_use]
    pub const fn contains(&self, lba: u64) -> bool {
        match self.end_lba() {
            Some(end) => lba >= self.first_lba && lba < end,
            None => lba >= self.first_lba,
        }
    }

    /// Whether `count` sectors starting at partition-relative sector
    /// `sector` lie inside the partition (what a virtio-blk request against
    /// this partition must satisfy). Overflow counts as outside.
    #[must_use]
    pub const fn contains_relative(&self, sector: u64, count: u64) -> bool {
        match sector.checked_add(count) {
            Some(end) => end <= self.sectors,
            None => false,
        }
    }

    /// The disk LBA of partition-relative sector `sector`, or `None` if it is
    /// outside the partition.
    #[must_use]
    pub const fn disk_lba(&self, sector: u64) -> Option<u64> {
        if sector < self.sectors { self.first_lba.checked_add(sector) } else { None }
    }

    /// Whether the two partitions share at least one sector.
    #[must_use]
    pub const fn overlaps(&self, other: &Self) -> bool {
        let (Some(end), Some(other_end)) = (self.end_lba(), other.end_lba()) else {
            // An overflowing partition reaches the end of the address space.
            return true;
        };
        self.sectors > 0 && other.sectors > 0 && self.first_lba < other_end && other.first_lba < end
    }
}

/// The Janus partitions found on a disk by [`read_layout`](crate::read_layout).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    /// `janus-meta`.
    pub meta: Partition,
    /// `personal`.
    pub personal: Partition,
    /// `work`.
    pub work: Partition,
    /// `shared`.
    pub shared: Partition,
    /// The disk size the layout was read against, in sectors.
    pub disk_sectors: u64,
    /// The primary GPT header (LBA 1) was damaged and the backup header at
    /// the last sector was used. The hypervisor should warn; nothing was
    /// repaired (reading never writes).
    pub used_backup_header: bool,
    /// Why the header that was *not* used is unusable, if it is: the primary
    /// header's problem when [`used_backup_header`](Self::used_backup_header)
    /// is set, otherwise the backup header's problem (or `None` when both
    /// are intact and agree).
    pub other_header_problem: Option<crate::HeaderProblem>,
}

impl Layout {
    /// The partition of one kind.
    #[must_use]
    pub const fn partition(&self, kind: PartitionKind) -> Partition {
        match kind {
            PartitionKind::Meta => self.meta,
            PartitionKind::Personal => self.personal,
            PartitionKind::Work => self.work,
            PartitionKind::Shared => self.shared,
        }
    }

    /// All four partitions with their kinds, in layout order.
    #[must_use]
    pub const fn partitions(&self) -> [(PartitionKind, Partition); 4] {
        [(PartitionKind::Meta, self.meta), (PartitionKind::Personal, self.personal), (PartitionKind::Work, self.work), (PartitionKind::Shared, self.shared)]
    }

    /// Whether both GPT headers were intact and agreed.
    #[must_use]
    pub const fn headers_intact(&self) -> bool {
        !self.used_backup_header && self.other_header_problem.is_none()
    }
}
