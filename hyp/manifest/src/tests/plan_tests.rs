//! One test per `PlanError` variant: `validate_plan` reports it and its
//! message names the personality.

use janus_platform::{GuestPhysAddr, PhysRange};

use super::{MIB, PLAN_PAYLOAD_LENGTH, With, valid_plan, valid_plan_with_disks};
use crate::plan::{Blob, BlobKind, BootPlan, DiskPartition, PlanError, validate_plan};
use crate::rules::NameProblem;

/// Validates and checks the message mentions `needle`.
fn rejected(plan: &BootPlan, needle: &str) -> PlanError {
    let error = validate_plan(plan, PLAN_PAYLOAD_LENGTH).expect_err("plan should be rejected");
    assert!(error.to_string().contains(needle), "{error} lacks {needle:?}");
    error
}

#[test]
fn valid_plan_passes() {
    assert_eq!(validate_plan(&valid_plan(), PLAN_PAYLOAD_LENGTH), Ok(()));
}

#[test]
fn valid_plan_with_disks_passes() {
    assert_eq!(validate_plan(&valid_plan_with_disks(), PLAN_PAYLOAD_LENGTH), Ok(()));
}

#[test]
fn board_invalid() {
    use janus_platform::{GuestPhysAddr as Guest, PhysAddr, StorageDescription};
    fn storage(base: u64, slots: u32, stride: u64) -> Option<StorageDescription> {
        Some(StorageDescription::VirtioMmio { base: PhysAddr(base), slots, stride, first_interrupt: 48 })
    }
    fn storage_interrupt(first_interrupt: u32) -> Option<StorageDescription> {
        Some(StorageDescription::VirtioMmio { base: PhysAddr(0x0a00_0000), slots: 32, stride: 0x200, first_interrupt })
    }
    type Edit = fn(&mut BootPlan);
    let cases: [(Edit, &str); 11] = [
        (|p| p.board.guest_disk_interrupt = 31, "guest disk's interrupt"),
        (|p| p.board.guest_disk_interrupt = 1020, "guest disk's interrupt"),
        (|p| p.board.guest_disk_interrupt = 33, "share an interrupt"),
        (|p| p.board.guest_disk = Guest(0x0900_0e00), "overlaps the guest UART"),
        (|p| p.board.guest_disk = Guest(u64::MAX - 0xff), "wraps"),
        (|p| p.board.guest_disk = Guest(0x4000_0000 - 0x100), "board RAM"),
        (|p| p.board.storage = storage(0x0a00_0000, 0, 0x200), "storage"),
        (|p| p.board.storage = storage(0x0a00_0000, 32, 0x100), "storage"),
        (|p| p.board.storage = storage_interrupt(31), "SPIs"),
        (|p| p.board.storage = storage_interrupt(1000), "SPIs"),
        (|p| p.board.storage = storage_interrupt(u32::MAX - 4), "SPIs"),
    ];
    for (edit, needle) in cases {
        let error = rejected(&valid_plan().with(edit), needle);
        assert!(matches!(error, PlanError::BoardInvalid { .. }), "{error:?}");
    }
    let wrapping = valid_plan().with(|p| p.board.storage = storage(u64::MAX - 0x1000, 32, 0x200));
    assert!(matches!(rejected(&wrapping, "storage"), PlanError::BoardInvalid { .. }));
    let cases: [fn(&mut BootPlan); 6] = [
        |p| p.board.hotkey_button = Some(janus_platform::GpioButton { controller: janus_platform::PhysAddr(0x0903_0000), line: 9, interrupt: 39 }),
        |p| p.board.ram = PhysRange::new(u64::MAX, 2),
        |p| p.board.hypervisor = PhysRange::new(0x1000, 0x1000),
        |p| p.board.cpus.clear(),
        |p| p.board.guest_uart_interrupt = 27,
        |p| p.board.guest_uart_interrupt = 1023,
    ];
    for edit in cases {
        assert!(matches!(rejected(&valid_plan().with(edit), "board"), PlanError::BoardInvalid { .. }));
    }
}

#[test]
fn no_personalities() {
    let plan = valid_plan().with(|p| p.personalities.clear());
    assert_eq!(rejected(&plan, "no personality"), PlanError::NoPersonalities);
}

#[test]
fn invalid_name() {
    let plan = valid_plan().with(|p| p.personalities[1].name = "Work".try_into().unwrap());
    let error = rejected(&plan, "personality #1");
    assert_eq!(error, PlanError::InvalidName { index: 1, problem: NameProblem::BadCharacter { character: 'W' } });
    let plan = valid_plan().with(|p| p.personalities[1].name = "sixteen-bytes-xx".try_into().unwrap());
    assert!(matches!(rejected(&plan, "16 bytes"), PlanError::InvalidName { problem: NameProblem::TooLong { length: 16 }, .. }));
}

#[test]
fn duplicate_name() {
    let plan = valid_plan().with(|p| p.personalities[1].name = "personal".try_into().unwrap());
    assert!(matches!(rejected(&plan, "\"personal\""), PlanError::DuplicateName { .. }));
}

#[test]
fn no_cpus() {
    let plan = valid_plan().with(|p| p.personalities[1].cpus.clear());
    assert!(matches!(rejected(&plan, "\"work\""), PlanError::NoCpus { .. }));
}

#[test]
fn duplicate_cpu() {
    let plan = valid_plan().with(|p| p.personalities[1].cpus.push(2).unwrap());
    assert!(matches!(rejected(&plan, "\"work\" lists core 2 twice"), PlanError::DuplicateCpu { cpu: 2, .. }));
}

#[test]
fn cpu_not_on_board() {
    let plan = valid_plan().with(|p| p.personalities[1].cpus[1] = 4);
    assert!(matches!(rejected(&plan, "\"work\""), PlanError::CpuNotOnBoard { cpu: 4, board_cpus: 4, .. }));
}

#[test]
fn cpu_shared() {
    let plan = valid_plan().with(|p| p.personalities[1].cpus[1] = 0);
    assert!(matches!(rejected(&plan, "\"work\" uses core 0, which \"personal\""), PlanError::CpuShared { cpu: 0, .. }));
}

#[test]
fn ram_misaligned() {
    let plan = valid_plan().with(|p| p.personalities[1].ram.size -= 4096);
    assert!(matches!(rejected(&plan, "\"work\""), PlanError::RamMisaligned { .. }));
}

#[test]
fn ram_too_small() {
    let plan = valid_plan().with(|p| p.personalities[1].ram.size = 8 * MIB);
    assert!(matches!(rejected(&plan, "\"work\""), PlanError::RamTooSmall { .. }));
}

#[test]
fn ram_wraps() {
    let plan = valid_plan().with(|p| p.personalities[1].ram = PhysRange::new(0xffff_ffff_ffe0_0000, 32 * MIB));
    assert!(matches!(rejected(&plan, "\"work\""), PlanError::RamWraps { .. }));
}

#[test]
fn ram_outside_board() {
    let plan = valid_plan().with(|p| p.personalities[1].ram.start.0 = 0xc000_0000);
    assert!(matches!(rejected(&plan, "\"work\" RAM 0xc0000000"), PlanError::RamOutsideBoard { .. }));
}

#[test]
fn ram_overlaps_hypervisor() {
    let plan = valid_plan().with(|p| p.personalities[0].ram.start.0 = 0x4600_0000);
    assert!(matches!(rejected(&plan, "\"personal\""), PlanError::RamOverlapsHypervisor { .. }));
}

#[test]
fn ram_overlaps_personality() {
    let plan = valid_plan().with(|p| p.personalities[1].ram.start.0 = 0x4c00_0000);
    // Loads must stay inside the moved RAM so only the overlap is wrong.
    let plan = plan.with(|p| {
        let work = &mut p.personalities[1];
        work.kernel_load = GuestPhysAddr(0x4c08_0000);
        work.entry = work.kernel_load;
        work.dtb_load = GuestPhysAddr(0x4c00_0000 + 126 * MIB);
        work.initrd = None;
    });
    assert!(matches!(rejected(&plan, "\"work\" RAM overlaps personality \"personal\""), PlanError::RamOverlapsPersonality { .. }));
}

#[test]
fn empty_blob() {
    let plan = valid_plan().with(|p| p.personalities[0].kernel.size = 0);
    assert_eq!(rejected(&plan, "\"personal\" kernel is empty"), PlanError::EmptyBlob { personality: "personal".try_into().unwrap(), blob: BlobKind::Kernel });
    let plan = valid_plan().with(|p| p.personalities[0].dtb.size = 0);
    assert!(matches!(rejected(&plan, "device tree is empty"), PlanError::EmptyBlob { blob: BlobKind::Dtb, .. }));
}

#[test]
fn blob_outside_payload() {
    let plan = valid_plan().with(|p| p.personalities[0].initrd.as_mut().unwrap().0 = Blob { offset: PLAN_PAYLOAD_LENGTH, size: 1 });
    assert!(matches!(rejected(&plan, "\"personal\" initrd"), PlanError::BlobOutsidePayload { blob: BlobKind::Initrd, .. }));
    let plan = valid_plan().with(|p| p.personalities[0].dtb = Blob { offset: u64::MAX, size: 2 });
    assert!(matches!(rejected(&plan, "device tree"), PlanError::BlobOutsidePayload { blob: BlobKind::Dtb, .. }));
}

#[test]
fn load_outside_ram() {
    let plan = valid_plan().with(|p| p.personalities[1].dtb_load = GuestPhysAddr(0x5800_0000 - 0x800));
    assert!(matches!(rejected(&plan, "\"work\" device tree loaded at 0x57fff800"), PlanError::LoadOutsideRam { blob: BlobKind::Dtb, .. }));
    let plan = valid_plan().with(|p| p.personalities[1].kernel_load = GuestPhysAddr(u64::MAX - 1));
    assert!(matches!(rejected(&plan, "\"work\" kernel"), PlanError::LoadOutsideRam { blob: BlobKind::Kernel, .. }));
}

#[test]
fn loads_overlap() {
    let plan = valid_plan().with(|p| {
        let personal = &mut p.personalities[0];
        personal.initrd.as_mut().unwrap().1 = GuestPhysAddr(personal.kernel_load.0 + 0x2000);
    });
    let error = rejected(&plan, "\"personal\" kernel and initrd would be loaded over each other");
    assert!(matches!(error, PlanError::LoadsOverlap { first: BlobKind::Kernel, second: BlobKind::Initrd, .. }));
}

#[test]
fn entry_outside_kernel() {
    let plan = valid_plan().with(|p| p.personalities[0].entry = GuestPhysAddr(0x4800_0000));
    assert!(matches!(rejected(&plan, "\"personal\" entry 0x48000000"), PlanError::EntryOutsideKernel { .. }));
}

#[test]
fn dtb_too_large() {
    let plan = valid_plan().with(|p| {
        let personal = &mut p.personalities[0];
        personal.dtb = Blob { offset: 0x1000, size: 2 * MIB + 1 };
        personal.dtb_load = GuestPhysAddr(0x4800_0000 + 100 * MIB);
    });
    let error = validate_plan(&plan, 4 * MIB).unwrap_err();
    assert!(matches!(error, PlanError::DtbTooLarge { size, .. } if size == 2 * MIB + 1), "{error:?}");
    assert!(error.to_string().contains("\"personal\" device tree"), "{error}");
}

#[test]
fn disk_shared() {
    let plan = valid_plan_with_disks().with(|p| {
        p.personalities[1].disk.as_mut().unwrap().partition = DiskPartition::Personal;
    });
    assert_eq!(
        rejected(&plan, "\"work\" disk uses partition \"personal\", which \"personal\" already has"),
        PlanError::DiskShared { personality: "work".try_into().unwrap(), other: "personal".try_into().unwrap(), partition: DiskPartition::Personal }
    );
}

#[test]
fn disk_without_storage() {
    let plan = valid_plan_with_disks().with(|p| p.board.storage = None);
    assert_eq!(
        rejected(&plan, "\"personal\" has a disk but the board has no storage"),
        PlanError::DiskWithoutStorage { personality: "personal".try_into().unwrap() }
    );
}

#[test]
fn encrypted_disk_without_key() {
    let plan = valid_plan_with_disks().with(|p| p.device_key = None);
    assert_eq!(
        rejected(&plan, "\"work\" disk is encrypted but the boot plan has no device key"),
        PlanError::EncryptedDiskWithoutKey { personality: "work".try_into().unwrap() }
    );
    // A plain disk needs no key.
    let plain = plan.with(|p| p.personalities[1].disk.as_mut().unwrap().encrypted = false);
    assert_eq!(validate_plan(&plain, PLAN_PAYLOAD_LENGTH), Ok(()));
}

#[test]
fn device_key_all_zero() {
    let plan = valid_plan_with_disks().with(|p| p.device_key = Some([0; 32]));
    assert_eq!(rejected(&plan, "device key is all zeros"), PlanError::DeviceKeyAllZero);
    // Whether or not a disk needs it.
    let plan = valid_plan().with(|p| p.device_key = Some([0; 32]));
    assert_eq!(rejected(&plan, "all zeros"), PlanError::DeviceKeyAllZero);
    let mut key = [0; 32];
    key[31] = 1;
    let plan = valid_plan_with_disks().with(|p| p.device_key = Some(key));
    assert_eq!(validate_plan(&plan, PLAN_PAYLOAD_LENGTH), Ok(()));
}
