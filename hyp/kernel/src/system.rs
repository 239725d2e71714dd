//! The partitioned system at run time: which core runs which vCPU of which
//! personality, starting and parking vCPUs, and stopping or restarting one
//! personality while the others run on.

use core::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, Ordering};

use janus_manifest::{BootPlan, MAX_PERSONALITIES, MAX_VCPUS, PersonalityPlan};
use janus_platform::MAX_CPUS;
use janus_trap::psci::{self, VcpuPowerState};
use spin::{Mutex, Once};

use crate::arch::{self, read_sysreg, write_sysreg};
use crate::console;
use crate::vuart::VirtualUart;
use crate::{gic, stacks};
use janus_console::Lifecycle;

/// Saved guest registers (layout shared with vectors.S).
#[repr(C)]
pub struct TrapFrame {
    /// x0..x30.
    pub registers: [u64; 31],
    /// Where the guest resumes (ELR_EL2).
    pub return_address: u64,
    /// The guest's PSTATE (SPSR_EL2).
    pub saved_status: u64,
    padding: u64,
}

/// Bytes in a [`TrapFrame`]; vectors.S reserves this much.
pub const TRAP_FRAME_SIZE: usize = core::mem::size_of::<TrapFrame>();
const _: () = assert!(TRAP_FRAME_SIZE == 272);

impl TrapFrame {
    /// Register `index` (31 reads as zero, the zero register).
    pub fn register(&self, index: u8) -> u64 {
        self.registers.get(usize::from(index)).copied().unwrap_or(0)
    }

    /// Sets register `index` (writes to 31, the zero register, vanish).
    pub fn set_register(&mut self, index: u8, value: u64) {
        if let Some(slot) = self.registers.get_mut(usize::from(index)) {
            *slot = value;
        }
    }
}

/// EL1h with D, A, I, F masked: how every vCPU starts (arm64 boot protocol).
const GUEST_START_STATUS: u64 = 0x3c5;
/// SCTLR_EL1 reset value: RES1 bits, MMU and caches off.
const SCTLR_EL1_RESET: u64 = 0x30d0_0800;

/// HCR_EL2 for a running guest (ARM ARM D17.2.48).
const HCR_GUEST: u64 = {
    const VM: u64 = 1 << 0; // stage-2 translation
    const SWIO: u64 = 1 << 1; // set/way invalidate becomes clean+invalidate
    const FMO: u64 = 1 << 3; // physical FIQ, IRQ, SError go to EL2
    const IMO: u64 = 1 << 4;
    const AMO: u64 = 1 << 5;
    const FB: u64 = 1 << 9; // broadcast TLB and cache maintenance
    const BSU_INNER: u64 = 1 << 10;
    const TSC: u64 = 1 << 19; // SMC traps to EL2
    const TSW: u64 = 1 << 22; // set/way cache maintenance traps
    const RW: u64 = 1 << 31; // EL1 is AArch64
    const APK: u64 = 1 << 40; // pointer-authentication keys and
    const API: u64 = 1 << 41; // instructions are the guest's own
    VM | SWIO | FMO | IMO | AMO | FB | BSU_INNER | TSC | TSW | RW | APK | API
};

/// Where a personality is in its life.
#[derive(Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum RunState {
    Running = 0,
    Stopping = 1,
    Off = 2,
}

/// A request for a parked core to run a vCPU.
#[derive(Clone, Copy)]
struct StartRequest {
    entry: u64,
    context: u64,
}

/// One physical core.
pub struct CpuSlot {
    /// MPIDR affinity of the core.
    pub affinity: u64,
    /// (personality, vCPU) pinned to this core for life, if any.
    pub assignment: Option<(usize, usize)>,
    mailbox: Mutex<Option<StartRequest>>,
    stop_requested: AtomicBool,
    /// Set once the core has finished its EL2 set-up.
    pub online: AtomicBool,
}

/// One personality.
pub struct Personality {
    vcpu_states: [AtomicU8; MAX_VCPUS],
    run_state: AtomicU8,
    vttbr: u64,
    /// The emulated console.
    pub uart: Mutex<VirtualUart>,
    /// The emulated GPIO controller with its power key (where the board's
    /// hotkey button is; none on a board without one).
    pub power_key: Mutex<janus_vdev_pl061::Pl061>,
    /// The virtual interrupt controller (a static slot: it is too large
    /// to build on a stack and move).
    pub vgic: &'static Mutex<janus_vgic::VirtualGic>,
    warnings: AtomicU32,
}

/// The personalities' virtual GICs, each built in place once at boot.
static VIRTUAL_GICS: [Once<Mutex<janus_vgic::VirtualGic>>; MAX_PERSONALITIES] = [const { Once::new() }; MAX_PERSONALITIES];

/// Creates personality `index`'s virtual GIC in its static slot.
pub fn create_virtual_gic(
    index: usize,
    version: janus_vgic::GicVersion,
    vcpus: usize,
    owned_spis: &[u32],
) -> Result<&'static Mutex<janus_vgic::VirtualGic>, janus_vgic::VgicError> {
    let slot = VIRTUAL_GICS.get(index).ok_or(janus_vgic::VgicError::InvalidVcpuCount { vcpu_count: vcpus })?;
    slot.try_call_once(|| janus_vgic::VirtualGic::new(version, vcpus, owned_spis).map(Mutex::new))
}

/// Everything Janus knows after boot.
pub struct System {
    /// The validated plan from the payload.
    pub plan: BootPlan,
    /// The payload bytes (kernels, device trees, initrds).
    pub payload: &'static [u8],
    /// Per-personality state, indexed like `plan.personalities`.
    pub personalities: heapless::Vec<Personality, MAX_PERSONALITIES>,
    /// Per-core state, indexed like `plan.board.cpus`.
    pub cpus: heapless::Vec<CpuSlot, MAX_CPUS>,
    /// VTCR_EL2 shared by all personalities.
    pub vtcr: u64,
}

static SYSTEM: Once<System> = Once::new();

/// Installs the system description (boot core, once).
pub fn install(system: System) -> &'static System {
    SYSTEM.call_once(|| system)
}

/// The system, once installed.
pub fn get() -> Option<&'static System> {
    SYSTEM.get()
}

fn encode_state(state: VcpuPowerState) -> u8 {
    match state {
        VcpuPowerState::Off => 0,
        VcpuPowerState::OnPending => 1,
        VcpuPowerState::On => 2,
    }
}

fn decode_state(value: u8) -> VcpuPowerState {
    match value {
        1 => VcpuPowerState::OnPending,
        2 => VcpuPowerState::On,
        _ => VcpuPowerState::Off,
    }
}

impl Personality {
    /// A personality whose stage-2 root is `vttbr`; all vCPUs off.
    pub fn new(vttbr: u64, vgic: &'static Mutex<janus_vgic::VirtualGic>, power_key_line: u8) -> Self {
        Self {
            vcpu_states: [const { AtomicU8::new(0) }; MAX_VCPUS],
            run_state: AtomicU8::new(RunState::Running as u8),
            vttbr,
            uart: Mutex::new(VirtualUart::new()),
            power_key: Mutex::new(janus_vdev_pl061::Pl061::new(power_key_line)),
            vgic,
            warnings: AtomicU32::new(0),
        }
    }

    fn state(&self, vcpu: usize) -> VcpuPowerState {
        self.vcpu_states.get(vcpu).map_or(VcpuPowerState::Off, |state| decode_state(state.load(Ordering::Acquire)))
    }

    fn set_state(&self, vcpu: usize, state: VcpuPowerState) {
        if let Some(slot) = self.vcpu_states.get(vcpu) {
            slot.store(encode_state(state), Ordering::Release);
        }
    }

    fn is_running(&self) -> bool {
        self.run_state.load(Ordering::Acquire) == RunState::Running as u8
    }

    /// Whether a guest fault should still be logged (the first 32 are).
    pub fn should_warn(&self) -> bool {
        let count = self.warnings.fetch_add(1, Ordering::Relaxed);
        count < 32 || count.is_power_of_two()
    }
}

/// The PSCI view of one personality.
pub struct PsciView<'a> {
    personality: &'a Personality,
    plan: &'a PersonalityPlan,
}

impl psci::PsciPersonality for PsciView<'_> {
    fn vcpu_count(&self) -> usize {
        self.plan.cpus.len()
    }

    fn power_state(&self, vcpu: usize) -> VcpuPowerState {
        self.personality.state(vcpu)
    }

    fn is_valid_entry(&self, address: u64) -> bool {
        self.plan.ram.contains_span(address, 4)
    }
}

impl System {
    /// The plan and state of personality `index`.
    pub fn personality(&self, index: usize) -> Option<(&PersonalityPlan, &Personality)> {
        Some((self.plan.personalities.get(index)?, self.personalities.get(index)?))
    }

    /// The personality a passed-through physical SPI belongs to.
    pub fn device_interrupt_owner(&self, interrupt: u32) -> Option<usize> {
        self.plan.personalities.iter().position(|personality| personality.device_interrupts().any(|owned| owned == interrupt))
    }

    /// Routes personality `index`'s passed-through SPIs to the core of its
    /// vCPU 0 and enables them at the physical distributor (it is starting),
    /// or disables them and clears their state (it stopped).
    pub fn set_device_interrupts(&self, index: usize, enabled: bool) {
        let Some(plan) = self.plan.personalities.get(index) else {
            return;
        };
        let Some(&core) = plan.cpus.first() else {
            return;
        };
        for interrupt in plan.device_interrupts() {
            if enabled {
                gic::enable_spi_on(interrupt, usize::from(core));
            } else {
                gic::quiesce_spi(interrupt);
            }
        }
    }

    /// The PSCI view of personality `index`.
    pub fn psci_view(&self, index: usize) -> Option<PsciView<'_>> {
        let (plan, personality) = self.personality(index)?;
        Some(PsciView { personality, plan })
    }

    fn core_of(&self, personality: usize, vcpu: usize) -> Option<usize> {
        let plan = self.plan.personalities.get(personality)?;
        plan.cpus.get(vcpu).map(|&core| usize::from(core))
    }

    /// Scrubs a personality's RAM and copies in its kernel, device tree and
    /// initrd from the payload.
    pub fn load_personality(&self, index: usize) -> bool {
        let Some((plan, _)) = self.personality(index) else {
            return false;
        };
        let Some(ram_end) = plan.ram.end() else {
            return false;
        };
        // SAFETY: validate_plan (run at boot) proved the RAM range lies in
        // the board's RAM, outside Janus' region and disjoint from every
        // other personality; this personality's vCPUs are all stopped.
        unsafe { arch::zero_memory(plan.ram.start.get(), plan.ram.size) };
        let mut blobs = heapless::Vec::<(janus_manifest::Blob, u64), 3>::new();
        // Three slots for at most three blobs: no push can fail.
        let _ = blobs.push((plan.kernel, plan.kernel_load.get()));
        let _ = blobs.push((plan.dtb, plan.dtb_load.get()));
        if let Some((initrd, load)) = plan.initrd {
            let _ = blobs.push((initrd, load.get()));
        }
        for (blob, load) in blobs {
            let Some(source) = blob_bytes(self.payload, blob) else {
                return false;
            };
            if !plan.ram.contains_span(load, source.len() as u64) {
                return false;
            }
            // SAFETY: the destination span was just checked to lie inside
            // this personality's RAM (see above); the source is the payload,
            // which lies in Janus' region, so they cannot overlap.
            unsafe { core::ptr::copy_nonoverlapping(source.as_ptr(), load as *mut u8, source.len()) };
        }
        // SAFETY: the device tree was just copied inside its RAM (checked
        // above); its vCPUs are all stopped.
        unsafe { crate::storage::mark_new_disk(index, plan.dtb_load.get(), plan.dtb.size as usize) };
        // SAFETY: the personality's RAM is identity-mapped normal memory.
        unsafe { arch::clean_to_coherency(plan.ram.start.get(), ram_end - plan.ram.start.get()) };
        true
    }
}

/// The bytes of one blob, if it lies inside the payload.
pub fn blob_bytes(payload: &[u8], blob: janus_manifest::Blob) -> Option<&[u8]> {
    let start = usize::try_from(blob.offset).ok()?;
    let end = start.checked_add(usize::try_from(blob.size).ok()?)?;
    payload.get(start..end)
}

/// What a core needs on every trap from its guest, worked out once at boot
/// so the trap path does no lookups: its vCPU, the personality's state and
/// plan, and the guest-physical windows Janus emulates.
pub struct CoreContext {
    /// The core's index.
    pub cpu: usize,
    /// The system.
    pub system: &'static System,
    /// Personality index.
    pub personality_index: usize,
    /// vCPU index within the personality.
    pub vcpu: usize,
    /// The personality's run-time state.
    pub personality: &'static Personality,
    /// The personality's plan.
    pub plan: &'static PersonalityPlan,
    /// Guest-physical [start, end) of the virtual distributor.
    pub distributor: (u64, u64),
    /// Guest-physical [start, end) of the virtual redistributors (empty on GICv2).
    pub redistributors: (u64, u64),
    /// Guest-physical [start, end) of the emulated UART.
    pub uart: (u64, u64),
    /// Guest-physical [start, end) of the emulated disk (empty without one).
    pub disk: (u64, u64),
    /// Guest-physical [start, end) of the emulated power-key GPIO
    /// controller (empty on a board without a button).
    pub power_key: (u64, u64),
    /// The distributor's read-only identification registers (offset,
    /// value): TYPER, IIDR, PIDR2. Read once from the vGIC model at boot
    /// and answered without taking its lock.
    pub constant_registers: [(u64, u64); 3],
    /// The board's GIC (a copy, one load away on the interrupt path).
    pub gic: janus_platform::GicDescription,
    /// The personality's virtual GIC (as `personality.vgic`, one load
    /// nearer).
    pub vgic: &'static Mutex<janus_vgic::VirtualGic>,
}

static CORE_CONTEXTS: [Once<CoreContext>; MAX_CPUS] = [const { Once::new() }; MAX_CPUS];

/// Works out every assigned core's context (boot core, after `install`).
pub fn build_core_contexts(system: &'static System) {
    let (distributor, distributor_size, redistributor) = match system.plan.board.gic {
        janus_platform::GicDescription::V3 { distributor, redistributor, .. } => (distributor.get(), 0x1_0000, Some(redistributor.get())),
        janus_platform::GicDescription::V2 { distributor, .. } => (distributor.get(), 0x1000, None),
    };
    let uart = system.plan.board.guest_uart.get();
    let disk = system.plan.board.guest_disk.get();
    for (core, slot) in system.cpus.iter().enumerate() {
        let Some((personality_index, vcpu)) = slot.assignment else {
            continue;
        };
        let Some((plan, personality)) = system.personality(personality_index) else {
            continue;
        };
        let Some(context_slot) = CORE_CONTEXTS.get(core) else {
            continue;
        };
        let redistributors = match redistributor {
            Some(base) => (base, base + REDISTRIBUTOR_STRIDE * plan.cpus.len() as u64),
            None => (0, 0),
        };
        let peripheral_id2 = if redistributor.is_some() { 0xffe8 } else { 0xfe8 };
        let constant_registers = {
            let mut vgic = personality.vgic.lock();
            [0x4, 0x8, peripheral_id2].map(|offset| (offset, vgic.distributor_read(vcpu, offset, janus_vgic::AccessSize::Word)))
        };
        context_slot.call_once(|| CoreContext {
            cpu: core,
            system,
            personality_index,
            vcpu,
            personality,
            plan,
            distributor: (distributor, distributor + distributor_size),
            redistributors,
            uart: (uart, uart + crate::vuart::WINDOW),
            power_key: system.plan.board.hotkey_button.map_or((0, 0), |button| (button.controller.get(), button.controller.get() + POWER_KEY_WINDOW)),
            disk: match plan.disk {
                Some(_) => (disk, disk + crate::storage::WINDOW),
                None => (0, 0),
            },
            constant_registers,
            gic: system.plan.board.gic,
            vgic: personality.vgic,
        });
    }
}

/// Bytes of the emulated PL061's register window.
pub const POWER_KEY_WINDOW: u64 = 0x1000;

/// Bytes of one GICv3 redistributor (RD_base + SGI_base frames).
pub const REDISTRIBUTOR_STRIDE: u64 = 0x2_0000;

/// The context of the core running this code, if it has entered its vCPU
/// (every trap from a guest comes after that): one register read.
#[inline]
pub fn core_context() -> Option<&'static CoreContext> {
    let value = read_sysreg!(tpidr_el2);
    if value < MAX_CPUS as u64 {
        return None;
    }
    // SAFETY: TPIDR_EL2 holds either this core's index (below MAX_CPUS,
    // `set_this_cpu`) or, from its first guest entry on, the address of its
    // `CoreContext` (`publish_core_context`), a `'static` that is never moved
    // or mutated; addresses are far above MAX_CPUS.
    Some(unsafe { &*(value as *const CoreContext) })
}

/// This core's index (from TPIDR_EL2: see `core_context`).
pub fn this_cpu() -> usize {
    match core_context() {
        Some(context) => context.cpu,
        None => read_sysreg!(tpidr_el2) as usize,
    }
}

/// Records this core's index for `this_cpu` (early in its boot).
pub fn set_this_cpu(index: usize) {
    write_sysreg!(tpidr_el2, index as u64);
}

/// Puts the address of core `cpu`'s context in TPIDR_EL2 (on core `cpu`,
/// once its context is built), so `core_context` needs no lookup.
fn publish_core_context(cpu: usize) {
    if let Some(context) = CORE_CONTEXTS.get(cpu).and_then(Once::get)
        && context.cpu == cpu
    {
        write_sysreg!(tpidr_el2, core::ptr::from_ref(context) as u64);
    }
}

/// Parks this core until a vCPU is started on it. Never returns: entering a
/// guest resets the stack.
pub fn idle(cpu: usize) -> ! {
    // A parked core must not keep taking its last guest's interrupts: that
    // guest's timers (level-triggered, possibly still armed) would storm
    // this core, and so would the virtual interface's maintenance interrupt.
    write_sysreg!(cntv_ctl_el0, 0);
    write_sysreg!(cntp_ctl_el0, 0);
    if let Some(system) = get() {
        crate::virtual_interface::CoreListRegisters::this_core(&system.plan.board.gic).disable();
    }
    loop {
        if let Some(system) = get()
            && let Some(slot) = system.cpus.get(cpu)
            && let Some((personality_index, vcpu)) = slot.assignment
            && let Some((_, personality)) = system.personality(personality_index)
        {
            let request = {
                let mut mailbox = slot.mailbox.lock();
                let request = mailbox.take();
                if request.is_some() {
                    personality.set_state(vcpu, VcpuPowerState::On);
                }
                request
            };
            if let Some(request) = request {
                enter_vcpu(system, cpu, personality_index, vcpu, request);
            }
        }
        arch::wait_for_interrupt();
        crate::trap::service_idle_interrupts();
    }
}

/// Starts vCPU `vcpu` of `personality_index` on this core.
fn enter_vcpu(system: &System, cpu: usize, personality_index: usize, vcpu: usize, request: StartRequest) -> ! {
    let Some((_, personality)) = system.personality(personality_index) else { idle_forever() };
    write_sysreg!(vmpidr_el2, psci::virtual_mpidr(vcpu));
    write_sysreg!(vpidr_el2, read_sysreg!(midr_el1));
    write_sysreg!(sctlr_el1, SCTLR_EL1_RESET);
    write_sysreg!(cpacr_el1, 0);
    write_sysreg!(cntv_ctl_el0, 0);
    write_sysreg!(cntkctl_el1, 0);
    write_sysreg!(cntvoff_el2, 0);
    write_sysreg!(cntp_ctl_el0, 0);
    crate::el1_reset::reset_this_core(&system.plan.board.gic);
    gic::clear_guest_interrupts(cpu);
    publish_core_context(cpu);
    crate::virtual_interface::CoreListRegisters::this_core(&system.plan.board.gic).reset();
    flush_interrupts(system, cpu);
    // SAFETY: the personality's stage-2 table was built and validated at
    // boot; HCR_GUEST is the fixed guest configuration above.
    unsafe {
        arch::install_stage2(system.vtcr, personality.vttbr);
        arch::write_hcr(HCR_GUEST);
    }
    let top = stacks::frame_top(cpu);
    let frame = (top - TRAP_FRAME_SIZE as u64) as *mut TrapFrame;
    // SAFETY: the frame slot at the top of this core's stack is reserved for
    // exactly this (stacks.rs) and nothing else on this core uses it now.
    unsafe {
        frame.write(TrapFrame {
            registers: {
                let mut registers = [0u64; 31];
                registers[0] = request.context;
                registers
            },
            return_address: request.entry,
            saved_status: GUEST_START_STATUS,
            padding: 0,
        });
        janus_enter_guest(top)
    }
}

unsafe extern "C" {
    /// vectors.S: load the TrapFrame below `frame_top` and return to it.
    fn janus_enter_guest(frame_top: u64) -> !;
}

fn idle_forever() -> ! {
    arch::halt()
}

/// Brings this core's list registers up to date with its vCPU's pending
/// interrupts (cheap when nothing changed); called before every return to
/// the guest that may have changed interrupt state.
pub fn flush_interrupts(system: &System, cpu: usize) {
    let Some((personality_index, vcpu)) = system.cpus.get(cpu).and_then(|slot| slot.assignment) else {
        return;
    };
    let Some((_, personality)) = system.personality(personality_index) else {
        return;
    };
    let mut registers = crate::virtual_interface::CoreListRegisters::this_core(&system.plan.board.gic);
    let outcome = personality.vgic.lock().flush(vcpu, &mut registers);
    apply_flush_outcome(system, personality_index, &mut registers, outcome);
}

/// Acts on a flush of this core's vCPU: the underflow maintenance interrupt
/// on or off, and kicks for the vCPUs that must deliver what it released.
pub fn apply_flush_outcome(
    system: &System,
    personality_index: usize,
    registers: &mut crate::virtual_interface::CoreListRegisters,
    outcome: janus_vgic::FlushOutcome,
) {
    registers.set_underflow_interrupt(outcome.needs_maintenance);
    // Interrupts this vCPU released (an SPI re-routed while it sat in a
    // list register here) are now deliverable on their new vCPU.
    if outcome.vcpus_to_refresh != 0 {
        kick_vcpus(system, personality_index, outcome.vcpus_to_refresh);
    }
}

/// Kicks the cores of the vCPUs in `mask` (bit per vCPU) so they pick up
/// new interrupts; the calling core's own vCPU is flushed on return instead.
pub fn kick_vcpus(system: &System, personality_index: usize, mask: u8) {
    let this = this_cpu();
    for vcpu in 0..MAX_VCPUS {
        if mask & (1 << vcpu) == 0 {
            continue;
        }
        if let Some(core) = system.core_of(personality_index, vcpu)
            && core != this
        {
            gic::kick(core);
        }
    }
}

/// Asks the core of `vcpu` to start it; the caller has checked with PSCI
/// that the vCPU exists and is off.
pub fn request_start(system: &System, personality_index: usize, vcpu: usize, entry: u64, context: u64) -> bool {
    let Some(core) = system.core_of(personality_index, vcpu) else {
        return false;
    };
    let Some(slot) = system.cpus.get(core) else {
        return false;
    };
    let Some((_, personality)) = system.personality(personality_index) else {
        return false;
    };
    {
        let mut mailbox = slot.mailbox.lock();
        personality.set_state(vcpu, VcpuPowerState::OnPending);
        *mailbox = Some(StartRequest { entry, context });
    }
    if core != this_cpu() {
        gic::kick(core);
    }
    true
}

/// CPU_OFF: this vCPU stops; its core parks.
pub fn stop_this_vcpu(system: &System, cpu: usize, personality_index: usize, vcpu: usize) -> ! {
    if let Some((_, personality)) = system.personality(personality_index) {
        personality.set_state(vcpu, VcpuPowerState::Off);
    }
    idle(cpu)
}

/// Called on a kick: if this core was asked to stop its vCPU, it parks.
pub fn handle_kick(cpu: usize) {
    let Some(system) = get() else { return };
    let Some(slot) = system.cpus.get(cpu) else {
        return;
    };
    if slot.stop_requested.swap(false, Ordering::AcqRel)
        && let Some((personality_index, vcpu)) = slot.assignment
    {
        stop_this_vcpu(system, cpu, personality_index, vcpu);
    }
}

/// SYSTEM_OFF / SYSTEM_RESET from one of a personality's vCPUs: stop every
/// vCPU of that personality (and only that one); for a reset, scrub its RAM,
/// reload it and start its first vCPU again.
pub fn stop_personality(system: &System, cpu: usize, personality_index: usize, reset: bool) -> ! {
    let Some((plan, personality)) = system.personality(personality_index) else { idle(cpu) };
    let Some((_, caller_vcpu)) = system.cpus.get(cpu).and_then(|slot| slot.assignment) else { idle(cpu) };
    if personality.run_state.compare_exchange(RunState::Running as u8, RunState::Stopping as u8, Ordering::AcqRel, Ordering::Acquire).is_err() {
        // Someone else is already stopping this personality.
        stop_this_vcpu(system, cpu, personality_index, caller_vcpu);
    }
    personality.set_state(caller_vcpu, VcpuPowerState::Off);
    for (vcpu, &core) in plan.cpus.iter().enumerate() {
        if vcpu == caller_vcpu {
            continue;
        }
        let Some(slot) = system.cpus.get(usize::from(core)) else {
            continue;
        };
        let mut mailbox = slot.mailbox.lock();
        if mailbox.take().is_some() || personality.state(vcpu) != VcpuPowerState::On {
            personality.set_state(vcpu, VcpuPowerState::Off);
            continue;
        }
        slot.stop_requested.store(true, Ordering::Release);
        drop(mailbox);
        gic::kick(usize::from(core));
    }
    // Wait (bounded: one second of counter time) for the others to park.
    let deadline = arch::counter().saturating_add(arch::counter_frequency());
    while (0..plan.cpus.len()).any(|vcpu| personality.state(vcpu) != VcpuPowerState::Off) {
        if arch::counter() > deadline {
            log::warn!("{}: a vCPU did not stop within 1 s; going on", plan.name);
            break;
        }
        core::hint::spin_loop();
    }
    // The console first: no keystroke of this run reaches the next one
    // (delivery stops before its UART is reset).
    let stays_off = !reset || console::device_stopping();
    console::set_lifecycle(personality_index, if stays_off { Lifecycle::Off } else { Lifecycle::Restarting });
    personality.uart.lock().reset();
    personality.power_key.lock().reset();
    // The physical timer PPIs it may leave active are cleared on each of
    // its cores when a vCPU next starts there (gic::clear_guest_interrupts).
    // Its disk: everything it wrote made durable, the device back to reset
    // (before the vGIC, so a completion delivered meanwhile leaves no
    // pending disk interrupt for the restarted guest).
    crate::storage::reset(personality_index);
    // The reset's effects on hardware-backed lines (disable, deactivate)
    // are done for every such line below (`set_device_interrupts(false)`
    // quiesces them; the timers' are cleared when a vCPU next starts).
    let _ = personality.vgic.lock().reset();
    // Its passed-through devices' interrupts: off, nothing left active.
    system.set_device_interrupts(personality_index, false);
    // While the whole device stops, a reset stops the personality too.
    if stays_off {
        if console::device_stopping() {
            log::info!("{}: stopped ({}); the device is stopping", plan.name, if reset { "SYSTEM_RESET" } else { "SYSTEM_OFF" });
        } else {
            log::info!("{}: SYSTEM_OFF: stopped; the other personalities run on", plan.name);
        }
        stay_off(system, cpu, personality_index);
    }
    log::info!("{}: SYSTEM_RESET: scrubbing its RAM and restarting it", plan.name);
    if !load_and_run(system, personality_index) {
        idle(cpu);
    }
    let dtb = plan.dtb_load.get();
    let entry = plan.entry.get();
    if system.core_of(personality_index, 0) == Some(cpu) {
        personality.set_state(0, VcpuPowerState::On);
        enter_vcpu(system, cpu, personality_index, 0, StartRequest { entry, context: dtb });
    }
    request_start(system, personality_index, 0, entry, dtb);
    idle(cpu)
}

/// Personality `index` stays off (its vCPUs are parked): the console says
/// so, and if the device is stopping and this was the last one, the board
/// powers off.
fn set_off(system: &System, index: usize) {
    if let Some((_, personality)) = system.personality(index) {
        personality.run_state.store(RunState::Off as u8, Ordering::Release);
    }
    console::set_lifecycle(index, Lifecycle::Off);
    if console::device_stopping() {
        power_off_when_all_stopped(system);
    }
}

/// [`set_off`], then this core parks.
fn stay_off(system: &System, cpu: usize, index: usize) -> ! {
    set_off(system, index);
    idle(cpu)
}

/// Loads personality `index`'s images (its RAM scrubbed first) and marks
/// it running, for a restart and for a start alike. If they cannot be
/// loaded, or the device was asked to stop during the scrub (the stop then
/// found it not running and did not ask it), it stays off instead. True if
/// it runs.
fn load_and_run(system: &System, index: usize) -> bool {
    let Some((plan, personality)) = system.personality(index) else {
        return false;
    };
    if !system.load_personality(index) {
        log::warn!("{}: could not load its images; it stays off", plan.name);
        set_off(system, index);
        return false;
    }
    if console::device_stopping() {
        log::info!("{}: stopped (the device is stopping)", plan.name);
        set_off(system, index);
        return false;
    }
    personality.run_state.store(RunState::Running as u8, Ordering::Release);
    system.set_device_interrupts(index, true);
    console::set_lifecycle(index, Lifecycle::Running);
    true
}

/// Starts personality `index` again after it stopped (SYSTEM_OFF): its RAM
/// scrubbed and its images loaded as at boot, its first vCPU started. False
/// if it is not off or its images cannot be loaded.
pub fn start_personality(system: &System, index: usize) -> bool {
    let Some((plan, personality)) = system.personality(index) else {
        return false;
    };
    if personality.run_state.compare_exchange(RunState::Off as u8, RunState::Stopping as u8, Ordering::AcqRel, Ordering::Acquire).is_err() {
        return false;
    }
    log::info!("{}: starting: scrubbing its RAM and loading its images", plan.name);
    // Its devices as at power-on (they were reset when it stopped; nothing
    // may have reached them since, but a start promises a clean slate).
    personality.uart.lock().reset();
    personality.power_key.lock().reset();
    load_and_run(system, index) && request_start(system, index, 0, plan.entry.get(), plan.dtb_load.get())
}

/// The whole device stops cleanly: every running personality is asked to
/// power off (its virtual power key), and the board powers off once all
/// are off.
pub fn stop_device(system: &System) {
    for (index, (plan, personality)) in system.plan.personalities.iter().zip(system.personalities.iter()).enumerate() {
        if personality.is_running() {
            log::info!("{}: asked to power off (power key)", plan.name);
            crate::trap::press_power_key(system, index);
        }
    }
    power_off_when_all_stopped(system);
}

/// Powers the board off if every personality is off.
fn power_off_when_all_stopped(system: &System) {
    let all_off = system.personalities.iter().all(|personality| personality.run_state.load(Ordering::Acquire) == RunState::Off as u8);
    if all_off {
        log::info!("every personality is off: powering off");
        crate::power::power_off_board(false);
    }
}

/// Powers the board off at once (asked twice): what the personalities
/// have not written is lost, as in a power cut; Janus' disk writes are
/// made durable first.
pub fn power_off_now(system: &System) -> ! {
    for index in 0..system.plan.personalities.len() {
        crate::storage::reset(index);
    }
    crate::power::power_off_board(false)
}

/// Whether the personality accepts new work (not stopping or off).
pub fn is_running(system: &System, personality_index: usize) -> bool {
    system.personality(personality_index).is_some_and(|(_, personality)| personality.is_running())
}

/// Builds the per-core table from the plan.
pub fn build_cpu_slots(plan: &BootPlan) -> heapless::Vec<CpuSlot, MAX_CPUS> {
    let mut slots = heapless::Vec::new();
    for (core, cpu) in plan.board.cpus.iter().enumerate() {
        let assignment = plan.personalities.iter().enumerate().find_map(|(personality, personality_plan)| {
            personality_plan.cpus.iter().position(|&assigned| usize::from(assigned) == core).map(|vcpu| (personality, vcpu))
        });
        // One slot per board core (at most MAX_CPUS, validated).
        let _ = slots.push(CpuSlot {
            affinity: cpu.mpidr,
            assignment,
            mailbox: Mutex::new(None),
            stop_requested: AtomicBool::new(false),
            online: AtomicBool::new(false),
        });
    }
    slots
}
