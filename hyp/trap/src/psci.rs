//! PSCI 1.1 emulation for the vCPUs of one personality.
//!
//! A guest powers its vCPUs on and off, and the whole system off, through the
//! Power State Coordination Interface (Arm DEN0022, PSCI 1.1), called with HVC
//! or SMC under the SMC Calling Convention (Arm DEN0028, SMCCC 1.1). The kernel
//! passes `x0..x3` to [`decode`], asks [`emulate`] what to do, and carries out
//! the returned [`PsciAction`]. Nothing here touches hardware or state: the
//! power state of each vCPU comes from the [`PsciPersonality`] the kernel
//! implements, and every call a guest can make, valid or not, yields an action.

mod affinity;
pub mod function_id;
#[cfg(test)]
mod tests;

pub use affinity::{has_only_affinity_bits, vcpu_from_mpidr, virtual_mpidr};

/// The PSCI version this emulation implements: 1.1 (major in bits \[31:16\],
/// minor in bits \[15:0\]; DEN0022 chapter 5, PSCI_VERSION).
pub const PSCI_VERSION_1_1: u32 = 0x0001_0001;

/// The SMCCC version this emulation reports: 1.1 (DEN0028 chapter 7,
/// SMCCC_VERSION).
pub const SMCCC_VERSION_1_1: u32 = 0x0001_0001;

/// MIGRATE_INFO_TYPE result: "Trusted OS is either not present or does not
/// require migration" (DEN0022 chapter 5, MIGRATE_INFO_TYPE).
pub const MIGRATE_INFO_TYPE_NOT_REQUIRED: u64 = 2;

/// A PSCI or SMCCC architecture call, decoded from `x0..x3`.
///
/// Arguments of SMC32 calls are the low 32 bits of `x1..x3` (DEN0028 chapter
/// 2: the upper halves are ignored); arguments of SMC64 calls are the full
/// registers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PsciCall {
    /// `PSCI_VERSION`.
    Version,
    /// `CPU_SUSPEND` (SMC32 or SMC64); the arguments are not decoded because
    /// it is not supported.
    CpuSuspend,
    /// `CPU_OFF`.
    CpuOff,
    /// `CPU_ON` (SMC32 or SMC64).
    CpuOn {
        /// MPIDR affinity of the vCPU to start.
        target: u64,
        /// Guest physical address it starts executing at.
        entry: u64,
        /// Value it finds in `x0`.
        context: u64,
    },
    /// `AFFINITY_INFO` (SMC32 or SMC64).
    AffinityInfo {
        /// MPIDR affinity of the vCPU asked about.
        target: u64,
        /// Lowest affinity level the answer must cover; only 0 is supported,
        /// higher levels give `INVALID_PARAMETERS`.
        lowest_level: u64,
    },
    /// `MIGRATE_INFO_TYPE`.
    MigrateInfoType,
    /// `SYSTEM_OFF`.
    SystemOff,
    /// `SYSTEM_RESET`.
    SystemReset,
    /// `PSCI_FEATURES`.
    Features {
        /// The function identifier asked about.
        function_id: u32,
    },
    /// `SMCCC_VERSION`.
    SmcccVersion,
    /// `SMCCC_ARCH_FEATURES`.
    SmcccArchFeatures {
        /// The function identifier asked about.
        function_id: u32,
    },
    /// Any other value of `x0`, including known identifiers with bits set in
    /// `x0[63:32]`, and the SMC64 form of calls PSCI only defines as SMC32.
    Unknown {
        /// The whole `x0`.
        function_id: u64,
    },
}

/// Decodes a PSCI / SMCCC call from the caller's `x0` (function identifier)
/// and `x1..x3` (arguments).
///
/// Total: any register values give a [`PsciCall`]. A function identifier with
/// any of bits \[63:32\] set is [`PsciCall::Unknown`], stricter than
/// implementations that only look at `w0`.
#[must_use]
pub fn decode(function_id: u64, arg1: u64, arg2: u64, arg3: u64) -> PsciCall {
    let Ok(id) = u32::try_from(function_id) else {
        return PsciCall::Unknown { function_id };
    };
    let low = |argument: u64| u64::from(low_half(argument));
    match id {
        function_id::PSCI_VERSION => PsciCall::Version,
        function_id::CPU_SUSPEND_32 | function_id::CPU_SUSPEND_64 => PsciCall::CpuSuspend,
        function_id::CPU_OFF => PsciCall::CpuOff,
        function_id::CPU_ON_32 => PsciCall::CpuOn { target: low(arg1), entry: low(arg2), context: low(arg3) },
        function_id::CPU_ON_64 => PsciCall::CpuOn { target: arg1, entry: arg2, context: arg3 },
        function_id::AFFINITY_INFO_32 => PsciCall::AffinityInfo { target: low(arg1), lowest_level: low(arg2) },
        function_id::AFFINITY_INFO_64 => PsciCall::AffinityInfo { target: arg1, lowest_level: arg2 },
        function_id::MIGRATE_INFO_TYPE => PsciCall::MigrateInfoType,
        function_id::SYSTEM_OFF => PsciCall::SystemOff,
        function_id::SYSTEM_RESET => PsciCall::SystemReset,
        function_id::PSCI_FEATURES => PsciCall::Features { function_id: low_half(arg1) },
        function_id::SMCCC_VERSION => PsciCall::SmcccVersion,
        function_id::SMCCC_ARCH_FEATURES => PsciCall::SmcccArchFeatures { function_id: low_half(arg1) },
        _ => PsciCall::Unknown { function_id },
    }
}

/// Bits \[31:0\] of a register, the whole of an SMC32 argument.
fn low_half(register: u64) -> u32 {
    // Truncation is the point: SMC32 ignores bits [63:32].
    register as u32
}

/// PSCI return codes (DEN0022 chapter 5, "Return error codes").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(i32)]
pub enum PsciReturn {
    /// The call succeeded.
    Success = 0,
    /// The function is not implemented.
    NotSupported = -1,
    /// An argument is not valid.
    InvalidParameters = -2,
    /// The operation is not allowed.
    Denied = -3,
    /// CPU_ON: the target is already on.
    AlreadyOn = -4,
    /// CPU_ON: a previous CPU_ON of the target is still in progress.
    OnPending = -5,
    /// The implementation failed internally.
    InternalFailure = -6,
    /// The target is not present.
    NotPresent = -7,
    /// The target is disabled.
    Disabled = -8,
    /// CPU_ON / CPU_SUSPEND: the entry point address is not valid.
    InvalidAddress = -9,
}

impl PsciReturn {
    /// The code as the caller sees it in `x0`: the 32-bit signed value
    /// sign-extended to 64 bits (DEN0028: return values are signed integers
    /// in the register width of the call; `w0` of this value is the SMC32
    /// result).
    #[must_use]
    pub fn as_register(self) -> u64 {
        i64::from(self as i32).cast_unsigned()
    }
}

/// Power state of a vCPU, as PSCI describes it (DEN0022 chapter 5,
/// AFFINITY_INFO and CPU_ON).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VcpuPowerState {
    /// Not running and not being started: CPU_ON may start it.
    Off,
    /// A CPU_ON has been accepted and the vCPU has not started yet.
    OnPending,
    /// Running, or suspended in WFI.
    On,
}

/// The personality a PSCI call is made in, as far as PSCI needs to know it.
pub trait PsciPersonality {
    /// Number of vCPUs of the personality; they are numbered `0..vcpu_count`.
    fn vcpu_count(&self) -> usize;

    /// Current power state of vCPU `vcpu`. [`emulate`] only asks about
    /// indices below [`PsciPersonality::vcpu_count`].
    fn power_state(&self, vcpu: usize) -> VcpuPowerState;

    /// Whether `address` may be a vCPU entry point: a guest physical address
    /// inside the personality's RAM.
    fn is_valid_entry(&self, address: u64) -> bool;
}

/// What the hypervisor does to complete a PSCI call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PsciAction {
    /// Write the value to the caller's `x0` and resume the caller.
    Return(u64),
    /// Start `vcpu` at `entry` with `x0 = context` (DEN0022 chapter 5,
    /// CPU_ON), then write [`PsciReturn::Success`] to the
    /// caller's `x0` and resume it. The target should be marked
    /// [`VcpuPowerState::OnPending`] until it runs.
    StartVcpu {
        /// Index of the vCPU to start.
        vcpu: usize,
        /// Entry point, already checked with
        /// [`PsciPersonality::is_valid_entry`].
        entry: u64,
        /// Value for the started vCPU's `x0`.
        context: u64,
    },
    /// CPU_OFF: power the caller down. The call never returns to it; a later
    /// CPU_ON starts it again at a new entry point.
    StopCaller,
    /// SYSTEM_OFF: stop the whole personality for good.
    SystemOff,
    /// SYSTEM_RESET: restart the whole personality from its boot state.
    SystemReset,
}

/// Decides what vCPU `caller` of `personality` gets for `call` (DEN0022
/// chapter 5 for each function, DEN0028 chapter 7 for the SMCCC calls).
///
/// - `PSCI_VERSION`: 1.1.
/// - `CPU_SUSPEND`: `NOT_SUPPORTED`. DEN0022 lists it as mandatory, but a
///   vCPU pinned to its own core gains nothing from it over WFI, and guests
///   only use it when their firmware tables describe idle states, which
///   Janus does not provide. `PSCI_FEATURES` reports it as not supported too.
/// - `CPU_OFF`: [`PsciAction::StopCaller`].
/// - `CPU_ON`: `INVALID_PARAMETERS` for a target that is not a vCPU of the
///   personality (or has bits outside the affinity fields),
///   `INVALID_ADDRESS` for an entry point outside its RAM, `ALREADY_ON` /
///   `ON_PENDING` for a target that is not off, else
///   [`PsciAction::StartVcpu`].
/// - `AFFINITY_INFO`: `INVALID_PARAMETERS` unless `lowest_level` is 0 and the
///   target is a vCPU of the personality; else 0 (on), 1 (off) or
///   2 (on pending).
/// - `MIGRATE_INFO_TYPE`: 2, no Trusted OS needs migrating.
/// - `SYSTEM_OFF` / `SYSTEM_RESET`: the matching action.
/// - `PSCI_FEATURES`: 0 for the functions implemented here (both widths),
///   `NOT_SUPPORTED` for anything else.
/// - `SMCCC_VERSION`: 1.1. `SMCCC_ARCH_FEATURES`: `NOT_SUPPORTED` for every
///   function (no workaround calls are offered).
/// - Anything else: `NOT_SUPPORTED`.
///
/// The caller itself is always treated as on, whatever
/// [`PsciPersonality::power_state`] says, since it is running this call.
#[must_use]
pub fn emulate(call: PsciCall, caller: usize, personality: &impl PsciPersonality) -> PsciAction {
    match call {
        PsciCall::Version => PsciAction::Return(u64::from(PSCI_VERSION_1_1)),
        PsciCall::CpuSuspend | PsciCall::SmcccArchFeatures { .. } | PsciCall::Unknown { .. } => return_code(PsciReturn::NotSupported),
        PsciCall::CpuOff => PsciAction::StopCaller,
        PsciCall::CpuOn { target, entry, context } => cpu_on(target, entry, context, caller, personality),
        PsciCall::AffinityInfo { target, lowest_level } => affinity_info(target, lowest_level, caller, personality),
        PsciCall::MigrateInfoType => PsciAction::Return(MIGRATE_INFO_TYPE_NOT_REQUIRED),
        PsciCall::SystemOff => PsciAction::SystemOff,
        PsciCall::SystemReset => PsciAction::SystemReset,
        PsciCall::Features { function_id } => {
            if is_implemented(function_id) {
                return_code(PsciReturn::Success)
            } else {
                return_code(PsciReturn::NotSupported)
            }
        }
        PsciCall::SmcccVersion => PsciAction::Return(u64::from(SMCCC_VERSION_1_1)),
    }
}

/// `CPU_ON`, checks in the order the [`emulate`] documentation lists them.
fn cpu_on(target: u64, entry: u64, context: u64, caller: usize, personality: &impl PsciPersonality) -> PsciAction {
    let Some(vcpu) = target_vcpu(target, personality) else {
        return return_code(PsciReturn::InvalidParameters);
    };
    if !personality.is_valid_entry(entry) {
        return return_code(PsciReturn::InvalidAddress);
    }
    match power_state(vcpu, caller, personality) {
        VcpuPowerState::On => return_code(PsciReturn::AlreadyOn),
        VcpuPowerState::OnPending => return_code(PsciReturn::OnPending),
        VcpuPowerState::Off => PsciAction::StartVcpu { vcpu, entry, context },
    }
}

/// `AFFINITY_INFO` results (DEN0022 chapter 5, AFFINITY_INFO).
const AFFINITY_INFO_ON: u64 = 0;
const AFFINITY_INFO_OFF: u64 = 1;
const AFFINITY_INFO_ON_PENDING: u64 = 2;

/// `AFFINITY_INFO` at affinity level 0, the only level a single-cluster
/// virtual topology needs.
fn affinity_info(target: u64, lowest_level: u64, caller: usize, personality: &impl PsciPersonality) -> PsciAction {
    if lowest_level != 0 {
        return return_code(PsciReturn::InvalidParameters);
    }
    let Some(vcpu) = target_vcpu(target, personality) else {
        return return_code(PsciReturn::InvalidParameters);
    };
    PsciAction::Return(match power_state(vcpu, caller, personality) {
        VcpuPowerState::On => AFFINITY_INFO_ON,
        VcpuPowerState::Off => AFFINITY_INFO_OFF,
        VcpuPowerState::OnPending => AFFINITY_INFO_ON_PENDING,
    })
}

/// The vCPU a `target_cpu` argument names, if it is well formed and exists.
fn target_vcpu(target: u64, personality: &impl PsciPersonality) -> Option<usize> {
    if !has_only_affinity_bits(target) {
        return None;
    }
    vcpu_from_mpidr(target, personality.vcpu_count())
}

/// Power state of `vcpu`; the caller is running, so it is on.
fn power_state(vcpu: usize, caller: usize, personality: &impl PsciPersonality) -> VcpuPowerState {
    if vcpu == caller { VcpuPowerState::On } else { personality.power_state(vcpu) }
}

/// Whether [`emulate`] implements the function `function_id`, for
/// `PSCI_FEATURES`.
fn is_implemented(function_id: u32) -> bool {
    matches!(
        decode(u64::from(function_id), 0, 0, 0),
        PsciCall::Version
            | PsciCall::CpuOff
            | PsciCall::CpuOn { .. }
            | PsciCall::AffinityInfo { .. }
            | PsciCall::MigrateInfoType
            | PsciCall::SystemOff
            | PsciCall::SystemReset
            | PsciCall::Features { .. }
            | PsciCall::SmcccVersion
    )
}

/// A [`PsciAction::Return`] of a return code.
fn return_code(code: PsciReturn) -> PsciAction {
    PsciAction::Return(code.as_register())
}
