//! Each personality's emulated PL011 (janus-vdev-pl011): what a guest
//! writes leaves it one byte at a time for the console (janus-console
//! filters, buffers and shows it); keyboard input comes in through
//! [`VirtualUart::push_input`].

use janus_vdev_pl011::Pl011;

/// The size of the register window.
pub const WINDOW: u64 = 0x1000;

/// One personality's emulated UART.
pub struct VirtualUart {
    device: Pl011,
}

impl VirtualUart {
    /// A UART in its reset state.
    pub const fn new() -> Self {
        Self { device: Pl011::new() }
    }

    /// A guest read of `offset` (inside the window).
    pub fn read(&mut self, offset: u64) -> u64 {
        u64::from(self.device.read(offset))
    }

    /// A guest write: the byte it transmits, if it was one.
    pub fn write(&mut self, offset: u64, value: u64) -> Option<u8> {
        let mut byte = None;
        // The registers are 32 bits wide: the upper half of a 64-bit
        // store is not part of any.
        self.device.write(offset, value as u32, |sent| byte = Some(sent));
        byte
    }

    /// Keyboard input for the guest; false if its receive FIFO is full.
    pub fn push_input(&mut self, byte: u8) -> bool {
        self.device.push_input(byte)
    }

    /// Free entries in the receive FIFO.
    pub fn receive_space(&self) -> usize {
        self.device.receive_space()
    }

    /// Whether the UART's interrupt output is asserted.
    pub fn interrupt_line(&self) -> bool {
        self.device.interrupt_line()
    }

    /// Back to the reset state.
    pub fn reset(&mut self) {
        *self = Self::new();
    }
}
