//! Trapped MSR / MRS / System instructions and the set/way cache operations.

use tock_registers::LocalRegisterCopy;

use super::fields::{ESR_EL2, SYSTEM_REGISTER_ISS};

/// A trapped MSR, MRS, SYS or SYSL instruction (Arm ARM D17.2.37, "ISS
/// encoding for an exception from MSR, MRS, or System instruction execution in
/// AArch64 state").
///
/// The five encoding fields name the register or System instruction the same
/// way the instruction encoding does (Arm ARM C5.3, "System instructions" /
/// "A64 System register encodings").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SystemRegisterAccess {
    /// Op0, 0..=3.
    pub op0: u8,
    /// Op1, 0..=7.
    pub op1: u8,
    /// CRn, 0..=15.
    pub crn: u8,
    /// CRm, 0..=15.
    pub crm: u8,
    /// Op2, 0..=7.
    pub op2: u8,
    /// General-purpose register transferred, 0..=31; 31 is XZR.
    pub rt: u8,
    /// MRS or SYSL (read into `rt`) rather than MSR or SYS (write from `rt`).
    pub is_read: bool,
}

/// A data cache maintenance operation by set/way, trapped by HCR_EL2.TSW
/// (Arm ARM D17.2, HCR_EL2.TSW; C5.3, the `DC ISW`, `DC CSW` and `DC CISW`
/// cache maintenance instructions).
///
/// Set/way operations only affect the local cache hierarchy, so a hypervisor
/// traps them and turns them into something meaningful for the guest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SetWayOperation {
    /// `DC ISW`: invalidate by set/way.
    Invalidate,
    /// `DC CSW`: clean by set/way.
    Clean,
    /// `DC CISW`: clean and invalidate by set/way.
    CleanInvalidate,
}

/// Encoding shared by the three set/way instructions: `SYS #0, C7, Cm, #2`.
const SET_WAY_OP0: u8 = 1;
const SET_WAY_OP1: u8 = 0;
const SET_WAY_CRN: u8 = 7;
const SET_WAY_OP2: u8 = 2;
/// CRm of `DC ISW`.
const CRM_INVALIDATE: u8 = 6;
/// CRm of `DC CSW`.
const CRM_CLEAN: u8 = 10;
/// CRm of `DC CISW`.
const CRM_CLEAN_INVALIDATE: u8 = 14;

impl SystemRegisterAccess {
    /// Decodes the ISS of an EC 0x18 exception.
    pub(super) fn decode(esr: LocalRegisterCopy<u64, ESR_EL2::Register>) -> Self {
        let syndrome = LocalRegisterCopy::<u64, SYSTEM_REGISTER_ISS::Register>::new(esr.get());
        // Every field below is at most five bits wide, so it fits in a u8.
        let field = |field| syndrome.read(field) as u8;
        Self {
            op0: field(SYSTEM_REGISTER_ISS::OP0),
            op1: field(SYSTEM_REGISTER_ISS::OP1),
            crn: field(SYSTEM_REGISTER_ISS::CRN),
            crm: field(SYSTEM_REGISTER_ISS::CRM),
            op2: field(SYSTEM_REGISTER_ISS::OP2),
            rt: field(SYSTEM_REGISTER_ISS::RT),
            is_read: syndrome.matches_all(SYSTEM_REGISTER_ISS::DIRECTION::Read),
        }
    }

    /// The set/way cache operation this instruction is, if any: `DC ISW`,
    /// `DC CSW` or `DC CISW` (op0 = 1, op1 = 0, CRn = 7, op2 = 2, CRm = 6 /
    /// 10 / 14, executed as SYS, so not a read).
    #[must_use]
    pub fn set_way_operation(&self) -> Option<SetWayOperation> {
        let is_set_way_group = self.op0 == SET_WAY_OP0 && self.op1 == SET_WAY_OP1 && self.crn == SET_WAY_CRN && self.op2 == SET_WAY_OP2 && !self.is_read;
        if !is_set_way_group {
            return None;
        }
        match self.crm {
            CRM_INVALIDATE => Some(SetWayOperation::Invalidate),
            CRM_CLEAN => Some(SetWayOperation::Clean),
            CRM_CLEAN_INVALIDATE => Some(SetWayOperation::CleanInvalidate),
            _ => None,
        }
    }
}
