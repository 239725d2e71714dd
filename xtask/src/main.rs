//! `cargo xtask`: build, run and test Janus.

use std::path::PathBuf;
use std::process::{Command, ExitCode};

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand, ValueEnum};
use xtask::{qemu, setup};

/// Boards and console keys, shown by `--help`.
const BOARDS_AND_KEYS: &str = "\
Boards (--board):
  qemu-virt        QEMU virt with a GICv3 (the default)
  qemu-virt-gicv2  QEMU virt with a GICv2, as on the Raspberry Pi 4

Console keys while the personalities run:
  Ctrl-]           bring the next personality to the front
  Ctrl-\\ i         who is in front, and how every personality is
  Ctrl-\\ s         start the personality in front if it is off
  Ctrl-\\ q         stop the device: every personality powers off cleanly, then the board
                   (Ctrl-\\ q again: power off at once)
  Ctrl-\\ h         list these keys; Ctrl-\\ Ctrl-\\ sends Ctrl-\\ to the personality
  Ctrl-A X         quit QEMU at once (a power cut)
  Ctrl-A C         QEMU's monitor (Ctrl-A C again: back)";

#[derive(Parser)]
#[command(about = "Build, run and test the Janus hypervisor", after_help = BOARDS_AND_KEYS)]
struct Arguments {
    #[command(subcommand)]
    command: Task,
}

#[derive(Clone, Copy, ValueEnum)]
enum Guests {
    /// Two Debian Linux personalities (boards/<board>/janus.toml).
    Linux,
    /// Bare-metal Rust test personalities (boards/<board>/janus-test.toml).
    Test,
}

#[derive(Clone, Copy, ValueEnum)]
enum BenchPart {
    /// The bare-metal probe: trap, hypercall and timer-interrupt costs.
    Interrupts,
    /// Debian Linux boot times.
    Linux,
}

#[derive(Subcommand)]
enum Task {
    /// Build the hypervisor, the guests and the bootable image for a manifest.
    Build {
        /// The system manifest (default: the board's manifest for --guests).
        #[arg(long)]
        manifest: Option<PathBuf>,
        /// Which built-in personalities to use when no manifest is given.
        #[arg(long, value_enum, default_value = "linux")]
        guests: Guests,
        /// The board to build for.
        #[arg(long, default_value = "qemu-virt")]
        board: String,
    },
    /// Build everything, install what is missing (QEMU, the Rust target) and
    /// boot both personalities in QEMU on this terminal (Ctrl-A X quits).
    #[command(after_help = BOARDS_AND_KEYS)]
    Run {
        /// The system manifest (default: the board's manifest for --guests).
        #[arg(long)]
        manifest: Option<PathBuf>,
        /// Which built-in personalities to use when no manifest is given.
        #[arg(long, value_enum, default_value = "linux")]
        guests: Guests,
        /// The board to run on.
        #[arg(long, default_value = "qemu-virt")]
        board: String,
        /// Print every kernel log line (takes `quiet` out of the kernels'
        /// command lines).
        #[arg(long)]
        verbose: bool,
        /// Extra arguments for QEMU, after `--` (e.g. `-- -d guest_errors`).
        #[arg(last = true, value_name = "QEMU ARGUMENTS")]
        qemu: Vec<String>,
    },
    /// Run every test: host unit and property tests, clippy, a short fuzz
    /// run of every fuzz target, then the QEMU integration tests
    /// (installing QEMU, nightly and cargo-fuzz if missing).
    Test,
    /// Fuzz every target (manifests, boot plans, syndromes, PSCI, virtqueues,
    /// block requests) for a while, then run the property tests with fresh seeds.
    Fuzz {
        /// Seconds per target.
        #[arg(long, default_value_t = 300)]
        seconds: u64,
        /// Then run the host property tests this many times, each with a
        /// fresh seed (a failure prints the seed that reproduces it).
        #[arg(long, default_value_t = 10)]
        rounds: u32,
    },
    /// Print the hypervisor's binary size and line count (README figures).
    Size,
    /// Print which module of a crate uses which, and the import cycles
    /// among them (ARCHITECTURE.md).
    Modules {
        /// The crate's directory (default: the EL2 kernel, hyp/kernel).
        #[arg(default_value = "hyp/kernel")]
        directory: PathBuf,
    },
    /// Re-provision one partition of the disk image: forget its encryption
    /// mode and key in janus-meta and zero it, so the next boot provisions
    /// it in the mode the manifest asks and formats it. DESTROYS its data;
    /// the only way to change a partition's mode.
    Reprovision {
        /// The partition: personal or work.
        partition: String,
        /// Confirms that the partition's data is to be destroyed.
        #[arg(long)]
        destroy_data: bool,
    },
    /// Measure trap, interrupt and hypercall costs, Linux boot and storage
    /// throughput against native under QEMU icount; prints tables and
    /// writes target/bench/*.json.
    Bench {
        /// Run only these parts (repeatable; default: all).
        #[arg(long, value_enum)]
        only: Vec<xtask::bench::Part>,
    },
}

/// The property tests' seed in `cargo xtask test`.
const PROPTEST_GATE_SEED: u64 = 0x4a61_6e75_7300_0001;

/// A seed for an exploring property-test round: the clock's nanoseconds
/// and the process id.
fn fresh_seed() -> u64 {
    let nanoseconds = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |elapsed| elapsed.as_nanos() as u64);
    nanoseconds ^ (u64::from(std::process::id()) << 32)
}

fn manifest_path(manifest: Option<PathBuf>, guests: Guests, board: &str) -> PathBuf {
    manifest.unwrap_or_else(|| {
        let file = match guests {
            Guests::Linux => "janus.toml",
            Guests::Test => "janus-test.toml",
        };
        xtask::root().join("boards").join(xtask::board_directory(board)).join(file)
    })
}

/// Runs cargo in the workspace with extra environment variables.
fn cargo_with_env(arguments: &[&str], environment: &[(&str, &str)]) -> Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let settings: Vec<String> = environment.iter().map(|(name, value)| format!("{name}={value} ")).collect();
    let shown = format!("{}cargo {}", settings.concat(), arguments.join(" "));
    println!("xtask: {shown}");
    let status = Command::new(cargo).current_dir(xtask::root()).envs(environment.iter().copied()).args(arguments).status().context("running cargo")?;
    if !status.success() {
        bail!("{shown} failed");
    }
    Ok(())
}

fn cargo(arguments: &[&str]) -> Result<()> {
    cargo_with_env(arguments, &[])
}

/// The host unit and property tests of every crate but the QEMU ones, the
/// property tests drawing from `seed`.
fn host_tests(seed: &str) -> Result<()> {
    cargo_with_env(&["test", "--workspace", "--exclude", "janus-tests", "--quiet"], &[("PROPTEST_RNG_SEED", seed)])
}

fn run() -> Result<()> {
    match Arguments::parse().command {
        Task::Build { manifest, guests, board } => {
            xtask::datadir::adopt_build_directory_data()?;
            let binaries = xtask::build_binaries()?;
            let image = xtask::build_image(&binaries, &manifest_path(manifest, guests, &board), &board)?;
            println!("xtask: built {}", image.display());
        }
        Task::Run { manifest, guests, board, verbose, qemu } => {
            xtask::datadir::adopt_build_directory_data()?;
            let binaries = xtask::build_binaries()?;
            let verbosity = if verbose { xtask::image::Verbosity::Full } else { xtask::image::Verbosity::AsWritten };
            let image = xtask::build_image_with(&binaries, &manifest_path(manifest, guests, &board), &board, &xtask::devicekey::default_path(), verbosity)?;
            setup::ensure_qemu()?;
            let (_, mut board_arguments) = xtask::board(&board)?;
            // The physical disk: made on first run, kept across runs.
            let disk = xtask::disk::default_path();
            xtask::disk::ensure(&disk)?;
            board_arguments.extend(xtask::disk_arguments(&board, &disk));
            println!("xtask: booting {} on disk {} (Ctrl-A X quits QEMU)", image.display(), disk.display());
            let status = qemu::command(&image, &board_arguments, qemu::Console::Terminal, &qemu).status().context("starting QEMU")?;
            if !status.success() {
                bail!("QEMU exited with {status}");
            }
        }
        Task::Test => {
            // The gate is reproducible: property tests draw from one fixed
            // seed unless PROPTEST_RNG_SEED says otherwise (`cargo xtask
            // fuzz` explores with fresh seeds).
            let seed = std::env::var("PROPTEST_RNG_SEED").unwrap_or_else(|_| PROPTEST_GATE_SEED.to_string());
            setup::ensure_rust_target(&xtask::root())?;
            // Formatting first: the cheapest check (rustfmt.toml sets the style).
            cargo(&["fmt", "--all", "--check"])?;
            host_tests(&seed)?;
            cargo(&["clippy", "--workspace", "--all-targets", "--quiet", "--", "-D", "warnings"])?;
            cargo(&["clippy", "--quiet", "--target", setup::TARGET, "-p", "janus-hyp", "-p", "janus-testguest", "--", "-D", "warnings"])?;
            xtask::fuzz::run_all(&xtask::root(), 10)?;
            setup::ensure_qemu()?;
            setup::ensure_dtc()?;
            xtask::build_binaries()?;
            for board in [janus_board_qemu_virt::NAME, janus_board_qemu_virt::NAME_GICV2] {
                println!("xtask: QEMU integration tests on {board}");
                cargo_with_env(&["test", "-p", "janus-tests", "--", "--test-threads", "2"], &[("JANUS_BOARD", board)])?;
            }
        }
        Task::Bench { only } => xtask::bench::run(&only)?,
        Task::Reprovision { partition, destroy_data } => {
            let Some(partition) = janus_manifest::DiskPartition::from_name(&partition) else {
                bail!("there is no partition '{partition}' to re-provision. Fix: name personal or work");
            };
            xtask::datadir::adopt_build_directory_data()?;
            xtask::janusmeta::reprovision(&xtask::disk::default_path(), partition, destroy_data)?;
        }
        Task::Fuzz { seconds, rounds } => {
            xtask::fuzz::run_all(&xtask::root(), seconds)?;
            // The property tests with fresh seeds: what the gate's fixed
            // seed does not reach.
            for round in 1..=rounds {
                let seed = fresh_seed();
                println!("xtask: property tests, round {round} of {rounds}, PROPTEST_RNG_SEED={seed}");
                host_tests(&seed.to_string())?;
            }
        }
        Task::Modules { directory } => {
            let graph = xtask::modules::graph(&xtask::root().join(&directory).join("src"))?;
            for (module, used) in &graph {
                println!("{module} -> {}", used.iter().cloned().collect::<Vec<_>>().join(", "));
            }
            let cycles = xtask::modules::cycles(&graph);
            if cycles.is_empty() {
                println!("no import cycles among the modules of {}", directory.display());
            }
            for cycle in cycles {
                println!("import cycle: {}", cycle.join(" <-> "));
            }
        }
        Task::Size => {
            let binaries = xtask::build_binaries()?;
            let image = binaries.hypervisor.payload_offset.unwrap_or(0);
            let loaded = binaries.hypervisor.data_end.or(binaries.hypervisor.bss_start).unwrap_or(0);
            let root = xtask::root();
            let kernel = xtask::size::count_lines(&root.join("hyp").join("kernel"))?;
            let all = xtask::size::count_lines(&root.join("hyp"))?;
            println!(
                "hypervisor image: {:.1} KiB of code and data ({loaded} bytes; the budget is {} KiB), {} KiB in memory with its zeroed stacks and BSS",
                loaded as f64 / 1024.0,
                xtask::size::IMAGE_BUDGET / 1024,
                image / 1024
            );
            println!("hyp/ lines of code: {all} ({kernel} in the EL2 kernel, {} in the host-tested pure crates)", all - kernel);
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("xtask: error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
