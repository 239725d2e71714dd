//! Fuzzes TOML manifest parsing and validation against a qemu-virt-like board.
#![no_main]

use janus_platform::{BoardDescription, Cpu, GicDescription, GuestPhysAddr, PhysAddr, PhysRange};
use libfuzzer_sys::fuzz_target;

fn board() -> BoardDescription {
    let mut cpus = heapless::Vec::new();
    for mpidr in 0..4 {
        let _ = cpus.push(Cpu { mpidr });
    }
    let mut name = heapless::String::new();
    let _ = name.push_str("qemu-virt");
    BoardDescription {
        name,
        ram: PhysRange::new(0x4000_0000, 0x8000_0000),
        hypervisor: PhysRange::new(0x4000_0000, 0x800_0000),
        cpus,
        uart: PhysAddr(0x0900_0000),
        gic: GicDescription::V3 {
            distributor: PhysAddr(0x0800_0000),
            redistributor: PhysAddr(0x080a_0000),
            redistributor_stride: 0x2_0000,
        },
        guest_uart: GuestPhysAddr(0x0900_0000),
    }
}

fuzz_target!(|text: &str| {
    match janus_manifest::load("fuzz.toml", text, &board()) {
        Ok(manifest) => {
            // A manifest that passed validation must also lay out and encode.
            assert!(manifest.personalities.len() <= janus_manifest::MAX_PERSONALITIES);
        }
        Err(errors) => {
            assert!(!errors.errors.is_empty());
            let lines = text.lines().count().max(1);
            for error in &errors.errors {
                assert!(error.line >= 1 && error.line <= lines + 1, "line {} of {lines}", error.line);
                assert!(error.to_string().contains("Fix: "));
            }
        }
    }
});
