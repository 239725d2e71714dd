//! Restarting one vCPU or the whole personality.

use crate::effects::{Effects, PhysicalAction};
use crate::line::{Flag, Slot};
use crate::{GicVersion, MAX_LIST_REGISTERS, MAX_SPIS, MAX_VCPUS, PRIVATE_INTERRUPTS, SGI_COUNT, VirtualGic};

impl VirtualGic {
    /// Restarts vCPU `vcpu` (for example PSCI CPU_ON after CPU_OFF): its SGIs
    /// and PPIs return to their reset state, its redistributor to asleep
    /// (GICR_WAKER.ProcessorSleep = 1), and the list register shadow is
    /// dropped; the next [`VirtualGic::flush`] on its core writes every list
    /// register Invalid.
    ///
    /// SPIs it held in list registers are handed back: a pending one stays
    /// pending (it may be delivered once more if the guest had acknowledged it
    /// just before), an active one is no longer active, and its physical line,
    /// if it was active on the guest's behalf, is deactivated through the
    /// returned [`Effects`]. Hardware bindings stay. A `vcpu` this personality
    /// does not have is ignored.
    pub fn reset_vcpu(&mut self, vcpu: usize) -> Effects {
        let mut effects = Effects::default();
        if vcpu >= self.vcpu_count {
            return effects;
        }
        for index in 0..MAX_LIST_REGISTERS {
            let Some(entry) = self.shadow(vcpu, index) else {
                continue;
            };
            self.set_shadow(vcpu, index, None);
            let Some(slot) = self.slot_of(vcpu, entry.intid) else {
                continue;
            };
            self.set_flag(slot, Flag::Resident, false);
            self.set_flag(slot, Flag::PhysicalRefired, false);
            if slot.spi_index().is_none() {
                continue;
            }
            if entry.state.is_pending() && !self.take_flag(slot, Flag::CancelPending) {
                self.set_flag(slot, Flag::Pending, true);
            }
            self.set_flag(slot, Flag::CancelPending, false);
            self.set_flag(slot, Flag::CancelActive, false);
            self.set_flag(slot, Flag::Active, false);
            if entry.state.is_active() && entry.physical.is_some() {
                self.release_physical(slot, &mut effects);
            }
            if let Some(target) = self.target_vcpu(slot).filter(|target| *target != vcpu) {
                self.mark(target, &mut effects);
            }
        }
        for intid in 0..PRIVATE_INTERRUPTS {
            if let Some(slot) = self.locate(vcpu, intid) {
                self.release_physical(slot, &mut effects);
            }
        }
        self.reset_private_lines(vcpu);
        if let Some(state) = self.vcpus.get_mut(vcpu) {
            *state = crate::state::VcpuState::RESET;
        }
        effects
    }

    /// Restarts the whole personality: every vCPU as with
    /// [`VirtualGic::reset_vcpu`], the distributor disabled, every SPI back to
    /// its reset state (disabled, idle, priority 0, level-sensitive, routed to
    /// vCPU 0). Ownership, hardware bindings and the counters stay.
    ///
    /// The returned [`Effects`] disable and deactivate the hardware-backed
    /// lines and reset their priority and routing; there are usually more
    /// than [`crate::PhysicalActions::CAPACITY`], so expect
    /// [`crate::PhysicalActions::overflowed`] and resynchronize from
    /// [`VirtualGic::hardware_mirrors`].
    pub fn reset(&mut self) -> Effects {
        let mut effects = Effects::default();
        for vcpu in 0..self.vcpu_count {
            let vcpu_effects = self.reset_vcpu(vcpu);
            for action in vcpu_effects.physical.iter() {
                effects.physical.push(action);
            }
            if vcpu_effects.physical.overflowed() {
                effects.physical.push_overflow();
            }
        }
        self.distributor_enabled = false;
        for index in 0..MAX_SPIS {
            let Some(slot) = self.locate_spi(index) else {
                continue;
            };
            let before = (self.flag(slot, Flag::Enabled), self.priority(slot), self.routed_vcpu(index));
            self.release_physical(slot, &mut effects);
            self.reset_shared_line(index);
            if let Some(physical) = self.hardware(slot) {
                if before.0 {
                    effects.physical.push(PhysicalAction::Disable(physical));
                }
                if before.1 != 0 {
                    effects.physical.push(PhysicalAction::SetPriority(physical, 0));
                }
                if before.2 != Some(0) {
                    effects.physical.push(PhysicalAction::Route(physical, 0));
                }
            }
        }
        effects
    }

    /// Puts every line of `vcpu` (private lines) back to its reset state.
    /// Hardware bindings stay.
    pub(crate) fn reset_private_lines(&mut self, vcpu: usize) {
        for intid in 0..PRIVATE_INTERRUPTS {
            let slot = Slot::private(vcpu, intid);
            self.reset_line(slot);
            self.set_flag(slot, Flag::Edge, intid < SGI_COUNT);
        }
    }

    /// Puts SPI number `index` back to its reset state: disabled, idle,
    /// priority 0, level-sensitive, routed to vCPU 0. The binding stays.
    pub(crate) fn reset_shared_line(&mut self, index: usize) {
        self.reset_line(Slot::shared(index));
        let route = match self.version {
            GicVersion::V3 => 0,
            GicVersion::V2 => 1,
        };
        self.store_route(index, route);
    }

    /// Clears every flag and the priority of `slot`.
    fn reset_line(&mut self, slot: Slot) {
        for bits in &mut self.flags {
            bits.assign(slot.line(), false);
        }
        if let Some(priority) = self.priority.get_mut(slot.line()) {
            *priority = 0;
        }
    }

    /// Every line to its reset state (used by `new`).
    pub(crate) fn reset_all_lines(&mut self) {
        for vcpu in 0..MAX_VCPUS {
            self.reset_private_lines(vcpu);
        }
        for index in 0..MAX_SPIS {
            self.reset_shared_line(index);
        }
    }

    /// The line of SPI number `index` if this personality owns it.
    fn locate_spi(&self, index: usize) -> Option<Slot> {
        let intid = u32::try_from(index).ok()?.checked_add(crate::FIRST_SPI)?;
        self.locate(0, intid)
    }
}
