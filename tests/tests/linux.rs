//! Two unmodified Debian arm64 Linux personalities (Debian 12's cloud
//! kernel, a busybox initramfs each) boot side by side under Janus, each
//! with both of its vCPUs, its own GIC view and its own console.

use janus_tests::Machine;

fn linux_manifest() -> String {
    let path = xtask::root().join("boards").join("qemu-virt").join("janus.toml");
    std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("reading {}: {error}", path.display()))
}

#[test]
fn both_debian_personalities_boot_to_their_shells() {
    let machine = Machine::boot(&linux_manifest());
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
