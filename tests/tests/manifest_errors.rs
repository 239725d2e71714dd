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
