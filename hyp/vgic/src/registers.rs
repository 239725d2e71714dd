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
use crate::line::{Flag, Slot};
use crate::{GicVersion, PRIVATE_INTERRUPTS, SGI_COUNT, VirtualGic};

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
enum Lookup {
    /// A visible interrupt.
    Found(Slot),
    /// Not shown by this frame by architecture (for example SGIs in the GICv3
    /// distributor with affinity routing): RAZ/WI, not counted.
    Hidden,
    /// Not visible to this personality: RAZ/WI, writes counted.
    Invisible,
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
    /// Resolves `intid` in `view`.
    fn lookup(&self, view: View, intid: u32) -> Lookup {
        let shown = if intid < PRIVATE_INTERRUPTS {
            view.private
        } else {
            view.shared
        };
        if !shown {
            return Lookup::Hidden;
        }
        match self.locate(view.vcpu, intid) {
            Some(slot) => Lookup::Found(slot),
            None => Lookup::Invisible,
        }
    }

    /// Reads 32 bits of `register` starting at `first_intid`.
    pub(crate) fn read_bits(&self, view: View, register: BitRegister, first_intid: u32) -> u32 {
        let mut value = 0;
        for bit in 0..u32::BITS {
            let Some(intid) = nth(first_intid, u64::from(bit)) else {
                break;
            };
            let Lookup::Found(slot) = self.lookup(view, intid) else {
                continue;
            };
            let set = match register {
                BitRegister::Group => self.version == GicVersion::V3,
                BitRegister::SetEnable | BitRegister::ClearEnable => self.flag(slot, Flag::Enabled),
                BitRegister::SetPending | BitRegister::ClearPending => self.is_pending(slot),
                BitRegister::SetActive | BitRegister::ClearActive => self.is_active(slot),
            };
            value |= u32::from(set) << bit;
        }
        value
    }

    /// Writes `value` to 32 bits of `register` starting at `first_intid`.
    /// Returns whether a set bit named an invisible interrupt.
    pub(crate) fn write_bits(
        &mut self,
        view: View,
        register: BitRegister,
        first_intid: u32,
        value: u32,
        effects: &mut Effects,
    ) -> bool {
        if register == BitRegister::Group {
            return false;
        }
        let mut ignored = false;
        for bit in set_bits(value) {
            let Some(intid) = nth(first_intid, bit as u64) else {
                break;
            };
            match self.lookup(view, intid) {
                Lookup::Hidden => {}
                Lookup::Invisible => ignored = true,
                Lookup::Found(slot) => self.write_bit(register, slot, effects),
            }
        }
        ignored
    }

    /// Applies a 1 written to `register` for `slot`.
    fn write_bit(&mut self, register: BitRegister, slot: Slot, effects: &mut Effects) {
        // GICv2 SGIs: the set / clear-pending bits are read-only; their
        // pending state belongs to GICD_SPENDSGIR / GICD_CPENDSGIR (IHI 0048B
        // §4.3.7, §4.3.8).
        let sgi_pending_read_only = self.version == GicVersion::V2 && slot.intid() < SGI_COUNT;
        match register {
            BitRegister::Group => {}
            BitRegister::SetEnable => self.set_enabled(slot, true, effects),
            BitRegister::ClearEnable => self.set_enabled(slot, false, effects),
            BitRegister::SetPending if !sgi_pending_read_only => self.set_pending(slot, effects),
            BitRegister::ClearPending if !sgi_pending_read_only => {
                self.clear_pending(slot, effects);
            }
            BitRegister::SetPending | BitRegister::ClearPending => {}
            BitRegister::SetActive => self.set_active(slot, effects),
            BitRegister::ClearActive => self.clear_active(slot, effects),
        }
    }

    /// Reads `bytes` priority bytes starting at `first_intid`
    /// (IPRIORITYR, one byte per INTID).
    pub(crate) fn read_priorities(&self, view: View, first_intid: u32, bytes: u64) -> u64 {
        self.read_bytes(view, first_intid, bytes, |gic, slot| gic.priority(slot))
    }

    /// Writes `bytes` priority bytes starting at `first_intid`. Returns
    /// whether one named an invisible interrupt.
    pub(crate) fn write_priorities(
        &mut self,
        view: View,
        first_intid: u32,
        bytes: u64,
        value: u64,
        effects: &mut Effects,
    ) -> bool {
        let mut ignored = false;
        for lane in 0..bytes {
            let Some(intid) = nth(first_intid, lane) else {
                break;
            };
            let byte = byte_lane(value, lane);
            match self.lookup(view, intid) {
                Lookup::Hidden => {}
                Lookup::Invisible => ignored = true,
                Lookup::Found(slot) => self.set_priority(slot, byte, effects),
            }
        }
        ignored
    }

    /// Reads `bytes` GICv2 CPU targets bytes starting at `first_intid`
    /// (IHI 0048B §4.3.12): for SGIs and PPIs the accessing vCPU's own bit,
    /// read-only; for SPIs the stored targets.
    pub(crate) fn read_targets(&self, view: View, first_intid: u32, bytes: u64) -> u64 {
        self.read_bytes(view, first_intid, bytes, |gic, slot| {
            match slot.spi_index() {
                Some(index) => gic
                    .routes
                    .get(index)
                    .map_or(0, |targets| targets.to_le_bytes()[0]),
                None => vcpu_bit(view.vcpu),
            }
        })
    }

    /// Writes `bytes` CPU targets bytes starting at `first_intid`. Bits for
    /// vCPUs this personality does not have read as zero. Returns whether one
    /// named an invisible interrupt.
    pub(crate) fn write_targets(
        &mut self,
        view: View,
        first_intid: u32,
        bytes: u64,
        value: u64,
        effects: &mut Effects,
    ) -> bool {
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
    fn read_bytes(
        &self,
        view: View,
        first_intid: u32,
        bytes: u64,
        field: impl Fn(&Self, Slot) -> u8,
    ) -> u64 {
        let mut value = 0;
        for lane in 0..bytes.min(8) {
            let Some(intid) = nth(first_intid, lane) else {
                break;
            };
            if let Lookup::Found(slot) = self.lookup(view, intid) {
                value |= u64::from(field(self, slot)) << (8 * lane);
            }
        }
        value
    }
}

/// Byte `lane` (0 = least significant) of `value`, zero beyond the eighth.
fn byte_lane(value: u64, lane: u64) -> u8 {
    usize::try_from(lane)
        .ok()
        .and_then(|lane| value.to_le_bytes().get(lane).copied())
        .unwrap_or(0)
}
