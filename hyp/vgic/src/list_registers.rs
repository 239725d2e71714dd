//! List register contents and their GICv3 / GICv2 encodings.
//!
//! A list register presents one virtual interrupt to the guest's virtual CPU
//! interface, which acknowledges and completes it without trapping. The
//! layouts are `ICH_LR<n>_EL2` (IHI 0069H chapter 12) and `GICH_LR<n>` (IHI
//! 0048B §5.3.8).

use tock_registers::LocalRegisterCopy;

use crate::fields::{GICH_LR, ICH_LR};

/// The state field of a list register.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LrState {
    /// The entry holds no interrupt.
    #[default]
    Invalid,
    /// The interrupt is pending: the guest has not acknowledged it.
    Pending,
    /// The guest acknowledged the interrupt and has not deactivated it.
    Active,
    /// Active, and pending again.
    PendingActive,
}

impl LrState {
    /// The state with the given pending and active bits.
    #[must_use]
    pub fn from_bits(pending: bool, active: bool) -> Self {
        match (pending, active) {
            (false, false) => Self::Invalid,
            (true, false) => Self::Pending,
            (false, true) => Self::Active,
            (true, true) => Self::PendingActive,
        }
    }

    /// Whether the pending bit is set (Pending or PendingActive).
    #[must_use]
    pub fn is_pending(self) -> bool {
        matches!(self, Self::Pending | Self::PendingActive)
    }

    /// Whether the active bit is set (Active or PendingActive).
    #[must_use]
    pub fn is_active(self) -> bool {
        matches!(self, Self::Active | Self::PendingActive)
    }

    /// The two-bit encoding shared by `ICH_LR<n>_EL2`.State and GICH_LR.State.
    fn bits(self) -> u8 {
        match self {
            Self::Invalid => 0b00,
            Self::Pending => 0b01,
            Self::Active => 0b10,
            Self::PendingActive => 0b11,
        }
    }

    /// Decodes the two-bit state field; higher bits are ignored.
    fn from_field(bits: u64) -> Self {
        Self::from_bits(bits & 0b01 != 0, bits & 0b10 != 0)
    }
}

/// The content of one list register, independent of the GIC version.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ListRegister {
    /// State of the virtual interrupt.
    pub state: LrState,
    /// Virtual INTID.
    pub intid: u32,
    /// Priority; GICv2 keeps only the upper five bits.
    pub priority: u8,
    /// Group 1 (signalled as a virtual IRQ under ICC_IGRPEN1_EL1) rather than
    /// Group 0.
    pub group1: bool,
    /// The physical INTID whose active state the guest's deactivation also
    /// clears (HW = 1), or `None` for a purely virtual interrupt.
    pub hardware: Option<u32>,
}

impl ListRegister {
    /// An empty entry (state Invalid, every field zero).
    pub const INVALID: Self = Self { state: LrState::Invalid, intid: 0, priority: 0, group1: false, hardware: None };
}

/// The list registers of the *current* core, as the hypervisor exposes them:
/// `ICH_LR<n>_EL2` for GICv3, `GICH_LR<n>` for GICv2. Tests use a fake.
pub trait ListRegisters {
    /// Number of implemented list registers (ICH_VTR_EL2.ListRegs + 1, or
    /// GICH_VTR.ListRegs + 1).
    fn count(&self) -> usize;
    /// Reads list register `index` (below [`ListRegisters::count`]).
    fn read(&self, index: usize) -> ListRegister;
    /// Writes list register `index` (below [`ListRegisters::count`]).
    fn write(&mut self, index: usize, value: ListRegister);
}

/// Encodes `value` as an `ICH_LR<n>_EL2` value (IHI 0069H chapter 12,
/// `ICH_LR<n>_EL2`): vINTID \[31:0\], pINTID \[44:32\] (only with HW = 1),
/// Priority \[55:48\], Group \[60\], HW \[61\], State \[63:62\].
///
/// A physical INTID wider than 13 bits keeps its low 13 bits; EOI (bit 41)
/// is never set.
#[must_use]
pub fn encode_v3(value: &ListRegister) -> u64 {
    let physical = value.hardware.unwrap_or(0);
    let fields = ICH_LR::VINTID.val(u64::from(value.intid))
        + ICH_LR::PINTID.val(u64::from(physical))
        + ICH_LR::PRIORITY.val(u64::from(value.priority))
        + ICH_LR::GROUP.val(u64::from(value.group1))
        + ICH_LR::HW.val(u64::from(value.hardware.is_some()))
        + ICH_LR::STATE.val(u64::from(value.state.bits()));
    fields.value
}

/// Decodes an `ICH_LR<n>_EL2` value. Total: reserved bits are ignored, and the
/// pINTID field is only reported when HW = 1.
#[must_use]
pub fn decode_v3(raw: u64) -> ListRegister {
    let register = LocalRegisterCopy::<u64, ICH_LR::Register>::new(raw);
    let hardware = register.is_set(ICH_LR::HW);
    ListRegister {
        state: LrState::from_field(register.read(ICH_LR::STATE)),
        // VINTID is 32 bits wide and PINTID 13, PRIORITY 8: lossless.
        intid: register.read(ICH_LR::VINTID) as u32,
        priority: register.read(ICH_LR::PRIORITY) as u8,
        group1: register.is_set(ICH_LR::GROUP),
        hardware: hardware.then(|| register.read(ICH_LR::PINTID) as u32),
    }
}

/// Encodes `value` as a `GICH_LR<n>` value (IHI 0048B §5.3.8): VirtualID
/// \[9:0\], PhysicalID \[19:10\] (only with HW = 1), Priority \[27:23\] (the
/// upper five bits of [`ListRegister::priority`]), State \[29:28\], Grp1
/// \[30\], HW \[31\].
///
/// INTIDs wider than 10 bits keep their low 10 bits. With HW = 0 the
/// PhysicalID field is zero: no EOI maintenance request, CPUID 0 for SGIs.
#[must_use]
pub fn encode_v2(value: &ListRegister) -> u32 {
    let physical = value.hardware.unwrap_or(0);
    let fields = GICH_LR::VIRTUAL_ID.val(value.intid)
        + GICH_LR::PHYSICAL_ID.val(physical)
        + GICH_LR::PRIORITY.val(u32::from(value.priority >> PRIORITY_DROPPED_BITS))
        + GICH_LR::STATE.val(u32::from(value.state.bits()))
        + GICH_LR::GROUP1.val(u32::from(value.group1))
        + GICH_LR::HW.val(u32::from(value.hardware.is_some()));
    fields.value
}

/// Decodes a `GICH_LR<n>` value. Total: the priority comes back with its low
/// three bits zero, and PhysicalID is only reported when HW = 1.
#[must_use]
pub fn decode_v2(raw: u32) -> ListRegister {
    let register = LocalRegisterCopy::<u32, GICH_LR::Register>::new(raw);
    let hardware = register.is_set(GICH_LR::HW);
    ListRegister {
        state: LrState::from_field(u64::from(register.read(GICH_LR::STATE))),
        intid: register.read(GICH_LR::VIRTUAL_ID),
        // PRIORITY is five bits wide: shifted back it fits in a byte.
        priority: (register.read(GICH_LR::PRIORITY) << PRIORITY_DROPPED_BITS) as u8,
        group1: register.is_set(GICH_LR::GROUP1),
        hardware: hardware.then(|| register.read(GICH_LR::PHYSICAL_ID)),
    }
}

/// Number of low priority bits GICH_LR does not hold (and this model does not
/// implement: priorities have five significant bits).
const PRIORITY_DROPPED_BITS: u32 = 3;
