//! A console session driven by arbitrary bytes: guest output from either
//! personality, keystrokes (console keys included), state changes and
//! input deliveries and replays in any order. Nothing panics, no escape
//! sequence reaches the terminal but the in-line ones the filter allows,
//! and reverse video only ever starts one of Janus' own lines.
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
            _ if value & 1 == 0 => {
                let _ = console.next_input(usize::from(value / 2 % 2), &mut screen);
            }
            _ => {
                let _ = console.replay_step(usize::from(value / 2 % 2), usize::from(value), &mut screen);
            }
        }
    }
    assert!(console.foreground() < 2);
    // Reverse video is Janus' alone: every use of it starts a Janus line.
    let bytes = &screen.0;
    for (at, _) in bytes.windows(4).enumerate().filter(|(_, window)| *window == b"\x1b[7m") {
        let after = &bytes[at + 4..];
        assert!(after.starts_with(b"janus: ") || after.starts_with(b" janus: "), "reverse video from a guest: {:?}", String::from_utf8_lossy(after));
    }
    assert!(only_allowed_sequences(bytes), "a forbidden sequence reached the terminal: {:?}", String::from_utf8_lossy(bytes));
});
