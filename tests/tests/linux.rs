//! Two unmodified Debian arm64 Linux personalities (Debian 12's cloud
//! kernel, a busybox initramfs each) boot side by side under Janus, each
//! with both of its vCPUs, its own GIC view and its own console.

use janus_tests::Machine;
use janus_tests::linux::{COMMAND_KEY, HOTKEY, boot_tagged, linux_manifest, run, switch_to_work, tagged_linux_manifest, verbose, wait_tagged};

#[test]
fn both_debian_personalities_boot_to_their_shells() {
    // The full kernel logs (the default command line is quiet).
    let machine = Machine::boot(&verbose(&tagged_linux_manifest()));
    machine.wait_for("janus: personal cpus=0,1 ram=0x48000000..0x68000000");
    machine.wait_for("janus: work cpus=2,3 ram=0x68000000..0x88000000");
    for personality in ["personal", "work"] {
        machine.wait_for(&format!("[{personality}] {personality}: ready"));
        machine.wait_for(&format!("[{personality}] [")); // its own kernel log
        let (_, smp) =
            machine.wait_from(0, "both vCPUs up", |line| line.starts_with(&format!("[{personality}] ")) && line.contains("smp: Brought up 1 node, 2 CPUs"));
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

#[test]
fn the_foreground_shell_answers_and_the_hotkey_switches_with_replay() {
    let machine = Machine::boot(&linux_manifest());
    let (banner, _) = machine.wait_for("\u{1b}[7m janus: foreground is personal \u{1b}[0m");
    machine.wait_for_after(banner, "janus: Ctrl-] next personality; Ctrl-\\ then:");
    let (ready, _) = machine.wait_from(0, "personal's ready line", |line| line.trim() == "personal: ready");
    let ready = machine.wait_for_shell(ready, "");
    machine.send("echo $((6*7))\n");
    let answer = machine.wait_exact(ready, "42");
    // Personal prints something while it is in the background.
    machine.send("(sleep 3; echo personal-was-busy-in-the-background) &\n");
    std::thread::sleep(std::time::Duration::from_millis(500));
    machine.send(HOTKEY);
    // Work's boot output was held back and is shown now (replayed before
    // Janus' indicator, or live after it if work was still booting), not
    // before.
    let (switched, _) = machine.wait_for_after(answer, "janus: foreground is work");
    let work_ready = machine.wait_from(answer, "work's ready line", |line| line.trim() == "work: ready").0;
    assert!(machine.position("work: ready") == Some(work_ready), "work's output leaked out while it was in the background");
    let work_ready = machine.wait_for_shell(work_ready.max(switched), "");
    machine.send("hostname\n");
    let hostname = machine.wait_exact(work_ready, "work");
    std::thread::sleep(std::time::Duration::from_secs(4));
    machine.send(HOTKEY);
    let replayed = machine.wait_for_after(hostname, "personal-was-busy-in-the-background").0;
    let first = machine.lines().iter().position(|line| line.trim() == "personal-was-busy-in-the-background");
    assert_eq!(first, Some(replayed), "personal's background output was shown before it came back to the front");
    let (back, _) = machine.wait_for_after(replayed, "janus: foreground is personal");
    machine.send("hostname\n");
    machine.wait_exact(back, "personal");
}

#[test]
fn keystrokes_typed_into_work_never_reach_personal() {
    let machine = Machine::boot(&linux_manifest());
    let (ready, _) = machine.wait_from(0, "personal's ready line", |line| line.trim() == "personal: ready");
    let ready = machine.wait_for_shell(ready, "");
    machine.send("echo recorder-starts\n");
    let started = machine.wait_exact(ready, "recorder-starts");
    // Personal's only reader of its console for the next 8 s: whatever its
    // UART receives in that time ends up in /tmp/typed.
    machine.send("timeout 8 cat > /tmp/typed\n");
    std::thread::sleep(std::time::Duration::from_millis(500));
    machine.send(HOTKEY);
    let (switched, _) = machine.wait_for_after(started, "janus: foreground is work");
    machine.wait_for_shell(switched, "");
    machine.send("echo SECRET-WORK-KEYS-$((40+2))\n");
    let secret = machine.wait_exact(switched, "SECRET-WORK-KEYS-42");
    std::thread::sleep(std::time::Duration::from_secs(9));
    machine.send(HOTKEY);
    let (back, _) = machine.wait_for_after(secret, "janus: foreground is personal");
    std::thread::sleep(std::time::Duration::from_millis(500));
    machine.send("echo typed-begin; cat /tmp/typed; echo typed-end\n");
    let begin = machine.wait_exact(back, "typed-begin");
    let end = machine.wait_exact(begin, "typed-end");
    let recorded: Vec<String> = machine.lines()[begin + 1..end].to_vec();
    assert!(recorded.is_empty(), "personal's console received input while work was in front: {recorded:?}");
    // Nor was anything typed into work echoed or run in personal.
    let after_switch: Vec<String> = machine.lines()[back..].to_vec();
    assert!(after_switch.iter().all(|line| !line.contains("SECRET")), "work's keystrokes appeared in personal: {after_switch:?}");
}

fn uptime(machine: &Machine, from: usize) -> (usize, f64) {
    let index = run(machine, from, "work", "cat /proc/uptime", "uptime-read");
    let line = machine.lines()[..index]
        .iter()
        .rev()
        .find(|line| line.starts_with("[work] ") && line[7..].split_whitespace().count() == 2)
        .cloned()
        .expect("an uptime line");
    let seconds: f64 = line[7..].split_whitespace().next().and_then(|value| value.parse().ok()).expect("uptime seconds");
    (index, seconds)
}

#[test]
fn devmem_from_a_root_shell_is_contained_both_ways() {
    let (machine, ready) = boot_tagged();
    // Work keeps a canary file; personal starts in front.
    let at = switch_to_work(&machine, ready);
    let at = run(&machine, at, "work", "echo canary-$((20+22)) > /tmp/canary", "canary-written");
    machine.send(HOTKEY);
    let mut at = at;
    for attack in ["devmem 0x68400000", "devmem 0x68400000 32 0x0badf00d", "devmem 0x40080000", "devmem 0x40080000 32 0", "devmem 0x080e0000"] {
        at = run(&machine, at, "personal", attack, "attack-done");
        machine.wait_from(at.saturating_sub(4), "a Bus error in personal", |line| line == "[personal] Bus error");
    }
    machine.wait_for("janus: warning: personal: read at 0x68400000 is outside its memory map");
    machine.wait_for("janus: warning: personal: write at 0x68400000 is outside its memory map");
    // And the other way round.
    machine.send(HOTKEY);
    for attack in ["devmem 0x48400000", "devmem 0x48400000 32 0x0badf00d"] {
        at = run(&machine, at, "work", attack, "attack-done");
        machine.wait_from(at.saturating_sub(4), "a Bus error in work", |line| line == "[work] Bus error");
    }
    machine.wait_for("janus: warning: work: write at 0x48400000 is outside its memory map");
    // Both shells still answer, work's canary is intact.
    at = run(&machine, at, "work", "cat /tmp/canary", "canary-read");
    assert!(machine.lines()[..at].iter().rev().take(3).any(|line| line == "[work] canary-42"), "work's canary changed");
    machine.send(HOTKEY);
    run(&machine, at, "personal", "echo $((6*7))", "personal-still-answers");
    machine.assert_absent("Kernel panic");
    machine.assert_absent("janus: error");
}

#[test]
fn plain_reboot_restarts_only_that_personality_after_unmounting_its_data() {
    let (machine, ready) = boot_tagged();
    let at = switch_to_work(&machine, ready);
    let (at, before) = uptime(&machine, at);
    machine.send(HOTKEY);
    std::thread::sleep(std::time::Duration::from_millis(300));
    // Plain reboot: busybox init stops everything and unmounts /data first.
    machine.send("reboot\n");
    // (After the shell's prompt on the same line: no newline ends it.)
    let (clean, _) = machine.wait_for_after(at, "personal: /data is clean");
    let (reset, _) = machine.wait_for_after(clean, "janus: personal: SYSTEM_RESET: scrubbing its RAM and restarting it");
    // Work answers while personal restarts.
    machine.send(HOTKEY);
    let alive = run(&machine, reset, "work", "echo work-alive", "work-answered");
    let again = wait_tagged(&machine, reset, "personal", "personal: ready");
    let (_, after) = uptime(&machine, alive.max(again));
    assert!(after > before, "work's uptime went from {before} to {after}: it restarted too");
    let work_boots = machine.lines().iter().filter(|line| line.as_str() == "[work] work: ready").count();
    assert_eq!(work_boots, 1, "work booted more than once");
    // Personal's file system was unmounted cleanly: no repair on its way up.
    let repairs: Vec<String> = machine.lines()[reset..].iter().filter(|line| line.starts_with("[personal] init: e2fsck")).cloned().collect();
    assert!(repairs.is_empty(), "personal's /data needed a repair after a plain reboot: {repairs:?}");
    // And the same in work, while personal runs on.
    let at = machine.wait_for_shell(alive.max(again), "[work] ");
    machine.send("reboot\n");
    let (clean, _) = machine.wait_for_after(at, "work: /data is clean");
    let (reset, _) = machine.wait_for_after(clean, "janus: work: SYSTEM_RESET: scrubbing its RAM and restarting it");
    wait_tagged(&machine, reset, "work", "work: ready");
    let repairs: Vec<String> = machine.lines()[reset..].iter().filter(|line| line.starts_with("[work] init: e2fsck")).cloned().collect();
    assert!(repairs.is_empty(), "work's /data needed a repair after a plain reboot: {repairs:?}");
    machine.wait_for_shell(reset, "[work] ");
    machine.assert_absent("janus: error");
}

#[test]
fn plain_poweroff_stops_only_that_personality_and_the_console_starts_it_again() {
    let (machine, ready) = boot_tagged();
    // A shell that exits is started again, not a kernel panic.
    machine.send("exit\n");
    let respawned = machine.wait_for_shell(ready + 1, "[personal] ");
    machine.send("echo kept > /data/kept; poweroff\n");
    let (clean, _) = machine.wait_for_after(respawned, "personal: /data is clean");
    let (off, _) = machine.wait_for_after(clean, "janus: personal: SYSTEM_OFF: stopped");
    let awake = switch_to_work(&machine, off);
    let alive = run(&machine, awake, "work", "echo work-alive", "work-answered");
    assert!(alive > off);
    std::thread::sleep(std::time::Duration::from_secs(1));
    let after: Vec<String> = machine.lines()[off + 1..alive].iter().filter(|line| line.starts_with("[personal]")).cloned().collect();
    assert!(after.is_empty(), "personal printed after SYSTEM_OFF: {after:?}");
    // Back to personal, which is off: Ctrl-\ s starts it from its images.
    machine.send(HOTKEY);
    let (front, _) = machine.wait_for_after(alive, "janus: foreground is personal (off: Ctrl-\\ s starts it)");
    machine.send(&format!("{COMMAND_KEY}s"));
    let (start, _) = machine.wait_for_after(front, "janus: personal: starting: scrubbing its RAM and loading its images");
    wait_tagged(&machine, start, "personal", "personal: ready");
    let shell = machine.wait_for_shell(start, "[personal] ");
    let kept = run(&machine, shell, "personal", "cat /data/kept", "kept-read");
    assert!(machine.lines()[shell..kept].iter().any(|line| line == "[personal] kept"), "personal's file did not survive its poweroff");
    // And a plain poweroff in work, while personal runs on.
    let at = switch_to_work(&machine, kept);
    machine.send("poweroff\n");
    let (clean, _) = machine.wait_for_after(at, "work: /data is clean");
    let (off, _) = machine.wait_for_after(clean, "janus: work: SYSTEM_OFF: stopped");
    machine.send(HOTKEY);
    let at = machine.wait_for_shell(off, "[personal] ");
    run(&machine, at, "personal", "echo personal-alive", "personal-answered");
    machine.assert_absent("Kernel panic");
    machine.assert_absent("janus: error");
}
