//! The measurement itself (Linux): positioned reads and writes on the
//! device opened with O_DIRECT, timed with clock_gettime(CLOCK_MONOTONIC),
//! which under QEMU `-icount` is the guest's virtual time, while a
//! SCHED_IDLE thread keeps the CPU busy whenever the benchmark waits.

use std::fs::{File, OpenOptions};
use std::io::{Seek, SeekFrom};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::plan::{self, Options, SEQUENTIAL_BLOCK, Test};

/// Buffer alignment: O_DIRECT needs the logical block size; a page covers
/// every device.
const ALIGNMENT: usize = 4096;

/// Nanoseconds of CLOCK_MONOTONIC.
fn monotonic_nanoseconds() -> Result<u64, String> {
    let mut time = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `time` is a valid, writable timespec for the duration of the
    // call, and CLOCK_MONOTONIC is a clock every Linux has.
    let status = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut time) };
    if status != 0 {
        return Err(format!("clock_gettime: {}", std::io::Error::last_os_error()));
    }
    let seconds = u64::try_from(time.tv_sec).map_err(|_| "clock_gettime: negative time")?;
    let nanoseconds = u64::try_from(time.tv_nsec).map_err(|_| "clock_gettime: negative time")?;
    Ok(seconds * 1_000_000_000 + nanoseconds)
}

/// A thread that spins at SCHED_IDLE priority: it runs only when nothing
/// else wants the CPU, i.e. while the benchmark sleeps on a request, and
/// gives the CPU back at once when the completion wakes the benchmark.
/// A userspace `idle=poll` (which arm64 Linux does not have): with the
/// CPU in WFI instead, QEMU `-icount sleep=off` jumps virtual time to the
/// next timer deadline while its host thread does the I/O, so a request
/// would cost anything from nothing to seconds. Spinning, the wait costs
/// the instructions it takes, as it does where a hypervisor polls.
struct Spinner {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<Result<(), String>>,
}

impl Spinner {
    fn start() -> Result<Self, String> {
        let stop = Arc::new(AtomicBool::new(false));
        let (started, ready) = std::sync::mpsc::channel();
        let flag = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name(String::from("idle-spinner"))
            .spawn(move || {
                // The system call itself: musl's sched_setscheduler() is a
                // stub that fails with ENOSYS. The kernel's struct
                // sched_param is one int, the priority (0 for SCHED_IDLE).
                let priority: libc::c_int = 0;
                // SAFETY: the arguments are what sched_setscheduler(2)
                // takes: pid 0 (the calling thread), a policy, and a pointer
                // to a live, readable struct sched_param.
                let status = unsafe { libc::syscall(libc::SYS_sched_setscheduler, 0, libc::SCHED_IDLE, &raw const priority) };
                let result = if status == 0 { Ok(()) } else { Err(format!("SCHED_IDLE: {}", std::io::Error::last_os_error())) };
                let failed = result.is_err();
                let _ = started.send(result);
                if failed {
                    return Ok(());
                }
                while !flag.load(Ordering::Relaxed) {
                    std::hint::black_box(0u64);
                }
                Ok(())
            })
            .map_err(|error| format!("starting the spinner: {error}"))?;
        ready.recv().map_err(|_| String::from("the spinner thread died"))??;
        Ok(Self { stop, thread })
    }

    fn stop(self) -> Result<(), String> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().map_err(|_| String::from("the spinner thread panicked"))?
    }
}

/// Runs every test on `options.device` and prints one line per test.
pub fn run(options: &Options) -> Result<(), String> {
    let mut open = OpenOptions::new();
    open.read(true).write(true);
    if options.direct {
        open.custom_flags(libc::O_DIRECT);
    }
    let mut file = open.open(&options.device).map_err(|error| format!("opening {}: {error}", options.device))?;
    let size = file.seek(SeekFrom::End(0)).map_err(|error| format!("sizing {}: {error}", options.device))?;
    if size < options.span_bytes() {
        return Err(format!("{} has {size} bytes, fewer than the {} MiB span", options.device, options.span_mib));
    }
    // One page-aligned 1 MiB buffer for every request (std gives no
    // aligned allocation without unsafe code, so over-allocate and slice).
    let mut storage = vec![0u8; SEQUENTIAL_BLOCK + ALIGNMENT];
    let start = storage.as_ptr().align_offset(ALIGNMENT);
    let buffer = storage.get_mut(start..start + SEQUENTIAL_BLOCK).ok_or("cannot align the buffer")?;
    plan::fill_pattern(buffer);
    println!(
        "{}: diskbench start device={} span_mib={} random_ops={} direct={}",
        options.label, options.device, options.span_mib, options.random_ops, options.direct
    );
    let spinner = Spinner::start()?;
    let mut results = Vec::new();
    for test in Test::ALL {
        match measure(&file, test, options, buffer) {
            Ok(nanoseconds) => results.push((test, nanoseconds)),
            Err(error) => {
                let _ = spinner.stop();
                return Err(error);
            }
        }
    }
    spinner.stop()?;
    for (test, nanoseconds) in results {
        println!("{}", plan::result_line(&options.label, test, options.requests(test), nanoseconds));
    }
    println!("{}: diskbench done", options.label);
    Ok(())
}

/// One test: every request, then fdatasync for the writing tests, all
/// inside the timed span. The offsets are drawn before the clock starts.
fn measure(file: &File, test: Test, options: &Options, buffer: &mut [u8]) -> Result<u64, String> {
    let block = buffer.get_mut(..test.block()).ok_or("buffer too small")?;
    let offsets: Vec<u64> = options.offsets(test).collect();
    let start = monotonic_nanoseconds()?;
    for &offset in &offsets {
        if test.writes() {
            plan::stamp_sectors(block, options.seed, offset);
            file.write_all_at(block, offset).map_err(|error| format!("{}: writing at {offset}: {error}", test.name()))?;
        } else {
            file.read_exact_at(block, offset).map_err(|error| format!("{}: reading at {offset}: {error}", test.name()))?;
            if let Some(wrong) = plan::check_sectors(block, options.seed, offset) {
                return Err(format!("{}: the sector at byte {wrong} does not hold what was written there", test.name()));
            }
        }
    }
    if test.writes() {
        file.sync_data().map_err(|error| format!("{}: fdatasync: {error}", test.name()))?;
    }
    Ok(monotonic_nanoseconds()?.saturating_sub(start))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str, bytes: u64) -> std::path::PathBuf {
        let path = std::env::temp_dir().join(format!("janus-diskbench-{}-{name}", std::process::id()));
        let file = File::create(&path).unwrap();
        file.set_len(bytes).unwrap();
        path
    }

    fn options(path: &std::path::Path, span_mib: u64) -> Options {
        let device = path.display().to_string();
        plan::parse_arguments(["--no-direct", "--span-mib", &span_mib.to_string(), "--random-ops", "64", &device].map(String::from)).unwrap()
    }

    #[test]
    fn runs_every_test_on_a_file_and_reads_back_what_it_wrote() {
        let path = scratch("file", 3 << 20);
        run(&options(&path, 2)).unwrap();
        let contents = std::fs::read(&path).unwrap();
        assert_eq!(plan::check_sectors(&contents[..2 << 20], plan::DEFAULT_SEED, 0), None);
        assert!(contents[2 << 20..].iter().all(|byte| *byte == 0), "wrote past the span");
        std::fs::remove_file(path).unwrap();
    }

    #[test]
    fn refuses_a_device_smaller_than_the_span() {
        let path = scratch("small", 1 << 20);
        let error = run(&options(&path, 2)).unwrap_err();
        assert!(error.contains("fewer than the 2 MiB span"), "{error}");
        std::fs::remove_file(path).unwrap();
    }

    #[test]
    fn the_clock_moves_forward() {
        let first = monotonic_nanoseconds().unwrap();
        assert!(monotonic_nanoseconds().unwrap() >= first);
    }
}
