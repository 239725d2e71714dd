//! Interoperability with the Linux partitioning tools (sfdisk, sgdisk, fdisk), each test skipped with a note when its tool is missing.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::TempDir;
use super::image_tests::SMALL;
use crate::{ForeignTable, ImageError, Layout, LayoutError, MIB, Partition, PartitionKind, Sizes, check_image, create_image};

/// The tool's path, looked up in PATH and the sbin directories (which a
/// normal user's PATH may lack).
fn find_tool(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/local/sbin"].map(PathBuf::from))
        .map(|directory| directory.join(name))
        .find(|candidate| candidate.is_file())
}

/// The tool, or a printed note and `None`.
fn tool_or_skip(name: &str, test: &str) -> Option<PathBuf> {
    let found = find_tool(name);
    if found.is_none() {
        eprintln!("note: {name} is not installed; skipping {test} (Debian: apt-get install fdisk gdisk)");
    }
    found
}

fn run(tool: &Path, arguments: &[&str], input: Option<&str>) -> String {
    let mut child = Command::new(tool).args(arguments).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).env("LC_ALL", "C").spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    if let Some(input) = input {
        stdin.write_all(input.as_bytes()).unwrap();
    }
    drop(stdin);
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "{} {arguments:?} failed: {}\n{stdout}", tool.display(), String::from_utf8_lossy(&output.stderr));
    stdout
}

/// One partition as a tool reports it.
#[derive(Debug, PartialEq)]
struct Reported {
    name: String,
    start: u64,
    sectors: u64,
    type_guid: String,
}

/// What each Janus partition should look like to a tool.
fn expected(layout: &Layout) -> Vec<Reported> {
    layout
        .partitions()
        .iter()
        .map(|(kind, partition)| Reported {
            name: kind.name().to_string(),
            start: partition.first_lba,
            sectors: partition.sectors,
            type_guid: kind.type_guid().0.to_string().to_uppercase(),
        })
        .collect()
}

/// The value after `key=` in an sfdisk dump line, without quotes.
fn field<'a>(line: &'a str, key: &str) -> &'a str {
    let start = line.find(&format!("{key}=")).unwrap() + key.len() + 1;
    let rest = line[start..].trim_start();
    let value = rest.split(',').next().unwrap().trim();
    value.trim_matches('"')
}

/// `sfdisk --dump`'s partitions.
fn sfdisk_partitions(sfdisk: &Path, image: &Path) -> Vec<Reported> {
    let dump = run(sfdisk, &["--dump", image.to_str().unwrap()], None);
    assert!(dump.contains("label: gpt"), "{dump}");
    dump.lines()
        .filter(|line| line.contains(" : start="))
        .map(|line| Reported {
            name: field(line, "name").to_string(),
            start: field(line, "start").parse().unwrap(),
            sectors: field(line, "size").parse().unwrap(),
            type_guid: field(line, "type").to_uppercase(),
        })
        .collect()
}

/// `sgdisk -i N`'s view of partitions 1 to 4.
fn sgdisk_partitions(sgdisk: &Path, image: &Path) -> Vec<Reported> {
    (1..=4)
        .map(|number| {
            let info = run(sgdisk, &["-i", &number.to_string(), image.to_str().unwrap()], None);
            let value = |key: &str| {
                let line = info.lines().find(|line| line.starts_with(key)).unwrap();
                line[key.len()..].trim().to_string()
            };
            let first = value("First sector:").split(' ').next().unwrap().parse::<u64>().unwrap();
            let last = value("Last sector:").split(' ').next().unwrap().parse::<u64>().unwrap();
            Reported {
                name: value("Partition name:").trim_matches('\'').to_string(),
                start: first,
                sectors: last - first + 1,
                type_guid: value("Partition GUID code:").split(' ').next().unwrap().to_uppercase(),
            }
        })
        .collect()
}

/// `fdisk -l`'s (start, sectors) pairs, in table order.
fn fdisk_ranges(fdisk: &Path, image: &Path) -> Vec<(u64, u64)> {
    let listing = run(fdisk, &["-l", image.to_str().unwrap()], None);
    assert!(listing.contains("Disklabel type: gpt"), "{listing}");
    let device = image.to_str().unwrap();
    listing
        .lines()
        .filter(|line| line.starts_with(device) && !line.starts_with(&format!("{device}:")))
        .map(|line| {
            let columns: Vec<&str> = line.split_whitespace().collect();
            // Device Start End Sectors Size Type...
            (columns[1].parse().unwrap(), columns[3].parse().unwrap())
        })
        .collect()
}

#[test]
fn sfdisk_dump_shows_the_four_partitions() {
    let Some(sfdisk) = tool_or_skip("sfdisk", "sfdisk_dump_shows_the_four_partitions") else {
        return;
    };
    let directory = TempDir::new("sfdisk");
    let image = directory.join("disk.img");
    let layout = create_image(&image, &Sizes::default()).unwrap();
    let reported = sfdisk_partitions(&sfdisk, &image);
    assert_eq!(reported, expected(&layout));
    assert_eq!(reported[1].start * 512, 2 * MIB);
}

#[test]
fn sgdisk_verifies_a_created_image() {
    let Some(sgdisk) = tool_or_skip("sgdisk", "sgdisk_verifies_a_created_image") else {
        return;
    };
    let directory = TempDir::new("sgdisk-verify");
    let image = directory.join("disk.img");
    create_image(&image, &SMALL).unwrap();
    let verdict = run(&sgdisk, &["-v", image.to_str().unwrap()], None);
    assert!(verdict.contains("No problems found"), "{verdict}");
}

#[test]
fn linux_tools_agree_on_partition_offsets() {
    let (Some(sfdisk), Some(sgdisk), Some(fdisk)) = (
        tool_or_skip("sfdisk", "linux_tools_agree_on_partition_offsets"),
        tool_or_skip("sgdisk", "linux_tools_agree_on_partition_offsets"),
        tool_or_skip("fdisk", "linux_tools_agree_on_partition_offsets"),
    ) else {
        return;
    };
    let directory = TempDir::new("agree");
    let image = directory.join("disk.img");
    let sizes = Sizes { meta: 2 * MIB, personal: 64 * MIB, work: 32 * MIB, shared: 16 * MIB };
    let layout = create_image(&image, &sizes).unwrap();
    let ours = expected(&layout);
    assert_eq!(sfdisk_partitions(&sfdisk, &image), ours, "sfdisk");
    assert_eq!(sgdisk_partitions(&sgdisk, &image), ours, "sgdisk");
    let ranges: Vec<(u64, u64)> = ours.iter().map(|reported| (reported.start, reported.sectors)).collect();
    assert_eq!(fdisk_ranges(&fdisk, &image), ranges, "fdisk");
}

/// A sparse file of `bytes` zeros.
fn zero_file(path: &Path, bytes: u64) {
    std::fs::File::create(path).unwrap().set_len(bytes).unwrap();
}

#[test]
fn gpt_made_by_sgdisk_with_other_partitions_is_foreign() {
    let Some(sgdisk) = tool_or_skip("sgdisk", "gpt_made_by_sgdisk_with_other_partitions_is_foreign") else {
        return;
    };
    let directory = TempDir::new("sgdisk-foreign");
    let image = directory.join("disk.img");
    zero_file(&image, 128 * MIB);
    let path = image.to_str().unwrap();
    run(&sgdisk, &["-n", "1:2048:+32M", "-t", "1:8300", "-c", "1:root", path], None);
    // Even a partition named "work" does not make it a Janus disk.
    run(&sgdisk, &["-n", "2:0:0", "-t", "2:8300", "-c", "2:work", path], None);
    let before = std::fs::read(&image).unwrap();
    let error = check_image(&image).unwrap_err();
    assert!(matches!(error, ImageError::Foreign { problem: LayoutError::ForeignPartitionTable { table: ForeignTable::Gpt }, .. }), "{error}");
    assert_eq!(std::fs::read(&image).unwrap(), before);
}

#[test]
fn janus_table_made_by_sgdisk_is_accepted() {
    let Some(sgdisk) = tool_or_skip("sgdisk", "janus_table_made_by_sgdisk_is_accepted") else {
        return;
    };
    let directory = TempDir::new("sgdisk-janus");
    let image = directory.join("disk.img");
    zero_file(&image, 64 * MIB);
    let path = image.to_str().unwrap();
    let mut arguments: Vec<String> = Vec::new();
    for (number, kind) in (1..).zip(PartitionKind::ALL) {
        let size = if kind == PartitionKind::Meta { "+1M" } else { "+16M" };
        arguments.extend([
            "-n".to_string(),
            format!("{number}:0:{size}"),
            "-t".to_string(),
            format!("{number}:{}", kind.type_guid().0),
            "-c".to_string(),
            format!("{number}:{}", kind.name()),
        ]);
    }
    arguments.push(path.to_string());
    let arguments: Vec<&str> = arguments.iter().map(String::as_str).collect();
    run(&sgdisk, &arguments, None);
    let layout = check_image(&image).unwrap();
    assert!(layout.headers_intact());
    assert_eq!(layout.meta, Partition { first_lba: 2048, sectors: 2048 });
    assert_eq!(layout.personal, Partition { first_lba: 4096, sectors: 32768 });
    assert_eq!(layout.shared.first_lba, 4096 + 2 * 32768);
}

#[test]
fn mbr_made_by_sfdisk_is_foreign() {
    let Some(sfdisk) = tool_or_skip("sfdisk", "mbr_made_by_sfdisk_is_foreign") else {
        return;
    };
    let directory = TempDir::new("sfdisk-mbr");
    let image = directory.join("disk.img");
    zero_file(&image, 64 * MIB);
    run(&sfdisk, &["--quiet", image.to_str().unwrap()], Some("label: dos\nstart=2048, type=83\n"));
    let error = check_image(&image).unwrap_err();
    assert!(matches!(error, ImageError::Foreign { problem: LayoutError::ForeignPartitionTable { table: ForeignTable::Mbr }, .. }), "{error}");
}
