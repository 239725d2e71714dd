//! The physical console shared by the personalities: janus-console's logic
//! (filtering, switching, replay, the console keys, input routing) over
//! Janus' PL011, plus what only the kernel can do about its events: route
//! console input to the foreground's first core, hand keystrokes to the
//! emulated UART of the personality they were typed for, start a
//! personality, stop the device.
//!
//! Lock order: a personality's `uart` and `CONSOLE` are never held
//! together; `DELIVERING` is taken before either; the physical UART's lock
//! is the innermost (taken inside `CONSOLE` by [`Physical`]).

use janus_console::{Console, Event, Lifecycle, Mode, Terminal};
use janus_manifest::MAX_PERSONALITIES;
use spin::Mutex;

use crate::system::System;
use crate::{gic, uart};

static CONSOLE: Mutex<Console<MAX_PERSONALITIES>> = Mutex::new(Console::new());
/// Serialises handing keystrokes to a guest: two cores delivering at once
/// could reorder them.
static DELIVERING: Mutex<()> = Mutex::new(());

/// The physical UART as janus-console's terminal.
struct Physical;

impl Terminal for Physical {
    fn write(&mut self, bytes: &[u8]) {
        if let Some(uart) = uart::CONSOLE.lock().as_ref() {
            for &byte in bytes {
                uart.put_byte(byte);
            }
        }
    }
}

/// Names the personalities and picks the mode (boot core, before any guest
/// runs); console input goes to the first personality's first core.
pub fn configure(system: &System) {
    let mode = match system.plan.console {
        janus_manifest::ConsoleMode::Switched => Mode::Switched,
        janus_manifest::ConsoleMode::Tagged => Mode::Tagged,
    };
    CONSOLE.lock().configure(mode, system.plan.personalities.iter().map(|plan| plan.name.as_str()));
}

/// The boot banner: who is in front and the console keys.
pub fn announce() {
    CONSOLE.lock().announce(Some(janus_console::KEYS_HELP), &mut Physical);
}

/// One of Janus' own lines (`text` without its newline).
pub fn janus_line(text: core::fmt::Arguments<'_>) {
    CONSOLE.lock().janus_line(text, &mut Physical);
}

/// One byte of output from personality `index`'s emulated UART.
pub fn output_byte(index: usize, byte: u8) {
    CONSOLE.lock().output(index, byte, &mut Physical);
}

/// Personality `index` changed state (see janus-console's `Lifecycle`).
/// Taken with delivery stopped: no keystroke for its old run is handed to
/// its UART after this.
pub fn set_lifecycle(index: usize, lifecycle: Lifecycle) {
    let _delivering = DELIVERING.lock();
    CONSOLE.lock().set_lifecycle(index, lifecycle, &mut Physical);
}

/// Shows what personality `to` printed in the background, a piece at a
/// time with the console's lock released between pieces (on a real UART
/// 64 KiB take seconds: guests' output, keystrokes and Janus' lines must
/// not wait that long), then the indicator.
fn replay(to: usize) {
    while CONSOLE.lock().replay_step(to, REPLAY_PIECE, &mut Physical) {
        core::hint::spin_loop();
    }
}

/// Bytes replayed per hold of the console's lock (22 ms at 115200 baud).
const REPLAY_PIECE: usize = 256;

/// Whether a stop of the whole device is under way.
pub fn device_stopping() -> bool {
    CONSOLE.lock().is_stopping()
}

/// Routes the console's input interrupts (the UART's, the hotkey
/// button's) to personality `index`'s first core: keystrokes are handled
/// on the foreground's own cores, so no other personality can time them.
pub fn route_input(system: &System, index: usize) {
    let Some(&core) = system.plan.personalities.get(index).and_then(|plan| plan.cpus.first()) else {
        return;
    };
    gic::enable_spi_on(system.plan.board.uart_interrupt, usize::from(core));
    if let Some(button) = system.plan.board.hotkey_button {
        gic::enable_spi_on(button.interrupt, usize::from(core));
    }
}

/// Reads everything the physical UART holds (bounded: one FIFO's worth
/// per interrupt; the level-triggered interrupt stays up for the rest):
/// every byte is scanned for the console keys, whatever the guests do.
pub fn receive_input(system: &System) {
    for _ in 0..64 {
        let Some(event) = take_byte() else { break };
        handle(system, event);
        if let Event::Switched { .. } = event {
            // The input interrupt now goes to the new foreground's core,
            // which takes the rest.
            break;
        }
    }
    deliver_all(system);
}

/// Reads one byte from the physical UART and hands it to the console in
/// one step under the console's lock: two cores reading (the input
/// interrupt was just re-routed) can then never hand bytes over in another
/// order than they were typed, nor split `Ctrl-\` from its command.
fn take_byte() -> Option<Event> {
    let mut console = CONSOLE.lock();
    let byte = uart::CONSOLE.lock().as_ref().and_then(|uart| uart.try_get_byte())?;
    Some(console.input(byte, &mut Physical))
}

/// The hotkey button was pressed: the same as `Ctrl-]`. The button is not
/// in the keyboard's byte stream, so keystrokes typed before the press may
/// still be on their way through the UART: they are taken first (for the
/// old foreground) until the line has been quiet for 20 ms, at most 100 ms
/// (keys typed after the press within that time still go to the old
/// foreground: a human does not type that fast after a press).
pub fn switch_foreground(system: &System) {
    let frequency = crate::arch::counter_frequency();
    let start = crate::arch::counter();
    let mut last = start;
    loop {
        let now = crate::arch::counter();
        if now.saturating_sub(last) > frequency / 50 || now.saturating_sub(start) > frequency / 10 {
            break;
        }
        match take_byte() {
            Some(event) => {
                handle(system, event);
                last = now;
            }
            None => core::hint::spin_loop(),
        }
    }
    let to = CONSOLE.lock().switch(&mut Physical);
    handle(system, Event::Switched { to });
    deliver_all(system);
}

fn handle(system: &System, event: Event) {
    match event {
        Event::None | Event::Input => {}
        Event::Switched { to } => {
            route_input(system, to);
            replay(to);
        }
        Event::Start(index) => {
            if !crate::system::start_personality(system, index) {
                set_lifecycle(index, Lifecycle::Off);
            }
        }
        Event::StopDevice => crate::system::stop_device(system),
        Event::PowerOffNow => crate::system::power_off_now(system),
    }
}

/// The guest of personality `index` read its UART: keystrokes that wait
/// for it go in now (its FIFO has room again). True if its UART interrupt
/// was raised.
pub fn input_drained(system: &System, index: usize) -> bool {
    CONSOLE.lock().has_input(index) && deliver(system, index)
}

/// Hands waiting keystrokes to every personality that has some (the
/// foreground's, and an old foreground's typed just before a switch).
fn deliver_all(system: &System) {
    for index in 0..system.plan.personalities.len() {
        if CONSOLE.lock().has_input(index) {
            let _ = deliver(system, index); // Raised for its vCPU, kicked if elsewhere.
        }
    }
}

/// Hands keystrokes waiting for personality `index` to its emulated UART
/// while the receive FIFO has room, and raises its interrupt (true if it
/// did).
fn deliver(system: &System, index: usize) -> bool {
    let _delivering = DELIVERING.lock();
    let Some((_, personality)) = system.personality(index) else {
        return false;
    };
    let mut delivered = false;
    while personality.uart.lock().receive_space() > 0 {
        let Some(byte) = CONSOLE.lock().next_input(index, &mut Physical) else {
            break;
        };
        delivered |= personality.uart.lock().push_input(byte);
    }
    let raise = delivered && personality.uart.lock().interrupt_line();
    if raise {
        crate::trap::raise_uart_interrupt(system, index);
    }
    raise
}
