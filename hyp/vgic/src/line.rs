//! Interrupt lines: where each interrupt's state lives in the tables.
//!
//! Every interrupt is a *line*: SGIs and PPIs have one line per vCPU (they are
//! banked), SPIs one line each. Per-line flags are bit sets over all lines,
//! so finding deliverable interrupts takes a few word operations.

use crate::{FIRST_SPI, MAX_SPIS, MAX_VCPUS, PRIVATE_INTERRUPTS, SPI_LIMIT};

/// Lines of private interrupts: 32 per vCPU, vCPU `v` at `32 * v`.
pub(crate) const PRIVATE_LINES: usize = MAX_VCPUS * PRIVATE_INTERRUPTS as usize;
/// All lines: the private ones, then the SPIs.
pub(crate) const LINES: usize = PRIVATE_LINES + MAX_SPIS;
/// Words of a bit set over all lines.
pub(crate) const WORDS: usize = LINES / 32;
/// Words of a bit set over the SPIs.
pub(crate) const SPI_WORDS: usize = MAX_SPIS / 32;
/// Index of the first SPI word in a bit set over all lines.
pub(crate) const FIRST_SPI_WORD: usize = PRIVATE_LINES / 32;

/// One per-line flag.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Flag {
    /// Forwarding enabled (ISENABLER / ICENABLER).
    Enabled,
    /// Pending, not in a list register.
    Pending,
    /// Active, not in a list register.
    Active,
    /// Clear the pending state held in the list register at the next flush.
    CancelPending,
    /// Clear the active state held in the list register at the next flush.
    CancelActive,
    /// Edge-triggered (ICFGR Int_config\[1\] = 1) rather than level-sensitive.
    Edge,
    /// The physical line behind the interrupt is active on behalf of the
    /// guest, waiting for a list register with HW = 1 to deactivate it.
    PhysicalActive,
    /// The physical line fired again after the hardware instance in the list
    /// register completed, before the completion was synchronized.
    PhysicalRefired,
    /// The interrupt sits in a list register (see `list_register` and
    /// `resident_vcpu`).
    Resident,
    /// The shadow of the list register holding the interrupt says pending:
    /// kept by `VirtualGic::set_shadow` so that a whole register word of
    /// pending state is a few word operations.
    ListedPending,
    /// The shadow of the list register holding the interrupt says active
    /// (kept like [`Flag::ListedPending`]).
    ListedActive,
}

pub(crate) const FLAG_COUNT: usize = 11;

impl Flag {
    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

/// A line, identified by its index in the tables.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Slot {
    line: usize,
}

impl Slot {
    /// The line of private interrupt `intid` (below 32) of `vcpu` (below
    /// [`MAX_VCPUS`]); callers check both bounds.
    pub(crate) fn private(vcpu: usize, intid: u32) -> Self {
        Self { line: vcpu * PRIVATE_INTERRUPTS as usize + intid as usize }
    }

    /// The line of SPI number `index` (INTID `32 + index`, below
    /// [`MAX_SPIS`]); callers check the bound.
    pub(crate) fn shared(index: usize) -> Self {
        Self { line: PRIVATE_LINES + index }
    }

    /// The line's index in the tables.
    pub(crate) fn line(self) -> usize {
        self.line
    }

    /// The virtual INTID.
    pub(crate) fn intid(self) -> u32 {
        // Lines are below LINES (480): the casts are lossless.
        match self.spi_index() {
            Some(index) => FIRST_SPI + index as u32,
            None => (self.line % PRIVATE_INTERRUPTS as usize) as u32,
        }
    }

    /// The vCPU a private interrupt belongs to, `None` for an SPI.
    pub(crate) fn private_vcpu(self) -> Option<usize> {
        (self.line < PRIVATE_LINES).then(|| self.line / PRIVATE_INTERRUPTS as usize)
    }

    /// The SPI number (INTID - 32), `None` for a private interrupt.
    pub(crate) fn spi_index(self) -> Option<usize> {
        self.line.checked_sub(PRIVATE_LINES)
    }

    /// The line of the word-`word`, bit-`bit` entry of a bit set over all lines.
    pub(crate) fn from_bit(word: usize, bit: usize) -> Self {
        Self { line: word * 32 + bit }
    }
}

/// SPI number of `intid`, if it is an emulated SPI.
pub(crate) fn spi_index(intid: u32) -> Option<usize> {
    if (FIRST_SPI..SPI_LIMIT).contains(&intid) { usize::try_from(intid - FIRST_SPI).ok() } else { None }
}
