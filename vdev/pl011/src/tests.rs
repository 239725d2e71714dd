//! PL011 model tests: registers, FIFO, interrupt line, hostile input.

use proptest::prelude::*;

use super::*;

fn transmit_into(sink: &mut Vec<u8>) -> impl FnOnce(u8) + '_ {
    move |byte| sink.push(byte)
}

#[test]
fn reset_values_and_identification() {
    let mut uart = Pl011::new();
    assert_eq!(uart.read(offset::CONTROL), 0x300);
    assert_eq!(uart.read(offset::FIFO_LEVEL), 0x12);
    assert_eq!(uart.read(offset::FLAG), flag::TRANSMIT_EMPTY | flag::RECEIVE_EMPTY);
    let id: Vec<u32> = (0..8).map(|index| uart.read(offset::PERIPHERAL_ID + 4 * index)).collect();
    assert_eq!(id, [0x11, 0x10, 0x34, 0x00, 0x0d, 0xf0, 0x05, 0xb1]);
    assert!(!uart.interrupt_line());
}

#[test]
fn data_writes_transmit_and_raise_the_transmit_interrupt() {
    let mut uart = Pl011::new();
    let mut sink = Vec::new();
    uart.write(offset::DATA, 0x1_41, transmit_into(&mut sink));
    assert_eq!(sink, b"A");
    assert_eq!(uart.read(offset::RAW_INTERRUPTS) & interrupt::TRANSMIT, interrupt::TRANSMIT);
    assert!(!uart.interrupt_line(), "masked");
    uart.write(offset::INTERRUPT_MASK, interrupt::TRANSMIT, |_| {});
    assert!(uart.interrupt_line());
    assert_eq!(uart.read(offset::MASKED_INTERRUPTS), interrupt::TRANSMIT);
    uart.write(offset::INTERRUPT_CLEAR, interrupt::TRANSMIT, |_| {});
    assert!(!uart.interrupt_line());
}

#[test]
fn input_fills_the_fifo_and_raises_receive_until_drained() {
    let mut uart = Pl011::new();
    uart.write(offset::INTERRUPT_MASK, interrupt::RECEIVE | interrupt::RECEIVE_TIMEOUT, |_| {});
    assert!(uart.push_input(b'x'));
    assert!(uart.push_input(b'y'));
    assert!(uart.interrupt_line());
    assert_eq!(uart.read(offset::FLAG) & flag::RECEIVE_EMPTY, 0);
    assert_eq!(uart.read(offset::DATA), u32::from(b'x'));
    assert!(uart.interrupt_line(), "one byte still waits");
    assert_eq!(uart.read(offset::DATA), u32::from(b'y'));
    assert!(!uart.interrupt_line());
    assert_eq!(uart.read(offset::FLAG) & flag::RECEIVE_EMPTY, flag::RECEIVE_EMPTY);
    assert_eq!(uart.read(offset::DATA), 0, "an empty FIFO reads as zero");
}

#[test]
fn a_full_fifo_drops_and_counts_input() {
    let mut uart = Pl011::new();
    for byte in 0..RECEIVE_DEPTH as u8 {
        assert!(uart.push_input(byte));
    }
    assert_eq!(uart.read(offset::FLAG) & flag::RECEIVE_FULL, flag::RECEIVE_FULL);
    assert!(!uart.push_input(b'!'));
    assert_eq!(uart.dropped_input(), 1);
    assert_eq!(uart.receive_space(), 0);
}

#[test]
fn clearing_receive_while_data_waits_reasserts_it() {
    let mut uart = Pl011::new();
    uart.write(offset::INTERRUPT_MASK, interrupt::RECEIVE, |_| {});
    uart.push_input(b'q');
    uart.write(offset::INTERRUPT_CLEAR, interrupt::ALL, |_| {});
    assert!(uart.interrupt_line(), "data still waits, so the level stays up");
}

#[test]
fn writable_registers_keep_only_their_defined_bits() {
    let mut uart = Pl011::new();
    for (register, mask) in [
        (offset::INTEGER_BAUD, 0xffff),
        (offset::FRACTIONAL_BAUD, 0x3f),
        (offset::LINE_CONTROL, 0xff),
        (offset::CONTROL, 0xff87),
        (offset::FIFO_LEVEL, 0x3f),
        (offset::INTERRUPT_MASK, 0x7ff),
        (offset::DMA_CONTROL, 0x7),
    ] {
        uart.write(register, u32::MAX, |_| {});
        assert_eq!(uart.read(register), mask, "register {register:#x}");
    }
}

#[test]
fn unknown_and_read_only_offsets_are_harmless() {
    let mut uart = Pl011::new();
    let before = format!("{uart:?}");
    for register in [0x008u64, 0x01c, 0x04c, 0x100, 0xfe0, 0xffc, 0x1000, u64::MAX, offset::FLAG, offset::RAW_INTERRUPTS] {
        uart.write(register, u32::MAX, |_| panic!("no transmit"));
    }
    assert_eq!(format!("{uart:?}"), before);
    assert_eq!(uart.read(0x1000), 0);
    assert_eq!(uart.read(0xfe2), 0, "unaligned ID offsets read as zero");
}

proptest! {
    #[test]
    fn any_access_sequence_is_safe_and_consistent(operations in prop::collection::vec((0u8..3, 0u64..0x1100, any::<u32>()), 0..200)) {
        let mut uart = Pl011::new();
        let mut sent = 0usize;
        for (kind, register, value) in operations {
            match kind {
                0 => { let _ = uart.read(register); }
                1 => uart.write(register, value, |_| sent += 1),
                _ => { let _ = uart.push_input(value as u8); }
            }
            prop_assert_eq!(uart.interrupt_line(), uart.read(offset::MASKED_INTERRUPTS) != 0);
            let flags = uart.read(offset::FLAG);
            prop_assert_eq!(flags & flag::RECEIVE_EMPTY != 0, uart.receive_space() == RECEIVE_DEPTH);
        }
    }
}
