//! Storage with the two Debian personalities: each has a private virtio-blk
//! disk (its GPT partition of Janus' physical disk) mounted at /data; the
//! files survive a personality restart and a full power cycle; neither sees
//! the other's disk; work's partition holds only ciphertext; a power cut in
//! the middle of a write-and-sync loop loses nothing that was synced and
//! leaves a file system that checks clean.

use std::process::Command;

use janus_disklayout::PartitionKind;
use janus_tests::linux::{HOTKEY, boot_tagged_on, output, run, switch_to_work, wait_tagged};
use janus_tests::{Disk, Machine, contains_bytes};

/// Markers are typed as shell arithmetic so the typed command never
/// contains the marker itself (only the file does).
const PERSONAL_MARKER: &str = "personal-secret-4242";
const WORK_MARKER: &str = "work-secret-4343";

/// Runs `command` in `personality` (in front) and returns what it printed.
fn capture(machine: &Machine, from: usize, personality: &str, command: &str, marker: &str) -> (usize, Vec<String>) {
    let end = run(machine, from, personality, command, marker);
    (end, output(machine, from, end, personality))
}

/// Restarts the foreground `personality` with `reboot -f` and waits until
/// its shell is back.
fn restart(machine: &Machine, from: usize, personality: &str) -> usize {
    machine.send("sync; reboot -f\n");
    let (reset, _) = machine.wait_for_after(from, &format!("janus: {personality}: SYSTEM_RESET"));
    let ready = wait_tagged(machine, reset, personality, &format!("{personality}: ready"));
    machine.wait_for_shell(ready, &format!("[{personality}] "))
}

#[test]
fn files_survive_restart_and_power_cycle_and_each_disk_is_private() {
    let disk = Disk::fresh();
    {
        let (machine, ready) = boot_tagged_on(&disk.path);
        for personality in ["personal", "work"] {
            machine.wait_for(&format!("[{personality}] init: /dev/vda is blank: making an ext2 file system (first boot)"));
            machine.wait_for(&format!("[{personality}] init: /data is /dev/vda"));
        }
        let at = run(&machine, ready, "personal", "echo personal-secret-$((4200+42)) > /data/note && sync", "personal-wrote");
        let at = switch_to_work(&machine, at);
        let at = run(&machine, at, "work", "echo work-secret-$((4300+43)) > /data/note && sync", "work-wrote");

        // Each sees exactly its own partition's size.
        let (at, size) = capture(&machine, at, "work", "cat /sys/block/vda/size", "work-size");
        assert!(size.contains(&disk.layout.work.sectors.to_string()), "work's disk size: {size:?}");

        // Work restarts and finds its file; personal runs on.
        let at = restart(&machine, at, "work");
        let (at, note) = capture(&machine, at, "work", "cat /data/note", "work-read");
        assert!(note.iter().any(|line| line == WORK_MARKER), "work lost its file over a restart: {note:?}");

        machine.send(HOTKEY);
        let at = machine.wait_for_shell(at, "[personal] ");
        let (at, size) = capture(&machine, at, "personal", "cat /sys/block/vda/size", "personal-size");
        assert!(size.contains(&disk.layout.personal.sectors.to_string()), "personal's disk size: {size:?}");
        // Personal has one virtio disk, its own (the host checks below
        // that work's marker is nowhere on personal's partition).
        let (at, found) = capture(&machine, at, "personal", "ls /sys/block | grep -c '^vd'", "personal-disks");
        assert!(found.iter().any(|line| line == "1"), "personal sees other disks: {found:?}");
        let at = restart(&machine, at, "personal");
        let (at, note) = capture(&machine, at, "personal", "cat /data/note", "personal-read");
        assert!(note.iter().any(|line| line == PERSONAL_MARKER), "personal lost its file over a restart: {note:?}");
        let _ = run(&machine, at, "personal", "sync", "personal-synced");
        machine.assert_absent("janus: error");
        machine.assert_absent("init: error");
    }

    // On the host: work's partition is ciphertext, personal's is not.
    let mut work = disk.partition(PartitionKind::Work);
    assert!(!contains_bytes(&work, WORK_MARKER.as_bytes()), "work's marker is in plaintext on the disk");
    // It is standard AES-XTS-256 (dm-crypt plain64) under the data key
    // wrapped in janus-meta: with the device key it decrypts to the marker.
    let meta = disk.partition(PartitionKind::Meta);
    let slot = |index: usize| -> [u8; 4096] { meta[index * 4096..(index + 1) * 4096].try_into().unwrap() };
    let selection = janus_diskcrypt::select(&slot(0), &slot(1)).expect("janus-meta has a valid record");
    let wrapped = selection.current.expect("a record").key_slots[janus_diskcrypt::WORK_KEY_SLOT].expect("work's key is in its slot");
    let device_key = xtask::devicekey::device_key(&xtask::devicekey::default_path(), &disk.path).unwrap();
    let key = janus_diskcrypt::unwrap(&janus_diskcrypt::DeviceKey::from_bytes(device_key).unwrap(), &wrapped).expect("the key unwraps");
    // A fresh ext2 puts its first file's data in the first block group.
    let head = &mut work[..16 << 20];
    janus_diskcrypt::SectorCipher::new(&key).decrypt_sectors(0, head).unwrap();
    assert!(contains_bytes(head, WORK_MARKER.as_bytes()), "work's partition does not decrypt to its marker");
    assert!(contains_bytes(&disk.partition(PartitionKind::Personal), PERSONAL_MARKER.as_bytes()), "personal's marker is not on its partition");
    assert!(!contains_bytes(&disk.partition(PartitionKind::Personal), WORK_MARKER.as_bytes()));

    // A full power cycle: both files are still there.
    let (machine, ready) = boot_tagged_on(&disk.path);
    machine.assert_absent("making an ext2 file system");
    let (at, note) = capture(&machine, ready, "personal", "cat /data/note", "personal-read");
    assert!(note.iter().any(|line| line == PERSONAL_MARKER), "{note:?}");
    let at = switch_to_work(&machine, at);
    let (_, note) = capture(&machine, at, "work", "cat /data/note", "work-read");
    assert!(note.iter().any(|line| line == WORK_MARKER), "{note:?}");
    machine.assert_absent("janus: error");
}

/// The highest N of the `[personal] synced-N` lines so far.
fn last_synced(machine: &Machine) -> u64 {
    machine.lines().iter().filter_map(|line| line.strip_prefix("[personal] synced-")).filter_map(|rest| rest.trim().parse().ok()).max().unwrap_or(0)
}

#[test]
fn a_power_cut_loses_no_synced_write_and_the_file_system_checks_clean() {
    let disk = Disk::fresh();
    let synced = {
        let (mut machine, ready) = boot_tagged_on(&disk.path);
        machine.send("i=0; while true; do i=$((i+1)); echo record-$i > /data/r$i; sync; echo synced-$i; done &\n");
        machine.wait_from(ready, "20 synced writes", |line| line == "[personal] synced-20");
        // Pull the plug in the middle of the loop.
        std::thread::sleep(std::time::Duration::from_millis(150));
        let synced = last_synced(&machine);
        machine.kill();
        synced
    };
    assert!(synced >= 20);

    let (machine, ready) = boot_tagged_on(&disk.path);
    let check = format!("for j in $(seq 1 {synced}); do [ \"$(cat /data/r$j)\" = record-$j ] || echo lost-$j; done");
    let (at, lost) = capture(&machine, ready, "personal", &check, "records-checked");
    let lost: Vec<&String> = lost.iter().filter(|line| line.starts_with("lost-")).collect();
    assert!(lost.is_empty(), "synced writes lost in the power cut: {lost:?}");
    // Unmount cleanly so the host sees a quiescent file system.
    let _ = run(&machine, at, "personal", "umount /data && sync", "unmounted");
    drop(machine);

    let extracted = disk.path.with_extension("personal.ext2");
    janus_disklayout::extract_partition(&disk.path, &disk.layout.personal, &extracted).unwrap();
    let check = Command::new("e2fsck").args(["-n", "-f"]).arg(&extracted).output().expect("running e2fsck (package e2fsprogs)");
    let _ = std::fs::remove_file(&extracted);
    assert!(check.status.success(), "e2fsck -n -f found problems:\n{}{}", String::from_utf8_lossy(&check.stdout), String::from_utf8_lossy(&check.stderr));
}
