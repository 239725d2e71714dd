//! Why an image could not be created, checked, read or written: [`ImageError`], displayed as `problem. Fix: ...`.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use crate::error::LayoutError;
use crate::layout::{MIB, Partition, PartitionKind, SECTOR_SIZE};

/// Why an image could not be created, checked, read or written. Displays as
/// `problem. Fix: ...`.
#[derive(Debug)]
pub enum ImageError {
    /// The image does not exist.
    Missing {
        /// The image path.
        path: PathBuf,
    },
    /// The file to create already exists (it is never overwritten).
    Exists {
        /// The existing path.
        path: PathBuf,
    },
    /// The file is smaller than the smallest Janus disk.
    TooSmall {
        /// The image path.
        path: PathBuf,
        /// Its size.
        bytes: u64,
        /// The smallest Janus disk in bytes.
        minimum: u64,
    },
    /// The file size is not a whole number of sectors.
    PartialSector {
        /// The image path.
        path: PathBuf,
        /// Its size.
        bytes: u64,
    },
    /// The file holds no partition table or somebody else's.
    Foreign {
        /// The image path.
        path: PathBuf,
        /// What was found.
        problem: LayoutError,
    },
    /// The file has a Janus partition table that is damaged or was edited
    /// into something Janus cannot use.
    Damaged {
        /// The image path.
        path: PathBuf,
        /// What is wrong.
        problem: LayoutError,
    },
    /// A requested partition size is unusable.
    BadSize {
        /// Which partition.
        kind: PartitionKind,
        /// The requested size.
        bytes: u64,
        /// The kind's minimum.
        minimum: u64,
    },
    /// The partition passed to a write is not one of the image's partitions.
    NotAPartition {
        /// The image path.
        path: PathBuf,
        /// The partition passed.
        partition: Partition,
    },
    /// A byte range does not fit inside the partition.
    RangeOutsidePartition {
        /// The range's offset inside the partition.
        offset: u64,
        /// The range's length.
        length: u64,
        /// The partition's length in bytes.
        partition_bytes: u64,
    },
    /// The partition does not fit inside the image file.
    PartitionOutsideImage {
        /// The image path.
        path: PathBuf,
        /// The partition.
        partition: Partition,
        /// The image size.
        image_bytes: u64,
    },
    /// An I/O error on a file.
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        error: io::Error,
    },
}

impl ImageError {
    pub(crate) fn io(path: &Path, error: io::Error) -> Self {
        Self::Io { path: path.to_path_buf(), error }
    }
}

impl fmt::Display for ImageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Missing { path } => write!(
                f,
                "{} does not exist. Fix: create it with xtask (it makes a fresh Janus disk) or point JANUS_DISK \
                 at a Janus disk",
                path.display()
            ),
            Self::Exists { path } => write!(
                f,
                "{} already exists and will not be overwritten. Fix: use it as it is, or move it away to get a \
                 fresh disk",
                path.display()
            ),
            Self::TooSmall { path, bytes, minimum } => write!(
                f,
                "{} is {bytes} bytes, smaller than the smallest Janus disk ({minimum} bytes); it is not a Janus \
                 disk and will not be touched. Fix: move it away (Janus creates a fresh one) or point JANUS_DISK \
                 at a Janus disk",
                path.display()
            ),
            Self::PartialSector { path, bytes } => write!(
                f,
                "{} is {bytes} bytes, not a whole number of {SECTOR_SIZE}-byte sectors; it is not a Janus disk \
                 and will not be touched. Fix: move it away (Janus creates a fresh one) or point JANUS_DISK at a \
                 Janus disk",
                path.display()
            ),
            Self::Foreign { path, problem } => write!(
                f,
                "{} has {problem}; it is not a Janus disk and will not be touched. Fix: move it away (Janus \
                 creates a fresh one) or point JANUS_DISK at a Janus disk",
                path.display()
            ),
            Self::Damaged { path, problem } => write!(
                f,
                "{} is a damaged Janus disk: {problem}; it will not be touched. Fix: copy out what you need \
                 (sgdisk -p shows the table), then move it away (Janus creates a fresh one)",
                path.display()
            ),
            Self::BadSize { kind, bytes, minimum } => write!(
                f,
                "the partition \"{kind}\" cannot be {bytes} bytes. Fix: use a multiple of 1 MiB, at least \
                 {minimum} bytes ({} MiB)",
                minimum / MIB
            ),
            Self::NotAPartition { path, partition } => write!(
                f,
                "sectors {}+{} are not a partition of {}. Fix: pass a partition from check_image's Layout",
                partition.first_lba,
                partition.sectors,
                path.display()
            ),
            Self::RangeOutsidePartition { offset, length, partition_bytes } => write!(
                f,
                "{length} bytes at offset {offset} do not fit in a {partition_bytes}-byte partition. Fix: keep \
                 offset + length within the partition"
            ),
            Self::PartitionOutsideImage { path, partition, image_bytes } => write!(
                f,
                "sectors {}+{} do not fit in {} ({image_bytes} bytes). Fix: pass a partition from this image's \
                 Layout (check_image)",
                partition.first_lba,
                partition.sectors,
                path.display()
            ),
            Self::Io { path, error } => write!(f, "{}: {error}. Fix: check the path, its permissions and the free space", path.display()),
        }
    }
}

impl std::error::Error for ImageError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io { error, .. } => Some(error),
            Self::Foreign { problem, .. } | Self::Damaged { problem, .. } => Some(problem),
            _ => None,
        }
    }
}
