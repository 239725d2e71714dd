//! A hotkey button on a PL061 GPIO line (ARM PrimeCell GPIO PL061 TRM,
//! DDI 0190B §3): a rising edge on the line switches the foreground
//! personality, like `Ctrl-]`. On QEMU `virt` it is the power key that QMP's
//! `system_powerdown` presses.

use janus_platform::GpioButton;
use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::register_structs;
use tock_registers::registers::ReadWrite;

register_structs! {
    Pl061Registers {
        (0x000 => _data),
        (0x400 => direction: ReadWrite<u32>),
        (0x404 => sense: ReadWrite<u32>),
        (0x408 => both_edges: ReadWrite<u32>),
        (0x40c => event: ReadWrite<u32>),
        (0x410 => interrupt_enable: ReadWrite<u32>),
        (0x414 => _raw_status),
        (0x418 => _masked_status),
        (0x41c => interrupt_clear: ReadWrite<u32>),
        (0x420 => @END),
    }
}

fn registers(button: &GpioButton) -> &'static Pl061Registers {
    // SAFETY: the controller address comes from the board description the
    // plan validated; the PL061 is Janus' own (no guest maps it), in the
    // device part of Janus' stage-1 map.
    unsafe { &*(button.controller.get() as *const Pl061Registers) }
}

/// Makes the button's line an input that interrupts on a rising edge.
pub fn init(button: &GpioButton) {
    let gpio = registers(button);
    let bit = 1u32 << (button.line & 7);
    gpio.direction.set(gpio.direction.get() & !bit);
    gpio.sense.set(gpio.sense.get() & !bit);
    gpio.both_edges.set(gpio.both_edges.get() & !bit);
    gpio.event.set(gpio.event.get() | bit);
    gpio.interrupt_clear.set(bit);
    gpio.interrupt_enable.set(gpio.interrupt_enable.get() | bit);
}

/// Acknowledges a press.
pub fn acknowledge(button: &GpioButton) {
    registers(button).interrupt_clear.set(1 << (button.line & 7));
}
