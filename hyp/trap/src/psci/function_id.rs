//! Function identifiers of the PSCI and SMCCC calls this crate knows.
//!
//! Values from Arm DEN0022 (PSCI) chapter 5, "PSCI functions", and Arm
//! DEN0028 (SMCCC) chapter 7, "Arm Architecture Calls". An SMCCC function
//! identifier is a 32-bit value (DEN0028 chapter 2, "Function Identifier"):
//! bit 31 set for a fast call, bit 30 set for the SMC64 / HVC64 convention,
//! bits \[29:24\] the owning entity (0 = Arm architecture, 4 = standard secure
//! service, which PSCI belongs to). Calls PSCI defines in only one width have
//! a single constant.

/// `PSCI_VERSION` (DEN0022 chapter 5). SMC32 only.
pub const PSCI_VERSION: u32 = 0x8400_0000;
/// `CPU_SUSPEND`, SMC32 form (DEN0022 chapter 5).
pub const CPU_SUSPEND_32: u32 = 0x8400_0001;
/// `CPU_SUSPEND`, SMC64 form (DEN0022 chapter 5).
pub const CPU_SUSPEND_64: u32 = 0xC400_0001;
/// `CPU_OFF` (DEN0022 chapter 5). SMC32 only.
pub const CPU_OFF: u32 = 0x8400_0002;
/// `CPU_ON`, SMC32 form (DEN0022 chapter 5).
pub const CPU_ON_32: u32 = 0x8400_0003;
/// `CPU_ON`, SMC64 form (DEN0022 chapter 5).
pub const CPU_ON_64: u32 = 0xC400_0003;
/// `AFFINITY_INFO`, SMC32 form (DEN0022 chapter 5).
pub const AFFINITY_INFO_32: u32 = 0x8400_0004;
/// `AFFINITY_INFO`, SMC64 form (DEN0022 chapter 5).
pub const AFFINITY_INFO_64: u32 = 0xC400_0004;
/// `MIGRATE_INFO_TYPE` (DEN0022 chapter 5). SMC32 only.
pub const MIGRATE_INFO_TYPE: u32 = 0x8400_0006;
/// `SYSTEM_OFF` (DEN0022 chapter 5). SMC32 only.
pub const SYSTEM_OFF: u32 = 0x8400_0008;
/// `SYSTEM_RESET` (DEN0022 chapter 5). SMC32 only.
pub const SYSTEM_RESET: u32 = 0x8400_0009;
/// `PSCI_FEATURES` (DEN0022 chapter 5). SMC32 only.
pub const PSCI_FEATURES: u32 = 0x8400_000A;
/// `SMCCC_VERSION` (DEN0028 chapter 7). SMC32 only.
pub const SMCCC_VERSION: u32 = 0x8000_0000;
/// `SMCCC_ARCH_FEATURES` (DEN0028 chapter 7). SMC32 only.
pub const SMCCC_ARCH_FEATURES: u32 = 0x8000_0001;
