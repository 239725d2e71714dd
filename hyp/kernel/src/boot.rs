//! Boot: the primary core's path from the firmware's jump to the first
//! guest instruction, and the secondary cores' path to their parking loop.

use core::sync::atomic::Ordering;

use janus_manifest::BootPlan;
use janus_stage2::{MemoryKind, PartitionMap, Stage2Config};

use crate::arch::{self, read_sysreg};
use crate::frames::TablePool;
use crate::system::{self, Personality, System, TRAP_FRAME_SIZE};
use crate::{boardcheck, gic, mmu, stacks, uart};

core::arch::global_asm!(
    ".equ TRAP_FRAME_SIZE, {frame}",
    ".equ BOOT_STACK_SIZE, {boot}",
    ".equ CPU_STACK_SIZE, {cpu}",
    include_str!("boot.S"),
    include_str!("vectors.S"),
    frame = const TRAP_FRAME_SIZE,
    boot = const stacks::BOOT_STACK_SIZE,
    cpu = const stacks::CPU_STACK_SIZE,
);

unsafe extern "C" {
    static __image_start: u8;
    static __payload_start: u8;
    fn janus_secondary_entry();
}

/// Bytes of GICv2's (virtual) CPU interface: two 4 KiB pages (GICC_DIR is at 0x1000).
const GICV2_CPU_INTERFACE_SIZE: u64 = 0x2000;

/// PSCI CPU_ON, SMC64 (DEN0022 §5.1.4).
const PSCI_CPU_ON: u64 = 0xc400_0003;

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    // Unreachable by construction (the crates deny panics); kept so a bug
    // stops one core with a message rather than silently.
    crate::println!("janus: error: internal error on core {}: {}", system::this_cpu(), info.message());
    arch::halt()
}

/// Prints the reason boot cannot go on and powers the board off (an
/// emulator exits with a failure status).
fn refuse(arguments: core::fmt::Arguments<'_>) -> ! {
    uart::print(format_args!("janus: error: {arguments}\n"));
    crate::power::power_off_board(true)
}

// Runs once: cold, so the optimizer keeps it small (it inlines less).
#[cold]
#[unsafe(no_mangle)]
extern "C" fn janus_primary_main(device_tree: u64, image_base: u64) -> ! {
    // SAFETY: the firmware passes the DTB address in x0 (arm64 boot
    // protocol); the fdt crate checks the header before trusting it.
    let board_tree = unsafe { fdt::Fdt::from_ptr(device_tree as *const u8) };
    let early_uart = board_tree.as_ref().ok().and_then(boardcheck::stdout_uart);
    if let Some(base) = early_uart {
        // SAFETY: the device tree names this PL011 as the console; nothing
        // else drives it yet.
        unsafe { uart::init_console(base) };
    }
    uart::init_logger();

    if arch::current_el() != 2 {
        refuse(format_args!("Janus was entered at EL{}, not EL2. Fix: start QEMU with -M virt,virtualization=on (cargo xtask run does).", arch::current_el()));
    }
    // SAFETY: at EL2 (checked just above), on the boot core, before any guest.
    unsafe { arch::set_el2_controls() };
    let Ok(board_tree) = board_tree else { refuse(format_args!("no valid device tree in x0 ({device_tree:#x}). Fix: boot Janus as an arm64 Linux Image.")) };

    // The payload xtask appended right after the image.
    // Only the linker symbol's address is used.
    let payload_start = core::ptr::addr_of!(__payload_start) as u64;
    // SAFETY: xtask always appends at least a payload header after the
    // image; the header says how long the rest is and parse_payload checks it.
    let header = unsafe { core::slice::from_raw_parts(payload_start as *const u8, janus_manifest::PAYLOAD_HEADER_SIZE as usize) };
    let payload_length = match janus_manifest::payload_length(header) {
        Ok(length) => length,
        Err(error) => refuse(format_args!("the image carries no usable payload ({error}). Fix: build the image with cargo xtask build.")),
    };
    let Ok(payload_length_bytes) = usize::try_from(payload_length) else { refuse(format_args!("payload too large")) };
    // SAFETY: the header's length was accepted above; the board check below
    // verifies the whole span lies in RAM reserved for Janus before use.
    let payload: &'static [u8] = unsafe { core::slice::from_raw_parts(payload_start as *const u8, payload_length_bytes) };
    let mut plan: BootPlan = match janus_manifest::parse_payload(payload) {
        Ok((plan, _)) => plan,
        Err(error) => refuse(format_args!("the embedded boot plan is damaged: {error}. Fix: rebuild with cargo xtask build.")),
    };
    if let Err(error) = janus_manifest::validate_plan(&plan, payload_length) {
        refuse(format_args!("the embedded boot plan is invalid: {error}"));
    }
    if early_uart != Some(plan.board.uart.get()) {
        // SAFETY: the board description names the PL011 Janus owns.
        unsafe { uart::init_console(plan.board.uart.get()) };
    }
    let payload_end = payload_start + payload_length;
    if let Err(problem) = boardcheck::check(&board_tree, &plan.board, image_base, payload_end) {
        refuse(format_args!(
            "this machine does not match board '{}': {problem}. Fix: run the image on the board it was built for (cargo xtask run sets QEMU up to match).",
            plan.board.name
        ));
    }
    let Some(cpu) = plan.board.cpus.iter().position(|cpu| cpu.mpidr == arch::mpidr_affinity()) else {
        refuse(format_args!("the boot core's MPIDR {:#x} is not in the board description", arch::mpidr_affinity()))
    };
    system::set_this_cpu(cpu);
    let gic_name = match plan.board.gic {
        janus_platform::GicDescription::V3 { .. } => "GICv3",
        janus_platform::GicDescription::V2 { .. } => "GICv2",
    };
    log::info!("Janus {} on {} with {gic_name} (boot core {cpu}, {} cores)", env!("CARGO_PKG_VERSION"), plan.board.name, plan.board.cpus.len());

    // Own stage-1 map, then caches on.
    let parange = read_sysreg!(id_aa64mmfr0_el1) & 0xf;
    // SAFETY: first and only call, on the boot core, before any other core runs.
    if !unsafe { mmu::build_map(&plan.board.ram) } {
        refuse(format_args!("board RAM {} is not 2 MiB aligned", plan.board.ram));
    }
    // SAFETY: the map identity-maps board RAM, which holds this image.
    unsafe { mmu::enable(parange) };

    // Stage-2: one table per personality, built by the pure crate that
    // refuses to map any physical page into two personalities.
    let Ok(config) = Stage2Config::for_parange(parange as u8) else { refuse(format_args!("unsupported physical address size (PARange {parange})")) };
    let Some(hypervisor_end) = plan.board.hypervisor.end() else { refuse(format_args!("bad hypervisor region")) };
    // SAFETY: boardcheck proved [payload_end, hypervisor_end) is RAM inside
    // Janus' reserved region and past the image and payload.
    let mut pool = unsafe { TablePool::new(payload_end, hypervisor_end) };
    let mut partitions = match PartitionMap::<{ janus_manifest::MAX_PERSONALITIES }>::new(&mut pool, config) {
        Ok(partitions) => partitions,
        Err(error) => refuse(format_args!("cannot create the stage-2 tables: {error}")),
    };
    let mut personalities = heapless::Vec::new();
    for (index, personality) in plan.personalities.iter().enumerate() {
        let ram = personality.ram;
        // Identity map: guest physical == host physical over its RAM.
        if let Err(error) = partitions.map(index, &mut pool, janus_platform::GuestPhysAddr(ram.start.get()), ram.start, ram.size, MemoryKind::Normal) {
            refuse(format_args!("{}: cannot map its RAM {ram}: {error}", personality.name));
        }
        // GICv2: the guest's GICC is the banked virtual CPU interface.
        if let janus_platform::GicDescription::V2 { cpu_interface, virtual_cpu_interface, .. } = plan.board.gic
            && let Err(error) = partitions.map_banked_device(
                index,
                &mut pool,
                janus_platform::GuestPhysAddr(cpu_interface.get()),
                virtual_cpu_interface,
                GICV2_CPU_INTERFACE_SIZE,
            )
        {
            refuse(format_args!("{}: cannot map its virtual CPU interface: {error}", personality.name));
        }
        // Passed-through devices: their registers, identity mapped as
        // device memory into this personality only.
        for device in &personality.devices {
            let mmio = device.mmio;
            if let Err(error) = partitions.map(index, &mut pool, janus_platform::GuestPhysAddr(mmio.start.get()), mmio.start, mmio.size, MemoryKind::Device) {
                refuse(format_args!("{}: cannot map its device {} at {mmio}: {error}", personality.name, device.name));
            }
        }
        let Some(table) = partitions.table(index) else { refuse(format_args!("stage-2 table missing")) };
        let vmid = (index + 1) as u8;
        let version = match plan.board.gic {
            janus_platform::GicDescription::V3 { .. } => janus_vgic::GicVersion::V3,
            janus_platform::GicDescription::V2 { .. } => janus_vgic::GicVersion::V2,
        };
        // Each personality owns the SPIs of its own emulated UART, power
        // key and disk, and those of the devices passed through to it.
        let mut owned = heapless::Vec::<u32, { 3 + janus_manifest::MAX_DEVICES * janus_manifest::MAX_DEVICE_INTERRUPTS }>::new();
        // `owned` holds 3 + every device interrupt the plan may have
        // (validated): no push below can fail.
        let _ = owned.push(plan.board.guest_uart_interrupt);
        // Its power key's GPIO controller, where the board's button is.
        if let Some(button) = plan.board.hotkey_button {
            let _ = owned.push(button.interrupt);
        }
        if personality.disk.is_some() {
            let _ = owned.push(plan.board.guest_disk_interrupt);
        }
        for interrupt in personality.device_interrupts() {
            let _ = owned.push(interrupt);
        }
        let vgic = match system::create_virtual_gic(index, version, personality.cpus.len(), &owned) {
            Ok(vgic) => vgic,
            Err(error) => refuse(format_args!("{}: cannot create its virtual GIC: {error:?}", personality.name)),
        };
        for interrupt in personality.device_interrupts() {
            if let Err(error) = vgic.lock().bind_hardware(0, interrupt, Some(interrupt)) {
                refuse(format_args!("{}: cannot pass through interrupt {interrupt}: {error:?}", personality.name));
            }
        }
        // One slot per planned personality (at most MAX_PERSONALITIES,
        // validated): the push cannot fail.
        let _ = personalities.push(Personality::new(table.vttbr(vmid), vgic, plan.board.hotkey_button.map_or(0, |button| button.line)));
    }
    if let Err(error) = crate::storage::bring_up(&plan) {
        refuse(format_args!("storage: {error}"));
    }
    // The disks are up: the device key is needed no more.
    let payload = forget_device_key(&mut plan, payload_start, payload);
    let cpus = system::build_cpu_slots(&plan);
    let system = system::install(System { plan, payload, personalities, cpus, vtcr: config.vtcr() });
    system::build_core_contexts(system);

    for (index, personality) in system.plan.personalities.iter().enumerate() {
        if !system.load_personality(index) {
            refuse(format_args!("{}: its images do not fit its RAM", personality.name));
        }
    }

    // SAFETY: addresses from the board description, checked against the
    // device tree by boardcheck; device memory in the stage-1 map.
    unsafe { gic::init_distributor(&system.plan.board.gic) };
    // SAFETY: as above, on this core.
    if !unsafe { gic::init_this_core(cpu, arch::mpidr_affinity()) } {
        refuse(format_args!("the GIC has no CPU interface or redistributor for the boot core"));
    }
    if let Some(slot) = system.cpus.get(cpu) {
        slot.online.store(true, Ordering::Release);
    }
    crate::storage::enable_interrupt_on(cpu);
    crate::console::configure(system);
    if let Some(console) = uart::CONSOLE.lock().as_ref() {
        console.enable_receive_interrupts();
    }
    if let Some(button) = system.plan.board.hotkey_button {
        crate::button::init(&button);
    }
    for index in 0..system.plan.personalities.len() {
        system.set_device_interrupts(index, true);
    }

    // Start every other core that runs a vCPU (PSCI CPU_ON, affinity only).
    let entry = janus_secondary_entry as *const () as usize as u64;
    for (index, slot) in system.cpus.iter().enumerate() {
        if index == cpu || slot.assignment.is_none() {
            continue;
        }
        let result = arch::secure_monitor_call(PSCI_CPU_ON, slot.affinity, entry, index as u64);
        if result != 0 {
            refuse(format_args!("the firmware would not start core {index} (PSCI CPU_ON returned {})", result as i64));
        }
    }
    let deadline = arch::counter().saturating_add(arch::counter_frequency());
    for (index, slot) in system.cpus.iter().enumerate() {
        while slot.assignment.is_some() && !slot.online.load(Ordering::Acquire) {
            if arch::counter() > deadline {
                refuse(format_args!("core {index} did not come up within 1 s"));
            }
            core::hint::spin_loop();
        }
    }

    // Keyboard input is taken on the foreground's first core (now that
    // every core's GIC interface is known).
    crate::console::route_input(system, 0);
    for personality in &system.plan.personalities {
        let mut cores = heapless::String::<32>::new();
        for (position, core) in personality.cpus.iter().enumerate() {
            // At most 8 cores of at most 3 characters: fits the 32 bytes.
            let _ = core::fmt::Write::write_fmt(&mut cores, format_args!("{}{core}", if position == 0 { "" } else { "," }));
        }
        log::info!("{} cpus={cores} ram={}", personality.name, personality.ram);
    }
    // Janus' own boot time: the counter runs from power-on.
    let microseconds = arch::counter().saturating_mul(1_000_000) / arch::counter_frequency().max(1);
    log::info!("starting the personalities {}.{:03} ms after power-on", microseconds / 1000, microseconds % 1000);
    crate::console::announce();
    for (index, personality) in system.plan.personalities.iter().enumerate() {
        system::request_start(system, index, 0, personality.entry.get(), personality.dtb_load.get());
    }
    system::idle(cpu)
}

/// Zeroizes the device key in the plan and in the payload it came from
/// (which makes the payload's checksum fail: it is never parsed again), and
/// returns the payload slice anew.
fn forget_device_key(plan: &mut BootPlan, payload_start: u64, payload: &'static [u8]) -> &'static [u8] {
    use zeroize::Zeroize;
    let length = payload.len();
    let span = janus_manifest::device_key_span(payload);
    if let Some(key) = plan.device_key.as_mut() {
        key.zeroize();
    }
    plan.device_key = None;
    if let Some(span) = span.filter(|span| span.end <= length) {
        // SAFETY: the span lies inside the payload (checked against its
        // length), which is Janus' own RAM, identity-mapped read-write; the
        // old shared slice is not used again (the new one is made below).
        unsafe { core::slice::from_raw_parts_mut((payload_start as *mut u8).add(span.start), span.len()) }.zeroize();
    }
    // SAFETY: as for the first slice over the payload: the header's length
    // was accepted and boardcheck put the whole span inside Janus' RAM.
    unsafe { core::slice::from_raw_parts(payload_start as *const u8, length) }
}

#[unsafe(no_mangle)]
extern "C" fn janus_secondary_main(cpu: usize) -> ! {
    // SAFETY: first thing on this core, before any guest.
    unsafe { arch::set_el2_controls() };
    system::set_this_cpu(cpu);
    let parange = read_sysreg!(id_aa64mmfr0_el1) & 0xf;
    // SAFETY: the boot core built the map before starting this core.
    unsafe { mmu::enable(parange) };
    let Some(system) = system::get() else { arch::halt() };
    // SAFETY: the boot core initialised the distributor; this is core `cpu`.
    if !unsafe { gic::init_this_core(cpu, arch::mpidr_affinity()) } {
        log::warn!("core {cpu}: the GIC has nothing for this core; it stays parked");
        arch::halt();
    }
    if let Some(slot) = system.cpus.get(cpu) {
        slot.online.store(true, Ordering::Release);
    }
    crate::storage::enable_interrupt_on(cpu);
    system::idle(cpu)
}
