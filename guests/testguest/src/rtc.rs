//! A passed-through PL031 real-time clock (`rtc=<base>@<intid>`; ARM
//! PrimeCell Real Time Clock (PL031) Technical Reference Manual, DDI 0224,
//! §3.3 register summary). The guest reads the time, then lets the RTC's
//! match interrupt fire once a second, three times: each time the
//! interrupt handler clears it at the device and the ordinary EOI that
//! follows deactivates the physical interrupt (Janus injects it with the
//! HW bit). The handler only records each alarm; the main loop prints them
//! ([`report`]) so that lines never interleave.

use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use crate::{gic, say};

/// RTCDR: the current time, in seconds.
const DATA: u64 = 0x000;
/// RTCMR: the match register; the interrupt is raised when RTCDR reaches it.
const MATCH: u64 = 0x004;
/// RTCCR: bit 0 starts the counter (ignored once started).
const CONTROL: u64 = 0x00c;
/// RTCIMSC: bit 0 unmasks the match interrupt.
const INTERRUPT_MASK: u64 = 0x010;
/// RTCMIS: bit 0 is the masked match interrupt status.
const MASKED_STATUS: u64 = 0x018;
/// RTCICR: writing bit 0 clears the match interrupt.
const INTERRUPT_CLEAR: u64 = 0x01c;
const START: u32 = 1;
const MATCH_INTERRUPT: u32 = 1;

/// How many alarms the guest takes before masking the interrupt.
const ALARMS: usize = 3;

static BASE: AtomicU64 = AtomicU64::new(0);
/// The RTC's INTID; 0 when there is no RTC.
static INTERRUPT: AtomicU32 = AtomicU32::new(0);
/// Alarms taken, and RTCDR at each.
static TAKEN: AtomicU32 = AtomicU32::new(0);
static TIMES: [AtomicU32; ALARMS] = [const { AtomicU32::new(0) }; ALARMS];
/// Interrupts taken with RTCMIS clear (should never happen).
static SPURIOUS: AtomicU32 = AtomicU32::new(0);
/// Alarms (and spurious interrupts) printed so far, by [`report`].
static REPORTED: AtomicU32 = AtomicU32::new(0);
static SPURIOUS_REPORTED: AtomicU32 = AtomicU32::new(0);

fn read(offset: u64) -> u32 {
    gic::read32(BASE.load(Ordering::Relaxed) + offset)
}

fn write(offset: u64, value: u32) {
    gic::write32(BASE.load(Ordering::Relaxed) + offset, value);
}

/// A decimal or `0x` hex number, `_` separators allowed.
fn number(text: &str) -> Option<u64> {
    let (digits, radix) = match text.strip_prefix("0x") {
        Some(hex) => (hex, 16),
        None => (text, 10),
    };
    if digits.is_empty() {
        return None;
    }
    digits
        .chars()
        .filter(|&character| character != '_')
        .try_fold(0u64, |value, character| value.checked_mul(u64::from(radix))?.checked_add(u64::from(character.to_digit(radix)?)))
}

/// Starts the RTC named by `argument` (`<base>@<intid>`, as after `rtc=`):
/// prints its time, routes its interrupt to this vCPU and arms the first
/// alarm for the next second. Runs on vCPU 0 with the GIC initialised.
pub fn start(argument: &str) {
    let parsed = argument.split_once('@').and_then(|(base, interrupt)| Some((number(base)?, u32::try_from(number(interrupt)?).ok()?)));
    let Some((base, interrupt)) = parsed.filter(|&(base, interrupt)| base != 0 && (32..1020).contains(&interrupt)) else {
        say!("rtc FAIL bad argument 'rtc={argument}': expected rtc=<base>@<SPI INTID>");
        return;
    };
    BASE.store(base, Ordering::Relaxed);
    write(CONTROL, START);
    let now = read(DATA);
    say!("rtc now={now}");
    write(INTERRUPT_MASK, 0);
    write(INTERRUPT_CLEAR, MATCH_INTERRUPT);
    INTERRUPT.store(interrupt, Ordering::SeqCst);
    gic::enable_spi(interrupt);
    arm(now);
}

/// The next alarm: one second after `now`, interrupt unmasked.
fn arm(now: u32) {
    write(MATCH, now.wrapping_add(1));
    write(INTERRUPT_MASK, MATCH_INTERRUPT);
}

/// Whether `interrupt` is the RTC's.
pub fn owns(interrupt: u32) -> bool {
    let rtc = INTERRUPT.load(Ordering::Relaxed);
    rtc != 0 && rtc == interrupt
}

/// The RTC's interrupt handler (before the EOI): clears the alarm, records
/// it and arms the next one, or masks the interrupt after the last.
pub fn handle_interrupt() {
    if read(MASKED_STATUS) & MATCH_INTERRUPT == 0 {
        SPURIOUS.fetch_add(1, Ordering::SeqCst);
        return;
    }
    write(INTERRUPT_CLEAR, MATCH_INTERRUPT);
    let now = read(DATA);
    let taken = TAKEN.load(Ordering::SeqCst) as usize;
    if let Some(time) = TIMES.get(taken) {
        time.store(now, Ordering::SeqCst);
        TAKEN.store(taken as u32 + 1, Ordering::SeqCst);
    }
    if taken + 1 < ALARMS {
        arm(now);
    } else {
        write(INTERRUPT_MASK, 0);
    }
}

/// Prints the alarms (and any spurious interrupt) taken since the last
/// call; `rtc done` after the last alarm. Call from the main loop.
pub fn report() {
    let spurious = SPURIOUS.load(Ordering::SeqCst);
    if spurious != SPURIOUS_REPORTED.swap(spurious, Ordering::SeqCst) {
        say!("rtc FAIL {spurious} interrupts with RTCMIS clear");
    }
    let taken = TAKEN.load(Ordering::SeqCst);
    while REPORTED.load(Ordering::SeqCst) < taken {
        let alarm = REPORTED.fetch_add(1, Ordering::SeqCst) + 1;
        let at = TIMES.get(alarm as usize - 1).map_or(0, |time| time.load(Ordering::SeqCst));
        say!("rtc alarm {alarm} at {at}");
        if alarm as usize == ALARMS {
            say!("rtc done");
        }
    }
}
