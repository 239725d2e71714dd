//! Each personality's console: the PL011 model from janus-vdev-pl011 plus
//! a line buffer, so output reaches the physical console one whole line at
//! a time, prefixed with the personality's name.

use heapless::Vec;
use janus_vdev_pl011::Pl011;

/// Longest line collected before it is written out anyway.
const LINE_LENGTH: usize = 240;

/// The size of the register window.
pub const WINDOW: u64 = 0x1000;

/// One personality's emulated UART and its pending output line.
pub struct VirtualUart {
    device: Pl011,
    line: Vec<u8, LINE_LENGTH>,
}

impl VirtualUart {
    /// A UART in its reset state.
    pub const fn new() -> Self {
        Self { device: Pl011::new(), line: Vec::new() }
    }

    /// A guest read of `offset` (inside the window).
    pub fn read(&mut self, offset: u64) -> u64 {
        u64::from(self.device.read(offset))
    }

    /// A guest write; `emit` receives each completed line.
    pub fn write(&mut self, offset: u64, value: u64, emit: impl FnOnce(&[u8])) {
        let mut byte = None;
        self.device.write(offset, value as u32, |sent| byte = Some(sent));
        let Some(byte) = byte else { return };
        match byte {
            b'\r' => {}
            b'\n' => {
                emit(&self.line);
                self.line.clear();
            }
            _ => {
                if self.line.push(byte).is_err() {
                    emit(&self.line);
                    self.line.clear();
                    let _ = self.line.push(byte);
                }
            }
        }
    }

    /// A guest write in switched mode: bytes go to `output` one by one.
    pub fn write_raw(&mut self, offset: u64, value: u64, output: impl FnOnce(u8)) {
        self.device.write(offset, value as u32, output);
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

    /// Writes out a partial line (when the personality stops).
    pub fn flush(&mut self, emit: impl FnOnce(&[u8])) {
        if !self.line.is_empty() {
            emit(&self.line);
            self.line.clear();
        }
    }

    /// Back to the reset state, dropping any partial line.
    pub fn reset(&mut self) {
        *self = Self::new();
    }
}
