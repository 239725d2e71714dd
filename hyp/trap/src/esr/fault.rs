//! Fault status codes (DFSC / IFSC) of instruction and data aborts.

use tock_registers::LocalRegisterCopy;

use super::fields::FAULT_STATUS_CODE;

/// Why an instruction or data abort happened: the decoded DFSC or IFSC field.
///
/// Arm ARM D17.2.37, "ISS encoding for an exception from a Data Abort", field
/// DFSC, bits \[5:0\] (the IFSC of an Instruction Abort uses the same codes).
/// Codes that name a lookup level carry it as `level` (0..=3). Codes this
/// hypervisor does not act on, including the FEAT_LPA2 level -1 codes and the
/// RAS parity / ECC codes, stay raw in [`FaultStatus::Other`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultStatus {
    /// Address size fault at the given lookup level (codes `0b0000LL`).
    AddressSize {
        /// Lookup level 0..=3.
        level: u8,
    },
    /// Translation fault at the given lookup level (codes `0b0001LL`): no
    /// valid descriptor maps the address.
    Translation {
        /// Lookup level 0..=3.
        level: u8,
    },
    /// Access flag fault at the given lookup level (codes `0b0010LL`).
    AccessFlag {
        /// Lookup level 0..=3.
        level: u8,
    },
    /// Permission fault at the given lookup level (codes `0b0011LL`).
    Permission {
        /// Lookup level 0..=3.
        level: u8,
    },
    /// Synchronous External abort, not on a translation table walk
    /// (code `0b010000`).
    SynchronousExternalAbort,
    /// Synchronous External abort on a translation table walk at the given
    /// lookup level (codes `0b0101LL`).
    SynchronousExternalAbortOnTableWalk {
        /// Lookup level 0..=3.
        level: u8,
    },
    /// Alignment fault (code `0b100001`).
    Alignment,
    /// TLB conflict abort (code `0b110000`).
    TlbConflict,
    /// Any other code, kept raw.
    Other {
        /// The 6-bit DFSC / IFSC value.
        code: u8,
    },
}

impl FaultStatus {
    /// Decodes a 6-bit DFSC / IFSC value. Bits above bit 5 are ignored.
    #[must_use]
    pub fn decode(code: u8) -> Self {
        let status = LocalRegisterCopy::<u8, FAULT_STATUS_CODE::Register>::new(code);
        let level = status.read(FAULT_STATUS_CODE::LEVEL);
        let code = status.read(FAULT_STATUS_CODE::CODE);
        if let Some(kind) = status.read_as_enum(FAULT_STATUS_CODE::KIND) {
            use FAULT_STATUS_CODE::KIND::Value as Kind;
            return match kind {
                Kind::AddressSize => Self::AddressSize { level },
                Kind::Translation => Self::Translation { level },
                Kind::AccessFlag => Self::AccessFlag { level },
                Kind::Permission => Self::Permission { level },
                Kind::SynchronousExternalAbortOnTableWalk => Self::SynchronousExternalAbortOnTableWalk { level },
            };
        }
        use FAULT_STATUS_CODE::CODE::Value as Code;
        match status.read_as_enum(FAULT_STATUS_CODE::CODE) {
            Some(Code::SynchronousExternalAbort) => Self::SynchronousExternalAbort,
            Some(Code::Alignment) => Self::Alignment,
            Some(Code::TlbConflict) => Self::TlbConflict,
            None => Self::Other { code },
        }
    }

    /// The lookup level the fault names, if its code carries one.
    #[must_use]
    pub fn level(&self) -> Option<u8> {
        match *self {
            Self::AddressSize { level }
            | Self::Translation { level }
            | Self::AccessFlag { level }
            | Self::Permission { level }
            | Self::SynchronousExternalAbortOnTableWalk { level } => Some(level),
            Self::SynchronousExternalAbort | Self::Alignment | Self::TlbConflict | Self::Other { .. } => None,
        }
    }
}
