//! The interrupt state of one personality: storage, lookup and routing.
//!
//! An interrupt's pending and active state is split between software and,
//! while the interrupt sits in a list register, that register (see
//! [`crate::flush`]):
//!
//! - `Pending` / `Active` flags: state not (yet) in a list register;
//! - `CancelPending` / `CancelActive`: the guest cleared the state through the
//!   distributor while the interrupt was in a list register, to be applied at
//!   the next flush;
//! - the shadow entry of the list register: the state last seen there.
//!
//! Priorities keep five bits: the low three bits of every priority read as
//! zero, as GICH_LR and most GICv3 CPU interfaces (ICH_VTR_EL2.PRIbits = 4)
//! only hold five (IHI 0069H chapter 12, `GICD_IPRIORITYR<n>`; IHI 0048B
//! §4.3.11).

use core::num::NonZeroU16;

use tock_registers::LocalRegisterCopy;

use crate::bitmap::Bitmap;
use crate::fields::GICD_IROUTER;
use crate::line::{FLAG_COUNT, Flag, LINES, SPI_WORDS, Slot, WORDS, spi_index};
use crate::list_registers::LrState;
use crate::{GicVersion, MAX_LIST_REGISTERS, MAX_SPIS, MAX_VCPUS, PRIVATE_INTERRUPTS, VgicError};

/// The binding of a line no physical interrupt backs: 0 is an SGI, which
/// never backs one (physical INTIDs are 16..1020, see
/// `interrupts::is_valid_physical`).
pub(crate) const NO_BINDING: u16 = 0;

/// Bits of a priority this model keeps (IPRIORITYR fields are 8 bits wide).
pub(crate) const PRIORITY_MASK: u8 = 0xF8;

/// The list register entry [`crate::VirtualGic::flush`] last wrote or read.
/// Eight bytes with its `Option` (the timer path compares one in a few
/// instructions).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ShadowEntry {
    /// The interrupt in it.
    pub(crate) intid: u32,
    /// Its state as last seen.
    pub(crate) state: LrState,
    /// The physical INTID written with HW = 1, if any (16..1020: never zero,
    /// and a halfword; see [`ShadowEntry::hardware`]).
    pub(crate) physical: Option<NonZeroU16>,
}

impl ShadowEntry {
    /// An entry for `intid` in `state`, with HW = 1 for `hardware` (a
    /// physical INTID the caller checked to be in 16..1020).
    pub(crate) fn new(intid: u32, state: LrState, hardware: Option<u32>) -> Self {
        Self { intid, state, physical: hardware.and_then(|physical| u16::try_from(physical).ok()).and_then(NonZeroU16::new) }
    }

    /// The physical INTID written with HW = 1, if any.
    pub(crate) fn hardware(&self) -> Option<u32> {
        self.physical.map(|physical| u32::from(physical.get()))
    }
}

const _: () = assert!(core::mem::size_of::<Option<ShadowEntry>>() == 8);

/// Per-vCPU bookkeeping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct VcpuState {
    /// Something that may change its list registers happened since the last
    /// flush.
    pub(crate) dirty: bool,
    /// The last flush left deliverable interrupts without a list register.
    pub(crate) waiting: bool,
    /// The next flush writes every list register Invalid first (after a
    /// reset, whatever the hardware holds is stale).
    pub(crate) clear_list_registers: bool,
    /// What each list register holds, as far as the model knows.
    pub(crate) shadow: [Option<ShadowEntry>; MAX_LIST_REGISTERS],
    /// Bit `i` set: `shadow[i]` holds an entry (kept by
    /// `VirtualGic::set_shadow`), so a flush visits only occupied entries.
    pub(crate) occupied: u32,
    /// GICR_WAKER.ProcessorSleep.
    pub(crate) asleep: bool,
}

impl VcpuState {
    pub(crate) const RESET: Self =
        Self { dirty: true, waiting: false, clear_list_registers: true, shadow: [None; MAX_LIST_REGISTERS], occupied: 0, asleep: true };
}

/// The virtual GIC of one personality (see the crate documentation).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VirtualGic {
    pub(crate) version: GicVersion,
    pub(crate) vcpu_count: usize,
    /// GICD_CTLR.EnableGrp1A (GICv3) or GICD_CTLR.Enable (GICv2).
    pub(crate) distributor_enabled: bool,
    /// SPIs this personality owns, bit `n` for INTID `32 + n`.
    pub(crate) owned: Bitmap<SPI_WORDS>,
    pub(crate) flags: [Bitmap<WORDS>; FLAG_COUNT],
    pub(crate) priority: [u8; LINES],
    /// Per line: the physical INTID behind it, [`NO_BINDING`] if none (a
    /// halfword, not an `Option<u32>`: the timer path compares it in one go).
    pub(crate) hardware: [u16; LINES],
    pub(crate) list_register: [u8; LINES],
    pub(crate) resident_vcpu: [u8; LINES],
    /// Per SPI: `GICD_IROUTER<n>` (GICv3) or the `GICD_ITARGETSR<n>` byte (GICv2).
    pub(crate) routes: [u64; MAX_SPIS],
    /// Per vCPU: the owned SPIs routed to it (bit `n` for INTID `32 + n`),
    /// derived from `routes` by [`VirtualGic::store_route`].
    pub(crate) routed_spis: [Bitmap<SPI_WORDS>; MAX_VCPUS],
    /// Per vCPU: bit `w` set when word `w` of its `routed_spis` is not zero,
    /// so a flush skips the SPI words with nothing for it.
    pub(crate) routed_words: [u8; MAX_VCPUS],
    pub(crate) vcpus: [VcpuState; MAX_VCPUS],
    pub(crate) dropped_sgis: u64,
    pub(crate) ignored_writes: u64,
}

impl VirtualGic {
    /// A virtual GIC for a personality with `vcpu_count` vCPUs that owns the
    /// SPIs `owned_spis` (INTIDs in [`crate::FIRST_SPI`]..[`crate::SPI_LIMIT`]; duplicates
    /// are harmless). Every interrupt starts disabled, inactive, not pending,
    /// priority 0, level-sensitive, routed to vCPU 0; the distributor starts
    /// disabled.
    ///
    /// # Errors
    ///
    /// [`VgicError::InvalidVcpuCount`] for 0 or more than [`MAX_VCPUS`]
    /// vCPUs, [`VgicError::InvalidSpi`] for an owned INTID that is not an
    /// emulated SPI.
    pub fn new(version: GicVersion, vcpu_count: usize, owned_spis: &[u32]) -> Result<Self, VgicError> {
        if vcpu_count == 0 || vcpu_count > MAX_VCPUS {
            return Err(VgicError::InvalidVcpuCount { vcpu_count });
        }
        let mut owned = Bitmap::EMPTY;
        for &intid in owned_spis {
            let index = spi_index(intid).ok_or(VgicError::InvalidSpi { intid })?;
            owned.assign(index, true);
        }
        let mut gic = Self {
            version,
            vcpu_count,
            distributor_enabled: false,
            owned,
            flags: [Bitmap::EMPTY; FLAG_COUNT],
            priority: [0; LINES],
            hardware: [NO_BINDING; LINES],
            list_register: [0; LINES],
            resident_vcpu: [0; LINES],
            routes: [0; MAX_SPIS],
            routed_spis: [Bitmap::EMPTY; MAX_VCPUS],
            routed_words: [0; MAX_VCPUS],
            vcpus: [VcpuState::RESET; MAX_VCPUS],
            dropped_sgis: 0,
            ignored_writes: 0,
        };
        gic.reset_all_lines();
        Ok(gic)
    }

    /// The GIC version the guest sees.
    #[must_use]
    pub fn version(&self) -> GicVersion {
        self.version
    }

    /// Number of vCPUs of the personality.
    #[must_use]
    pub fn vcpu_count(&self) -> usize {
        self.vcpu_count
    }

    /// SGIs dropped because they named a vCPU this personality does not have
    /// (see [`VirtualGic::send_sgi_v3`]).
    #[must_use]
    pub fn dropped_sgis(&self) -> u64 {
        self.dropped_sgis
    }

    /// Guest writes ignored, in whole or in part, because they named an
    /// interrupt this personality cannot see, an offset with no register, or
    /// a width the register does not allow.
    #[must_use]
    pub fn ignored_writes(&self) -> u64 {
        self.ignored_writes
    }

    /// Counts one ignored guest write.
    pub(crate) fn count_ignored_write(&mut self) {
        self.ignored_writes = self.ignored_writes.saturating_add(1);
    }

    /// The line of interrupt `intid` as seen by `vcpu`, or `None` if it does
    /// not exist for this personality: SGIs and PPIs of vCPUs it does not
    /// have, SPIs it does not own, INTIDs beyond [`SPI_LIMIT`].
    pub(crate) fn locate(&self, vcpu: usize, intid: u32) -> Option<Slot> {
        if intid < PRIVATE_INTERRUPTS {
            (vcpu < self.vcpu_count).then(|| Slot::private(vcpu, intid))
        } else {
            let index = spi_index(intid)?;
            self.owned.get(index).then(|| Slot::shared(index))
        }
    }

    /// Whether `flag` is set on `slot`.
    pub(crate) fn flag(&self, slot: Slot, flag: Flag) -> bool {
        self.flags.get(flag.index()).is_some_and(|bits| bits.get(slot.line()))
    }

    /// Sets `flag` on `slot` to `value`.
    pub(crate) fn set_flag(&mut self, slot: Slot, flag: Flag, value: bool) {
        if let Some(bits) = self.flags.get_mut(flag.index()) {
            bits.assign(slot.line(), value);
        }
    }

    /// Sets `flag` on the lines `bits` of word `word` to `value`.
    pub(crate) fn assign_flag_bits(&mut self, flag: Flag, word: usize, bits: u32, value: bool) {
        if let Some(flags) = self.flags.get_mut(flag.index()) {
            flags.assign_bits(word, bits, value);
        }
    }

    /// Clears `flag` on `slot` and returns whether it was set.
    pub(crate) fn take_flag(&mut self, slot: Slot, flag: Flag) -> bool {
        let was = self.flag(slot, flag);
        self.set_flag(slot, flag, false);
        was
    }

    /// Word `word` of the bit set of `flag`.
    pub(crate) fn flag_word(&self, flag: Flag, word: usize) -> u32 {
        self.flags.get(flag.index()).map_or(0, |bits| bits.word(word))
    }

    /// The priority of `slot` (low three bits zero).
    pub(crate) fn priority(&self, slot: Slot) -> u8 {
        self.priority.get(slot.line()).copied().unwrap_or(u8::MAX)
    }

    /// The physical INTID bound to `slot`, if it is hardware-backed.
    pub(crate) fn hardware(&self, slot: Slot) -> Option<u32> {
        let binding = *self.hardware.get(slot.line())?;
        (binding != NO_BINDING).then_some(u32::from(binding))
    }

    /// Binds `slot` to physical INTID `physical_intid` (checked by the
    /// caller to be in 16..1020), or unbinds it.
    pub(crate) fn set_hardware(&mut self, slot: Slot, physical_intid: Option<u32>) {
        if let Some(binding) = self.hardware.get_mut(slot.line()) {
            *binding = physical_intid.and_then(|physical| u16::try_from(physical).ok()).unwrap_or(NO_BINDING);
        }
    }

    /// The physical INTID of `slot` if its physical line is active for the
    /// guest: what a list register holding it in the Pending state carries.
    pub(crate) fn active_hardware(&self, slot: Slot) -> Option<u32> {
        self.hardware(slot).filter(|_| self.flag(slot, Flag::PhysicalActive))
    }

    /// The vCPU and list register index holding `slot`, if any.
    pub(crate) fn residence(&self, slot: Slot) -> Option<(usize, usize)> {
        if !self.flag(slot, Flag::Resident) {
            return None;
        }
        let vcpu = *self.resident_vcpu.get(slot.line())?;
        let index = *self.list_register.get(slot.line())?;
        Some((usize::from(vcpu), usize::from(index)))
    }

    /// Records that list register `index` of `vcpu` now holds `slot`.
    pub(crate) fn set_residence(&mut self, slot: Slot, vcpu: usize, index: usize) {
        let (Ok(vcpu), Ok(index)) = (u8::try_from(vcpu), u8::try_from(index)) else {
            return;
        };
        if let (Some(stored_vcpu), Some(stored_index)) = (self.resident_vcpu.get_mut(slot.line()), self.list_register.get_mut(slot.line())) {
            *stored_vcpu = vcpu;
            *stored_index = index;
            self.set_flag(slot, Flag::Resident, true);
        }
    }

    /// The shadow entry of the list register holding `slot`, if any.
    pub(crate) fn shadow_entry(&self, slot: Slot) -> Option<ShadowEntry> {
        let (vcpu, index) = self.residence(slot)?;
        let entry = (*self.vcpus.get(vcpu)?.shadow.get(index)?)?;
        (entry.intid == slot.intid()).then_some(entry)
    }

    /// Mutable access to the shadow entry of the list register holding `slot`.
    pub(crate) fn shadow_entry_mut(&mut self, slot: Slot) -> Option<&mut ShadowEntry> {
        let (vcpu, index) = self.residence(slot)?;
        let entry = self.vcpus.get_mut(vcpu)?.shadow.get_mut(index)?.as_mut()?;
        (entry.intid == slot.intid()).then_some(entry)
    }

    /// Whether `slot` is pending, in software or in its list register.
    pub(crate) fn is_pending(&self, slot: Slot) -> bool {
        self.flag(slot, Flag::Pending) || (self.shadow_entry(slot).is_some_and(|entry| entry.state.is_pending()) && !self.flag(slot, Flag::CancelPending))
    }

    /// Whether `slot` is active, in software or in its list register.
    pub(crate) fn is_active(&self, slot: Slot) -> bool {
        self.flag(slot, Flag::Active) || (self.shadow_entry(slot).is_some_and(|entry| entry.state.is_active()) && !self.flag(slot, Flag::CancelActive))
    }

    /// Word `word` of the pending state of every line, in software or in a
    /// list register: what [`VirtualGic::is_pending`] says, 32 lines at once.
    pub(crate) fn pending_word(&self, word: usize) -> u32 {
        self.flag_word(Flag::Pending, word) | (self.flag_word(Flag::ListedPending, word) & !self.flag_word(Flag::CancelPending, word))
    }

    /// Word `word` of the active state of every line, as
    /// [`VirtualGic::is_active`] says.
    pub(crate) fn active_word(&self, word: usize) -> u32 {
        self.flag_word(Flag::Active, word) | (self.flag_word(Flag::ListedActive, word) & !self.flag_word(Flag::CancelActive, word))
    }

    /// Whether a change to `slot` can change what some vCPU must deliver.
    pub(crate) fn is_interesting(&self, slot: Slot) -> bool {
        self.is_pending(slot) || self.is_active(slot) || self.flag(slot, Flag::Resident)
    }

    /// The vCPU `slot` is delivered to: its owner for an SGI or PPI, the
    /// routed vCPU for an SPI (`None` if routed to no existing vCPU).
    pub(crate) fn target_vcpu(&self, slot: Slot) -> Option<usize> {
        match slot.spi_index() {
            Some(index) => self.routed_vcpu(index),
            None => slot.private_vcpu(),
        }
    }

    /// The vCPU SPI number `index` is routed to.
    ///
    /// GICv3 (IHI 0069H chapter 12, `GICD_IROUTER<n>`): IRM = 1 ("any
    /// participating PE") delivers to vCPU 0; otherwise Aff3.Aff2.Aff1 must be
    /// 0.0.0 and Aff0 a vCPU index, else the interrupt stays pending and is
    /// forwarded nowhere. GICv2 (IHI 0048B §4.3.12): the lowest vCPU set in
    /// the CPU targets byte, none if the byte is zero.
    pub(crate) fn routed_vcpu(&self, index: usize) -> Option<usize> {
        let raw = *self.routes.get(index)?;
        match self.version {
            GicVersion::V3 => {
                let router = LocalRegisterCopy::<u64, GICD_IROUTER::Register>::new(raw);
                if router.is_set(GICD_IROUTER::IRM) {
                    return Some(0);
                }
                let upper = router.read(GICD_IROUTER::AFF1) | router.read(GICD_IROUTER::AFF2) | router.read(GICD_IROUTER::AFF3);
                let aff0 = usize::try_from(router.read(GICD_IROUTER::AFF0)).ok()?;
                (upper == 0 && aff0 < self.vcpu_count).then_some(aff0)
            }
            GicVersion::V2 => {
                let targets = raw & u64::from(self.existing_vcpus());
                // trailing_zeros of a non-zero u64 is below 64.
                (targets != 0).then(|| targets.trailing_zeros() as usize)
            }
        }
    }

    /// Stores `raw` as the route of SPI number `index` and updates the
    /// per-vCPU sets of routed SPIs.
    pub(crate) fn store_route(&mut self, index: usize, raw: u64) {
        let Some(stored) = self.routes.get_mut(index) else {
            return;
        };
        *stored = raw;
        let target = self.routed_vcpu(index).filter(|_| self.owned.get(index));
        let word = index / 32;
        for (vcpu, (routed, summary)) in self.routed_spis.iter_mut().zip(self.routed_words.iter_mut()).enumerate() {
            routed.assign(index, target == Some(vcpu));
            let bit = u8::try_from(word).ok().and_then(|word| 1u8.checked_shl(u32::from(word)));
            if let Some(bit) = bit {
                if routed.word(word) == 0 {
                    *summary &= !bit;
                } else {
                    *summary |= bit;
                }
            }
        }
    }

    /// Mask with one bit per existing vCPU.
    pub(crate) fn existing_vcpus(&self) -> u8 {
        (0..self.vcpu_count).fold(0, |mask, vcpu| mask | crate::effects::vcpu_bit(vcpu))
    }

    /// Whether the pending state of `slot` may be presented to `vcpu`: enabled,
    /// distributor enabled, and delivered to `vcpu`.
    pub(crate) fn may_signal(&self, slot: Slot, vcpu: usize) -> bool {
        self.flag(slot, Flag::Enabled) && self.distributor_enabled && self.target_vcpu(slot) == Some(vcpu)
    }

    /// The line of a private interrupt or an SPI, whether visible or not, for
    /// internal bookkeeping of list register contents.
    pub(crate) fn slot_of(&self, vcpu: usize, intid: u32) -> Option<Slot> {
        if intid < PRIVATE_INTERRUPTS { (vcpu < MAX_VCPUS).then(|| Slot::private(vcpu, intid)) } else { spi_index(intid).map(Slot::shared) }
    }
}
