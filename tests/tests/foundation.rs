//! Foundation: two isolated partitions on QEMU virt. Each test boots Janus
//! with bare-metal test personalities and checks one promise on the serial
//! line; the attack tests check that the attacker is aborted and that the
//! victim's heartbeat and canary carry on untouched.

use janus_manifest::ConsoleMode;
use janus_tests::{Machine, field, test_manifest, test_system};

/// The test manifest with one personality in front at a time.
fn switched_manifest(personal_arguments: &str, work_arguments: &str) -> String {
    let mut system = test_system(personal_arguments, work_arguments);
    system.console = ConsoleMode::Switched;
    system.to_toml()
}

const PERSONAL_CANARY: &str = "0x48400000";
const WORK_CANARY: &str = "0x50400000";

#[test]
fn both_partitions_boot_with_their_cores_and_ram() {
    let machine = Machine::boot(&test_manifest("", ""));
    machine.wait_for("janus: personal cpus=0,1 ram=0x48000000..0x50000000");
    machine.wait_for("janus: work cpus=2,3 ram=0x50000000..0x58000000");
    for personality in ["personal", "work"] {
        machine.wait_for(&format!("[{personality}] testguest: ram scrubbed=yes"));
        machine.wait_for(&format!("[{personality}] testguest: secondary up"));
        let (ready, _) = machine.wait_for(&format!("[{personality}] testguest: ready"));
        machine.expect_heartbeats(personality, ready, 5);
    }
    // The second vCPU of each personality runs too: its counter advances.
    let (_, line) = machine.wait_from(0, "a heartbeat with secondary >= 3", |line| {
        line.starts_with("[work] testguest: heartbeat") && field(line, "secondary").is_some_and(|count| count >= 3)
    });
    assert!(line.contains("canary=ok"));
}

fn attack_and_check(attacker: &str, victim: &str, attacks: &[(&str, &str)]) {
    let arguments: Vec<String> = attacks.iter().map(|(kind, address)| format!("attack={kind}@{address}")).collect();
    let arguments = arguments.join(" ");
    let manifest = if attacker == "personal" { test_manifest(&arguments, "") } else { test_manifest("", &arguments) };
    let machine = Machine::boot(&manifest);
    let (victim_ready, _) = machine.wait_for(&format!("[{victim}] testguest: ready"));
    for (kind, address) in attacks {
        machine.wait_for(&format!("[{attacker}] testguest: attack {kind} {address} contained: abort"));
    }
    let (attacker_ready, _) = machine.wait_for(&format!("[{attacker}] testguest: ready"));
    machine.wait_for(&format!("janus: warning: {attacker}: "));
    // The victim runs on with its canary intact; the attacker survives too.
    machine.expect_heartbeats(victim, victim_ready.max(attacker_ready), 10);
    machine.expect_heartbeats(attacker, attacker_ready, 3);
    machine.assert_absent("NOT CONTAINED");
    machine.assert_absent("CORRUPTED");
    machine.assert_absent("FAIL");
    machine.assert_absent("janus: error");
}

#[test]
fn personal_cannot_touch_work_ram() {
    attack_and_check("personal", "work", &[("read", WORK_CANARY), ("write", WORK_CANARY), ("exec", WORK_CANARY)]);
}

#[test]
fn work_cannot_touch_personal_ram() {
    attack_and_check("work", "personal", &[("read", PERSONAL_CANARY), ("write", PERSONAL_CANARY), ("exec", PERSONAL_CANARY)]);
}

#[test]
fn hypervisor_ram_is_out_of_reach() {
    // Janus' image (loaded at 0x40080000), its stacks and page tables.
    attack_and_check("work", "personal", &[("read", "0x40080000"), ("write", "0x40080000"), ("write", "0x47fff000"), ("exec", "0x40080000")]);
}

#[test]
fn physical_gic_is_out_of_reach() {
    // GICv3: work's cores' redistributors (personal has frames 0 and 1
    // only) and the ITS. GICv2: the hypervisor control interface (GICH) and
    // the physical address of the virtual CPU interface (GICV). None is in
    // personal's map on either board. (Personal's own distributor and
    // redistributors are emulated: tests/interrupts.rs aims writes at
    // work's interrupts there.)
    attack_and_check(
        "personal",
        "work",
        &[("write", "0x80e0000"), ("read", "0x8100000"), ("read", "0x8080000"), ("write", "0x8030000"), ("write", "0x8040000")],
    );
}

#[test]
fn physical_uart_cannot_be_reprogrammed() {
    let machine = Machine::boot(&test_manifest("attack=uart attack=write@0x9001000", ""));
    let (done, _) = machine.wait_for("[personal] testguest: attack uart done");
    machine.wait_for("[personal] testguest: attack write 0x9001000 contained: abort");
    // Both personalities' output still reaches the physical console.
    machine.expect_heartbeats("work", done, 5);
    machine.expect_heartbeats("personal", done, 5);
    machine.assert_absent("FAIL");
}

#[test]
fn garbage_hypercalls_return_error_codes() {
    let machine = Machine::boot(&test_manifest("attack=hypercalls", "attack=hypercalls"));
    for personality in ["personal", "work"] {
        let (line, _) = machine.wait_for(&format!("[{personality}] testguest: attack hypercalls contained"));
        machine.expect_heartbeats(personality, line, 3);
    }
    machine.assert_absent("FAIL");
}

#[test]
fn system_reset_restarts_only_the_caller_with_ram_scrubbed() {
    let machine = Machine::boot(&test_manifest("attack=reset@5", ""));
    let (work_ready, _) = machine.wait_for("[work] testguest: ready");
    let (reset, _) = machine.wait_for("janus: personal: SYSTEM_RESET: scrubbing its RAM and restarting it");
    let (restart, _) = machine.wait_for_after(reset, "[personal] testguest: start");
    machine.wait_for_after(restart, "[personal] testguest: ram scrubbed=yes");
    machine.wait_for_after(restart, "[personal] testguest: secondary up");
    // A second reset cycle, to show it repeats cleanly.
    let (second, _) = machine.wait_for_after(restart, "janus: personal: SYSTEM_RESET");
    machine.wait_for_after(second, "[personal] testguest: ready");
    // Work's heartbeat never stopped or restarted across both resets.
    let last = machine.expect_heartbeats("work", work_ready, 1);
    let through = machine.wait_for_after(second, "[work] testguest: heartbeat").0;
    assert!(through > last);
    machine.expect_heartbeats("work", work_ready, 20);
    let work_starts = machine.lines().iter().filter(|line| line.starts_with("[work] testguest: start")).count();
    assert_eq!(work_starts, 1, "work restarted");
    machine.assert_absent("ram scrubbed=no");
    machine.assert_absent("FAIL");
}

#[test]
fn system_off_stops_only_the_caller() {
    let machine = Machine::boot(&test_manifest("", "attack=off@3"));
    let (off, _) = machine.wait_for("janus: work: SYSTEM_OFF: stopped");
    machine.expect_heartbeats("personal", off, 10);
    let after_off: Vec<String> = machine.lines()[off..].iter().filter(|line| line.starts_with("[work]")).cloned().collect();
    assert!(after_off.is_empty(), "work printed after SYSTEM_OFF: {after_off:?}");
}

#[test]
fn a_board_with_too_little_ram_is_refused_with_the_difference() {
    let machine = Machine::boot_with(&test_manifest("", ""), &["-m", "1G"]);
    let (_, line) = machine.wait_for("janus: error: this machine does not match board 'qemu-virt'");
    assert!(line.contains("the device tree's memory is 0x40000000..0x80000000"), "{line}");
    assert!(line.contains("Fix:"), "{line}");
    machine.assert_absent("testguest: start");
}

#[test]
fn a_board_with_too_few_cores_is_refused() {
    let machine = Machine::boot_with(&test_manifest("", ""), &["-smp", "2"]);
    let (_, line) = machine.wait_for("janus: error: this machine does not match board 'qemu-virt'");
    assert!(line.contains("core 2"), "{line}");
    machine.assert_absent("testguest: start");
}

#[test]
fn a_flooding_console_does_not_stall_the_other_personality() {
    // Tagged: both personalities' lines go out interleaved.
    let machine = Machine::boot(&test_manifest("", "flood"));
    let (flood, _) = machine.wait_for("[work] testguest: flood 100 ");
    machine.expect_heartbeats("personal", flood, 20);
    machine.wait_for_after(flood, "[work] testguest: flood 5000 ");
}

#[test]
fn a_background_flood_is_bounded_and_reported_on_switch() {
    // Switched: personal in front, work floods into its 64 KiB ring.
    let machine = Machine::boot(&switched_manifest("", "flood"));
    let (ready, _) = machine.wait_from(0, "personal's ready line", |line| line == "testguest: ready");
    // Personal's heartbeat keeps coming while work floods unseen, until
    // Janus says (Ctrl-\ i) that work's ring is full.
    let mut asked = ready;
    let full = loop {
        machine.send("\u{1c}i");
        let (at, status) = machine.wait_for_after(asked + 1, "janus: work: running; ");
        if status.contains(&format!("; {} bytes waiting to be shown;", 64 * 1024)) {
            break at;
        }
        asked = at;
        std::thread::sleep(std::time::Duration::from_millis(500));
    };
    assert!(machine.lines()[ready..].iter().any(|line| line.starts_with("testguest: heartbeat ")), "personal stalled");
    assert!(machine.position("flood").is_none(), "work's background output reached the console");
    machine.send("\u{1d}");
    let (dropped, line) = machine.wait_for_after(full, "bytes of work's earlier output did not fit its 64 KiB buffer");
    // Janus' own line: in reverse video, which no guest can produce.
    assert!(line.starts_with("\u{1b}[7mjanus: "), "{line}");
    // The replay, then the indicator after it, then work's live output.
    let (replayed, _) = machine.wait_for_after(dropped, "testguest: flood ");
    let (switched, _) = machine.wait_for_after(replayed, "\u{1b}[7m janus: foreground is work \u{1b}[0m");
    machine.wait_for_after(switched, "testguest: flood ");
}

#[test]
fn the_power_key_switches_the_foreground_like_the_hotkey() {
    let machine = Machine::boot(&switched_manifest("", ""));
    machine.wait_for("\u{1b}[7m janus: foreground is personal \u{1b}[0m");
    machine.wait_from(0, "personal's heartbeat", |line| line.starts_with("testguest: heartbeat 3 "));
    machine.press_power_key();
    let (switched, _) = machine.wait_for("janus: foreground is work");
    // Work's output now reaches the console: replayed before the
    // indicator, live after it.
    assert!(machine.lines()[..switched].iter().any(|line| line == "testguest: ready"), "work's output was not replayed");
    machine.wait_for_after(switched, "testguest: heartbeat ");
    // QEMU's gpio-key releases the line 100 ms after a press; a second
    // press needs a new rising edge.
    std::thread::sleep(std::time::Duration::from_millis(500));
    machine.press_power_key();
    machine.wait_for_after(switched, "janus: foreground is personal");
}
