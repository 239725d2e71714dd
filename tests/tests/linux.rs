//! Two unmodified Debian arm64 Linux personalities (Debian 12's cloud
//! kernel, a busybox initramfs each) boot side by side under Janus, each
//! with both of its vCPUs, its own GIC view and its own console.

use janus_tests::Machine;

fn linux_manifest() -> String {
    let path = xtask::root().join("boards").join("qemu-virt").join("janus.toml");
    std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("reading {}: {error}", path.display()))
}

/// The same system with both personalities' output tagged line by line.
fn tagged_linux_manifest() -> String {
    linux_manifest().replace("console = \"switched\"", "console = \"tagged\"")
}

#[test]
fn both_debian_personalities_boot_to_their_shells() {
    let machine = Machine::boot(&tagged_linux_manifest());
    machine.wait_for("janus: personal cpus=0,1 ram=0x48000000..0x68000000");
    machine.wait_for("janus: work cpus=2,3 ram=0x68000000..0x88000000");
    for personality in ["personal", "work"] {
        machine.wait_for(&format!("[{personality}] {personality}: ready"));
        machine.wait_for(&format!("[{personality}] [")); // its own kernel log
        let (_, smp) = machine.wait_from(0, "both vCPUs up", |line| {
            line.starts_with(&format!("[{personality}] ")) && line.contains("smp: Brought up 1 node, 2 CPUs")
        });
        assert!(smp.contains("2 CPUs"));
        machine.wait_for(&format!("[{personality}] BusyBox"));
    }
    // Each kernel saw only its own memory.
    machine.wait_for("[personal] [    0.000000] NUMA: Faking a node at [mem 0x0000000048000000-0x0000000067ffffff]");
    machine.wait_for("[work] [    0.000000] NUMA: Faking a node at [mem 0x0000000068000000-0x0000000087ffffff]");
    for bad in ["janus: warning", "janus: error", "Kernel panic", "Oops", "Unable to handle"] {
        machine.assert_absent(bad);
    }
}

/// Ctrl-], the hotkey that cycles the foreground personality.
const HOTKEY: &str = "\u{1d}";

/// Waits for a line that is exactly `text` (ignoring terminal escapes and
/// surrounding spaces) after line `from`.
fn wait_exact(machine: &Machine, from: usize, text: &str) -> usize {
    machine
        .wait_from(from, &format!("a line '{text}'"), |line| {
            let cleaned: String = line.replace("\u{1b}[6n", "");
            cleaned.trim() == text
        })
        .0
}

#[test]
fn the_foreground_shell_answers_and_the_hotkey_switches_with_replay() {
    let machine = Machine::boot(&linux_manifest());
    machine.wait_for("janus: foreground is personal (Ctrl-] switches)");
    let (ready, _) = machine.wait_from(0, "personal's ready line", |line| line.trim() == "personal: ready");
    machine.send("echo $((6*7))\n");
    let answer = wait_exact(&machine, ready, "42");
    // Personal prints something while it is in the background.
    machine.send("(sleep 3; echo personal-was-busy-in-the-background) &\n");
    std::thread::sleep(std::time::Duration::from_millis(500));
    machine.send(HOTKEY);
    let (switched, _) = machine.wait_for_after(answer, "janus: foreground is work");
    // Work's boot output was held back and is replayed now, not before.
    let work_ready = machine.wait_from(switched, "work's replayed ready line", |line| line.trim() == "work: ready").0;
    assert!(machine.position("work: ready") == Some(work_ready), "work's output leaked out while it was in the background");
    machine.send("hostname\n");
    let hostname = wait_exact(&machine, work_ready, "work");
    std::thread::sleep(std::time::Duration::from_secs(4));
    machine.send(HOTKEY);
    let (back, _) = machine.wait_for_after(hostname, "janus: foreground is personal");
    let replayed = machine.wait_for_after(back, "personal-was-busy-in-the-background").0;
    let first = machine.lines().iter().position(|line| line.trim() == "personal-was-busy-in-the-background");
    assert_eq!(first, Some(replayed), "personal's background output was shown before it came back to the front");
    machine.send("hostname\n");
    wait_exact(&machine, replayed, "personal");
}

#[test]
fn keystrokes_typed_into_work_never_reach_personal() {
    let machine = Machine::boot(&linux_manifest());
    let (ready, _) = machine.wait_from(0, "personal's ready line", |line| line.trim() == "personal: ready");
    machine.send("echo recorder-starts\n");
    let started = wait_exact(&machine, ready, "recorder-starts");
    // Personal's only reader of its console for the next 8 s: whatever its
    // UART receives in that time ends up in /tmp/typed.
    machine.send("timeout 8 cat > /tmp/typed\n");
    std::thread::sleep(std::time::Duration::from_millis(500));
    machine.send(HOTKEY);
    let (switched, _) = machine.wait_for_after(started, "janus: foreground is work");
    machine.wait_from(switched, "work's ready line", |line| line.trim() == "work: ready");
    machine.send("echo SECRET-WORK-KEYS-$((40+2))\n");
    let secret = wait_exact(&machine, switched, "SECRET-WORK-KEYS-42");
    std::thread::sleep(std::time::Duration::from_secs(9));
    machine.send(HOTKEY);
    let (back, _) = machine.wait_for_after(secret, "janus: foreground is personal");
    std::thread::sleep(std::time::Duration::from_millis(500));
    machine.send("echo typed-begin; cat /tmp/typed; echo typed-end\n");
    let begin = wait_exact(&machine, back, "typed-begin");
    let end = wait_exact(&machine, begin, "typed-end");
    let recorded: Vec<String> = machine.lines()[begin + 1..end].to_vec();
    assert!(recorded.is_empty(), "personal's console received input while work was in front: {recorded:?}");
    // Nor was anything typed into work echoed or run in personal.
    let after_switch: Vec<String> = machine.lines()[back..].to_vec();
    assert!(
        after_switch.iter().all(|line| !line.contains("SECRET")),
        "work's keystrokes appeared in personal: {after_switch:?}"
    );
}
