//! A broken manifest is a build error naming the file, the line, the field
//! and the fix, and no image is written.

use janus_tests::{build_image, test_manifest};

#[test]
fn overlapping_ram_names_file_line_field_and_fix() {
    let manifest = test_manifest("", "").replace("base = 0x5000_0000", "base = 0x4c00_0000");
    let error = build_image(&manifest).unwrap_err();
    assert!(error.contains("manifest-"), "no file name: {error}");
    assert!(error.contains(".toml:"), "no line: {error}");
    assert!(error.contains("ram"), "no field: {error}");
    assert!(error.to_lowercase().contains("fix"), "no fix: {error}");
}

#[test]
fn a_core_that_the_board_lacks_is_refused() {
    let manifest = test_manifest("", "").replace("cpus = [2, 3]", "cpus = [2, 9]");
    let error = build_image(&manifest).unwrap_err();
    assert!(error.contains("cpus"), "{error}");
    assert!(error.contains('9'), "{error}");
}

#[test]
fn a_missing_kernel_file_names_the_personality_and_the_fix() {
    let manifest = test_manifest("", "").replacen("builtin:testguest", "no/such/Image", 1);
    let error = build_image(&manifest).unwrap_err();
    assert!(error.contains("personal"), "{error}");
    assert!(error.contains("no/such/Image"), "{error}");
    assert!(error.contains("Fix"), "{error}");
}

/// The standard test manifest with a `disk` line in each personality.
fn with_disks(personal_disk: &str, work_disk: &str) -> String {
    test_manifest("", "")
        .replacen("cmdline = \"role=personal", &format!("{personal_disk}\ncmdline = \"role=personal"), 1)
        .replacen("cmdline = \"role=work", &format!("{work_disk}\ncmdline = \"role=work"), 1)
}

#[test]
fn a_partition_given_to_two_personalities_is_refused() {
    let manifest = with_disks("disk = { partition = \"work\" }", "disk = { partition = \"work\", encrypted = true }");
    let error = build_image(&manifest).unwrap_err();
    assert!(error.contains(".toml:"), "no line: {error}");
    assert!(error.contains("personality \"work\" disk.partition"), "{error}");
    assert!(error.contains("already the disk of personality \"personal\""), "{error}");
    assert!(error.contains("Fix: give each personality its own partition"), "{error}");
}

#[test]
fn an_unknown_partition_names_the_choices() {
    let manifest = with_disks("disk = { partition = \"shared\" }", "");
    let error = build_image(&manifest).unwrap_err();
    assert!(error.contains("personality \"personal\" disk.partition"), "{error}");
    assert!(error.contains("Fix: use partition = \"personal\" or \"work\""), "{error}");
}

#[test]
fn an_encrypted_disk_embeds_the_device_key_in_a_private_image() {
    let manifest = with_disks("disk = { partition = \"personal\" }", "disk = { partition = \"work\", encrypted = true }");
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
    let device = "[[personality.device]]\nname = \"gic\"\nmmio = { base = 0x0800_0000, size = \"4K\" }\n\
                  compatible = [\"arm,gic-v3\"]\n";
    let manifest = format!("{}\n{device}", test_manifest("", ""));
    let error = build_image(&manifest).unwrap_err();
    assert!(error.contains(".toml:"), "no line: {error}");
    assert!(error.contains("personality \"work\" device \"gic\" mmio.base"), "{error}");
    assert!(error.contains("overlaps the GIC distributor 0x8000000..0x8"), "{error}");
    assert!(error.contains("Fix: pass through only a device that Janus does not use or emulate"), "{error}");
}
