//! The console's behaviour as a user at the terminal sees it.

use super::*;
use proptest::prelude::*;

#[derive(Default)]
struct Screen {
    bytes: std::vec::Vec<u8>,
}

impl Terminal for Screen {
    fn write(&mut self, bytes: &[u8]) {
        self.bytes.extend_from_slice(bytes);
    }
}

impl Screen {
    fn text(&self) -> std::string::String {
        std::string::String::from_utf8_lossy(&self.bytes).into_owned()
    }

    fn take(&mut self) -> std::string::String {
        let text = self.text();
        self.bytes.clear();
        text
    }
}

const PERSONAL: usize = 0;
const WORK: usize = 1;

fn console(mode: Mode) -> Box<Console<2>> {
    let mut console = Box::new(Console::<2>::new());
    console.configure(mode, ["personal", "work"]);
    console
}

fn print(console: &mut Console<2>, index: usize, text: &[u8], screen: &mut Screen) {
    for &byte in text {
        console.output(index, byte, screen);
    }
}

/// Types `keys`; a switch is replayed to the end, as the kernel does.
fn type_keys(console: &mut Console<2>, keys: &[u8], screen: &mut Screen) -> std::vec::Vec<Event> {
    keys.iter()
        .map(|&key| {
            let event = console.input(key, screen);
            if let Event::Switched { to } = event {
                replay(console, to, screen);
            }
            event
        })
        .collect()
}

/// Replays personality `to`'s background output to the end.
fn replay(console: &mut Console<2>, to: usize, screen: &mut Screen) {
    let mut steps = 0;
    while console.replay_step(to, 256, screen) {
        steps += 1;
        assert!(steps <= RING_BYTES / 256 + 1, "the replay does not end");
    }
}

/// Switches and replays to the end.
fn switch(console: &mut Console<2>, screen: &mut Screen) -> usize {
    let to = console.switch(screen);
    replay(console, to, screen);
    to
}

fn delivered(console: &mut Console<2>, index: usize, screen: &mut Screen) -> std::vec::Vec<u8> {
    std::iter::from_fn(|| console.next_input(index, screen)).collect()
}

#[test]
fn foreground_output_reaches_the_terminal_and_background_output_waits() {
    let (mut console, mut screen) = (console(Mode::Switched), Screen::default());
    print(&mut console, PERSONAL, b"personal# ", &mut screen);
    print(&mut console, WORK, b"work booted\r\nwork# ", &mut screen);
    assert_eq!(screen.take(), "personal# ");
    assert_eq!(console.ring_len(WORK), 19);
}

#[test]
fn a_switch_replays_then_shows_the_indicator_then_redraws_the_prompt() {
    let (mut console, mut screen) = (console(Mode::Switched), Screen::default());
    print(&mut console, PERSONAL, b"personal# ", &mut screen);
    print(&mut console, WORK, b"[    1.0] kernel line\r\nwork# ", &mut screen);
    screen.take();
    assert_eq!(type_keys(&mut console, &[HOTKEY], &mut screen), [Event::Switched { to: WORK }]);
    assert_eq!(screen.take(), "\r\n[    1.0] kernel line\r\nwork# \r\n\x1b[7m janus: foreground is work \x1b[0m\r\nwork# ");
    assert_eq!(console.ring_len(WORK), 0);
    // Personal's unfinished line is redrawn when it comes back.
    type_keys(&mut console, &[HOTKEY], &mut screen);
    assert!(screen.take().ends_with("\x1b[7m janus: foreground is personal \x1b[0m\r\npersonal# "));
}

#[test]
fn a_full_ring_drops_the_oldest_output_and_says_how_much() {
    let (mut console, mut screen) = (console(Mode::Switched), Screen::default());
    let chunk = [b'x'; 1000];
    for _ in 0..70 {
        print(&mut console, WORK, &chunk, &mut screen);
    }
    print(&mut console, WORK, b"\nlast", &mut screen);
    assert_eq!(console.ring_dropped(WORK), 70_000 + 5 - RING_BYTES as u64);
    switch(&mut console, &mut screen);
    let text = screen.take();
    assert!(text.starts_with(&format!("\x1b[7mjanus: {} bytes of work's earlier output did not fit its 64 KiB buffer\x1b[0m\r\n", 70_005 - RING_BYTES)));
    assert!(text.contains("\nlast\r\n\x1b[7m janus: foreground is work"));
}

#[test]
fn the_hotkey_works_however_much_input_the_foreground_leaves_unread() {
    let (mut console, mut screen) = (console(Mode::Switched), Screen::default());
    // Personal never reads: its queue fills, then keystrokes are dropped.
    let keys = vec![b'a'; INPUT_BYTES + 40];
    let events = type_keys(&mut console, &keys, &mut screen);
    assert_eq!(events.iter().filter(|event| **event == Event::Input).count(), INPUT_BYTES);
    assert_eq!(console.input_dropped(PERSONAL), 40);
    assert_eq!(screen.take().matches("personal is not reading its console").count(), 1, "said once");
    assert_eq!(console.input(HOTKEY, &mut screen), Event::Switched { to: WORK });
    // What was typed before the switch is personal's alone.
    assert!(delivered(&mut console, WORK, &mut screen).is_empty());
    type_keys(&mut console, b"ls\r", &mut screen);
    assert_eq!(delivered(&mut console, WORK, &mut screen), b"ls\r");
    assert_eq!(delivered(&mut console, PERSONAL, &mut screen), vec![b'a'; INPUT_BYTES]);
    assert_eq!(console.input_dropped(PERSONAL), 40);
}

#[test]
fn input_reaches_only_the_running_foreground() {
    let (mut console, mut screen) = (console(Mode::Switched), Screen::default());
    type_keys(&mut console, b"ab", &mut screen);
    assert!(delivered(&mut console, WORK, &mut screen).is_empty());
    assert_eq!(delivered(&mut console, PERSONAL, &mut screen), b"ab");
    console.set_lifecycle(PERSONAL, Lifecycle::Restarting, &mut screen);
    screen.take();
    assert_eq!(type_keys(&mut console, b"cd", &mut screen), [Event::None, Event::None]);
    assert_eq!(screen.take().matches("janus: personal is starting: keystrokes are dropped until it runs").count(), 1);
    console.set_lifecycle(PERSONAL, Lifecycle::Running, &mut screen);
    assert!(delivered(&mut console, PERSONAL, &mut screen).is_empty());
    type_keys(&mut console, b"e", &mut screen);
    assert_eq!(delivered(&mut console, PERSONAL, &mut screen), b"e");
}

#[test]
fn a_stopped_foreground_is_announced_and_started_with_its_key() {
    let (mut console, mut screen) = (console(Mode::Switched), Screen::default());
    switch(&mut console, &mut screen);
    console.set_lifecycle(WORK, Lifecycle::Off, &mut screen);
    assert!(screen.take().contains("\x1b[7mjanus: work is off: Ctrl-\\ s starts it, Ctrl-] switches\x1b[0m\r\n"));
    assert_eq!(type_keys(&mut console, b"xyz", &mut screen), [Event::None; 3]);
    assert_eq!(screen.take().matches("janus: work is off: keystrokes are dropped").count(), 1);
    // Away and back: the indicator says it is off.
    switch(&mut console, &mut screen);
    switch(&mut console, &mut screen);
    assert!(screen.take().contains("\x1b[7m janus: foreground is work (off: Ctrl-\\ s starts it) \x1b[0m"));
    assert_eq!(type_keys(&mut console, &[COMMAND_KEY, b's'], &mut screen), [Event::None, Event::Start(WORK)]);
    assert_eq!(console.lifecycle(WORK), Some(Lifecycle::Restarting));
    assert_eq!(type_keys(&mut console, &[COMMAND_KEY, b's'], &mut screen), [Event::None, Event::None]);
    assert!(screen.take().contains("janus: work is already starting"));
}

#[test]
fn the_device_stop_key_asks_once_then_powers_off() {
    let (mut console, mut screen) = (console(Mode::Switched), Screen::default());
    assert_eq!(type_keys(&mut console, &[COMMAND_KEY, b'q'], &mut screen)[1], Event::StopDevice);
    assert!(console.is_stopping());
    assert_eq!(type_keys(&mut console, &[COMMAND_KEY, b'q'], &mut screen)[1], Event::PowerOffNow);
}

#[test]
fn the_command_key_twice_sends_it_and_unknown_commands_say_so() {
    let (mut console, mut screen) = (console(Mode::Switched), Screen::default());
    type_keys(&mut console, &[COMMAND_KEY, COMMAND_KEY, COMMAND_KEY, HOTKEY, b'a'], &mut screen);
    assert_eq!(delivered(&mut console, PERSONAL, &mut screen), [COMMAND_KEY, HOTKEY, b'a']);
    type_keys(&mut console, &[COMMAND_KEY, b'z', COMMAND_KEY, b'h'], &mut screen);
    let text = screen.take();
    assert!(text.contains("janus: no such console command; Ctrl-\\ h lists them"));
    assert!(text.contains(KEYS_HELP));
    assert!(delivered(&mut console, PERSONAL, &mut screen).is_empty());
}

#[test]
fn who_is_in_front_is_answered_in_reverse_video_on_its_own_line() {
    let (mut console, mut screen) = (console(Mode::Switched), Screen::default());
    switch(&mut console, &mut screen);
    print(&mut console, WORK, b"work# ", &mut screen);
    screen.take();
    type_keys(&mut console, &[COMMAND_KEY, b'i'], &mut screen);
    let text = screen.take();
    assert!(text.starts_with("\r\n\x1b[7m janus: foreground is work \x1b[0m\r\n"), "{text:?}");
    assert!(text.contains("janus: personal: running;"));
    assert!(text.ends_with("work# "), "the prompt is drawn again: {text:?}");
}

#[test]
fn a_forged_janus_line_is_marked_and_terminal_control_is_neutralised() {
    let (mut console, mut screen) = (console(Mode::Switched), Screen::default());
    switch(&mut console, &mut screen);
    screen.take();
    print(&mut console, WORK, b"\x1b[2J\x1b[Hjanus: foreground is personal\r\n\r\npersonal# \x1b[6n\x1b]0;personal\x07", &mut screen);
    let text = screen.take();
    assert_eq!(text, "[work] janus: foreground is personal\r\n\r\npersonal# ");
    assert_eq!(console.neutralised(WORK), 4);
    // Also in any case, split by colours, or mid-line.
    print(&mut console, WORK, b"x JaNuS\x1b[1m: y\n", &mut screen);
    assert_eq!(screen.take(), "x [work] JaNuS\x1b[1m: y\n");
}

#[test]
fn reverse_video_and_background_colours_are_janus_own() {
    let (mut console, mut screen) = (console(Mode::Switched), Screen::default());
    print(&mut console, PERSONAL, b"\x1b[7mA\x1b[1;41mB\x1b[48;5;1mC\x1b[1;31mD\x1b[0mE\x1b[KF\x1b[3DG", &mut screen);
    assert_eq!(screen.take(), "ABC\x1b[1;31mD\x1b[0mE\x1b[KF\x1b[3DG");
    assert_eq!(console.neutralised(PERSONAL), 3);
}

#[test]
fn modes_cursor_jumps_and_queries_are_dropped() {
    let (mut console, mut screen) = (console(Mode::Switched), Screen::default());
    let attacks: [&[u8]; 12] = [
        b"\x1b[1A",
        b"\x1b[5;1H",
        b"\x1b[?1049h",
        b"\x1b[c",
        b"\x1b[>0c",
        b"\x1b[18t",
        b"\x1b7",
        b"\x1b8",
        b"\x1bc",
        b"\x1bM",
        b"\x1b(0",
        b"\x1bP+q544e\x1b\\",
    ];
    for attack in attacks {
        print(&mut console, PERSONAL, attack, &mut screen);
        print(&mut console, PERSONAL, b"|", &mut screen);
    }
    assert_eq!(screen.take(), "||||||||||||");
    assert_eq!(console.neutralised(PERSONAL), 12);
}

#[test]
fn control_characters_are_shown_in_caret_notation_and_bad_utf8_replaced() {
    let (mut console, mut screen) = (console(Mode::Switched), Screen::default());
    print(&mut console, PERSONAL, "\x0e\x0c\x7fé€😀".as_bytes(), &mut screen);
    print(&mut console, PERSONAL, b"\xc2\x9b1A\xff\xe2\x82z", &mut screen);
    assert_eq!(screen.take(), "^N^L^?é€😀\u{fffd}1A\u{fffd}\u{fffd}z");
}

#[test]
fn held_prefix_is_shown_before_input_reaches_the_guest() {
    let (mut console, mut screen) = (console(Mode::Switched), Screen::default());
    print(&mut console, PERSONAL, b"ja", &mut screen);
    assert_eq!(screen.take(), "");
    type_keys(&mut console, b"n", &mut screen);
    assert_eq!(delivered(&mut console, PERSONAL, &mut screen), b"n");
    assert_eq!(screen.take(), "ja");
}

#[test]
fn janus_lines_start_on_a_fresh_line_and_redraw_the_guest_line() {
    let (mut console, mut screen) = (console(Mode::Switched), Screen::default());
    print(&mut console, PERSONAL, b"personal# ec", &mut screen);
    screen.take();
    console.janus_line(format_args!("janus: warning: work: something"), &mut screen);
    assert_eq!(screen.take(), "\r\n\x1b[7mjanus: warning: work: something\x1b[0m\r\npersonal# ec");
}

#[test]
fn a_restart_leaves_nothing_of_the_previous_run() {
    let (mut console, mut screen) = (console(Mode::Switched), Screen::default());
    print(&mut console, WORK, b"secret of the last boot\r\nwork# \x1b[2J", &mut screen);
    console.set_lifecycle(WORK, Lifecycle::Restarting, &mut screen);
    assert_eq!((console.ring_len(WORK), console.ring_dropped(WORK), console.neutralised(WORK)), (0, 0, 0));
    console.set_lifecycle(WORK, Lifecycle::Running, &mut screen);
    switch(&mut console, &mut screen);
    assert!(!screen.take().contains("secret"));
}

#[test]
fn tagged_lines_keep_colours_but_nothing_that_could_rub_out_the_name() {
    let (mut console, mut screen) = (console(Mode::Tagged), Screen::default());
    print(&mut console, WORK, b"ab\x08\x1b[99D\x1b[2K\x1b[1mc\n", &mut screen);
    assert_eq!(screen.take(), "[work] ab^H\x1b[1mc\r\n");
    assert_eq!(console.neutralised(WORK), 3);
}

#[test]
fn output_during_a_replay_comes_after_it() {
    let (mut console, mut screen) = (console(Mode::Switched), Screen::default());
    print(&mut console, WORK, &[b'a'; 600], &mut screen);
    let to = console.switch(&mut screen);
    assert!(console.replay_step(to, 256, &mut screen));
    print(&mut console, WORK, b"live", &mut screen);
    replay(&mut console, to, &mut screen);
    let text = screen.take();
    assert!(text.contains(&format!("{}live\r\n\x1b[7m janus: foreground is work", "a".repeat(600))), "{text:?}");
}

#[test]
fn a_stopping_device_starts_nothing() {
    let (mut console, mut screen) = (console(Mode::Switched), Screen::default());
    console.set_lifecycle(PERSONAL, Lifecycle::Off, &mut screen);
    assert_eq!(type_keys(&mut console, &[COMMAND_KEY, b'q', COMMAND_KEY, b's'], &mut screen), [Event::None, Event::StopDevice, Event::None, Event::None]);
    assert!(screen.take().contains("janus: the device is stopping: personal stays off"));
    assert_eq!(console.lifecycle(PERSONAL), Some(Lifecycle::Off));
}

#[test]
fn tagged_mode_prints_whole_lines_with_names() {
    let (mut console, mut screen) = (console(Mode::Tagged), Screen::default());
    print(&mut console, WORK, b"hello\r\n\x1b[6nwor", &mut screen);
    print(&mut console, PERSONAL, b"janus: x\n", &mut screen);
    assert_eq!(screen.take(), "[work] hello\r\n[personal] janus: x\r\n");
    console.set_lifecycle(WORK, Lifecycle::Off, &mut screen);
    assert_eq!(screen.take(), "[work] wor\r\n");
    let long = [b'y'; TAGGED_LINE + 3];
    print(&mut console, PERSONAL, &long, &mut screen);
    assert_eq!(screen.take(), format!("[personal] {}\r\n", "y".repeat(TAGGED_LINE)));
}

/// What a terminal may be sent by guest output: text and the allowed
/// in-line sequences. Returns the first offending sequence.
fn first_forbidden_sequence(bytes: &[u8]) -> Option<std::vec::Vec<u8>> {
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == 0x1b {
            if bytes.get(index + 1) != Some(&b'[') {
                return Some(bytes[index..].iter().take(8).copied().collect());
            }
            let end = bytes[index + 2..].iter().position(|byte| (0x40..0x7f).contains(byte))? + index + 2;
            let (parameters, final_byte) = (&bytes[index + 2..end], bytes[end]);
            if !filter_allows(parameters, final_byte) {
                return Some(bytes[index..=end].to_vec());
            }
            index = end + 1;
            continue;
        }
        if bytes[index] < 0x20 && !matches!(bytes[index], b'\n' | b'\r' | b'\t' | 0x07 | 0x08) {
            return Some(vec![bytes[index]]);
        }
        index += 1;
    }
    None
}

/// The rule, restated independently of the filter's code.
fn filter_allows(parameters: &[u8], final_byte: u8) -> bool {
    let text = std::str::from_utf8(parameters).unwrap_or("?");
    let values: std::vec::Vec<Option<u32>> = text.split(';').map(|value| if value.is_empty() { Some(0) } else { value.parse().ok() }).collect();
    match final_byte {
        b'm' => values.iter().all(|value| matches!(value, Some(0..=4 | 22..=24 | 30..=37 | 39 | 90..=97))),
        b'K' => values.len() == 1 && matches!(values[0], Some(0..=2)),
        b'J' => values == [Some(0)],
        b'C' | b'D' => values.len() == 1 && values[0].is_some(),
        _ => false,
    }
}

fn guest_output() -> impl Strategy<Value = std::vec::Vec<u8>> {
    let pieces = prop_oneof![
        any::<u8>().prop_map(|byte| vec![byte]),
        Just(b"janus:".to_vec()),
        Just(b"JANUS".to_vec()),
        Just(b"\x1b[".to_vec()),
        Just(b"\x1b]".to_vec()),
        Just(b"\x1b[7m".to_vec()),
        Just(b"\x1b[1;31m".to_vec()),
        Just(b"\x1b[K".to_vec()),
        Just(b"\x1b\\".to_vec()),
        Just(b"\x07".to_vec()),
        Just(b"\r\n".to_vec()),
        "[0-9;?>]{0,6}[@-~]".prop_map(|text| text.into_bytes()),
    ];
    prop::collection::vec(pieces, 0..80).prop_map(|pieces| pieces.concat())
}

/// A terminal line as a user reads it: printable bytes in column order,
/// written over by carriage returns, backspaces and CUB; other allowed
/// sequences draw nothing.
fn rendered_lines(bytes: &[u8]) -> std::vec::Vec<std::string::String> {
    let mut lines = vec![std::vec::Vec::<u8>::new()];
    let mut column = 0usize;
    let mut index = 0;
    while index < bytes.len() {
        let byte = bytes[index];
        index += 1;
        let line = lines.last_mut().expect("one line");
        match byte {
            b'\n' => {
                lines.push(std::vec::Vec::new());
                column = 0;
            }
            b'\r' => column = 0,
            0x08 => column = column.saturating_sub(1),
            0x1b => {
                let end = bytes[index + 1..].iter().position(|byte| (0x40..0x7f).contains(byte)).map_or(bytes.len(), |end| end + index + 1);
                if bytes.get(end) == Some(&b'D') {
                    let count: usize = std::str::from_utf8(&bytes[index + 1..end]).ok().and_then(|text| text.parse().ok()).unwrap_or(1);
                    column = column.saturating_sub(count.max(1));
                }
                index = end + 1;
            }
            // A character: ASCII as itself, a UTF-8 one (its lead byte;
            // continuation bytes draw nothing more) as `~`.
            0x20..=0x7e | 0xc0..=0xff => {
                if line.len() <= column {
                    line.resize(column + 1, b' ');
                }
                line[column] = if byte < 0x80 { byte } else { b'~' };
                column += 1;
            }
            _ => {}
        }
    }
    lines.into_iter().map(|line| std::string::String::from_utf8_lossy(&line).into_owned()).collect()
}

proptest! {
    #[test]
    fn no_guest_output_reaches_the_terminal_as_a_forbidden_sequence(output in guest_output(), background in any::<bool>()) {
        let (mut console, mut screen) = (console(Mode::Switched), Screen::default());
        let index = if background { WORK } else { PERSONAL };
        print(&mut console, index, &output, &mut screen);
        // What the guest's output put on the screen: live, or replayed
        // (every piece but the last step's, which is Janus' indicator).
        let mut guest = std::mem::take(&mut screen.bytes);
        if background {
            let to = console.switch(&mut screen);
            screen.bytes.clear();
            while console.replay_step(to, 256, &mut screen) {
                guest.append(&mut screen.bytes);
            }
        }
        prop_assert_eq!(first_forbidden_sequence(&guest), None);
        // Well-formed UTF-8 (no lone byte a terminal could take for a C1
        // control), and no C1 control encoded either.
        let text = std::str::from_utf8(&guest);
        prop_assert!(text.is_ok(), "not UTF-8: {:?}", guest);
        let c1 = text.unwrap_or_default().chars().any(|character| ('\u{80}'..='\u{9f}').contains(&character));
        prop_assert!(!c1, "a C1 control reached the terminal");
    }

    #[test]
    fn a_full_ring_replays_without_a_broken_character(filler in 0usize..4) {
        // A ring that drops its oldest bytes never starts mid-character.
        let (mut console, mut screen) = (console(Mode::Switched), Screen::default());
        print(&mut console, WORK, &vec![b'x'; filler], &mut screen);
        // Three bytes a character: 64 KiB is not a multiple of three.
        for _ in 0..(RING_BYTES / 3 + 10) {
            print(&mut console, WORK, "€".as_bytes(), &mut screen);
        }
        let to = console.switch(&mut screen);
        screen.bytes.clear();
        let mut replayed = std::vec::Vec::new();
        while console.replay_step(to, 256, &mut screen) {
            replayed.append(&mut screen.bytes);
        }
        prop_assert!(std::str::from_utf8(&replayed).is_ok(), "starts with {:?}", &replayed[..4]);
    }

    #[test]
    fn a_guest_line_that_spells_janus_is_marked(output in guest_output()) {
        // Without writing over its own line (carriage return, backspace,
        // CUB), a guest cannot show `janus:` unmarked.
        let output: std::vec::Vec<u8> = output.into_iter().filter(|byte| !matches!(byte, b'\r' | 0x08 | b'D')).collect();
        let (mut console, mut screen) = (console(Mode::Switched), Screen::default());
        print(&mut console, PERSONAL, &output, &mut screen);
        console.janus_line(format_args!("end"), &mut screen);
        for line in rendered_lines(&screen.bytes) {
            let lower = line.to_ascii_lowercase();
            for (at, _) in lower.match_indices("janus:") {
                if line == "end" { continue; }
                prop_assert!(lower[..at].ends_with("[personal] "), "unmarked: {:?} in {:?}", line, output);
            }
        }
    }

    #[test]
    fn keystrokes_reach_only_the_foreground_they_were_typed_for(operations in prop::collection::vec((0u8..8, any::<u8>()), 0..200)) {
        let (mut console, mut screen) = (console(Mode::Switched), Screen::default());
        // The reference: per personality, the keystrokes typed while it was
        // the running foreground, since its last state change, in order.
        let mut expected: [std::collections::VecDeque<u8>; 2] = Default::default();
        let mut foreground = 0usize;
        let mut running = [true, true];
        for (operation, value) in operations {
            match operation {
                0..=2 => {
                    let key = if value == HOTKEY || value == COMMAND_KEY { b'k' } else { value };
                    let event = console.input(key, &mut screen);
                    if running[foreground] && expected[foreground].len() < INPUT_BYTES {
                        prop_assert_eq!(event, Event::Input);
                        expected[foreground].push_back(key);
                    } else {
                        prop_assert_eq!(event, Event::None);
                    }
                }
                3 => {
                    prop_assert_eq!(console.input(HOTKEY, &mut screen), Event::Switched { to: 1 - foreground });
                    foreground = 1 - foreground;
                }
                4 => {
                    let index = usize::from(value % 2);
                    let state = [Lifecycle::Running, Lifecycle::Restarting, Lifecycle::Off][usize::from(value / 2 % 3)];
                    let changed = console.lifecycle(index) != Some(state);
                    console.set_lifecycle(index, state, &mut screen);
                    if changed { expected[index].clear(); }
                    running[index] = state == Lifecycle::Running;
                }
                _ => {
                    let index = usize::from(value % 2);
                    let got = console.next_input(index, &mut screen);
                    let want = if running[index] { expected[index].pop_front() } else { None };
                    prop_assert_eq!(got, want);
                }
            }
        }
    }
}
