//! The direct path for the commonest interrupt of all: a hardware-backed PPI
//! (the guest's timer, forwarded with the list register HW bit) firing again
//! after the guest completed its previous instance.
//!
//! [`VirtualGic::inject_hardware_and_flush`] is [`VirtualGic::inject_hardware`]
//! followed by [`VirtualGic::flush`], and always arrives at exactly the same
//! model state, list register contents and [`FlushOutcome`] (the property
//! tests run both on copies of the same state and compare). When the state
//! before is the quiet one, where the general flush reduces to "fold the
//! completed entry back, put the line back in list register 0", it does that
//! directly: a few checks, one or two list register accesses and a handful of
//! word updates instead of a synchronize, a candidate search and a placement.
//!
//! The quiet state, for vCPU `v` and PPI line `L`:
//!
//! - `v` is clean: nothing that may change its list registers happened since
//!   its last flush (`dirty`), that flush left nothing waiting for a list
//!   register (`waiting`), and no list register reset is due. A clean vCPU
//!   has no candidates at all (every operation that may create one marks its
//!   target dirty; the invariant tests check this), so after the injection
//!   `L` is the only one;
//! - the distributor and `L` are enabled, and `L` is neither pending nor
//!   active in software;
//! - either no list register of `v` is in use and `L` is not resident, or the
//!   only one in use holds `L` with HW = 1 (state Pending or Active in the
//!   shadow) and now reads Invalid: the guest completed it, deactivating the
//!   physical line, which has fired again since.
//!
//! Anything else takes the general path.
//!
//! The steadiest case, a periodic timer with nothing else going on, is
//! cheaper still: when list register 0 is the only one in use, holding the
//! line Pending with HW = 1 since the last flush, and every flag of the line
//! is what the injection and flush would leave, the model after the two calls
//! is the model before. Only list register 0 changes (Invalid, completed by
//! the guest, back to Pending), so the checks and that one write are all.

use crate::bitmap::index_bit;
use crate::flush::FlushOutcome;
use crate::line::{Flag, Slot};
use crate::list_registers::{ListRegister, ListRegisters, LrState};
use crate::state::{NO_BINDING, ShadowEntry};
use crate::{PRIVATE_INTERRUPTS, SGI_COUNT, VirtualGic};

impl VirtualGic {
    /// Writes list register 0 as `intid` Pending with HW = 1 and pINTID
    /// `physical_intid` (both direct paths end this way).
    #[inline(always)]
    fn write_hardware_pending(&self, lrs: &mut impl ListRegisters, slot: Slot, intid: u32, physical_intid: u32) {
        lrs.write(0, ListRegister { state: LrState::Pending, intid, priority: self.priority(slot), group1: self.group1(), hardware: Some(physical_intid) });
    }

    /// Injects PPI (or SPI) `intid` of `vcpu` on behalf of physical interrupt
    /// `physical_intid` as [`VirtualGic::inject_hardware`] does, then flushes
    /// `vcpu` with its list registers `lrs` as [`VirtualGic::flush`] does, and
    /// returns the flush outcome. Same results as the two calls, faster in
    /// the common case (see the module documentation).
    #[inline]
    pub fn inject_hardware_and_flush(&mut self, vcpu: usize, intid: u32, physical_intid: u32, lrs: &mut impl ListRegisters) -> FlushOutcome {
        if self.reinject_in_place(vcpu, intid, physical_intid, lrs) || self.inject_directly(vcpu, intid, physical_intid, lrs) {
            // The general path would find nothing waiting and nothing to
            // hand to another vCPU.
            return FlushOutcome::default();
        }
        self.inject_hardware_then_flush(vcpu, intid, physical_intid, lrs)
    }

    /// The general path, out of line so that the direct ones stay small.
    #[inline(never)]
    #[cold]
    fn inject_hardware_then_flush(&mut self, vcpu: usize, intid: u32, physical_intid: u32, lrs: &mut impl ListRegisters) -> FlushOutcome {
        let _ = self.inject_hardware(vcpu, intid, physical_intid);
        self.flush(vcpu, lrs)
    }

    /// The steady state (see the module documentation): returns false,
    /// having changed nothing, unless the model already is what injecting
    /// and flushing would make it, with the line in list register 0, which
    /// the guest has completed; then rewrites that register Pending and
    /// returns true. True means exactly what
    /// [`VirtualGic::inject_hardware_and_flush`] would have done, with
    /// the default [`FlushOutcome`]: nothing waits for a list register,
    /// now as after the previous flush, and no vCPU needs a kick. A
    /// hypervisor can try this first, on its own, on its interrupt path.
    ///
    /// It checks what can differ from that state: the vCPU is clean, its
    /// only list register in use is 0 and holds the line Pending with HW = 1
    /// for `physical_intid`, the line and the distributor are enabled, the
    /// line is bound to `physical_intid` and has not fired again while in
    /// the register (`PhysicalRefired`), and the register reads Invalid.
    /// The rest follows from the model's invariants, which the tests check
    /// after every operation (`tests::invariants::check_word_sets`):
    ///
    /// - the shadow entry says the line is resident in register 0 and listed
    ///   pending, not active (`store_shadow` keeps them in step), that `vcpu`
    ///   exists (only its flushes write its shadows) and that the INTID is
    ///   not an SGI (those are never hardware-backed);
    /// - a clean vCPU's flush has run since anything changed: it consumed
    ///   the line's software active state and cancellations, merged its
    ///   software pending state into the Pending entry, and wrote HW = 1
    ///   only with the physical line active for the guest; a list register
    ///   reset is never due on a clean vCPU.
    ///
    /// The checks are combined without branches where they can be: this is
    /// the interrupt path of every periodic timer tick.
    #[inline(always)]
    pub fn reinject_in_place(&mut self, vcpu: usize, intid: u32, physical_intid: u32, lrs: &mut impl ListRegisters) -> bool {
        let Some(state) = self.vcpus.get(vcpu) else {
            return false;
        };
        // Matching the state first also rules out an empty register (the
        // `Option` keeps its `None` in the state field).
        let Some(Some(ShadowEntry { intid: placed_intid, state: LrState::Pending, physical: Some(placed_physical) })) = state.shadow.first() else {
            return false;
        };
        let quiet = (state.occupied == 1) & !state.dirty & !state.waiting;
        let placed_here = (*placed_intid == intid) & (u32::from(placed_physical.get()) == physical_intid);
        if !(quiet & placed_here & (intid < PRIVATE_INTERRUPTS) & self.distributor_enabled) {
            return false;
        }
        let slot = Slot::private(vcpu, intid);
        let bit = index_bit(intid as usize);
        let enabled = self.flag_word(Flag::Enabled, vcpu) & !self.flag_word(Flag::PhysicalRefired, vcpu);
        let binding = self.hardware.get(slot.line()).copied().unwrap_or(NO_BINDING);
        if (enabled & bit == 0) | (u32::from(binding) != physical_intid) | (lrs.count() == 0) || lrs.read(0).state != LrState::Invalid {
            return false;
        }
        self.write_hardware_pending(lrs, slot, intid, physical_intid);
        true
    }

    /// The direct path: returns false, having changed nothing, unless the
    /// state is the quiet one; otherwise leaves exactly what
    /// `inject_hardware` and `flush` would.
    #[inline(never)]
    pub(crate) fn inject_directly(&mut self, vcpu: usize, intid: u32, physical_intid: u32, lrs: &mut impl ListRegisters) -> bool {
        if !(SGI_COUNT..PRIVATE_INTERRUPTS).contains(&intid)
            || !crate::interrupts::is_valid_physical(physical_intid)
            || vcpu >= self.vcpu_count
            || !self.distributor_enabled
        {
            return false;
        }
        let Some(state) = self.vcpus.get(vcpu) else {
            return false;
        };
        if state.dirty || state.waiting || state.clear_list_registers || lrs.count() == 0 {
            return false;
        }
        let occupied = state.occupied;
        let slot = Slot::private(vcpu, intid);
        // A private line's word is its vCPU's; its bit is its INTID's.
        let (word, bit) = (vcpu, index_bit(intid as usize));
        let flags = |flag: Flag| self.flag_word(flag, word) & bit != 0;
        if !flags(Flag::Enabled) || flags(Flag::Pending) || flags(Flag::Active) {
            return false;
        }
        // The list register the completed instance leaves, if it was not 0
        // and holds more than zeroes: written Invalid, as a flush would.
        let mut vacated = None;
        if occupied == 0 {
            if flags(Flag::Resident) {
                return false;
            }
        } else {
            // The single list register in use, which must hold this line's
            // completed hardware instance.
            if !occupied.is_power_of_two() {
                return false;
            }
            // trailing_zeros of a non-zero u32 is below 32.
            let index = occupied.trailing_zeros() as usize;
            let held = state.shadow.get(index).copied().flatten();
            if !held.is_some_and(|entry| entry.intid == intid && entry.physical.is_some()) || index >= lrs.count().min(crate::MAX_LIST_REGISTERS) {
                return false;
            }
            let read = lrs.read(index);
            if read.state != LrState::Invalid {
                return false;
            }
            if index != 0 && read != ListRegister::INVALID {
                vacated = Some(index);
            }
            // Folding the completed entry back: the refire that the
            // injection would note is consumed, and the entry's shadow goes.
            self.assign_flag_bits(Flag::PhysicalRefired, word, bit, false);
            if let Some(state) = self.vcpus.get_mut(vcpu)
                && let Some(shadow) = state.shadow.get_mut(index)
            {
                *shadow = None;
            }
        }

        // The injection binds the line and makes the physical instance
        // active for the guest; the placement puts it, Pending with HW = 1,
        // into list register 0 (the lowest free one).
        self.set_hardware(slot, Some(physical_intid));
        let entry = ShadowEntry::new(intid, LrState::Pending, Some(physical_intid));
        self.write_hardware_pending(lrs, slot, intid, physical_intid);
        if let Some(index) = vacated {
            lrs.write(index, ListRegister::INVALID);
        }
        self.set_residence(slot, vcpu, 0);
        for (flag, value) in
            [(Flag::CancelPending, false), (Flag::CancelActive, false), (Flag::PhysicalActive, true), (Flag::ListedPending, true), (Flag::ListedActive, false)]
        {
            self.assign_flag_bits(flag, word, bit, value);
        }
        if let Some(state) = self.vcpus.get_mut(vcpu)
            && let Some(shadow) = state.shadow.first_mut()
        {
            *shadow = Some(entry);
            state.occupied = 1;
        }
        true
    }
}
