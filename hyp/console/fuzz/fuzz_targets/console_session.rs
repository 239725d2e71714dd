//! A console session driven by arbitrary bytes: guest output from either
//! personality, keystrokes (console keys included), state changes and
//! input deliveries in any order. Nothing panics, and no escape sequence
//! reaches the terminal except Janus' own reverse video and the in-line
//! sequences the filter allows.
#![no_main]

use janus_console::{Console, Lifecycle, Mode, Terminal};
use libfuzzer_sys::fuzz_target;

struct Screen(Vec<u8>);

impl Terminal for Screen {
    fn write(&mut self, bytes: &[u8]) {
        self.0.extend_from_slice(bytes);
    }
}

/// Every ESC on the screen starts `ESC [` and a final byte in `mKJCD`.
fn only_allowed_sequences(bytes: &[u8]) -> bool {
    let mut index = 0;
    while let Some(offset) = bytes[index..].iter().position(|&byte| byte == 0x1b) {
        let start = index + offset;
        if bytes.get(start + 1) != Some(&b'[') {
            return false;
        }
        let Some(length) = bytes[start + 2..].iter().position(|byte| (0x40..0x7f).contains(byte)) else { return true };
        let end = start + 2 + length;
        if !matches!(bytes[end], b'm' | b'K' | b'J' | b'C' | b'D') {
            return false;
        }
        index = end + 1;
    }
    true
}

fuzz_target!(|data: &[u8]| {
    let mut console = Box::new(Console::<2>::new());
    let mode = if data.first().is_some_and(|byte| byte & 1 == 1) { Mode::Tagged } else { Mode::Switched };
    console.configure(mode, ["personal", "work"]);
    let mut screen = Screen(Vec::new());
    for pair in data.get(1..).unwrap_or_default().chunks(2) {
        let [operation, value] = *pair else { break };
        match operation % 8 {
            0..=2 => console.output(0, value, &mut screen),
            3 | 4 => console.output(1, value, &mut screen),
            5 => {
                let _ = console.input(value, &mut screen);
            }
            6 => {
                let state = [Lifecycle::Running, Lifecycle::Restarting, Lifecycle::Off][usize::from(value % 3)];
                console.set_lifecycle(usize::from(value / 3 % 2), state, &mut screen);
            }
            _ => {
                let _ = console.next_input(usize::from(value % 2), &mut screen);
            }
        }
    }
    assert!(console.foreground() < 2);
    // Janus' indicator is the only reverse video; take it out, then check.
    let text = String::from_utf8_lossy(&screen.0).replace("\u{1b}[7m janus: foreground is ", "").replace(" \u{1b}[0m", "");
    let text = text.replace("\u{1b}[7m", "\u{0}");
    assert!(!text.contains('\u{0}'), "reverse video from a guest");
    assert!(only_allowed_sequences(text.as_bytes()), "a forbidden sequence reached the terminal: {text:?}");
});
