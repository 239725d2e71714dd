//! The PL011 UART a personality sees (ARM PrimeCell UART PL011 TRM, DDI
//! 0183G, §3 "Programmers model"): enough of it for Linux's `amba-pl011`
//! driver and for earlycon, interrupts included. Transmission is immediate
//! (bytes go to the caller's sink), reception goes through a 32-entry FIFO
//! the hypervisor fills from the physical console. Unknown offsets read as
//! zero and writes to them are ignored; nothing a guest writes can panic.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

use heapless::Deque;

/// Register offsets (DDI 0183G Table 3-1).
pub mod offset {
    /// UARTDR: data.
    pub const DATA: u64 = 0x000;
    /// UARTRSR/UARTECR: receive status / error clear.
    pub const RECEIVE_STATUS: u64 = 0x004;
    /// UARTFR: flags.
    pub const FLAG: u64 = 0x018;
    /// UARTILPR: IrDA low-power counter.
    pub const IRDA_LOW_POWER: u64 = 0x020;
    /// UARTIBRD: integer baud divisor.
    pub const INTEGER_BAUD: u64 = 0x024;
    /// UARTFBRD: fractional baud divisor.
    pub const FRACTIONAL_BAUD: u64 = 0x028;
    /// UARTLCR_H: line control.
    pub const LINE_CONTROL: u64 = 0x02c;
    /// UARTCR: control.
    pub const CONTROL: u64 = 0x030;
    /// UARTIFLS: interrupt FIFO level select.
    pub const FIFO_LEVEL: u64 = 0x034;
    /// UARTIMSC: interrupt mask set/clear.
    pub const INTERRUPT_MASK: u64 = 0x038;
    /// UARTRIS: raw interrupt status.
    pub const RAW_INTERRUPTS: u64 = 0x03c;
    /// UARTMIS: masked interrupt status.
    pub const MASKED_INTERRUPTS: u64 = 0x040;
    /// UARTICR: interrupt clear.
    pub const INTERRUPT_CLEAR: u64 = 0x044;
    /// UARTDMACR: DMA control.
    pub const DMA_CONTROL: u64 = 0x048;
    /// UARTPeriphID0; the eight ID registers follow, one per word.
    pub const PERIPHERAL_ID: u64 = 0xfe0;
}

/// UARTFR bits.
pub mod flag {
    /// Transmit FIFO empty.
    pub const TRANSMIT_EMPTY: u32 = 1 << 7;
    /// Receive FIFO full.
    pub const RECEIVE_FULL: u32 = 1 << 6;
    /// Transmit FIFO full.
    pub const TRANSMIT_FULL: u32 = 1 << 5;
    /// Receive FIFO empty.
    pub const RECEIVE_EMPTY: u32 = 1 << 4;
}

/// Interrupt bits of UARTRIS/UARTMIS/UARTIMSC/UARTICR.
pub mod interrupt {
    /// Receive.
    pub const RECEIVE: u32 = 1 << 4;
    /// Transmit.
    pub const TRANSMIT: u32 = 1 << 5;
    /// Receive timeout.
    pub const RECEIVE_TIMEOUT: u32 = 1 << 6;
    /// All eleven interrupt bits.
    pub const ALL: u32 = 0x7ff;
}

/// PL011 r1p5 identification: PeriphID0..3, PCellID0..3.
const IDENTIFICATION: [u8; 8] = [0x11, 0x10, 0x34, 0x00, 0x0d, 0xf0, 0x05, 0xb1];
/// Depth of the receive FIFO.
pub const RECEIVE_DEPTH: usize = 32;

/// One emulated PL011.
#[derive(Debug, Clone)]
pub struct Pl011 {
    receive: Deque<u8, RECEIVE_DEPTH>,
    integer_baud: u32,
    fractional_baud: u32,
    line_control: u32,
    control: u32,
    fifo_level: u32,
    interrupt_mask: u32,
    raw_interrupts: u32,
    dma_control: u32,
    irda_low_power: u32,
    dropped_input: u64,
}

impl Default for Pl011 {
    fn default() -> Self {
        Self::new()
    }
}

impl Pl011 {
    /// A UART in its reset state (DDI 0183G §3.3: UARTCR = 0x300, UARTIFLS = 0x12).
    pub const fn new() -> Self {
        Self {
            receive: Deque::new(),
            integer_baud: 0,
            fractional_baud: 0,
            line_control: 0,
            control: 0x300,
            fifo_level: 0x12,
            interrupt_mask: 0,
            raw_interrupts: 0,
            dma_control: 0,
            irda_low_power: 0,
            dropped_input: 0,
        }
    }

    /// A guest read of the register at `offset` (32-bit registers; other
    /// widths are handled by the caller as the same word).
    pub fn read(&mut self, offset: u64) -> u32 {
        match offset {
            offset::DATA => self.pop_receive(),
            offset::FLAG => self.flags(),
            offset::IRDA_LOW_POWER => self.irda_low_power,
            offset::INTEGER_BAUD => self.integer_baud,
            offset::FRACTIONAL_BAUD => self.fractional_baud,
            offset::LINE_CONTROL => self.line_control,
            offset::CONTROL => self.control,
            offset::FIFO_LEVEL => self.fifo_level,
            offset::INTERRUPT_MASK => self.interrupt_mask,
            offset::RAW_INTERRUPTS => self.raw_interrupts,
            offset::MASKED_INTERRUPTS => self.raw_interrupts & self.interrupt_mask,
            offset::DMA_CONTROL => self.dma_control,
            offset::PERIPHERAL_ID..=0xffc if offset.is_multiple_of(4) => {
                let index = ((offset - offset::PERIPHERAL_ID) / 4) as usize;
                IDENTIFICATION.get(index).copied().map_or(0, u32::from)
            }
            _ => 0,
        }
    }

    /// A guest write; a byte written to UARTDR goes to `transmit`.
    pub fn write(&mut self, offset: u64, value: u32, transmit: impl FnOnce(u8)) {
        match offset {
            offset::DATA => {
                transmit((value & 0xff) as u8);
                // Transmission is instantaneous: the FIFO is empty again.
                self.raw_interrupts |= interrupt::TRANSMIT;
            }
            offset::RECEIVE_STATUS => {}
            offset::IRDA_LOW_POWER => self.irda_low_power = value & 0xff,
            offset::INTEGER_BAUD => self.integer_baud = value & 0xffff,
            offset::FRACTIONAL_BAUD => self.fractional_baud = value & 0x3f,
            offset::LINE_CONTROL => self.line_control = value & 0xff,
            offset::CONTROL => self.control = value & 0xff87,
            offset::FIFO_LEVEL => self.fifo_level = value & 0x3f,
            offset::INTERRUPT_MASK => self.interrupt_mask = value & interrupt::ALL,
            offset::INTERRUPT_CLEAR => {
                self.raw_interrupts &= !(value & interrupt::ALL);
                self.update_receive_interrupts();
            }
            offset::DMA_CONTROL => self.dma_control = value & 0x7,
            _ => {}
        }
    }

    /// Input from the console. Returns false (and counts the byte as
    /// dropped) when the receive FIFO is full.
    pub fn push_input(&mut self, byte: u8) -> bool {
        if self.receive.push_back(byte).is_err() {
            self.dropped_input = self.dropped_input.saturating_add(1);
            return false;
        }
        self.update_receive_interrupts();
        true
    }

    /// Whether the UART's interrupt output is asserted (any enabled raw
    /// interrupt; UARTINTR in DDI 0183G §3.4).
    pub fn interrupt_line(&self) -> bool {
        self.raw_interrupts & self.interrupt_mask != 0
    }

    /// Bytes of input dropped because the receive FIFO was full.
    pub fn dropped_input(&self) -> u64 {
        self.dropped_input
    }

    /// Free entries in the receive FIFO.
    pub fn receive_space(&self) -> usize {
        RECEIVE_DEPTH - self.receive.len()
    }

    fn flags(&self) -> u32 {
        let mut flags = flag::TRANSMIT_EMPTY;
        if self.receive.is_empty() {
            flags |= flag::RECEIVE_EMPTY;
        }
        if self.receive.is_full() {
            flags |= flag::RECEIVE_FULL;
        }
        flags
    }

    fn pop_receive(&mut self) -> u32 {
        let byte = self.receive.pop_front().map_or(0, u32::from);
        self.update_receive_interrupts();
        byte
    }

    /// Receive and receive-timeout interrupts follow the FIFO: raised while
    /// data waits, cleared once it is drained (what QEMU's PL011 does, and
    /// what Linux's driver expects from a FIFO-less view of time).
    fn update_receive_interrupts(&mut self) {
        if self.receive.is_empty() {
            self.raw_interrupts &= !(interrupt::RECEIVE | interrupt::RECEIVE_TIMEOUT);
        } else {
            self.raw_interrupts |= interrupt::RECEIVE | interrupt::RECEIVE_TIMEOUT;
        }
    }
}

#[cfg(test)]
mod tests;
