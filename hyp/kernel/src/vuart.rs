//! Each personality's emulated PL011 (DDI 0183): enough of the register file
//! for a driver to probe and print. Output is collected per personality and
//! written to the physical console one whole line at a time, prefixed with
//! the personality's name. Unknown offsets read as zero; writes to them are
//! ignored (STYLE.md "Guest input is hostile").

use heapless::Vec;

const DATA: u64 = 0x000;
const FLAG: u64 = 0x018;
const INTEGER_BAUD: u64 = 0x024;
const FRACTIONAL_BAUD: u64 = 0x028;
const LINE_CONTROL: u64 = 0x02c;
const CONTROL: u64 = 0x030;
const FIFO_LEVEL: u64 = 0x034;
const INTERRUPT_MASK: u64 = 0x038;
const PERIPHERAL_ID: u64 = 0xfe0;
/// PL011 r1p5 identification registers PeriphID0..3, PCellID0..3.
const IDENTIFICATION: [u8; 8] = [0x11, 0x10, 0x34, 0x00, 0x0d, 0xf0, 0x05, 0xb1];
const FLAG_TRANSMIT_EMPTY: u64 = 1 << 7;
const FLAG_RECEIVE_EMPTY: u64 = 1 << 4;
/// Longest line collected before it is written out anyway.
const LINE_LENGTH: usize = 240;

/// The size of the register window.
pub const WINDOW: u64 = 0x1000;

/// One personality's emulated UART.
pub struct VirtualUart {
    line: Vec<u8, LINE_LENGTH>,
    integer_baud: u64,
    fractional_baud: u64,
    line_control: u64,
    control: u64,
    fifo_level: u64,
    interrupt_mask: u64,
}

impl VirtualUart {
    /// A UART in its reset state.
    pub const fn new() -> Self {
        Self { line: Vec::new(), integer_baud: 0, fractional_baud: 0, line_control: 0, control: 0x300, fifo_level: 0x12, interrupt_mask: 0 }
    }

    /// A guest read of `offset` (already known to be inside the window).
    pub fn read(&self, offset: u64) -> u64 {
        match offset {
            FLAG => FLAG_TRANSMIT_EMPTY | FLAG_RECEIVE_EMPTY,
            INTEGER_BAUD => self.integer_baud,
            FRACTIONAL_BAUD => self.fractional_baud,
            LINE_CONTROL => self.line_control,
            CONTROL => self.control,
            FIFO_LEVEL => self.fifo_level,
            INTERRUPT_MASK => self.interrupt_mask,
            PERIPHERAL_ID..=0xffc if offset.is_multiple_of(4) => {
                let index = ((offset - PERIPHERAL_ID) / 4) as usize;
                IDENTIFICATION.get(index).copied().map_or(0, u64::from)
            }
            _ => 0,
        }
    }

    /// A guest write; returns a complete line to print, if one is ready.
    pub fn write(&mut self, offset: u64, value: u64, emit: impl FnOnce(&[u8])) {
        match offset {
            DATA => self.push((value & 0xff) as u8, emit),
            INTEGER_BAUD => self.integer_baud = value & 0xffff,
            FRACTIONAL_BAUD => self.fractional_baud = value & 0x3f,
            LINE_CONTROL => self.line_control = value & 0xff,
            CONTROL => self.control = value & 0xffff,
            FIFO_LEVEL => self.fifo_level = value & 0x3f,
            INTERRUPT_MASK => self.interrupt_mask = value & 0x7ff,
            _ => {}
        }
    }

    fn push(&mut self, byte: u8, emit: impl FnOnce(&[u8])) {
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
