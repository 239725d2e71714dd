//! A virtual GICv3 / GICv2 for one personality, pure and host-testable.
//!
//! Janus pins each vCPU of a personality to its own physical core for life, so
//! the virtual interrupt controller is one [`VirtualGic`] per personality. It
//! holds the state of every interrupt the personality can see and turns it
//! into list register contents; it touches no hardware:
//!
//! - The kernel forwards the guest's trapped accesses to the distributor
//!   ([`VirtualGic::distributor_read`] / [`VirtualGic::distributor_write`])
//!   and, for GICv3, to the redistributors
//!   ([`VirtualGic::redistributor_read`] / [`VirtualGic::redistributor_write`]).
//!   Writes return [`Effects`]: the vCPUs to kick and the changes to mirror on
//!   hardware-backed lines.
//! - Guest SGIs arrive as a trapped `ICC_SGI1R_EL1` write
//!   ([`VirtualGic::send_sgi_v3`]) or a `GICD_SGIR` write.
//! - Device interrupts the hypervisor receives are injected with
//!   [`VirtualGic::inject`] or, for lines passed through with the list
//!   register HW bit, [`VirtualGic::inject_hardware`].
//! - Before every guest entry, and after a maintenance interrupt, the kernel
//!   calls [`VirtualGic::flush`] with the list registers of the current core
//!   behind the [`ListRegisters`] trait. For a hardware-backed PPI (the
//!   guest's timer) arriving at its own core,
//!   [`VirtualGic::inject_hardware_and_flush`] does both steps, directly in
//!   the common case.
//!
//! Every value a guest supplies is hostile: nothing here panics, unknown
//! offsets read as zero and ignore writes, and interrupts this personality
//! does not own are invisible to it.
//!
//! One `VirtualGic` serves all vCPUs of a personality, so the kernel keeps it
//! behind a lock; `flush` for a vCPU runs on that vCPU's own core, with its
//! list registers.
//!
//! Model choices, each documented where it is implemented:
//!
//! - Groups: on GICv3 every interrupt is Non-secure Group 1 (IGROUPR RAO/WI),
//!   which a guest enables with ICC_IGRPEN1_EL1. On GICv2 every interrupt is
//!   Group 0 (IGROUPR RAZ/WI): a GICv2 guest sets only bit 0 of GICC_CTLR,
//!   which in the virtual CPU interface (GICV_CTLR) enables Group 0, signalled
//!   as a virtual IRQ while FIQEn = 0.
//! - Priorities have five bits; the low three read as zero.
//! - There are no line levels: an injection latches an interrupt pending,
//!   level-sensitive or not, until the guest acknowledges it or clears it.
//! - SGIs from several sources to one vCPU merge into one pending bit; GICv2
//!   list registers carry source CPUID 0, and GICD_SPENDSGIR / CPENDSGIR are
//!   RAZ/WI.
//! - GICR_WAKER.ProcessorSleep is stored and read back but does not hold
//!   back delivery.
//!
//! References: Arm IHI 0069H, "GIC Architecture Specification, GIC
//! architecture version 3 and version 4" (chapter 12, "Programmers' Model",
//! for each register), and Arm IHI 0048B.b, "GIC Architecture Specification,
//! version 2.0" (§4.3 distributor registers, §5.3 virtual interface control
//! registers).
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

mod bitmap;
mod candidates;
mod direct;
mod distributor;
mod effects;
mod fields;
mod flush;
mod interrupts;
mod line;
mod list_registers;
mod redistributor;
mod registers;
mod reset;
mod sgi;
mod state;

#[cfg(test)]
mod tests;

pub use effects::{Effects, PhysicalAction, PhysicalActions};
pub use flush::FlushOutcome;
pub use interrupts::HardwareMirror;
pub use janus_trap::esr::AccessSize;
pub use list_registers::{ListRegister, ListRegisters, LrState, decode_v2, decode_v3, encode_v2, encode_v3};
pub use sgi::SgiOutcome;
pub use state::VirtualGic;

/// Most vCPUs one personality can have.
pub const MAX_VCPUS: usize = 8;

/// Number of Shared Peripheral Interrupts emulated: INTIDs
/// [`FIRST_SPI`]..[`SPI_LIMIT`].
pub const MAX_SPIS: usize = 224;

/// Number of Software Generated Interrupts per vCPU: INTIDs 0..16.
pub const SGI_COUNT: u32 = 16;

/// Number of interrupts private to each vCPU (SGIs and PPIs): INTIDs 0..32.
pub const PRIVATE_INTERRUPTS: u32 = 32;

/// INTID of the first Shared Peripheral Interrupt.
pub const FIRST_SPI: u32 = PRIVATE_INTERRUPTS;

/// One past the last emulated INTID (32 × (GICD_TYPER.ITLinesNumber + 1)).
pub const SPI_LIMIT: u32 = FIRST_SPI + MAX_SPIS as u32;

/// Most list registers [`VirtualGic::flush`] uses per vCPU. GICv3 has at most
/// 16 (ICH_VTR_EL2.ListRegs); a GICv2 may report up to 64 (GICH_VTR), of which
/// only the first 16 are used.
pub const MAX_LIST_REGISTERS: usize = 16;

/// Size of one vCPU's GICv3 redistributor: an RD_base frame and an SGI_base
/// frame of 64 KiB each (IHI 0069H chapter 12, "The GIC Redistributor register
/// map").
pub const REDISTRIBUTOR_FRAME_SIZE: u64 = 0x2_0000;

/// Which interrupt controller architecture the guest sees.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GicVersion {
    /// GICv2 (IHI 0048B): a memory-mapped distributor with banked SGI / PPI
    /// registers and a memory-mapped CPU interface the hardware virtualizes
    /// (GICV).
    V2,
    /// GICv3 (IHI 0069H) with affinity routing: a distributor, one
    /// redistributor per vCPU, and the system-register CPU interface.
    V3,
}

/// Why a [`VirtualGic`] could not be built or configured. These come from the
/// manifest or the hypervisor, never from a guest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VgicError {
    /// The vCPU count is zero or above [`MAX_VCPUS`].
    InvalidVcpuCount {
        /// The count asked for.
        vcpu_count: usize,
    },
    /// An owned interrupt is not an SPI in [`FIRST_SPI`]..[`SPI_LIMIT`].
    InvalidSpi {
        /// The INTID asked for.
        intid: u32,
    },
    /// The interrupt is not one this personality can see: an SPI it does not
    /// own, an SGI, or an INTID out of range.
    NotVisible {
        /// The INTID asked for.
        intid: u32,
    },
    /// A physical INTID that cannot back a virtual interrupt: only PPIs and
    /// SPIs (16..1020) can be named in a list register's pINTID field.
    InvalidPhysicalIntid {
        /// The physical INTID asked for.
        physical_intid: u32,
    },
}
