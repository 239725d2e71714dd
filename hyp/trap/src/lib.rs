//! Exception syndrome decoding and PSCI emulation, pure and host-testable.
//!
//! Everything in this crate is a function from register values to enums: it
//! touches no hardware, so the kernel reads `ESR_EL2` and the guest's `x0..x3`
//! and hands the raw values here. Every input is treated as hostile: decoding
//! is total and nothing a guest can put in a register makes it panic.
//!
//! - [`esr`] turns an `ESR_EL2` value into an [`esr::Exception`] (Arm ARM
//!   D17.2.37, ESR_EL2).
//! - [`psci`] decodes a PSCI / SMCCC call and decides what the hypervisor does
//!   about it for one personality (Arm DEN0022 PSCI 1.1, Arm DEN0028 SMCCC).
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

pub mod esr;
pub mod psci;
