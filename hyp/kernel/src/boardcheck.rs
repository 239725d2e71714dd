//! Checks the firmware's device tree against the board description the
//! image was built for, so a mismatch stops boot with a message that says
//! what differs instead of failing later in a confusing way.

use core::fmt::Write;

use janus_platform::{BoardDescription, GicDescription};

/// A description of what differs.
pub type Problem = heapless::String<256>;

fn problem(arguments: core::fmt::Arguments<'_>) -> Problem {
    let mut text = Problem::new();
    // A problem longer than its buffer is cut short: the start names it.
    let _ = text.write_fmt(arguments);
    text
}

fn first_reg(node: &fdt::node::FdtNode<'_, '_>) -> Option<u64> {
    node.reg()?.next().map(|region| region.starting_address as u64)
}

/// The console UART's base address from `/chosen/stdout-path`, if it is a PL011.
pub fn stdout_uart(tree: &fdt::Fdt<'_>) -> Option<u64> {
    let node = tree.chosen().stdout()?;
    let compatible = node.compatible()?;
    if !compatible.all().any(|entry| entry == "arm,pl011") {
        return None;
    }
    first_reg(&node)
}

#[allow(clippy::result_large_err, reason = "runs once at boot on a large stack; the message must be self-contained")]
/// Compares the device tree with `board`; also checks that Janus' own image
/// and payload `[image_base, payload_end)` lie inside the board's reserved
/// hypervisor region.
#[cold]
pub fn check(tree: &fdt::Fdt<'_>, board: &BoardDescription, image_base: u64, payload_end: u64) -> Result<(), Problem> {
    let (Some(ram_end), Some(hypervisor_end)) = (board.ram.end(), board.hypervisor.end()) else {
        return Err(problem(format_args!("the board description's RAM ranges wrap")));
    };
    let covered = tree.memory().regions().any(|region| {
        let start = region.starting_address as u64;
        let size = region.size.unwrap_or(0) as u64;
        start <= board.ram.start.get() && start.saturating_add(size) >= ram_end
    });
    if !covered {
        let mut found = Problem::new();
        for region in tree.memory().regions() {
            let start = region.starting_address as u64;
            // Cut short if the board has more regions than fit: enough to see.
            let _ = write!(found, "{:#x}..{:#x} ", start, start.saturating_add(region.size.unwrap_or(0) as u64));
        }
        return Err(problem(format_args!(
            "the device tree's memory is {}but the board needs RAM {} (QEMU: -m {} MiB)",
            found,
            board.ram,
            (ram_end >> 20).saturating_sub(board.ram.start.get() >> 20)
        )));
    }
    if image_base < board.hypervisor.start.get() || payload_end > hypervisor_end {
        return Err(problem(format_args!(
            "Janus and its payload occupy {image_base:#x}..{payload_end:#x}, outside the region {} kept for the hypervisor",
            board.hypervisor
        )));
    }
    let tree_cpus = tree.cpus().count();
    for (index, cpu) in board.cpus.iter().enumerate() {
        let present = tree.cpus().any(|node| node.ids().all().any(|id| id as u64 == cpu.mpidr));
        if !present {
            return Err(problem(format_args!(
                "the board has core {index} (MPIDR {:#x}) but the device tree lists {tree_cpus} cores (QEMU: -smp {})",
                cpu.mpidr,
                board.cpus.len()
            )));
        }
    }
    match board.gic {
        GicDescription::V3 { distributor, .. } => {
            let node = tree.find_compatible(&["arm,gic-v3"]);
            match node.as_ref().and_then(first_reg) {
                Some(address) if address == distributor.get() => {}
                Some(address) => {
                    return Err(problem(format_args!("the GICv3 distributor is at {address:#x}, not {distributor}")));
                }
                None => return Err(problem(format_args!("the device tree has no GICv3 (QEMU: -M virt,gic-version=3)"))),
            }
        }
        GicDescription::V2 { distributor, .. } => {
            let node = tree.find_compatible(&["arm,cortex-a15-gic", "arm,gic-400"]);
            match node.as_ref().and_then(first_reg) {
                Some(address) if address == distributor.get() => {}
                _ => return Err(problem(format_args!("the device tree has no GICv2 distributor at {distributor}"))),
            }
        }
    }
    if let Some(node) = tree.find_node("/psci")
        && let Some(method) = node.property("method").and_then(|property| property.as_str())
        && method != "smc"
    {
        return Err(problem(format_args!("the firmware's PSCI conduit is '{method}'; Janus at EL2 needs 'smc'")));
    }
    Ok(())
}
