//! The GICv3 redistributor (GICR) frames, one pair per vCPU.
//!
//! Each vCPU has a 128 KiB redistributor: RD_base (control, identification,
//! power management) then SGI_base (the SGI and PPI registers), laid out as in
//! IHI 0069H chapter 12, "The GIC Redistributor register map". The frames of
//! vCPU 0, 1, ... follow each other; GICR_TYPER.Last marks the final one.
//! There are no LPIs, so the LPI registers are absent. On a GICv2
//! personality every access reads as zero.

use janus_trap::esr::AccessSize;
use tock_registers::LocalRegisterCopy;

use crate::distributor::{implementer_id, peripheral_id2};
use crate::effects::Effects;
use crate::fields::{GICR_TYPER, GICR_WAKER};
use crate::registers::{BitRegister, View, is_aligned};
use crate::{GicVersion, PRIVATE_INTERRUPTS, REDISTRIBUTOR_FRAME_SIZE, VirtualGic};

/// Offset of SGI_base inside a vCPU's redistributor.
const SGI_BASE: u64 = 0x1_0000;

/// RD_base: GICR_CTLR.
const CONTROL: u64 = 0x0000;
/// RD_base: GICR_IIDR.
const IMPLEMENTER_ID: u64 = 0x0004;
/// RD_base: GICR_TYPER (64 bits).
const TYPE: u64 = 0x0008;
/// RD_base: upper half of GICR_TYPER.
const TYPE_HIGH: u64 = 0x000C;
/// RD_base: GICR_WAKER.
const WAKER: u64 = 0x0014;
/// RD_base: GICR_PIDR2.
const PERIPHERAL_ID2: u64 = 0xFFE8;

/// SGI_base: the one-bit-per-INTID registers for INTIDs 0..32.
const BIT_REGISTERS: [(u64, BitRegister); 7] = [
    (0x0080, BitRegister::Group),
    (0x0100, BitRegister::SetEnable),
    (0x0180, BitRegister::ClearEnable),
    (0x0200, BitRegister::SetPending),
    (0x0280, BitRegister::ClearPending),
    (0x0300, BitRegister::SetActive),
    (0x0380, BitRegister::ClearActive),
];
/// SGI_base: start of [`BIT_REGISTERS`].
const BIT_REGISTERS_START: u64 = 0x0080;
/// SGI_base: distance between two [`BIT_REGISTERS`].
const BIT_REGISTER_STRIDE: u64 = 0x80;
/// SGI_base: end of the last of [`BIT_REGISTERS`].
const BIT_REGISTERS_END: u64 = 0x0400;
/// SGI_base: GICR_IPRIORITYR0..7.
const PRIORITY: u64 = 0x0400;
/// SGI_base: end of `GICR_IPRIORITYR<n>`.
const PRIORITY_END: u64 = PRIORITY + PRIVATE_INTERRUPTS as u64;
/// SGI_base: GICR_ICFGR0 (SGIs, read-only).
const CONFIGURATION_SGI: u64 = 0x0C00;
/// SGI_base: GICR_ICFGR1 (PPIs).
const CONFIGURATION_PPI: u64 = 0x0C04;
/// SGI_base: GICR_IGRPMODR0, RAZ/WI (only Non-secure Group 1 exists).
const GROUP_MODIFIER: u64 = 0x0D00;
/// SGI_base: GICR_NSACR, RAZ/WI.
const NON_SECURE_ACCESS: u64 = 0x0E00;

/// A decoded redistributor access.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Register {
    Control,
    ImplementerId,
    /// GICR_TYPER; the byte offset inside it (0 or 4).
    Type(u64),
    Waker,
    PeripheralId2,
    Bits(BitRegister),
    Priority(u32),
    Configuration(u32),
    /// Architecturally RAZ/WI here (IGRPMODR0, NSACR).
    ReadAsZero,
}

/// Decodes an access at `offset` inside one vCPU's 128 KiB redistributor.
fn decode(offset: u64, size: AccessSize) -> Option<Register> {
    if !is_aligned(offset, size) {
        return None;
    }
    let word = size == AccessSize::Word;
    let register = match offset.checked_sub(SGI_BASE) {
        None => match offset {
            CONTROL if word => Register::Control,
            IMPLEMENTER_ID if word => Register::ImplementerId,
            TYPE if word || size == AccessSize::Doubleword => Register::Type(0),
            TYPE_HIGH if word => Register::Type(4),
            WAKER if word => Register::Waker,
            PERIPHERAL_ID2 if word => Register::PeripheralId2,
            _ => return None,
        },
        Some(sgi_offset) => {
            match sgi_offset {
                // Registers follow each other every 0x80 bytes from 0x80.
                BIT_REGISTERS_START..BIT_REGISTERS_END if sgi_offset.is_multiple_of(BIT_REGISTER_STRIDE) => {
                    if !word {
                        return None;
                    }
                    let index = usize::try_from(sgi_offset / BIT_REGISTER_STRIDE).ok()?.checked_sub(1)?;
                    let (_, register) = BIT_REGISTERS.get(index)?;
                    Register::Bits(*register)
                }
                PRIORITY..PRIORITY_END if word || size == AccessSize::Byte => Register::Priority(u32::try_from(sgi_offset - PRIORITY).ok()?),
                CONFIGURATION_SGI if word => Register::Configuration(0),
                CONFIGURATION_PPI if word => Register::Configuration(16),
                GROUP_MODIFIER | NON_SECURE_ACCESS if word => Register::ReadAsZero,
                _ => return None,
            }
        }
    };
    Some(register)
}

impl VirtualGic {
    /// Splits an offset from the redistributor region base into the vCPU
    /// whose frame it falls in and the offset inside that frame.
    fn redistributor_frame(&self, frame_offset: u64) -> Option<(usize, u64)> {
        if self.version != GicVersion::V3 {
            return None;
        }
        let vcpu = usize::try_from(frame_offset / REDISTRIBUTOR_FRAME_SIZE).ok()?;
        (vcpu < self.vcpu_count).then_some((vcpu, frame_offset % REDISTRIBUTOR_FRAME_SIZE))
    }

    /// The frame view of `vcpu`: its SGIs and PPIs only.
    fn redistributor_view(vcpu: usize) -> View {
        View { vcpu, private: true, shared: false }
    }

    /// Emulates a guest read of `size` at `frame_offset` from the base of the
    /// redistributor region; the frame is `frame_offset /
    /// REDISTRIBUTOR_FRAME_SIZE`. Offsets beyond the last vCPU's frame,
    /// unknown offsets and bad widths read as zero.
    pub fn redistributor_read(&mut self, frame_offset: u64, size: AccessSize) -> u64 {
        let Some((vcpu, offset)) = self.redistributor_frame(frame_offset) else {
            return 0;
        };
        let Some(register) = decode(offset, size) else {
            return 0;
        };
        let view = Self::redistributor_view(vcpu);
        let value = match register {
            // No LPIs: EnableLPIs and the rest RAZ; RWP = 0.
            Register::Control | Register::ReadAsZero => 0,
            Register::ImplementerId => implementer_id(),
            Register::Type(byte) => self.redistributor_type(vcpu) >> (8 * byte),
            Register::Waker => self.waker_value(vcpu),
            Register::PeripheralId2 => peripheral_id2(GicVersion::V3),
            Register::Bits(register) => u64::from(self.read_bits(view, register, 0)),
            Register::Priority(first) => self.read_priorities(view, first, size.bytes()),
            Register::Configuration(first) => u64::from(self.read_configuration(view, first)),
        };
        size.truncate(value)
    }

    /// Emulates a guest write of `value` (`size` wide) at `frame_offset` from
    /// the base of the redistributor region. Writes outside the frames of
    /// existing vCPUs, to unknown offsets or with bad widths are ignored and
    /// counted in [`VirtualGic::ignored_writes`].
    pub fn redistributor_write(&mut self, frame_offset: u64, size: AccessSize, value: u64) -> Effects {
        let mut effects = Effects::default();
        let decoded = self.redistributor_frame(frame_offset).and_then(|(vcpu, offset)| Some((vcpu, decode(offset, size)?)));
        let Some((vcpu, register)) = decoded else {
            self.count_ignored_write();
            return effects;
        };
        let value = size.truncate(value);
        let word = AccessSize::Word.truncate(value) as u32;
        let view = Self::redistributor_view(vcpu);
        let ignored = match register {
            Register::Control | Register::ImplementerId | Register::Type(_) | Register::PeripheralId2 | Register::ReadAsZero => false,
            Register::Waker => {
                let register = LocalRegisterCopy::<u32, GICR_WAKER::Register>::new(word);
                if let Some(state) = self.vcpus.get_mut(vcpu) {
                    state.asleep = register.is_set(GICR_WAKER::PROCESSOR_SLEEP);
                }
                false
            }
            Register::Bits(register) => self.write_bits(view, register, 0, word, &mut effects),
            Register::Priority(first) => self.write_priorities(view, first, size.bytes(), value, &mut effects),
            Register::Configuration(first) => self.write_configuration(view, first, word),
        };
        if ignored {
            self.count_ignored_write();
        }
        effects
    }

    /// GICR_TYPER of `vcpu` (IHI 0069H chapter 12, GICR_TYPER): affinity
    /// 0.0.0.`vcpu`, Processor_Number `vcpu`, Last on the final frame, no
    /// physical or virtual LPIs.
    fn redistributor_type(&self, vcpu: usize) -> u64 {
        // vcpu < MAX_VCPUS (8): lossless.
        let index = vcpu as u64;
        let last = vcpu.saturating_add(1) == self.vcpu_count;
        let value = GICR_TYPER::AFF0.val(index) + GICR_TYPER::PROCESSOR_NUMBER.val(index) + GICR_TYPER::LAST.val(u64::from(last));
        value.value
    }

    /// GICR_WAKER of `vcpu` (IHI 0069H chapter 12, GICR_WAKER):
    /// ChildrenAsleep mirrors ProcessorSleep at once (there is nothing to
    /// quiesce).
    fn waker_value(&self, vcpu: usize) -> u64 {
        let asleep = self.vcpus.get(vcpu).is_some_and(|state| state.asleep);
        let value = GICR_WAKER::PROCESSOR_SLEEP.val(u32::from(asleep)) + GICR_WAKER::CHILDREN_ASLEEP.val(u32::from(asleep));
        u64::from(value.value)
    }
}
