//! Fuzz target: arbitrary operation sequences against a virtual GIC.
//!
//! The first bytes choose the GIC version, the vCPU count, the list register
//! count and the owned SPIs; then each operation is an opcode byte followed by
//! its operands (little-endian words; missing bytes read as zero): MMIO reads
//! and writes at arbitrary offsets and widths on the distributor and
//! redistributor, SGIs in both forms, injections, flushes against a fake list
//! register bank per vCPU, guest activity in those banks (including
//! arbitrary raw values), resets and hardware bindings, and the timer's
//! one-step injection and flush, which must leave exactly what the general
//! path leaves.
//!
//! Nothing may panic, and after every flush: no interrupt is in two list
//! registers, no entry has HW = 1 with pending-and-active, every entry is an
//! interrupt the vCPU can see, reads are no wider than the access.
#![no_main]

use janus_vgic::{AccessSize, GicVersion, ListRegister, ListRegisters, LrState, VirtualGic, decode_v2, decode_v3, encode_v2, encode_v3};
use libfuzzer_sys::fuzz_target;

/// A cursor over the fuzz input that yields zeros once it runs out.
struct Input<'a> {
    bytes: &'a [u8],
}

impl Input<'_> {
    fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    fn byte(&mut self) -> u8 {
        match self.bytes.split_first() {
            Some((first, rest)) => {
                self.bytes = rest;
                *first
            }
            None => 0,
        }
    }

    fn word(&mut self) -> u64 {
        let mut word = [0u8; 8];
        let length = self.bytes.len().min(word.len());
        let (head, tail) = self.bytes.split_at(length);
        word[..length].copy_from_slice(head);
        self.bytes = tail;
        u64::from_le_bytes(word)
    }

    fn size(&mut self) -> AccessSize {
        match self.byte() % 4 {
            0 => AccessSize::Byte,
            1 => AccessSize::Halfword,
            2 => AccessSize::Word,
            _ => AccessSize::Doubleword,
        }
    }

    /// An offset: mostly near real registers, sometimes anything.
    fn offset(&mut self, window: u64) -> u64 {
        let raw = self.word();
        match self.byte() % 4 {
            0 => raw,
            1 => raw % 0x1000,
            _ => raw % window,
        }
    }

    /// An INTID: mostly an emulated one, sometimes anything.
    fn intid(&mut self) -> u32 {
        let raw = self.word() as u32;
        if self.byte() % 8 == 0 { raw } else { raw % 260 }
    }
}

/// A list register bank holding raw register values.
#[derive(Clone)]
struct Bank {
    version: GicVersion,
    raw: Vec<u64>,
    /// Entries the model did not write: overwritten by the fuzzer, or left
    /// over from before a reset. Cleared when the model writes the entry.
    foreign: Vec<bool>,
}

impl Bank {
    fn new(version: GicVersion, count: usize) -> Self {
        Self { version, raw: vec![0; count], foreign: vec![false; count] }
    }

    /// Changes an entry as the guest's CPU interface would.
    fn guest_write(&mut self, index: usize, value: ListRegister) {
        let foreign = self.foreign[index];
        self.write(index, value);
        self.foreign[index] = foreign;
    }
}

impl ListRegisters for Bank {
    fn count(&self) -> usize {
        self.raw.len()
    }

    fn read(&self, index: usize) -> ListRegister {
        let raw = self.raw[index];
        match self.version {
            GicVersion::V3 => decode_v3(raw),
            GicVersion::V2 => decode_v2(raw as u32),
        }
    }

    fn write(&mut self, index: usize, value: ListRegister) {
        assert!(!(value.hardware.is_some() && value.state == LrState::PendingActive), "HW = 1 with pending and active: {value:?}");
        self.raw[index] = match self.version {
            GicVersion::V3 => encode_v3(&value),
            GicVersion::V2 => u64::from(encode_v2(&value)),
        };
        self.foreign[index] = false;
    }
}

/// Every entry the model placed is an emulated interrupt, in one list
/// register only (SPIs across all vCPUs).
fn check_banks(banks: &[Bank]) {
    let mut seen = Vec::new();
    for (vcpu, bank) in banks.iter().enumerate() {
        for index in 0..bank.count() {
            let entry = bank.read(index);
            if entry.state == LrState::Invalid || bank.foreign[index] {
                continue;
            }
            assert!(entry.intid < 256, "INTID {} is not emulated", entry.intid);
            let key = (if entry.intid < 32 { Some(vcpu) } else { None }, entry.intid);
            assert!(!seen.contains(&key), "{key:?} in two list registers");
            seen.push(key);
        }
    }
}

/// Whether vCPU mask `mask` only names vCPUs below `vcpus`.
fn within(mask: u8, vcpus: usize) -> bool {
    u32::from(mask).checked_shr(vcpus as u32).unwrap_or(0) == 0
}

/// Marks every entry of `bank` as not the model's.
fn disown(bank: &mut Bank) {
    bank.foreign.iter_mut().for_each(|foreign| *foreign = true);
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input { bytes: data };
    let version = if input.byte() % 2 == 0 { GicVersion::V3 } else { GicVersion::V2 };
    let vcpus = usize::from(input.byte() % 9);
    let list_registers = usize::from(input.byte() % 6);
    let owned: Vec<u32> = (0..input.byte() % 16).map(|_| input.word() as u32 % 300).collect();
    let Ok(mut gic) = VirtualGic::new(version, vcpus, &owned) else {
        return;
    };
    let mut banks: Vec<Bank> = (0..vcpus).map(|_| Bank::new(version, list_registers)).collect();

    while !input.is_empty() {
        let vcpu = usize::from(input.byte() % 10);
        match input.byte() % 15 {
            0 => {
                let (offset, size) = (input.offset(0x1_0000), input.size());
                let value = gic.distributor_read(vcpu, offset, size);
                assert_eq!(size.truncate(value), value);
            }
            1 => {
                let (offset, size, value) = (input.offset(0x1_0000), input.size(), input.word());
                let effects = gic.distributor_write(vcpu, offset, size, value);
                assert!(within(effects.vcpus_to_refresh, vcpus));
            }
            2 => {
                let (offset, size) = (input.offset(0x2_0000 * 9), input.size());
                let value = gic.redistributor_read(offset, size);
                assert_eq!(size.truncate(value), value);
            }
            3 => {
                let (offset, size, value) = (input.offset(0x2_0000 * 9), input.size(), input.word());
                let effects = gic.redistributor_write(offset, size, value);
                assert!(within(effects.vcpus_to_refresh, vcpus));
            }
            4 => {
                let outcome = gic.send_sgi_v3(vcpu, input.word());
                assert!(within(outcome.delivered, vcpus));
            }
            5 => {
                let outcome = gic.send_sgi_v2(vcpu, input.word() as u32);
                assert!(within(outcome.delivered, vcpus));
            }
            6 => {
                let intid = input.intid();
                if let Some(target) = gic.inject(vcpu, intid) {
                    assert!(target < vcpus);
                }
            }
            7 => {
                let (intid, physical) = (input.intid(), input.word() as u32 % 1100);
                if let Some(target) = gic.inject_hardware(vcpu, intid, physical) {
                    assert!(target < vcpus);
                }
            }
            8 | 9 => {
                if let Some(bank) = banks.get_mut(vcpu) {
                    let outcome = gic.flush(vcpu, bank);
                    assert!(within(outcome.vcpus_to_refresh, vcpus));
                    check_banks(&banks);
                } else {
                    let mut empty = Bank::new(version, 0);
                    let _ = gic.flush(vcpu, &mut empty);
                }
            }
            10 => {
                // The guest acknowledges or completes an entry, or something
                // overwrites it with an arbitrary value.
                let (index, action, raw) = (usize::from(input.byte()), input.byte(), input.word());
                if let Some(bank) = banks.get_mut(vcpu).filter(|bank| !bank.raw.is_empty()) {
                    let index = index % bank.raw.len();
                    let mut entry = bank.read(index);
                    match action % 4 {
                        0 if entry.state == LrState::Pending => entry.state = LrState::Active,
                        1 if entry.state == LrState::Active => entry.state = LrState::Invalid,
                        2 if entry.state == LrState::PendingActive => entry.state = LrState::Pending,
                        3 => {
                            bank.raw[index] = raw;
                            bank.foreign[index] = true;
                            continue;
                        }
                        _ => continue,
                    }
                    bank.guest_write(index, entry);
                }
            }
            11 => {
                let effects = gic.reset_vcpu(vcpu);
                assert!(within(effects.vcpus_to_refresh, vcpus));
                if let Some(bank) = banks.get_mut(vcpu) {
                    disown(bank);
                }
            }
            12 => {
                if input.byte() % 8 == 0 {
                    let _ = gic.reset();
                    banks.iter_mut().for_each(disown);
                }
            }
            14 => {
                // A timer-like hardware interrupt injected and flushed in one
                // step (its direct paths), against the general path on copies.
                let intid = match input.byte() % 4 {
                    0 => input.intid(),
                    1 => 30,
                    _ => 27,
                };
                let physical = if input.byte() % 4 == 0 { input.word() as u32 % 1100 } else { intid };
                if let Some(bank) = banks.get_mut(vcpu) {
                    let (mut general, mut general_bank) = (gic.clone(), bank.clone());
                    let _ = general.inject_hardware(vcpu, intid, physical);
                    let expected = general.flush(vcpu, &mut general_bank);
                    let outcome = gic.inject_hardware_and_flush(vcpu, intid, physical, bank);
                    assert_eq!(outcome, expected);
                    assert!(gic == general, "the direct and general paths left different models");
                    assert_eq!(bank.raw, general_bank.raw);
                    assert!(within(outcome.vcpus_to_refresh, vcpus));
                    check_banks(&banks);
                }
            }
            _ => {
                let (intid, physical) = (input.intid(), input.word() as u32 % 1100);
                let binding = (input.byte() % 4 != 0).then_some(physical);
                let _ = gic.bind_hardware(vcpu, intid, binding);
                let _ = gic.hardware_mirrors().count();
                let _ = (gic.dropped_sgis(), gic.ignored_writes());
            }
        }
    }
});
