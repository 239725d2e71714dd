//! Data safety with the bare-metal test personalities (seconds per boot):
//! a manifest that toggles a partition's encryption stops boot with the
//! reason and leaves the disk byte-identical; re-provisioning is the one
//! way to change the mode; a missing device key is refused by xtask and a
//! wrong one by Janus, the disk untouched; a refused boot powers the board
//! off, so QEMU exits with a failure status.

use std::io::Read;
use std::path::Path;
use std::time::Duration;

use janus_manifest::DiskPartition;
use janus_tests::{Disk, DiskFile, Machine, build_image_with_device_key, storage_test_system};

/// A 64-bit hash of every byte of the disk image, read 1 MiB at a time
/// (the image is most of a GiB, sparse).
fn fingerprint(path: &Path) -> u64 {
    use std::hash::Hasher;
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    let mut file = std::fs::File::open(path).unwrap();
    let mut chunk = vec![0u8; 1 << 20];
    loop {
        let read = file.read(&mut chunk).unwrap();
        if read == 0 {
            return hasher.finish();
        }
        hasher.write(&chunk[..read]);
    }
}

/// The storage test manifest (personal plain, work encrypted) with each
/// disk's `encrypted` set as given.
fn manifest(personal_encrypted: bool, work_encrypted: bool) -> String {
    let mut system = storage_test_system("", "");
    system.personalities[0].disk = Some(DiskFile::new("personal", Some(personal_encrypted)));
    system.personalities[1].disk = Some(DiskFile::new("work", Some(work_encrypted)));
    system.to_toml()
}

/// Boots `manifest` on `disk` until both test personalities are ready.
fn boot_ready(manifest: &str, disk: &Disk) -> Machine {
    let machine = Machine::boot_on(manifest, &[], Some(&disk.path));
    machine.wait_for("[personal] testguest: ready");
    machine.wait_for("[work] testguest: ready");
    machine.assert_absent("janus: error");
    machine
}

/// Boots `machine`'s image and expects Janus to refuse with a line
/// containing every one of `reasons`, then the board to power off with a
/// failure status.
fn expect_refusal(mut machine: Machine, reasons: &[&str]) {
    let (_, line) = machine.wait_for("janus: error: storage: ");
    for reason in reasons {
        assert!(line.contains(reason), "the refusal does not say `{reason}`: {line}");
    }
    let status = machine.wait_for_exit(Duration::from_secs(30)).expect("QEMU must exit: Janus powers the board off");
    assert!(!status.success(), "QEMU must exit with a failure status after a refused boot, got {status}");
    machine.assert_absent("testguest: start");
}

#[test]
fn toggling_encryption_is_refused_and_only_reprovisioning_changes_the_mode() {
    let disk = Disk::fresh();
    {
        let machine = boot_ready(&manifest(false, true), &disk);
        machine.wait_for("janus: personal: disk personal not encrypted (provisioned now, recorded in janus-meta)");
        machine.wait_for("janus: work: disk work encrypted with AES-XTS-256");
    }
    // The modes are recorded: the same manifest boots them as they are.
    {
        let machine = boot_ready(&manifest(false, true), &disk);
        machine.wait_for("janus: personal: disk personal not encrypted (as recorded in janus-meta)");
        machine.wait_for("janus: work: disk work encrypted with AES-XTS-256, ");
        machine.assert_absent("provisioned now");
    }
    let before = fingerprint(&disk.path);
    expect_refusal(
        Machine::boot_on(&manifest(true, true), &[], Some(&disk.path)),
        &[
            "disk personal: janus-meta records it as not encrypted, the manifest asks for encrypted",
            "Fix: set encrypted = false on the disk of partition personal",
            "cargo xtask reprovision personal --destroy-data",
        ],
    );
    assert_eq!(fingerprint(&disk.path), before, "a refused boot must leave the disk byte-identical");
    expect_refusal(
        Machine::boot_on(&manifest(false, false), &[], Some(&disk.path)),
        &["disk work: janus-meta records it as encrypted, the manifest asks for not encrypted", "Fix: set encrypted = true on the disk of partition work"],
    );
    assert_eq!(fingerprint(&disk.path), before, "a refused boot must leave the disk byte-identical");

    // Re-provisioning personal (the host command's function) lets it boot
    // encrypted, as a new partition; work keeps its key.
    xtask::janusmeta::reprovision(&disk.path, DiskPartition::Personal, true).unwrap();
    let machine = boot_ready(&manifest(true, true), &disk);
    machine.wait_for("janus: personal: disk personal encrypted with AES-XTS-256");
    let (_, personal) = machine.wait_for("janus: personal: disk personal encrypted");
    assert!(personal.contains("provisioned now"), "{personal}");
    let (_, work) = machine.wait_for("janus: work: disk work encrypted");
    assert!(work.contains("as recorded in janus-meta; key unwrapped"), "{work}");
}

#[test]
fn a_missing_device_key_is_refused_by_xtask_and_a_wrong_one_by_janus() {
    let disk = Disk::fresh();
    drop(boot_ready(&manifest(false, true), &disk));
    let before = fingerprint(&disk.path);
    let directory = xtask::output_dir().join("tests");
    let missing = directory.join(format!("missing-key-{}", std::process::id()));
    let _ = std::fs::remove_file(&missing);

    // xtask: no new key while the disk holds a key wrapped under another.
    let error = format!("{:#}", xtask::devicekey::device_key(&missing, &disk.path).unwrap_err());
    assert!(error.contains("is missing, but the disk"), "{error}");
    assert!(error.contains("(work)"), "{error}");
    assert!(!missing.exists(), "xtask must not make a key");

    // Janus: an image built with another device key is refused.
    let other = directory.join(format!("other-key-{}", std::process::id()));
    std::fs::write(&other, (1..=32).collect::<Vec<u8>>()).unwrap();
    let image = build_image_with_device_key(&manifest(false, true), &other).unwrap();
    let _ = std::fs::remove_file(&other);
    expect_refusal(
        Machine::boot_image(image, &[], Some(&disk.path)),
        &["disk work: disk key: wrapped key failed its integrity check", "Fix: boot with the device key the disk was made with"],
    );
    assert_eq!(fingerprint(&disk.path), before, "a refused boot must leave the disk byte-identical");
}
