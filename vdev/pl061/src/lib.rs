//! The PL061 GPIO controller a personality sees (ARM PrimeCell GPIO PL061
//! TRM, DDI 0190B, §3 "Programmers model"), with one input line wired to a
//! power key, as QEMU `virt` wires its own: Linux's `gpio-pl061` and
//! `gpio-keys` drivers turn a press into a `KEY_POWER` event, and the
//! personality's userspace powers it off cleanly. Janus presses the key
//! when the whole device stops.
//!
//! The key stays down until the guest has read the line high once (the
//! `gpio-keys` driver reads it after its debounce delay), then goes up, so
//! a press is never missed and a second press is a new edge. Unknown
//! offsets read as zero and writes to them are ignored.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

/// Register offsets (DDI 0190B Table 3-1).
pub mod offset {
    /// GPIODATA: 0x000..0x3fc, address bits 9:2 mask the access.
    pub const DATA_END: u64 = 0x400;
    /// GPIODIR: 1 = output.
    pub const DIRECTION: u64 = 0x400;
    /// GPIOIS: 1 = level-sensitive.
    pub const SENSE: u64 = 0x404;
    /// GPIOIBE: 1 = both edges.
    pub const BOTH_EDGES: u64 = 0x408;
    /// GPIOIEV: 1 = rising edge or high level.
    pub const EVENT: u64 = 0x40c;
    /// GPIOIE: 1 = interrupt enabled.
    pub const INTERRUPT_ENABLE: u64 = 0x410;
    /// GPIORIS: raw interrupt status.
    pub const RAW_STATUS: u64 = 0x414;
    /// GPIOMIS: masked interrupt status.
    pub const MASKED_STATUS: u64 = 0x418;
    /// GPIOIC: write 1 to clear an edge interrupt.
    pub const INTERRUPT_CLEAR: u64 = 0x41c;
    /// GPIOAFSEL: alternate function select.
    pub const ALTERNATE_FUNCTION: u64 = 0x420;
    /// GPIOPeriphID0; PeriphID0..3 and PCellID0..3 follow, one per word.
    pub const PERIPHERAL_ID: u64 = 0xfe0;
}

/// PL061 identification (DDI 0190B §3.3.13-14): PeriphID0..3, PCellID0..3.
const IDENTIFICATION: [u8; 8] = [0x61, 0x10, 0x04, 0x00, 0x0d, 0xf0, 0x05, 0xb1];

/// One emulated PL061 with a power key on line `key_line`.
#[derive(Debug, Clone)]
pub struct Pl061 {
    key_line: u8,
    /// External input levels.
    inputs: u8,
    output: u8,
    direction: u8,
    sense: u8,
    both_edges: u8,
    event: u8,
    enable: u8,
    edges: u8,
    alternate: u8,
    /// Lines held high until the guest reads them high once.
    held: u8,
}

impl Pl061 {
    /// A controller in its reset state, the key up.
    pub const fn new(key_line: u8) -> Self {
        Self { key_line: key_line & 7, inputs: 0, output: 0, direction: 0, sense: 0, both_edges: 0, event: 0, enable: 0, edges: 0, alternate: 0, held: 0 }
    }

    fn key_bit(&self) -> u8 {
        1 << self.key_line
    }

    /// The levels the data register shows: outputs as driven, inputs as
    /// the outside world drives them.
    fn levels(&self) -> u8 {
        (self.output & self.direction) | (self.inputs & !self.direction)
    }

    /// GPIORIS: latched edges, and level-sensitive lines at their level.
    fn raw_status(&self) -> u8 {
        let levels = self.levels();
        let active_level = (levels & self.event) | (!levels & !self.event);
        (self.edges & !self.sense) | (active_level & self.sense)
    }

    /// Whether the controller's interrupt output is asserted.
    pub fn interrupt_line(&self) -> bool {
        self.raw_status() & self.enable != 0
    }

    /// Drives input line bits `mask` to `high`, latching the edges the
    /// configuration asks for.
    fn drive(&mut self, mask: u8, high: bool) {
        let before = self.levels();
        if high {
            self.inputs |= mask;
        } else {
            self.inputs &= !mask;
        }
        let after = self.levels();
        let changed = before ^ after;
        let rising = changed & after;
        let falling = changed & before;
        let wanted = (changed & self.both_edges) | (rising & self.event & !self.both_edges) | (falling & !self.event & !self.both_edges);
        self.edges |= wanted & !self.sense;
    }

    /// Presses the power key: the line goes high and stays so until the
    /// guest has read it high.
    pub fn press(&mut self) {
        let bit = self.key_bit();
        self.held |= bit;
        self.drive(bit, true);
    }

    /// Whether a press waits to be seen by the guest.
    pub fn is_pressed(&self) -> bool {
        self.held != 0
    }

    /// A guest read.
    pub fn read(&mut self, offset: u64) -> u32 {
        match offset {
            0..offset::DATA_END => {
                let mask = ((offset >> 2) & 0xff) as u8;
                let value = self.levels() & mask;
                // The guest saw the key down: release it (a new edge).
                let seen = self.held & value;
                if seen != 0 {
                    self.held &= !seen;
                    self.drive(seen, false);
                }
                u32::from(value)
            }
            offset::DIRECTION => u32::from(self.direction),
            offset::SENSE => u32::from(self.sense),
            offset::BOTH_EDGES => u32::from(self.both_edges),
            offset::EVENT => u32::from(self.event),
            offset::INTERRUPT_ENABLE => u32::from(self.enable),
            offset::RAW_STATUS => u32::from(self.raw_status()),
            offset::MASKED_STATUS => u32::from(self.raw_status() & self.enable),
            offset::ALTERNATE_FUNCTION => u32::from(self.alternate),
            offset::PERIPHERAL_ID..0x1000 if offset.is_multiple_of(4) => {
                let index = usize::try_from((offset - offset::PERIPHERAL_ID) / 4).unwrap_or(usize::MAX);
                IDENTIFICATION.get(index).map_or(0, |&byte| u32::from(byte))
            }
            _ => 0,
        }
    }

    /// A guest write.
    pub fn write(&mut self, offset: u64, value: u32) {
        let byte = value as u8; // The registers are eight bits wide.
        match offset {
            0..offset::DATA_END => {
                let mask = ((offset >> 2) & 0xff) as u8;
                self.output = (self.output & !mask) | (byte & mask);
            }
            offset::DIRECTION => self.direction = byte,
            offset::SENSE => self.sense = byte,
            offset::BOTH_EDGES => self.both_edges = byte,
            offset::EVENT => self.event = byte,
            offset::INTERRUPT_ENABLE => self.enable = byte,
            offset::INTERRUPT_CLEAR => self.edges &= !byte,
            offset::ALTERNATE_FUNCTION => self.alternate = byte,
            _ => {}
        }
    }

    /// Back to the reset state (the key up).
    pub fn reset(&mut self) {
        *self = Self::new(self.key_line);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const KEY: u64 = 1 << (3 + 2);

    /// Linux's gpio-keys on line 3: both edges, enabled.
    fn configured() -> Pl061 {
        let mut gpio = Pl061::new(3);
        gpio.write(offset::BOTH_EDGES, 1 << 3);
        gpio.write(offset::INTERRUPT_ENABLE, 1 << 3);
        gpio
    }

    #[test]
    fn identifies_as_a_pl061() {
        let mut gpio = Pl061::new(3);
        let id: Vec<u32> = (0..8).map(|word| gpio.read(offset::PERIPHERAL_ID + word * 4)).collect();
        assert_eq!(id, [0x61, 0x10, 0x04, 0x00, 0x0d, 0xf0, 0x05, 0xb1]);
        assert_eq!(gpio.read(0xfe1), 0);
    }

    #[test]
    fn a_press_interrupts_stays_down_until_read_then_releases_with_an_edge() {
        let mut gpio = configured();
        assert!(!gpio.interrupt_line());
        gpio.press();
        assert!(gpio.interrupt_line());
        assert_eq!(gpio.read(offset::MASKED_STATUS), 1 << 3);
        gpio.write(offset::INTERRUPT_CLEAR, 1 << 3);
        assert!(!gpio.interrupt_line());
        // Other lines' reads do not see it, nor release it.
        assert_eq!(gpio.read(1 << 2), 0);
        assert!(gpio.is_pressed());
        assert_eq!(gpio.read(KEY), 1 << 3);
        // Released: a falling edge, and the line reads low.
        assert!(gpio.interrupt_line());
        gpio.write(offset::INTERRUPT_CLEAR, 1 << 3);
        assert_eq!(gpio.read(KEY), 0);
        assert!(!gpio.interrupt_line());
        // A second press is a new edge.
        gpio.press();
        assert!(gpio.interrupt_line());
    }

    #[test]
    fn a_masked_or_rising_only_line_follows_its_configuration() {
        let mut gpio = Pl061::new(3);
        gpio.press();
        assert!(!gpio.interrupt_line(), "not enabled");
        assert_eq!(gpio.read(offset::RAW_STATUS), 0, "falling edges only by default");
        gpio.write(offset::EVENT, 1 << 3);
        gpio.write(offset::SENSE, 1 << 3);
        gpio.write(offset::INTERRUPT_ENABLE, 1 << 3);
        assert!(gpio.interrupt_line(), "level-high while down");
        assert_eq!(gpio.read(KEY), 1 << 3);
        assert!(!gpio.interrupt_line(), "released");
    }

    #[test]
    fn outputs_read_back_through_the_address_mask() {
        let mut gpio = Pl061::new(3);
        gpio.write(offset::DIRECTION, 0x0f);
        gpio.write(0x3fc, 0xff);
        assert_eq!(gpio.read(0x3fc), 0x0f);
        gpio.write(0x3fc & !(1 << 2), 0x00);
        assert_eq!(gpio.read(0x3fc), 0x01);
    }

    #[test]
    fn reset_forgets_everything_but_the_wiring() {
        let mut gpio = configured();
        gpio.press();
        gpio.reset();
        assert!(!gpio.interrupt_line() && !gpio.is_pressed());
        assert_eq!(gpio.read(offset::INTERRUPT_ENABLE), 0);
        gpio.write(offset::BOTH_EDGES, 1 << 3);
        gpio.write(offset::INTERRUPT_ENABLE, 1 << 3);
        gpio.press();
        assert!(gpio.interrupt_line());
    }

    proptest! {
        #[test]
        fn any_access_sequence_is_harmless_and_a_press_is_seen(accesses in prop::collection::vec((0u64..0x1100, any::<u32>(), any::<bool>()), 0..64)) {
            let mut gpio = configured();
            for (offset, value, write) in accesses {
                if write { gpio.write(offset, value) } else { let _ = gpio.read(offset); }
            }
            // Whatever the guest did, a reconfigured controller sees a press.
            gpio.write(offset::DIRECTION, 0);
            gpio.write(offset::SENSE, 0);
            gpio.write(offset::BOTH_EDGES, 1 << 3);
            gpio.write(offset::INTERRUPT_CLEAR, 0xff);
            gpio.write(offset::INTERRUPT_ENABLE, 1 << 3);
            if !gpio.is_pressed() {
                gpio.press();
                prop_assert!(gpio.interrupt_line());
            }
            prop_assert_eq!(gpio.read(KEY), 1 << 3);
            prop_assert!(!gpio.is_pressed());
        }
    }
}
