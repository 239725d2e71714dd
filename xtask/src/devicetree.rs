//! Generates each personality's device tree from the manifest: memory,
//! cpus with PSCI, its emulated PL011 and `/chosen`. The guest sees only
//! what it owns (Devicetree Specification v0.4; Linux arm64 booting.rst).

use anyhow::{Context, Result};
use janus_manifest::{GuestLayout, PersonalityConfig};
use janus_platform::BoardDescription;
use vm_fdt::FdtWriter;

/// Phandle of the fixed clock the PL011 node refers to.
const CLOCK_PHANDLE: u32 = 1;

/// The device tree blob for one personality.
pub fn personality_device_tree(
    personality: &PersonalityConfig,
    layout: &GuestLayout,
    initrd_length: Option<u64>,
    board: &BoardDescription,
) -> Result<Vec<u8>> {
    build(personality, layout, initrd_length, board).with_context(|| format!("generating the device tree of personality {}", personality.name))
}

fn build(personality: &PersonalityConfig, layout: &GuestLayout, initrd_length: Option<u64>, board: &BoardDescription) -> Result<Vec<u8>, vm_fdt::Error> {
    let uart = board.guest_uart.get();
    let uart_path = format!("/pl011@{uart:x}");
    let mut fdt = FdtWriter::new()?;
    let root = fdt.begin_node("")?;
    fdt.property_string("compatible", "linux,dummy-virt")?;
    fdt.property_u32("#address-cells", 2)?;
    fdt.property_u32("#size-cells", 2)?;
    fdt.property_string("model", &format!("Janus personality {}", personality.name))?;

    let chosen = fdt.begin_node("chosen")?;
    fdt.property_string("bootargs", &personality.cmdline)?;
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
    fdt.property_array_u32("clocks", &[CLOCK_PHANDLE, CLOCK_PHANDLE])?;
    fdt.property_string_list("clock-names", vec!["uartclk".into(), "apb_pclk".into()])?;
    fdt.end_node(pl011)?;

    fdt.end_node(root)?;
    fdt.finish()
}
