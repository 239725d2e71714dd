//! Keeping a vCPU's list registers in step with the model.
//!
//! The guest acknowledges and completes interrupts in its list registers
//! without trapping (IHI 0069H chapter 6 "Virtual interrupt handling and
//! prioritization"; IHI 0048B chapter 5 "GIC Support for Virtualization"), so
//! before every guest entry [`VirtualGic::flush`]:
//!
//! 1. folds each occupied list register back into the model: Invalid means
//!    the guest completed it; changes the guest made through the distributor
//!    (clear pending / active, set active) and new pending edges are merged;
//!    a pending interrupt that may no longer be signalled (disabled,
//!    re-routed, distributor off) goes back to software;
//! 2. fills free list registers with the deliverable interrupts of the
//!    highest priority (lowest value, then lowest INTID);
//! 3. if some remain, evicts Pending entries of strictly lower priority than
//!    the best of them;
//! 4. reports whether interrupts still wait, so the hypervisor enables the
//!    underflow maintenance interrupt (ICH_HCR_EL2.UIE / GICH_HCR.UIE).
//!
//! Pending-and-active is never written with HW = 1 (the guest's deactivation
//! would deactivate the physical line while a pending instance remains), nor
//! when the new pending instance is a physical one and the active entry is
//! not; an entry already pending and active with HW = 0 gives its pending
//! part back to software when a physical instance arrives, so the two merge
//! there (a merge into the entry would leave nobody to deactivate the
//! physical line). Such a second instance stays in software and goes into a
//! list register at the first flush after the guest completes the first one; it
//! does not request a maintenance interrupt, which with the entry still
//! valid would fire at once and keep firing.

use crate::bitmap::{index_bit, set_bits};
use crate::candidates::Candidates;
use crate::effects::vcpu_bit;
use crate::line::{Flag, Slot};
use crate::list_registers::{ListRegister, ListRegisters, LrState};
use crate::state::ShadowEntry;
use crate::{GicVersion, MAX_LIST_REGISTERS, VirtualGic};

/// The result of [`VirtualGic::flush`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[must_use]
pub struct FlushOutcome {
    /// Deliverable interrupts are still waiting for a list register: enable
    /// the underflow maintenance interrupt (ICH_HCR_EL2.UIE / GICH_HCR.UIE)
    /// and flush again when it fires.
    pub needs_maintenance: bool,
    /// Other vCPUs to kick: an interrupt this vCPU released (completed, or
    /// re-routed while it sat in a list register) is now deliverable there.
    pub vcpus_to_refresh: u8,
}

impl VirtualGic {
    /// Synchronizes the list registers `lrs` of the current core, which runs
    /// `vcpu`, with the model (see the module documentation). Call it before
    /// every entry into the guest and after a maintenance interrupt.
    ///
    /// Returns at once when nothing changed for `vcpu` since the last flush
    /// and no list register is in use. Uses at most [`MAX_LIST_REGISTERS`]
    /// list registers. A `vcpu` this personality does not have is ignored.
    pub fn flush(&mut self, vcpu: usize, lrs: &mut impl ListRegisters) -> FlushOutcome {
        if vcpu >= self.vcpu_count {
            return FlushOutcome::default();
        }
        let Some(state) = self.vcpus.get_mut(vcpu) else {
            return FlushOutcome::default();
        };
        let occupied = state.occupied;
        if !state.dirty && !state.clear_list_registers && occupied == 0 {
            return FlushOutcome { needs_maintenance: state.waiting, vcpus_to_refresh: 0 };
        }
        let dirty = state.dirty;
        let count = lrs.count();
        if state.clear_list_registers {
            state.clear_list_registers = false;
            for index in 0..count {
                lrs.write(index, ListRegister::INVALID);
            }
        }
        let usable = count.min(MAX_LIST_REGISTERS);
        let mut others = 0;
        // List registers freed by step 1 that still hold stale contents:
        // written Invalid at the end unless step 2 refills them.
        let mut vacated = 0;
        let mut changed = false;
        // Synchronizing one entry never fills another, so the occupied
        // entries at the start are all there is to visit.
        for index in set_bits(occupied) {
            changed |= self.synchronize(vcpu, index, usable, lrs, &mut others, &mut vacated);
        }
        let waiting = if !dirty && !changed {
            self.vcpus.get(vcpu).is_some_and(|state| state.waiting)
        } else {
            let waiting = self.fill(vcpu, usable, lrs, &mut vacated);
            if let Some(state) = self.vcpus.get_mut(vcpu) {
                state.dirty = false;
                state.waiting = waiting;
            }
            waiting
        };
        for index in set_bits(vacated) {
            lrs.write(index, ListRegister::INVALID);
        }
        FlushOutcome { needs_maintenance: waiting, vcpus_to_refresh: others }
    }

    /// Step 1 for list register `index` of `vcpu`: folds its state into the
    /// model and rewrites it if needed. Returns whether the guest changed it
    /// since the last flush (freed, or no longer pending-and-active, which
    /// makes it evictable); adds to `others` the vCPUs that must now deliver
    /// what it released.
    ///
    /// Kept out of line, like [`VirtualGic::place`], so that the flush loop
    /// does not carry its register pressure.
    #[inline(never)]
    fn synchronize(&mut self, vcpu: usize, index: usize, usable: usize, lrs: &mut impl ListRegisters, others: &mut u8, vacated: &mut u32) -> bool {
        let Some(entry) = self.shadow(vcpu, index) else {
            return false;
        };
        let Some(slot) = self.slot_of(vcpu, entry.intid) else {
            self.set_shadow(vcpu, index, None);
            return true;
        };
        let read = (index < usable).then(|| lrs.read(index));
        // Invalid means completed, whatever the other fields hold.
        let observed = read.filter(|register| register.state == LrState::Invalid || register.intid == entry.intid).map(|register| register.state);
        let Some(observed) = observed else {
            // The register holds another interrupt (overwritten behind the
            // model's back) or is no longer implemented: give its last known
            // state back to software so that nothing is lost.
            if entry.state.is_pending() {
                self.set_flag(slot, Flag::Pending, true);
            }
            if entry.state.is_active() {
                self.set_flag(slot, Flag::Active, true);
            }
            self.release(vcpu, index, slot, read, others, vacated);
            return true;
        };

        let mut hardware = entry.hardware();
        if observed == LrState::Invalid && hardware.is_some() {
            // The guest completed the hardware instance: its deactivation
            // deactivated the physical line too, unless the line has fired
            // again since.
            hardware = None;
            if !self.take_flag(slot, Flag::PhysicalRefired) {
                self.set_flag(slot, Flag::PhysicalActive, false);
            }
        }
        if observed == LrState::Invalid && !self.flag(slot, Flag::Active) {
            // Completed, and not made active again through the distributor:
            // nothing of the entry remains (the steps below would arrive at
            // Invalid too), and release clears the pending cancellations.
            self.release(vcpu, index, slot, read, others, vacated);
            return true;
        }
        let mut pending = observed.is_pending();
        let mut active = observed.is_active();
        if self.take_flag(slot, Flag::CancelPending) {
            pending = false;
        }
        if self.take_flag(slot, Flag::CancelActive) {
            active = false;
        }
        if self.take_flag(slot, Flag::Active) {
            active = true;
        }
        if hardware.is_some() {
            let hardware_is_active = observed.is_active();
            if hardware_is_active && pending {
                // HW = 1 with pending and active is not allowed: the pending
                // instance waits in software.
                pending = false;
                self.set_flag(slot, Flag::Pending, true);
            }
            if !hardware_is_active && (active || !pending) {
                // The hardware instance was the pending part, and the entry
                // no longer holds it as Pending alone: it goes back to
                // software, still waiting for a register with HW = 1.
                if pending {
                    pending = false;
                    self.set_flag(slot, Flag::Pending, true);
                }
                hardware = None;
            }
            if !active && hardware_is_active {
                hardware = None;
            }
        }
        let may_signal = self.may_signal(slot, vcpu);
        if pending && !may_signal {
            pending = false;
            self.set_flag(slot, Flag::Pending, true);
        }
        if self.flag(slot, Flag::Pending) && may_signal {
            if pending && active && hardware.is_none() && self.flag(slot, Flag::PhysicalActive) {
                // A physical instance may not merge into a pending-and-active
                // entry with HW = 0: nothing would deactivate the physical
                // line. The entry's pending part goes back to software instead,
                // merged with it (one bit), and returns with HW = 1 once the
                // guest completed the active part.
                pending = false;
            } else if pending {
                // Pending is one bit: a second edge before acknowledgement
                // merges with the first.
                self.set_flag(slot, Flag::Pending, false);
            } else if active && hardware.is_none() && !self.flag(slot, Flag::PhysicalActive) {
                // Pending again while active: same register, PendingActive.
                pending = true;
                self.set_flag(slot, Flag::Pending, false);
            }
        }
        if pending && !active {
            hardware = self.active_hardware(slot);
        }

        let state = LrState::from_bits(pending, active);
        if state == LrState::Invalid {
            self.release(vcpu, index, slot, read, others, vacated);
            return true;
        }
        let desired = ListRegister { state, intid: entry.intid, priority: self.priority(slot), group1: self.group1(), hardware };
        if read != Some(desired) {
            lrs.write(index, desired);
        }
        self.store_shadow(vcpu, index, slot, Some(ShadowEntry::new(entry.intid, state, hardware)));
        observed != entry.state
    }

    /// Frees list register `index` of `vcpu`, which held `slot` and was read
    /// as `read`, and hands what remains of `slot` to the vCPU it is now
    /// delivered to. A register that does not read as all zeroes is added to
    /// `vacated`, to be written Invalid unless it is refilled.
    fn release(&mut self, vcpu: usize, index: usize, slot: Slot, read: Option<ListRegister>, others: &mut u8, vacated: &mut u32) {
        self.set_flag(slot, Flag::Resident, false);
        self.set_flag(slot, Flag::CancelPending, false);
        self.set_flag(slot, Flag::CancelActive, false);
        self.set_flag(slot, Flag::PhysicalRefired, false);
        self.store_shadow(vcpu, index, slot, None);
        if read.is_some_and(|register| register != ListRegister::INVALID) {
            *vacated |= index_bit(index);
        }
        let remains = self.flag(slot, Flag::Pending) || self.flag(slot, Flag::Active);
        if let Some(target) = self.target_vcpu(slot).filter(|target| *target != vcpu)
            && remains
        {
            if let Some(state) = self.vcpus.get_mut(target) {
                state.dirty = true;
            }
            *others |= vcpu_bit(target);
        }
    }

    /// Steps 2 and 3: gives list registers to the best candidates, evicting
    /// lower-priority Pending entries once all are in use. Returns whether
    /// candidates still wait (step 4). Registers it fills leave `vacated`.
    fn fill(&mut self, vcpu: usize, usable: usize, lrs: &mut impl ListRegisters, vacated: &mut u32) -> bool {
        let usable_mask = low_bits(usable);
        let mut candidates = Candidates::EMPTY;
        self.collect_candidates(vcpu, &mut candidates);
        // Each round places one interrupt; an eviction strictly lowers the
        // priority values held, so the loop ends. The bound is a safety net.
        let mut rounds = usable.saturating_mul(4).saturating_add(8);
        while rounds > 0 {
            rounds -= 1;
            let Some(best) = candidates.best(self) else {
                return false;
            };
            let occupied = self.vcpus.get(vcpu).map_or(u32::MAX, |state| state.occupied);
            let free = !occupied & usable_mask;
            let index = if free != 0 {
                // trailing_zeros of a non-zero u32 is below 32.
                free.trailing_zeros() as usize
            } else {
                let Some(index) = self.evict_for(vcpu, best, usable_mask) else {
                    return true;
                };
                index
            };
            self.place(vcpu, index, best, lrs);
            *vacated &= !index_bit(index);
            // Placing `best` changes no other line: it only leaves the set,
            // unless an eviction made the victim a candidate again.
            if free != 0 {
                candidates.remove(best);
            } else {
                self.collect_candidates(vcpu, &mut candidates);
            }
        }
        !candidates.is_empty()
    }

    /// Step 3: frees the list register (among `usable`) of the Pending entry
    /// of `vcpu` with the lowest priority if `best` has a strictly higher
    /// one, returning its index; its pending state goes back to software.
    ///
    /// Kept out of line: the fill loop rarely evicts.
    #[inline(never)]
    fn evict_for(&mut self, vcpu: usize, best: Slot, usable: u32) -> Option<usize> {
        let (index, victim) = self.worst_pending(vcpu, usable)?;
        if self.priority(best) >= self.priority(victim) {
            return None;
        }
        self.set_flag(victim, Flag::Pending, true);
        self.set_flag(victim, Flag::Resident, false);
        self.store_shadow(vcpu, index, victim, None);
        Some(index)
    }

    /// Writes candidate `slot` into free list register `index` of `vcpu`.
    ///
    /// Kept out of line: inlined, its address computations are hoisted out
    /// of the fill loop and cost more than the call on the common single
    /// placement.
    #[inline(never)]
    fn place(&mut self, vcpu: usize, index: usize, slot: Slot, lrs: &mut impl ListRegisters) {
        let active = self.take_flag(slot, Flag::Active);
        let pending = self.flag(slot, Flag::Pending) && self.may_signal(slot, vcpu);
        let (state, hardware) = if active {
            // An active interrupt goes in so the guest can deactivate it; a
            // pending physical instance waits for it to complete.
            let with_pending = pending && !self.flag(slot, Flag::PhysicalActive);
            (LrState::from_bits(with_pending, true), None)
        } else {
            (LrState::Pending, self.active_hardware(slot))
        };
        if state.is_pending() {
            self.set_flag(slot, Flag::Pending, false);
        }
        self.set_flag(slot, Flag::CancelPending, false);
        self.set_flag(slot, Flag::CancelActive, false);
        self.set_residence(slot, vcpu, index);
        let intid = slot.intid();
        lrs.write(index, ListRegister { state, intid, priority: self.priority(slot), group1: self.group1(), hardware });
        self.store_shadow(vcpu, index, slot, Some(ShadowEntry::new(intid, state, hardware)));
    }

    /// Among the list registers of `vcpu` in `usable` (a mask), the Pending
    /// (not active) one with the lowest priority (highest value, then
    /// highest INTID).
    fn worst_pending(&self, vcpu: usize, usable: u32) -> Option<(usize, Slot)> {
        let state = self.vcpus.get(vcpu)?;
        let mut worst: Option<(u8, u32, usize, Slot)> = None;
        for index in set_bits(state.occupied & usable) {
            let Some(entry) = state.shadow.get(index).copied().flatten() else {
                continue;
            };
            if entry.state != LrState::Pending {
                continue;
            }
            let Some(slot) = self.slot_of(vcpu, entry.intid) else {
                continue;
            };
            let key = (self.priority(slot), entry.intid);
            if worst.is_none_or(|(priority, intid, _, _)| key > (priority, intid)) {
                worst = Some((key.0, key.1, index, slot));
            }
        }
        worst.map(|(_, _, index, slot)| (index, slot))
    }

    /// The shadow of list register `index` of `vcpu`.
    pub(crate) fn shadow(&self, vcpu: usize, index: usize) -> Option<ShadowEntry> {
        *self.vcpus.get(vcpu)?.shadow.get(index)?
    }

    /// Replaces the shadow of list register `index` of `vcpu`, which holds
    /// `slot` or nothing, with `entry` for `slot` or nothing; as
    /// [`VirtualGic::set_shadow`] without looking up the lines.
    pub(crate) fn store_shadow(&mut self, vcpu: usize, index: usize, slot: Slot, entry: Option<ShadowEntry>) {
        let Some(state) = self.vcpus.get_mut(vcpu) else {
            return;
        };
        let Some(stored) = state.shadow.get_mut(index) else {
            return;
        };
        *stored = entry;
        let bit = index_bit(index);
        let (occupied, pending, active) = match entry {
            Some(entry) => (bit, entry.state.is_pending(), entry.state.is_active()),
            None => (0, false, false),
        };
        state.occupied = (state.occupied & !bit) | occupied;
        self.set_flag(slot, Flag::ListedPending, pending);
        self.set_flag(slot, Flag::ListedActive, active);
    }

    /// Replaces the shadow of list register `index` of `vcpu`, keeping the
    /// occupancy mask and the [`Flag::ListedPending`] / [`Flag::ListedActive`]
    /// sets in step with it.
    pub(crate) fn set_shadow(&mut self, vcpu: usize, index: usize, entry: Option<ShadowEntry>) {
        let Some(state) = self.vcpus.get_mut(vcpu) else {
            return;
        };
        let Some(stored) = state.shadow.get_mut(index) else {
            return;
        };
        let previous = core::mem::replace(stored, entry);
        let bit = index_bit(index);
        if entry.is_some() {
            state.occupied |= bit;
        } else {
            state.occupied &= !bit;
        }
        if let Some(previous) = previous
            && let Some(slot) = self.slot_of(vcpu, previous.intid)
        {
            self.set_flag(slot, Flag::ListedPending, false);
            self.set_flag(slot, Flag::ListedActive, false);
        }
        if let Some(entry) = entry
            && let Some(slot) = self.slot_of(vcpu, entry.intid)
        {
            self.set_flag(slot, Flag::ListedPending, entry.state.is_pending());
            self.set_flag(slot, Flag::ListedActive, entry.state.is_active());
        }
    }

    /// The list register Group bit: Group 1 for GICv3 (the guest enables it
    /// with ICC_IGRPEN1_EL1), Group 0 for GICv2, whose guests enable only
    /// GICV_CTLR.EnableGrp0 and get Group 0 as virtual IRQs while
    /// GICV_CTLR.FIQEn = 0 (IHI 0048B §5.3, GICH_LR and GICH_VMCR).
    pub(crate) fn group1(&self) -> bool {
        self.version == GicVersion::V3
    }
}

/// A mask of the low `count` bits (all 32 from 32 on).
fn low_bits(count: usize) -> u32 {
    match u32::try_from(count) {
        Ok(count) if count < u32::BITS => (1 << count) - 1,
        _ => u32::MAX,
    }
}
