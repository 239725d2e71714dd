//! Operations that change an interrupt's state: the guest's distributor and
//! redistributor writes, and injections by the hypervisor.
//!
//! Every operation marks the vCPUs that may have to act on the change (the
//! one the interrupt is delivered to, and the one whose list register holds
//! it) and records [`PhysicalAction`]s for hardware-backed SPIs.

use crate::bitmap::set_bits;
use crate::effects::{Effects, PhysicalAction};
use crate::line::{Flag, Slot};
use crate::state::PRIORITY_MASK;
use crate::{MAX_SPIS, SGI_COUNT, VgicError, VirtualGic};

/// The state of a hardware-backed SPI that the physical line should mirror,
/// for resynchronizing after [`crate::PhysicalActions::overflowed`] or a reset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HardwareMirror {
    /// Virtual INTID.
    pub intid: u32,
    /// Physical INTID behind it.
    pub physical_intid: u32,
    /// Whether the guest enabled it.
    pub enabled: bool,
    /// Its priority (upper five bits).
    pub priority: u8,
    /// The vCPU it is routed to, `None` if the guest routed it nowhere.
    pub vcpu: Option<usize>,
    /// Whether the physical line is active on the guest's behalf. When
    /// `false`, deactivating the physical line is safe.
    pub physical_active: bool,
}

impl VirtualGic {
    /// Marks `vcpu` as needing a flush and adds it to `effects`.
    pub(crate) fn mark(&mut self, vcpu: usize, effects: &mut Effects) {
        if let Some(state) = self.vcpus.get_mut(vcpu) {
            state.dirty = true;
            effects.refresh(vcpu);
        }
    }

    /// Marks every vCPU that may have to act on a change to `slot`: the one it
    /// is delivered to and the one whose list register holds it.
    fn touch(&mut self, slot: Slot, effects: &mut Effects) {
        if let Some(vcpu) = self.target_vcpu(slot) {
            self.mark(vcpu, effects);
        }
        if let Some((vcpu, _)) = self.residence(slot) {
            self.mark(vcpu, effects);
        }
    }

    /// Pushes a physical action for `slot` if it is a hardware-backed SPI.
    fn mirror(&self, slot: Slot, effects: &mut Effects, action: impl FnOnce(u32) -> PhysicalAction) {
        if slot.spi_index().is_some()
            && let Some(physical) = self.hardware(slot)
        {
            effects.physical.push(action(physical));
        }
    }

    /// Makes `slot` pending (GICD_ISPENDR, an SGI, or an injection).
    pub(crate) fn set_pending(&mut self, slot: Slot, effects: &mut Effects) {
        self.set_flag(slot, Flag::Pending, true);
        self.touch(slot, effects);
    }

    /// Clears the pending state of `slot` (GICD_ICPENDR).
    pub(crate) fn clear_pending(&mut self, slot: Slot, effects: &mut Effects) {
        if !self.is_pending(slot) {
            return;
        }
        self.set_flag(slot, Flag::Pending, false);
        let entry = self.shadow_entry(slot);
        if entry.is_some_and(|entry| entry.state.is_pending()) {
            self.set_flag(slot, Flag::CancelPending, true);
        }
        // The pending instance of a physical interrupt is gone: unless a list
        // register holds it active, nothing will deactivate the line.
        if self.flag(slot, Flag::PhysicalActive) && !self.hardware_active_in_register(slot) {
            self.release_physical(slot, effects);
        }
        self.touch(slot, effects);
    }

    /// Makes `slot` active (GICD_ISACTIVER). The flag is set even if the
    /// shadow says active: the guest may have deactivated it since, and the
    /// next flush merges the two.
    pub(crate) fn set_active(&mut self, slot: Slot, effects: &mut Effects) {
        if self.flag(slot, Flag::Active) {
            return;
        }
        self.set_flag(slot, Flag::Active, true);
        self.touch(slot, effects);
    }

    /// Clears the active state of `slot` (GICD_ICACTIVER).
    pub(crate) fn clear_active(&mut self, slot: Slot, effects: &mut Effects) {
        if !self.is_active(slot) {
            return;
        }
        self.set_flag(slot, Flag::Active, false);
        let entry = self.shadow_entry(slot);
        if entry.is_some_and(|entry| entry.state.is_active()) {
            self.set_flag(slot, Flag::CancelActive, true);
            // The guest deactivated the physical instance through the
            // distributor rather than through the list register.
            if self.hardware_active_in_register(slot) {
                self.release_physical(slot, effects);
            }
        }
        self.touch(slot, effects);
    }

    /// Whether the active instance in `slot`'s list register is the physical
    /// one: written with HW = 1, last seen active, and not completed since (a
    /// line that fired again proves it was).
    fn hardware_active_in_register(&self, slot: Slot) -> bool {
        self.shadow_entry(slot).is_some_and(|entry| entry.physical.is_some() && entry.state.is_active()) && !self.flag(slot, Flag::PhysicalRefired)
    }

    /// Deactivates the physical line of `slot` on the guest's behalf: no list
    /// register will do it any more.
    pub(crate) fn release_physical(&mut self, slot: Slot, effects: &mut Effects) {
        if !self.take_flag(slot, Flag::PhysicalActive) {
            return;
        }
        self.set_flag(slot, Flag::PhysicalRefired, false);
        if let Some(entry) = self.shadow_entry_mut(slot) {
            entry.physical = None;
        }
        if let Some(physical) = self.hardware(slot) {
            match slot.private_vcpu() {
                Some(vcpu) => effects.physical.push(PhysicalAction::DeactivatePrivate(vcpu, physical)),
                None => effects.physical.push(PhysicalAction::Deactivate(physical)),
            }
        }
    }

    /// Enables or disables the lines `bits` of word `word` of the line bit
    /// sets (GICD_ISENABLER / GICD_ICENABLER), lowest first. Only lines whose
    /// enable changes mirror it, and only those with some state wake a vCPU.
    pub(crate) fn set_enabled_word(&mut self, word: usize, bits: u32, enabled: bool, effects: &mut Effects) {
        let current = self.flag_word(Flag::Enabled, word);
        let changed = bits & if enabled { !current } else { current };
        if changed == 0 {
            return;
        }
        // Enabling one line does not change whether another is interesting.
        let interesting = self.pending_word(word) | self.active_word(word) | self.flag_word(Flag::Resident, word);
        for bit in set_bits(changed) {
            let slot = Slot::from_bit(word, bit);
            self.set_flag(slot, Flag::Enabled, enabled);
            self.mirror(slot, effects, |physical| if enabled { PhysicalAction::Enable(physical) } else { PhysicalAction::Disable(physical) });
            if interesting & (1 << bit) != 0 {
                self.touch(slot, effects);
            }
        }
    }

    /// Sets the priority of `slot`, keeping its upper five bits
    /// (GICD_IPRIORITYR).
    pub(crate) fn set_priority(&mut self, slot: Slot, value: u8, effects: &mut Effects) {
        let value = value & PRIORITY_MASK;
        let Some(stored) = self.priority.get_mut(slot.line()) else {
            return;
        };
        if *stored == value {
            return;
        }
        *stored = value;
        self.mirror(slot, effects, |physical| PhysicalAction::SetPriority(physical, value));
        if self.is_interesting(slot) {
            self.touch(slot, effects);
        }
    }

    /// Routes SPI number `index` with a new GICD_IROUTER value (GICv3) or
    /// CPU targets byte (GICv2).
    pub(crate) fn set_route(&mut self, index: usize, raw: u64, effects: &mut Effects) {
        let slot = Slot::shared(index);
        let before = self.routed_vcpu(index);
        if index >= self.routes.len() {
            return;
        }
        self.store_route(index, raw);
        let after = self.routed_vcpu(index);
        if before == after {
            return;
        }
        if let Some(vcpu) = after {
            self.mirror(slot, effects, |physical| PhysicalAction::Route(physical, vcpu));
        }
        if self.is_interesting(slot) {
            if let Some(vcpu) = before {
                self.mark(vcpu, effects);
            }
            self.touch(slot, effects);
        }
    }

    /// Injects an edge on interrupt `intid` of `vcpu` (the vCPU only matters
    /// for SGIs and PPIs): it becomes pending. Returns the vCPU to kick, the
    /// one it is delivered to: `vcpu` for an SGI or PPI, the routed vCPU for an
    /// SPI. `None` if the interrupt is not visible to this personality (nothing
    /// happens) or is an SPI routed to no existing vCPU (it stays pending).
    ///
    /// There is no line level: a level-sensitive interrupt is latched pending
    /// like an edge, and the guest clears it by acknowledging it.
    pub fn inject(&mut self, vcpu: usize, intid: u32) -> Option<usize> {
        let slot = self.locate(vcpu, intid)?;
        let mut effects = Effects::default();
        self.set_pending(slot, &mut effects);
        self.target_vcpu(slot)
    }

    /// Injects interrupt `intid` of `vcpu` on behalf of physical interrupt
    /// `physical_intid`, which the hypervisor acknowledged and left active
    /// (priority dropped, not deactivated: ICC_CTLR_EL1.EOImode = 1). The
    /// interrupt becomes hardware-backed: its list register gets HW = 1 and
    /// pINTID = `physical_intid`, and the guest's deactivation deactivates the
    /// physical line.
    ///
    /// Returns as [`VirtualGic::inject`]. `None` (and nothing happens) also for
    /// SGIs and for a physical INTID outside 16..1020; the caller then
    /// deactivates the physical line itself.
    pub fn inject_hardware(&mut self, vcpu: usize, intid: u32, physical_intid: u32) -> Option<usize> {
        if intid < SGI_COUNT || !is_valid_physical(physical_intid) {
            return None;
        }
        let slot = self.locate(vcpu, intid)?;
        self.set_hardware(slot, Some(physical_intid));
        // The line only fires again once deactivated, so an earlier hardware
        // instance still shown in a list register has completed.
        if self.shadow_entry(slot).is_some_and(|entry| entry.physical.is_some()) {
            self.set_flag(slot, Flag::PhysicalRefired, true);
        }
        self.set_flag(slot, Flag::PhysicalActive, true);
        let mut effects = Effects::default();
        self.set_pending(slot, &mut effects);
        self.target_vcpu(slot)
    }

    /// Declares interrupt `intid` of `vcpu` backed by physical interrupt
    /// `physical_intid` (or no longer backed, with `None`) before it ever
    /// fires, so that the guest's enable, priority and routing changes are
    /// mirrored as [`PhysicalAction`]s from the start.
    ///
    /// # Errors
    ///
    /// [`VgicError::NotVisible`] if the interrupt is an SGI or not visible to
    /// this personality, [`VgicError::InvalidPhysicalIntid`] for a physical
    /// INTID outside 16..1020.
    pub fn bind_hardware(&mut self, vcpu: usize, intid: u32, physical_intid: Option<u32>) -> Result<(), VgicError> {
        let slot = self.locate(vcpu, intid).filter(|_| intid >= SGI_COUNT).ok_or(VgicError::NotVisible { intid })?;
        if let Some(physical) = physical_intid
            && !is_valid_physical(physical)
        {
            return Err(VgicError::InvalidPhysicalIntid { physical_intid: physical });
        }
        self.set_hardware(slot, physical_intid);
        Ok(())
    }

    /// The guest-visible state of every hardware-backed SPI, for the
    /// hypervisor to copy onto the physical lines.
    pub fn hardware_mirrors(&self) -> impl Iterator<Item = HardwareMirror> + '_ {
        (0..MAX_SPIS).filter_map(move |index| {
            let slot = Slot::shared(index);
            let physical_intid = self.hardware(slot).filter(|_| self.owned.get(index))?;
            Some(HardwareMirror {
                intid: slot.intid(),
                physical_intid,
                enabled: self.flag(slot, Flag::Enabled),
                priority: self.priority(slot),
                vcpu: self.routed_vcpu(index),
                physical_active: self.flag(slot, Flag::PhysicalActive),
            })
        })
    }
}

/// Whether a physical INTID can back a virtual interrupt: a PPI or an SPI
/// (16..1020; 1020..1024 are special INTIDs).
pub(crate) fn is_valid_physical(physical_intid: u32) -> bool {
    (SGI_COUNT..1020).contains(&physical_intid)
}
