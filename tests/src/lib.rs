//! The QEMU test harness (Hafnium's hftest pattern): every test boots Janus
//! once in its own QEMU with a timeout, reads the serial console line by
//! line, waits for markers, and kills QEMU when dropped. A failed wait
//! prints the whole console log so the failure explains itself.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

pub use xtask::manifest::{DeviceFile, DiskFile, ManifestFile, PersonalityFile, RangeFile};
use xtask::qemu::{self, Console};

/// How long any single wait may take before the test fails. Generous: CI
/// runs two QEMUs on two cores.
pub const TIMEOUT: Duration = Duration::from_secs(60);

static BINARIES: OnceLock<xtask::Binaries> = OnceLock::new();
static NEXT_ID: AtomicUsize = AtomicUsize::new(0);

fn binaries() -> &'static xtask::Binaries {
    BINARIES.get_or_init(|| match xtask::build_binaries() {
        Ok(binaries) => binaries,
        Err(error) => panic!("building the bare-metal binaries failed: {error:#}"),
    })
}

/// The board the suite runs on: `JANUS_BOARD` (xtask's board names:
/// `qemu-virt` for GICv3, `qemu-virt-gicv2`), GICv3 by default.
pub fn board_name() -> String {
    std::env::var("JANUS_BOARD").unwrap_or_else(|_| janus_board_qemu_virt::NAME.to_string())
}

/// The standard two-personality test system with the given command lines
/// (`role=NAME ARGUMENTS`): personal on cores 0 and 1, work on 2 and 3,
/// 128 MiB each, both running the test guest, tagged console.
pub fn test_system(personal_arguments: &str, work_arguments: &str) -> ManifestFile {
    let guest = |name: &str, cpus: &[u8], base: i64, arguments: &str| {
        PersonalityFile::new(name, cpus, RangeFile::new(base, "128M"), "builtin:testguest", &format!("role={name} {arguments}"))
    };
    ManifestFile::tagged(vec![guest("personal", &[0, 1], 0x4800_0000, personal_arguments), guest("work", &[2, 3], 0x5000_0000, work_arguments)])
}

/// [`test_system`] with each personality's private disk; work's is
/// encrypted.
pub fn storage_test_system(personal_arguments: &str, work_arguments: &str) -> ManifestFile {
    let mut system = test_system(personal_arguments, work_arguments);
    system.personalities[0].disk = Some(DiskFile::new("personal", None));
    system.personalities[1].disk = Some(DiskFile::new("work", Some(true)));
    system
}

/// [`test_system`] as TOML.
pub fn test_manifest(personal_arguments: &str, work_arguments: &str) -> String {
    test_system(personal_arguments, work_arguments).to_toml()
}

/// [`storage_test_system`] as TOML.
pub fn storage_test_manifest(personal_arguments: &str, work_arguments: &str) -> String {
    storage_test_system(personal_arguments, work_arguments).to_toml()
}

/// Writes `manifest` under target/janus/tests and builds its image.
pub fn build_image(manifest: &str) -> Result<PathBuf, String> {
    build_image_with_device_key(manifest, &xtask::devicekey::default_path())
}

/// [`build_image`] with the device key at `device_key`.
pub fn build_image_with_device_key(manifest: &str, device_key: &Path) -> Result<PathBuf, String> {
    let directory = xtask::output_dir().join("tests");
    std::fs::create_dir_all(&directory).map_err(|error| error.to_string())?;
    let id = NEXT_ID.fetch_add(1, Ordering::SeqCst);
    let path = directory.join(format!("manifest-{}-{id}.toml", std::process::id()));
    std::fs::write(&path, manifest).map_err(|error| error.to_string())?;
    let image = xtask::build_image_with_device_key(binaries(), &path, &board_name(), device_key).map_err(|error| format!("{error:#}"));
    let _ = std::fs::remove_file(&path);
    image
}

#[derive(Default)]
struct Log {
    lines: Vec<String>,
    closed: bool,
}

/// A physical disk image for one test (a fresh Janus GPT disk), deleted
/// when dropped. Boot several machines on one to test persistence.
pub struct Disk {
    /// The image file.
    pub path: PathBuf,
    /// Its partitions.
    pub layout: janus_disklayout::Layout,
}

impl Disk {
    /// A fresh, empty Janus disk under target/janus/tests.
    pub fn fresh() -> Disk {
        let directory = xtask::output_dir().join("tests");
        std::fs::create_dir_all(&directory).expect("creating target/janus/tests");
        let path = directory.join(format!("disk-{}-{}.img", std::process::id(), NEXT_ID.fetch_add(1, Ordering::SeqCst)));
        let _ = std::fs::remove_file(&path);
        let layout = janus_disklayout::create_image(&path, &janus_disklayout::Sizes::default()).unwrap_or_else(|error| panic!("{error}"));
        Disk { path, layout }
    }

    /// The raw bytes of one partition as they are on the disk.
    pub fn partition(&self, kind: janus_disklayout::PartitionKind) -> Vec<u8> {
        janus_disklayout::read_partition(&self.path, &self.layout.partition(kind)).unwrap_or_else(|error| panic!("{error}"))
    }
}

impl Drop for Disk {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Whether `needle` occurs in `haystack`.
pub fn contains_bytes(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|window| window == needle)
}

/// One running QEMU.
pub struct Machine {
    child: Child,
    log: Arc<(Mutex<Log>, Condvar)>,
    keyboard: Mutex<Option<ChildStdin>>,
    monitor: PathBuf,
    /// The disk made for this machine alone, if it was not given one.
    _own_disk: Option<Disk>,
}

impl Machine {
    /// Boots the standard board with `manifest`.
    pub fn boot(manifest: &str) -> Machine {
        Self::boot_with(manifest, &[])
    }

    /// Boots with extra QEMU arguments (later ones override the board's)
    /// and a fresh disk of its own.
    pub fn boot_with(manifest: &str, extra: &[&str]) -> Machine {
        let disk = Disk::fresh();
        let mut machine = Self::boot_on(manifest, extra, Some(&disk.path));
        machine._own_disk = Some(disk);
        machine
    }

    /// Boots with extra QEMU arguments on the disk image at `disk` (or with
    /// no disk attached at all).
    pub fn boot_on(manifest: &str, extra: &[&str], disk: Option<&Path>) -> Machine {
        let image = build_image(manifest).unwrap_or_else(|error| panic!("building the image failed: {error}"));
        Self::boot_image(image, extra, disk)
    }

    /// Boots a built `image` (deleted once QEMU has loaded it) with extra
    /// QEMU arguments on the disk image at `disk`, if any.
    pub fn boot_image(image: PathBuf, extra: &[&str], disk: Option<&Path>) -> Machine {
        let mut arguments = match xtask::board(&board_name()) {
            Ok((_, arguments)) => arguments,
            Err(error) => panic!("{error:#}"),
        };
        for pair in extra.chunks(2) {
            if let [flag, value] = pair {
                match arguments.iter().position(|argument| argument == flag) {
                    Some(index) => arguments[index + 1] = value.to_string(),
                    None => arguments.extend([flag.to_string(), value.to_string()]),
                }
            }
        }
        let monitor = xtask::output_dir().join("tests").join(format!("qmp-{}-{}.sock", std::process::id(), NEXT_ID.fetch_add(1, Ordering::SeqCst)));
        arguments.extend(["-qmp".to_string(), format!("unix:{},server=on,wait=off", monitor.display())]);
        if let Some(disk) = disk {
            arguments.extend(xtask::disk_arguments(&board_name(), disk));
        }
        let mut command = qemu::command(&image, &arguments, Console::Pipes, &[]);
        command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child =
            command.spawn().unwrap_or_else(|error| panic!("starting qemu-system-aarch64 failed: {error} (run `cargo xtask test`, which installs it)"));
        // QEMU has loaded the image into guest RAM by the time it prints;
        // the file itself is not needed after the open, so don't let
        // test images pile up under target/.
        let image_to_remove = image.clone();
        let log = Arc::new((Mutex::new(Log::default()), Condvar::new()));
        let keyboard = Mutex::new(child.stdin.take());
        let stdout = child.stdout.take().expect("stdout is piped");
        let stderr = child.stderr.take().expect("stderr is piped");
        for (stream, prefix) in [(Box::new(stdout) as Box<dyn std::io::Read + Send>, ""), (Box::new(stderr), "qemu stderr: ")] {
            let log = Arc::clone(&log);
            std::thread::spawn(move || {
                let reader = BufReader::new(stream);
                for line in reader.split(b'\n') {
                    let Ok(line) = line else { break };
                    let text = String::from_utf8_lossy(&line).trim_end_matches('\r').to_string();
                    let (lock, condition) = &*log;
                    lock.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).lines.push(format!("{prefix}{text}"));
                    condition.notify_all();
                }
                if prefix.is_empty() {
                    let (lock, condition) = &*log;
                    lock.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).closed = true;
                    condition.notify_all();
                }
            });
        }
        let machine = Machine { child, log, keyboard, monitor, _own_disk: None };
        machine.wait_from(0, "QEMU to start", |_| true);
        let _ = std::fs::remove_file(image_to_remove);
        machine
    }

    /// Presses the board's power key through QEMU's monitor (QMP
    /// `system_powerdown`, which QEMU virt wires to GPIO line 3).
    pub fn press_power_key(&self) {
        use std::os::unix::net::UnixStream;
        let stream = UnixStream::connect(&self.monitor).expect("connecting to QMP");
        let mut reader = BufReader::new(stream.try_clone().expect("QMP stream"));
        let mut writer = stream;
        let mut line = String::new();
        reader.read_line(&mut line).expect("QMP greeting");
        for command in [r#"{"execute":"qmp_capabilities"}"#, r#"{"execute":"system_powerdown"}"#] {
            writer.write_all(command.as_bytes()).expect("QMP command");
            writer.write_all(b"\n").expect("QMP command");
            // Events (such as POWERDOWN) may come before the reply.
            let reply = (0..8)
                .map(|_| {
                    line.clear();
                    reader.read_line(&mut line).expect("QMP reply");
                    line.clone()
                })
                .find(|reply| !reply.contains("\"event\""))
                .unwrap_or_default();
            assert!(reply.contains("return"), "QMP refused {command}: {reply}");
        }
    }

    /// Types `text` on the physical console (QEMU's serial input).
    pub fn send(&self, text: &str) {
        let mut keyboard = self.keyboard.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let stdin = keyboard.as_mut().expect("stdin is piped");
        stdin.write_all(text.as_bytes()).expect("typing into QEMU");
        stdin.flush().expect("typing into QEMU");
    }

    /// The index of the first line containing `text`, if any yet.
    pub fn position(&self, text: &str) -> Option<usize> {
        self.lines().iter().position(|line| line.contains(text))
    }

    /// Every line so far.
    pub fn lines(&self) -> Vec<String> {
        self.log.0.lock().unwrap().lines.clone()
    }

    /// Waits until a line at index `from` or later satisfies `matches`;
    /// returns its index and text, or fails the test with the console log.
    pub fn wait_from(&self, from: usize, what: &str, matches: impl Fn(&str) -> bool) -> (usize, String) {
        if let Some(found) = self.try_wait_from(from, TIMEOUT, matches) {
            return found;
        }
        let log = self.log.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let reason = if log.closed { "QEMU exited" } else { "timed out" };
        let tail: Vec<&String> = log.lines.iter().rev().take(80).collect::<Vec<_>>().into_iter().rev().collect();
        let full = xtask::output_dir().join("tests").join(format!("failure-{}-{}.log", std::process::id(), NEXT_ID.fetch_add(1, Ordering::SeqCst)));
        let _ = std::fs::write(&full, log.lines.join("\n"));
        panic!(
            "{reason} waiting for {what} (whole console log: {})\n--- last console lines ---\n{}",
            full.display(),
            tail.iter().map(|line| line.as_str()).collect::<Vec<_>>().join("\n")
        );
    }

    /// Like `wait_from`, but gives up after `timeout` and returns None.
    pub fn try_wait_from(&self, from: usize, timeout: Duration, matches: impl Fn(&str) -> bool) -> Option<(usize, String)> {
        let deadline = Instant::now() + timeout;
        let (lock, condition) = &*self.log;
        let mut log = lock.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        loop {
            if let Some((index, line)) = log.lines.iter().enumerate().skip(from).find(|(_, line)| matches(line)) {
                return Some((index, line.clone()));
            }
            let now = Instant::now();
            if now >= deadline || log.closed {
                return None;
            }
            log = condition.wait_timeout(log, deadline - now).unwrap_or_else(|poisoned| poisoned.into_inner()).0;
        }
    }

    /// Waits until the foreground shell runs commands: a shell that is
    /// still starting may discard what was typed, so this types a marker
    /// echo every second until one comes back. `prefix` is the line prefix
    /// its output has (`"[work] "` in tagged mode, `""` in switched mode).
    pub fn wait_for_shell(&self, from: usize, prefix: &str) -> usize {
        for attempt in 0..30 {
            let marker = format!("shell-awake-{attempt}");
            self.send(&format!("echo {marker}\n"));
            let found = self.try_wait_from(from, Duration::from_secs(1), |line| {
                line.strip_prefix(prefix).is_some_and(|rest| rest.replace("\u{1b}[6n", "").trim() == marker)
            });
            if let Some((index, _)) = found {
                return index;
            }
        }
        self.wait_from(from, &format!("a shell answering with prefix '{prefix}'"), |_| false).0
    }

    /// Waits for a line that is exactly `text` (surrounding spaces and a
    /// shell's cursor-position query ignored) at index `from` or later.
    pub fn wait_exact(&self, from: usize, text: &str) -> usize {
        self.wait_from(from, &format!("a line '{text}'"), |line| line.replace("\u{1b}[6n", "").trim() == text).0
    }

    /// Waits for a line containing `text` (from the start of the log).
    pub fn wait_for(&self, text: &str) -> (usize, String) {
        self.wait_from(0, &format!("'{text}'"), |line| line.contains(text))
    }

    /// Waits for a line containing `text` at index `from` or later.
    pub fn wait_for_after(&self, from: usize, text: &str) -> (usize, String) {
        self.wait_from(from, &format!("'{text}' after line {from}"), |line| line.contains(text))
    }

    /// Waits until `personality` has printed `count` more heartbeats after
    /// line `from`, and checks every one of them: numbers strictly
    /// increasing by one (no restart) and the canary intact. Returns the
    /// index of the last one.
    pub fn expect_heartbeats(&self, personality: &str, from: usize, count: usize) -> usize {
        let prefix = format!("[{personality}] testguest: heartbeat ");
        let mut seen = 0;
        let mut index = from;
        let mut previous: Option<u64> = None;
        while seen < count {
            let (found, line) = self.wait_for_after(index, &prefix);
            let rest = &line[line.find(&prefix).unwrap() + prefix.len()..];
            let number: u64 = rest.split_whitespace().next().and_then(|word| word.parse().ok()).unwrap_or_else(|| panic!("malformed heartbeat: {line}"));
            assert!(rest.contains("canary=ok"), "{personality}'s canary is damaged: {line}");
            if let Some(previous) = previous {
                assert_eq!(number, previous + 1, "{personality}'s heartbeat jumped (restart?): {line}");
            }
            previous = Some(number);
            seen += 1;
            index = found + 1;
        }
        index - 1
    }

    /// Every heartbeat line of `personality` so far.
    pub fn heartbeats(&self, personality: &str) -> Vec<String> {
        let prefix = format!("[{personality}] testguest: heartbeat ");
        self.lines().into_iter().filter(|line| line.starts_with(&prefix)).collect()
    }

    /// Asserts no line so far contains `text`.
    pub fn assert_absent(&self, text: &str) {
        if let Some(line) = self.lines().iter().find(|line| line.contains(text)) {
            panic!("unexpected console line containing '{text}': {line}");
        }
    }
}

impl Machine {
    /// Waits up to `timeout` for QEMU to exit by itself (the board powered
    /// off); its exit status, or None if it still runs.
    pub fn wait_for_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Pulls the plug: kills QEMU at once (no flush, no shutdown) and waits
    /// for it to exit.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Machine {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.monitor);
    }
}

/// The number after `name=` in a line (`worst-latency=123`).
pub fn field(line: &str, name: &str) -> Option<u64> {
    let start = line.find(&format!("{name}="))? + name.len() + 1;
    line[start..].split_whitespace().next()?.parse().ok()
}

/// Helpers for the tests that boot the two Debian Linux personalities.
pub mod linux {
    use std::path::Path;

    use super::Machine;

    /// Ctrl-], the hotkey that cycles the foreground personality.
    pub const HOTKEY: &str = "\u{1d}";
    /// Ctrl-\\, the prefix of Janus' console commands.
    pub const COMMAND_KEY: &str = "\u{1c}";

    /// The board's Linux manifest (`cargo xtask run`'s system).
    pub fn linux_manifest() -> String {
        let path = xtask::root().join("boards").join("qemu-virt").join("janus.toml");
        std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("reading {}: {error}", path.display()))
    }

    /// The same system with both personalities' output tagged line by line.
    pub fn tagged_linux_manifest() -> String {
        linux_manifest().replace("console = \"switched\"", "console = \"tagged\"")
    }

    /// `manifest` with the kernels' full logs (`quiet` taken out).
    pub fn verbose(manifest: &str) -> String {
        manifest.replace(" quiet\"", "\"")
    }

    /// `manifest` with `extra` added to work's (the second) kernel command line.
    pub fn with_work_arguments(manifest: &str, extra: &str) -> String {
        let at = manifest.rfind("cmdline = \"").expect("a cmdline") + "cmdline = \"".len();
        format!("{}{extra} {}", &manifest[..at], &manifest[at..])
    }

    /// Waits for a line exactly `[personality] text` after line `from`.
    pub fn wait_tagged(machine: &Machine, from: usize, personality: &str, text: &str) -> usize {
        let prefix = format!("[{personality}] ");
        machine
            .wait_from(from, &format!("'{prefix}{text}'"), |line| {
                line.strip_prefix(&prefix).is_some_and(|rest| rest.replace("\u{1b}[6n", "").trim_end() == text)
            })
            .0
    }

    /// Waits for both personalities' shells (personal in front).
    pub fn wait_ready(machine: &Machine) -> usize {
        let personal = wait_tagged(machine, 0, "personal", "personal: ready");
        let work = wait_tagged(machine, 0, "work", "work: ready");
        machine.wait_for_shell(personal.max(work), "[personal] ")
    }

    /// Boots the tagged Linux system on a fresh disk and waits for both shells.
    pub fn boot_tagged() -> (Machine, usize) {
        let machine = Machine::boot(&tagged_linux_manifest());
        let ready = wait_ready(&machine);
        (machine, ready)
    }

    /// Boots the tagged Linux system on the disk at `disk`.
    pub fn boot_tagged_on(disk: &Path) -> (Machine, usize) {
        let machine = Machine::boot_on(&tagged_linux_manifest(), &[], Some(disk));
        let ready = wait_ready(&machine);
        (machine, ready)
    }

    /// Brings work to the front and waits until its shell answers.
    pub fn switch_to_work(machine: &Machine, from: usize) -> usize {
        machine.send(HOTKEY);
        machine.wait_for_shell(from, "[work] ")
    }

    /// Runs `command` in the foreground personality and waits for `marker`.
    pub fn run(machine: &Machine, from: usize, personality: &str, command: &str, marker: &str) -> usize {
        machine.send(&format!("{command}; echo {marker}\n"));
        wait_tagged(machine, from, personality, marker)
    }

    /// The lines `personality` printed between `from` and `to`, without
    /// their tag.
    pub fn output(machine: &Machine, from: usize, to: usize, personality: &str) -> Vec<String> {
        let prefix = format!("[{personality}] ");
        machine.lines()[from..to]
            .iter()
            .filter_map(|line| line.strip_prefix(&prefix).map(|rest| rest.replace("\u{1b}[6n", "").trim_end().to_string()))
            .collect()
    }
}
