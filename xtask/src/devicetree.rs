//! Generates each personality's device tree from the manifest: memory,
//! cpus with PSCI, its emulated PL011, its power key (an emulated PL061
//! with `gpio-keys`) where the board has a button, its virtio-mmio disk if
//! it has one,
//! the physical devices passed through to it, and `/chosen`. The guest sees
//! only what it owns (Devicetree Specification v0.4; Linux arm64
//! booting.rst; Linux's virtio-mmio, GIC and AMBA/PrimeCell bindings).

use anyhow::{Context, Result};
use janus_manifest::{DeviceConfig, GuestLayout, PersonalityConfig};
use janus_platform::{BoardDescription, GicDescription, VIRTIO_MMIO_WINDOW_SIZE};
use vm_fdt::FdtWriter;

/// Phandle of the fixed clock the PL011 node refers to.
const CLOCK_PHANDLE: u32 = 1;
/// Phandle of the interrupt controller.
const GIC_PHANDLE: u32 = 2;
/// Phandle of the power key's GPIO controller.
const GPIO_PHANDLE: u32 = 3;
/// Linux's input event code of the power key (`KEY_POWER`).
const KEY_POWER: u32 = 116;
/// Interrupt specifier type for a PPI (the `1` in `<1 11 4>`).
const PPI: u32 = 1;
/// Interrupt specifier type for an SPI (the `0` in `<0 1 4>`).
const SPI: u32 = 0;
/// Level-high trigger.
const LEVEL_HIGH: u32 = 4;
/// Bytes of one GICv3 redistributor (RD_base + SGI_base).
const REDISTRIBUTOR_STRIDE: u64 = 0x2_0000;

/// The compatible string that marks an ARM PrimeCell (AMBA) peripheral,
/// whose Linux driver needs the `apb_pclk` clock.
const PRIMECELL: &str = "arm,primecell";

/// The device tree blob for one personality without passed-through devices.
pub fn personality_device_tree(personality: &PersonalityConfig, layout: &GuestLayout, initrd_length: Option<u64>, board: &BoardDescription) -> Result<Vec<u8>> {
    personality_device_tree_with_devices(personality, &[], layout, initrd_length, board)
}

/// The device tree blob for one personality with the physical `devices`
/// passed through to it ([`janus_manifest::Manifest::devices_of`]).
pub fn personality_device_tree_with_devices(
    personality: &PersonalityConfig,
    devices: &[&DeviceConfig],
    layout: &GuestLayout,
    initrd_length: Option<u64>,
    board: &BoardDescription,
) -> Result<Vec<u8>> {
    build(personality, devices, layout, initrd_length, board).with_context(|| format!("generating the device tree of personality {}", personality.name))
}

/// The kernel command line: the manifest's, and for a personality with a
/// disk the argument the hypervisor rewrites when it provisions the disk
/// (`janus.disk=old`, which becomes `janus.disk=new`).
fn bootargs(personality: &PersonalityConfig) -> String {
    match personality.disk {
        Some(_) if personality.cmdline.is_empty() => janus_manifest::DISK_STATE_ARGUMENT.to_string(),
        Some(_) => format!("{} {}", personality.cmdline, janus_manifest::DISK_STATE_ARGUMENT),
        None => personality.cmdline.clone(),
    }
}

fn build(
    personality: &PersonalityConfig,
    devices: &[&DeviceConfig],
    layout: &GuestLayout,
    initrd_length: Option<u64>,
    board: &BoardDescription,
) -> Result<Vec<u8>, vm_fdt::Error> {
    let uart = board.guest_uart.get();
    let uart_path = format!("/pl011@{uart:x}");
    let mut fdt = FdtWriter::new()?;
    let root = fdt.begin_node("")?;
    fdt.property_string("compatible", "linux,dummy-virt")?;
    fdt.property_u32("#address-cells", 2)?;
    fdt.property_u32("#size-cells", 2)?;
    fdt.property_string("model", &format!("Janus personality {}", personality.name))?;
    fdt.property_u32("interrupt-parent", GIC_PHANDLE)?;

    let chosen = fdt.begin_node("chosen")?;
    fdt.property_string("bootargs", &bootargs(personality))?;
    fdt.property_string("stdout-path", &uart_path)?;
    if let (Some(start), Some(length)) = (layout.initrd_load, initrd_length) {
        fdt.property_u64("linux,initrd-start", start.get())?;
        fdt.property_u64("linux,initrd-end", start.get() + length)?;
    }
    fdt.end_node(chosen)?;

    let memory = fdt.begin_node(&format!("memory@{:x}", personality.ram.start.get()))?;
    fdt.property_string("device_type", "memory")?;
    fdt.property_array_u64("reg", &[personality.ram.start.get(), personality.ram.size])?;
    fdt.end_node(memory)?;

    let cpus = fdt.begin_node("cpus")?;
    fdt.property_u32("#address-cells", 1)?;
    fdt.property_u32("#size-cells", 0)?;
    for vcpu in 0..personality.cpus.len() {
        let cpu = fdt.begin_node(&format!("cpu@{vcpu}"))?;
        fdt.property_string("device_type", "cpu")?;
        fdt.property_string("compatible", "arm,armv8")?;
        fdt.property_u32("reg", vcpu as u32)?;
        fdt.property_string("enable-method", "psci")?;
        fdt.end_node(cpu)?;
    }
    fdt.end_node(cpus)?;

    let psci = fdt.begin_node("psci")?;
    fdt.property_string_list("compatible", vec!["arm,psci-1.0".into(), "arm,psci-0.2".into()])?;
    fdt.property_string("method", "hvc")?;
    fdt.end_node(psci)?;

    let vcpus = personality.cpus.len() as u64;
    // GICv2 interrupt specifiers carry a CPU mask in bits 15:8.
    let flags = match board.gic {
        GicDescription::V3 { .. } => LEVEL_HIGH,
        GicDescription::V2 { .. } => (((1u32 << vcpus) - 1) << 8) | LEVEL_HIGH,
    };
    match board.gic {
        GicDescription::V3 { distributor, redistributor, .. } => {
            let gic = fdt.begin_node(&format!("interrupt-controller@{:x}", distributor.get()))?;
            fdt.property_string("compatible", "arm,gic-v3")?;
            fdt.property_array_u64("reg", &[distributor.get(), 0x1_0000, redistributor.get(), REDISTRIBUTOR_STRIDE * vcpus])?;
            fdt.property_u32("#redistributor-regions", 1)?;
            gic_common(&mut fdt, flags)?;
            fdt.end_node(gic)?;
        }
        GicDescription::V2 { distributor, cpu_interface, .. } => {
            let gic = fdt.begin_node(&format!("interrupt-controller@{:x}", distributor.get()))?;
            fdt.property_string("compatible", "arm,cortex-a15-gic")?;
            fdt.property_array_u64("reg", &[distributor.get(), 0x1000, cpu_interface.get(), 0x2000])?;
            gic_common(&mut fdt, flags)?;
            fdt.end_node(gic)?;
        }
    }

    // The generic timer's PPIs: secure and non-secure physical, virtual, hypervisor.
    let timer = fdt.begin_node("timer")?;
    fdt.property_string("compatible", "arm,armv8-timer")?;
    fdt.property_null("always-on")?;
    fdt.property_array_u32("interrupts", &[PPI, 13, flags, PPI, 14, flags, PPI, 11, flags, PPI, 10, flags])?;
    fdt.end_node(timer)?;

    let clock = fdt.begin_node("apb-pclk")?;
    fdt.property_string("compatible", "fixed-clock")?;
    fdt.property_u32("#clock-cells", 0)?;
    fdt.property_u32("clock-frequency", 24_000_000)?;
    fdt.property_string("clock-output-names", "clk24mhz")?;
    fdt.property_u32("phandle", CLOCK_PHANDLE)?;
    fdt.end_node(clock)?;

    let pl011 = fdt.begin_node(&uart_path[1..])?;
    fdt.property_string_list("compatible", vec!["arm,pl011".into(), "arm,primecell".into()])?;
    fdt.property_array_u64("reg", &[uart, 0x1000])?;
    fdt.property_array_u32("interrupts", &[SPI, board.guest_uart_interrupt - 32, LEVEL_HIGH])?;
    fdt.property_array_u32("clocks", &[CLOCK_PHANDLE, CLOCK_PHANDLE])?;
    fdt.property_string_list("clock-names", vec!["uartclk".into(), "apb_pclk".into()])?;
    fdt.end_node(pl011)?;

    if let Some(button) = board.hotkey_button {
        power_key(&mut fdt, &button)?;
    }

    if personality.disk.is_some() {
        let disk = board.guest_disk.get();
        let virtio = fdt.begin_node(&format!("virtio_mmio@{disk:x}"))?;
        fdt.property_string("compatible", "virtio,mmio")?;
        fdt.property_array_u64("reg", &[disk, VIRTIO_MMIO_WINDOW_SIZE])?;
        fdt.property_array_u32("interrupts", &[SPI, board.guest_disk_interrupt.saturating_sub(32), LEVEL_HIGH])?;
        fdt.property_null("dma-coherent")?;
        fdt.end_node(virtio)?;
    }

    for device in devices {
        passed_through(&mut fdt, device)?;
    }

    fdt.end_node(root)?;
    fdt.finish()
}

/// A physical device's node, `NAME@BASE`: its compatible strings, its
/// registers, each interrupt as a level-high SPI (no CPU mask: SPI
/// specifiers carry none on GICv2 or GICv3), and for a PrimeCell the APB
/// clock its driver asks for.
fn passed_through(fdt: &mut FdtWriter, device: &DeviceConfig) -> Result<(), vm_fdt::Error> {
    let base = device.mmio.start.get();
    let node = fdt.begin_node(&format!("{}@{base:x}", device.name))?;
    fdt.property_string_list("compatible", device.compatible.clone())?;
    fdt.property_array_u64("reg", &[base, device.mmio.size])?;
    if !device.interrupts.is_empty() {
        let specifiers: Vec<u32> =
            device.interrupts.iter().flat_map(|&interrupt| [SPI, interrupt.saturating_sub(janus_manifest::FIRST_SPI), LEVEL_HIGH]).collect();
        fdt.property_array_u32("interrupts", &specifiers)?;
    }
    if device.compatible.iter().any(|compatible| compatible == PRIMECELL) {
        fdt.property_u32("clocks", CLOCK_PHANDLE)?;
        fdt.property_string("clock-names", "apb_pclk")?;
    }
    fdt.end_node(node)
}

/// The personality's power key: an emulated PL061 where the board's button
/// controller is (same address, same SPI, same line) and a `gpio-keys` node
/// that makes the line `KEY_POWER`, as QEMU `virt` describes its own
/// (Linux's gpio-pl061 and gpio-keys bindings). Janus presses it when the
/// whole device stops.
fn power_key(fdt: &mut FdtWriter, button: &janus_platform::GpioButton) -> Result<(), vm_fdt::Error> {
    let base = button.controller.get();
    let gpio = fdt.begin_node(&format!("pl061@{base:x}"))?;
    fdt.property_string_list("compatible", vec!["arm,pl061".into(), PRIMECELL.into()])?;
    fdt.property_array_u64("reg", &[base, 0x1000])?;
    fdt.property_array_u32("interrupts", &[SPI, button.interrupt.saturating_sub(janus_manifest::FIRST_SPI), LEVEL_HIGH])?;
    fdt.property_null("gpio-controller")?;
    fdt.property_u32("#gpio-cells", 2)?;
    fdt.property_u32("clocks", CLOCK_PHANDLE)?;
    fdt.property_string("clock-names", "apb_pclk")?;
    fdt.property_u32("phandle", GPIO_PHANDLE)?;
    fdt.end_node(gpio)?;
    let keys = fdt.begin_node("gpio-keys")?;
    fdt.property_string("compatible", "gpio-keys")?;
    let key = fdt.begin_node("poweroff")?;
    fdt.property_string("label", "GPIO Key Poweroff")?;
    fdt.property_u32("linux,code", KEY_POWER)?;
    fdt.property_array_u32("gpios", &[GPIO_PHANDLE, u32::from(button.line), 0])?;
    fdt.end_node(key)?;
    fdt.end_node(keys)
}

/// Properties both GIC versions share: an interrupt controller with
/// three-cell specifiers and the maintenance interrupt (PPI 9).
fn gic_common(fdt: &mut FdtWriter, flags: u32) -> Result<(), vm_fdt::Error> {
    fdt.property_null("interrupt-controller")?;
    fdt.property_u32("#interrupt-cells", 3)?;
    fdt.property_u32("#address-cells", 2)?;
    fdt.property_u32("#size-cells", 2)?;
    fdt.property_null("ranges")?;
    fdt.property_array_u32("interrupts", &[PPI, 9, flags])?;
    fdt.property_u32("phandle", GIC_PHANDLE)
}
