//! janus-diskbench: sequential 1 MiB and random 4 KiB direct I/O on a block
//! device, one result line per test, for `cargo xtask bench`'s storage part.
//!
//! Writes: it overwrites the first `--span-mib` MiB of the device. /init
//! runs it only when the kernel command line says `janus.bench=storage`,
//! on the disposable disks xtask makes for the benchmark.

mod plan;

#[cfg(target_os = "linux")]
mod measure;

use std::process::ExitCode;

fn main() -> ExitCode {
    let options = match plan::parse_arguments(std::env::args().skip(1)) {
        Ok(options) => options,
        Err(message) => {
            eprintln!("janus-diskbench: {message}\n{}", plan::USAGE);
            return ExitCode::from(2);
        }
    };
    run(&options)
}

#[cfg(target_os = "linux")]
fn run(options: &plan::Options) -> ExitCode {
    match measure::run(options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            // On stdout, in the result stream, so xtask sees it on the console.
            println!("{}: diskbench error: {message}", options.label);
            ExitCode::FAILURE
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn run(options: &plan::Options) -> ExitCode {
    eprintln!("janus-diskbench: {} needs Linux (direct I/O on a block device); this build is a stub", options.device);
    ExitCode::FAILURE
}
