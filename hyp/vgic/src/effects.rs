//! What the hypervisor must do after the guest changed the virtual GIC.

use crate::MAX_VCPUS;

/// A change the guest made to a hardware-backed SPI (one bound with
/// [`crate::VirtualGic::bind_hardware`] or injected with
/// [`crate::VirtualGic::inject_hardware`]) that the hypervisor mirrors on the
/// physical line. Every INTID here is the *physical* one.
///
/// Apart from [`PhysicalAction::DeactivatePrivate`], only SPIs produce
/// actions: a hardware-backed PPI (such as the timer) is banked per core, and
/// the hypervisor configures it on the vCPU's own core.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PhysicalAction {
    /// The guest enabled the interrupt: set its bit in GICD_ISENABLER.
    Enable(u32),
    /// The guest disabled the interrupt: set its bit in GICD_ICENABLER.
    Disable(u32),
    /// The physical interrupt is active on behalf of the guest and no list
    /// register will deactivate it any more (the guest cleared the active or
    /// pending state through the distributor, or the vCPU was reset):
    /// deactivate it with `GICD_ICACTIVER<n>`. The line may already be
    /// inactive if the guest completed its list register just before (the
    /// model learns of that at the next flush); GICD_ICACTIVER ignores
    /// inactive interrupts.
    Deactivate(u32),
    /// As [`PhysicalAction::Deactivate`] for a hardware-backed PPI: deactivate
    /// physical PPI `.1` on the core vCPU `.0` is pinned to (its
    /// GICR_ICACTIVER0, or GICD_ICACTIVER0 from that core on GICv2).
    DeactivatePrivate(usize, u32),
    /// The guest changed the interrupt's priority (upper five bits kept).
    SetPriority(u32, u8),
    /// The guest routed the interrupt to another vCPU: route the physical line
    /// to the core that vCPU is pinned to.
    Route(u32, usize),
}

/// Up to [`PhysicalActions::CAPACITY`] physical actions, in the order they
/// were produced. `Copy`, unlike `heapless::Vec`, which has a `Drop` impl.
///
/// A single register write can touch up to 32 interrupts; if more actions
/// arise than fit, the extra ones are dropped and [`PhysicalActions::overflowed`]
/// is set: the hypervisor then resynchronizes every hardware-backed line from
/// [`crate::VirtualGic::hardware_mirrors`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PhysicalActions {
    actions: [Option<PhysicalAction>; Self::CAPACITY],
    overflowed: bool,
}

impl PhysicalActions {
    /// Most actions kept.
    pub const CAPACITY: usize = 4;

    /// Appends `action`, or records the overflow when full.
    pub(crate) fn push(&mut self, action: PhysicalAction) {
        match self.actions.iter_mut().find(|slot| slot.is_none()) {
            Some(slot) => *slot = Some(action),
            None => self.overflowed = true,
        }
    }

    /// Records that actions were lost without adding one.
    pub(crate) fn push_overflow(&mut self) {
        self.overflowed = true;
    }

    /// The recorded actions, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = PhysicalAction> + '_ {
        self.actions.iter().filter_map(|action| *action)
    }

    /// Number of recorded actions.
    #[must_use]
    pub fn len(&self) -> usize {
        self.iter().count()
    }

    /// Whether no action was recorded (and none was dropped).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0 && !self.overflowed
    }

    /// Whether some actions did not fit and the hypervisor must resynchronize
    /// all hardware-backed lines from [`crate::VirtualGic::hardware_mirrors`].
    #[must_use]
    pub fn overflowed(&self) -> bool {
        self.overflowed
    }
}

/// The consequences of a guest register write or SGI.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[must_use]
pub struct Effects {
    /// Bit `n` set: vCPU `n` may have a different set of deliverable
    /// interrupts. The hypervisor kicks it (an IPI to its core) so that it
    /// exits and calls [`crate::VirtualGic::flush`] before running on.
    pub vcpus_to_refresh: u8,
    /// Changes to mirror on hardware-backed lines.
    pub physical: PhysicalActions,
}

impl Effects {
    /// Adds vCPU `vcpu` to [`Effects::vcpus_to_refresh`]; indices at or above
    /// [`MAX_VCPUS`] are ignored.
    pub(crate) fn refresh(&mut self, vcpu: usize) {
        self.vcpus_to_refresh |= vcpu_bit(vcpu);
    }
}

/// The bit of vCPU `vcpu` in a vCPU mask, zero for indices at or above
/// [`MAX_VCPUS`].
pub(crate) fn vcpu_bit(vcpu: usize) -> u8 {
    if vcpu < MAX_VCPUS { 1 << vcpu } else { 0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_keep_order_and_report_overflow() {
        let mut actions = PhysicalActions::default();
        assert!(actions.is_empty());
        for intid in 0..4 {
            actions.push(PhysicalAction::Enable(intid));
        }
        assert!(!actions.overflowed());
        assert_eq!(actions.len(), 4);
        actions.push(PhysicalAction::Disable(9));
        assert!(actions.overflowed());
        let kept: Vec<_> = actions.iter().collect();
        assert_eq!(kept.first(), Some(&PhysicalAction::Enable(0)));
        assert_eq!(kept.len(), 4);
    }

    #[test]
    fn refresh_ignores_out_of_range_vcpus() {
        let mut effects = Effects::default();
        effects.refresh(3);
        effects.refresh(MAX_VCPUS);
        effects.refresh(usize::MAX);
        assert_eq!(effects.vcpus_to_refresh, 0b1000);
    }
}
