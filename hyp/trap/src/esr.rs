//! ESR_EL2 decoding: from a raw syndrome value to an [`Exception`].
//!
//! Follows the Arm ARM (DDI 0487), D17.2.37 "ESR_EL2, Exception Syndrome
//! Register (EL2)": the Exception Class (EC, bits \[31:26\]) selects how the
//! Instruction Specific Syndrome (ISS, bits \[24:0\]) is laid out. Decoding is
//! total: every 64-bit value maps to some [`Exception`], unknown classes to
//! [`Exception::Other`].

mod fault;
mod fields;
mod mmio;
mod system_register;
#[cfg(test)]
mod tests;

use tock_registers::LocalRegisterCopy;

pub use fault::FaultStatus;
pub use mmio::{AccessSize, MmioAccess};
pub use system_register::{SetWayOperation, SystemRegisterAccess};

use fields::{CALL_ISS, DATA_ABORT_ISS, ESR_EL2, INSTRUCTION_ABORT_ISS, WAIT_FOR_INTERRUPT_ISS};

/// A synchronous exception taken to EL2 from a guest, decoded from ESR_EL2
/// (Arm ARM D17.2.37, table "ESR_ELx.EC").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exception {
    /// EC 0x00: unknown reason, for example an undefined or trapped
    /// instruction with no more specific class.
    Unknown,
    /// EC 0x01: a trapped WFI or WFE (including WFIT / WFET), trapped by
    /// HCR_EL2.TWI / TWE.
    WaitForInterrupt {
        /// WFE or WFET rather than WFI or WFIT (ISS.TI bit 0).
        is_wfe: bool,
    },
    /// EC 0x07: access to SVE, Advanced SIMD or floating-point registers,
    /// trapped by CPTR_EL2.
    FloatingPointAccess,
    /// EC 0x16: HVC executed in AArch64 state.
    Hypercall {
        /// The `#imm16` operand of the HVC.
        immediate: u16,
    },
    /// EC 0x17: SMC executed in AArch64 state, trapped by HCR_EL2.TSC. Unlike
    /// HVC, the preferred return address is the SMC itself, so the handler
    /// skips it with [`instruction_length`].
    SecureMonitorCall {
        /// The `#imm16` operand of the SMC.
        immediate: u16,
    },
    /// EC 0x18: a trapped MSR, MRS or System instruction.
    SystemRegister(SystemRegisterAccess),
    /// EC 0x20: an Instruction Abort from a lower Exception level (a stage 2
    /// fault on an instruction fetch, when taken to EL2).
    InstructionAbort {
        /// Why the fetch faulted (IFSC).
        fault: FaultStatus,
        /// The fault happened on a stage 2 translation of a stage 1
        /// translation table walk (S1PTW).
        stage1_walk: bool,
    },
    /// EC 0x24: a Data Abort from a lower Exception level (a stage 2 fault on
    /// a data access, when taken to EL2). FAR_EL2 / HPFAR_EL2 hold the address.
    DataAbort {
        /// The single-register load or store that faulted, when the hardware
        /// describes it (ISV = 1). `None` means the access cannot be emulated
        /// from the syndrome alone.
        access: Option<MmioAccess>,
        /// The access was a write (WnR). Always set for faults on cache
        /// maintenance and address translation instructions.
        is_write: bool,
        /// Why the access faulted (DFSC).
        fault: FaultStatus,
        /// The fault happened on a stage 2 translation of a stage 1
        /// translation table walk (S1PTW).
        stage1_walk: bool,
        /// The abort came from a cache maintenance or address translation
        /// instruction (CM).
        cache_maintenance: bool,
    },
    /// Any other Exception Class, kept raw.
    Other {
        /// The 6-bit Exception Class.
        class: u8,
        /// The 25-bit Instruction Specific Syndrome.
        syndrome: u32,
    },
}

/// Decodes an ESR_EL2 value (Arm ARM D17.2.37).
///
/// Total: never panics, and any class this hypervisor does not handle becomes
/// [`Exception::Other`]. Instruction and Data Aborts taken from EL2 itself
/// (EC 0x21, 0x25) are deliberately [`Exception::Other`]: they are hypervisor
/// bugs, not guest accesses.
#[must_use]
pub fn decode(esr: u64) -> Exception {
    let register = LocalRegisterCopy::<u64, ESR_EL2::Register>::new(esr);
    use ESR_EL2::EC::Value as Class;
    match register.read_as_enum(ESR_EL2::EC) {
        Some(Class::Unknown) => Exception::Unknown,
        Some(Class::WaitForInterrupt) => decode_wait_for_interrupt(esr),
        Some(Class::FloatingPointAccess) => Exception::FloatingPointAccess,
        Some(Class::Hypercall64) => Exception::Hypercall { immediate: call_immediate(esr) },
        Some(Class::SecureMonitorCall64) => Exception::SecureMonitorCall { immediate: call_immediate(esr) },
        Some(Class::SystemRegister64) => Exception::SystemRegister(SystemRegisterAccess::decode(register)),
        Some(Class::InstructionAbortLowerLevel) => decode_instruction_abort(esr),
        Some(Class::DataAbortLowerLevel) => decode_data_abort(register),
        // EC is six bits wide and ISS 25 bits wide: both casts are lossless.
        None => Exception::Other { class: register.read(ESR_EL2::EC) as u8, syndrome: register.read(ESR_EL2::ISS) as u32 },
    }
}

/// Length in bytes of the instruction that trapped, from ESR_EL2.IL: 4 for a
/// 32-bit instruction, 2 for a 16-bit T32 one (Arm ARM D17.2.37, field IL).
///
/// The handler adds this to ELR_EL2 to skip an emulated instruction.
#[must_use]
pub fn instruction_length(esr: u64) -> u64 {
    let register = LocalRegisterCopy::<u64, ESR_EL2::Register>::new(esr);
    if register.matches_all(ESR_EL2::IL::ThirtyTwo) { 4 } else { 2 }
}

/// EC 0x01: WFI / WFE, told apart by bit 0 of TI.
fn decode_wait_for_interrupt(esr: u64) -> Exception {
    let syndrome = LocalRegisterCopy::<u64, WAIT_FOR_INTERRUPT_ISS::Register>::new(esr);
    use WAIT_FOR_INTERRUPT_ISS::TI::Value as Instruction;
    let is_wfe = matches!(syndrome.read_as_enum(WAIT_FOR_INTERRUPT_ISS::TI), Some(Instruction::WaitForEvent | Instruction::WaitForEventWithTimeout));
    Exception::WaitForInterrupt { is_wfe }
}

/// EC 0x16 / 0x17: the 16-bit immediate of an HVC or SMC.
fn call_immediate(esr: u64) -> u16 {
    let syndrome = LocalRegisterCopy::<u64, CALL_ISS::Register>::new(esr);
    // IMM16 is sixteen bits wide, so the cast is lossless.
    syndrome.read(CALL_ISS::IMM16) as u16
}

/// EC 0x20: Instruction Abort from a lower Exception level.
fn decode_instruction_abort(esr: u64) -> Exception {
    let syndrome = LocalRegisterCopy::<u64, INSTRUCTION_ABORT_ISS::Register>::new(esr);
    Exception::InstructionAbort {
        // IFSC is six bits wide, so the cast is lossless.
        fault: FaultStatus::decode(syndrome.read(INSTRUCTION_ABORT_ISS::IFSC) as u8),
        stage1_walk: syndrome.is_set(INSTRUCTION_ABORT_ISS::S1PTW),
    }
}

/// EC 0x24: Data Abort from a lower Exception level.
fn decode_data_abort(register: LocalRegisterCopy<u64, ESR_EL2::Register>) -> Exception {
    let syndrome = LocalRegisterCopy::<u64, DATA_ABORT_ISS::Register>::new(register.get());
    Exception::DataAbort {
        access: MmioAccess::decode(register),
        is_write: syndrome.is_set(DATA_ABORT_ISS::WNR),
        // DFSC is six bits wide, so the cast is lossless.
        fault: FaultStatus::decode(syndrome.read(DATA_ABORT_ISS::DFSC) as u8),
        stage1_walk: syndrome.is_set(DATA_ABORT_ISS::S1PTW),
        cache_maintenance: syndrome.is_set(DATA_ABORT_ISS::CM),
    }
}
