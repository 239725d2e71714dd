//! Fuzz target: arbitrary bytes as an ESR_EL2 value and a PSCI call.
//!
//! The input is read as little-endian words: ESR_EL2, then `x0..x3` of a
//! PSCI call, then the caller index, then one byte per vCPU power state of a
//! fake personality (at most 16) and its RAM window. Missing bytes read as
//! zero. Decoding and emulation must never panic, and a `StartVcpu` must name
//! an existing, off vCPU and an entry point inside RAM.
#![no_main]

use janus_trap::esr::{self, Exception};
use janus_trap::psci::{self, PsciAction, PsciPersonality, VcpuPowerState};
use libfuzzer_sys::fuzz_target;

/// A cursor over the fuzz input that yields zeros once it runs out.
struct Input<'a> {
    bytes: &'a [u8],
}

impl Input<'_> {
    fn word(&mut self) -> u64 {
        let mut word = [0u8; 8];
        let length = self.bytes.len().min(word.len());
        let (head, tail) = self.bytes.split_at(length);
        word[..length].copy_from_slice(head);
        self.bytes = tail;
        u64::from_le_bytes(word)
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
}

/// A personality whose vCPU states and RAM window come from the input.
struct FuzzPersonality {
    states: Vec<VcpuPowerState>,
    ram_start: u64,
    ram_end: u64,
}

impl PsciPersonality for FuzzPersonality {
    fn vcpu_count(&self) -> usize {
        self.states.len()
    }

    fn power_state(&self, vcpu: usize) -> VcpuPowerState {
        // Panics if emulate asks about a vCPU that does not exist: that is a
        // bug the fuzzer should report.
        self.states[vcpu]
    }

    fn is_valid_entry(&self, address: u64) -> bool {
        (self.ram_start..self.ram_end).contains(&address)
    }
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input { bytes: data };

    let syndrome = input.word();
    let exception = esr::decode(syndrome);
    let length = esr::instruction_length(syndrome);
    assert!(length == 2 || length == 4);
    match exception {
        Exception::SystemRegister(access) => {
            let _ = access.set_way_operation();
        }
        Exception::DataAbort { access: Some(access), .. } => {
            let value = input.word();
            let _ = (access.bytes(), access.value_to_write(value), access.value_to_load(value));
        }
        _ => {}
    }

    let (function_id, arg1, arg2, arg3) = (input.word(), input.word(), input.word(), input.word());
    let caller = usize::from(input.byte());
    let count = usize::from(input.byte() % 17);
    let states = (0..count)
        .map(|_| match input.byte() % 3 {
            0 => VcpuPowerState::Off,
            1 => VcpuPowerState::OnPending,
            _ => VcpuPowerState::On,
        })
        .collect();
    let ram_start = input.word();
    let ram_end = input.word();
    let personality = FuzzPersonality { states, ram_start, ram_end };

    let call = psci::decode(function_id, arg1, arg2, arg3);
    if let PsciAction::StartVcpu { vcpu, entry, .. } = psci::emulate(call, caller, &personality) {
        assert!(vcpu < personality.vcpu_count());
        assert_ne!(vcpu, caller);
        assert_eq!(personality.power_state(vcpu), VcpuPowerState::Off);
        assert!(personality.is_valid_entry(entry));
    }
});
