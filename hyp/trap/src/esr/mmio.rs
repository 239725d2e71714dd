//! The load / store a Data Abort syndrome describes, for emulating MMIO.

use tock_registers::LocalRegisterCopy;

use super::fields::{DATA_ABORT_ISS, ESR_EL2};

/// Width of a trapped single-register load or store: ISS field SAS
/// (Arm ARM D17.2.37, "ISS encoding for an exception from a Data Abort").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccessSize {
    /// 8 bits (LDRB, STRB, LDRSB).
    Byte,
    /// 16 bits (LDRH, STRH, LDRSH).
    Halfword,
    /// 32 bits (LDR / STR of a W register, LDRSW).
    Word,
    /// 64 bits (LDR / STR of an X register).
    Doubleword,
}

impl AccessSize {
    /// Number of bytes transferred: 1, 2, 4 or 8.
    #[must_use]
    pub fn bytes(self) -> u64 {
        match self {
            Self::Byte => 1,
            Self::Halfword => 2,
            Self::Word => 4,
            Self::Doubleword => 8,
        }
    }

    /// Number of bits transferred: 8, 16, 32 or 64.
    #[must_use]
    pub fn bits(self) -> u32 {
        match self {
            Self::Byte => u8::BITS,
            Self::Halfword => u16::BITS,
            Self::Word => u32::BITS,
            Self::Doubleword => u64::BITS,
        }
    }

    /// Keeps the low [`AccessSize::bits`] bits of `value`.
    #[must_use]
    pub fn truncate(self, value: u64) -> u64 {
        match self {
            Self::Byte => u64::from(value as u8),
            Self::Halfword => u64::from(value as u16),
            Self::Word => u64::from(value as u32),
            Self::Doubleword => value,
        }
    }

    /// Sign-extends the low [`AccessSize::bits`] bits of `value` to 64 bits.
    #[must_use]
    pub fn sign_extend(self, value: u64) -> u64 {
        let signed = match self {
            Self::Byte => i64::from(value as u8 as i8),
            Self::Halfword => i64::from(value as u16 as i16),
            Self::Word => i64::from(value as u32 as i32),
            Self::Doubleword => value.cast_signed(),
        };
        signed.cast_unsigned()
    }
}

/// A trapped single general-purpose-register load or store, as described by a
/// Data Abort with ISV = 1 (Arm ARM D17.2.37, "ISS encoding for an exception
/// from a Data Abort", fields SAS, SSE, SRT, SF, WnR).
///
/// The hardware only provides this syndrome for simple loads and stores
/// (no writeback, no pairs, no SIMD registers); the hypervisor emulates the
/// access, writes the result with [`MmioAccess::value_to_load`], and skips the
/// instruction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MmioAccess {
    /// Width of the access.
    pub size: AccessSize,
    /// General-purpose register transferred, 0..=31. For loads and stores,
    /// 31 is the zero register: a store writes 0 and a load discards the value.
    pub register: u8,
    /// The load sign-extends the item (LDRSB, LDRSH, LDRSW).
    pub sign_extend: bool,
    /// The register is an X (64-bit) register rather than a W register.
    pub sixty_four_bit_register: bool,
    /// The access is a store (WnR = 1).
    pub is_write: bool,
}

impl MmioAccess {
    /// Decodes the instruction syndrome of a Data Abort, or `None` if the
    /// syndrome is not valid (ISV = 0).
    pub(super) fn decode(esr: LocalRegisterCopy<u64, ESR_EL2::Register>) -> Option<Self> {
        let syndrome = LocalRegisterCopy::<u64, DATA_ABORT_ISS::Register>::new(esr.get());
        if !syndrome.is_set(DATA_ABORT_ISS::ISV) {
            return None;
        }
        use DATA_ABORT_ISS::SAS::Value as Size;
        let size = match syndrome.read_as_enum(DATA_ABORT_ISS::SAS) {
            Some(Size::Byte) => AccessSize::Byte,
            Some(Size::Halfword) => AccessSize::Halfword,
            Some(Size::Word) => AccessSize::Word,
            // SAS is two bits wide and all four values are listed, so `None`
            // cannot occur; treating it as the widest access keeps this total.
            Some(Size::Doubleword) | None => AccessSize::Doubleword,
        };
        Some(Self {
            size,
            // SRT is five bits wide, so the value fits in a u8.
            register: syndrome.read(DATA_ABORT_ISS::SRT) as u8,
            sign_extend: syndrome.is_set(DATA_ABORT_ISS::SSE),
            sixty_four_bit_register: syndrome.is_set(DATA_ABORT_ISS::SF),
            is_write: syndrome.is_set(DATA_ABORT_ISS::WNR),
        })
    }

    /// Number of bytes transferred: 1, 2, 4 or 8.
    #[must_use]
    pub fn bytes(&self) -> u64 {
        self.size.bytes()
    }

    /// The value a store puts on the bus, given the current content of the
    /// source register: its low [`AccessSize::bits`] bits (STRB stores bits
    /// \[7:0\], STRH bits \[15:0\], and so on).
    ///
    /// The caller reads register 31 as zero (XZR / WZR).
    #[must_use]
    pub fn value_to_write(&self, register_value: u64) -> u64 {
        self.size.truncate(register_value)
    }

    /// The value a load writes to the destination register, given what the
    /// device returned: truncated to the access size, sign-extended if SSE is
    /// set, and then truncated to 32 bits if the destination is a W register
    /// (SF = 0), because writing a W register zeroes bits \[63:32\] of the X
    /// register (Arm ARM C6.2, LDRSB / LDRSH / LDRSW and LDRB / LDRH / LDR
    /// pseudocode: `X[t, regsize] = SignExtend(data, regsize)` or
    /// `ZeroExtend(data, regsize)`).
    ///
    /// The caller discards the result when the register is 31 (XZR / WZR).
    #[must_use]
    pub fn value_to_load(&self, device_value: u64) -> u64 {
        let item = self.size.truncate(device_value);
        let extended = if self.sign_extend { self.size.sign_extend(item) } else { item };
        if self.sixty_four_bit_register { extended } else { AccessSize::Word.truncate(extended) }
    }
}
