//! What happens when a guest traps: hypercalls (PSCI), emulated MMIO, set/way
//! cache maintenance, and everything else turned into an exception injected
//! back into the guest. Nothing a guest does here can stop Janus.

use janus_platform::GicDescription;
use janus_trap::esr::{self, Exception, SetWayOperation};
use janus_trap::psci::{self, PsciAction, PsciReturn};

use crate::arch::{read_sysreg, write_sysreg};
use crate::gic;
use crate::system::{self, CoreContext, System, TrapFrame};

/// ESR exception classes for what Janus injects (ARM ARM D17.2.37).
const CLASS_UNKNOWN: u64 = 0x00;
const CLASS_INSTRUCTION_ABORT_LOWER: u64 = 0x20;
const CLASS_INSTRUCTION_ABORT_SAME: u64 = 0x21;
const CLASS_DATA_ABORT_LOWER: u64 = 0x24;
const CLASS_DATA_ABORT_SAME: u64 = 0x25;
/// Fault status code: synchronous external abort.
const FAULT_EXTERNAL_ABORT: u64 = 0x10;
const ESR_INSTRUCTION_LENGTH: u64 = 1 << 25;
const ESR_WRITE_NOT_READ: u64 = 1 << 6;

#[unsafe(no_mangle)]
extern "C" fn janus_lower_synchronous(frame: &mut TrapFrame) {
    let Some(context) = system::core_context() else {
        return;
    };
    // Only traps that may have made an interrupt pending for this vCPU
    // need its list registers refreshed; a plain read or hypercall does not
    // (other cores' changes reach it through a kick, i.e. an IRQ).
    if synchronous(context, frame) == Interrupts::MayHaveChanged {
        system::flush_interrupts(context.system, system::this_cpu());
    }
}

/// Whether handling a trap may have changed this vCPU's pending interrupts.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Interrupts {
    Unchanged,
    MayHaveChanged,
}

fn synchronous(context: &CoreContext, frame: &mut TrapFrame) -> Interrupts {
    let (system, personality_index, vcpu) = (context.system, context.personality_index, context.vcpu);
    let syndrome = read_sysreg!(esr_el2);
    match esr::decode(syndrome) {
        Exception::Hypercall { .. } => hypercall(context, frame),
        Exception::SecureMonitorCall { .. } => {
            // A trapped SMC returns to the SMC itself; step over it.
            frame.return_address = frame.return_address.wrapping_add(esr::instruction_length(syndrome));
            hypercall(context, frame);
        }
        Exception::DataAbort { access, is_write, .. } => {
            let address = faulting_ipa();
            let (plan, personality) = (context.plan, context.personality);
            if let Some(access) = access
                && interrupt_controller_access(context, frame, address, &access)
            {
                frame.return_address = frame.return_address.wrapping_add(esr::instruction_length(syndrome));
                return if access.is_write { Interrupts::MayHaveChanged } else { Interrupts::Unchanged };
            }
            if let Some(access) = access
                && (context.uart.0..context.uart.1).contains(&address)
            {
                let offset = address - context.uart.0;
                let (sent, line) = {
                    let mut uart = personality.uart.lock();
                    let sent = if access.is_write {
                        uart.write(offset, access.value_to_write(frame.register(access.register)))
                    } else {
                        let value = uart.read(offset);
                        frame.set_register(access.register, access.value_to_load(value));
                        None
                    };
                    (sent, uart.interrupt_line())
                };
                // Shown (or buffered) outside the UART's lock: the console
                // takes a personality's UART lock when it delivers input.
                if let Some(byte) = sent {
                    crate::console::output_byte(personality_index, byte);
                }
                // Keystrokes waiting for this guest: in now that its FIFO
                // has room; its UART interrupt may be raised for this vCPU.
                let pulled = !access.is_write && offset == janus_vdev_pl011::offset::DATA && crate::console::input_drained(system, personality_index);
                frame.return_address = frame.return_address.wrapping_add(esr::instruction_length(syndrome));
                // The UART's interrupt is level-sensitive: while its line is
                // up after an access, (re)raise the virtual SPI.
                if line {
                    raise_uart_interrupt(system, personality_index);
                }
                return if line || pulled { Interrupts::MayHaveChanged } else { Interrupts::Unchanged };
            }
            if let Some(access) = access
                && (context.power_key.0..context.power_key.1).contains(&address)
            {
                let offset = address - context.power_key.0;
                let line = {
                    let mut gpio = personality.power_key.lock();
                    if access.is_write {
                        // The registers are 32 bits wide (8 used).
                        gpio.write(offset, access.value_to_write(frame.register(access.register)) as u32);
                    } else {
                        let value = gpio.read(offset);
                        frame.set_register(access.register, access.value_to_load(u64::from(value)));
                    }
                    gpio.interrupt_line()
                };
                frame.return_address = frame.return_address.wrapping_add(esr::instruction_length(syndrome));
                // Level-sensitive like the UART's.
                if line && let Some(button) = system.plan.board.hotkey_button {
                    raise_interrupt(system, personality_index, button.interrupt);
                    return Interrupts::MayHaveChanged;
                }
                return Interrupts::Unchanged;
            }
            if let Some(access) = access
                && (context.disk.0..context.disk.1).contains(&address)
            {
                let write = access.is_write.then(|| access.value_to_write(frame.register(access.register)));
                let Some(result) = crate::storage::access(personality_index, address - context.disk.0, access.size.bytes() as u8, write) else {
                    inject_abort(frame, true, is_write);
                    return Interrupts::Unchanged;
                };
                if !access.is_write {
                    frame.set_register(access.register, access.value_to_load(result.value));
                }
                if let Some(error) = result.error
                    && personality.should_warn()
                {
                    log::warn!("{}: disk: {error}", plan.name);
                }
                frame.return_address = frame.return_address.wrapping_add(esr::instruction_length(syndrome));
                // The line went up (see storage::Access::interrupt).
                if result.interrupt {
                    raise_interrupt(system, personality_index, system.plan.board.guest_disk_interrupt);
                    return Interrupts::MayHaveChanged;
                }
                // Finished requests handed over on the way out may have
                // raised an interrupt for this very vCPU (no kick for that).
                return if result.delivered { Interrupts::MayHaveChanged } else { Interrupts::Unchanged };
            }
            if personality.should_warn() {
                log::warn!(
                    "{}: {} at {:#x} is outside its memory map: abort injected into the guest",
                    plan.name,
                    if is_write { "write" } else { "read" },
                    address
                );
            }
            inject_abort(frame, true, is_write);
        }
        Exception::InstructionAbort { .. } => {
            let address = faulting_ipa();
            if context.personality.should_warn() {
                log::warn!("{}: instruction fetch at {:#x} is outside its memory map: abort injected", context.plan.name, address);
            }
            inject_abort(frame, false, false);
        }
        Exception::SystemRegister(access) => {
            if let Some(operation) = access.set_way_operation() {
                set_way(operation, frame.register(access.rt));
            } else if is_sgi_register(&access) {
                if !access.is_read {
                    send_sgi(system, personality_index, vcpu, frame.register(access.rt));
                    frame.return_address = frame.return_address.wrapping_add(esr::instruction_length(syndrome));
                    return Interrupts::MayHaveChanged;
                }
                frame.set_register(access.rt, 0);
            } else {
                inject_undefined(frame);
                return Interrupts::Unchanged;
            }
            frame.return_address = frame.return_address.wrapping_add(esr::instruction_length(syndrome));
        }
        _ => inject_undefined(frame),
    }
    Interrupts::Unchanged
}

/// A physical IRQ (or FIQ) while a guest ran. The vector saved only the
/// registers a Rust call may clobber: nothing here needs the guest's others.
///
/// The guest's own timer, by far the commonest, goes straight back to it:
/// acknowledged, its priority dropped (it stays active until the guest
/// deactivates its virtual copy, HW = 1), injected and put in a list register
/// in one step under the vGIC lock. In the steady state of a periodic timer
/// that is one list register write (`reinject_in_place`), and the path
/// makes no calls. Anything pending behind it is taken as soon as the guest
/// resumes.
#[unsafe(no_mangle)]
extern "C" fn janus_lower_irq() {
    let Some(context) = system::core_context() else {
        return interrupts_without_context();
    };
    // One copy of the path per GIC version, so that every register access
    // in it is known to be a system register or a GICC/GICH one.
    match context.gic {
        gic @ GicDescription::V3 { .. } => guest_interrupt(context, &gic),
        gic @ GicDescription::V2 { .. } => guest_interrupt(context, &gic),
    }
}

/// The first interrupt pending on a core running a guest; `gic` is the
/// board's (a copy whose version is known where this is inlined).
#[inline(always)]
fn guest_interrupt(context: &CoreContext, gic: &GicDescription) {
    let acknowledged = gic::acknowledge_any_on(gic);
    // One copy of the timer path per timer, each with its INTID a constant.
    match acknowledged.interrupt {
        gic::VIRTUAL_TIMER => guest_timer(context, gic, acknowledged, gic::VIRTUAL_TIMER),
        gic::PHYSICAL_TIMER => guest_timer(context, gic, acknowledged, gic::PHYSICAL_TIMER),
        _ => other_interrupt(context, acknowledged),
    }
}

/// One of the guest's timers (`interrupt`) fired: it stays active at the
/// physical GIC (priority dropped only) and is forwarded with HW = 1.
#[inline(always)]
fn guest_timer(context: &CoreContext, gic: &GicDescription, acknowledged: gic::Acknowledged, interrupt: u32) {
    gic::priority_drop_on(gic, acknowledged);
    let mut registers = crate::virtual_interface::CoreListRegisters::this_core(gic);
    // In place: the model is as it was, nothing waits (the underflow
    // interrupt stays off, as the last flush left it) and no one needs a kick.
    let in_place = context.vgic.lock().reinject_in_place(context.vcpu, interrupt, interrupt, &mut registers);
    if !in_place {
        forward_timer(context, interrupt);
    }
}

/// The guest timer's path when it is not in its steady state: injected and
/// flushed in one step, directly if it can be (`inject_hardware_and_flush`).
#[inline(never)]
fn forward_timer(context: &CoreContext, interrupt: u32) {
    let mut registers = crate::virtual_interface::CoreListRegisters::this_core(&context.gic);
    let outcome = context.vgic.lock().inject_hardware_and_flush(context.vcpu, interrupt, interrupt, &mut registers);
    system::apply_flush_outcome(context.system, context.personality_index, &mut registers, outcome);
}

/// An interrupt on a core that has no vCPU (not expected: guests run on
/// cores with one).
#[inline(never)]
fn interrupts_without_context() {
    other_interrupts(gic::acknowledge());
}

/// An interrupt other than the guest's timer was acknowledged, or none
/// (withdrawn before it could be: a special INTID).
#[inline(never)]
fn other_interrupt(context: &CoreContext, acknowledged: gic::Acknowledged) {
    if acknowledged.is_special() {
        system::flush_interrupts(context.system, context.cpu);
    } else {
        other_interrupts(Some(acknowledged));
    }
}

/// Everything but the direct timer path: the first acknowledged interrupt,
/// then whatever else is pending (bounded: a storm cannot keep Janus here for
/// ever), then a flush of this core's vCPU.
#[inline(never)]
fn other_interrupts(first: Option<gic::Acknowledged>) {
    let cpu = system::this_cpu();
    let Some(system) = system::get() else {
        if let Some(acknowledged) = first {
            gic::priority_drop(acknowledged);
            gic::deactivate(acknowledged);
        }
        gic::acknowledge_all();
        return;
    };
    let assignment = system.cpus.get(cpu).and_then(|slot| slot.assignment);
    let mut next = first;
    for round in 0..ROUNDS {
        let Some(acknowledged) = next else { break };
        gic::priority_drop(acknowledged);
        let interrupt = acknowledged.interrupt;
        if gic::GUEST_TIMERS.contains(&interrupt)
            && let Some((personality_index, vcpu)) = assignment
            && let Some((_, personality)) = system.personality(personality_index)
        {
            // Forwarded with the HW bit: it stays active at the physical
            // GIC until the guest deactivates its virtual copy.
            personality.vgic.lock().inject_hardware(vcpu, interrupt, interrupt);
        } else if forward_device_interrupt(system, interrupt) {
            // A passed-through device's SPI: the guest's EOI deactivates it.
        } else {
            gic::deactivate(acknowledged);
            if interrupt == gic::KICK_SGI {
                // Finished disk requests this core delivers, then a park
                // request (which does not return).
                // This core's vCPU is flushed at the end of the handler
                // whatever the result says.
                let _ = crate::storage::deliver_finished();
                system::handle_kick(cpu);
            } else {
                janus_device_interrupt(system, interrupt);
            }
        }
        // Acknowledge another only if this round's bound lets it be
        // handled: one acknowledged and then dropped would stay active at
        // the GIC and never fire again (a level-triggered disk interrupt
        // stuck so stopped every personality's disk). The rest stay
        // pending and are taken once the guest runs.
        next = if round + 1 < ROUNDS { gic::acknowledge() } else { None };
    }
    system::flush_interrupts(system, cpu);
}

/// Interrupts handled per exception at most (a storm cannot keep Janus in
/// the handler for ever).
const ROUNDS: usize = 16;

/// Makes a personality's UART interrupt pending and kicks the core of the
/// vCPU it is routed to (this core flushes on its way back to the guest).
pub fn raise_uart_interrupt(system: &System, personality_index: usize) {
    raise_interrupt(system, personality_index, system.plan.board.guest_uart_interrupt);
}

/// Presses personality `index`'s power key (the whole device stops) and
/// raises its GPIO interrupt if the guest enabled it.
pub fn press_power_key(system: &System, index: usize) {
    let Some((_, personality)) = system.personality(index) else {
        return;
    };
    let line = {
        let mut gpio = personality.power_key.lock();
        gpio.press();
        gpio.interrupt_line()
    };
    if line && let Some(button) = system.plan.board.hotkey_button {
        raise_interrupt(system, index, button.interrupt);
    }
}

/// Makes a personality's disk interrupt pending and kicks the core of the
/// vCPU it is routed to.
pub fn raise_disk_interrupt(system: &System, personality_index: usize) {
    raise_interrupt(system, personality_index, system.plan.board.guest_disk_interrupt);
}

/// Makes one of a personality's emulated devices' SPIs pending and kicks
/// the core of the vCPU it is routed to.
fn raise_interrupt(system: &System, personality_index: usize, interrupt: u32) {
    let Some((_, personality)) = system.personality(personality_index) else {
        return;
    };
    if let Some(vcpu) = personality.vgic.lock().inject(0, interrupt) {
        system::kick_vcpus(system, personality_index, 1 << vcpu);
    }
}

/// A passed-through device's SPI (acknowledged and priority-dropped):
/// injected into its personality with the HW bit, so the guest's EOI
/// deactivates the physical line; the vCPU it is routed to is kicked.
/// False if the interrupt is not a passed-through one.
fn forward_device_interrupt(system: &System, interrupt: u32) -> bool {
    let Some(owner) = system.device_interrupt_owner(interrupt) else {
        return false;
    };
    let Some((_, personality)) = system.personality(owner) else {
        return false;
    };
    if let Some(vcpu) = personality.vgic.lock().inject_hardware(0, interrupt, interrupt) {
        system::kick_vcpus(system, owner, 1 << vcpu);
    }
    true
}

/// Janus' own devices: console input, the hotkey button and the physical
/// disk.
fn janus_device_interrupt(system: &System, interrupt: u32) {
    if interrupt == gic::KICK_SGI {
        // A parked core: finished disk requests it delivers (its mailbox
        // is read by the idle loop; it has no vCPU to refresh).
        let _ = crate::storage::deliver_finished();
    } else if crate::storage::physical_interrupt() == Some(interrupt) {
        crate::storage::interrupt();
    } else if interrupt == system.plan.board.uart_interrupt {
        crate::console::receive_input(system);
    } else if let Some(button) = system.plan.board.hotkey_button
        && interrupt == button.interrupt
    {
        crate::button::acknowledge(&button);
        crate::console::switch_foreground(system);
    }
}

/// Services interrupts on a core parked in Janus' idle loop: kicks need no
/// work (the loop rechecks its mailbox), console input is delivered.
pub fn service_idle_interrupts() {
    for _ in 0..16 {
        let Some(acknowledged) = gic::acknowledge() else {
            break;
        };
        gic::priority_drop(acknowledged);
        let system = system::get();
        if let Some(system) = system
            && forward_device_interrupt(system, acknowledged.interrupt)
        {
            continue;
        }
        gic::deactivate(acknowledged);
        if let Some(system) = system {
            janus_device_interrupt(system, acknowledged.interrupt);
        }
    }
}

/// Distributor registers whose writes assert state on interrupts:
/// ISENABLER, ISPENDR, ISACTIVER (IHI 0069 §12.9).
fn asserts_interrupt_state(offset: u64) -> bool {
    matches!(offset, 0x100..0x180 | 0x200..0x280 | 0x300..0x380)
}

/// ICC_SGI1R_EL1, ICC_ASGI1R_EL1, ICC_SGI0R_EL1 (op0 3, op1 0, CRn 12,
/// CRm 11, op2 5/6/7): trapped by HCR_EL2.IMO (IHI 0069 §12.11).
fn is_sgi_register(access: &esr::SystemRegisterAccess) -> bool {
    access.op0 == 3 && access.op1 == 0 && access.crn == 12 && access.crm == 11 && matches!(access.op2, 5..=7)
}

fn send_sgi(system: &System, personality_index: usize, vcpu: usize, value: u64) {
    let Some((plan, personality)) = system.personality(personality_index) else {
        return;
    };
    let outcome = personality.vgic.lock().send_sgi_v3(vcpu, value);
    if outcome.dropped > 0 && personality.should_warn() {
        log::warn!("{}: dropped an SGI aimed at {} vCPU(s) it does not have (ICC_SGI1R_EL1 {value:#x})", plan.name, outcome.dropped);
    }
    system::kick_vcpus(system, personality_index, outcome.delivered);
}

/// Emulates an access to the personality's virtual distributor or
/// redistributors (at the board's GIC addresses). Returns false if the
/// address is not in either window.
fn interrupt_controller_access(context: &CoreContext, frame: &mut TrapFrame, address: u64, access: &esr::MmioAccess) -> bool {
    let (personality, vcpu) = (context.personality, context.vcpu);
    let effects = if (context.distributor.0..context.distributor.1).contains(&address) {
        let offset = address - context.distributor.0;
        if !access.is_write
            && access.size == esr::AccessSize::Word
            && let Some(&(_, value)) = context.constant_registers.iter().find(|(constant, _)| *constant == offset)
        {
            frame.set_register(access.register, access.value_to_load(value));
            return true;
        }
        let mut vgic = personality.vgic.lock();
        if access.is_write {
            let (ignored_before, dropped_before) = (vgic.ignored_writes(), vgic.dropped_sgis());
            let effects = vgic.distributor_write(vcpu, offset, access.size, access.value_to_write(frame.register(access.register)));
            // Linux writes defaults (configuration, priority, targets,
            // routing, clear bits) to every line it is told of: that is not
            // worth a word. Trying to enable, pend or activate someone
            // else's interrupt is.
            if vgic.ignored_writes() != ignored_before && asserts_interrupt_state(offset) && personality.should_warn() {
                log::warn!("{}: ignored a write to its distributor at offset {offset:#x} (not its interrupt)", context.plan.name);
            }
            if vgic.dropped_sgis() != dropped_before && personality.should_warn() {
                log::warn!("{}: dropped an SGI aimed at vCPU(s) it does not have (GICD_SGIR)", context.plan.name);
            }
            Some(effects)
        } else {
            let value = vgic.distributor_read(vcpu, offset, access.size);
            frame.set_register(access.register, access.value_to_load(value));
            None
        }
    } else if (context.redistributors.0..context.redistributors.1).contains(&address) {
        let offset = address - context.redistributors.0;
        let mut vgic = personality.vgic.lock();
        if access.is_write {
            let ignored_before = vgic.ignored_writes();
            let effects = vgic.redistributor_write(offset, access.size, access.value_to_write(frame.register(access.register)));
            if vgic.ignored_writes() != ignored_before && personality.should_warn() {
                log::warn!("{}: ignored a write to its redistributors at offset {offset:#x}", context.plan.name);
            }
            Some(effects)
        } else {
            let value = vgic.redistributor_read(offset, access.size);
            frame.set_register(access.register, access.value_to_load(value));
            None
        }
    } else {
        return false;
    };
    if let Some(effects) = effects {
        // The guest cleared the active or pending state of a passed-through
        // SPI: no list register will deactivate the physical line now.
        for action in effects.physical.iter() {
            if let janus_vgic::PhysicalAction::Deactivate(interrupt) = action
                && context.system.device_interrupt_owner(interrupt) == Some(context.personality_index)
            {
                gic::deactivate_spi(interrupt);
            }
        }
        system::kick_vcpus(context.system, context.personality_index, effects.vcpus_to_refresh);
    }
    true
}

#[unsafe(no_mangle)]
extern "C" fn janus_lower_serror(_frame: &mut TrapFrame) {
    let cpu = system::this_cpu();
    if let Some(system) = system::get()
        && let Some((personality_index, _)) = system.cpus.get(cpu).and_then(|slot| slot.assignment)
        && let Some((plan, _)) = system.personality(personality_index)
    {
        log::warn!("{}: SError from the guest: stopping it", plan.name);
        system::stop_personality(system, cpu, personality_index, false);
    }
}

#[unsafe(no_mangle)]
extern "C" fn janus_hypervisor_fault(frame: &mut TrapFrame) {
    crate::println!(
        "janus: error: fault in the hypervisor itself on core {}: ESR={:#x} FAR={:#x} ELR={:#x}; this core stops",
        system::this_cpu(),
        read_sysreg!(esr_el2),
        read_sysreg!(far_el2),
        frame.return_address
    );
    crate::arch::halt();
}

/// The guest physical address of the current stage-2 fault (HPFAR_EL2.FIPA
/// gives bits 51:12, FAR_EL2 the page offset).
fn faulting_ipa() -> u64 {
    let page = (read_sysreg!(hpfar_el2) >> 4) & ((1 << 40) - 1);
    (page << 12) | (read_sysreg!(far_el2) & 0xfff)
}

fn hypercall(context: &CoreContext, frame: &mut TrapFrame) {
    let (system, personality_index, vcpu, cpu) = (context.system, context.personality_index, context.vcpu, system::this_cpu());
    let call = psci::decode(frame.register(0), frame.register(1), frame.register(2), frame.register(3));
    let Some(view) = system.psci_view(personality_index) else {
        return;
    };
    match psci::emulate(call, vcpu, &view) {
        PsciAction::Return(value) => frame.set_register(0, value),
        PsciAction::StartVcpu { vcpu: target, entry, context } => {
            let started = system::is_running(system, personality_index) && system::request_start(system, personality_index, target, entry, context);
            let result = if started { PsciReturn::Success } else { PsciReturn::Denied };
            frame.set_register(0, result.as_register());
        }
        PsciAction::StopCaller => system::stop_this_vcpu(system, cpu, personality_index, vcpu),
        PsciAction::SystemOff => system::stop_personality(system, cpu, personality_index, false),
        PsciAction::SystemReset => system::stop_personality(system, cpu, personality_index, true),
    }
}

/// Where the guest's exception vector for this exception is, relative to
/// VBAR_EL1 (ARM ARM D1.10.2), from the state it was in.
fn vector_offset(saved_status: u64) -> u64 {
    const AARCH32: u64 = 1 << 4;
    match saved_status & 0x1f {
        0b00100 => 0x000,                     // EL1t
        0b00101 => 0x200,                     // EL1h
        mode if mode & AARCH32 != 0 => 0x600, // AArch32 EL0
        _ => 0x400,                           // AArch64 EL0
    }
}

fn from_el0(saved_status: u64) -> bool {
    saved_status & 0b1100 == 0
}

/// Delivers a synchronous external abort to the guest, as if its own memory
/// system had reported one (what KVM does for an access to nowhere).
fn inject_abort(frame: &mut TrapFrame, is_data: bool, is_write: bool) {
    let lower = from_el0(frame.saved_status);
    let class = match (is_data, lower) {
        (true, true) => CLASS_DATA_ABORT_LOWER,
        (true, false) => CLASS_DATA_ABORT_SAME,
        (false, true) => CLASS_INSTRUCTION_ABORT_LOWER,
        (false, false) => CLASS_INSTRUCTION_ABORT_SAME,
    };
    let write = if is_data && is_write { ESR_WRITE_NOT_READ } else { 0 };
    write_sysreg!(far_el1, read_sysreg!(far_el2));
    deliver(frame, (class << 26) | ESR_INSTRUCTION_LENGTH | write | FAULT_EXTERNAL_ABORT);
}

/// Delivers an Unknown-reason exception (an undefined instruction).
fn inject_undefined(frame: &mut TrapFrame) {
    deliver(frame, (CLASS_UNKNOWN << 26) | ESR_INSTRUCTION_LENGTH);
}

fn deliver(frame: &mut TrapFrame, syndrome: u64) {
    write_sysreg!(esr_el1, syndrome);
    write_sysreg!(elr_el1, frame.return_address);
    write_sysreg!(spsr_el1, frame.saved_status);
    let vector = read_sysreg!(vbar_el1).wrapping_add(vector_offset(frame.saved_status));
    frame.return_address = vector;
    // EL1h with D, A, I, F masked, as on any exception entry to EL1.
    frame.saved_status = 0x3c5;
}

/// Performs a trapped set/way operation safely: an invalidate by set/way
/// would discard other personalities' dirty lines, so every operation is
/// done as clean-and-invalidate (what HCR_EL2.SWIO asks of the hardware).
fn set_way(operation: SetWayOperation, operand: u64) {
    // Every operation is done as clean-and-invalidate (see above).
    let _ = operation;
    // SAFETY: clean-and-invalidate by set/way never loses data; the operand
    // only selects a cache line.
    unsafe { core::arch::asm!("dc cisw, {}", in(reg) operand, options(nostack, preserves_flags)) };
}
