//! Register groups shared by the distributor and the redistributor.
//!
//! `GICD_ISENABLER<n>` and GICR_ISENABLER0, `GICD_IPRIORITYR<n>` and
//! `GICR_IPRIORITYR<n>`, and so on have the same layout (IHI 0069H chapter 12;
//! IHI 0048B §4.3.4 to §4.3.13): one bit, byte or two-bit field per INTID,
//! counted from the start of the register group. A [`View`] says which
//! interrupts a frame shows and for which vCPU the banked ones are.

use janus_trap::esr::AccessSize;

use crate::bitmap::set_bits;
use crate::effects::{Effects, vcpu_bit};
use crate::line::{FIRST_SPI_WORD, Flag, SPI_WORDS, Slot};
use crate::{GicVersion, SGI_COUNT, VirtualGic};

/// The SGI bits of register word 0 (INTIDs 0..16).
const SGI_BITS: u32 = (1 << SGI_COUNT) - 1;

/// The interrupts a register frame shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct View {
    /// The vCPU whose SGIs and PPIs the frame shows.
    pub(crate) vcpu: usize,
    /// The frame shows SGIs and PPIs (GICv2 distributor, GICv3
    /// redistributor).
    pub(crate) private: bool,
    /// The frame shows SPIs (the distributor).
    pub(crate) shared: bool,
}

/// What one INTID of a register group refers to.
#[derive(Clone, Copy)]
enum Lookup {
    /// A visible interrupt.
    Found(Slot),
    /// Not shown by this frame by architecture (for example SGIs in the GICv3
    /// distributor with affinity routing): RAZ/WI, not counted.
    Hidden,
    /// Not visible to this personality: RAZ/WI, writes counted.
    Invisible,
}

/// Register word `n` of a one-bit-per-INTID group (INTIDs `32 × n` to
/// `32 × n + 31`) as a frame shows it: the word of the line bit sets that
/// holds those INTIDs, and which of them are shown and visible, so a register
/// access is a few masked word operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RegisterWord {
    /// Index of the word in the bit sets over all lines (meaningless when
    /// `visible` is zero).
    pub(crate) line_word: usize,
    /// INTIDs the frame shows; the others are RAZ/WI and not counted.
    pub(crate) shown: u32,
    /// INTIDs shown and visible to this personality; the others of `shown`
    /// are RAZ/WI and writes to them are counted.
    pub(crate) visible: u32,
}

impl RegisterWord {
    /// A word the frame does not show at all.
    const HIDDEN: Self = Self { line_word: 0, shown: 0, visible: 0 };

    /// A word the frame shows but whose INTIDs this personality cannot see.
    const INVISIBLE: Self = Self { line_word: 0, shown: u32::MAX, visible: 0 };

    /// What bit `bit` (below 32) of the word refers to.
    fn lookup(self, bit: u32) -> Lookup {
        let mask = 1u32.checked_shl(bit).unwrap_or(0);
        if self.visible & mask != 0 {
            Lookup::Found(Slot::from_bit(self.line_word, bit as usize))
        } else if self.shown & mask != 0 {
            Lookup::Invisible
        } else {
            Lookup::Hidden
        }
    }
}

/// The INTIDs of a byte-per-INTID access (IPRIORITYR, ITARGETSR): the
/// register words holding its lanes.
#[derive(Clone, Copy, Debug)]
struct ByteSpan {
    /// Bit of the first lane's INTID in `words[0]`.
    first_bit: u32,
    /// Number of lanes (at most eight).
    lanes: u64,
    /// The word of the first lane and the one after it.
    words: [RegisterWord; 2],
}

impl ByteSpan {
    /// What lane `lane` (below `lanes`) refers to.
    fn lookup(&self, lane: u64) -> Lookup {
        let bit = u64::from(self.first_bit).saturating_add(lane);
        let word = if bit < u64::from(u32::BITS) { self.words[0] } else { self.words[1] };
        // Below 32 after the remainder.
        word.lookup((bit % u64::from(u32::BITS)) as u32)
    }
}

/// One-bit-per-interrupt register groups.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BitRegister {
    /// IGROUPR: RAO/WI on GICv3 (everything Non-secure Group 1), RAZ/WI on
    /// GICv2 (everything Group 0).
    Group,
    /// ISENABLER.
    SetEnable,
    /// ICENABLER.
    ClearEnable,
    /// ISPENDR.
    SetPending,
    /// ICPENDR.
    ClearPending,
    /// ISACTIVER.
    SetActive,
    /// ICACTIVER.
    ClearActive,
}

/// Whether an access of `size` at `offset` is naturally aligned.
pub(crate) fn is_aligned(offset: u64, size: AccessSize) -> bool {
    offset.is_multiple_of(size.bytes())
}

/// The INTID `step` entries after `first`, if representable.
fn nth(first: u32, step: u64) -> Option<u32> {
    first.checked_add(u32::try_from(step).ok()?)
}

impl VirtualGic {
    /// Register word `number` of a one-bit-per-INTID group in `view`.
    pub(crate) fn register_word(&self, view: View, number: u32) -> RegisterWord {
        const HIDDEN: RegisterWord = RegisterWord::HIDDEN;
        const INVISIBLE: RegisterWord = RegisterWord::INVISIBLE;
        match number.checked_sub(1) {
            // SGIs and PPIs: banked, all of them visible to an existing vCPU.
            None if !view.private => HIDDEN,
            None if view.vcpu < self.vcpu_count => RegisterWord { line_word: view.vcpu, shown: u32::MAX, visible: u32::MAX },
            None => INVISIBLE,
            // SPIs: the owned ones of the emulated range are visible.
            Some(_) if !view.shared => HIDDEN,
            Some(spi_word) => match usize::try_from(spi_word) {
                Ok(spi_word) if spi_word < SPI_WORDS => {
                    RegisterWord { line_word: FIRST_SPI_WORD + spi_word, shown: u32::MAX, visible: self.owned.word(spi_word) }
                }
                _ => INVISIBLE,
            },
        }
    }

    /// Resolves `intid` in `view`.
    fn lookup(&self, view: View, intid: u32) -> Lookup {
        self.register_word(view, intid / u32::BITS).lookup(intid % u32::BITS)
    }

    /// The register words holding the `bytes` INTIDs from `first_intid`, one
    /// byte lane each (at most eight, so at most two words).
    fn byte_span(&self, view: View, first_intid: u32, bytes: u64) -> ByteSpan {
        let number = first_intid / u32::BITS;
        let first_bit = first_intid % u32::BITS;
        let lanes = bytes.min(8);
        let first = self.register_word(view, number);
        let second = if u64::from(first_bit) + lanes > u64::from(u32::BITS) {
            // INTIDs past u32::MAX do not exist: their lanes are ignored.
            number.checked_add(1).map_or(RegisterWord::HIDDEN, |next| self.register_word(view, next))
        } else {
            first
        };
        ByteSpan { first_bit, lanes, words: [first, second] }
    }

    /// Reads register word `number` of `register` (INTIDs `32 × number`
    /// onwards): one masked word of the line bit sets.
    pub(crate) fn read_bits(&self, view: View, register: BitRegister, number: u32) -> u32 {
        let word = self.register_word(view, number);
        let state = match register {
            BitRegister::Group if self.version == GicVersion::V3 => u32::MAX,
            BitRegister::Group => 0,
            BitRegister::SetEnable | BitRegister::ClearEnable => self.flag_word(Flag::Enabled, word.line_word),
            BitRegister::SetPending | BitRegister::ClearPending => self.pending_word(word.line_word),
            BitRegister::SetActive | BitRegister::ClearActive => self.active_word(word.line_word),
        };
        state & word.visible
    }

    /// Writes `value` to register word `number` of `register`. Returns
    /// whether a set bit named an invisible interrupt.
    pub(crate) fn write_bits(&mut self, view: View, register: BitRegister, number: u32, value: u32, effects: &mut Effects) -> bool {
        if register == BitRegister::Group {
            return false;
        }
        let word = self.register_word(view, number);
        let ignored = value & word.shown & !word.visible != 0;
        let mut targets = value & word.visible;
        // GICv2 SGIs: the set / clear-pending bits are read-only; their
        // pending state belongs to GICD_SPENDSGIR / GICD_CPENDSGIR (IHI 0048B
        // §4.3.7, §4.3.8).
        if self.version == GicVersion::V2 && number == 0 && matches!(register, BitRegister::SetPending | BitRegister::ClearPending) {
            targets &= !SGI_BITS;
        }
        match register {
            BitRegister::Group => {}
            BitRegister::SetEnable => self.set_enabled_word(word.line_word, targets, true, effects),
            BitRegister::ClearEnable => {
                self.set_enabled_word(word.line_word, targets, false, effects);
            }
            BitRegister::SetPending | BitRegister::ClearPending | BitRegister::SetActive | BitRegister::ClearActive => {
                for bit in set_bits(targets) {
                    let slot = Slot::from_bit(word.line_word, bit);
                    match register {
                        BitRegister::SetPending => self.set_pending(slot, effects),
                        BitRegister::ClearPending => self.clear_pending(slot, effects),
                        BitRegister::SetActive => self.set_active(slot, effects),
                        _ => self.clear_active(slot, effects),
                    }
                }
            }
        }
        ignored
    }

    /// Reads `bytes` priority bytes starting at `first_intid`
    /// (IPRIORITYR, one byte per INTID).
    pub(crate) fn read_priorities(&self, view: View, first_intid: u32, bytes: u64) -> u64 {
        self.read_bytes(view, first_intid, bytes, |gic, slot| gic.priority(slot))
    }

    /// Writes `bytes` priority bytes starting at `first_intid`. Returns
    /// whether one named an invisible interrupt.
    pub(crate) fn write_priorities(&mut self, view: View, first_intid: u32, bytes: u64, value: u64, effects: &mut Effects) -> bool {
        let span = self.byte_span(view, first_intid, bytes);
        let mut ignored = false;
        for lane in 0..span.lanes {
            match span.lookup(lane) {
                Lookup::Hidden => {}
                Lookup::Invisible => ignored = true,
                Lookup::Found(slot) => self.set_priority(slot, byte_lane(value, lane), effects),
            }
        }
        ignored
    }

    /// Reads `bytes` GICv2 CPU targets bytes starting at `first_intid`
    /// (IHI 0048B §4.3.12): for SGIs and PPIs the accessing vCPU's own bit,
    /// read-only; for SPIs the stored targets.
    pub(crate) fn read_targets(&self, view: View, first_intid: u32, bytes: u64) -> u64 {
        self.read_bytes(view, first_intid, bytes, |gic, slot| match slot.spi_index() {
            Some(index) => gic.routes.get(index).map_or(0, |targets| targets.to_le_bytes()[0]),
            None => vcpu_bit(view.vcpu),
        })
    }

    /// Writes `bytes` CPU targets bytes starting at `first_intid`. Bits for
    /// vCPUs this personality does not have read as zero. Returns whether one
    /// named an invisible interrupt.
    pub(crate) fn write_targets(&mut self, view: View, first_intid: u32, bytes: u64, value: u64, effects: &mut Effects) -> bool {
        let mut ignored = false;
        for lane in 0..bytes {
            let Some(intid) = nth(first_intid, lane) else {
                break;
            };
            let targets = byte_lane(value, lane) & self.existing_vcpus();
            match self.lookup(view, intid) {
                Lookup::Hidden => {}
                Lookup::Invisible => ignored = true,
                Lookup::Found(slot) => {
                    if let Some(index) = slot.spi_index() {
                        self.set_route(index, u64::from(targets), effects);
                    }
                }
            }
        }
        ignored
    }

    /// Reads the 16 two-bit configuration fields starting at `first_intid`
    /// (ICFGR): Int_config\[1\] = 1 for edge-triggered, Int_config\[0\]
    /// reserved and zero. SGIs always read as edge-triggered.
    pub(crate) fn read_configuration(&self, view: View, first_intid: u32) -> u32 {
        let mut value = 0;
        for field in 0..16u32 {
            let Some(intid) = nth(first_intid, u64::from(field)) else {
                break;
            };
            if let Lookup::Found(slot) = self.lookup(view, intid) {
                value |= u32::from(self.flag(slot, Flag::Edge)) << (2 * field + 1);
            }
        }
        value
    }

    /// Writes 16 configuration fields starting at `first_intid`; SGI fields
    /// are read-only. Returns whether one named an invisible interrupt.
    pub(crate) fn write_configuration(&mut self, view: View, first_intid: u32, value: u32) -> bool {
        let mut ignored = false;
        for field in 0..16u32 {
            let Some(intid) = nth(first_intid, u64::from(field)) else {
                break;
            };
            let edge = value & (1 << (2 * field + 1)) != 0;
            match self.lookup(view, intid) {
                Lookup::Hidden => {}
                Lookup::Invisible => ignored = true,
                Lookup::Found(_) if intid < SGI_COUNT => {}
                Lookup::Found(slot) => self.set_flag(slot, Flag::Edge, edge),
            }
        }
        ignored
    }

    /// Reads `bytes` one-byte fields starting at `first_intid` with `field`.
    fn read_bytes(&self, view: View, first_intid: u32, bytes: u64, field: impl Fn(&Self, Slot) -> u8) -> u64 {
        let span = self.byte_span(view, first_intid, bytes);
        let mut value = 0;
        for lane in 0..span.lanes {
            if let Lookup::Found(slot) = span.lookup(lane) {
                value |= u64::from(field(self, slot)) << (8 * lane);
            }
        }
        value
    }
}

/// Byte `lane` (0 = least significant) of `value`, zero beyond the eighth.
fn byte_lane(value: u64, lane: u64) -> u8 {
    usize::try_from(lane).ok().and_then(|lane| value.to_le_bytes().get(lane).copied()).unwrap_or(0)
}
