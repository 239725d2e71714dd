//! The virtual MPIDR a guest sees for each of its vCPUs, and the way back.
//!
//! vCPU `i` of a personality is presented as MPIDR Aff0 = `i`, Aff1..3 = 0,
//! whatever physical core it is pinned to: the guest sees a single cluster of
//! consecutive cores numbered from 0. The layout is that of MPIDR_EL1 (Arm ARM
//! D17.2, MPIDR_EL1; VMPIDR_EL2 holds the value a guest reads).

use tock_registers::{LocalRegisterCopy, register_bitfields};

register_bitfields![u64,
    /// MPIDR_EL1 / VMPIDR_EL2 layout (Arm ARM D17.2, MPIDR_EL1).
    MPIDR [
        /// Affinity level 3.
        AFF3 OFFSET(32) NUMBITS(8) [],
        /// RES1.
        RES1 OFFSET(31) NUMBITS(1) [],
        /// Uniprocessor system.
        U OFFSET(30) NUMBITS(1) [],
        /// Multithreading: the lowest affinity level is a hardware thread.
        MT OFFSET(24) NUMBITS(1) [],
        /// Affinity level 2.
        AFF2 OFFSET(16) NUMBITS(8) [],
        /// Affinity level 1.
        AFF1 OFFSET(8) NUMBITS(8) [],
        /// Affinity level 0.
        AFF0 OFFSET(0) NUMBITS(8) []
    ]
];

/// Bits of an affinity value: Aff3, Aff2, Aff1, Aff0 (`0xff_00ff_ffff`).
fn affinity_bits() -> u64 {
    (MPIDR::AFF3::SET + MPIDR::AFF2::SET + MPIDR::AFF1::SET + MPIDR::AFF0::SET).mask()
}

/// Width of one affinity field.
const AFFINITY_FIELD_BITS: u32 = 8;

/// The VMPIDR_EL2 value for vCPU `vcpu` of a personality: Aff0 = `vcpu`,
/// Aff1..3 = 0, bit 31 (RES1) set, U = 0 and MT = 0.
///
/// Indices of 256 and more do not fit in Aff0 and carry into Aff1, Aff2 and
/// Aff3 (eight bits each), so the value stays unique and
/// [`vcpu_from_mpidr`] inverts it; indices above `u32::MAX` cannot be
/// represented and keep only their low 32 bits. Note that a GICv3 without
/// range selector support can only target Aff0 0..=15 with an SGI.
#[must_use]
pub fn virtual_mpidr(vcpu: usize) -> u64 {
    // usize is at most 64 bits wide on every target Rust supports.
    let index = vcpu as u64;
    // `Field::val` keeps the low eight bits of each shifted index.
    let level = |level: u32| index >> (level * AFFINITY_FIELD_BITS);
    let value = MPIDR::AFF0.val(level(0)) + MPIDR::AFF1.val(level(1)) + MPIDR::AFF2.val(level(2)) + MPIDR::AFF3.val(level(3)) + MPIDR::RES1::SET;
    value.value
}

/// The vCPU of a personality with `vcpu_count` vCPUs whose MPIDR affinity is
/// `target`, or `None` if there is none.
///
/// Only the affinity fields (mask `0xff_00ff_ffff`) are compared, so both a
/// PSCI `target_cpu` and a value read from MPIDR_EL1 (with RES1 bit 31, U and
/// MT) work. For `vcpu_count` up to 256 this means Aff1..3 must be 0 and
/// Aff0 < `vcpu_count`. The PSCI emulation additionally rejects targets with
/// bits set outside the affinity fields, see [`has_only_affinity_bits`].
#[must_use]
pub fn vcpu_from_mpidr(target: u64, vcpu_count: usize) -> Option<usize> {
    let affinity = LocalRegisterCopy::<u64, MPIDR::Register>::new(target & affinity_bits());
    let index =
        [MPIDR::AFF3, MPIDR::AFF2, MPIDR::AFF1, MPIDR::AFF0].into_iter().fold(0u64, |index, field| (index << AFFINITY_FIELD_BITS) | affinity.read(field));
    usize::try_from(index).ok().filter(|vcpu| *vcpu < vcpu_count)
}

/// Whether `target` only has bits in the affinity fields, as DEN0022 requires
/// of a `target_cpu` argument (chapter 5, CPU_ON: "Bits\[63:40\]: Must be
/// zero", "Bits\[31:24\]: Must be zero").
#[must_use]
pub fn has_only_affinity_bits(target: u64) -> bool {
    target & !affinity_bits() == 0
}
