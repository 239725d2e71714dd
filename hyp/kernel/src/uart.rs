//! The physical PL011 console that Janus owns (ARM PrimeCell UART PL011
//! TRM, DDI 0183), and the `log` backend that writes `janus:` lines to it.

use core::fmt::{self, Write};

use spin::Mutex;
use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::register_bitfields;
use tock_registers::register_structs;
use tock_registers::registers::{ReadOnly, ReadWrite};

register_bitfields! [u32,
    Flag [
        TRANSMIT_FULL OFFSET(5) NUMBITS(1) [],
        RECEIVE_EMPTY OFFSET(4) NUMBITS(1) [],
        BUSY OFFSET(3) NUMBITS(1) [],
    ]
];

register_structs! {
    Pl011Registers {
        (0x000 => data: ReadWrite<u32>),
        (0x004 => _reserved0),
        (0x018 => flag: ReadOnly<u32, Flag::Register>),
        (0x01c => _reserved1),
        (0x038 => interrupt_mask: ReadWrite<u32>),
        (0x03c => _reserved2),
        (0x044 => interrupt_clear: ReadWrite<u32>),
        (0x048 => @END),
    }
}

/// UARTIMSC/UARTICR: receive and receive-timeout interrupts.
const RECEIVE_INTERRUPTS: u32 = (1 << 4) | (1 << 6);

/// The physical UART.
pub struct Pl011 {
    registers: &'static Pl011Registers,
}

// SAFETY: the UART is only reached through CONSOLE's lock, so one core at a
// time touches its registers.
unsafe impl Send for Pl011 {}

impl Pl011 {
    /// # Safety
    /// `base` must be the PL011's MMIO base, mapped as device memory, and
    /// owned by Janus (no guest maps it).
    pub unsafe fn new(base: u64) -> Self {
        // SAFETY: per the contract the address is a live PL011 register block.
        Self { registers: unsafe { &*(base as *const Pl011Registers) } }
    }

    /// Sends one byte, waiting while the transmit FIFO is full.
    pub fn put_byte(&self, byte: u8) {
        while self.registers.flag.is_set(Flag::TRANSMIT_FULL) {
            core::hint::spin_loop();
        }
        self.registers.data.set(u32::from(byte));
    }
}

impl Pl011 {
    /// A received byte, if any.
    pub fn try_get_byte(&self) -> Option<u8> {
        if self.registers.flag.is_set(Flag::RECEIVE_EMPTY) { None } else { Some((self.registers.data.get() & 0xff) as u8) }
    }

    /// Asks for an interrupt whenever input arrives.
    pub fn enable_receive_interrupts(&self) {
        self.registers.interrupt_clear.set(RECEIVE_INTERRUPTS);
        self.registers.interrupt_mask.set(RECEIVE_INTERRUPTS);
    }
}

impl Write for Pl011 {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        for byte in text.bytes() {
            if byte == b'\n' {
                self.put_byte(b'\r');
            }
            self.put_byte(byte);
        }
        Ok(())
    }
}

/// The console: one lock so lines from different cores never interleave.
pub static CONSOLE: Mutex<Option<Pl011>> = Mutex::new(None);

/// Installs the physical UART as the console.
///
/// # Safety
/// As for [`Pl011::new`].
pub unsafe fn init_console(base: u64) {
    // SAFETY: forwarded contract.
    *CONSOLE.lock() = Some(unsafe { Pl011::new(base) });
}

/// Waits until the console has sent every byte it holds (before the
/// board powers off), for at most about a million polls.
pub fn wait_until_sent() {
    if let Some(uart) = CONSOLE.lock().as_ref() {
        for _ in 0..1_000_000 {
            if !uart.registers.flag.is_set(Flag::BUSY) {
                break;
            }
            core::hint::spin_loop();
        }
    }
}

/// Writes formatted text to the console under its lock.
pub fn print(arguments: fmt::Arguments<'_>) {
    if let Some(uart) = CONSOLE.lock().as_mut() {
        // The UART's write_str never fails; a Display impl's error has
        // nowhere to go from here.
        let _ = uart.write_fmt(arguments);
    }
}

/// `janus: ...` lines on the physical console.
#[macro_export]
macro_rules! println {
    ($($argument:tt)*) => {
        $crate::uart::print(format_args!("{}\n", format_args!($($argument)*)))
    };
}

struct ConsoleLogger;

impl log::Log for ConsoleLogger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        // Crates Janus uses (virtio-drivers) speak only when something is
        // wrong: their progress lines would read as Janus' own.
        let level = if metadata.target().starts_with("janus") { log::max_level() } else { log::LevelFilter::Warn };
        metadata.level() <= level
    }

    fn log(&self, record: &log::Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        // Through the console, so the line stands on its own and the
        // foreground's unfinished line is drawn again after it.
        match record.level() {
            log::Level::Info => crate::console::janus_line(format_args!("janus: {}", record.args())),
            level => crate::console::janus_line(format_args!("janus: {}: {}", level.as_str().to_ascii_lowercase_str(), record.args())),
        }
    }

    fn flush(&self) {}
}

trait LowercaseLevel {
    fn to_ascii_lowercase_str(&self) -> &'static str;
}

impl LowercaseLevel for &str {
    fn to_ascii_lowercase_str(&self) -> &'static str {
        match *self {
            "ERROR" => "error",
            "WARN" => "warning",
            "DEBUG" => "debug",
            "TRACE" => "trace",
            _ => "info",
        }
    }
}

static LOGGER: ConsoleLogger = ConsoleLogger;

/// Routes the `log` crate to the console.
pub fn init_logger() {
    // Fails only if a logger is set already: then that one stays.
    let _ = log::set_logger(&LOGGER);
    log::set_max_level(log::LevelFilter::Info);
}
