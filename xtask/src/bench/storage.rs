//! `cargo xtask bench --only storage`: janus-diskbench (guests/diskbench)
//! run inside the same Debian kernel and busybox initramfs three ways, each
//! in a boot of its own on a disk made fresh for it under target/:
//! natively with QEMU's own virtio-blk, in `personal` (Janus' virtio-blk
//! over the plain partition) and in `work` (over the AES-XTS partition).
//! Times are the guest's CLOCK_MONOTONIC under `-icount shift=0,sleep=off`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};

use serde::Serialize;

use crate::manifest::{DiskFile, ManifestFile, PersonalityFile, RangeFile};

use super::{janus_command, native_qemu, rounded, run_until_markers, write_report};

/// The tests, in the order janus-diskbench runs them, as it names them.
pub const TESTS: [&str; 4] = ["seq-write-1m", "seq-read-1m", "rand-read-4k", "rand-write-4k"];
/// The kernel command line of every storage boot.
const CMDLINE: &str = "console=ttyAMA0 panic=-1 janus.bench=storage";
/// The size of the native run's disk: that of a personality's partition.
const NATIVE_DISK_BYTES: u64 = 256 << 20;

/// One test's result as the guest printed it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TestResult {
    /// Requests made.
    pub requests: u64,
    /// Bytes moved.
    pub bytes: u64,
    /// Nanoseconds of guest CLOCK_MONOTONIC (icount virtual time), fdatasync included for writes.
    pub nanoseconds: u64,
}

impl TestResult {
    /// MiB per second.
    pub fn mib_per_second(&self) -> f64 {
        self.bytes as f64 / f64::from(1u32 << 20) / (self.nanoseconds.max(1) as f64 / 1e9)
    }

    /// Requests per second.
    pub fn iops(&self) -> f64 {
        self.requests as f64 / (self.nanoseconds.max(1) as f64 / 1e9)
    }
}

/// One place's four results, in [`TESTS`] order.
pub type DiskResults = [TestResult; 4];

/// One run of the storage benchmark.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StorageFigures {
    /// The same Linux on QEMU's own virtio-blk, no hypervisor.
    pub native: DiskResults,
    /// Inside `personal` under Janus (plain partition).
    pub personal: DiskResults,
    /// Inside `work` under Janus (AES-XTS-256 partition).
    pub work: DiskResults,
    /// How Janus enciphers the work disk, as its boot log says (ARMv8 AES
    /// instructions or software AES).
    pub work_cipher: String,
}

/// The cipher in Janus' `work: disk work encrypted with AES-XTS-256, CIPHER (...)` line.
pub fn cipher(lines: &[String]) -> Option<String> {
    lines.iter().find_map(|line| {
        let (_, rest) = line.split_once("encrypted with AES-XTS-256, ")?;
        Some(rest.split(" (").next().unwrap_or(rest).trim().to_string())
    })
}

/// Reads `LABEL: diskbench TEST requests=R bytes=B ns=T ...` lines.
pub fn parse(lines: &[String], label: &str) -> Result<DiskResults> {
    let mut results = [TestResult { requests: 0, bytes: 0, nanoseconds: 0 }; 4];
    for (test, result) in TESTS.iter().zip(results.iter_mut()) {
        let prefix = format!("{label}: diskbench {test} ");
        let fields =
            lines.iter().find_map(|line| line.split_once(&prefix).map(|(_, rest)| rest)).ok_or_else(|| anyhow!("{label} printed no '{test}' result"))?;
        let field = |name: &str| -> Result<u64> {
            fields
                .split_whitespace()
                .find_map(|pair| pair.strip_prefix(name).and_then(|value| value.strip_prefix('=')))
                .and_then(|value| value.parse().ok())
                .ok_or_else(|| anyhow!("{label}'s '{test}' result has no {name}: {fields}"))
        };
        *result = TestResult { requests: field("requests")?, bytes: field("bytes")?, nanoseconds: field("ns")? };
    }
    Ok(results)
}

/// The manifest of a storage boot under Janus: one personality with the
/// native run's one vCPU and 512 MiB, its benchmark initramfs and its disk.
/// One vCPU: under icount virtual time is the sum of every vCPU's
/// instructions, and janus-diskbench keeps its CPU busy while it waits
/// (guests/diskbench/src/measure.rs says why), which a second vCPU would
/// not see.
pub fn manifest(personality: &str, initrd: &str, disk: DiskFile) -> String {
    ManifestFile::tagged(vec![PersonalityFile {
        initrd: Some(initrd.into()),
        disk: Some(disk),
        ..PersonalityFile::new(personality, &[0], RangeFile::new(0x4800_0000, "512M"), "builtin:debian-cloud", CMDLINE)
    }])
    .to_toml()
}

/// The disk of each Janus storage boot: personal's plain partition, work's encrypted one.
fn disks() -> [(&'static str, DiskFile); 2] {
    [("personal", DiskFile::new("personal", None)), ("work", DiskFile::new("work", Some(true)))]
}

/// Removes `path` if it is there: every storage boot starts on a new disk.
fn remove_stale(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => Err(error).with_context(|| format!("removing {}", path.display())),
        _ => Ok(()),
    }
}

/// The benchmark's inputs, built once for both runs.
pub struct Setup {
    directory: PathBuf,
    kernel: PathBuf,
    native_initrd: PathBuf,
    native_dtb: PathBuf,
    images: [(String, PathBuf); 2],
    board_name: &'static str,
    board_arguments: Vec<String>,
}

/// Builds janus-diskbench, the three benchmark initramfs images, the native
/// device tree and the two Janus images.
pub fn prepare(binaries: &crate::Binaries, board_arguments: &[String]) -> Result<Setup> {
    let directory = crate::output_dir().join("bench");
    std::fs::create_dir_all(&directory)?;
    let guest = crate::linux::ensure_arm64_packages(&crate::linux::cache_dir())?;
    let tool = crate::diskbench::build()?;
    let initrd = |name: &str| -> Result<PathBuf> {
        let path = directory.join(format!("storage-{name}.cpio.gz"));
        crate::linux::build_initramfs_with_tools(&guest, name, &[("janus-diskbench", &tool)], &path)?;
        Ok(path)
    };
    let native_initrd = initrd("native")?;

    // Natively the disk is QEMU's: its first -device lands on the last
    // virtio-mmio transport (hw/arm/virt.c creates them so), so the trimmed
    // device tree names that window and its SPI.
    let mut board = janus_board_qemu_virt::description();
    let last_slot = u64::from(janus_board_qemu_virt::VIRTIO_MMIO_SLOTS - 1);
    board.guest_disk = janus_platform::GuestPhysAddr(janus_board_qemu_virt::VIRTIO_MMIO_BASE + last_slot * janus_board_qemu_virt::VIRTIO_MMIO_STRIDE);
    board.guest_disk_interrupt = 48 + janus_board_qemu_virt::VIRTIO_MMIO_SLOTS - 1;
    let personality = janus_manifest::PersonalityConfig {
        name: "native".into(),
        cpus: vec![0],
        ram: janus_platform::PhysRange::new(0x4000_0000, 512 << 20),
        kernel: String::new(),
        initrd: None,
        cmdline: CMDLINE.into(),
        disk: Some(janus_manifest::DiskPlan { partition: janus_manifest::DiskPartition::Personal, encrypted: false }),
    };
    let layout = janus_manifest::GuestLayout {
        kernel_load: janus_platform::GuestPhysAddr(0x4020_0000),
        entry: janus_platform::GuestPhysAddr(0x4020_0000),
        dtb_load: janus_platform::GuestPhysAddr(0x5fe0_0000),
        initrd_load: None,
    };
    let dtb = crate::devicetree::personality_device_tree(&personality, &layout, None, &board)?;
    let native_dtb = directory.join("storage-native.dtb");
    std::fs::write(&native_dtb, dtb)?;

    let mut images = Vec::new();
    for (name, disk) in disks() {
        let initrd = initrd(name)?;
        let file_name = initrd.file_name().and_then(|name| name.to_str()).ok_or_else(|| anyhow!("odd initramfs path"))?.to_string();
        let manifest_path = directory.join(format!("storage-{name}.toml"));
        std::fs::write(&manifest_path, manifest(name, &file_name, disk))?;
        images.push((name.to_string(), crate::build_image(binaries, &manifest_path, janus_board_qemu_virt::NAME)?));
    }
    let images: [(String, PathBuf); 2] = images.try_into().map_err(|_| anyhow!("expected two images"))?;
    Ok(Setup {
        directory,
        kernel: guest.image,
        native_initrd,
        native_dtb,
        images,
        board_name: janus_board_qemu_virt::NAME,
        board_arguments: board_arguments.to_vec(),
    })
}

/// Boots until `label: diskbench done`, failing early on its error line;
/// the console output goes to `log`. Returns the results and every line.
fn boot(command: Command, label: &str, log: &Path) -> Result<(DiskResults, Vec<String>)> {
    let done = format!("{label}: diskbench done");
    let failures = [format!("{label}: diskbench error"), "Kernel panic".to_string(), "janus: panic".to_string()];
    let failures: Vec<&str> = failures.iter().map(String::as_str).collect();
    let result = run_until_markers(command, &[&done], &failures, Duration::from_secs(1800));
    let lines = match result {
        Ok(lines) => lines,
        Err(error) => {
            let _ = std::fs::write(log, format!("{error:#}\n"));
            return Err(error).with_context(|| format!("the storage benchmark in {label} (console: {})", log.display()));
        }
    };
    std::fs::write(log, lines.join("\n") + "\n").with_context(|| format!("writing {}", log.display()))?;
    Ok((parse(&lines, label)?, lines))
}

/// The board's disk arguments as every storage boot uses them, native or
/// not: `cache=unsafe`, so a guest's flush still travels all the way to
/// QEMU's device but QEMU skips the host fdatasync of the image file (whose
/// milliseconds belong to the build machine's disk, not to Janus).
fn disk_arguments(board_name: &str, disk: &Path) -> Vec<String> {
    crate::disk_arguments(board_name, disk).into_iter().map(|argument| argument.replace("cache=writeback", "cache=unsafe")).collect()
}

/// One run: native, then personal, then work, each a boot of its own on a
/// new disk (so neither contends with the other, and each starts from the
/// same state).
pub fn run_once(setup: &Setup, run: usize) -> Result<StorageFigures> {
    let log = |label: &str| setup.directory.join(format!("storage-{label}-run{run}.log"));
    let native_disk = setup.directory.join("storage-native-disk.img");
    remove_stale(&native_disk)?;
    let file = std::fs::File::create(&native_disk).with_context(|| format!("creating {}", native_disk.display()))?;
    file.set_len(NATIVE_DISK_BYTES)?;
    drop(file);
    let mut native = native_qemu(1, "512M", CMDLINE);
    native.args(disk_arguments(setup.board_name, &native_disk));
    native.arg("-kernel").arg(&setup.kernel).arg("-initrd").arg(&setup.native_initrd).arg("-dtb").arg(&setup.native_dtb);
    println!("xtask: storage: native (QEMU's virtio-blk, no hypervisor)");
    let (native, _) = boot(native, "native", &log("native"))?;

    let mut janus = Vec::new();
    let mut work_cipher = None;
    for (name, image) in &setup.images {
        let disk = setup.directory.join("storage-janus-disk.img");
        remove_stale(&disk)?;
        janus_disklayout::create_image(&disk, &janus_disklayout::Sizes::default()).map_err(|error| anyhow!("{error}"))?;
        let mut arguments = setup.board_arguments.clone();
        arguments.extend(disk_arguments(setup.board_name, &disk));
        println!("xtask: storage: {name} under Janus");
        let (results, lines) = boot(janus_command(image, &arguments), name, &log(name))?;
        if name == "work" {
            work_cipher = cipher(&lines);
        }
        janus.push(results);
    }
    let [personal, work]: [DiskResults; 2] = janus.try_into().map_err(|_| anyhow!("expected two Janus results"))?;
    remove_stale(&native_disk)?;
    remove_stale(&setup.directory.join("storage-janus-disk.img"))?;
    let work_cipher = work_cipher.ok_or_else(|| anyhow!("Janus did not say how it encrypts the work disk"))?;
    Ok(StorageFigures { native, personal, work, work_cipher })
}

/// The figure a test is judged by: MiB/s for sequential, IOPS for random.
fn rate(test: &str, result: &TestResult) -> f64 {
    if test.starts_with("seq") { result.mib_per_second() } else { result.iops() }
}

fn unit(test: &str) -> &'static str {
    if test.starts_with("seq") { "MiB/s" } else { "IOPS" }
}

/// How far apart two runs' times are, in percent of the faster.
fn spread(first: &TestResult, second: &TestResult) -> f64 {
    let (low, high) = (first.nanoseconds.min(second.nanoseconds), first.nanoseconds.max(second.nanoseconds));
    (high - low) as f64 / low.max(1) as f64 * 100.0
}

/// The faster of two runs, figure by figure: the runs differ because the
/// guest (or Janus) spins while QEMU's host thread does the I/O, and
/// contention on the build machine only ever makes that longer.
fn best(first: &DiskResults, second: &DiskResults) -> DiskResults {
    let mut best = *first;
    for (slot, other) in best.iter_mut().zip(second) {
        if other.nanoseconds < slot.nanoseconds {
            *slot = *other;
        }
    }
    best
}

/// The goals, in percent of native throughput.
const PERSONAL_GOAL: f64 = 90.0;
const WORK_GOAL: f64 = 75.0;

/// Per-test figures keyed by test name, in [`TESTS`] order.
struct ByTest<T>([T; 4]);

impl<T: Serialize> Serialize for ByTest<T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        serializer.collect_map(TESTS.iter().zip(&self.0))
    }
}

/// One test's result in storage.json.
#[derive(Serialize)]
struct TestReport {
    requests: u64,
    bytes: u64,
    ns: u64,
    mib_per_s: f64,
    iops: f64,
}

/// A place's results in storage.json.
fn place_report(results: &DiskResults) -> ByTest<TestReport> {
    ByTest(results.map(|result| TestReport {
        requests: result.requests,
        bytes: result.bytes,
        ns: result.nanoseconds,
        mib_per_s: rounded(result.mib_per_second(), 2),
        iops: rounded(result.iops(), 1),
    }))
}

/// Something for each of the three places.
#[derive(Serialize)]
struct Places<T> {
    native: T,
    personal: T,
    work: T,
}

/// The goals, in percent of native.
#[derive(Serialize)]
struct Goals {
    personal: f64,
    work: f64,
}

/// target/bench/storage.json.
#[derive(Serialize)]
struct StorageReport {
    method: &'static str,
    deterministic: bool,
    work_cipher: String,
    goals_percent_of_native: Goals,
    native: ByTest<TestReport>,
    personal: ByTest<TestReport>,
    work: ByTest<TestReport>,
    personal_percent_of_native: ByTest<f64>,
    work_percent_of_native: ByTest<f64>,
    run_spread_percent: Places<ByTest<f64>>,
    runs: [Places<ByTest<TestReport>>; 2],
}

const METHOD: &str = "janus-diskbench (guests/diskbench) inside Debian 12's cloud kernel + busybox initramfs: O_DIRECT on the raw /dev/vda, 1 MiB \
                      sequential writes then reads, random 4 KiB reads then writes inside them (request counts below); writes include fdatasync; guest \
                      CLOCK_MONOTONIC under QEMU -icount shift=0,sleep=off; a SCHED_IDLE thread spins while requests are in flight; QEMU virtio-blk \
                      with cache=unsafe; native: same kernel and initramfs on QEMU's own virtio-blk at EL1, 1 vCPU, 512 MiB, trimmed device tree; \
                      personal and work: one personality per boot under Janus, 1 vCPU, 512 MiB, fresh Janus disk on the same QEMU virtio-blk; \
                      figures are the faster of two runs (they are not bit-for-bit repeatable: waits for QEMU's host I/O thread are spun in virtual \
                      time)";

/// A place's figure for test `index` in percent of native's.
fn percent_of_native(native: &DiskResults, place: &DiskResults, index: usize) -> f64 {
    let test = TESTS[index];
    rate(test, &place[index]) / rate(test, &native[index]) * 100.0
}

/// How far apart two runs of one place are, test by test, in percent.
fn spreads(first: &DiskResults, second: &DiskResults) -> [f64; 4] {
    std::array::from_fn(|index| spread(&first[index], &second[index]))
}

/// storage.json: the faster of the two runs for each figure, in percent of
/// native too, how far apart the runs were, and both runs.
fn storage_report(runs: &[StorageFigures; 2]) -> StorageReport {
    let [first, second] = runs;
    let native = best(&first.native, &second.native);
    let personal = best(&first.personal, &second.personal);
    let work = best(&first.work, &second.work);
    let percent = |place: &DiskResults| ByTest(std::array::from_fn(|index| rounded(percent_of_native(&native, place, index), 2)));
    let spread = |first: &DiskResults, second: &DiskResults| ByTest(spreads(first, second).map(|spread| rounded(spread, 2)));
    let run = |run: &StorageFigures| Places { native: place_report(&run.native), personal: place_report(&run.personal), work: place_report(&run.work) };
    StorageReport {
        method: METHOD,
        deterministic: first == second,
        work_cipher: first.work_cipher.clone(),
        goals_percent_of_native: Goals { personal: PERSONAL_GOAL, work: WORK_GOAL },
        native: place_report(&native),
        personal: place_report(&personal),
        work: place_report(&work),
        personal_percent_of_native: percent(&personal),
        work_percent_of_native: percent(&work),
        run_spread_percent: Places {
            native: spread(&first.native, &second.native),
            personal: spread(&first.personal, &second.personal),
            work: spread(&first.work, &second.work),
        },
        runs: [run(first), run(second)],
    }
}

/// Prints the table (the faster of the two runs for each figure, and how
/// far apart the runs were) and writes target/bench/storage.json; returns
/// whether both runs were identical.
pub fn report(runs: &[StorageFigures; 2]) -> Result<bool> {
    let [first, second] = runs;
    let deterministic = first == second;
    let native = best(&first.native, &second.native);
    let personal = best(&first.personal, &second.personal);
    let work = best(&first.work, &second.work);
    println!("\n| Test | Native | personal (plain) | % of native | work (AES-XTS, {}) | % of native |\n|---|---|---|---|---|---|", first.work_cipher);
    for (index, test) in TESTS.iter().enumerate() {
        let unit = unit(test);
        println!(
            "| {test} | {:.1} {unit} | {:.1} {unit} | {:.1} % | {:.1} {unit} | {:.1} % |",
            rate(test, &native[index]),
            rate(test, &personal[index]),
            percent_of_native(&native, &personal, index),
            rate(test, &work[index]),
            percent_of_native(&native, &work, index)
        );
    }
    let met = |place: &DiskResults, goal: f64| (0..TESTS.len()).filter(|index| percent_of_native(&native, place, *index) >= goal).count();
    println!(
        "\ngoals: personal >= {PERSONAL_GOAL} % of native ({} of 4 met), work >= {WORK_GOAL} % ({} of 4 met)",
        met(&personal, PERSONAL_GOAL),
        met(&work, WORK_GOAL)
    );
    println!("icount virtual time, the faster of two runs per figure; the two runs identical: {deterministic}");
    for (place, a, b) in [("native", &first.native, &second.native), ("personal", &first.personal, &second.personal), ("work", &first.work, &second.work)] {
        let shown: Vec<String> = TESTS.iter().zip(spreads(a, b)).map(|(test, spread)| format!("{test} {spread:.1} %")).collect();
        println!("xtask: storage: {place}: the two runs differ by {}", shown.join(", "));
    }
    write_report("storage", &storage_report(runs))?;
    Ok(deterministic)
}

/// Runs the storage benchmark twice and reports.
pub fn run(binaries: &crate::Binaries, board_arguments: &[String]) -> Result<bool> {
    let setup = prepare(binaries, board_arguments)?;
    let mut runs = Vec::new();
    for run in 0..2 {
        println!("xtask: storage benchmark run {} of 2", run + 1);
        runs.push(run_once(&setup, run + 1)?);
    }
    let runs: [StorageFigures; 2] = runs.try_into().map_err(|_| anyhow!("expected two runs"))?;
    if runs.iter().flat_map(|run| run.native.iter().chain(&run.personal).chain(&run.work)).any(|result| result.nanoseconds == 0) {
        bail!("a storage test took no time at all; the guest's clock is not running");
    }
    report(&runs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_guest_lines_through_console_tags() {
        let lines: Vec<String> = [
            "[work] work: diskbench start device=/dev/vda span_mib=64 random_ops=2000 direct=true",
            "[work] work: diskbench seq-write-1m requests=64 bytes=67108864 ns=2000000000 mib_per_s=32.0 iops=32",
            "[work] work: diskbench seq-read-1m requests=64 bytes=67108864 ns=1000000000 mib_per_s=64.0 iops=64",
            "[work] work: diskbench rand-read-4k requests=2000 bytes=8192000 ns=500000000 mib_per_s=15.6 iops=4000",
            "[work] work: diskbench rand-write-4k requests=2000 bytes=8192000 ns=1000000000 mib_per_s=7.8 iops=2000",
        ]
        .map(String::from)
        .to_vec();
        let results = parse(&lines, "work").unwrap();
        assert_eq!(results[0], TestResult { requests: 64, bytes: 64 << 20, nanoseconds: 2_000_000_000 });
        assert_eq!(results[1].mib_per_second(), 64.0);
        assert_eq!(results[2].iops(), 4000.0);
        assert!(parse(&lines, "personal").is_err());
        assert!(parse(&lines[..4], "work").unwrap_err().to_string().contains("rand-write-4k"));
    }

    #[test]
    fn the_faster_run_counts_figure_by_figure_and_the_spread_is_reported() {
        let result = |nanoseconds| TestResult { requests: 1, bytes: 4096, nanoseconds };
        let first = [result(10), result(20), result(30), result(40)];
        let second = [result(11), result(19), result(30), result(80)];
        assert_eq!(best(&first, &second).map(|result| result.nanoseconds), [10, 19, 30, 40]);
        assert_eq!(spread(&first[3], &second[3]), 100.0);
        assert_eq!(spread(&second[3], &first[3]), 100.0);
        assert_eq!(spread(&first[2], &second[2]), 0.0);
    }

    #[test]
    fn the_report_lists_tests_in_run_order_with_the_figures_rounded() {
        let result = |nanoseconds| TestResult { requests: 64, bytes: 64 << 20, nanoseconds };
        let first = StorageFigures {
            native: [result(1_000_000_000); 4],
            personal: [result(2_000_000_000); 4],
            work: [result(3_000_000_000); 4],
            work_cipher: "software AES".into(),
        };
        let mut second = first.clone();
        second.work[3].nanoseconds = 3_300_000_000;
        let json = serde_json::to_string_pretty(&storage_report(&[first, second])).unwrap();
        let report: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(report["deterministic"], false);
        assert_eq!(report["work_cipher"], "software AES");
        assert_eq!(report["goals_percent_of_native"], serde_json::json!({"personal": 90.0, "work": 75.0}));
        assert_eq!(
            report["native"]["seq-write-1m"],
            serde_json::json!({"requests": 64, "bytes": 64 << 20, "ns": 1_000_000_000, "mib_per_s": 64.0, "iops": 64.0})
        );
        assert_eq!(report["work_percent_of_native"]["rand-write-4k"], 33.33);
        assert_eq!(report["run_spread_percent"]["work"]["rand-write-4k"], 10.0);
        assert_eq!(report["runs"][1]["work"]["rand-write-4k"]["ns"], 3_300_000_000u64);
        let positions: Vec<usize> = TESTS.iter().map(|test| json.find(&format!("\"{test}\"")).unwrap()).collect();
        assert!(positions.is_sorted(), "tests out of order:\n{json}");
    }

    #[test]
    fn the_work_cipher_comes_from_janus_boot_log() {
        let lines = ["janus: work: disk work encrypted with AES-XTS-256, ARMv8 AES instructions (new key made and wrapped in janus-meta)".to_string()];
        assert_eq!(cipher(&lines).as_deref(), Some("ARMv8 AES instructions"));
        assert_eq!(cipher(&["janus: personal: disk personal (not encrypted)".to_string()]), None);
    }

    #[test]
    fn storage_boots_skip_host_flushes() {
        let arguments = disk_arguments(janus_board_qemu_virt::NAME, Path::new("disk.img"));
        assert!(arguments.iter().any(|argument| argument.contains("file=disk.img") && argument.ends_with("cache=unsafe")), "{arguments:?}");
        assert_eq!(arguments.len(), crate::disk_arguments(janus_board_qemu_virt::NAME, Path::new("disk.img")).len());
    }

    #[test]
    fn storage_manifests_validate_with_their_disks() {
        for (name, disk) in disks() {
            let text = manifest(name, "storage.cpio.gz", disk);
            let parsed =
                janus_manifest::parse::load("storage.toml", &text, &janus_board_qemu_virt::description()).unwrap_or_else(|error| panic!("{error:?}\n{text}"));
            assert_eq!(parsed.personalities.len(), 1);
            assert!(text.contains("janus.bench=storage"));
        }
    }
}
