//! The physical console that the personalities share, as pure logic (the
//! EL2 kernel supplies the UART and the interrupts).
//!
//! In switched mode one personality is in front: its output goes to the
//! terminal through its [`filter::OutputFilter`], every other one's into its
//! own 64 KiB ring (oldest bytes dropped and counted), replayed when it comes
//! to the front. In tagged mode (tests, debugging) every line is printed
//! whole with the personality's name in front.
//!
//! Keyboard input is always read, whatever the guests do: Janus scans every
//! byte for its keys, and only delivery to a guest waits for room in its
//! emulated receive FIFO (a 4 KiB queue per personality in between; beyond
//! it keystrokes are dropped and Janus says so). A keystroke goes to the
//! personality that was in front when it was typed, never to another: what
//! was typed just before a switch still reaches the old foreground, nothing
//! of it the new one. A personality that is off or restarting gets nothing,
//! and what waited for it is dropped when it stops or restarts.
//!
//! The keys:
//! - `Ctrl-]` brings the next personality to the front.
//! - `Ctrl-\` starts a Janus command: `i` (or `?`) who is in front and how
//!   every personality is, `s` start the foreground personality if it is
//!   off, `q` stop the whole device cleanly (again: power off at once),
//!   `h` the list; `Ctrl-\` again sends a literal `Ctrl-\`, `Ctrl-]` a
//!   literal `Ctrl-]`.
//!
//! Janus' own indicator (the foreground banner and the answer to `Ctrl-\ i`)
//! is drawn in reverse video, which no guest output can produce (the filter
//! drops it), and stands on a line of its own.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

pub mod filter;

use core::fmt::{self, Write};

use filter::OutputFilter;
use heapless::{Deque, String, Vec};

/// `Ctrl-]` (ASCII GS): switch the foreground personality.
pub const HOTKEY: u8 = 0x1d;
/// `Ctrl-\` (ASCII FS): the next key is a Janus command.
pub const COMMAND_KEY: u8 = 0x1c;
/// Bytes kept for a personality in the background.
pub const RING_BYTES: usize = 64 * 1024;
/// Keystrokes queued for the foreground while its receive FIFO is full.
pub const INPUT_BYTES: usize = 4096;
/// Longest personality name kept.
const NAME_BYTES: usize = 16;
/// Longest line collected in tagged mode before it is written out anyway.
const TAGGED_LINE: usize = 240;

/// Reverse video on and off: Janus' indicator (a guest cannot draw it).
const INDICATOR_ON: &[u8] = b"\x1b[7m ";
const INDICATOR_OFF: &[u8] = b" \x1b[0m\r\n";

/// The console keys, as `Ctrl-\ h` and the boot banner list them.
pub const KEYS_HELP: &str = "Ctrl-] next personality; Ctrl-\\ then: i who is in front, s start it if off, q stop the device, h this list";

/// How the console shows the personalities.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// One personality in front, the others buffered and replayed.
    Switched,
    /// Every line printed with its personality's name.
    Tagged,
}

/// Where a personality is in its life, as the console needs to know it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifecycle {
    /// Running: it gets keyboard input.
    Running,
    /// Being reset or started; input is dropped until it runs.
    Restarting,
    /// Stopped (SYSTEM_OFF); `Ctrl-\ s` starts it.
    Off,
}

impl Lifecycle {
    fn describe(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Restarting => "starting",
            Self::Off => "off",
        }
    }
}

/// What the kernel must do after a keystroke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// Nothing.
    None,
    /// Input waits for the foreground: deliver it while its FIFO has room.
    Input,
    /// The foreground changed: route console input to its cores, deliver.
    Switched {
        /// The new foreground personality.
        to: usize,
    },
    /// Start personality `0` (it was off).
    Start(usize),
    /// Ask every running personality to power off, then power the board off.
    StopDevice,
    /// Power the board off now (asked twice).
    PowerOffNow,
}

/// The physical terminal.
pub trait Terminal {
    /// Writes bytes as they are.
    fn write(&mut self, bytes: &[u8]);
}

struct TerminalSink<'a, T: Terminal> {
    terminal: &'a mut T,
    mid_line: &'a mut bool,
}

impl<T: Terminal> filter::Sink for TerminalSink<'_, T> {
    fn put(&mut self, bytes: &[u8]) {
        if let Some(&last) = bytes.last() {
            *self.mid_line = last != b'\n';
        }
        self.terminal.write(bytes);
    }
}

/// Formats Janus' text to the terminal: every line in reverse video (which
/// no guest output can produce), `\n` as `\r\n`. [`JanusText::close`] ends
/// the last line's reverse video.
struct JanusText<'a, T: Terminal> {
    terminal: &'a mut T,
    open: bool,
}

impl<'a, T: Terminal> JanusText<'a, T> {
    fn new(terminal: &'a mut T) -> Self {
        Self { terminal, open: false }
    }

    fn close(&mut self) {
        if self.open {
            self.terminal.write(b"\x1b[0m");
            self.open = false;
        }
    }
}

impl<T: Terminal> Write for JanusText<'_, T> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        for (index, part) in text.split('\n').enumerate() {
            if index > 0 {
                self.close();
                self.terminal.write(b"\r\n");
            }
            if !part.is_empty() {
                if !self.open {
                    self.terminal.write(b"\x1b[7m");
                    self.open = true;
                }
                self.terminal.write(part.as_bytes());
            }
        }
        Ok(())
    }
}

/// Writes Janus' `text` (lines in reverse video, see [`JanusText`]).
fn janus_text(terminal: &mut impl Terminal, text: fmt::Arguments<'_>) {
    let mut writer = JanusText::new(terminal);
    let _ = writer.write_fmt(text);
    writer.close();
}

/// Formats text into the terminal as it is (inside the indicator, which
/// is already in reverse video).
struct Plain<'a, T: Terminal>(&'a mut T);

impl<T: Terminal> Write for Plain<'_, T> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        self.0.write(text.as_bytes());
        Ok(())
    }
}

/// One personality's side of the console.
struct Lane {
    name: String<NAME_BYTES>,
    ring: Deque<u8, RING_BYTES>,
    ring_dropped: u64,
    filter: OutputFilter,
    lifecycle: Lifecycle,
    input_dropped: u64,
    /// Keystrokes typed while it was in front, not yet in its FIFO.
    pending: Deque<u8, INPUT_BYTES>,
    /// Whether Janus said since the last switch that input is dropped.
    told_dropped: bool,
    tagged_line: Vec<u8, TAGGED_LINE>,
}

impl Lane {
    const fn new() -> Self {
        Self {
            name: String::new(),
            ring: Deque::new(),
            ring_dropped: 0,
            filter: OutputFilter::new(),
            lifecycle: Lifecycle::Running,
            input_dropped: 0,
            pending: Deque::new(),
            told_dropped: false,
            tagged_line: Vec::new(),
        }
    }

    /// Bytes its filter holds back (a possible `janus:`) go to its ring.
    fn release_to_ring(&mut self) {
        let Self { filter, ring, ring_dropped, .. } = self;
        filter.release(&mut |bytes: &[u8]| push_ring(ring, ring_dropped, bytes));
    }
}

/// Appends to a background ring, dropping (and counting) its oldest bytes.
fn push_ring(ring: &mut Deque<u8, RING_BYTES>, dropped: &mut u64, bytes: &[u8]) {
    for &byte in bytes {
        if ring.is_full() {
            let _ = ring.pop_front();
            *dropped += 1;
            // Never start the ring inside a UTF-8 character: a lone
            // continuation byte (0x9b...) is a C1 control to a terminal that
            // is not in UTF-8 mode.
            while ring.front().is_some_and(|front| front & 0xc0 == 0x80) {
                let _ = ring.pop_front();
                *dropped += 1;
            }
        }
        let _ = ring.push_back(byte);
    }
}

/// The console of up to `N` personalities.
pub struct Console<const N: usize> {
    lanes: [Lane; N],
    count: usize,
    mode: Mode,
    foreground: usize,
    command: bool,
    stopping: bool,
    /// The foreground whose background output is being replayed (its
    /// live output waits in its ring until the replay is done).
    replaying: Option<usize>,
    /// Whether the terminal's cursor is past the start of a line (false
    /// at first: all zero, so the console can live in BSS).
    mid_line: bool,
}

impl<const N: usize> Default for Console<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> Console<N> {
    /// A console with no personalities yet (all zero: it can live in BSS).
    pub const fn new() -> Self {
        Self {
            lanes: [const { Lane::new() }; N],
            count: 0,
            mode: Mode::Switched,
            foreground: 0,
            command: false,
            stopping: false,
            replaying: None,
            mid_line: false,
        }
    }

    /// Names the personalities (at most `N`; longer names are cut) and
    /// sets the mode; personality 0 is in front.
    pub fn configure<'a>(&mut self, mode: Mode, names: impl IntoIterator<Item = &'a str>) {
        self.mode = mode;
        self.count = 0;
        for (lane, name) in self.lanes.iter_mut().zip(names) {
            lane.name.clear();
            for character in name.chars() {
                if lane.name.push(character).is_err() {
                    break;
                }
            }
            self.count += 1;
        }
    }

    /// The personality in front.
    pub fn foreground(&self) -> usize {
        self.foreground
    }

    /// Whether a stop of the whole device was asked for.
    pub fn is_stopping(&self) -> bool {
        self.stopping
    }

    /// Output dropped from personality `index`'s ring so far.
    pub fn ring_dropped(&self, index: usize) -> u64 {
        self.lanes.get(index).map_or(0, |lane| lane.ring_dropped)
    }

    /// Control sequences neutralised in personality `index`'s output.
    pub fn neutralised(&self, index: usize) -> u64 {
        self.lanes.get(index).map_or(0, |lane| lane.filter.neutralised())
    }

    /// Keystrokes dropped for personality `index` (it was off, restarting,
    /// not reading, or a switch came first).
    pub fn input_dropped(&self, index: usize) -> u64 {
        self.lanes.get(index).map_or(0, |lane| lane.input_dropped)
    }

    /// Bytes waiting in personality `index`'s background ring.
    pub fn ring_len(&self, index: usize) -> usize {
        self.lanes.get(index).map_or(0, |lane| lane.ring.len())
    }

    /// One byte of output from personality `index`'s emulated UART.
    pub fn output(&mut self, index: usize, byte: u8, terminal: &mut impl Terminal) {
        let foreground = self.foreground;
        let Some(lane) = self.lanes.get_mut(index) else {
            return;
        };
        match self.mode {
            Mode::Tagged => {
                let Lane { filter, tagged_line, name, .. } = lane;
                let mut complete = false;
                let mut overflow: Vec<u8, 32> = Vec::new();
                filter.feed(byte, None, &mut |bytes: &[u8]| {
                    for &byte in bytes {
                        match byte {
                            b'\r' => {}
                            b'\n' => complete = true,
                            _ => {
                                if tagged_line.push(byte).is_err() {
                                    let _ = overflow.push(byte);
                                }
                            }
                        }
                    }
                });
                if complete || !overflow.is_empty() {
                    write_tagged(terminal, name, tagged_line);
                    tagged_line.clear();
                    let _ = tagged_line.extend_from_slice(&overflow);
                    self.mid_line = false;
                }
            }
            Mode::Switched if index == foreground && self.replaying != Some(index) => {
                let Lane { filter, name, .. } = lane;
                let mut sink = TerminalSink { terminal, mid_line: &mut self.mid_line };
                filter.feed(byte, Some(name.as_str()), &mut sink);
            }
            Mode::Switched => {
                let Lane { filter, name, ring, ring_dropped, .. } = lane;
                filter.feed(byte, Some(name.as_str()), &mut |bytes: &[u8]| push_ring(ring, ring_dropped, bytes));
            }
        }
    }

    /// One of Janus' own lines (`text` without a newline): on a line of its
    /// own, then the foreground's unfinished line is drawn again.
    pub fn janus_line(&mut self, text: fmt::Arguments<'_>, terminal: &mut impl Terminal) {
        self.begin_janus_text(terminal);
        janus_text(terminal, format_args!("{text}\n"));
        self.end_janus_text(terminal);
    }

    /// The foreground's held bytes out, and a fresh line.
    fn begin_janus_text(&mut self, terminal: &mut impl Terminal) {
        if self.mode == Mode::Switched
            && let Some(lane) = self.lanes.get_mut(self.foreground)
        {
            let mut sink = TerminalSink { terminal, mid_line: &mut self.mid_line };
            lane.filter.release(&mut sink);
        }
        if self.mid_line {
            terminal.write(b"\r\n");
        }
    }

    /// After Janus' text: the foreground's unfinished line again.
    fn end_janus_text(&mut self, terminal: &mut impl Terminal) {
        self.mid_line = false;
        if self.mode == Mode::Switched
            && let Some(lane) = self.lanes.get(self.foreground)
        {
            let line = lane.filter.current_line();
            if !line.is_empty() {
                terminal.write(line);
                self.mid_line = true;
            }
        }
    }

    /// Janus' indicator: `janus: foreground is NAME` (and its state) in
    /// reverse video on a line of its own, then `extra` as a plain line.
    pub fn announce(&mut self, extra: Option<&str>, terminal: &mut impl Terminal) {
        self.begin_janus_text(terminal);
        self.indicator(terminal);
        if let Some(extra) = extra {
            janus_text(terminal, format_args!("janus: {extra}\n"));
        }
        self.end_janus_text(terminal);
    }

    fn indicator(&mut self, terminal: &mut impl Terminal) {
        let Some(lane) = self.lanes.get(self.foreground) else {
            return;
        };
        terminal.write(INDICATOR_ON);
        let _ = core::fmt::Write::write_fmt(&mut Plain(terminal), format_args!("janus: foreground is {}", lane.name));
        match lane.lifecycle {
            Lifecycle::Running => {}
            Lifecycle::Restarting => terminal.write(b" (starting)"),
            Lifecycle::Off => terminal.write(b" (off: Ctrl-\\ s starts it)"),
        }
        terminal.write(INDICATOR_OFF);
    }

    /// Brings the next personality to the front and starts its replay
    /// (what it printed in the background, then the indicator and its
    /// unfinished line again): [`Console::replay_step`] shows it a piece at
    /// a time. What was typed for the old foreground stays its own.
    pub fn switch(&mut self, terminal: &mut impl Terminal) -> usize {
        let count = self.count.max(1);
        let to = (self.foreground + 1) % count;
        self.command = false;
        if self.mode == Mode::Switched
            && let Some(lane) = self.lanes.get_mut(self.foreground)
        {
            // What the old foreground held back goes to its ring, in order.
            lane.release_to_ring();
        }
        self.foreground = to;
        let mode = self.mode;
        let Some(lane) = self.lanes.get_mut(to) else {
            return to;
        };
        lane.told_dropped = false;
        if mode == Mode::Switched {
            // What it holds back goes to the ring too: shown in the replay.
            lane.release_to_ring();
            if self.mid_line {
                terminal.write(b"\r\n");
                self.mid_line = false;
            }
            if lane.ring_dropped > 0 {
                janus_text(terminal, format_args!("janus: {} bytes of {}'s earlier output did not fit its 64 KiB buffer\n", lane.ring_dropped, lane.name));
                lane.ring_dropped = 0;
            }
            self.replaying = Some(to);
        } else {
            self.announce(None, terminal);
        }
        to
    }

    /// Replays up to `bytes` bytes of personality `index`'s background
    /// output; once all is shown, the indicator and its unfinished line.
    /// True while there is more to show.
    pub fn replay_step(&mut self, index: usize, bytes: usize, terminal: &mut impl Terminal) -> bool {
        if self.replaying != Some(index) {
            return false;
        }
        let Some(lane) = self.lanes.get_mut(index) else {
            self.replaying = None;
            return false;
        };
        let mut piece: Vec<u8, 256> = Vec::new();
        while piece.len() < bytes.min(256) {
            let Some(byte) = lane.ring.pop_front() else { break };
            let _ = piece.push(byte);
        }
        if let Some(&last) = piece.last() {
            terminal.write(&piece);
            self.mid_line = last != b'\n';
            return true;
        }
        self.replaying = None;
        self.announce(None, terminal);
        false
    }

    /// One byte from the keyboard.
    pub fn input(&mut self, byte: u8, terminal: &mut impl Terminal) -> Event {
        if self.command {
            self.command = false;
            return self.command_key(byte, terminal);
        }
        match byte {
            HOTKEY => Event::Switched { to: self.switch(terminal) },
            COMMAND_KEY => {
                self.command = true;
                Event::None
            }
            _ => self.queue(byte, terminal),
        }
    }

    fn command_key(&mut self, byte: u8, terminal: &mut impl Terminal) -> Event {
        let foreground = self.foreground;
        let Some(lane) = self.lanes.get(foreground) else {
            return Event::None;
        };
        let (name, lifecycle) = (lane.name.clone(), lane.lifecycle);
        match byte {
            b'i' | b'I' | b'?' => {
                self.status(terminal);
                Event::None
            }
            b's' | b'S' if self.stopping => {
                self.janus_line(format_args!("janus: the device is stopping: {name} stays off"), terminal);
                Event::None
            }
            b's' | b'S' => match lifecycle {
                Lifecycle::Off => {
                    self.set_lifecycle(foreground, Lifecycle::Restarting, terminal);
                    self.janus_line(format_args!("janus: starting {name}"), terminal);
                    Event::Start(foreground)
                }
                Lifecycle::Running | Lifecycle::Restarting => {
                    self.janus_line(format_args!("janus: {name} is already {}", lifecycle.describe()), terminal);
                    Event::None
                }
            },
            b'q' | b'Q' => {
                if self.stopping {
                    self.janus_line(format_args!("janus: powering off now"), terminal);
                    Event::PowerOffNow
                } else {
                    self.stopping = true;
                    self.janus_line(
                        format_args!("janus: stopping the device: every personality is asked to power off (Ctrl-\\ q again powers off at once)"),
                        terminal,
                    );
                    Event::StopDevice
                }
            }
            b'h' | b'H' => {
                self.janus_line(format_args!("janus: console keys: {KEYS_HELP}; Ctrl-\\ Ctrl-\\ sends Ctrl-\\"), terminal);
                Event::None
            }
            COMMAND_KEY | HOTKEY => self.queue(byte, terminal),
            _ => {
                self.janus_line(format_args!("janus: no such console command; Ctrl-\\ h lists them"), terminal);
                Event::None
            }
        }
    }

    /// Who is in front, and how every personality is.
    pub fn status(&mut self, terminal: &mut impl Terminal) {
        self.begin_janus_text(terminal);
        self.indicator(terminal);
        for lane in self.lanes.iter().take(self.count) {
            janus_text(
                terminal,
                format_args!(
                    "janus: {}: {}; {} bytes waiting to be shown; {} keystrokes dropped; {} control sequences neutralised\n",
                    lane.name,
                    lane.lifecycle.describe(),
                    lane.ring.len(),
                    lane.input_dropped,
                    lane.filter.neutralised()
                ),
            );
        }
        self.end_janus_text(terminal);
    }

    fn queue(&mut self, byte: u8, terminal: &mut impl Terminal) -> Event {
        let Some(lane) = self.lanes.get_mut(self.foreground) else {
            return Event::None;
        };
        let problem = match lane.lifecycle {
            Lifecycle::Running => match lane.pending.push_back(byte) {
                Ok(()) => return Event::Input,
                Err(_) => "is not reading its console: keystrokes are dropped",
            },
            Lifecycle::Restarting => "is starting: keystrokes are dropped until it runs",
            Lifecycle::Off => "is off: keystrokes are dropped (Ctrl-\\ s starts it, Ctrl-] switches)",
        };
        lane.input_dropped += 1;
        if !lane.told_dropped {
            lane.told_dropped = true;
            let name = lane.name.clone();
            self.janus_line(format_args!("janus: {name} {problem}"), terminal);
        }
        Event::None
    }

    /// The next keystroke for personality `index`, typed while it was the
    /// running foreground, if one waits. When it is in front, its
    /// held-back output is shown first, so its echo comes after what it
    /// printed before.
    pub fn next_input(&mut self, index: usize, terminal: &mut impl Terminal) -> Option<u8> {
        let foreground = index == self.foreground;
        let lane = self.lanes.get_mut(index)?;
        if lane.lifecycle != Lifecycle::Running || lane.pending.is_empty() {
            return None;
        }
        if foreground && self.mode == Mode::Switched {
            let mut sink = TerminalSink { terminal, mid_line: &mut self.mid_line };
            lane.filter.release(&mut sink);
        }
        lane.pending.pop_front()
    }

    /// Whether keystrokes wait for personality `index`.
    pub fn has_input(&self, index: usize) -> bool {
        self.lanes.get(index).is_some_and(|lane| !lane.pending.is_empty())
    }

    /// Personality `index` changed state. Restarting (a reset, a start)
    /// empties its ring and filter: nothing of its previous run remains.
    /// Stopping writes out its unfinished tagged line.
    pub fn set_lifecycle(&mut self, index: usize, lifecycle: Lifecycle, terminal: &mut impl Terminal) {
        let foreground = index == self.foreground;
        let mode = self.mode;
        let Some(lane) = self.lanes.get_mut(index) else {
            return;
        };
        if lane.lifecycle == lifecycle {
            return;
        }
        lane.lifecycle = lifecycle;
        lane.told_dropped = false;
        // What was typed for its previous run is not for the next one.
        lane.input_dropped += lane.pending.len() as u64;
        lane.pending.clear();
        match lifecycle {
            Lifecycle::Restarting => {
                if mode == Mode::Tagged && !lane.tagged_line.is_empty() {
                    write_tagged(terminal, &lane.name, &lane.tagged_line);
                    self.mid_line = false;
                }
                let Some(lane) = self.lanes.get_mut(index) else {
                    return;
                };
                lane.ring.clear();
                lane.ring_dropped = 0;
                lane.filter.reset();
                lane.tagged_line.clear();
            }
            Lifecycle::Off => {
                if mode == Mode::Tagged && !lane.tagged_line.is_empty() {
                    write_tagged(terminal, &lane.name, &lane.tagged_line);
                    lane.tagged_line.clear();
                    self.mid_line = false;
                }
                if foreground && mode == Mode::Switched {
                    let name = lane.name.clone();
                    self.janus_line(format_args!("janus: {name} is off: Ctrl-\\ s starts it, Ctrl-] switches"), terminal);
                }
            }
            Lifecycle::Running => {}
        }
    }

    /// Personality `index`'s state.
    pub fn lifecycle(&self, index: usize) -> Option<Lifecycle> {
        self.lanes.get(index).map(|lane| lane.lifecycle)
    }
}

fn write_tagged(terminal: &mut impl Terminal, name: &str, line: &[u8]) {
    terminal.write(b"[");
    terminal.write(name.as_bytes());
    terminal.write(b"] ");
    terminal.write(line);
    terminal.write(b"\r\n");
}

#[cfg(test)]
mod tests;
