//! The physical console shared by the personalities. In switched mode one
//! personality is in front: its output goes straight to the UART and the
//! keyboard feeds only it; every other personality's output goes into its
//! own 64 KiB ring buffer (oldest bytes dropped and counted when full) and is
//! replayed when it comes to the front. `Ctrl-]` cycles the foreground and
//! Janus prints one banner line. In tagged mode every personality's output
//! is printed line by line with its name in front (tests, debugging); input
//! still goes to the foreground one only.

use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use heapless::Deque;
use janus_manifest::MAX_PERSONALITIES;
use spin::Mutex;

use crate::system::System;
use crate::uart;

/// The hotkey: Ctrl-] (ASCII GS), as in telnet.
pub const HOTKEY: u8 = 0x1d;
/// Bytes kept for a personality in the background.
pub const RING_BYTES: usize = 64 * 1024;

static FOREGROUND: AtomicUsize = AtomicUsize::new(0);
static RINGS: [Mutex<Deque<u8, RING_BYTES>>; MAX_PERSONALITIES] = [const { Mutex::new(Deque::new()) }; MAX_PERSONALITIES];
static DROPPED: [AtomicU64; MAX_PERSONALITIES] = [const { AtomicU64::new(0) }; MAX_PERSONALITIES];
/// Set while keyboard input waits in the physical UART because the
/// foreground personality's receive FIFO is full (its RX interrupt is
/// masked until the guest reads).
static INPUT_BLOCKED: AtomicBool = AtomicBool::new(false);
/// Serialises input reception: the UART interrupt's core and a guest core
/// resuming held-back input must not both read bytes, or they would reorder
/// or drop them.
static RECEIVING: Mutex<()> = Mutex::new(());

/// The personality whose output is shown and which gets keyboard input.
pub fn foreground() -> usize {
    FOREGROUND.load(Ordering::Acquire)
}

/// One byte of output from `personality`'s emulated UART, in switched mode.
pub fn output_byte(personality: usize, byte: u8) {
    let Some(ring) = RINGS.get(personality) else { return };
    let mut ring = ring.lock();
    if foreground() == personality {
        drop(ring);
        if let Some(uart) = uart::CONSOLE.lock().as_mut() {
            uart.put_byte(byte);
        }
        return;
    }
    if ring.is_full() {
        let _ = ring.pop_front();
        if let Some(dropped) = DROPPED.get(personality) {
            dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
    let _ = ring.push_back(byte);
}

/// Bytes of `personality`'s background output dropped because its ring was full.
pub fn dropped(personality: usize) -> u64 {
    DROPPED.get(personality).map_or(0, |count| count.load(Ordering::Relaxed))
}

/// Brings the next personality to the front: prints the banner, then
/// replays what it printed while in the background.
pub fn switch_foreground(system: &System) {
    let count = system.plan.personalities.len().max(1);
    let next = (foreground() + 1) % count;
    let name = system.plan.personalities.get(next).map_or("?", |plan| plan.name.as_str());
    let Some(ring) = RINGS.get(next) else { return };
    let mut ring = ring.lock();
    FOREGROUND.store(next, Ordering::Release);
    let mut console = uart::CONSOLE.lock();
    let Some(uart) = console.as_mut() else { return };
    for &byte in b"\r\njanus: foreground is " {
        uart.put_byte(byte);
    }
    for byte in name.bytes() {
        uart.put_byte(byte);
    }
    uart.put_byte(b'\r');
    uart.put_byte(b'\n');
    let lost = dropped(next);
    if lost > 0 {
        let _ = core::fmt::Write::write_fmt(uart, format_args!("janus: {lost} bytes of {name}'s earlier output did not fit its 64 KiB buffer\n"));
    }
    while let Some(byte) = ring.pop_front() {
        uart.put_byte(byte);
    }
}

/// Drains the physical UART: the hotkey switches the foreground, every
/// other byte goes to the foreground personality's emulated UART, but only
/// while its receive FIFO has room. Otherwise the rest stays in the physical
/// UART (flow control: QEMU, or the line, holds it) with the receive
/// interrupt masked until the guest reads. Returns the personality that
/// received input, if any.
pub fn receive_input(system: &System) -> Option<usize> {
    let _receiving = RECEIVING.lock();
    let mut received = None;
    // Bounded: at most one FIFO's worth per interrupt.
    for _ in 0..64 {
        let target = foreground();
        let Some((_, personality)) = system.personality(target) else { break };
        if personality.uart.lock().receive_space() == 0 {
            INPUT_BLOCKED.store(true, Ordering::SeqCst);
            if let Some(uart) = uart::CONSOLE.lock().as_ref() {
                uart.disable_receive_interrupts();
            }
            // The guest may have drained its FIFO between the check above
            // and the flag: then no read of it would ever resume input.
            if personality.uart.lock().receive_space() == 0 {
                break;
            }
            let _ = resume_input();
            continue;
        }
        let byte = uart::CONSOLE.lock().as_ref().and_then(|uart| uart.try_get_byte());
        let Some(byte) = byte else { break };
        if byte == HOTKEY {
            switch_foreground(system);
            let _ = resume_input();
            continue;
        }
        let _ = personality.uart.lock().push_input(byte);
        received = Some(target);
    }
    received
}

/// The guest read from its UART. Returns true if input was held back for
/// it: the caller then pulls the waiting bytes (`receive_input`) itself,
/// because the physical UART does not interrupt again for bytes that were
/// already waiting.
pub fn input_drained(personality: usize) -> bool {
    personality == foreground() && resume_input()
}

fn resume_input() -> bool {
    let blocked = INPUT_BLOCKED.swap(false, Ordering::SeqCst);
    if blocked && let Some(uart) = uart::CONSOLE.lock().as_ref() {
        uart.resume_receive_interrupts();
    }
    blocked
}
