//! The test guest's life: start, secondary vCPU, canary, attacks, heartbeat.

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicU64, Ordering};

use crate::hypercalls::{self, hvc, smc};
use crate::say;

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
static SECONDARY_COUNT: AtomicU64 = AtomicU64::new(0);
static SECONDARY_UP: AtomicU64 = AtomicU64::new(0);

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
    // SAFETY: Janus passes its generated device tree in x0.
    let Ok(tree) = (unsafe { fdt::Fdt::from_ptr(device_tree as *const u8) }) else { halt() };
    if let Some(base) = tree.find_compatible(&["arm,pl011"]).and_then(|node| node.reg()).and_then(|mut reg| reg.next()) {
        crate::console::init(base.starting_address as u64);
    }
    let Some(region) = tree.memory().regions().next() else { halt() };
    let memory = Memory { start: region.starting_address as u64, size: region.size.unwrap_or(0) as u64 };
    let arguments = tree.chosen().bootargs().unwrap_or("");
    PERIOD.store(frequency() / 50, Ordering::Relaxed);
    say!("start ram={:#x}..{:#x} args=\"{arguments}\"", memory.start, memory.start + memory.size);

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
    for argument in arguments.split_whitespace() {
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
            _ => say!("FAIL unknown attack '{attack}'"),
        }
    }
    say!("ready");

    let mut beat = 0u64;
    let mut next = counter();
    loop {
        while counter() < next {}
        next += PERIOD.load(Ordering::Relaxed);
        beat += 1;
        let intact = (0..CANARY_WORDS).all(|word| {
            let address = canary + word * 8;
            // SAFETY: inside this guest's RAM, as above.
            unsafe { (address as *const u64).read_volatile() == canary_value(address) }
        });
        say!(
            "heartbeat {beat} canary={} secondary={}",
            if intact { "ok" } else { "CORRUPTED" },
            SECONDARY_COUNT.load(Ordering::Relaxed)
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

#[unsafe(no_mangle)]
extern "C" fn guest_secondary_main() -> ! {
    SECONDARY_UP.store(1, Ordering::SeqCst);
    loop {
        let start = counter();
        while counter() < start + PERIOD.load(Ordering::Relaxed) {}
        SECONDARY_COUNT.fetch_add(1, Ordering::Relaxed);
    }
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
        unsafe { ((base + offset) as *mut u32).write_volatile(value) };
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
