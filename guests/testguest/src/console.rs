//! Output on the personality's PL011 (as emulated by Janus).

use core::fmt::{self, Write};
use core::sync::atomic::{AtomicU64, Ordering};

static UART: AtomicU64 = AtomicU64::new(0);

/// Sets the UART base address (from the device tree).
pub fn init(base: u64) {
    UART.store(base, Ordering::Relaxed);
}

/// The UART base address.
pub fn base() -> u64 {
    UART.load(Ordering::Relaxed)
}

struct Uart;

impl Write for Uart {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        let base = base();
        if base == 0 {
            return Ok(());
        }
        for byte in text.bytes() {
            // Base is the PL011 named by the device tree; FR bit 5 is TXFF.
            while crate::gic::read32(base + 0x18) & (1 << 5) != 0 {}
            crate::gic::write32(base, u32::from(byte));
        }
        Ok(())
    }
}

/// Prints formatted text.
pub fn print(arguments: fmt::Arguments<'_>) {
    let _ = Uart.write_fmt(arguments);
}

/// `testguest: ...` lines.
#[macro_export]
macro_rules! say {
    ($($argument:tt)*) => {
        $crate::console::print(format_args!("testguest: {}\n", format_args!($($argument)*)))
    };
}
