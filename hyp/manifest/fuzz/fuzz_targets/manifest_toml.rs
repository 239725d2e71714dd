//! Fuzzes TOML manifest parsing and validation against a qemu-virt-like
//! board. Whatever `load` accepts must also lay out, encode, decode and pass
//! the boot-time `validate_plan`: the host and boot checks must agree.
#![no_main]

use janus_manifest::{BootPlan, PayloadBuilder, PersonalityPlan, parse_payload, plan_personality_layout, validate_plan};
use janus_platform::{BoardDescription, Cpu, DmaMaster, GicDescription, GuestPhysAddr, PhysAddr, PhysRange, StorageDescription};
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
        gic: GicDescription::V3 { distributor: PhysAddr(0x0800_0000), redistributor: PhysAddr(0x080a_0000), redistributor_stride: 0x2_0000 },
        guest_uart: GuestPhysAddr(0x0900_0000),
        guest_uart_interrupt: 33,
        uart_interrupt: 33,
        hotkey_button: None,
        storage: Some(StorageDescription::VirtioMmio { base: PhysAddr(0x0a00_0000), slots: 32, stride: 0x200, first_interrupt: 48 }),
        guest_disk: GuestPhysAddr(0x0a00_0000),
        guest_disk_interrupt: 48,
        dma_masters: [(DmaMaster::GicIts, PhysRange::new(0x0808_0000, 0x2_0000))].into_iter().collect(),
        dma_incapable: [PhysRange::new(0x0901_0000, 0x1000)].into_iter().collect(),
    }
}

fuzz_target!(|text: &str| {
    let board = board();
    match janus_manifest::load("fuzz.toml", text, &board) {
        Ok(manifest) => {
            let mut builder = PayloadBuilder::new();
            let mut personalities = heapless::Vec::new();
            for (index, personality) in manifest.personalities.iter().enumerate() {
                // A small raw kernel always fits in validated RAM.
                let (kernel, layout) = plan_personality_layout(personality, &[0x1f; 64], Some(100)).expect("a 64-byte kernel fits in validated RAM");
                let kernel = builder.add_blob(&kernel.bytes);
                let dtb = builder.add_blob(&[0xd0; 16]);
                let initrd = builder.add_blob(&[0x1d; 100]);
                let plan = PersonalityPlan::assemble(personality, manifest.devices_of(index), &layout, kernel, dtb, Some(initrd))
                    .expect("validated names, cpu lists and devices fit the plan");
                personalities.push(plan).expect("validated personality count fits the plan");
            }
            // xtask embeds the device key exactly when a disk is encrypted.
            let encrypted = manifest.personalities.iter().any(|personality| personality.disk.is_some_and(|disk| disk.encrypted));
            let plan = BootPlan { board, console: manifest.console, personalities, device_key: encrypted.then_some([0x5a; 32]) };
            let payload = builder.finish(&plan);
            let (decoded, blobs) = parse_payload(&payload).expect("an encoded payload decodes");
            assert_eq!(decoded, plan);
            if let Err(error) = validate_plan(&decoded, blobs.len()) {
                panic!("validate() accepted what validate_plan() rejects: {error}");
            }
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
