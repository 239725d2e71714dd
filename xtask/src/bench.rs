//! `cargo xtask bench`: the same bare-metal probe run under Janus and
//! natively at EL1 in the same QEMU, under `-icount shift=0,sleep=off` so
//! every figure is deterministic (../shared/BENCHMARKING.md). Prints a table
//! and writes target/bench/interrupts.json.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};

/// Instructions per tick of the virt board's 62.5 MHz counter at icount shift 0.
pub const INSTRUCTIONS_PER_TICK: u64 = 16;
const DETERMINISM: [&str; 4] = ["-icount", "shift=0,sleep=off", "-rtc", "base=2025-01-01T00:00:00,clock=vm"];

/// The probe's figures, in counter ticks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Figures {
    /// 200,000-iteration subs/b.ne loop.
    pub alu_loop: u64,
    /// 1,000 reads of GICD_TYPER.
    pub distributor_reads: u64,
    /// 1,000 reads of GICD_ISENABLER1 (interrupt state, taken under the vGIC lock).
    pub distributor_state_reads: u64,
    /// 1,000 PSCI_VERSION calls over HVC.
    pub hypercalls: u64,
    /// Virtual timer: CVAL reached to handler, best of 10.
    pub timer_latency: u64,
}

/// Runs `command` until a line contains `marker`, returning all lines.
pub fn run_until(mut command: Command, marker: &str, timeout: Duration) -> Result<Vec<String>> {
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
    let mut lines = Vec::new();
    let result = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match receiver.recv_timeout(left) {
            Ok(line) => {
                let done = line.contains(marker);
                lines.push(line);
                if done {
                    break Ok(());
                }
            }
            Err(_) => break Err(anyhow!("no '{marker}' within {timeout:?}; output:\n{}", lines.join("\n"))),
        }
    };
    let _ = child.kill();
    let _ = child.wait();
    result.map(|()| lines)
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
    let mut command = Command::new("qemu-system-aarch64");
    command.args([
        "-M", "virt,virtualization=off,gic-version=3,dtb-randomness=off", "-cpu", "cortex-a72", "-smp", "1", "-m", "2048M",
        "-display", "none", "-monitor", "none", "-serial", "stdio", "-append", "bench",
    ]);
    command.args(DETERMINISM).arg("-kernel").arg(testguest);
    command
}

fn janus_command(image: &Path, board_arguments: &[String]) -> Command {
    let mut command = crate::qemu::command(image, board_arguments, crate::qemu::Console::Pipes, &[]);
    command.args(DETERMINISM);
    command
}

/// The probe manifest: one single-vCPU personality running the benchmarks.
fn probe_manifest() -> &'static str {
    r#"board = "qemu-virt"
console = "tagged"

[[personality]]
name = "probe"
cpus = [0]
ram = { base = 0x4800_0000, size = "128M" }
kernel = "builtin:testguest"
cmdline = "bench"
"#
}

/// Runs the interrupts-and-time benchmarks and writes the JSON report.
pub fn run() -> Result<PathBuf> {
    crate::setup::ensure_qemu()?;
    let binaries = crate::build_binaries()?;
    let directory = crate::output_dir().join("bench");
    std::fs::create_dir_all(&directory)?;
    let manifest = directory.join("probe.toml");
    std::fs::write(&manifest, probe_manifest())?;
    let image = crate::build_image(&binaries, &manifest, janus_board_qemu_virt::NAME)?;
    let testguest = directory.join("testguest.img");
    std::fs::write(&testguest, &binaries.builtins.testguest)?;
    let (_, board_arguments) = crate::board(janus_board_qemu_virt::NAME)?;

    let timeout = Duration::from_secs(300);
    let mut native = Vec::new();
    let mut janus = Vec::new();
    for run in 0..2 {
        println!("xtask: bench run {} of 2 (native, then under Janus)", run + 1);
        native.push(parse(&run_until(native_command(&testguest), "bench done", timeout)?)?);
        janus.push(parse(&run_until(janus_command(&image, &board_arguments), "bench done", timeout)?)?);
    }
    let deterministic = native[0] == native[1] && janus[0] == janus[1];
    let (native, janus) = (&native[0], &janus[0]);
    if !deterministic {
        eprintln!("xtask: warning: the two runs differ; figures are not deterministic");
    }

    let per_read = |ticks: u64| (ticks * INSTRUCTIONS_PER_TICK) as f64 / 1000.0;
    let rows = [
        ("200k-iteration ALU loop", format!("{} ticks", native.alu_loop), format!("{} ticks", janus.alu_loop),
            format!("{:+} ticks", janus.alu_loop as i64 - native.alu_loop as i64)),
        ("1,000 reads of GICD_TYPER", format!("{} ticks", native.distributor_reads), format!("{} ticks", janus.distributor_reads),
            format!("{:+.0} instructions per read", per_read(janus.distributor_reads) - per_read(native.distributor_reads))),
        ("1,000 reads of GICD_ISENABLER1", format!("{} ticks", native.distributor_state_reads), format!("{} ticks", janus.distributor_state_reads),
            format!("{:+.0} instructions per read", per_read(janus.distributor_state_reads) - per_read(native.distributor_state_reads))),
        ("1,000 null hypercalls (PSCI_VERSION, HVC)", format!("{} ticks", native.hypercalls), format!("{} ticks", janus.hypercalls),
            format!("{:.0} instructions per round trip under Janus", per_read(janus.hypercalls))),
        ("virtual timer: CVAL to handler", format!("{} ticks", native.timer_latency), format!("{} ticks", janus.timer_latency),
            format!("{:+} instructions", (janus.timer_latency as i64 - native.timer_latency as i64) * INSTRUCTIONS_PER_TICK as i64)),
    ];
    println!("\n| Figure | Native (EL1) | Janus | Overhead |\n|---|---|---|---|");
    for (name, native, janus, overhead) in &rows {
        println!("| {name} | {native} | {janus} | {overhead} |");
    }
    println!("\nicount shift=0 (1 tick = {INSTRUCTIONS_PER_TICK} instructions); two runs each, identical: {deterministic}");

    let json = format!(
        "{{\n  \"method\": \"QEMU -icount shift=0,sleep=off, virt gic-version=3, cortex-a72; same probe natively at EL1 and under Janus; counter ticks (1 tick = 16 instructions)\",\n  \"deterministic\": {deterministic},\n  \"native\": {{\"alu_loop\": {}, \"gicd_typer_1000\": {}, \"gicd_isenabler_1000\": {}, \"hvc_1000\": {}, \"timer_latency\": {}}},\n  \"janus\": {{\"alu_loop\": {}, \"gicd_typer_1000\": {}, \"gicd_isenabler_1000\": {}, \"hvc_1000\": {}, \"timer_latency\": {}}},\n  \"extra_instructions_per_gicd_read\": {:.1},\n  \"extra_instructions_per_gicd_state_read\": {:.1},\n  \"hypercall_round_trip_instructions\": {:.1},\n  \"timer_latency_extra_instructions\": {}\n}}\n",
        native.alu_loop, native.distributor_reads, native.distributor_state_reads, native.hypercalls, native.timer_latency,
        janus.alu_loop, janus.distributor_reads, janus.distributor_state_reads, janus.hypercalls, janus.timer_latency,
        per_read(janus.distributor_reads) - per_read(native.distributor_reads),
        per_read(janus.distributor_state_reads) - per_read(native.distributor_state_reads),
        per_read(janus.hypercalls),
        (janus.timer_latency as i64 - native.timer_latency as i64) * INSTRUCTIONS_PER_TICK as i64,
    );
    let output = crate::root().join("target").join("bench").join("interrupts.json");
    std::fs::create_dir_all(output.parent().unwrap_or(Path::new(".")))?;
    std::fs::write(&output, json)?;
    println!("xtask: wrote {}", output.display());
    if !deterministic {
        bail!("benchmark runs were not deterministic");
    }
    Ok(output)
}
