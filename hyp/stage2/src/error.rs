//! Everything that can go wrong while configuring or building a stage-2 table.

use core::fmt;

use janus_platform::{GuestPhysAddr, GuestPhysRange, PhysAddr, PhysRange};

/// Why a stage-2 operation was refused.
///
/// The mappings are unchanged after every error. Only the table-memory
/// errors ([`Stage2Error::OutOfTableMemory`],
/// [`Stage2Error::InvalidTablePage`], [`Stage2Error::TablePageConflict`]) can
/// leave a trace: intermediate tables allocated before the failure stay
/// linked in, empty (they translate nothing), and are reused by later
/// mappings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage2Error {
    /// A mapping of zero bytes was requested.
    ZeroSize {
        /// Requested guest physical start.
        ipa: GuestPhysAddr,
        /// Requested physical start.
        pa: PhysAddr,
    },
    /// An address or the size is not a multiple of 4 KiB.
    Misaligned {
        /// Requested guest physical start.
        ipa: GuestPhysAddr,
        /// Requested physical start.
        pa: PhysAddr,
        /// Requested size in bytes.
        size: u64,
    },
    /// `ipa + size` or `pa + size` does not fit in 64 bits.
    AddressOverflow {
        /// Requested guest physical start.
        ipa: GuestPhysAddr,
        /// Requested physical start.
        pa: PhysAddr,
        /// Requested size in bytes.
        size: u64,
    },
    /// The guest physical range reaches beyond the configured IPA size.
    IpaOutOfRange {
        /// The requested guest physical range.
        range: GuestPhysRange,
        /// One past the highest guest physical address the table covers.
        limit: u64,
    },
    /// The physical range reaches beyond the physical address size.
    PaOutOfRange {
        /// The requested physical range.
        range: PhysRange,
        /// One past the highest physical address the table can map.
        limit: u64,
    },
    /// Part of the guest physical range is already mapped: mappings are
    /// never silently overwritten.
    AlreadyMapped {
        /// The requested guest physical range.
        range: GuestPhysRange,
        /// The first already-mapped guest physical address found in it.
        conflict: GuestPhysAddr,
    },
    /// The [`crate::TableMemory`] had no page left for a translation table.
    OutOfTableMemory,
    /// The [`crate::TableMemory`] handed out a page that is not 4 KiB aligned
    /// or lies beyond the physical address size.
    InvalidTablePage {
        /// The page it handed out.
        page: PhysAddr,
    },
    /// The ID_AA64MMFR0_EL1.PARange value is reserved or unsupported.
    UnsupportedPaRange {
        /// The field value.
        parange: u8,
    },
    /// The physical range overlaps memory already mapped for another
    /// personality: no physical page is ever in two personalities' tables.
    PhysicalOwnedByOther {
        /// The personality that already has the memory mapped.
        owner: usize,
        /// The personality that asked for it.
        requested_by: usize,
        /// The requested physical range.
        requested: PhysRange,
        /// The range already mapped for `owner` that it overlaps.
        owned: PhysRange,
    },
    /// A translation table page would be reachable by a personality: either
    /// the requested physical range contains a table page, or the table
    /// memory handed out a page that a personality already has mapped.
    TablePageConflict {
        /// The table page.
        page: PhysAddr,
        /// The guest-mapped physical range containing it.
        range: PhysRange,
    },
    /// The personality index is not below the number of personalities.
    UnknownOwner {
        /// The index asked for.
        owner: usize,
        /// How many personalities the map holds.
        owners: usize,
    },
    /// The fixed-capacity list of owned physical ranges is full.
    RangeCapacityExceeded {
        /// How many ranges it holds.
        capacity: usize,
    },
}

impl fmt::Display for Stage2Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ZeroSize { ipa, pa } => {
                write!(f, "zero-sized stage-2 mapping of guest {ipa} to {pa}")
            }
            Self::Misaligned { ipa, pa, size } => {
                write!(f, "stage-2 mapping of guest {ipa} to {pa} size {size:#x} is not 4 KiB aligned")
            }
            Self::AddressOverflow { ipa, pa, size } => {
                write!(f, "stage-2 mapping of guest {ipa} to {pa} size {size:#x} overflows the address space")
            }
            Self::IpaOutOfRange { range, limit } => {
                write!(f, "guest range {range} reaches beyond the stage-2 input size {limit:#x}")
            }
            Self::PaOutOfRange { range, limit } => {
                write!(f, "physical range {range} reaches beyond the physical address size {limit:#x}")
            }
            Self::AlreadyMapped { range, conflict } => {
                write!(f, "guest range {range} overlaps an existing mapping at {conflict}")
            }
            Self::OutOfTableMemory => write!(f, "no page left for a stage-2 translation table"),
            Self::InvalidTablePage { page } => {
                write!(f, "table memory handed out {page}, not a usable 4 KiB table page")
            }
            Self::UnsupportedPaRange { parange } => {
                write!(f, "unsupported ID_AA64MMFR0_EL1.PARange value {parange:#x}")
            }
            Self::PhysicalOwnedByOther { owner, requested_by, requested, owned } => write!(
                f,
                "physical range {requested} for personality {requested_by} overlaps {owned}, \
                 already mapped for personality {owner}"
            ),
            Self::TablePageConflict { page, range } => {
                write!(f, "stage-2 table page {page} lies inside guest-mapped physical range {range}")
            }
            Self::UnknownOwner { owner, owners } => {
                write!(f, "personality {owner} does not exist (there are {owners})")
            }
            Self::RangeCapacityExceeded { capacity } => {
                write!(f, "all {capacity} owned-range slots are in use")
            }
        }
    }
}

impl core::error::Error for Stage2Error {}
