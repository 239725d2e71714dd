//! One test per `ValidationError` variant: the variant is reported, its
//! message names the field and carries a fix.

use janus_platform::PhysRange;

use super::{MIB, With, board, board_with_cpus, personality, sample};
use crate::model::Manifest;
use crate::rules::NameProblem;
use crate::validate::{ValidationError, validate};

/// Validates, finds the error matching `$pattern`, checks its message starts
/// with `$field` and has a fix, and returns it.
macro_rules! expect_error {
    ($manifest:expr, $board:expr, $pattern:pat, $field:expr) => {{
        let errors = validate(&$manifest, &$board).expect_err("manifest should be rejected");
        let error = errors.iter().find(|error| matches!(error, $pattern)).unwrap_or_else(|| panic!("no {} in {errors:#?}", stringify!($pattern))).clone();
        let text = error.to_string();
        assert!(text.starts_with(&format!("{}: ", $field)), "field missing: {text}");
        assert!(text.contains(". Fix: "), "fix missing: {text}");
        (error, text)
    }};
    ($manifest:expr, $pattern:pat, $field:expr) => {
        expect_error!($manifest, board(), $pattern, $field)
    };
}

#[test]
fn sample_manifest_is_valid() {
    assert_eq!(validate(&sample(), &board()), Ok(()));
}

#[test]
fn board_mismatch() {
    let manifest = sample().with(|m| m.board = "rpi4".into());
    let (_, text) = expect_error!(manifest, ValidationError::BoardMismatch { .. }, "board");
    assert!(text.contains("\"rpi4\"") && text.contains("set board = \"qemu-virt\""), "{text}");
}

#[test]
fn no_personalities() {
    let manifest = Manifest { console: crate::ConsoleMode::default(), board: "qemu-virt".into(), personalities: vec![], devices: vec![] };
    let (_, text) = expect_error!(manifest, ValidationError::NoPersonalities, "personality");
    assert!(text.contains("[[personality]]"), "{text}");
}

#[test]
fn too_many_personalities() {
    let manifest = Manifest {
        console: crate::ConsoleMode::default(),
        board: "qemu-virt".into(),
        personalities: (0..5u8).map(|index| personality(&format!("p{index}"), &[index % 4], 0x4800_0000 + u64::from(index) * 0x1000_0000, 64 * MIB)).collect(),
        devices: vec![],
    };
    let (error, text) = expect_error!(manifest, ValidationError::TooManyPersonalities { .. }, "personality \"p4\"");
    assert!(matches!(error, ValidationError::TooManyPersonalities { count: 5, .. }));
    assert!(text.contains("remove 1 personalities"), "{text}");
}

#[test]
fn invalid_names() {
    let cases = [
        ("", NameProblem::Empty, "personality #1 name"),
        ("a-very-long-name-x", NameProblem::TooLong { length: 18 }, "personality \"a-very-long-name-x\" name"),
        ("Work", NameProblem::BadCharacter { character: 'W' }, "personality \"Work\" name"),
        ("9lives", NameProblem::DoesNotStartWithLetter, "personality \"9lives\" name"),
        ("-dash", NameProblem::DoesNotStartWithLetter, "personality \"-dash\" name"),
    ];
    for (name, expected, field) in cases {
        let manifest = sample().with(|m| m.personalities[0].name = name.into());
        let (error, text) = expect_error!(manifest, ValidationError::InvalidName { .. }, field);
        assert!(matches!(error, ValidationError::InvalidName { problem, .. } if problem == expected), "{text}");
        assert!(text.contains("a-z, 0-9 and '-'"), "{text}");
    }
}

#[test]
fn duplicate_name() {
    let manifest = sample().with(|m| m.personalities[1].name = "personal".into());
    let (_, text) = expect_error!(manifest, ValidationError::DuplicateName { first_index: 0, .. }, "personality \"personal\" name");
    assert!(text.contains("already used by personality #1"), "{text}");
}

#[test]
fn no_cpus() {
    let manifest = sample().with(|m| m.personalities[1].cpus.clear());
    expect_error!(manifest, ValidationError::NoCpus { .. }, "personality \"work\" cpus");
}

#[test]
fn too_many_cpus() {
    let manifest = sample().with(|m| m.personalities[1].cpus = (0..9).collect());
    let (_, text) = expect_error!(manifest, board_with_cpus(8), ValidationError::TooManyCpus { count: 9, .. }, "personality \"work\" cpus");
    assert!(text.contains("at most 8"), "{text}");
}

#[test]
fn duplicate_cpu() {
    let manifest = sample().with(|m| m.personalities[1].cpus = vec![2, 3, 2]);
    let (error, _) = expect_error!(manifest, ValidationError::DuplicateCpu { .. }, "personality \"work\" cpus[2]");
    assert!(matches!(error, ValidationError::DuplicateCpu { cpu: 2, position: 2, .. }));
}

#[test]
fn cpu_not_on_board() {
    let manifest = sample().with(|m| m.personalities[1].cpus = vec![2, 7]);
    let (_, text) = expect_error!(manifest, ValidationError::CpuNotOnBoard { cpu: 7, board_cpus: 4, .. }, "personality \"work\" cpus[1]");
    assert!(text.contains("use core indexes 0 to 3"), "{text}");
}

#[test]
fn cpu_shared() {
    let manifest = sample().with(|m| m.personalities[1].cpus = vec![1, 3]);
    let (_, text) = expect_error!(manifest, ValidationError::CpuShared { cpu: 1, .. }, "personality \"work\" cpus[0]");
    assert!(text.contains("\"personal\"") && text.contains("remove core 1 from work or from personal"), "{text}");
}

#[test]
fn ram_base_misaligned() {
    let manifest = sample().with(|m| m.personalities[1].ram.start.0 = 0x5010_0000);
    let (_, text) = expect_error!(manifest, ValidationError::RamBaseMisaligned { base: 0x5010_0000, .. }, "personality \"work\" ram.base");
    assert!(text.contains("0x50100000") && text.contains("use base = 0x50000000 or 0x50200000"), "{text}");
}

#[test]
fn ram_size_misaligned() {
    let manifest = sample().with(|m| m.personalities[1].ram.size = 127 * MIB);
    let (_, text) = expect_error!(manifest, ValidationError::RamSizeMisaligned { .. }, "personality \"work\" ram.size");
    assert!(text.contains("use size = \"126M\" or \"128M\""), "{text}");
}

#[test]
fn ram_too_small() {
    let manifest = sample().with(|m| m.personalities[1].ram.size = 8 * MIB);
    let (_, text) = expect_error!(manifest, ValidationError::RamTooSmall { .. }, "personality \"work\" ram.size");
    assert!(text.contains("at least size = \"16M\""), "{text}");
}

#[test]
fn ram_wraps() {
    let manifest = sample().with(|m| m.personalities[1].ram = PhysRange::new(0xffff_ffff_ff00_0000, 32 * MIB));
    let (_, text) = expect_error!(manifest, ValidationError::RamWraps { .. }, "personality \"work\" ram");
    assert!(text.contains("0xffffffffff000000"), "{text}");
}

#[test]
fn ram_outside_board() {
    let manifest = sample().with(|m| m.personalities[1].ram.start.0 = 0xc000_0000);
    let (_, text) = expect_error!(manifest, ValidationError::RamOutsideBoard { .. }, "personality \"work\" ram.base");
    assert!(text.contains("0x40000000..0xc0000000"), "{text}");
}

#[test]
fn ram_overlaps_hypervisor() {
    let manifest = sample().with(|m| m.personalities[0].ram.start.0 = 0x4600_0000);
    let (_, text) = expect_error!(manifest, ValidationError::RamOverlapsHypervisor { .. }, "personality \"personal\" ram.base");
    assert!(text.contains("start at or above 0x48000000"), "{text}");
}

#[test]
fn ram_overlaps_personality() {
    let manifest = sample().with(|m| m.personalities[1].ram.start.0 = 0x4c00_0000);
    let (error, text) = expect_error!(manifest, ValidationError::RamOverlapsPersonality { .. }, "personality \"work\" ram.base");
    assert!(matches!(&error, ValidationError::RamOverlapsPersonality { other, .. } if other.name == "personal"));
    assert!(text.contains("0x4c000000..0x54000000 overlaps personality \"personal\"'s RAM 0x48000000..0x50000000"), "{text}");
    assert!(text.contains("move work's RAM above 0x50000000 or shrink personal's"), "{text}");
}

#[test]
fn empty_kernel() {
    let manifest = sample().with(|m| m.personalities[0].kernel = "  ".into());
    expect_error!(manifest, ValidationError::EmptyKernel { .. }, "personality \"personal\" kernel");
}

#[test]
fn cmdline_too_long() {
    let manifest = sample().with(|m| m.personalities[0].cmdline = "x".repeat(2048));
    let (_, text) = expect_error!(manifest, ValidationError::CmdlineTooLong { length: 2048, .. }, "personality \"personal\" cmdline");
    assert!(text.contains("2047"), "{text}");
}

#[test]
fn cmdline_bad_characters() {
    for (cmdline, character) in [("a\nb", '\n'), ("a\0b", '\0')] {
        let manifest = sample().with(|m| m.personalities[0].cmdline = cmdline.into());
        let (error, _) = expect_error!(manifest, ValidationError::CmdlineBadCharacter { .. }, "personality \"personal\" cmdline");
        assert!(matches!(error, ValidationError::CmdlineBadCharacter { character: c, position: 1, .. } if c == character));
    }
}

#[test]
fn every_problem_is_reported_at_once() {
    let manifest = sample().with(|m| {
        m.board = "other".into();
        m.personalities[1].cpus = vec![1];
        m.personalities[1].ram.size = 3 * MIB;
        m.personalities[1].kernel.clear();
    });
    let errors = validate(&manifest, &board()).unwrap_err();
    assert_eq!(errors.len(), 5, "{errors:#?}");
}

#[test]
fn disk_shared() {
    use crate::plan::{DiskPartition, DiskPlan};
    let manifest = sample().with(|m| {
        let disk = Some(DiskPlan { partition: DiskPartition::Work, encrypted: true });
        m.personalities[0].disk = disk;
        m.personalities[1].disk = disk;
    });
    let (error, text) = expect_error!(manifest, ValidationError::DiskShared { .. }, "personality \"work\" disk.partition");
    assert_eq!(
        error,
        ValidationError::DiskShared {
            personality: crate::PersonalityRef { index: 1, name: "work".into() },
            partition: DiskPartition::Work,
            other: "personal".into(),
        }
    );
    assert!(text.contains("partition \"work\" is already the disk of personality \"personal\""), "{text}");
    assert!(text.contains("remove the disk from work or personal, or use partition = \"personal\""), "{text}");
}

#[test]
fn disk_without_storage() {
    use crate::plan::{DiskPartition, DiskPlan};
    let manifest = sample().with(|m| {
        m.personalities[0].disk = Some(DiskPlan { partition: DiskPartition::Personal, encrypted: false });
    });
    let mut no_storage = board();
    no_storage.storage = None;
    let (_, text) = expect_error!(manifest, no_storage, ValidationError::DiskWithoutStorage { .. }, "personality \"personal\" disk");
    assert!(text.contains("board \"qemu-virt\" has no storage"), "{text}");
    assert!(text.contains("remove the disk from personal"), "{text}");
    assert_eq!(validate(&manifest, &board()), Ok(()));
}
