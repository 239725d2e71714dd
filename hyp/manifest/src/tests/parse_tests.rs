//! TOML parsing: the model, size syntax, and `FILE:LINE` diagnostics.

use super::{MIB, SAMPLE, board, sample};
use crate::model::{ImageSource, parse_size};
use crate::parse::{ManifestErrorKind, ManifestErrors, load, parse};
use crate::validate::ValidationError;

fn rendered(errors: &ManifestErrors) -> Vec<String> {
    errors.errors.iter().map(ToString::to_string).collect()
}

#[test]
fn sample_parses_to_the_model() {
    assert_eq!(parse("janus.toml", SAMPLE), Ok(sample()));
    assert_eq!(load("janus.toml", SAMPLE, &board()), Ok(sample()));
}

#[test]
fn sizes_accept_integers_and_suffixes() {
    assert_eq!(parse_size("128M"), Some(128 * MIB));
    assert_eq!(parse_size("128MiB"), Some(128 * MIB));
    assert_eq!(parse_size("64K"), Some(64 << 10));
    assert_eq!(parse_size("2G"), Some(2 << 30));
    assert_eq!(parse_size(" 4096 "), Some(4096));
    assert_eq!(parse_size("0x4800_0000"), Some(0x4800_0000));
    assert_eq!(parse_size("1_024K"), Some(1 << 20));
    for bad in ["", "M", "12Q", "-1", "1.5G", "_1", "0x", "1 M", "99999999999999999999", "17179869184G"] {
        assert_eq!(parse_size(bad), None, "{bad:?}");
    }
}

#[test]
fn integer_size_and_string_base_are_accepted() {
    let text = SAMPLE.replace("size = \"128M\" }    #", "size = 134217728 }    #").replace("base = 0x5000_0000", "base = \"0x5000_0000\"");
    assert_eq!(parse("janus.toml", &text), Ok(sample()));
}

#[test]
fn syntax_error_carries_its_line() {
    let text = SAMPLE.replace("cpus = [2, 3]", "cpus = [2, 3");
    let errors = parse("janus.toml", &text).unwrap_err();
    assert_eq!(errors.errors.len(), 1);
    let error = &errors.errors[0];
    assert!(matches!(error.kind, ManifestErrorKind::Syntax { .. }));
    assert!(error.line == 14 || error.line == 15, "line {}", error.line);
    assert!(error.to_string().starts_with(&format!("janus.toml:{}: toml: ", error.line)), "{error}");
    assert!(error.to_string().contains("Fix: "), "{error}");
}

#[test]
fn unknown_field_is_rejected_with_its_line() {
    let text = SAMPLE.replace("kernel = \"builtin:testguest\"\n\"", "").replace("name = \"work\"", "name = \"work\"\ncolour = \"blue\"");
    let errors = parse("janus.toml", &text).unwrap_err();
    let lines = rendered(&errors);
    assert_eq!(lines.len(), 1);
    assert!(lines[0].starts_with("janus.toml:14: toml: unknown field `colour`"), "{}", lines[0]);
    assert!(lines[0].contains("Fix: remove the key"), "{}", lines[0]);
}

#[test]
fn unknown_top_level_and_ram_fields_are_rejected() {
    let errors = parse("a.toml", "board = \"qemu-virt\"\nbored = 1\n").unwrap_err();
    assert!(rendered(&errors)[0].starts_with("a.toml:2: toml: unknown field `bored`"), "{errors}");
    let text = SAMPLE.replace("size = \"128M\" }    #", "sise = \"128M\" }    #");
    let errors = parse("a.toml", &text).unwrap_err();
    assert!(rendered(&errors)[0].starts_with("a.toml:7: toml: unknown field `sise`"), "{errors}");
}

#[test]
fn missing_field_points_at_the_table_header() {
    let text = SAMPLE.replace("name = \"work\"\n", "");
    let errors = parse("janus.toml", &text).unwrap_err();
    let lines = rendered(&errors);
    assert!(lines[0].starts_with("janus.toml:12: toml: missing field `name`"), "{}", lines[0]);
    assert!(lines[0].contains("Fix: add the missing key"), "{}", lines[0]);
}

#[test]
fn bad_values_are_all_reported_with_lines() {
    let text = SAMPLE
        .replace("size = \"128M\" }    #", "size = \"128Q\" }    #")
        .replace("base = 0x5000_0000", "base = -5")
        .replace("cpus = [2, 3]", "cpus = [2,\n  300]");
    let errors = parse("janus.toml", &text).unwrap_err();
    let lines = rendered(&errors);
    assert_eq!(lines.len(), 3, "{lines:#?}");
    assert!(lines[0].starts_with("janus.toml:7: personality \"personal\" ram.size: size \"128Q\" is not a number"), "{}", lines[0]);
    assert!(lines[0].contains("Fix: write e.g. size = \"128M\""), "{}", lines[0]);
    assert!(lines[1].starts_with("janus.toml:15: personality \"work\" cpus[1]: 300 is not a core index"), "{}", lines[1]);
    assert!(lines[2].starts_with("janus.toml:16: personality \"work\" ram.base: base -5 is negative"), "{}", lines[2]);
}

#[test]
fn wrong_type_for_size_is_a_value_error() {
    let text = SAMPLE.replace("size = \"128M\" }    #", "size = true }    #");
    let errors = parse("janus.toml", &text).unwrap_err();
    assert!(rendered(&errors)[0].contains("must be an integer or a string, not a boolean"), "{errors}");
}

#[test]
fn validation_errors_carry_lines() {
    let text = SAMPLE
        .replace("board = \"qemu-virt\"", "board = \"rpi4\"")
        .replace("cpus = [2, 3]", "cpus = [\n  2,\n  1,\n]")
        .replace("base = 0x5000_0000", "base = 0x4c00_0000");
    let errors = load("janus.toml", &text, &board()).unwrap_err();
    let lines = rendered(&errors);
    assert_eq!(lines.len(), 3, "{lines:#?}");
    assert!(lines[0].starts_with("janus.toml:2: board: "), "{}", lines[0]);
    assert!(lines[1].starts_with("janus.toml:16: personality \"work\" cpus[1]: core 1 is already given"), "{}", lines[1]);
    assert!(lines[2].starts_with("janus.toml:18: personality \"work\" ram.base: RAM 0x4c000000..0x54000000 overlaps"), "{}", lines[2]);
    assert!(lines[2].contains("Fix: move work's RAM above 0x50000000 or shrink personal's"), "{}", lines[2]);
    assert!(matches!(errors.errors[2].kind, ManifestErrorKind::Invalid(ValidationError::RamOverlapsPersonality { .. })));
}

#[test]
fn table_level_errors_point_at_the_header() {
    let extra: String = (0..3)
        .map(|index| format!("\n[[personality]]\nname = \"p{index}\"\ncpus = [3]\nram = {{ base = 0x6000_0000, size = \"16M\" }}\nkernel = \"k\"\n"))
        .collect();
    let errors = load("janus.toml", &format!("{SAMPLE}{extra}"), &board()).unwrap_err();
    let too_many = errors.errors.iter().find(|error| matches!(error.kind, ManifestErrorKind::Invalid(ValidationError::TooManyPersonalities { .. }))).unwrap();
    // The fifth [[personality]] header: SAMPLE is 16 lines, each extra table 6.
    assert_eq!(too_many.line, 30, "{errors}");
    assert!(too_many.to_string().starts_with("janus.toml:30: personality \"p2\": "), "{too_many}");
}

#[test]
fn no_personality_points_at_line_one() {
    let errors = load("janus.toml", "board = \"qemu-virt\"\n", &board()).unwrap_err();
    assert_eq!(
        rendered(&errors),
        vec![
            "janus.toml:1: personality: the manifest defines no personality. Fix: add a [[personality]] table with \
         name, cpus, ram and kernel"
                .to_owned()
        ]
    );
}

#[test]
fn image_sources() {
    assert_eq!(ImageSource::from_spec("builtin:testguest"), ImageSource::Builtin("testguest"));
    assert_eq!(ImageSource::from_spec("../linux/Image"), ImageSource::File("../linux/Image"));
}

#[test]
fn console_mode_defaults_to_switched_and_accepts_tagged() {
    assert_eq!(parse("m.toml", SAMPLE).unwrap().console, crate::ConsoleMode::Switched);
    let tagged = format!("console = \"tagged\"\n{SAMPLE}");
    assert_eq!(parse("m.toml", &tagged).unwrap().console, crate::ConsoleMode::Tagged);
}

#[test]
fn an_unknown_console_mode_names_the_line_and_the_choices() {
    let text = format!("console = \"split\"\n{SAMPLE}");
    let errors = parse("m.toml", &text).unwrap_err();
    let lines = rendered(&errors);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].starts_with("m.toml:1: console: unknown console mode \"split\""), "{lines:?}");
    assert!(lines[0].contains("Fix: use \"switched\""), "{lines:?}");
}

#[test]
fn the_console_mode_survives_the_boot_plan() {
    for mode in [crate::ConsoleMode::Switched, crate::ConsoleMode::Tagged] {
        let mut plan = super::valid_plan();
        plan.console = mode;
        plan.board.hotkey_button = Some(janus_platform::GpioButton { controller: janus_platform::PhysAddr(0x0903_0000), line: 3, interrupt: 39 });
        let decoded = crate::decode_plan(&crate::encode_plan(&plan)).unwrap();
        assert_eq!(decoded.console, mode);
        assert_eq!(decoded, plan);
    }
}

/// [`SAMPLE`] with `personal_disk` and `work_disk` added after each
/// personality's `kernel` line (lines 9 and 18 of the result).
fn with_disks(personal_disk: &str, work_disk: &str) -> String {
    let mut tables = SAMPLE.split("\n\n[[personality]]\n");
    let head = tables.next().unwrap();
    let personal = tables.next().unwrap();
    let work = tables.next().unwrap();
    let personal = personal.replacen(
        "kernel = \"builtin:testguest\"                   # or a path relative to the manifest file\n",
        &format!("kernel = \"builtin:testguest\"\n{personal_disk}\n"),
        1,
    );
    format!("{head}\n\n[[personality]]\n{personal}\n\n[[personality]]\n{work}{work_disk}\n")
}

#[test]
fn disks_parse_with_encryption_off_by_default() {
    use crate::plan::{DiskPartition, DiskPlan};
    let text = with_disks("disk = { partition = \"personal\" }", "disk = { partition = \"work\", encrypted = true }");
    let manifest = load("janus.toml", &text, &board()).unwrap();
    assert_eq!(manifest.personalities[0].disk, Some(DiskPlan { partition: DiskPartition::Personal, encrypted: false }));
    assert_eq!(manifest.personalities[1].disk, Some(DiskPlan { partition: DiskPartition::Work, encrypted: true }));
    // The sub-table form means the same.
    let text = format!("{SAMPLE}\n[personality.disk]\npartition = \"work\"\nencrypted = false\n");
    assert_eq!(parse("janus.toml", &text).unwrap().personalities[1].disk, Some(DiskPlan { partition: DiskPartition::Work, encrypted: false }));
    assert_eq!(parse("janus.toml", SAMPLE).unwrap().personalities[0].disk, None);
}

#[test]
fn an_unknown_partition_names_the_line_and_the_choices() {
    let text = with_disks("disk = { partition = \"home\" }", "");
    let errors = parse("janus.toml", &text).unwrap_err();
    let lines = rendered(&errors);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].starts_with(
            "janus.toml:9: personality \"personal\" disk.partition: unknown disk partition \"home\". Fix: use \
             partition = \"personal\" or \"work\""
        ),
        "{lines:?}"
    );
    assert!(lines[0].contains("\"shared\" is reserved for the shared space"), "{lines:?}");
}

#[test]
fn the_shared_space_is_not_a_private_disk() {
    let text = with_disks("", "disk = { partition = \"shared\" }");
    let lines = rendered(&parse("janus.toml", &text).unwrap_err());
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].starts_with(
            "janus.toml:18: personality \"work\" disk.partition: partition \"shared\" is the shared space, not \
             a private disk. Fix: use partition = \"personal\" or \"work\""
        ),
        "{lines:?}"
    );
}

#[test]
fn a_partition_given_twice_is_refused_at_the_second() {
    let text = with_disks("disk = { partition = \"work\" }", "disk = { partition = \"work\", encrypted = true }");
    let errors = load("janus.toml", &text, &board()).unwrap_err();
    let lines = rendered(&errors);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].starts_with(
            "janus.toml:18: personality \"work\" disk.partition: partition \"work\" is already the disk of \
             personality \"personal\""
        ),
        "{lines:?}"
    );
    assert!(lines[0].contains("Fix: give each personality its own partition"), "{lines:?}");
    assert!(matches!(errors.errors[0].kind, ManifestErrorKind::Invalid(ValidationError::DiskShared { .. })));
}

#[test]
fn a_disk_on_a_board_without_storage_is_refused_with_its_line() {
    let text = with_disks("", "disk = { partition = \"work\" }");
    let mut no_storage = board();
    no_storage.storage = None;
    let lines = rendered(&load("janus.toml", &text, &no_storage).unwrap_err());
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].starts_with("janus.toml:18: personality \"work\" disk: board \"qemu-virt\" has no storage"), "{lines:?}");
    assert!(lines[0].contains("Fix: remove the disk from work"), "{lines:?}");
}

#[test]
fn unknown_keys_in_the_disk_table_are_refused_with_their_line() {
    let text = with_disks("", "disk = { partition = \"work\", encrypt = true }");
    let lines = rendered(&parse("janus.toml", &text).unwrap_err());
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].starts_with("janus.toml:18: toml: unknown field `encrypt`, expected `partition` or `encrypted`"), "{lines:?}");
    assert!(lines[0].contains("Fix: remove the key or correct its spelling"), "{lines:?}");
    let text = with_disks("", "disk = { encrypted = true }");
    let lines = rendered(&parse("janus.toml", &text).unwrap_err());
    assert!(lines[0].starts_with("janus.toml:18: toml: missing field `partition`"), "{lines:?}");
    assert!(lines[0].contains("Fix: add the missing key"), "{lines:?}");
}

#[test]
fn wrongly_typed_disk_values_are_refused_with_their_line() {
    let text = with_disks("disk = { partition = 2 }", "disk = { partition = \"work\", encrypted = \"yes\" }");
    let lines = rendered(&parse("janus.toml", &text).unwrap_err());
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines[0].starts_with("janus.toml:9: personality \"personal\" disk.partition: partition must be a string, not an integer"), "{lines:?}");
    assert!(lines[0].contains("Fix: use partition = \"personal\" or \"work\""), "{lines:?}");
    assert!(
        lines[1].starts_with(
            "janus.toml:18: personality \"work\" disk.encrypted: encrypted must be true or false, not a string. \
             Fix: write encrypted = true"
        ),
        "{lines:?}"
    );
    let text = with_disks("", "disk = \"work\"");
    let lines = rendered(&parse("janus.toml", &text).unwrap_err());
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].starts_with(
            "janus.toml:18: toml: invalid type: string \"work\", expected a disk table such as { partition = \"work\", \
             encrypted = true }. Fix: give the key a value of the expected type"
        ),
        "{lines:?}"
    );
}
