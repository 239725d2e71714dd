//! Guest layout planning and its errors.

use janus_platform::{GuestPhysAddr, PhysRange};

use super::kernel_tests::{elf, image, load};
use super::{MIB, personality, rtc};
use crate::kernel::{FlatKernel, KernelFormat, KernelPlacement, flatten_kernel};
use crate::layout::{GuestLayout, LayoutError, plan_layout, plan_personality_layout};
use crate::plan::{Blob, PersonalityPlan};

const RAM: PhysRange = PhysRange::new(0x4800_0000, 128 * MIB);

#[test]
fn image_with_initrd() {
    let kernel = flatten_kernel(&image(0x8_0000, 0x20_0000, 100)).unwrap();
    let layout = plan_layout(RAM, &kernel, Some(0x1234)).unwrap();
    assert_eq!(
        layout,
        GuestLayout {
            kernel_load: GuestPhysAddr(0x4808_0000),
            entry: GuestPhysAddr(0x4808_0000),
            dtb_load: GuestPhysAddr(0x4fe0_0000),
            initrd_load: Some(GuestPhysAddr(0x4fdf_e000)),
        }
    );
}

#[test]
fn raw_without_initrd() {
    let kernel = flatten_kernel(&[0; 64]).unwrap();
    let layout = plan_layout(RAM, &kernel, None).unwrap();
    assert_eq!(layout.kernel_load, GuestPhysAddr(0x4800_0000));
    assert_eq!(layout.entry, GuestPhysAddr(0x4800_0000));
    assert_eq!(layout.initrd_load, None);
}

#[test]
fn elf_inside_ram() {
    let kernel = flatten_kernel(&elf(0x4800_0100, &[load(0x4800_0000, &[1; 0x200], 0x1000)])).unwrap();
    let layout = plan_layout(RAM, &kernel, None).unwrap();
    assert_eq!((layout.kernel_load, layout.entry), (GuestPhysAddr(0x4800_0000), GuestPhysAddr(0x4800_0100)));
}

#[test]
fn kernel_reaching_the_initrd_needs_more_ram() {
    let kernel = flatten_kernel(&image(0x8_0000, 100 * MIB, 100)).unwrap();
    let error = plan_layout(RAM, &kernel, Some(30 * MIB)).unwrap_err();
    assert!(matches!(error, LayoutError::NotEnoughRam { needed_ram, .. } if needed_ram == 134 * MIB), "{error:?}");
    let named = plan_personality_layout(&personality("work", &[2], RAM.start.get(), RAM.size), &image(0x8_0000, 100 * MIB, 100), Some(30 * MIB)).unwrap_err();
    let text = named.to_string();
    assert!(text.starts_with("personality \"work\": RAM 0x48000000..0x50000000 is 128 MiB"), "{text}");
    assert!(text.contains("initrd needs 0x1e00000 bytes"), "{text}");
    assert!(text.contains("Fix: give work more RAM: needs at least 134 MiB"), "{text}");
}

#[test]
fn kernel_reaching_the_dtb_needs_more_ram() {
    let kernel = flatten_kernel(&image(0, 127 * MIB, 100)).unwrap();
    assert!(matches!(plan_layout(RAM, &kernel, None), Err(LayoutError::NotEnoughRam { needed_ram, .. }) if needed_ram == 130 * MIB));
}

#[test]
fn initrd_larger_than_ram() {
    let kernel = flatten_kernel(&[0; 64]).unwrap();
    assert!(matches!(plan_layout(RAM, &kernel, Some(200 * MIB)), Err(LayoutError::NotEnoughRam { .. })));
}

#[test]
fn ram_without_room_for_the_dtb() {
    let kernel = flatten_kernel(&[0; 64]).unwrap();
    assert!(matches!(plan_layout(PhysRange::new(0x4800_0000, MIB), &kernel, None), Err(LayoutError::NotEnoughRam { .. })));
}

#[test]
fn image_beyond_ram_end_needs_more_ram() {
    let kernel = flatten_kernel(&image(200 * MIB, MIB, 100)).unwrap();
    let error = plan_layout(RAM, &kernel, None).unwrap_err();
    assert!(matches!(error, LayoutError::KernelOutsideRam { needed_ram: Some(_), .. }), "{error:?}");
    assert!(error.to_string().contains("give the personality more RAM: needs at least 204 MiB"), "{error}");
    let overflowing = flatten_kernel(&image(u64::MAX - 10, MIB, 100)).unwrap();
    assert!(matches!(plan_layout(RAM, &overflowing, None), Err(LayoutError::KernelOutsideRam { needed_ram: None, .. })));
}

#[test]
fn elf_linked_below_ram_must_be_relinked() {
    let kernel = flatten_kernel(&elf(0x4000_0000, &[load(0x4000_0000, &[1; 16], 16)])).unwrap();
    let error = plan_layout(RAM, &kernel, None).unwrap_err();
    assert_eq!(error, LayoutError::KernelOutsideRam { start: 0x4000_0000, footprint: 16, ram: RAM, needed_ram: None });
    assert!(error.to_string().contains("link the kernel to load inside 0x48000000..0x50000000"), "{error}");
}

#[test]
fn entry_outside_ram() {
    let kernel = FlatKernel {
        format: KernelFormat::Elf,
        bytes: vec![0; 16],
        load: KernelPlacement::RamOffset(0),
        entry: KernelPlacement::Address(GuestPhysAddr(0x1000)),
        footprint: 16,
    };
    assert_eq!(plan_layout(RAM, &kernel, None), Err(LayoutError::EntryOutsideRam { entry: 0x1000, ram: RAM }));
}

#[test]
fn wrapping_ram() {
    let ram = PhysRange::new(u64::MAX - MIB, 4 * MIB);
    let kernel = flatten_kernel(&[0; 4]).unwrap();
    assert_eq!(plan_layout(ram, &kernel, None), Err(LayoutError::RamWraps { ram }));
}

#[test]
fn assembling_a_plan_entry() {
    let config = personality("work", &[2, 3], RAM.start.get(), RAM.size);
    let (kernel, layout) = plan_personality_layout(&config, &image(0x8_0000, MIB, 10), Some(10)).unwrap();
    let blob = Blob { offset: 0x1000, size: kernel.bytes.len() as u64 };
    let dtb = Blob { offset: 0x2000, size: 10 };
    let initrd = Blob { offset: 0x3000, size: 10 };
    let plan = PersonalityPlan::assemble(&config, [], &layout, blob, dtb, Some(initrd)).unwrap();
    assert_eq!(plan.name.as_str(), "work");
    assert_eq!(plan.initrd, Some((initrd, layout.initrd_load.unwrap())));
    assert_eq!(PersonalityPlan::assemble(&config, [], &layout, blob, dtb, None), None, "layout has an initrd");
    let long_name = personality("this-name-is-too-long", &[2], RAM.start.get(), RAM.size);
    assert_eq!(PersonalityPlan::assemble(&long_name, [], &layout, blob, dtb, Some(initrd)), None);
}

#[test]
fn assembling_carries_the_devices_within_the_plan_capacities() {
    let config = personality("personal", &[0], RAM.start.get(), RAM.size);
    let (_, layout) = plan_personality_layout(&config, &[0x1f; 64], None).unwrap();
    let blob = Blob { offset: 0x1000, size: 64 };
    let dtb = Blob { offset: 0x2000, size: 10 };
    let assemble = |devices: &[crate::DeviceConfig]| PersonalityPlan::assemble(&config, devices, &layout, blob, dtb, None);
    let plan = assemble(&[rtc(0)]).unwrap();
    assert_eq!(plan.devices.len(), 1);
    assert_eq!(plan.devices[0].name.as_str(), "rtc");
    assert_eq!(plan.devices[0].mmio, PhysRange::new(0x0901_0000, 0x1000));
    assert_eq!(plan.devices[0].interrupts.as_slice(), [34]);
    assert_eq!(assemble(&[]).unwrap().devices.len(), 0);
    // Past a capacity (which validation rules out) there is no plan.
    assert_eq!(assemble(&vec![rtc(0); 5]), None);
    let mut busy = rtc(0);
    busy.interrupts = vec![34, 35, 36, 37, 38];
    assert_eq!(assemble(&[busy]), None);
    let mut long = rtc(0);
    long.name = "a-very-long-device-name".into();
    assert_eq!(assemble(&[long]), None);
}
