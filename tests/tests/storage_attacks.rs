//! Storage isolation: each personality's private virtio-blk disk. One
//! personality hands its own disk device malicious requests (looping
//! chains, indices beyond the queue, buffers in the other's RAM or
//! wrapping the address space, 4 GiB lengths, reads into read-only
//! buffers, sectors past the end, a flood of notifications); every one must
//! end in `VIRTIO_BLK_S_IOERR` or `DEVICE_NEEDS_RESET`, while the other
//! personality's disk rounds (write, flush, read back, compare) carry on
//! with their data intact.

use janus_tests::{Machine, field, storage_test_manifest as storage_manifest};

/// The other personality's canary pages (see foundation.rs): a request
/// that escaped into them would show as `canary=CORRUPTED`.
const PERSONAL_CANARY: &str = "0x48400000";
const WORK_CANARY: &str = "0x50400000";

/// `attack=virtio-<kind>` words for `kinds`, the range attack aimed at
/// `canary` (the other personality's canary page).
fn attack_arguments(kinds: &[&str], canary: &str) -> String {
    let words: Vec<String> =
        kinds.iter().map(|kind| if *kind == "range" { format!("attack=virtio-range@{canary}") } else { format!("attack=virtio-{kind}") }).collect();
    words.join(" ")
}

/// How the device model contains each attack (see vdev/virtio's error
/// policy): structural damage to the queue needs a reset, a bad request
/// in a sound chain fails with IOERR. Overflowing buffers do both (a
/// wrapping data buffer fails, a wrapping status byte needs a reset).
fn expected_containment(kind: &str) -> &'static str {
    match kind {
        "loop" | "index" => "contained: reset (",
        "range" | "huge" | "readonly" | "sector" => "contained: ioerr (",
        "overflow" => "contained: ioerr+reset (",
        "flood" => "contained: flood done (",
        other => panic!("no expectation for attack {other}"),
    }
}

/// The round numbers of `personality`'s `disk ok` lines in `[from, to)`.
fn disk_rounds(machine: &Machine, personality: &str, from: usize, to: usize) -> Vec<u64> {
    let prefix = format!("[{personality}] testguest: disk ok round=");
    let lines = machine.lines();
    lines.get(from..to.min(lines.len())).unwrap_or_default().iter().filter(|line| line.starts_with(&prefix)).filter_map(|line| field(line, "round")).collect()
}

/// Waits until `personality` has completed `count` more disk rounds after
/// line `from`, each numbered one more than the one before (no failed or
/// corrupted round in between). Returns the index of the last.
fn expect_disk_rounds(machine: &Machine, personality: &str, from: usize, count: usize) -> usize {
    let prefix = format!("[{personality}] testguest: disk ");
    let mut index = from;
    let mut previous: Option<u64> = None;
    for _ in 0..count {
        // A round ends in `disk ok`, `disk CORRUPTED` or `disk FAIL`.
        let (found, line) = machine.wait_from(index, &format!("a disk round of {personality} after line {index}"), |line| {
            line.strip_prefix(&prefix).is_some_and(|rest| ["ok ", "CORRUPTED", "FAIL"].iter().any(|start| rest.starts_with(start)))
        });
        let round = field(&line, "round").filter(|_| line.starts_with(&format!("{prefix}ok round=")));
        let Some(round) = round else { panic!("{personality}'s disk round went wrong: {line}") };
        if let Some(previous) = previous {
            assert_eq!(round, previous + 1, "{personality}'s disk rounds skipped one: {line}");
        }
        previous = Some(round);
        index = found + 1;
    }
    index - 1
}

/// `attacker` runs the disk attacks `kinds`, `victim` runs disk rounds:
/// every attack is contained, the victim's rounds go on during and after
/// the attacks with its data, canary and heartbeat intact, and Janus warns
/// about the attacker (rate-limited) and never logs an error.
fn attack_disk(attacker: &str, victim: &str, kinds: &[&str]) {
    let canary = if victim == "work" { WORK_CANARY } else { PERSONAL_CANARY };
    let attacks = attack_arguments(kinds, canary);
    let manifest = if attacker == "personal" { storage_manifest(&attacks, "disk=victim") } else { storage_manifest("disk=victim", &attacks) };
    let machine = Machine::boot(&manifest);
    for personality in [attacker, victim] {
        let (_, line) = machine.wait_for(&format!("[{personality}] testguest: disk capacity="));
        assert!(field(&line, "capacity").is_some_and(|sectors| sectors >= 256), "{line}");
    }
    let (victim_ready, _) = machine.wait_for(&format!("[{victim}] testguest: ready"));
    let (start, _) = machine.wait_for(&format!("[{attacker}] testguest: disk attacks start"));
    for kind in kinds {
        let (_, line) = machine.wait_for(&format!("[{attacker}] testguest: attack virtio-{kind} "));
        assert!(line.contains(expected_containment(kind)), "attack virtio-{kind} was not contained as expected: {line}");
    }
    let (done, _) = machine.wait_for(&format!("[{attacker}] testguest: disk attacks done"));

    // During the attacks (the flood alone lasts at least 3 s) the victim's
    // disk kept working...
    let during = disk_rounds(&machine, victim, start, done);
    assert!(during.len() >= 2, "{victim} completed only {} disk rounds during the attacks: {during:?}", during.len());
    // ... and afterwards it goes on, round after round.
    let last = expect_disk_rounds(&machine, victim, done, 10);
    let all = disk_rounds(&machine, victim, 0, last + 1);
    let expected: Vec<u64> = (1..=all.len() as u64).collect();
    assert_eq!(all, expected, "{victim}'s disk rounds are not consecutive from 1");

    // Both personalities keep running: heartbeats in order, canaries intact.
    machine.expect_heartbeats(victim, victim_ready.max(done), 10);
    machine.expect_heartbeats(attacker, done, 5);

    // Janus says what it refused, rate-limited, as warnings about the
    // attacker only; the victim did nothing wrong.
    let warning = format!("janus: warning: {attacker}: ");
    machine.wait_from(start, &format!("a '{warning}' line about the disk"), |line| line.contains(&warning) && line.contains("disk"));
    machine.assert_absent(&format!("janus: warning: {victim}: disk"));
    machine.assert_absent("NOT CONTAINED");
    machine.assert_absent("CORRUPTED");
    machine.assert_absent("FAIL");
    machine.assert_absent("janus: error");
    for line in machine.lines().iter().filter(|line| line.contains("testguest: attack virtio-") || line.contains(&warning)) {
        println!("{line}");
    }
    println!("{victim} completed {} disk rounds during {attacker}'s attacks", during.len());
}

#[test]
fn personal_cannot_break_out_through_its_disk_device() {
    attack_disk("personal", "work", &["loop", "index", "range", "overflow", "huge", "readonly", "sector", "flood"]);
}

#[test]
fn work_cannot_break_out_through_its_disk_device() {
    attack_disk("work", "personal", &["loop", "index", "range", "readonly", "sector", "flood"]);
}

#[test]
fn each_personality_reads_back_only_its_own_data() {
    // Each round first checks the previous round's data is still there, so
    // a disk shared between the two (or a write landing on the other's)
    // shows as CORRUPTED, naming the writer.
    let machine = Machine::boot(&storage_manifest("disk=victim", "disk=victim"));
    for personality in ["personal", "work"] {
        let (ready, _) = machine.wait_for(&format!("[{personality}] testguest: ready"));
        expect_disk_rounds(&machine, personality, ready, 15);
        // The heartbeat carries the count of good rounds too.
        let prefix = format!("[{personality}] testguest: heartbeat");
        machine.wait_from(ready, "a heartbeat with disk >= 10", |line| line.starts_with(&prefix) && field(line, "disk").is_some_and(|rounds| rounds >= 10));
    }
    machine.assert_absent("CORRUPTED");
    machine.assert_absent("FAIL");
    machine.assert_absent("janus: warning: personal: disk");
    machine.assert_absent("janus: warning: work: disk");
    machine.assert_absent("janus: error");
}

/// A disk image that is not a Janus disk (an MBR-partitioned one) stops
/// boot with a line naming the problem and the fix, and is not written.
#[test]
fn a_foreign_disk_stops_boot_and_is_left_untouched() {
    let path = xtask::output_dir().join("tests").join(format!("foreign-{}.img", std::process::id()));
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut image: Vec<u8> = (0..64u32 << 20).map(|index| (index % 251) as u8).collect();
    // One MBR partition of type 0x83 (Linux) from sector 2048.
    image[446 + 4] = 0x83;
    image[446 + 8..446 + 12].copy_from_slice(&2048u32.to_le_bytes());
    image[446 + 12..446 + 16].copy_from_slice(&100_000u32.to_le_bytes());
    image[510] = 0x55;
    image[511] = 0xaa;
    std::fs::write(&path, &image).unwrap();
    {
        let machine = Machine::boot_on(&storage_manifest("", ""), &[], Some(&path));
        let (_, line) = machine.wait_for("janus: error: storage: the physical disk is not a Janus disk");
        assert!(line.contains("Fix:"), "{line}");
        machine.assert_absent("testguest: ready");
    }
    assert!(std::fs::read(&path).unwrap() == image, "Janus wrote to a foreign disk");
    let _ = std::fs::remove_file(&path);
}

/// A personality with a disk on a machine without one: boot stops and
/// says how to attach it.
#[test]
fn a_missing_disk_stops_boot_with_the_fix() {
    let machine = Machine::boot_on(&storage_manifest("", ""), &[], None);
    let (_, line) = machine.wait_for("janus: error: storage: no virtio-blk disk found");
    assert!(line.contains("Fix:"), "{line}");
    machine.assert_absent("testguest: ready");
}
