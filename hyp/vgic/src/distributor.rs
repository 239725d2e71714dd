//! The distributor (GICD) register frame, GICv3 and GICv2.
//!
//! Register map: IHI 0069H chapter 12, "The GIC Distributor register map",
//! and IHI 0048B §4.1.2, table 4-1. Access widths (IHI 0069H chapter 12,
//! "GIC memory-mapped register access"; IHI 0048B §4.1.4): every register is
//! word-accessible, IPRIORITYR and ITARGETSR also byte-accessible, IROUTER
//! doubleword-accessible or word-accessible per half; accesses must be
//! naturally aligned. Anything else reads as zero and ignores writes.
//!
//! The GICv3 guest sees the Non-secure view of a GIC with two Security states
//! and affinity routing always on (ARE_NS = 1): the SGI and PPI parts of the
//! GICD registers (n = 0) are RAZ/WI, the redistributors own them. The GICv2
//! guest sees a GIC without the Security Extensions, whose n = 0 registers
//! are banked per accessing vCPU.

use janus_trap::esr::AccessSize;
use tock_registers::LocalRegisterCopy;

use crate::effects::Effects;
use crate::fields::{GICD_CTLR, GICD_IROUTER, GICD_TYPER, IIDR, PIDR2};
use crate::line::spi_index;
use crate::registers::{BitRegister, View, is_aligned};
use crate::{GicVersion, SPI_LIMIT, VirtualGic};

/// GICD_CTLR.
const CONTROL: u64 = 0x0000;
/// GICD_TYPER.
const TYPE: u64 = 0x0004;
/// GICD_IIDR.
const IMPLEMENTER_ID: u64 = 0x0008;
/// The one-bit-per-INTID groups, 0x80 bytes (1024 INTIDs) each.
const BIT_GROUPS: [(u64, BitRegister); 7] = [
    (0x0080, BitRegister::Group),
    (0x0100, BitRegister::SetEnable),
    (0x0180, BitRegister::ClearEnable),
    (0x0200, BitRegister::SetPending),
    (0x0280, BitRegister::ClearPending),
    (0x0300, BitRegister::SetActive),
    (0x0380, BitRegister::ClearActive),
];
/// Offset of the first one-bit-per-INTID group.
const BIT_GROUPS_START: u64 = 0x0080;
/// Size of a one-bit-per-INTID group.
const BIT_GROUP_SIZE: u64 = 0x80;
/// `GICD_IPRIORITYR<n>`, one byte per INTID.
const PRIORITY: u64 = 0x0400;
/// `GICD_ITARGETSR<n>` (GICv2), one byte per INTID.
const TARGETS: u64 = 0x0800;
/// `GICD_ICFGR<n>`, two bits per INTID.
const CONFIGURATION: u64 = 0x0C00;
/// End of `GICD_ICFGR<n>`.
const CONFIGURATION_END: u64 = 0x0D00;
/// GICD_SGIR (GICv2).
const SOFTWARE_GENERATED: u64 = 0x0F00;
/// `GICD_IROUTER<n>` (GICv3), 8 bytes per INTID from INTID 0 (0..32 reserved).
const ROUTER: u64 = 0x6000;
/// GICD_PIDR2 (GICv3).
const PERIPHERAL_ID2_V3: u64 = 0xFFE8;
/// ICPIDR2 (GICv2).
const PERIPHERAL_ID2_V2: u64 = 0x0FE8;

/// Product identifier in GICD_IIDR / GICR_IIDR: ASCII 'J'. The implementer
/// field is 0: Janus has no JEP106 code.
const PRODUCT_JANUS: u32 = 0x4A;

/// A decoded distributor access.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Register {
    Control,
    Type,
    ImplementerId,
    PeripheralId2,
    /// A one-bit-per-INTID register and its word number `n` (INTIDs `32 × n`
    /// onwards).
    Bits(BitRegister, u32),
    Priority(u32),
    Targets(u32),
    Configuration(u32),
    SoftwareGenerated,
    /// IROUTER of INTID `.0`; `.1` is the byte offset inside it (0 or 4).
    Router(u32, u64),
}

/// The one-bit-per-INTID register at `offset`, if any, and its word number
/// (INTIDs `32 × n` onwards); only word accesses reach these registers.
fn bit_register(offset: u64) -> Option<(BitRegister, u32)> {
    let distance = offset.checked_sub(BIT_GROUPS_START)?;
    if distance >= BIT_GROUP_SIZE * BIT_GROUPS.len() as u64 || !offset.is_multiple_of(4) {
        return None;
    }
    // Groups follow each other every BIT_GROUP_SIZE bytes.
    let group = usize::try_from(distance / BIT_GROUP_SIZE).ok()?;
    let (_, register) = BIT_GROUPS.get(group)?;
    // Four bytes, 32 INTIDs, per register word; below 32 words per group.
    let number = ((distance % BIT_GROUP_SIZE) / 4) as u32;
    Some((*register, number))
}

/// Decodes an access, `None` for an unknown offset or a width the register
/// does not allow.
fn decode(version: GicVersion, offset: u64, size: AccessSize) -> Option<Register> {
    if !is_aligned(offset, size) {
        return None;
    }
    let word = size == AccessSize::Word;
    let byte_or_word = word || size == AccessSize::Byte;
    let intid = |base: u64, per_intid_shift: u32| -> Option<u32> {
        let index = (offset.checked_sub(base)?) >> per_intid_shift;
        u32::try_from(index).ok()
    };
    let register = match offset {
        CONTROL if word => Register::Control,
        TYPE if word => Register::Type,
        IMPLEMENTER_ID if word => Register::ImplementerId,
        0x0080..PRIORITY if word => {
            let (register, number) = bit_register(offset)?;
            Register::Bits(register, number)
        }
        PRIORITY..TARGETS if byte_or_word => Register::Priority(intid(PRIORITY, 0)?),
        TARGETS..CONFIGURATION if byte_or_word && version == GicVersion::V2 => Register::Targets(intid(TARGETS, 0)?),
        // Four INTIDs per byte.
        CONFIGURATION..CONFIGURATION_END if word => Register::Configuration(intid(CONFIGURATION, 0)?.checked_mul(4)?),
        SOFTWARE_GENERATED if word && version == GicVersion::V2 => Register::SoftwareGenerated,
        PERIPHERAL_ID2_V2 if word && version == GicVersion::V2 => Register::PeripheralId2,
        PERIPHERAL_ID2_V3 if word && version == GicVersion::V3 => Register::PeripheralId2,
        _ if version == GicVersion::V3 && (word || size == AccessSize::Doubleword) => {
            let intid = intid(ROUTER, 3)?;
            if !(crate::FIRST_SPI..SPI_LIMIT).contains(&intid) {
                return None;
            }
            Register::Router(intid, offset % 8)
        }
        _ => return None,
    };
    Some(register)
}

impl VirtualGic {
    /// The frame view of `vcpu` for this version.
    fn distributor_view(&self, vcpu: usize) -> View {
        View { vcpu, private: self.version == GicVersion::V2, shared: true }
    }

    /// Emulates a guest read of `size` at `offset` in the distributor frame,
    /// by vCPU `vcpu` (which selects the banked registers on GICv2). Unknown
    /// offsets, bad widths and invisible interrupts read as zero.
    pub fn distributor_read(&mut self, vcpu: usize, offset: u64, size: AccessSize) -> u64 {
        // The interrupt state registers first: they are what guests read
        // most, and they are one masked word each.
        if size == AccessSize::Word
            && let Some((register, number)) = bit_register(offset)
        {
            return u64::from(self.read_bits(self.distributor_view(vcpu), register, number));
        }
        self.read_register(vcpu, offset, size)
    }

    /// The rest of [`VirtualGic::distributor_read`], out of line so that the
    /// fast path above needs no stack frame.
    #[inline(never)]
    fn read_register(&self, vcpu: usize, offset: u64, size: AccessSize) -> u64 {
        let Some(register) = decode(self.version, offset, size) else {
            return 0;
        };
        let view = self.distributor_view(vcpu);
        let value = match register {
            Register::Control => self.control_value(),
            Register::Type => self.type_value(),
            Register::ImplementerId => implementer_id(),
            Register::PeripheralId2 => peripheral_id2(self.version),
            Register::Bits(register, first) => u64::from(self.read_bits(view, register, first)),
            Register::Priority(first) => self.read_priorities(view, first, size.bytes()),
            Register::Targets(first) => self.read_targets(view, first, size.bytes()),
            Register::Configuration(first) => u64::from(self.read_configuration(view, first)),
            // Write-only (IHI 0048B §4.3.15).
            Register::SoftwareGenerated => 0,
            Register::Router(intid, byte) => self.router_value(intid) >> (8 * byte),
        };
        size.truncate(value)
    }

    /// Emulates a guest write of `value` (`size` wide) at `offset` in the
    /// distributor frame, by vCPU `vcpu`. Unknown offsets, bad widths and
    /// invisible interrupts are ignored and counted in
    /// [`VirtualGic::ignored_writes`].
    pub fn distributor_write(&mut self, vcpu: usize, offset: u64, size: AccessSize, value: u64) -> Effects {
        let mut effects = Effects::default();
        let Some(register) = decode(self.version, offset, size) else {
            self.count_ignored_write();
            return effects;
        };
        let value = size.truncate(value);
        let word = AccessSize::Word.truncate(value) as u32;
        let view = self.distributor_view(vcpu);
        let ignored = match register {
            Register::Control => {
                self.write_control(word, &mut effects);
                false
            }
            // Read-only identification registers.
            Register::Type | Register::ImplementerId | Register::PeripheralId2 => false,
            Register::Bits(register, first) => self.write_bits(view, register, first, word, &mut effects),
            Register::Priority(first) => self.write_priorities(view, first, size.bytes(), value, &mut effects),
            Register::Targets(first) => self.write_targets(view, first, size.bytes(), value, &mut effects),
            Register::Configuration(first) => self.write_configuration(view, first, word),
            Register::SoftwareGenerated => {
                let outcome = self.send_sgi_v2(vcpu, word);
                effects.vcpus_to_refresh |= outcome.delivered;
                crate::sgi::is_reserved_filter(word)
            }
            Register::Router(intid, byte) => self.write_router(intid, byte, size, value, &mut effects),
        };
        if ignored {
            self.count_ignored_write();
        }
        effects
    }

    /// GICD_CTLR as read (IHI 0069H chapter 12, GICD_CTLR; IHI 0048B §4.3.1).
    /// GICv3: EnableGrp1A, ARE_NS = 1 (RAO/WI), RWP = 0 (writes take effect
    /// at once). GICv2: Enable.
    fn control_value(&self) -> u64 {
        let enabled = u32::from(self.distributor_enabled);
        let value = match self.version {
            GicVersion::V3 => GICD_CTLR::ENABLE_GRP1A.val(enabled) + GICD_CTLR::ARE_NS::SET,
            GicVersion::V2 => GICD_CTLR::ENABLE.val(enabled),
        };
        u64::from(value.value)
    }

    /// A GICD_CTLR write: only the group enable is writable.
    fn write_control(&mut self, value: u32, effects: &mut Effects) {
        let register = LocalRegisterCopy::<u32, GICD_CTLR::Register>::new(value);
        let enabled = match self.version {
            GicVersion::V3 => register.is_set(GICD_CTLR::ENABLE_GRP1A),
            GicVersion::V2 => register.is_set(GICD_CTLR::ENABLE),
        };
        if enabled == self.distributor_enabled {
            return;
        }
        self.distributor_enabled = enabled;
        for vcpu in 0..self.vcpu_count {
            self.mark(vcpu, effects);
        }
    }

    /// GICD_TYPER (IHI 0069H chapter 12, GICD_TYPER; IHI 0048B §4.3.2):
    /// ITLinesNumber = 7 (256 INTIDs), CPUNumber = vCPUs - 1. GICv3 adds
    /// IDbits = 9 (10-bit INTIDs), SecurityExtn = 1 (the guest is the
    /// Non-secure side), no LPIs, no message-based SPIs, no range selector;
    /// 1 of N routing is accepted (IRM = 1 delivers to vCPU 0).
    fn type_value(&self) -> u64 {
        let lines = SPI_LIMIT / 32 - 1;
        let cpus = u32::try_from(self.vcpu_count.saturating_sub(1)).unwrap_or(0);
        let common = GICD_TYPER::IT_LINES_NUMBER.val(lines) + GICD_TYPER::CPU_NUMBER.val(cpus);
        let value = match self.version {
            GicVersion::V3 => common + GICD_TYPER::ID_BITS.val(9) + GICD_TYPER::SECURITY_EXTN::SET,
            GicVersion::V2 => common,
        };
        u64::from(value.value)
    }

    /// GICD_IROUTER<intid> as read: zero for an SPI this personality does not
    /// own.
    fn router_value(&self, intid: u32) -> u64 {
        match spi_index(intid) {
            Some(index) if self.owned.get(index) => self.routes.get(index).copied().unwrap_or(0),
            _ => 0,
        }
    }

    /// A write to GICD_IROUTER<intid>, whole or one 32-bit half (`byte` 0 or
    /// 4). Returns whether it was ignored because the SPI is not owned.
    fn write_router(&mut self, intid: u32, byte: u64, size: AccessSize, value: u64, effects: &mut Effects) -> bool {
        let Some(index) = spi_index(intid).filter(|index| self.owned.get(*index)) else {
            return true;
        };
        let current = self.routes.get(index).copied().unwrap_or(0);
        let merged = match (size, byte) {
            (AccessSize::Word, 0) => (current & !u64::from(u32::MAX)) | value,
            (AccessSize::Word, _) => (current & u64::from(u32::MAX)) | (value << 32),
            _ => value,
        };
        let writable = (GICD_IROUTER::AFF0::SET + GICD_IROUTER::AFF1::SET + GICD_IROUTER::AFF2::SET + GICD_IROUTER::IRM::SET + GICD_IROUTER::AFF3::SET).mask();
        self.set_route(index, merged & writable, effects);
        false
    }
}

/// GICD_IIDR / GICR_IIDR: ProductID 'J', everything else zero.
pub(crate) fn implementer_id() -> u64 {
    u64::from((IIDR::PRODUCT_ID.val(PRODUCT_JANUS) + IIDR::IMPLEMENTER.val(0)).value)
}

/// GICD_PIDR2 / GICR_PIDR2 (ArchRev 3: 0x3B) or ICPIDR2 (ArchRev 2: 0x2B),
/// with the JEP106 bits of an Arm part as GIC-400 / GIC-600 report them.
pub(crate) fn peripheral_id2(version: GicVersion) -> u64 {
    let revision = match version {
        GicVersion::V2 => 2,
        GicVersion::V3 => 3,
    };
    let value = PIDR2::ARCH_REV.val(revision) + PIDR2::JEDEC::SET + PIDR2::DES_1.val(0b011);
    u64::from(value.value)
}
