//! A broken manifest is a build error naming the file, the line, the field
//! and the fix, and no image is written.

use janus_tests::{DeviceFile, DiskFile, RangeFile, build_image, test_system};

#[test]
fn overlapping_ram_names_file_line_field_and_fix() {
    let mut system = test_system("", "");
    system.personalities[1].ram.base = 0x4c00_0000;
    let error = build_image(&system.to_toml()).unwrap_err();
    assert!(error.contains("manifest-"), "no file name: {error}");
    assert!(error.contains(".toml:"), "no line: {error}");
    assert!(error.contains("ram"), "no field: {error}");
    assert!(error.to_lowercase().contains("fix"), "no fix: {error}");
}

#[test]
fn a_core_that_the_board_lacks_is_refused() {
    let mut system = test_system("", "");
    system.personalities[1].cpus = vec![2, 9];
    let error = build_image(&system.to_toml()).unwrap_err();
    assert!(error.contains("cpus"), "{error}");
    assert!(error.contains('9'), "{error}");
}

#[test]
fn a_missing_kernel_file_names_the_personality_and_the_fix() {
    let mut system = test_system("", "");
    system.personalities[0].kernel = "no/such/Image".into();
    let error = build_image(&system.to_toml()).unwrap_err();
    assert!(error.contains("personal"), "{error}");
    assert!(error.contains("no/such/Image"), "{error}");
    assert!(error.contains("Fix"), "{error}");
}

/// The standard test manifest with these disks.
fn with_disks(personal_disk: Option<DiskFile>, work_disk: Option<DiskFile>) -> String {
    let mut system = test_system("", "");
    system.personalities[0].disk = personal_disk;
    system.personalities[1].disk = work_disk;
    system.to_toml()
}

#[test]
fn a_partition_given_to_two_personalities_is_refused() {
    let manifest = with_disks(Some(DiskFile::new("work", None)), Some(DiskFile::new("work", Some(true))));
    let error = build_image(&manifest).unwrap_err();
    assert!(error.contains(".toml:"), "no line: {error}");
    assert!(error.contains("personality \"work\" disk.partition"), "{error}");
    assert!(error.contains("already the disk of personality \"personal\""), "{error}");
    assert!(error.contains("Fix: give each personality its own partition"), "{error}");
}

#[test]
fn an_unknown_partition_names_the_choices() {
    let manifest = with_disks(Some(DiskFile::new("shared", None)), None);
    let error = build_image(&manifest).unwrap_err();
    assert!(error.contains("personality \"personal\" disk.partition"), "{error}");
    assert!(error.contains("Fix: use partition = \"personal\" or \"work\""), "{error}");
}

#[test]
fn an_encrypted_disk_embeds_the_device_key_in_a_private_image() {
    let manifest = with_disks(Some(DiskFile::new("personal", None)), Some(DiskFile::new("work", Some(true))));
    let image = build_image(&manifest).unwrap();
    let key = std::fs::read(xtask::devicekey::default_path()).unwrap();
    assert_eq!(key.len(), 32);
    let bytes = std::fs::read(&image).unwrap();
    assert!(bytes.windows(32).any(|window| window == key), "the key is not in the image");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&image).unwrap().permissions().mode() & 0o777, 0o600);
    }
    let _ = std::fs::remove_file(image);
}

#[test]
fn a_device_over_janus_own_interrupt_controller_is_refused() {
    // A passed-through device may not sit on the GIC distributor (QEMU
    // virt: 0x0800_0000, on either GIC version).
    let mut system = test_system("", "");
    system.personalities[1].devices.push(DeviceFile::new("gic", RangeFile::new(0x0800_0000, "4K"), &[], &["arm,gic-v3"]));
    let error = build_image(&system.to_toml()).unwrap_err();
    assert!(error.contains(".toml:"), "no line: {error}");
    assert!(error.contains("personality \"work\" device \"gic\" mmio.base"), "{error}");
    assert!(error.contains("overlaps the GIC distributor 0x8000000..0x8"), "{error}");
    assert!(error.contains("Fix: pass through only a device that Janus does not use or emulate"), "{error}");
}

/// The test manifest with one device passed through to work at `base`.
fn with_work_device(base: i64) -> String {
    let mut system = test_system("", "");
    system.personalities[1].devices.push(DeviceFile::new("dev", RangeFile::new(base, "4K"), &[40], &["vendor,dev"]));
    system.to_toml()
}

#[test]
fn a_device_that_may_master_dma_is_refused_with_the_reason() {
    // QEMU virt's platform bus and PCIe MMIO window hold DMA masters; only
    // the PL031 RTC is declared DMA-incapable.
    for base in [0x0c00_0000, 0x1000_0000] {
        let error = build_image(&with_work_device(base)).unwrap_err();
        assert!(error.contains("personality \"work\" device \"dev\" mmio.base"), "{error}");
        assert!(error.contains("may master DMA (the board does not declare it DMA-incapable) and Janus programs no IOMMU"), "{error}");
        assert!(error.contains("Fix: pass through only a device the board declares DMA-incapable: 0x9010000..0x9011000"), "{error}");
    }
    assert!(build_image(&with_work_device(0x0901_0000)).is_ok(), "the RTC may be passed through");
}

#[test]
fn the_gic_its_and_fw_cfg_are_reserved_on_qemu_virt() {
    for (base, reason) in [
        (0x0808_0000, "overlaps the GIC ITS (it masters DMA: it writes its tables to memory) 0x8080000..0x80a0000"),
        (0x0809_f000, "the GIC ITS"),
        (0x0902_0000, "overlaps fw_cfg (it masters DMA: its DMA interface writes memory) 0x9020000..0x9021000"),
    ] {
        let error = build_image(&with_work_device(base)).unwrap_err();
        assert!(error.contains("personality \"work\" device \"dev\" mmio.base"), "{error}");
        assert!(error.contains(reason), "{error}");
        assert!(error.contains("which Janus keeps for itself"), "{error}");
    }
}
