//! Each personality's device tree, generated from the manifest, decompiled
//! with `dtc`: memory, cpus with PSCI, its GIC view, the timer, its PL011
//! with its interrupt, its virtio-mmio disk if it has one, the devices
//! passed through to it, and /chosen with bootargs and the initrd.

use std::io::Write;
use std::process::{Command, Stdio};

use janus_manifest::{DeviceConfig, DiskPartition, DiskPlan, GuestLayout, PersonalityConfig};
use janus_platform::{GuestPhysAddr, PhysRange};

fn decompile(blob: &[u8]) -> String {
    let mut child = Command::new("dtc")
        .args(["-I", "dtb", "-O", "dts", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("dtc runs (cargo xtask test installs device-tree-compiler)");
    child.stdin.take().unwrap().write_all(blob).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "dtc failed: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap()
}

fn work() -> (PersonalityConfig, GuestLayout) {
    let personality = PersonalityConfig {
        name: "work".into(),
        cpus: vec![2, 3],
        ram: PhysRange::new(0x6800_0000, 512 << 20),
        kernel: "builtin:debian-cloud".into(),
        initrd: Some("builtin:debian-initramfs".into()),
        cmdline: "console=ttyAMA0 panic=-1".into(),
        disk: None,
    };
    let layout = GuestLayout {
        kernel_load: GuestPhysAddr(0x6800_0000),
        entry: GuestPhysAddr(0x6800_0000),
        dtb_load: GuestPhysAddr(0x87e0_0000),
        initrd_load: Some(GuestPhysAddr(0x87d0_0000)),
    };
    (personality, layout)
}

#[test]
fn a_gicv3_personality_sees_only_its_own_machine() {
    let (personality, layout) = work();
    let blob = xtask::devicetree::personality_device_tree(&personality, &layout, Some(0x1000), &janus_board_qemu_virt::description()).unwrap();
    let source = decompile(&blob);
    for expected in [
        "memory@68000000 {",
        "reg = <0x00 0x68000000 0x00 0x20000000>;",
        "cpu@0 {",
        "cpu@1 {",
        "enable-method = \"psci\";",
        "method = \"hvc\";",
        "compatible = \"arm,psci-1.0\\0arm,psci-0.2\";",
        "compatible = \"arm,gic-v3\";",
        // The distributor and one redistributor per vCPU (2 x 128 KiB).
        "reg = <0x00 0x8000000 0x00 0x10000 0x00 0x80a0000 0x00 0x40000>;",
        "compatible = \"arm,armv8-timer\";",
        "interrupts = <0x01 0x0d 0x04 0x01 0x0e 0x04 0x01 0x0b 0x04 0x01 0x0a 0x04>;",
        "pl011@9000000 {",
        "interrupts = <0x00 0x01 0x04>;",
        "bootargs = \"console=ttyAMA0 panic=-1\";",
        "stdout-path = \"/pl011@9000000\";",
        "linux,initrd-start = <0x00 0x87d00000>;",
        "linux,initrd-end = <0x00 0x87d01000>;",
    ] {
        assert!(source.contains(expected), "missing `{expected}` in:\n{source}");
    }
    // Its own power key: an emulated PL061 where the board's button is,
    // line 3 as KEY_POWER.
    let gpio = node(&source, "pl061@9030000").unwrap_or_else(|| panic!("no power-key controller in:\n{source}"));
    assert!(gpio.contains("interrupts = <0x00 0x07 0x04>;") && gpio.contains("gpio-controller;"), "{gpio}");
    let key = node(&source, "poweroff").unwrap_or_else(|| panic!("no gpio-keys power key in:\n{source}"));
    assert!(key.contains("linux,code = <0x74>;") && key.contains("gpios = <0x03 0x03 0x00>;"), "{key}");
    // Only two cpus, and nothing of the board it does not own.
    assert!(!source.contains("cpu@2"), "{source}");
    assert_eq!(source.matches("pl061@").count(), 1, "{source}");
    for absent in ["its@", "virtio", "pcie", "fw-cfg", "flash"] {
        assert!(!source.contains(absent), "`{absent}` leaked into the guest's tree:\n{source}");
    }
}

#[test]
fn a_gicv2_personality_gets_a_cpu_interface_and_cpu_masks() {
    let (personality, layout) = work();
    let blob = xtask::devicetree::personality_device_tree(&personality, &layout, None, &janus_board_qemu_virt::description_gicv2()).unwrap();
    let source = decompile(&blob);
    assert!(source.contains("compatible = \"arm,cortex-a15-gic\";"), "{source}");
    assert!(source.contains("reg = <0x00 0x8000000 0x00 0x1000 0x00 0x8010000 0x00 0x2000>;"), "{source}");
    // GICv2 PPI specifiers carry the CPU mask of both vCPUs (0x3 << 8).
    assert!(source.contains("0x01 0x0b 0x304"), "{source}");
    assert!(!source.contains("linux,initrd-start"), "no initrd was given:\n{source}");
}

/// The lines of the node called `name` in decompiled `source`.
fn node<'a>(source: &'a str, name: &str) -> Option<&'a str> {
    let start = source.find(&format!("{name} {{"))?;
    let length = source[start..].find("};")?;
    Some(&source[start..start + length])
}

#[test]
fn a_personality_with_a_disk_sees_one_virtio_mmio_device_on_either_gic() {
    let (mut personality, layout) = work();
    personality.disk = Some(DiskPlan { partition: DiskPartition::Work, encrypted: true });
    for board in [janus_board_qemu_virt::description(), janus_board_qemu_virt::description_gicv2()] {
        let blob = xtask::devicetree::personality_device_tree(&personality, &layout, None, &board).unwrap();
        let source = decompile(&blob);
        assert_eq!(source.matches("virtio_mmio@").count(), 1, "{source}");
        let disk = node(&source, "virtio_mmio@a000000").unwrap_or_else(|| panic!("no disk node in:\n{source}"));
        for expected in [
            "compatible = \"virtio,mmio\";",
            "reg = <0x00 0xa000000 0x00 0x200>;",
            // SPI 16 (INTID 48), level high: no CPU mask on SPIs, GICv2 or v3.
            "interrupts = <0x00 0x10 0x04>;",
            "dma-coherent;",
        ] {
            assert!(disk.contains(expected), "missing `{expected}` in:\n{disk}");
        }
    }
}

#[test]
fn a_personality_with_a_disk_gets_the_disk_state_argument_janus_rewrites() {
    let (mut personality, layout) = work();
    personality.disk = Some(DiskPlan { partition: DiskPartition::Work, encrypted: false });
    let mut blob = xtask::devicetree::personality_device_tree(&personality, &layout, None, &janus_board_qemu_virt::description()).unwrap();
    assert!(decompile(&blob).contains("bootargs = \"console=ttyAMA0 panic=-1 janus.disk=old\";"));
    // What Janus does when it provisioned the disk this boot: same length,
    // still a valid tree.
    assert!(janus_manifest::mark_disk_new(&mut blob));
    assert!(decompile(&blob).contains("bootargs = \"console=ttyAMA0 panic=-1 janus.disk=new\";"));
    personality.disk = None;
    let blob = xtask::devicetree::personality_device_tree(&personality, &layout, None, &janus_board_qemu_virt::description()).unwrap();
    assert!(!decompile(&blob).contains("janus.disk"));
}

#[test]
fn a_personality_without_a_disk_sees_no_virtio_device() {
    let (personality, layout) = work();
    assert_eq!(personality.disk, None);
    for board in [janus_board_qemu_virt::description(), janus_board_qemu_virt::description_gicv2()] {
        let blob = xtask::devicetree::personality_device_tree(&personality, &layout, None, &board).unwrap();
        let source = decompile(&blob);
        assert!(!source.contains("virtio"), "{source}");
        assert!(!source.contains("dma-coherent"), "{source}");
    }
}

/// QEMU virt's PL031 RTC as work's device.
fn rtc() -> DeviceConfig {
    DeviceConfig {
        personality: 1,
        name: "rtc".into(),
        mmio: PhysRange::new(0x0901_0000, 0x1000),
        interrupts: vec![34],
        compatible: vec!["arm,pl031".into(), "arm,primecell".into()],
    }
}

#[test]
fn a_passed_through_primecell_gets_its_registers_spi_and_apb_clock_on_either_gic() {
    let (personality, layout) = work();
    let rtc = rtc();
    for board in [janus_board_qemu_virt::description(), janus_board_qemu_virt::description_gicv2()] {
        let blob = xtask::devicetree::personality_device_tree_with_devices(&personality, &[&rtc], &layout, None, &board).unwrap();
        let source = decompile(&blob);
        let node = node(&source, "rtc@9010000").unwrap_or_else(|| panic!("no rtc node in:\n{source}"));
        for expected in [
            "compatible = \"arm,pl031\\0arm,primecell\";",
            "reg = <0x00 0x9010000 0x00 0x1000>;",
            // SPI 2 (INTID 34), level high, no CPU mask.
            "interrupts = <0x00 0x02 0x04>;",
            // The fixed APB clock the PL011 uses too.
            "clocks = <0x01>;",
            "clock-names = \"apb_pclk\";",
        ] {
            assert!(node.contains(expected), "missing `{expected}` in:\n{node}");
        }
        assert!(source.contains("phandle = <0x01>;"), "the clock has phandle 1:\n{source}");
        assert!(source.contains("interrupt-parent = <0x02>;"), "{source}");
    }
}

#[test]
fn a_device_gets_one_specifier_per_interrupt_and_no_clock_unless_a_primecell() {
    let (personality, layout) = work();
    let device = DeviceConfig {
        name: "sensor".into(),
        mmio: PhysRange::new(0x0902_0000, 0x2000),
        interrupts: vec![40, 41],
        compatible: vec!["vendor,sensor".into()],
        ..rtc()
    };
    let quiet =
        DeviceConfig { name: "flash".into(), mmio: PhysRange::new(0x0400_0000, 0x10_0000), interrupts: vec![], compatible: vec!["cfi-flash".into()], ..rtc() };
    let blob = xtask::devicetree::personality_device_tree_with_devices(&personality, &[&device, &quiet], &layout, None, &janus_board_qemu_virt::description())
        .unwrap();
    let source = decompile(&blob);
    let sensor = node(&source, "sensor@9020000").unwrap_or_else(|| panic!("no sensor node in:\n{source}"));
    assert!(sensor.contains("interrupts = <0x00 0x08 0x04 0x00 0x09 0x04>;"), "{sensor}");
    assert!(sensor.contains("reg = <0x00 0x9020000 0x00 0x2000>;"), "{sensor}");
    assert!(!sensor.contains("clock"), "{sensor}");
    let flash = node(&source, "flash@4000000").unwrap_or_else(|| panic!("no flash node in:\n{source}"));
    assert!(!flash.contains("interrupts"), "{flash}");
    // Without devices (what `personality_device_tree` makes) there is no node.
    let blob = xtask::devicetree::personality_device_tree(&personality, &layout, None, &janus_board_qemu_virt::description()).unwrap();
    assert!(!decompile(&blob).contains("@9020000"));
}
