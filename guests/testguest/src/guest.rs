//! The test guest's life: start, secondary vCPU, canary, attacks, heartbeat,
//! and its disk (victim rounds in `disk`, attacks in `disk_attacks`).

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicU64, Ordering};

use crate::disk::{Disk, Ram};
use crate::disk_attacks::Attack;
use crate::hypercalls::{self, hvc, smc};
use crate::virtio::Mmio;
use crate::{gic, say};

const STACK_SIZE: usize = 16 * 1024;

core::arch::global_asm!(
    ".equ GUEST_STACK_SIZE, {stack}",
    include_str!("entry.S"),
    stack = const STACK_SIZE,
);

#[repr(C, align(16))]
pub struct Stacks(UnsafeCell<[u8; 2 * STACK_SIZE]>);
// SAFETY: each vCPU uses its own half as its stack through sp only.
unsafe impl Sync for Stacks {}

#[unsafe(no_mangle)]
pub static GUEST_STACKS: Stacks = Stacks(UnsafeCell::new([0; 2 * STACK_SIZE]));

unsafe extern "C" {
    fn guest_secondary_entry();
}

/// Offset of the canary page from the start of RAM (past the image).
const CANARY_OFFSET: u64 = 4 << 20;
const CANARY_WORDS: u64 = 512;
/// Heartbeat period in counter ticks (set from CNTFRQ: 20 ms).
static PERIOD: AtomicU64 = AtomicU64::new(1_250_000);

/// What the exception handler should do with the next abort.
static EXPECTING: AtomicU64 = AtomicU64::new(0);
const EXPECT_NOTHING: u64 = 0;
const EXPECT_DATA_ABORT: u64 = 1;
const EXPECT_INSTRUCTION_ABORT: u64 = 2;
static LAST_SYNDROME: AtomicU64 = AtomicU64::new(0);
static LAST_FAULT_ADDRESS: AtomicU64 = AtomicU64::new(0);
static FAULTS: AtomicU64 = AtomicU64::new(0);
static SECONDARY_UP: AtomicU64 = AtomicU64::new(0);
/// Virtual-timer interrupts taken, per vCPU.
static TIMER_TICKS: [AtomicU64; 2] = [AtomicU64::new(0), AtomicU64::new(0)];
/// Worst timer latency seen (counter ticks from CVAL to the handler).
static WORST_LATENCY: AtomicU64 = AtomicU64::new(0);
/// Latency of the most recent timer interrupt on vCPU 0.
static LAST_LATENCY: AtomicU64 = AtomicU64::new(0);
/// Interrupts this guest never asked for.
static UNEXPECTED: AtomicU64 = AtomicU64::new(0);
static LAST_UNEXPECTED: AtomicU64 = AtomicU64::new(0);
static IPI_REQUESTS: AtomicU64 = AtomicU64::new(0);
static IPI_REPLIES: AtomicU64 = AtomicU64::new(0);
static STORM_RECEIVED: AtomicU64 = AtomicU64::new(0);
/// SGIs of the priority test, in the order they were taken.
static PRIORITY_ORDER: [AtomicU64; 8] = [const { AtomicU64::new(0) }; 8];
static PRIORITY_COUNT: AtomicU64 = AtomicU64::new(0);
/// When set, the secondary floods the primary with SGIs.
static STORM: AtomicU64 = AtomicU64::new(0);

const TIMER_INTERRUPT: u32 = 27;
const SGI_IPI_REQUEST: u32 = 1;
const SGI_IPI_REPLY: u32 = 2;
const SGI_PRIORITY_FIRST: u32 = 3;
const SGI_PRIORITY_LAST: u32 = 8;
const SGI_STORM: u32 = 9;

/// Heartbeats between two `disk=victim` rounds (a round every 200 ms).
const DISK_ROUND_BEATS: u64 = 10;
/// The heartbeat at which `attack=virtio-*` attacks start (half a second
/// after `ready`, so a victim in the other personality is under way).
const DISK_ATTACK_BEAT: u64 = 25;

fn counter() -> u64 {
    let value: u64;
    // SAFETY: reading the virtual counter has no side effects.
    unsafe { core::arch::asm!("isb", "mrs {}, cntvct_el0", out(reg) value, options(nomem, nostack)) };
    value
}

fn frequency() -> u64 {
    let value: u64;
    // SAFETY: as above.
    unsafe { core::arch::asm!("mrs {}, cntfrq_el0", out(reg) value, options(nomem, nostack)) };
    value
}

fn canary_value(address: u64) -> u64 {
    address.rotate_left(17) ^ 0xc0ff_ee00_dead_beef
}

#[unsafe(no_mangle)]
extern "C" fn guest_exception(syndrome: u64, fault_address: u64, return_address: u64, link: u64) -> u64 {
    let class = syndrome >> 26;
    let expecting = EXPECTING.swap(EXPECT_NOTHING, Ordering::SeqCst);
    LAST_SYNDROME.store(syndrome, Ordering::SeqCst);
    LAST_FAULT_ADDRESS.store(fault_address, Ordering::SeqCst);
    FAULTS.fetch_add(1, Ordering::SeqCst);
    match (expecting, class) {
        (EXPECT_DATA_ABORT, 0x25) => return_address + 4,
        (EXPECT_INSTRUCTION_ABORT, 0x21) => link,
        _ => {
            say!("FAIL unexpected exception esr={syndrome:#x} far={fault_address:#x} elr={return_address:#x}");
            loop {
                // SAFETY: waits forever; nothing else to do.
                unsafe { core::arch::asm!("wfi") };
            }
        }
    }
}

fn vcpu_index() -> usize {
    let mpidr: u64;
    // SAFETY: reading MPIDR_EL1 has no side effects.
    unsafe { core::arch::asm!("mrs {}, mpidr_el1", out(reg) mpidr, options(nomem, nostack)) };
    (mpidr & 0xff) as usize
}

fn set_timer(deadline: u64) {
    // SAFETY: programming this vCPU's own virtual timer.
    unsafe { core::arch::asm!("msr cntv_cval_el0, {}", "msr cntv_ctl_el0, {}", "isb", in(reg) deadline, in(reg) 1u64, options(nostack)) };
}

fn timer_deadline() -> u64 {
    let value: u64;
    // SAFETY: reading this vCPU's own virtual timer.
    unsafe { core::arch::asm!("mrs {}, cntv_cval_el0", out(reg) value, options(nomem, nostack)) };
    value
}

#[unsafe(no_mangle)]
extern "C" fn guest_irq(_syndrome: u64, _fault_address: u64, return_address: u64, _link: u64) -> u64 {
    let now = counter();
    crate::bench::TIMER_ENTRY.store(now, Ordering::SeqCst);
    let vcpu = vcpu_index();
    for _ in 0..64 {
        let acknowledged = gic::acknowledge();
        let interrupt = acknowledged & 0x3ff;
        if interrupt >= gic::SPURIOUS_LIMIT {
            break;
        }
        match interrupt {
            TIMER_INTERRUPT => {
                let deadline = timer_deadline();
                let latency = now.saturating_sub(deadline);
                WORST_LATENCY.fetch_max(latency, Ordering::Relaxed);
                if vcpu == 0 {
                    LAST_LATENCY.store(latency, Ordering::Relaxed);
                }
                if let Some(ticks) = TIMER_TICKS.get(vcpu) {
                    ticks.fetch_add(1, Ordering::Relaxed);
                }
                set_timer(deadline.max(now) + PERIOD.load(Ordering::Relaxed));
            }
            SGI_IPI_REQUEST => {
                IPI_REQUESTS.fetch_add(1, Ordering::SeqCst);
                gic::send_sgi(SGI_IPI_REPLY, 1 << 0);
            }
            SGI_IPI_REPLY => {
                IPI_REPLIES.fetch_add(1, Ordering::SeqCst);
            }
            SGI_PRIORITY_FIRST..=SGI_PRIORITY_LAST => {
                let slot = PRIORITY_COUNT.fetch_add(1, Ordering::SeqCst) as usize;
                if let Some(entry) = PRIORITY_ORDER.get(slot) {
                    entry.store(u64::from(interrupt), Ordering::SeqCst);
                }
            }
            SGI_STORM => {
                STORM_RECEIVED.fetch_add(1, Ordering::Relaxed);
            }
            interrupt if crate::rtc::owns(interrupt) => crate::rtc::handle_interrupt(),
            _ => {
                UNEXPECTED.fetch_add(1, Ordering::SeqCst);
                LAST_UNEXPECTED.store(u64::from(interrupt), Ordering::SeqCst);
            }
        }
        gic::end_of_interrupt(acknowledged);
    }
    return_address
}

struct Memory {
    start: u64,
    size: u64,
}

fn parse_number(text: &str) -> Option<u64> {
    match text.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(&hex.replace_underscores(), 16).ok(),
        None => text.parse().ok(),
    }
}

trait NoUnderscores {
    fn replace_underscores(&self) -> heapless::String<32>;
}

impl NoUnderscores for str {
    fn replace_underscores(&self) -> heapless::String<32> {
        let mut out = heapless::String::new();
        for character in self.chars().filter(|&character| character != '_') {
            let _ = out.push(character);
        }
        out
    }
}

#[unsafe(no_mangle)]
extern "C" fn guest_primary_main(device_tree: u64) -> ! {
    // SAFETY: Janus (or QEMU, for native runs) passes the device tree in x0.
    let Ok(tree) = (unsafe { fdt::Fdt::from_ptr(device_tree as *const u8) }) else { halt() };
    if let Some(base) = tree.find_compatible(&["arm,pl011"]).and_then(|node| node.reg()).and_then(|mut reg| reg.next()) {
        crate::console::init(base.starting_address as u64);
    }
    let Some(region) = tree.memory().regions().next() else { halt() };
    let memory = Memory { start: region.starting_address as u64, size: region.size.unwrap_or(0) as u64 };
    let arguments = tree.chosen().bootargs().unwrap_or("");
    PERIOD.store(frequency() / 50, Ordering::Relaxed);
    say!("start ram={:#x}..{:#x} args=\"{arguments}\"", memory.start, memory.start + memory.size);

    if !gic::init(&tree) || !gic::init_cpu(interrupt_mask()) {
        say!("FAIL no usable GIC in the device tree");
        halt();
    }
    gic::enable_interrupts();

    if arguments.split_whitespace().any(|argument| argument == "bench") {
        crate::bench::run();
    }
    if arguments.split_whitespace().any(|argument| argument == "residue") {
        crate::residue::report();
        crate::residue::plant_and_reset();
    }

    // Canary: the page must arrive zeroed (Janus scrubs RAM before every
    // start), then holds a pattern that only this personality writes.
    let canary = memory.start + CANARY_OFFSET;
    let scrubbed = (0..CANARY_WORDS).all(|word| {
        // SAFETY: the canary page lies inside this guest's RAM (4 MiB in,
        // RAM is at least 16 MiB).
        unsafe { ((canary + word * 8) as *const u64).read_volatile() == 0 }
    });
    say!("ram scrubbed={}", if scrubbed { "yes" } else { "no" });
    for word in 0..CANARY_WORDS {
        let address = canary + word * 8;
        // SAFETY: as above.
        unsafe { (address as *mut u64).write_volatile(canary_value(address)) };
    }
    say!("canary at {canary:#x}");

    // Second vCPU through PSCI CPU_ON.
    let entry = guest_secondary_entry as *const () as usize as u64;
    let result = hvc(hypercalls::PSCI_CPU_ON, 1, entry, 0);
    if result == 0 {
        let deadline = counter() + frequency();
        while SECONDARY_UP.load(Ordering::SeqCst) == 0 && counter() < deadline {}
        say!("secondary {}", if SECONDARY_UP.load(Ordering::SeqCst) != 0 { "up" } else { "FAIL did not start" });
    } else {
        say!("secondary not started (CPU_ON returned {})", result as i64);
    }

    let mut reset_after = None;
    let mut off_after = None;
    let mut disk_victim = false;
    let mut disk_attacks = heapless::Vec::<Attack, 16>::new();
    for argument in arguments.split_whitespace() {
        match argument {
            "disk=victim" => disk_victim = true,
            "ipi" => test_ipis(),
            "priority" => test_priority_order(),
            "sgi-attack" => attack_interrupts(),
            "storm" => {
                STORM.store(1, Ordering::SeqCst);
                say!("storm started: the secondary floods this vCPU with SGIs");
            }
            _ => {}
        }
        if let Some(rtc) = argument.strip_prefix("rtc=") {
            crate::rtc::start(rtc);
        }
        let Some(attack) = argument.strip_prefix("attack=") else { continue };
        let (kind, target) = attack.split_once('@').unwrap_or((attack, ""));
        let target = parse_number(target);
        match (kind, target) {
            ("read", Some(address)) => attack_read(address),
            ("write", Some(address)) => attack_write(address),
            ("exec", Some(address)) => attack_execute(address),
            ("uart", _) => attack_uart(),
            ("hypercalls", _) => attack_hypercalls(),
            ("reset", Some(beats)) => reset_after = Some(beats),
            ("off", Some(beats)) => off_after = Some(beats),
            ("virtio-all", _) => disk_attacks.extend(Attack::ALL),
            _ => match kind.strip_prefix("virtio-").and_then(|kind| Attack::parse(kind, target)) {
                Some(disk_attack) => {
                    if disk_attacks.push(disk_attack).is_err() {
                        say!("FAIL too many disk attacks");
                    }
                }
                None => say!("FAIL unknown attack '{attack}'"),
            },
        }
    }
    say!("ready");

    let mut disk = None;
    if disk_victim || !disk_attacks.is_empty() {
        let name = arguments.split_whitespace().find_map(|argument| argument.strip_prefix("role=")).unwrap_or("unnamed");
        let window = tree
            .all_nodes()
            .filter(|node| node.compatible().is_some_and(|compatible| compatible.all().any(|name| name == "virtio,mmio")))
            .filter_map(|node| node.reg().and_then(|mut reg| reg.next()))
            .map(|region| region.starting_address as u64)
            .find(|&base| crate::virtio::is_block_device(base));
        match window {
            Some(base) => disk = Disk::open(Mmio::new(base), name, Ram { start: memory.start, size: memory.size }),
            None => say!("disk FAIL no virtio-mmio block device in the device tree"),
        }
    }

    if arguments.split_whitespace().any(|argument| argument == "flood") {
        // Print as fast as possible, for ever: Janus must stay responsive
        // and keep the other personality's console going.
        let mut line = 0u64;
        loop {
            say!("flood {line} ................................................................");
            line += 1;
        }
    }

    // Heartbeat: one line per virtual-timer interrupt on this vCPU.
    set_timer(counter() + PERIOD.load(Ordering::Relaxed));
    let ticks = TIMER_TICKS.first().map_or(0, |ticks| ticks.load(Ordering::Relaxed));
    let mut seen = ticks;
    let mut beat = 0u64;
    loop {
        wait_for_interrupt();
        crate::rtc::report();
        let now = TIMER_TICKS.first().map_or(0, |ticks| ticks.load(Ordering::Relaxed));
        if now == seen {
            continue;
        }
        seen = now;
        beat += 1;
        if let Some(disk) = disk.as_mut() {
            if beat == DISK_ATTACK_BEAT && !disk_attacks.is_empty() {
                disk.run_attacks(&disk_attacks);
            }
            if disk_victim && beat.is_multiple_of(DISK_ROUND_BEATS) {
                disk.victim_round();
            }
        }
        let mut disk_field = heapless::String::<32>::new();
        if let (true, Some(disk)) = (disk_victim, disk.as_ref()) {
            let _ = core::fmt::Write::write_fmt(&mut disk_field, format_args!(" disk={}", disk.rounds()));
        }
        let intact = (0..CANARY_WORDS).all(|word| {
            let address = canary + word * 8;
            // SAFETY: inside this guest's RAM, as above.
            unsafe { (address as *const u64).read_volatile() == canary_value(address) }
        });
        say!(
            "heartbeat {beat} canary={} secondary={} unexpected={} latency={} worst-latency={} storm={}{disk_field}",
            if intact { "ok" } else { "CORRUPTED" },
            TIMER_TICKS.get(1).map_or(0, |ticks| ticks.load(Ordering::Relaxed)),
            UNEXPECTED.load(Ordering::Relaxed),
            LAST_LATENCY.load(Ordering::Relaxed),
            WORST_LATENCY.load(Ordering::Relaxed),
            STORM_RECEIVED.load(Ordering::Relaxed),
        );
        if reset_after == Some(beat) {
            say!("calling SYSTEM_RESET");
            hvc(hypercalls::PSCI_SYSTEM_RESET, 0, 0, 0);
            say!("FAIL SYSTEM_RESET returned");
        }
        if off_after == Some(beat) {
            say!("calling SYSTEM_OFF");
            hvc(hypercalls::PSCI_SYSTEM_OFF, 0, 0, 0);
            say!("FAIL SYSTEM_OFF returned");
        }
    }
}

/// SGIs and PPIs this guest enables: the virtual timer and SGIs 1-9.
fn interrupt_mask() -> u32 {
    (1 << TIMER_INTERRUPT) | (((1 << (SGI_STORM + 1)) - 1) & !1)
}

fn wait_for_interrupt() {
    // SAFETY: waits for an interrupt; no memory effects.
    unsafe { core::arch::asm!("wfi", options(nostack)) };
}

#[unsafe(no_mangle)]
extern "C" fn guest_secondary_main() -> ! {
    if !gic::init_cpu(interrupt_mask()) {
        say!("FAIL secondary: no redistributor for this vCPU");
        halt();
    }
    gic::enable_interrupts();
    set_timer(counter() + PERIOD.load(Ordering::Relaxed));
    SECONDARY_UP.store(1, Ordering::SeqCst);
    loop {
        if STORM.load(Ordering::Relaxed) != 0 {
            gic::send_sgi(SGI_STORM, 1 << 0);
        } else {
            wait_for_interrupt();
        }
    }
}

/// Round trips of SGIs between this personality's two vCPUs.
fn test_ipis() {
    const ROUNDS: u64 = 10;
    for round in 0..ROUNDS {
        let before = IPI_REPLIES.load(Ordering::SeqCst);
        gic::send_sgi(SGI_IPI_REQUEST, 1 << 1);
        let deadline = counter() + frequency();
        while IPI_REPLIES.load(Ordering::SeqCst) == before {
            if counter() > deadline {
                say!("FAIL ipi round {round}: no reply within 1 s");
                return;
            }
        }
    }
    say!("ipi {ROUNDS} round trips ok (requests={} replies={})", IPI_REQUESTS.load(Ordering::SeqCst), IPI_REPLIES.load(Ordering::SeqCst));
}

/// Six SGIs of different priorities made pending together while masked:
/// they must be taken highest priority (lowest value) first, even though
/// there are more of them than list registers.
fn test_priority_order() {
    gic::disable_interrupts();
    for interrupt in SGI_PRIORITY_FIRST..=SGI_PRIORITY_LAST {
        // SGI 3 gets 0xc0 (lowest) ... SGI 8 gets 0x20 (highest).
        gic::set_priority(interrupt, (0xc0 - (interrupt - SGI_PRIORITY_FIRST) * 0x20) as u8);
    }
    PRIORITY_COUNT.store(0, Ordering::SeqCst);
    for interrupt in SGI_PRIORITY_FIRST..=SGI_PRIORITY_LAST {
        gic::send_sgi(interrupt, 1 << 0);
    }
    gic::enable_interrupts();
    let expected = u64::from(SGI_PRIORITY_LAST - SGI_PRIORITY_FIRST + 1);
    let deadline = counter() + frequency();
    while PRIORITY_COUNT.load(Ordering::SeqCst) < expected && counter() < deadline {}
    let mut order = heapless::String::<64>::new();
    let mut in_order = PRIORITY_COUNT.load(Ordering::SeqCst) == expected;
    for (index, entry) in PRIORITY_ORDER.iter().take(expected as usize).enumerate() {
        let interrupt = entry.load(Ordering::SeqCst);
        let _ = core::fmt::Write::write_fmt(&mut order, format_args!("{}{interrupt}", if index == 0 { "" } else { "," }));
        in_order &= interrupt == u64::from(SGI_PRIORITY_LAST) - index as u64;
    }
    if in_order {
        say!("priority order {order} ok");
    } else {
        say!("FAIL priority order {order}");
    }
}

/// SGIs and distributor writes aimed at interrupts and vCPUs that are not
/// this personality's: they must have no effect anywhere else.
fn attack_interrupts() {
    let writes: &[(u64, u32)] = if gic::is_v2() {
        // SGIR: CPU interfaces 2-7 (not ours), then "all but me" (our vCPU 1 only).
        gic::send_sgi_v2_raw((0xfc << 16) | SGI_IPI_REPLY);
        gic::send_sgi_v2_raw((1 << 24) | SGI_IPI_REPLY);
        &[
            (0x104, u32::MAX),    // ISENABLER1: SPIs 32-63
            (0x204, u32::MAX),    // ISPENDR1
            (0x304, u32::MAX),    // ISACTIVER1
            (0x420, u32::MAX),    // IPRIORITYR8
            (0xc08, u32::MAX),    // ICFGR2
            (0x828, 0x0c0c_0c0c), // ITARGETSR10: SPIs 40-43 -> CPU interfaces 2, 3
            (0x800, 0xffff_ffff), // ITARGETSR0 (read-only, banked)
            (0xffc, u32::MAX),    // far end of the window
        ]
    } else {
        // SGIs to vCPUs 2-15 (none exist here), to another cluster, and
        // broadcast (IRM: every other vCPU *of this personality*).
        gic::send_sgi_raw((u64::from(SGI_IPI_REPLY) << 24) | 0xfffc);
        gic::send_sgi_raw((u64::from(SGI_IPI_REPLY) << 24) | (1 << 16) | 0x3);
        gic::send_sgi_raw((u64::from(SGI_IPI_REPLY) << 24) | (0xff << 32) | (0xff << 48) | 0xffff);
        &[
            (0x104, u32::MAX),   // ISENABLER1: SPIs 32-63
            (0x204, u32::MAX),   // ISPENDR1
            (0x304, u32::MAX),   // ISACTIVER1
            (0x420, u32::MAX),   // IPRIORITYR8
            (0xc08, u32::MAX),   // ICFGR2
            (0x6100 + 8 * 8, 2), // IROUTER40 -> Aff0 2 (a vCPU that is not ours)
            (0xf00, 0xff_ffff),  // GICv2 SGIR (reserved on v3)
            (0xfffc, u32::MAX),  // far end of the window
        ]
    };
    let distributor = gic::distributor();
    for &(offset, value) in writes {
        gic::write32(distributor + offset, value);
    }
    say!("attack interrupts done: SGIs to foreign vCPUs and distributor writes to foreign interrupts sent");
}

fn halt() -> ! {
    loop {
        // SAFETY: waits forever.
        unsafe { core::arch::asm!("wfi") };
    }
}

fn report_abort(kind: &str, address: u64, before: u64) {
    if FAULTS.load(Ordering::SeqCst) > before {
        say!(
            "attack {kind} {address:#x} contained: abort esr={:#x} far={:#x}",
            LAST_SYNDROME.load(Ordering::SeqCst),
            LAST_FAULT_ADDRESS.load(Ordering::SeqCst)
        );
    } else {
        EXPECTING.store(EXPECT_NOTHING, Ordering::SeqCst);
        say!("attack {kind} {address:#x} NOT CONTAINED: no abort");
    }
}

fn attack_read(address: u64) {
    let before = FAULTS.load(Ordering::SeqCst);
    EXPECTING.store(EXPECT_DATA_ABORT, Ordering::SeqCst);
    let value: u64;
    // SAFETY: deliberately touching memory outside this guest: the abort is
    // expected and handled by guest_exception, which skips the load.
    unsafe { core::arch::asm!("mov {v}, #0", "ldr {v}, [{a}]", a = in(reg) address, v = out(reg) value) };
    let _ = value;
    report_abort("read", address, before);
}

fn attack_write(address: u64) {
    let before = FAULTS.load(Ordering::SeqCst);
    EXPECTING.store(EXPECT_DATA_ABORT, Ordering::SeqCst);
    // SAFETY: as for attack_read; the store is expected to abort.
    unsafe { core::arch::asm!("str {v}, [{a}]", a = in(reg) address, v = in(reg) 0x6261_6421_6261_6421u64) };
    report_abort("write", address, before);
}

fn attack_execute(address: u64) {
    let before = FAULTS.load(Ordering::SeqCst);
    EXPECTING.store(EXPECT_INSTRUCTION_ABORT, Ordering::SeqCst);
    // SAFETY: a branch outside this guest; the instruction abort handler
    // resumes at the link register.
    unsafe { core::arch::asm!("blr {a}", a = in(reg) address, out("x30") _, clobber_abi("C")) };
    report_abort("exec", address, before);
}

fn attack_uart() {
    let base = crate::console::base();
    // Try to disable and reprogram "the UART": Janus' emulated one takes
    // it, the physical one is never reached.
    for (offset, value) in [(0x30u64, 0u32), (0x24, 0xffff), (0x28, 0x3f), (0x2c, 0), (0x44, 0x7ff), (0x1000 - 4, 0xffff_ffff)] {
        // SAFETY: writes inside the emulated UART window.
        crate::gic::write32(base + offset, value);
    }
    say!("attack uart done: control registers rewritten");
}

fn attack_hypercalls() {
    // Garbage function ids, through both conduits: NOT_SUPPORTED.
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut checks = 0;
    let mut failures = 0;
    let mut check = |name: &str, got: u64, want: u64| {
        checks += 1;
        if got != want {
            failures += 1;
            say!("FAIL hypercall {name}: got {:#x} want {:#x}", got, want);
        }
    };
    for id in [0u64, 0x1234, 0xffff_ffff, 0xc400_00ff, 0x8400_0099, 0x8600_0000, u64::MAX, 0x1_c400_0003] {
        check("hvc garbage id", hvc(id, seed, !seed, 0), hypercalls::NOT_SUPPORTED);
        check("smc garbage id", smc(id, seed, !seed, 0), hypercalls::NOT_SUPPORTED);
    }
    for _ in 0..32 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let id = seed | (1 << 40); // never a valid 32-bit SMCCC id
        check("hvc random id", hvc(id, seed, seed, seed), hypercalls::NOT_SUPPORTED);
    }
    let entry = guest_secondary_entry as *const () as usize as u64;
    check("CPU_ON missing vcpu", hvc(hypercalls::PSCI_CPU_ON, 2, entry, 0), hypercalls::INVALID_PARAMETERS);
    check("CPU_ON other cluster", hvc(hypercalls::PSCI_CPU_ON, 0x100, entry, 0), hypercalls::INVALID_PARAMETERS);
    check("CPU_ON garbage mpidr", hvc(hypercalls::PSCI_CPU_ON, u64::MAX, entry, 0), hypercalls::INVALID_PARAMETERS);
    check("CPU_ON entry outside RAM", hvc(hypercalls::PSCI_CPU_ON, 1, 0x1000, 0), hypercalls::INVALID_ADDRESS);
    check("CPU_ON self", hvc(hypercalls::PSCI_CPU_ON, 0, entry, 0), hypercalls::ALREADY_ON);
    check("AFFINITY_INFO missing vcpu", hvc(hypercalls::PSCI_AFFINITY_INFO, 7, 0, 0), hypercalls::INVALID_PARAMETERS);
    check("AFFINITY_INFO self", hvc(hypercalls::PSCI_AFFINITY_INFO, 0, 0, 0), 0);
    check("PSCI_VERSION over SMC", smc(hypercalls::PSCI_VERSION, 0, 0, 0), 0x1_0001);
    if failures == 0 {
        say!("attack hypercalls contained: {checks} calls all answered with the right error");
    } else {
        say!("attack hypercalls FAILED {failures} of {checks}");
    }
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    say!("FAIL panic: {}", info.message());
    halt()
}
