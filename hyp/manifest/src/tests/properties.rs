//! Property tests: encoding round trips, decoding never panics, and the
//! validator's verdict on generated layouts.

use janus_platform::{GuestPhysAddr, PhysAddr, PhysRange, StorageDescription};
use proptest::prelude::*;

use crate::ConsoleMode;

use super::{MIB, board, personality, valid_plan};
use crate::codec::{decode_plan, encode_plan};
use crate::kernel::flatten_kernel;
use crate::layout::plan_personality_layout;
use crate::model::{DeviceConfig, Manifest, parse_size};
use crate::payload::{PayloadBuilder, parse_payload, payload_length};
use crate::plan::{Blob, BootPlan, DevicePlan, DiskPartition, DiskPlan, PersonalityPlan, validate_plan};
use crate::validate::{ValidationError, validate};

fn blob() -> impl Strategy<Value = Blob> {
    (any::<u64>(), any::<u64>()).prop_map(|(offset, size)| Blob { offset, size })
}

fn disk() -> impl Strategy<Value = DiskPlan> {
    (prop::sample::select(DiskPartition::ALL.to_vec()), any::<bool>()).prop_map(|(partition, encrypted)| DiskPlan { partition, encrypted })
}

/// Up to `N` bytes of `text`, cut at a character boundary.
fn truncated<const N: usize>(text: &str) -> heapless::String<N> {
    let mut short = heapless::String::new();
    for character in text.chars() {
        if short.push(character).is_err() {
            break;
        }
    }
    short
}

fn device() -> impl Strategy<Value = DevicePlan> {
    ("\\PC{0,5}", (any::<u64>(), any::<u64>()), proptest::collection::vec(any::<u32>(), 0..=4)).prop_map(|(name, (base, size), interrupts)| DevicePlan {
        name: truncated(&name),
        mmio: PhysRange::new(base, size),
        interrupts: heapless::Vec::from_slice(&interrupts).unwrap(),
    })
}

fn storage() -> impl Strategy<Value = StorageDescription> {
    (any::<u64>(), any::<u32>(), any::<u64>(), any::<u32>()).prop_map(|(base, slots, stride, first_interrupt)| StorageDescription::VirtioMmio {
        base: PhysAddr(base),
        slots,
        stride,
        first_interrupt,
    })
}

fn personality_plan() -> impl Strategy<Value = PersonalityPlan> {
    (
        "\\PC{0,4}",
        proptest::collection::vec(any::<u8>(), 0..=8),
        (any::<u64>(), any::<u64>()),
        (blob(), any::<u64>(), any::<u64>()),
        (blob(), any::<u64>()),
        proptest::option::of((blob(), any::<u64>())),
        proptest::option::of(disk()),
        proptest::collection::vec(device(), 0..=4),
    )
        .prop_map(|(name, cpus, (base, size), (kernel, kernel_load, entry), (dtb, dtb_load), initrd, disk, devices)| PersonalityPlan {
            name: truncated(&name),
            cpus: heapless::Vec::from_slice(&cpus).unwrap(),
            ram: PhysRange::new(base, size),
            kernel,
            kernel_load: GuestPhysAddr(kernel_load),
            entry: GuestPhysAddr(entry),
            dtb,
            dtb_load: GuestPhysAddr(dtb_load),
            initrd: initrd.map(|(blob, load)| (blob, GuestPhysAddr(load))),
            disk,
            devices: heapless::Vec::from_slice(&devices).unwrap(),
        })
}

fn boot_plan() -> impl Strategy<Value = BootPlan> {
    (
        proptest::collection::vec(personality_plan(), 0..=4),
        "[a-z-]{0,32}",
        any::<u64>(),
        0..=8usize,
        (proptest::option::of(storage()), any::<u64>(), any::<u32>()),
        proptest::option::of(any::<[u8; 32]>()),
    )
        .prop_map(|(personalities, name, base, cpus, (storage, guest_disk, guest_disk_interrupt), device_key)| {
            let mut plan = valid_plan();
            plan.board.name = name.as_str().try_into().unwrap();
            plan.board.ram.start.0 = base;
            plan.board.cpus.truncate(cpus.min(4));
            plan.board.storage = storage;
            plan.board.guest_disk = GuestPhysAddr(guest_disk);
            plan.board.guest_disk_interrupt = guest_disk_interrupt;
            plan.personalities = heapless::Vec::from_slice(&personalities).unwrap();
            plan.device_key = device_key;
            plan
        })
}

/// `count` personalities in disjoint, aligned 2 MiB-granular slots of the
/// board RAM above the hypervisor, each with its own core; the first two may
/// have the personal and the work disk, each plain or encrypted; each has up
/// to four devices, in distinct free pages of the device area
/// (0x0901_0000..0x0902_0000) with distinct SPIs from 64 up.
fn disjoint_manifest() -> impl Strategy<Value = Manifest> {
    (1..=4usize)
        .prop_flat_map(|count| {
            (
                proptest::collection::vec((8..=64u64, 0..=16u64), count),
                proptest::collection::vec(proptest::option::of(any::<bool>()), 2),
                proptest::collection::vec((0..=4usize, 1..=2u64, 0..=4usize), count),
            )
        })
        .prop_map(|(slots, disks, device_counts)| {
            let mut devices = Vec::new();
            let mut next_page = 0u64;
            let mut next_interrupt = 96u32;
            for (personality, &(count, pages, interrupts)) in device_counts.iter().enumerate() {
                for index in 0..count {
                    devices.push(DeviceConfig {
                        personality,
                        name: format!("d{index}"),
                        mmio: PhysRange::new(0x0901_0000 + next_page * 0x1000, pages * 0x1000),
                        interrupts: (next_interrupt..).take(interrupts).collect(),
                        compatible: vec!["arm,pl031".into(), "arm,primecell".into()],
                    });
                    next_page += pages;
                    next_interrupt += interrupts as u32;
                }
            }
            let mut base = 0x4800_0000;
            let personalities = slots
                .iter()
                .enumerate()
                .map(|(index, &(size_units, gap_units))| {
                    base += gap_units * 2 * MIB;
                    let mut config = personality(&format!("p{index}"), &[index as u8], base, size_units * 2 * MIB);
                    config.disk =
                        DiskPartition::ALL.get(index).zip(disks.get(index).copied().flatten()).map(|(&partition, encrypted)| DiskPlan { partition, encrypted });
                    base += size_units * 2 * MIB;
                    config
                })
                .collect();
            Manifest { console: crate::ConsoleMode::default(), board: "qemu-virt".into(), personalities, devices }
        })
}

proptest! {
    #[test]
    fn plan_encoding_round_trips(plan in boot_plan()) {
        prop_assert_eq!(decode_plan(&encode_plan(&plan)), Ok(plan.clone()));
        let payload = PayloadBuilder::new().finish(&plan);
        prop_assert_eq!(payload_length(&payload), Ok(payload.len() as u64));
        prop_assert_eq!(parse_payload(&payload).map(|(decoded, _)| decoded), Ok(plan));
    }

    #[test]
    fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = decode_plan(&bytes);
        let _ = payload_length(&bytes);
        if let Ok((plan, blobs)) = parse_payload(&bytes) {
            let _ = validate_plan(&plan, blobs.len());
        }
        let _ = flatten_kernel(&bytes);
    }

    #[test]
    fn decoding_mutated_plans_never_panics(plan in boot_plan(), edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8)) {
        let mut bytes = encode_plan(&plan);
        for (index, value) in edits {
            let at = index.index(bytes.len());
            bytes[at] = value;
        }
        if let Ok(plan) = decode_plan(&bytes) {
            let _ = validate_plan(&plan, u64::MAX);
        }
    }

    #[test]
    fn validate_accepts_disjoint_layouts(manifest in disjoint_manifest()) {
        prop_assert_eq!(validate(&manifest, &board()), Ok(()));
    }

    #[test]
    fn validate_rejects_overlapping_ram(manifest in disjoint_manifest(), shift in 1..=16u64) {
        prop_assume!(manifest.personalities.len() >= 2);
        let mut manifest = manifest;
        let earlier = manifest.personalities[0].ram;
        let moved = &mut manifest.personalities[1].ram;
        moved.start.0 = earlier.end().unwrap() - (shift * 2 * MIB).min(earlier.size);
        let errors = validate(&manifest, &board()).unwrap_err();
        prop_assert!(errors.iter().any(|error| matches!(error, ValidationError::RamOverlapsPersonality { .. })), "{:?}", errors);
    }

    #[test]
    fn sizes_with_suffixes_parse(value in 0..(1u64 << 30), suffix in prop::sample::select(vec![("", 1u64), ("K", 1 << 10), ("M", 1 << 20), ("G", 1 << 30)])) {
        prop_assert_eq!(parse_size(&format!("{value}{}", suffix.0)), value.checked_mul(suffix.1));
        prop_assert_eq!(parse_size(&format!("{value:#x}")), Some(value));
    }

    #[test]
    fn accepted_manifests_pass_the_boot_check(manifest in disjoint_manifest(), kernel_length in 1..4096usize, initrd_length in proptest::option::of(1..8192u64)) {
        prop_assert_eq!(validate(&manifest, &board()), Ok(()));
        let mut builder = PayloadBuilder::new();
        let mut personalities = heapless::Vec::<PersonalityPlan, 4>::new();
        for (index, config) in manifest.personalities.iter().enumerate() {
            let (kernel, layout) = plan_personality_layout(config, &vec![0x1f; kernel_length], initrd_length).unwrap();
            let kernel_blob = builder.add_blob(&kernel.bytes);
            let dtb = builder.add_blob(&[0xd0; 40]);
            let initrd = initrd_length.map(|length| builder.add_blob(&vec![0x1d; length as usize]));
            personalities.push(PersonalityPlan::assemble(config, manifest.devices_of(index), &layout, kernel_blob, dtb, initrd).unwrap()).unwrap();
        }
        let encrypted = manifest.personalities.iter().any(|config| config.disk.is_some_and(|disk| disk.encrypted));
        let device_key = encrypted.then_some(super::DEVICE_KEY);
        let plan = BootPlan { board: board(), console: ConsoleMode::Switched, personalities, device_key };
        let payload = builder.finish(&plan);
        let (decoded, blobs) = parse_payload(&payload).unwrap();
        prop_assert_eq!(&decoded, &plan);
        prop_assert_eq!(validate_plan(&decoded, blobs.len()), Ok(()));
    }
}
