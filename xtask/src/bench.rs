//! `cargo xtask bench`: the same bare-metal probe run under Janus and
//! natively at EL1 in the same QEMU, under `-icount shift=0,sleep=off` so
//! every figure is deterministic (one instruction, one sixteenth of a
//! counter tick); the same
//! Linux booted natively and under Janus; and storage throughput measured
//! inside that Linux (bench/storage.rs). Prints tables and writes
//! target/bench/{interrupts,linux,storage}.json.

pub mod storage;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use serde::Serialize;

use crate::manifest::{ManifestFile, PersonalityFile, RangeFile};

/// Instructions per tick of the virt board's 62.5 MHz counter at icount shift 0.
pub const INSTRUCTIONS_PER_TICK: u64 = 16;
/// The parts of `cargo xtask bench`, each with its own JSON report.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Part {
    /// Trap, interrupt and hypercall costs of the bare-metal probe (interrupts.json).
    Interrupts,
    /// Debian Linux entry-to-ready, natively and under Janus (linux.json).
    Linux,
    /// Direct-I/O throughput inside Linux: native, personal, work (storage.json).
    Storage,
}

impl Part {
    /// Every part, in the order `cargo xtask bench` runs them.
    pub const ALL: [Self; 3] = [Self::Interrupts, Self::Linux, Self::Storage];
}

const DETERMINISM: [&str; 4] = ["-icount", "shift=0,sleep=off", "-rtc", "base=2025-01-01T00:00:00,clock=vm"];

/// The probe's figures, in counter ticks (named in interrupts.json as the
/// probe names them).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Figures {
    /// 200,000-iteration subs/b.ne loop.
    pub alu_loop: u64,
    /// 1,000 reads of GICD_TYPER.
    #[serde(rename = "gicd_typer_1000")]
    pub distributor_reads: u64,
    /// 1,000 reads of GICD_ISENABLER1 (interrupt state, taken under the vGIC lock).
    #[serde(rename = "gicd_isenabler_1000")]
    pub distributor_state_reads: u64,
    /// 1,000 PSCI_VERSION calls over HVC.
    #[serde(rename = "hvc_1000")]
    pub hypercalls: u64,
    /// Virtual timer: CVAL reached to handler, best of 10.
    pub timer_latency: u64,
}

/// target/bench/interrupts.json.
#[derive(Serialize)]
struct InterruptsReport<'a> {
    method: &'static str,
    deterministic: bool,
    native: &'a Figures,
    janus: &'a Figures,
    extra_instructions_per_gicd_read: f64,
    extra_instructions_per_gicd_state_read: f64,
    hypercall_round_trip_instructions: f64,
    timer_latency_extra_instructions: i64,
}

/// target/bench/linux.json (seconds of icount virtual time).
#[derive(Serialize)]
struct LinuxReport {
    method: &'static str,
    deterministic: bool,
    native_entry_to_ready_s: f64,
    janus_entry_to_ready_s: f64,
    entry_to_ready_overhead_percent: f64,
    janus_boot_s: f64,
    power_on_to_both_ready_s: f64,
}

/// `value` to `decimals` places, as the reports give it.
fn rounded(value: f64, decimals: usize) -> f64 {
    format!("{value:.decimals$}").parse().unwrap_or(value)
}

/// Writes `report` as pretty-printed target/bench/NAME.json.
fn write_report(name: &str, report: &impl Serialize) -> Result<()> {
    let output = crate::root().join("target").join("bench").join(format!("{name}.json"));
    std::fs::create_dir_all(output.parent().unwrap_or(Path::new(".")))?;
    let mut json = serde_json::to_string_pretty(report).context("encoding the benchmark report")?;
    json.push('\n');
    std::fs::write(&output, json).with_context(|| format!("writing {}", output.display()))?;
    println!("xtask: wrote {}", output.display());
    Ok(())
}

/// Runs `command` until a line contains `marker`, returning all lines.
pub fn run_until(command: Command, marker: &str, timeout: Duration) -> Result<Vec<String>> {
    run_until_all(command, &[marker], timeout)
}

fn figure(lines: &[String], name: &str) -> Result<u64> {
    let prefix = format!("bench {name} ticks=");
    lines
        .iter()
        .find_map(|line| line.split_once(&prefix).and_then(|(_, value)| value.trim().parse().ok()))
        .ok_or_else(|| anyhow!("the probe printed no '{name}' figure"))
}

fn parse(lines: &[String]) -> Result<Figures> {
    Ok(Figures {
        alu_loop: figure(lines, "alu-loop")?,
        distributor_reads: figure(lines, "gicd-typer-1000")?,
        distributor_state_reads: figure(lines, "gicd-isenabler-1000")?,
        hypercalls: figure(lines, "hvc-1000")?,
        timer_latency: figure(lines, "timer-latency")?,
    })
}

fn native_command(testguest: &Path) -> Command {
    let mut command = native_qemu(1, "2048M", "bench");
    command.arg("-kernel").arg(testguest);
    command
}

/// QEMU `virt` with no hypervisor (EL1), `cpus` cores and `memory`, the
/// serial console on stdio, `append` as the command line, deterministic:
/// the native side of every comparison.
fn native_qemu(cpus: u32, memory: &str, append: &str) -> Command {
    let mut command = Command::new("qemu-system-aarch64");
    command.args(["-M", "virt,virtualization=off,gic-version=3,dtb-randomness=off", "-cpu", "cortex-a72", "-smp", &cpus.to_string(), "-m", memory]);
    command.args(["-display", "none", "-monitor", "none", "-serial", "stdio", "-append", append]);
    command.args(DETERMINISM);
    command
}

fn janus_command(image: &Path, board_arguments: &[String]) -> Command {
    let mut command = crate::qemu::command(image, board_arguments, crate::qemu::Console::Pipes, &[]);
    command.args(DETERMINISM);
    command
}

/// The probe manifest: one single-vCPU personality running the benchmarks.
fn probe_manifest() -> String {
    ManifestFile::tagged(vec![PersonalityFile::new("probe", &[0], RangeFile::new(0x4800_0000, "128M"), "builtin:testguest", "bench")]).to_toml()
}

/// Runs the chosen parts of the benchmark (all of them if `parts` is
/// empty), printing each table and writing each JSON report; fails if a
/// deterministic part's two runs differ.
pub fn run(parts: &[Part]) -> Result<()> {
    let parts = if parts.is_empty() { &Part::ALL[..] } else { parts };
    crate::setup::ensure_qemu()?;
    let binaries = crate::build_binaries()?;
    let (_, board_arguments) = crate::board(janus_board_qemu_virt::NAME)?;
    let mut deterministic = true;
    if parts.contains(&Part::Interrupts) {
        deterministic &= interrupts(&binaries, &board_arguments)?;
    }
    if parts.contains(&Part::Linux) {
        deterministic &= linux_boot(&binaries, &board_arguments)?;
    }
    if parts.contains(&Part::Storage) {
        println!("\nxtask: storage, two runs (native, personal, work; one boot each)");
        // Not bit-for-bit repeatable by nature (the README's storage section
        // says why): reported with the two runs' spread, never a failure.
        storage::run(&binaries, &board_arguments)?;
    }
    if !deterministic {
        bail!("benchmark runs were not deterministic");
    }
    Ok(())
}

/// The bare-metal probe natively and under Janus, twice; writes
/// interrupts.json and returns whether both runs matched.
fn interrupts(binaries: &crate::Binaries, board_arguments: &[String]) -> Result<bool> {
    let directory = crate::output_dir().join("bench");
    std::fs::create_dir_all(&directory)?;
    let manifest = directory.join("probe.toml");
    std::fs::write(&manifest, probe_manifest())?;
    let image = crate::build_image(binaries, &manifest, janus_board_qemu_virt::NAME)?;
    let testguest = directory.join("testguest.img");
    std::fs::write(&testguest, &binaries.builtins.testguest)?;

    let timeout = Duration::from_secs(300);
    let mut native = Vec::new();
    let mut janus = Vec::new();
    for run in 0..2 {
        println!("xtask: bench run {} of 2 (native, then under Janus)", run + 1);
        native.push(parse(&run_until(native_command(&testguest), "bench done", timeout)?)?);
        janus.push(parse(&run_until(janus_command(&image, board_arguments), "bench done", timeout)?)?);
    }
    let deterministic = native[0] == native[1] && janus[0] == janus[1];
    let (native, janus) = (&native[0], &janus[0]);
    if !deterministic {
        eprintln!("xtask: warning: the two runs differ; figures are not deterministic");
    }

    let per_read = |ticks: u64| (ticks * INSTRUCTIONS_PER_TICK) as f64 / 1000.0;
    let rows = [
        (
            "200k-iteration ALU loop",
            format!("{} ticks", native.alu_loop),
            format!("{} ticks", janus.alu_loop),
            format!("{:+} ticks", janus.alu_loop as i64 - native.alu_loop as i64),
        ),
        (
            "1,000 reads of GICD_TYPER",
            format!("{} ticks", native.distributor_reads),
            format!("{} ticks", janus.distributor_reads),
            format!("{:+.0} instructions per read", per_read(janus.distributor_reads) - per_read(native.distributor_reads)),
        ),
        (
            "1,000 reads of GICD_ISENABLER1",
            format!("{} ticks", native.distributor_state_reads),
            format!("{} ticks", janus.distributor_state_reads),
            format!("{:+.0} instructions per read", per_read(janus.distributor_state_reads) - per_read(native.distributor_state_reads)),
        ),
        (
            "1,000 null hypercalls (PSCI_VERSION, HVC)",
            format!("{} ticks", native.hypercalls),
            format!("{} ticks", janus.hypercalls),
            format!("{:.0} instructions per round trip under Janus", per_read(janus.hypercalls)),
        ),
        (
            "virtual timer: CVAL to handler",
            format!("{} ticks", native.timer_latency),
            format!("{} ticks", janus.timer_latency),
            format!("{:+} instructions", (janus.timer_latency as i64 - native.timer_latency as i64) * INSTRUCTIONS_PER_TICK as i64),
        ),
    ];
    println!("\n| Figure | Native (EL1) | Janus | Overhead |\n|---|---|---|---|");
    for (name, native, janus, overhead) in &rows {
        println!("| {name} | {native} | {janus} | {overhead} |");
    }
    println!("\nicount shift=0 (1 tick = {INSTRUCTIONS_PER_TICK} instructions); two runs each, identical: {deterministic}");

    let report = InterruptsReport {
        method: "QEMU -icount shift=0,sleep=off, virt gic-version=3, cortex-a72; same probe natively at EL1 and under Janus; counter ticks (1 tick = 16 instructions)",
        deterministic,
        native,
        janus,
        extra_instructions_per_gicd_read: rounded(per_read(janus.distributor_reads) - per_read(native.distributor_reads), 1),
        extra_instructions_per_gicd_state_read: rounded(per_read(janus.distributor_state_reads) - per_read(native.distributor_state_reads), 1),
        hypercall_round_trip_instructions: rounded(per_read(janus.hypercalls), 1),
        timer_latency_extra_instructions: (janus.timer_latency as i64 - native.timer_latency as i64) * INSTRUCTIONS_PER_TICK as i64,
    };
    write_report("interrupts", &report)?;
    Ok(deterministic)
}

/// Linux boot natively and under Janus, twice; writes linux.json and
/// returns whether both runs matched.
fn linux_boot(binaries: &crate::Binaries, board_arguments: &[String]) -> Result<bool> {
    println!("\nxtask: Linux boot, two runs (native, one personality, two personalities)");
    let first = linux(binaries, board_arguments)?;
    let second = linux(binaries, board_arguments)?;
    let boot_deterministic = first == second;
    let boot = first;
    let overhead = (boot.janus_entry_to_ready / boot.native_entry_to_ready - 1.0) * 100.0;
    println!("\n| Figure | Native | Janus | Overhead |\n|---|---|---|---|");
    println!(
        "| Debian 6.1 cloud kernel, entry to ready, 2 vCPUs, 512 MiB | {:.6} s | {:.6} s | {overhead:+.2} % |",
        boot.native_entry_to_ready, boot.janus_entry_to_ready
    );
    println!("| Janus: power-on to personalities started | – | {:.6} s | |", boot.janus_boot);
    println!("| Power-on to two 2-vCPU Linux personalities ready | – | {:.6} s | |", boot.janus_both_ready);
    println!("\nicount virtual time; two runs each, identical: {boot_deterministic}");
    let report = LinuxReport {
        method: "QEMU -icount shift=0,sleep=off; Debian 12 cloud kernel + busybox initramfs; ready time from the kernel log stamp at the ready line; native: same kernel, initramfs and personality device tree at EL1, 2 vCPUs, 512 MiB",
        deterministic: boot_deterministic,
        native_entry_to_ready_s: rounded(boot.native_entry_to_ready, 6),
        janus_entry_to_ready_s: rounded(boot.janus_entry_to_ready, 6),
        entry_to_ready_overhead_percent: rounded(overhead, 3),
        janus_boot_s: rounded(boot.janus_boot, 6),
        power_on_to_both_ready_s: rounded(boot.janus_both_ready, 6),
    };
    write_report("linux", &report)?;
    Ok(boot_deterministic)
}

/// Seconds in a `NAME: ready after S s` line.
fn ready_after(lines: &[String], personality: &str) -> Result<f64> {
    let prefix = format!("{personality}: ready after ");
    lines
        .iter()
        .find_map(|line| line.split_once(&prefix).and_then(|(_, rest)| rest.trim_end_matches(" s").trim().parse().ok()))
        .ok_or_else(|| anyhow!("{personality} printed no ready time"))
}

/// Milliseconds in Janus' `starting the personalities N ms after power-on` line.
fn janus_start(lines: &[String]) -> Result<f64> {
    lines
        .iter()
        .find_map(|line| {
            line.split_once("starting the personalities ").and_then(|(_, rest)| rest.split_whitespace().next()).and_then(|value| value.parse::<f64>().ok())
        })
        .map(|milliseconds| milliseconds / 1e3)
        .ok_or_else(|| anyhow!("Janus printed no start time"))
}

/// Linux boot figures, in seconds of icount virtual time.
#[derive(Clone, Debug, PartialEq)]
pub struct BootFigures {
    /// Native: the kernel's start to `personal: ready`, 2 vCPUs, 512 MiB, trimmed device tree.
    pub native_entry_to_ready: f64,
    /// Under Janus, one personality alone: its kernel's start to ready.
    pub janus_entry_to_ready: f64,
    /// Under Janus: power-on until Janus starts the personalities.
    pub janus_boot: f64,
    /// Under Janus, both personalities: power-on to the later ready line.
    pub janus_both_ready: f64,
}

/// Debian's cloud kernel and initramfs in each of `personalities`: (name, cores, RAM base).
fn linux_manifest(personalities: &[(&str, [u8; 2], i64)]) -> String {
    let personality = |(name, cpus, base): &(&str, [u8; 2], i64)| PersonalityFile {
        initrd: Some("builtin:debian-initramfs".into()),
        ..PersonalityFile::new(name, cpus, RangeFile::new(*base, "512M"), "builtin:debian-cloud", "console=ttyAMA0 panic=-1")
    };
    ManifestFile::tagged(personalities.iter().map(personality).collect()).to_toml()
}

/// Boots Debian's cloud kernel natively and under Janus and compares.
pub fn linux(binaries: &crate::Binaries, board_arguments: &[String]) -> Result<BootFigures> {
    let directory = crate::output_dir().join("bench");
    let guest = crate::linux::ensure_arm64_packages(&crate::linux::cache_dir())?;
    let initrd = directory.join("personal.cpio.gz");
    crate::linux::build_initramfs(&guest, "personal", &initrd)?;
    // The native run gets the device tree a personality gets (cpus, PSCI,
    // GIC, timer, PL011, memory), with RAM where QEMU puts it.
    let personality = janus_manifest::PersonalityConfig {
        name: "personal".into(),
        cpus: vec![0, 1],
        ram: janus_platform::PhysRange::new(0x4000_0000, 512 << 20),
        kernel: String::new(),
        initrd: None,
        cmdline: "console=ttyAMA0 panic=-1".into(),
        disk: None,
    };
    let layout = janus_manifest::GuestLayout {
        kernel_load: janus_platform::GuestPhysAddr(0x4020_0000),
        entry: janus_platform::GuestPhysAddr(0x4020_0000),
        dtb_load: janus_platform::GuestPhysAddr(0x5fe0_0000),
        initrd_load: None,
    };
    let dtb = crate::devicetree::personality_device_tree(&personality, &layout, None, &janus_board_qemu_virt::description())?;
    let dtb_path = directory.join("native-personal.dtb");
    std::fs::write(&dtb_path, dtb)?;
    let mut native = native_qemu(2, "512M", "console=ttyAMA0 panic=-1");
    native.arg("-kernel").arg(&guest.image).arg("-initrd").arg(&initrd).arg("-dtb").arg(&dtb_path);
    let timeout = Duration::from_secs(600);
    let native_lines = run_until(native, "personal: ready after", timeout)?;
    let native_entry_to_ready = ready_after(&native_lines, "personal")?;

    let one = directory.join("linux-one.toml");
    std::fs::write(&one, linux_manifest(&[("personal", [0, 1], 0x4800_0000)]))?;
    let image = crate::build_image(binaries, &one, janus_board_qemu_virt::NAME)?;
    let lines = run_until(janus_command(&image, board_arguments), "personal: ready after", timeout)?;
    let janus_entry_to_ready = ready_after(&lines, "personal")?;
    let janus_boot = janus_start(&lines)?;

    let both = directory.join("linux-both.toml");
    std::fs::write(&both, linux_manifest(&[("personal", [0, 1], 0x4800_0000), ("work", [2, 3], 0x6800_0000)]))?;
    let image = crate::build_image(binaries, &both, janus_board_qemu_virt::NAME)?;
    let lines = run_until_all(janus_command(&image, board_arguments), &["personal: ready after", "work: ready after"], timeout)?;
    let janus_both_ready = janus_start(&lines)? + ready_after(&lines, "personal")?.max(ready_after(&lines, "work")?);
    Ok(BootFigures { native_entry_to_ready, janus_entry_to_ready, janus_boot, janus_both_ready })
}

/// Runs `command` until every marker has appeared in its output, returning
/// all lines; QEMU is killed either way.
fn run_until_all(command: Command, markers: &[&str], timeout: Duration) -> Result<Vec<String>> {
    run_until_markers(command, markers, &[], timeout)
}

/// [`run_until_all`], but a line containing one of `failures` stops the
/// run at once with that line as the error.
fn run_until_markers(mut command: Command, markers: &[&str], failures: &[&str], timeout: Duration) -> Result<Vec<String>> {
    command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = command.spawn().context("starting qemu-system-aarch64")?;
    let stdout = child.stdout.take().ok_or_else(|| anyhow!("no stdout"))?;
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).split(b'\n') {
            let Ok(line) = line else { break };
            if sender.send(String::from_utf8_lossy(&line).trim_end().to_string()).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + timeout;
    let mut lines: Vec<String> = Vec::new();
    let result = loop {
        if markers.iter().all(|marker| lines.iter().any(|line| line.contains(marker))) {
            break Ok(());
        }
        match receiver.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(line) if failures.iter().any(|failure| line.contains(failure)) => break Err(anyhow!("{line}")),
            Ok(line) => lines.push(line),
            Err(_) => break Err(anyhow!("not all of {markers:?} within {timeout:?}")),
        }
    };
    let _ = child.kill();
    let _ = child.wait();
    result.map(|()| lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_native_probe_runs_on_plain_deterministic_qemu_virt() {
        let command = native_command(Path::new("guest.bin"));
        let arguments: Vec<&str> = command.get_args().filter_map(|argument| argument.to_str()).collect();
        let expected = [
            "-M",
            "virt,virtualization=off,gic-version=3,dtb-randomness=off",
            "-cpu",
            "cortex-a72",
            "-smp",
            "1",
            "-m",
            "2048M",
            "-display",
            "none",
            "-monitor",
            "none",
            "-serial",
            "stdio",
            "-append",
            "bench",
            "-icount",
            "shift=0,sleep=off",
            "-rtc",
            "base=2025-01-01T00:00:00,clock=vm",
            "-kernel",
            "guest.bin",
        ];
        assert_eq!(arguments, expected);
    }
}
