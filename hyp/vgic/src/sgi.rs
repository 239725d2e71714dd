//! Software Generated Interrupts between the vCPUs of one personality.
//!
//! A guest names SGI targets by affinity (GICv3 ICC_SGI1R_EL1) or by CPU
//! interface number (GICv2 GICD_SGIR). Any target that is not one of this
//! personality's vCPUs is dropped and counted, never delivered: delivering to
//! an unchecked target index is how Xen's XSA-225 let a guest crash the host.

use tock_registers::LocalRegisterCopy;

use crate::VirtualGic;
use crate::effects::{Effects, vcpu_bit};
use crate::fields::{GICD_SGIR, ICC_SGI1R};

/// The result of sending an SGI.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[must_use]
pub struct SgiOutcome {
    /// vCPUs the SGI was made pending on, bit `n` for vCPU `n`: the
    /// hypervisor kicks them.
    pub delivered: u8,
    /// Targets named that are not vCPUs of this personality.
    pub dropped: u32,
}

impl VirtualGic {
    /// Sends the SGI described by a trapped write of `icc_sgi1r` to
    /// ICC_SGI1R_EL1 by vCPU `sender` (IHI 0069H chapter 12, ICC_SGI1R_EL1).
    ///
    /// vCPU `n` has affinity 0.0.0.`n`. With IRM = 1 the SGI goes to every
    /// other vCPU. Otherwise each TargetList bit `b` names Aff0 = RS × 16 + b
    /// in cluster Aff3.Aff2.Aff1; a target outside cluster 0.0.0 or beyond the
    /// last vCPU is dropped and counted in [`VirtualGic::dropped_sgis`]. A
    /// `sender` this personality does not have sends nothing and counts one
    /// drop.
    pub fn send_sgi_v3(&mut self, sender: usize, icc_sgi1r: u64) -> SgiOutcome {
        let register = LocalRegisterCopy::<u64, ICC_SGI1R::Register>::new(icc_sgi1r);
        // INTID is four bits wide.
        let intid = register.read(ICC_SGI1R::INTID) as u32;
        if sender >= self.vcpu_count {
            return self.finish_sgi(intid, 0, 1);
        }
        if register.is_set(ICC_SGI1R::IRM) {
            let targets = self.existing_vcpus() & !vcpu_bit(sender);
            return self.finish_sgi(intid, targets, 0);
        }
        // TARGET_LIST is 16 bits wide.
        let list = register.read(ICC_SGI1R::TARGET_LIST) as u16;
        let cluster = register.read(ICC_SGI1R::AFF1) | register.read(ICC_SGI1R::AFF2) | register.read(ICC_SGI1R::AFF3) | register.read(ICC_SGI1R::RS);
        if cluster != 0 {
            return self.finish_sgi(intid, 0, list.count_ones());
        }
        let (targets, dropped) = self.split_targets(u32::from(list));
        self.finish_sgi(intid, targets, dropped)
    }

    /// Sends the SGI described by a write of `gicd_sgir` to GICD_SGIR by vCPU
    /// `sender` (IHI 0048B §4.3.15). TargetListFilter 0 uses CPUTargetList,
    /// whose bits at or above the vCPU count are dropped and counted; 1 sends
    /// to every other vCPU; 2 to the sender only; 3 is reserved and sends
    /// nothing. NSATT is ignored.
    pub fn send_sgi_v2(&mut self, sender: usize, gicd_sgir: u32) -> SgiOutcome {
        let register = LocalRegisterCopy::<u32, GICD_SGIR::Register>::new(gicd_sgir);
        let intid = register.read(GICD_SGIR::SGIINTID);
        if sender >= self.vcpu_count {
            return self.finish_sgi(intid, 0, 1);
        }
        use GICD_SGIR::TARGET_LIST_FILTER::Value as Filter;
        match register.read_as_enum(GICD_SGIR::TARGET_LIST_FILTER) {
            Some(Filter::TargetList) => {
                let (targets, dropped) = self.split_targets(register.read(GICD_SGIR::CPU_TARGET_LIST));
                self.finish_sgi(intid, targets, dropped)
            }
            Some(Filter::AllButSelf) => {
                let targets = self.existing_vcpus() & !vcpu_bit(sender);
                self.finish_sgi(intid, targets, 0)
            }
            Some(Filter::SelfOnly) => self.finish_sgi(intid, vcpu_bit(sender), 0),
            Some(Filter::Reserved) | None => SgiOutcome::default(),
        }
    }

    /// Splits a target bit list into existing vCPUs and the number of bits
    /// naming vCPUs that do not exist.
    fn split_targets(&self, list: u32) -> (u8, u32) {
        let existing = u32::from(self.existing_vcpus());
        // Only the low eight bits can be set after masking with a u8.
        let targets = (list & existing) as u8;
        (targets, (list & !existing).count_ones())
    }

    /// Makes SGI `intid` pending on every vCPU in `targets` and counts
    /// `dropped` targets.
    fn finish_sgi(&mut self, intid: u32, targets: u8, dropped: u32) -> SgiOutcome {
        self.dropped_sgis = self.dropped_sgis.saturating_add(u64::from(dropped));
        let mut effects = Effects::default();
        for vcpu in 0..self.vcpu_count {
            if targets & vcpu_bit(vcpu) == 0 {
                continue;
            }
            if let Some(slot) = self.locate(vcpu, intid) {
                self.set_pending(slot, &mut effects);
            }
        }
        SgiOutcome { delivered: targets, dropped }
    }
}

/// Whether a GICD_SGIR value uses the reserved TargetListFilter 0b11.
pub(crate) fn is_reserved_filter(gicd_sgir: u32) -> bool {
    let register = LocalRegisterCopy::<u32, GICD_SGIR::Register>::new(gicd_sgir);
    register.matches_all(GICD_SGIR::TARGET_LIST_FILTER::Reserved)
}
