//! A fake list register bank, a simulated guest, and register helpers shared
//! by the tests.
//!
//! The fake stores raw ICH_LR<n>_EL2 / GICH_LR<n> values, so every access goes
//! through the encoders and decoders under test. Register offsets are written
//! out from the specifications here, independently of the crate's decoders.

use crate::{
    AccessSize, Effects, FlushOutcome, GicVersion, ListRegister, ListRegisters, LrState, REDISTRIBUTOR_FRAME_SIZE, VirtualGic, decode_v2, decode_v3, encode_v2,
    encode_v3,
};

/// The list registers of one simulated core.
#[derive(Clone, Debug)]
pub(crate) struct FakeListRegisters {
    version: GicVersion,
    raw: Vec<u64>,
    /// Number of `read` calls, to check the fast path.
    pub(crate) reads: std::cell::Cell<usize>,
    /// Number of `write` calls.
    pub(crate) writes: usize,
}

impl FakeListRegisters {
    /// `count` empty list registers.
    pub(crate) fn new(version: GicVersion, count: usize) -> Self {
        Self { version, raw: vec![0; count], reads: std::cell::Cell::new(0), writes: 0 }
    }

    /// The content of list register `index`, without counting a read.
    pub(crate) fn get(&self, index: usize) -> ListRegister {
        self.decode(self.raw[index])
    }

    /// The raw value of list register `index`.
    pub(crate) fn raw(&self, index: usize) -> u64 {
        self.raw[index]
    }

    /// Overwrites list register `index` as the guest's CPU interface would.
    pub(crate) fn set(&mut self, index: usize, value: ListRegister) {
        self.raw[index] = self.encode(&value);
    }

    /// Every non-Invalid entry with its index.
    pub(crate) fn entries(&self) -> Vec<(usize, ListRegister)> {
        (0..self.raw.len()).map(|index| (index, self.get(index))).filter(|(_, entry)| entry.state != LrState::Invalid).collect()
    }

    /// INTIDs in the Pending state.
    pub(crate) fn pending_intids(&self) -> Vec<u32> {
        self.entries().into_iter().filter(|(_, entry)| entry.state == LrState::Pending).map(|(_, entry)| entry.intid).collect()
    }

    /// The guest acknowledges list register `index` (reads ICC_IAR1_EL1 /
    /// GICV_IAR): Pending becomes Active. Returns the INTID acknowledged.
    pub(crate) fn acknowledge(&mut self, index: usize) -> Option<u32> {
        let mut entry = self.get(index);
        if entry.state != LrState::Pending {
            return None;
        }
        entry.state = LrState::Active;
        self.set(index, entry);
        Some(entry.intid)
    }

    /// The guest deactivates list register `index` (EOI with EOImode 0):
    /// Active becomes Invalid, PendingActive becomes Pending. Returns the
    /// physical INTID deactivated with it, for HW = 1.
    pub(crate) fn complete(&mut self, index: usize) -> Option<u32> {
        let mut entry = self.get(index);
        let physical = match entry.state {
            LrState::Active => {
                let physical = entry.hardware;
                entry = ListRegister::INVALID;
                physical
            }
            LrState::PendingActive => {
                entry.state = LrState::Pending;
                None
            }
            LrState::Invalid | LrState::Pending => return None,
        };
        self.set(index, entry);
        physical
    }

    /// Acknowledges and completes every Pending entry, returning the INTIDs in
    /// acknowledgement order.
    pub(crate) fn run_guest(&mut self) -> Vec<u32> {
        let mut handled = Vec::new();
        for index in 0..self.raw.len() {
            if let Some(intid) = self.acknowledge(index) {
                handled.push(intid);
                self.complete(index);
            }
        }
        handled
    }

    fn encode(&self, value: &ListRegister) -> u64 {
        match self.version {
            GicVersion::V3 => encode_v3(value),
            GicVersion::V2 => u64::from(encode_v2(value)),
        }
    }

    fn decode(&self, raw: u64) -> ListRegister {
        match self.version {
            GicVersion::V3 => decode_v3(raw),
            GicVersion::V2 => decode_v2(raw as u32),
        }
    }
}

impl ListRegisters for FakeListRegisters {
    fn count(&self) -> usize {
        self.raw.len()
    }

    fn read(&self, index: usize) -> ListRegister {
        self.reads.set(self.reads.get() + 1);
        self.get(index)
    }

    fn write(&mut self, index: usize, value: ListRegister) {
        assert!(!(value.hardware.is_some() && value.state == LrState::PendingActive), "pending and active with HW = 1: {value:?}");
        self.writes += 1;
        self.set(index, value);
    }
}

// ---- Register offsets, from IHI 0069H chapter 12 and IHI 0048B §4.1.2 ----

pub(crate) const GICD_CTLR: u64 = 0x0000;
pub(crate) const GICD_TYPER: u64 = 0x0004;
pub(crate) const GICD_IIDR: u64 = 0x0008;
pub(crate) const GICD_IGROUPR: u64 = 0x0080;
pub(crate) const GICD_ISENABLER: u64 = 0x0100;
pub(crate) const GICD_ICENABLER: u64 = 0x0180;
pub(crate) const GICD_ISPENDR: u64 = 0x0200;
pub(crate) const GICD_ICPENDR: u64 = 0x0280;
pub(crate) const GICD_ISACTIVER: u64 = 0x0300;
pub(crate) const GICD_ICACTIVER: u64 = 0x0380;
pub(crate) const GICD_IPRIORITYR: u64 = 0x0400;
pub(crate) const GICD_ITARGETSR: u64 = 0x0800;
pub(crate) const GICD_ICFGR: u64 = 0x0C00;
pub(crate) const GICD_SGIR: u64 = 0x0F00;
pub(crate) const GICD_IROUTER: u64 = 0x6000;
pub(crate) const GICD_PIDR2: u64 = 0xFFE8;
pub(crate) const GICD_ICPIDR2: u64 = 0x0FE8;

pub(crate) const GICR_CTLR: u64 = 0x0000;
pub(crate) const GICR_IIDR: u64 = 0x0004;
pub(crate) const GICR_TYPER: u64 = 0x0008;
pub(crate) const GICR_WAKER: u64 = 0x0014;
pub(crate) const GICR_PIDR2: u64 = 0xFFE8;
pub(crate) const SGI_BASE: u64 = 0x1_0000;
pub(crate) const GICR_IGROUPR0: u64 = SGI_BASE + 0x0080;
pub(crate) const GICR_ISENABLER0: u64 = SGI_BASE + 0x0100;
pub(crate) const GICR_ICENABLER0: u64 = SGI_BASE + 0x0180;
pub(crate) const GICR_ISPENDR0: u64 = SGI_BASE + 0x0200;
pub(crate) const GICR_ICPENDR0: u64 = SGI_BASE + 0x0280;
pub(crate) const GICR_ISACTIVER0: u64 = SGI_BASE + 0x0300;
pub(crate) const GICR_ICACTIVER0: u64 = SGI_BASE + 0x0380;
pub(crate) const GICR_IPRIORITYR: u64 = SGI_BASE + 0x0400;
pub(crate) const GICR_ICFGR0: u64 = SGI_BASE + 0x0C00;
pub(crate) const GICR_ICFGR1: u64 = SGI_BASE + 0x0C04;
pub(crate) const GICR_IGRPMODR0: u64 = SGI_BASE + 0x0D00;

/// Offset of the one-bit-per-INTID word holding `intid` in a group at `base`.
pub(crate) fn bit_word(base: u64, intid: u32) -> u64 {
    base + 4 * u64::from(intid / 32)
}

/// The bit of `intid` in its word.
pub(crate) fn bit(intid: u32) -> u64 {
    1 << (intid % 32)
}

/// A virtual GIC, failing the test if it cannot be built.
pub(crate) fn gic(version: GicVersion, vcpus: usize, owned: &[u32]) -> VirtualGic {
    VirtualGic::new(version, vcpus, owned).unwrap()
}

/// Enables the distributor's group (EnableGrp1A on GICv3, Enable on GICv2).
pub(crate) fn enable_distributor(gic: &mut VirtualGic) {
    let value = match gic.version() {
        GicVersion::V3 => 0b10,
        GicVersion::V2 => 0b1,
    };
    let _ = gic.distributor_write(0, GICD_CTLR, AccessSize::Word, value);
}

/// Writes a one-bit register group for `intid` as vCPU `vcpu`, through the
/// redistributor for GICv3 SGIs / PPIs and the distributor otherwise.
/// `distributor_base` is the GICD offset of the group; the GICR offset is the
/// same inside SGI_base.
pub(crate) fn write_bit(gic: &mut VirtualGic, vcpu: usize, distributor_base: u64, intid: u32) -> Effects {
    if gic.version() == GicVersion::V3 && intid < 32 {
        let offset = frame(vcpu) + SGI_BASE + distributor_base;
        gic.redistributor_write(offset, AccessSize::Word, bit(intid))
    } else {
        gic.distributor_write(vcpu, bit_word(distributor_base, intid), AccessSize::Word, bit(intid))
    }
}

/// Reads the bit of `intid` in a one-bit register group, as [`write_bit`].
pub(crate) fn read_bit(gic: &mut VirtualGic, vcpu: usize, distributor_base: u64, intid: u32) -> bool {
    let word = if gic.version() == GicVersion::V3 && intid < 32 {
        gic.redistributor_read(frame(vcpu) + SGI_BASE + distributor_base, AccessSize::Word)
    } else {
        gic.distributor_read(vcpu, bit_word(distributor_base, intid), AccessSize::Word)
    };
    word & bit(intid) != 0
}

/// Writes the priority byte of `intid`, as [`write_bit`].
pub(crate) fn write_priority(gic: &mut VirtualGic, vcpu: usize, intid: u32, priority: u8) -> Effects {
    if gic.version() == GicVersion::V3 && intid < 32 {
        let offset = frame(vcpu) + GICR_IPRIORITYR + u64::from(intid);
        gic.redistributor_write(offset, AccessSize::Byte, u64::from(priority))
    } else {
        let offset = GICD_IPRIORITYR + u64::from(intid);
        gic.distributor_write(vcpu, offset, AccessSize::Byte, u64::from(priority))
    }
}

/// Routes SPI `intid` to `vcpu`: GICD_IROUTER Aff0 on GICv3, a single
/// ITARGETSR bit on GICv2.
pub(crate) fn route(gic: &mut VirtualGic, intid: u32, vcpu: usize) -> Effects {
    match gic.version() {
        GicVersion::V3 => {
            let offset = GICD_IROUTER + 8 * u64::from(intid);
            gic.distributor_write(0, offset, AccessSize::Doubleword, vcpu as u64)
        }
        GicVersion::V2 => {
            let offset = GICD_ITARGETSR + u64::from(intid);
            gic.distributor_write(0, offset, AccessSize::Byte, 1 << vcpu)
        }
    }
}

/// Enables `intid` for `vcpu` and gives it `priority`.
pub(crate) fn configure(gic: &mut VirtualGic, vcpu: usize, intid: u32, priority: u8) {
    let _ = write_bit(gic, vcpu, GICD_ISENABLER, intid);
    let _ = write_priority(gic, vcpu, intid, priority);
}

/// Offset of vCPU `vcpu`'s redistributor from the region base.
pub(crate) fn frame(vcpu: usize) -> u64 {
    vcpu as u64 * REDISTRIBUTOR_FRAME_SIZE
}

/// Flushes and returns the outcome, for brevity.
pub(crate) fn flush(gic: &mut VirtualGic, vcpu: usize, lrs: &mut FakeListRegisters) -> FlushOutcome {
    gic.flush(vcpu, lrs)
}
