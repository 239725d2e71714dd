//! The reference model for the property tests: a simulated hypervisor,
//! guests and physical lines, and what must be delivered.
//!
//! The harness plays the hypervisor and the guests. A vCPU's guest only acts
//! after a flush of that vCPU, and a vCPU named in `vcpus_to_refresh` is
//! flushed before its guest acts again (the kick). The reference keeps, per
//! interrupt, whether a pending instance is owed to the guest and whether it
//! is active. Checked throughout: an acknowledgement always takes an owed
//! instance (no duplicate), an interrupt sits in at most one list register,
//! Pending entries are enabled, visible and routed to their vCPU, the list
//! registers hold the best deliverable interrupts, maintenance is requested
//! exactly when some wait, and HW = 1 only names an active physical line.
//! At the end everything is enabled and drained: nothing may be left (no
//! lost interrupt, no stuck physical line).

use std::collections::{BTreeMap, BTreeSet};

use super::fake::*;
use crate::{AccessSize, Effects, GicVersion, LrState, PhysicalAction, VirtualGic};

/// SPIs the personality owns; 36 and 37 belong to someone else.
pub(crate) const OWNED: [u32; 5] = [32, 33, 34, 35, 40];
/// INTIDs the operations pick from: SGIs, PPIs, owned and foreign SPIs.
pub(crate) const INTIDS: [u32; 11] = [1, 2, 20, 27, 32, 33, 34, 35, 36, 37, 40];
/// Hardware-backed SPIs and their physical INTIDs.
const HARDWARE: [(u32, u32); 2] = [(34, 100), (35, 101)];
/// The hardware-backed PPI of every vCPU (the guest's timer), forwarded from
/// the same PPI of its core with `inject_hardware_and_flush`.
const TIMER: u32 = 27;

/// A physical line: `(Some(vcpu), intid)` for a PPI of the core of `vcpu`,
/// `(None, intid)` for an SPI.
type PhysicalLine = (Option<usize>, u32);

/// The physical line behind a list register of `vcpu` naming `physical`.
fn physical_line(vcpu: usize, physical: u32) -> PhysicalLine {
    if physical < 32 { (Some(vcpu), physical) } else { (None, physical) }
}

/// An interrupt of the reference: `(Some(vcpu), intid)` for an SGI / PPI,
/// `(None, intid)` for an SPI.
type Key = (Option<usize>, u32);

/// One step of a random scenario.
#[derive(Clone, Debug)]
pub(crate) enum Operation {
    Inject {
        vcpu: usize,
        intid: u32,
    },
    InjectHardware {
        which: usize,
    },
    /// The timer PPI of `vcpu` fires at its core (if its physical line is
    /// not active): injected and flushed in one step, checked against the
    /// general path.
    Timer {
        vcpu: usize,
    },
    /// A timer period: the guest of `vcpu` acknowledges and completes the
    /// timer if a list register holds it pending, then the timer fires again.
    TimerPeriod {
        vcpu: usize,
    },
    Flush {
        vcpu: usize,
    },
    Acknowledge {
        vcpu: usize,
        index: usize,
    },
    Complete {
        vcpu: usize,
        index: usize,
    },
    Enable {
        vcpu: usize,
        intid: u32,
        enabled: bool,
    },
    Priority {
        vcpu: usize,
        intid: u32,
        priority: u8,
    },
    SetPending {
        vcpu: usize,
        intid: u32,
    },
    ClearPending {
        vcpu: usize,
        intid: u32,
    },
    SetActive {
        vcpu: usize,
        intid: u32,
    },
    ClearActive {
        vcpu: usize,
        intid: u32,
    },
    Route {
        intid: u32,
        vcpu: usize,
    },
    Distributor {
        enabled: bool,
    },
    Sgi {
        sender: usize,
        intid: u32,
        targets: u16,
    },
}

/// The simulated hypervisor, guests and physical lines, with the reference.
pub(crate) struct Harness {
    version: GicVersion,
    vcpus: usize,
    gic: VirtualGic,
    banks: Vec<FakeListRegisters>,
    /// Flushed at least once since the last kick: its guest may run.
    runnable: Vec<bool>,
    /// Keys whose entry the guest completed since that vCPU's last flush.
    vacated: Vec<BTreeSet<Key>>,
    owed: BTreeMap<Key, bool>,
    active: BTreeMap<Key, bool>,
    enabled: BTreeMap<Key, bool>,
    priority: BTreeMap<Key, u8>,
    route: BTreeMap<u32, Option<usize>>,
    distributor_enabled: bool,
    physical_active: BTreeMap<PhysicalLine, bool>,
    /// Physical lines the guest deactivated through a list register since
    /// that vCPU's last flush: the model may still deactivate them once more.
    deactivated_by_guest: Vec<BTreeSet<PhysicalLine>>,
    /// Timer injections by the path they took: general, direct, in place.
    pub(crate) timer_paths: [usize; 3],
}

impl Harness {
    pub(crate) fn new(version: GicVersion, vcpus: usize, list_registers: usize) -> Self {
        let mut gic = VirtualGic::new(version, vcpus, &OWNED).unwrap();
        for (intid, physical) in HARDWARE {
            gic.bind_hardware(0, intid, Some(physical)).unwrap();
        }
        Self {
            version,
            vcpus,
            gic,
            banks: vec![FakeListRegisters::new(version, list_registers); vcpus],
            runnable: vec![false; vcpus],
            vacated: vec![BTreeSet::new(); vcpus],
            owed: BTreeMap::new(),
            active: BTreeMap::new(),
            enabled: BTreeMap::new(),
            priority: BTreeMap::new(),
            route: OWNED.iter().map(|&intid| (intid, Some(0))).collect(),
            distributor_enabled: false,
            physical_active: HARDWARE
                .iter()
                .map(|&(_, physical)| ((None, physical), false))
                .chain((0..vcpus).map(|vcpu| ((Some(vcpu), TIMER), false)))
                .collect(),
            deactivated_by_guest: vec![BTreeSet::new(); vcpus],
            timer_paths: [0; 3],
        }
    }

    /// The reference key of `intid` as seen by `vcpu`, if visible.
    fn key(&self, vcpu: usize, intid: u32) -> Option<Key> {
        if intid < 32 { (vcpu < self.vcpus).then_some((Some(vcpu), intid)) } else { OWNED.contains(&intid).then_some((None, intid)) }
    }

    /// The vCPU `key` is delivered to.
    fn target(&self, key: Key) -> Option<usize> {
        match key {
            (Some(vcpu), _) => Some(vcpu),
            (None, intid) => self.route.get(&intid).copied().flatten(),
        }
    }

    fn signalable(&self, key: Key, vcpu: usize) -> bool {
        self.distributor_enabled && self.enabled.get(&key).copied().unwrap_or(false) && self.target(key) == Some(vcpu)
    }

    fn apply(&mut self, effects: Effects) {
        for vcpu in 0..self.vcpus {
            if effects.vcpus_to_refresh & (1 << vcpu) != 0 {
                self.runnable[vcpu] = false;
            }
        }
        assert!(!effects.physical.overflowed(), "at most one hardware line per write here");
        for action in effects.physical.iter() {
            let physical = match action {
                PhysicalAction::Deactivate(physical) => (None, physical),
                PhysicalAction::DeactivatePrivate(vcpu, physical) => (Some(vcpu), physical),
                _ => continue,
            };
            let redundant = self.deactivated_by_guest.iter().any(|lines| lines.contains(&physical));
            let line = self.physical_active.get_mut(&physical).unwrap();
            assert!(*line || redundant, "deactivating line {physical:?}, which is not active");
            *line = false;
        }
    }

    /// Reads / writes a one-bit register for `intid` as `vcpu`.
    fn write_bit(&mut self, vcpu: usize, base: u64, intid: u32) {
        let effects = write_bit(&mut self.gic, vcpu, base, intid);
        self.apply(effects);
    }

    pub(crate) fn run(&mut self, operation: &Operation) {
        match *operation {
            Operation::Inject { vcpu, intid } => {
                if let Some(target) = self.gic.inject(vcpu, intid) {
                    self.runnable[target] = false;
                }
                if let Some(key) = self.key(vcpu, intid) {
                    self.owed.insert(key, true);
                }
            }
            Operation::InjectHardware { which } => {
                let (intid, physical) = HARDWARE[which];
                if !self.physical_active[&(None, physical)] {
                    self.physical_active.insert((None, physical), true);
                    if let Some(target) = self.gic.inject_hardware(0, intid, physical) {
                        self.runnable[target] = false;
                    }
                    self.owed.insert((None, intid), true);
                }
            }
            Operation::Timer { vcpu } => {
                let line = (Some(vcpu), TIMER);
                if vcpu < self.vcpus && !self.physical_active[&line] {
                    self.physical_active.insert(line, true);
                    self.owed.insert((Some(vcpu), TIMER), true);
                    let (outcome, path) = super::direct::inject_and_flush_checked(&mut self.gic, vcpu, TIMER, TIMER, &mut self.banks[vcpu]);
                    self.timer_paths[path as usize] += 1;
                    self.flushed(vcpu, outcome);
                }
            }
            Operation::TimerPeriod { vcpu } => {
                if self.ready(vcpu) {
                    let timer = (0..self.banks[vcpu].raw_count()).find(|&index| {
                        let entry = self.banks[vcpu].get(index);
                        entry.intid == TIMER && entry.state == LrState::Pending
                    });
                    if let Some(index) = timer {
                        self.acknowledge(vcpu, index);
                        self.complete(vcpu, index);
                    }
                    self.run(&Operation::Timer { vcpu });
                }
            }
            Operation::Flush { vcpu } => {
                if vcpu < self.vcpus {
                    self.flush(vcpu);
                }
            }
            Operation::Acknowledge { vcpu, index } => {
                if self.ready(vcpu) {
                    let index = index % self.banks[vcpu].raw_count();
                    self.acknowledge(vcpu, index);
                }
            }
            Operation::Complete { vcpu, index } => {
                if self.ready(vcpu) {
                    let index = index % self.banks[vcpu].raw_count();
                    self.complete(vcpu, index);
                }
            }
            Operation::Enable { vcpu, intid, enabled } => {
                let base = if enabled { GICD_ISENABLER } else { GICD_ICENABLER };
                self.write_bit(vcpu, base, intid);
                if let Some(key) = self.key(vcpu, intid) {
                    self.enabled.insert(key, enabled);
                }
            }
            Operation::Priority { vcpu, intid, priority } => {
                let effects = write_priority(&mut self.gic, vcpu, intid, priority);
                self.apply(effects);
                if let Some(key) = self.key(vcpu, intid) {
                    self.priority.insert(key, priority & 0xF8);
                }
            }
            Operation::SetPending { vcpu, intid } => {
                self.write_bit(vcpu, GICD_ISPENDR, intid);
                let read_only = self.version == GicVersion::V2 && intid < 16;
                if let Some(key) = self.key(vcpu, intid).filter(|_| !read_only) {
                    self.owed.insert(key, true);
                }
            }
            Operation::ClearPending { vcpu, intid } => {
                self.write_bit(vcpu, GICD_ICPENDR, intid);
                let read_only = self.version == GicVersion::V2 && intid < 16;
                if let Some(key) = self.key(vcpu, intid).filter(|_| !read_only) {
                    self.owed.insert(key, false);
                }
            }
            Operation::SetActive { vcpu, intid } => {
                self.write_bit(vcpu, GICD_ISACTIVER, intid);
                if let Some(key) = self.key(vcpu, intid) {
                    self.active.insert(key, true);
                }
            }
            Operation::ClearActive { vcpu, intid } => {
                self.write_bit(vcpu, GICD_ICACTIVER, intid);
                if let Some(key) = self.key(vcpu, intid) {
                    self.active.insert(key, false);
                }
            }
            Operation::Route { intid, vcpu } => {
                if intid >= 32 {
                    let effects = route(&mut self.gic, intid, vcpu);
                    self.apply(effects);
                    if OWNED.contains(&intid) {
                        self.route.insert(intid, (vcpu < self.vcpus).then_some(vcpu));
                    }
                }
            }
            Operation::Distributor { enabled } => {
                let value = match (self.version, enabled) {
                    (_, false) => 0,
                    (GicVersion::V3, true) => 0b10,
                    (GicVersion::V2, true) => 0b01,
                };
                let effects = self.gic.distributor_write(0, GICD_CTLR, AccessSize::Word, value);
                self.apply(effects);
                self.distributor_enabled = enabled;
            }
            Operation::Sgi { sender, intid, targets } => {
                let outcome = match self.version {
                    GicVersion::V3 => self.gic.send_sgi_v3(sender, u64::from(targets) | (u64::from(intid) << 24)),
                    GicVersion::V2 => {
                        let list = u32::from(targets & 0xFF);
                        self.gic.send_sgi_v2(sender, (list << 16) | intid)
                    }
                };
                if sender < self.vcpus {
                    for vcpu in 0..self.vcpus {
                        if targets & (1 << vcpu) != 0 {
                            assert_ne!(outcome.delivered & (1 << vcpu), 0);
                            self.owed.insert((Some(vcpu), intid), true);
                            self.runnable[vcpu] = false;
                        }
                    }
                }
                assert_eq!(outcome.delivered >> self.vcpus, 0, "delivered to a missing vCPU");
            }
        }
        self.check_unique();
        super::invariants::check_word_sets(&self.gic);
    }

    /// Enables the distributor and every vCPU's timer, as a guest does at
    /// boot, and flushes every vCPU: the state the timer's direct path
    /// starts from.
    pub(crate) fn configure_timers(&mut self) {
        self.run(&Operation::Distributor { enabled: true });
        for vcpu in 0..self.vcpus {
            self.run(&Operation::Enable { vcpu, intid: TIMER, enabled: true });
            self.flush(vcpu);
        }
    }

    /// Flushes `vcpu` first if it was kicked; whether its guest may act.
    fn ready(&mut self, vcpu: usize) -> bool {
        if vcpu >= self.vcpus {
            return false;
        }
        if !self.runnable[vcpu] {
            self.flush(vcpu);
        }
        true
    }

    fn key_of_entry(&self, vcpu: usize, intid: u32) -> Key {
        if intid < 32 { (Some(vcpu), intid) } else { (None, intid) }
    }

    fn acknowledge(&mut self, vcpu: usize, index: usize) {
        if let Some(intid) = self.banks[vcpu].acknowledge(index) {
            let key = self.key_of_entry(vcpu, intid);
            let owed = self.owed.insert(key, false).unwrap_or(false);
            assert!(owed, "vCPU {vcpu} acknowledged {intid}, which was not owed: duplicate");
            self.active.insert(key, true);
        }
    }

    fn complete(&mut self, vcpu: usize, index: usize) {
        let entry = self.banks[vcpu].get(index);
        if !entry.state.is_active() {
            return;
        }
        let key = self.key_of_entry(vcpu, entry.intid);
        if let Some(physical) = self.banks[vcpu].complete(index) {
            let physical = physical_line(vcpu, physical);
            let line = self.physical_active.get_mut(&physical).unwrap();
            assert!(*line, "the guest deactivated line {physical:?}, which is not active");
            *line = false;
            self.deactivated_by_guest[vcpu].insert(physical);
        }
        self.active.insert(key, false);
        if entry.state == LrState::Active {
            self.vacated[vcpu].insert(key);
        }
    }

    fn flush(&mut self, vcpu: usize) {
        let outcome = self.gic.flush(vcpu, &mut self.banks[vcpu]);
        self.flushed(vcpu, outcome);
    }

    /// Bookkeeping after a flush of `vcpu` with `outcome`.
    fn flushed(&mut self, vcpu: usize, outcome: crate::FlushOutcome) {
        self.runnable[vcpu] = true;
        self.vacated[vcpu].clear();
        self.deactivated_by_guest[vcpu].clear();
        for other in 0..self.vcpus {
            if outcome.vcpus_to_refresh & (1 << other) != 0 {
                self.runnable[other] = false;
            }
        }
        self.check_after_flush(vcpu, outcome.needs_maintenance);
    }

    /// No interrupt in two list registers, across all vCPUs.
    fn check_unique(&self) {
        let mut seen = BTreeSet::new();
        for (vcpu, bank) in self.banks.iter().enumerate() {
            for (_, entry) in bank.entries() {
                let key = self.key_of_entry(vcpu, entry.intid);
                assert!(seen.insert(key), "{key:?} in two list registers");
            }
        }
    }

    /// Whether `key` is in some list register, or was until the guest
    /// completed it behind the model's back.
    fn held(&self, key: Key) -> bool {
        self.banks
            .iter()
            .enumerate()
            .any(|(vcpu, bank)| self.vacated[vcpu].contains(&key) || bank.entries().iter().any(|(_, entry)| self.key_of_entry(vcpu, entry.intid) == key))
    }

    fn check_after_flush(&self, vcpu: usize, needs_maintenance: bool) {
        let bank = &self.banks[vcpu];
        let entries = bank.entries();
        for (_, entry) in &entries {
            let key = self.key_of_entry(vcpu, entry.intid);
            assert!(self.key(vcpu, entry.intid).is_some(), "{key:?} is not visible");
            assert_eq!(entry.priority, self.priority.get(&key).copied().unwrap_or(0), "{key:?}");
            assert_eq!(entry.group1, self.version == GicVersion::V3);
            if entry.state.is_pending() {
                assert!(self.signalable(key, vcpu), "{key:?} pending in vCPU {vcpu}'s list register");
            }
            if let Some(physical) = entry.hardware {
                assert!(self.physical_active[&physical_line(vcpu, physical)], "HW = 1 for inactive line {physical}");
                assert_ne!(entry.state, LrState::PendingActive);
            }
        }
        // What still waits for a list register of this vCPU.
        let waiting: Vec<(u8, u32)> = self
            .owed
            .iter()
            .filter(|&(&key, &owed)| owed && self.signalable(key, vcpu))
            .map(|(&key, _)| key)
            .chain(self.active.iter().filter(|&(&key, &active)| active && self.target(key) == Some(vcpu)).map(|(&key, _)| key))
            .filter(|&key| !self.held(key))
            .map(|key| (self.priority.get(&key).copied().unwrap_or(0), key.1))
            .collect();
        assert_eq!(needs_maintenance, !waiting.is_empty(), "vCPU {vcpu} waiting: {waiting:?}");
        if let Some(best) = waiting.iter().map(|(priority, _)| *priority).min() {
            assert_eq!(entries.len(), bank.raw_count(), "a free list register and {waiting:?} waiting");
            for (_, entry) in entries.iter().filter(|(_, entry)| entry.state == LrState::Pending) {
                assert!(entry.priority <= best, "Pending {} (priority {:#x}) while priority {best:#x} waits", entry.intid, entry.priority);
            }
        }
    }

    /// Enables everything, routes every SPI to vCPU 0 and lets the guests
    /// handle everything.
    pub(crate) fn drain(&mut self) {
        self.run(&Operation::Distributor { enabled: true });
        for vcpu in 0..self.vcpus {
            for intid in (0..32).chain(INTIDS) {
                self.run(&Operation::Enable { vcpu, intid, enabled: true });
                if intid >= 32 {
                    self.run(&Operation::Route { intid, vcpu: 0 });
                }
            }
        }
        for _ in 0..64 {
            let mut busy = false;
            for vcpu in 0..self.vcpus {
                self.flush(vcpu);
                for index in 0..self.banks[vcpu].raw_count() {
                    busy |= self.banks[vcpu].get(index).state != LrState::Invalid;
                    self.acknowledge(vcpu, index);
                    self.complete(vcpu, index);
                }
            }
            // A flush may hand an interrupt to another vCPU (kick).
            busy |= self.runnable.iter().any(|runnable| !runnable);
            if !busy {
                break;
            }
        }
        let owed: Vec<_> = self.owed.iter().filter(|(_, owed)| **owed).collect();
        assert!(owed.is_empty(), "lost: {owed:?}");
        let active: Vec<_> = self.active.iter().filter(|(_, active)| **active).collect();
        assert!(active.is_empty(), "still active: {active:?}");
        assert!(self.physical_active.values().all(|line| !line), "stuck line {:?}", self.physical_active);
        for mirror in self.gic.hardware_mirrors() {
            let key = (None, mirror.intid);
            assert!(!mirror.physical_active);
            assert!(mirror.enabled);
            assert_eq!(mirror.priority, self.priority.get(&key).copied().unwrap_or(0));
            assert_eq!(mirror.vcpu, Some(0));
        }
    }
}

impl FakeListRegisters {
    /// Number of list registers.
    pub(crate) fn raw_count(&self) -> usize {
        crate::ListRegisters::count(self)
    }
}
