//! This core's virtual CPU interface: the list registers and control
//! registers through which Janus presents interrupts to the guest running
//! here, behind janus-vgic's `ListRegisters` trait. GICv3: the ICH_*_EL2
//! system registers (IHI 0069 §12.5); GICv2: the memory-mapped GICH frame,
//! banked per core (IHI 0048B §5.3).

use janus_platform::GicDescription;
use janus_vgic::{ListRegister, ListRegisters};

use crate::arch::{read_sysreg, write_sysreg};

/// Virtual CPU interface enable (ICH_HCR_EL2.En, GICH_HCR.En).
const HCR_ENABLE: u64 = 1 << 0;
/// Underflow maintenance interrupt (ICH_HCR_EL2.UIE, GICH_HCR.UIE).
const HCR_UNDERFLOW: u64 = 1 << 1;

/// GICH frame offsets.
const GICH_HCR: u64 = 0x00;
const GICH_VTR: u64 = 0x04;
const GICH_VMCR: u64 = 0x08;
const GICH_APR: u64 = 0xf0;
const GICH_LR: u64 = 0x100;

macro_rules! lr_registers {
    ($($index:literal => $name:ident),* $(,)?) => {
        // Always inlined: with a constant index (the timer path's list
        // register 0) the match folds to one instruction.
        #[inline(always)]
        fn read_lr_v3(index: usize) -> u64 {
            match index {
                $($index => read_sysreg!($name),)*
                _ => 0,
            }
        }

        #[inline(always)]
        fn write_lr_v3(index: usize, value: u64) {
            match index {
                $($index => write_sysreg!($name, value),)*
                _ => {}
            }
        }
    };
}

// ICH_LR<n>_EL2: op0 3, op1 4, CRn 12, CRm 12 (n < 8) or 13, op2 n % 8.
lr_registers! {
    0 => S3_4_C12_C12_0, 1 => S3_4_C12_C12_1, 2 => S3_4_C12_C12_2, 3 => S3_4_C12_C12_3,
    4 => S3_4_C12_C12_4, 5 => S3_4_C12_C12_5, 6 => S3_4_C12_C12_6, 7 => S3_4_C12_C12_7,
    8 => S3_4_C12_C13_0, 9 => S3_4_C12_C13_1, 10 => S3_4_C12_C13_2, 11 => S3_4_C12_C13_3,
    12 => S3_4_C12_C13_4, 13 => S3_4_C12_C13_5, 14 => S3_4_C12_C13_6, 15 => S3_4_C12_C13_7,
}

/// ICH_VTR_EL2, read-only configuration: declared pure so that an unused
/// read (the timer path never asks for the count) costs nothing.
#[inline(always)]
fn read_vtr() -> u64 {
    let value: u64;
    // SAFETY: reading an identification register has no side effects.
    unsafe { core::arch::asm!("mrs {}, S3_4_C12_C11_1", out(reg) value, options(pure, nomem, nostack, preserves_flags)) };
    value
}

/// This core's list registers.
pub enum CoreListRegisters {
    /// GICv3 system registers (the count is read from ICH_VTR_EL2 when
    /// asked for).
    V3,
    /// GICv2 GICH frame.
    V2 {
        /// GICH base (banked: this core's view).
        base: u64,
        /// GICH_VTR.ListRegs + 1.
        count: usize,
    },
}

#[inline(always)]
fn read32(address: u64) -> u32 {
    // SAFETY: only called with GICH registers of the board's checked
    // description, mapped as device memory in Janus' stage-1 map.
    unsafe { (address as *const u32).read_volatile() }
}

#[inline(always)]
fn write32(address: u64, value: u32) {
    // SAFETY: as for read32.
    unsafe { (address as *mut u32).write_volatile(value) }
}

impl CoreListRegisters {
    /// The list registers of the current core for the board's GIC.
    #[inline]
    pub fn this_core(gic: &GicDescription) -> Self {
        match *gic {
            GicDescription::V3 { .. } => Self::V3,
            GicDescription::V2 { hypervisor_interface, .. } => {
                let base = hypervisor_interface.get();
                Self::V2 { base, count: ((read32(base + GICH_VTR) & 0x3f) + 1) as usize }
            }
        }
    }

    /// Empties every list register and the active-priority state (a vCPU
    /// starts from nothing), then enables the virtual CPU interface.
    pub fn reset(&mut self) {
        for index in 0..self.count() {
            self.write_raw(index, 0);
        }
        match *self {
            Self::V3 => {
                write_sysreg!(S3_4_C12_C9_0, 0); // ICH_AP1R0_EL2
                write_sysreg!(S3_4_C12_C8_0, 0); // ICH_AP0R0_EL2
                write_sysreg!(S3_4_C12_C11_7, 0); // ICH_VMCR_EL2
            }
            Self::V2 { base, .. } => {
                write32(base + GICH_APR, 0);
                write32(base + GICH_VMCR, 0);
            }
        }
        self.set_underflow_interrupt(false);
    }

    /// Turns the virtual CPU interface off, for a core with no vCPU to run:
    /// otherwise its underflow maintenance interrupt would keep firing at
    /// the parked core and starve every other interrupt there.
    pub fn disable(&mut self) {
        match *self {
            Self::V3 => write_sysreg!(S3_4_C12_C11_0, 0),
            Self::V2 { base, .. } => write32(base + GICH_HCR, 0),
        }
    }

    /// Turns the underflow maintenance interrupt on or off.
    #[inline]
    pub fn set_underflow_interrupt(&mut self, on: bool) {
        let value = HCR_ENABLE | if on { HCR_UNDERFLOW } else { 0 };
        match *self {
            Self::V3 => write_sysreg!(S3_4_C12_C11_0, value),
            Self::V2 { base, .. } => write32(base + GICH_HCR, value as u32),
        }
    }

    #[inline(always)]
    fn write_raw(&mut self, index: usize, value: u64) {
        match *self {
            Self::V3 => write_lr_v3(index, value),
            Self::V2 { base, .. } => write32(base + GICH_LR + 4 * index as u64, value as u32),
        }
    }
}

impl ListRegisters for CoreListRegisters {
    #[inline(always)]
    fn count(&self) -> usize {
        match *self {
            // ICH_VTR_EL2.ListRegs + 1.
            Self::V3 => (((read_vtr() & 0x1f) + 1) as usize).min(16),
            Self::V2 { count, .. } => count.min(16),
        }
    }

    #[inline(always)]
    fn read(&self, index: usize) -> ListRegister {
        match *self {
            Self::V3 => janus_vgic::decode_v3(read_lr_v3(index)),
            Self::V2 { base, .. } => janus_vgic::decode_v2(read32(base + GICH_LR + 4 * index as u64)),
        }
    }

    #[inline(always)]
    fn write(&mut self, index: usize, value: ListRegister) {
        match *self {
            Self::V3 => write_lr_v3(index, janus_vgic::encode_v3(&value)),
            Self::V2 { .. } => self.write_raw(index, u64::from(janus_vgic::encode_v2(&value))),
        }
    }
}
