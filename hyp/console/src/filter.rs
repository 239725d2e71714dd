//! What a guest may draw on the shared terminal (ECMA-48 control functions,
//! as xterm interprets them). Everything that could move the cursor off the
//! guest's current line, clear or scroll the screen, change the terminal's
//! modes, retitle it, or ask it a question (whose answer would arrive as
//! keyboard input, possibly after a switch, for the other personality) is
//! dropped and counted. What stays: printable text (ASCII and well-formed
//! UTF-8), newline, carriage return, tab, backspace, bell, and a few CSI
//! sequences that act on the current line only: cursor forward/back
//! (`CUF`, `CUB`), erase in line (`EL`), erase below (`ED 0`, the cursor
//! never leaves the bottom line), and SGR limited to bold, dim, italic,
//! underline and foreground colours. Reverse video and background colours
//! are Janus' own: no guest can draw its indicator.
//!
//! A guest line that contains `janus:` (any case) is marked with the
//! guest's name in front of it, so a forged Janus line is visibly the
//! guest's. Tagged lines (printed whole, the name in front) keep only
//! colours and attributes: backspace and cursor or erase sequences could
//! rub out the name.

use heapless::Vec;

/// What Janus' own lines start with, lowercase: guest text that spells it
/// gets the guest's name in front.
const JANUS_PREFIX: &[u8] = b"janus:";
/// Longest CSI parameter string kept; longer sequences are dropped.
const CSI_LENGTH: usize = 24;
/// Longest control string (OSC, DCS, APC, PM, SOS) skipped before the filter
/// gives up on its terminator and returns to text.
const STRING_LENGTH: usize = 4096;
/// Bytes held back while they may be the start of `janus:` (the prefix
/// letters and any allowed CSI sequences between them).
const HELD_BYTES: usize = 128;
/// Longest mark put in front of a guest's `janus:` (`[name] `).
const MARK_BYTES: usize = 24;
/// Bytes of the current line remembered for redrawing it.
pub const LINE_BYTES: usize = 256;

/// SGR parameters a guest may use (ECMA-48 §8.3.117): reset, bold, dim,
/// italic, underline, their resets, and the foreground colours.
fn allowed_graphic_rendition(parameter: u16) -> bool {
    matches!(parameter, 0..=4 | 22..=24 | 30..=37 | 39 | 90..=97)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Text,
    /// After ESC.
    Escape,
    /// After ESC and an intermediate byte (`ESC ( B`): waiting for the final.
    EscapeIntermediate,
    /// Inside `ESC [`; `overflow` once the parameters exceeded CSI_LENGTH.
    ControlSequence {
        overflow: bool,
    },
    /// Inside an OSC/DCS/APC/PM/SOS string, `length` bytes in.
    ControlString {
        length: usize,
    },
    /// ESC inside a control string: `\` ends it.
    ControlStringEscape,
    /// Inside a UTF-8 sequence: `remaining` continuation bytes expected.
    Utf8 {
        remaining: u8,
        code_point: u32,
        length: u8,
    },
}

/// One personality's output filter.
#[derive(Debug, Clone)]
pub struct OutputFilter {
    state: State,
    parameters: Vec<u8, CSI_LENGTH>,
    utf8: Vec<u8, 4>,
    held: Vec<u8, HELD_BYTES>,
    matched: usize,
    line: Vec<u8, LINE_BYTES>,
    neutralised: u64,
}

impl Default for OutputFilter {
    fn default() -> Self {
        Self::new()
    }
}

/// Where filtered bytes go (taken as `dyn`: one copy of the filter serves
/// the terminal, the background rings and tagged lines).
pub trait Sink {
    /// Takes filtered bytes.
    fn put(&mut self, bytes: &[u8]);
}

impl<F: FnMut(&[u8])> Sink for F {
    fn put(&mut self, bytes: &[u8]) {
        self(bytes);
    }
}

impl OutputFilter {
    /// A filter at the start of a line.
    pub const fn new() -> Self {
        Self { state: State::Text, parameters: Vec::new(), utf8: Vec::new(), held: Vec::new(), matched: 0, line: Vec::new(), neutralised: 0 }
    }

    /// Control sequences and characters dropped or shown escaped so far.
    pub fn neutralised(&self) -> u64 {
        self.neutralised
    }

    /// The current (unfinished) line as it was drawn, for redrawing it.
    pub fn current_line(&self) -> &[u8] {
        &self.line
    }

    /// Whether bytes are held back (they may start `janus:`).
    pub fn is_holding(&self) -> bool {
        !self.held.is_empty()
    }

    /// Filters one byte of guest output; `mark` names the guest for lines
    /// that spell `janus:` (None: the caller marks every line itself).
    pub fn feed(&mut self, byte: u8, mark: Option<&str>, sink: &mut dyn Sink) {
        match self.state {
            State::Text => self.text(byte, mark, sink),
            State::Escape => self.escape(byte, mark, sink),
            State::EscapeIntermediate => {
                if byte < 0x20 {
                    self.abandon(byte, mark, sink);
                } else if (0x30..0x7f).contains(&byte) {
                    self.drop_sequence();
                }
            }
            State::ControlSequence { overflow } => self.control_sequence(byte, overflow, mark, sink),
            State::ControlString { length } => match byte {
                0x07 | 0x18 | 0x1a => self.drop_sequence(),
                0x1b => self.state = State::ControlStringEscape,
                _ if length >= STRING_LENGTH => self.drop_sequence(),
                _ => self.state = State::ControlString { length: length + 1 },
            },
            State::ControlStringEscape => {
                self.drop_sequence();
                if byte != b'\\' {
                    // ESC ended the string and starts something new.
                    self.state = State::Escape;
                    self.escape(byte, mark, sink);
                }
            }
            State::Utf8 { remaining, code_point, length } => self.utf8_continuation(byte, remaining, code_point, length, mark, sink),
        }
    }

    /// Sends out bytes held back for the `janus:` check (before anything
    /// else is written to the terminal, or when input goes to the guest).
    pub fn release(&mut self, sink: &mut dyn Sink) {
        if !self.held.is_empty() {
            let held = core::mem::take(&mut self.held);
            self.emit_visible(&held, sink);
        }
        self.matched = 0;
    }

    /// Back to the state of a freshly reset guest: nothing held, no line,
    /// no counts.
    pub fn reset(&mut self) {
        *self = Self::new();
    }

    fn text(&mut self, byte: u8, mark: Option<&str>, sink: &mut dyn Sink) {
        match byte {
            0x1b => self.state = State::Escape,
            0x20..=0x7e => self.printable(&[byte], mark, sink),
            b'\n' => {
                self.release(sink);
                sink.put(b"\n");
                self.line.clear();
            }
            b'\r' | b'\t' => {
                self.release(sink);
                self.emit_visible(&[byte], sink);
            }
            // The bell draws nothing: it cannot split `janus:` unseen.
            0x07 => self.invisible(&[byte], sink),
            0x08 if mark.is_none() => {
                // Tagged lines are whole: moving back could only rub out
                // the personality's name in front of the line.
                self.neutralised += 1;
                self.printable(b"^H", mark, sink);
            }
            0x08 => {
                // Backspace moves back over text already shown: what it
                // rewrites is not checked for `janus:` again.
                self.release(sink);
                self.emit_visible(&[byte], sink);
            }
            0x00 => {}
            0x80..=0xff => self.utf8_start(byte, mark, sink),
            control => {
                // Other C0 controls (shift-out to a line-drawing set, form
                // feed, vertical tab...): shown in caret notation.
                self.neutralised += 1;
                let shown = if control == 0x7f { b'?' } else { control | 0x40 };
                self.printable(&[b'^', shown], mark, sink);
            }
        }
    }

    fn escape(&mut self, byte: u8, mark: Option<&str>, sink: &mut dyn Sink) {
        match byte {
            b'[' => {
                self.parameters.clear();
                self.state = State::ControlSequence { overflow: false };
            }
            b']' | b'P' | b'X' | b'^' | b'_' => self.state = State::ControlString { length: 0 },
            0x20..=0x2f => self.state = State::EscapeIntermediate,
            0x30..=0x7e => self.drop_sequence(),
            _ => self.abandon(byte, mark, sink),
        }
    }

    fn control_sequence(&mut self, byte: u8, overflow: bool, mark: Option<&str>, sink: &mut dyn Sink) {
        match byte {
            0x20..=0x3f => {
                let overflow = overflow || self.parameters.push(byte).is_err();
                self.state = State::ControlSequence { overflow };
            }
            0x40..=0x7e => {
                if !overflow && allowed_control_sequence(&self.parameters, byte, mark.is_some()) {
                    self.state = State::Text;
                    let mut sequence: Vec<u8, { CSI_LENGTH + 3 }> = Vec::new();
                    let _ = sequence.extend_from_slice(b"\x1b[");
                    let _ = sequence.extend_from_slice(&self.parameters);
                    let _ = sequence.push(byte);
                    if byte == b'D' {
                        // Back over text already shown (see backspace).
                        self.release(sink);
                    }
                    self.invisible(&sequence, sink);
                } else {
                    self.drop_sequence();
                }
            }
            _ => self.abandon(byte, mark, sink),
        }
    }

    /// A control byte inside an escape sequence: the sequence is dropped
    /// and the byte handled as text (ECMA-48's CAN/SUB cancel; xterm acts
    /// on embedded C0 controls).
    fn abandon(&mut self, byte: u8, mark: Option<&str>, sink: &mut dyn Sink) {
        self.drop_sequence();
        if !matches!(byte, 0x18 | 0x1a) {
            self.text(byte, mark, sink);
        }
    }

    fn drop_sequence(&mut self) {
        self.neutralised += 1;
        self.state = State::Text;
    }

    fn utf8_start(&mut self, byte: u8, mark: Option<&str>, sink: &mut dyn Sink) {
        let (remaining, code_point) = match byte {
            0xc2..=0xdf => (1, u32::from(byte & 0x1f)),
            0xe0..=0xef => (2, u32::from(byte & 0x0f)),
            0xf0..=0xf4 => (3, u32::from(byte & 0x07)),
            _ => {
                self.replacement(mark, sink);
                return;
            }
        };
        self.utf8.clear();
        let _ = self.utf8.push(byte);
        self.state = State::Utf8 { remaining, code_point, length: remaining + 1 };
    }

    fn utf8_continuation(&mut self, byte: u8, remaining: u8, code_point: u32, length: u8, mark: Option<&str>, sink: &mut dyn Sink) {
        if byte & 0xc0 != 0x80 {
            self.state = State::Text;
            self.replacement(mark, sink);
            self.text(byte, mark, sink);
            return;
        }
        let code_point = (code_point << 6) | u32::from(byte & 0x3f);
        let _ = self.utf8.push(byte);
        if remaining > 1 {
            self.state = State::Utf8 { remaining: remaining - 1, code_point, length };
            return;
        }
        self.state = State::Text;
        let shortest = match length {
            2 => 0x80,
            3 => 0x800,
            _ => 0x1_0000,
        };
        // Overlong forms, surrogates, beyond U+10FFFF and the C1 controls
        // (U+0080..U+009F, which some terminals obey as CSI and friends).
        let valid = code_point >= shortest && !(0xd800..0xe000).contains(&code_point) && code_point <= 0x10_ffff && !(0x80..0xa0).contains(&code_point);
        if valid {
            let encoded = self.utf8.clone();
            self.printable(&encoded, mark, sink);
        } else {
            self.replacement(mark, sink);
        }
    }

    fn replacement(&mut self, mark: Option<&str>, sink: &mut dyn Sink) {
        self.neutralised += 1;
        self.printable("\u{fffd}".as_bytes(), mark, sink);
    }

    /// Visible text: checked for `janus:` when marking.
    fn printable(&mut self, bytes: &[u8], mark: Option<&str>, sink: &mut dyn Sink) {
        let Some(name) = mark else {
            self.emit_visible(bytes, sink);
            return;
        };
        let [byte] = bytes else {
            self.release(sink);
            self.emit_visible(bytes, sink);
            return;
        };
        let lower = byte.to_ascii_lowercase();
        if JANUS_PREFIX.get(self.matched) != Some(&lower) {
            self.release(sink);
            if JANUS_PREFIX.first() != Some(&lower) {
                self.emit_visible(bytes, sink);
                return;
            }
        }
        if self.held.push(*byte).is_err() {
            self.release(sink);
            self.emit_visible(bytes, sink);
            return;
        }
        self.matched += 1;
        if self.matched == JANUS_PREFIX.len() {
            let held = core::mem::take(&mut self.held);
            self.matched = 0;
            let mut marked: Vec<u8, { HELD_BYTES + MARK_BYTES }> = Vec::new();
            let _ = marked.push(b'[');
            let _ = marked.extend_from_slice(name.as_bytes().get(..MARK_BYTES - 3).unwrap_or(name.as_bytes()));
            let _ = marked.extend_from_slice(b"] ");
            let _ = marked.extend_from_slice(&held);
            self.emit_visible(&marked, sink);
        }
    }

    /// An allowed control sequence: held with the text around it while a
    /// `janus:` check is open, so it cannot split the word unseen.
    fn invisible(&mut self, bytes: &[u8], sink: &mut dyn Sink) {
        if self.matched > 0 {
            if self.held.extend_from_slice(bytes).is_ok() {
                return;
            }
            self.release(sink);
        }
        self.emit_visible(bytes, sink);
    }

    fn emit_visible(&mut self, bytes: &[u8], sink: &mut dyn Sink) {
        if self.line.extend_from_slice(bytes).is_err() {
            // A very long line: remember what comes from here on (a redraw
            // never starts inside a piece, such as a mark and its word).
            self.line.clear();
            let _ = self.line.extend_from_slice(bytes);
        }
        sink.put(bytes);
    }
}

/// Whether `ESC [ parameters final` acts on the current line only; with
/// `line_editing` false (tagged lines, which are printed whole after the
/// personality's name) only colours and attributes are.
fn allowed_control_sequence(parameters: &[u8], final_byte: u8, line_editing: bool) -> bool {
    // Private markers (`?`, `<`, `=`, `>`), sub-parameters and intermediates
    // belong to modes and extensions: none is allowed.
    if !parameters.iter().all(|byte| byte.is_ascii_digit() || *byte == b';') {
        return false;
    }
    let mut values = parameters.split(|byte| *byte == b';').map(parse_parameter);
    let count = parameters.split(|byte| *byte == b';').count();
    match final_byte {
        b'm' => values.all(|value| value.is_some_and(allowed_graphic_rendition)),
        _ if !line_editing => false,
        b'K' => count == 1 && values.all(|value| matches!(value, Some(0..=2))),
        b'J' => count == 1 && values.all(|value| value == Some(0)),
        b'C' | b'D' => count == 1 && values.all(|value| value.is_some()),
        _ => false,
    }
}

/// A numeric parameter (empty means 0); None past u16.
fn parse_parameter(digits: &[u8]) -> Option<u16> {
    digits.iter().try_fold(0u16, |value, digit| value.checked_mul(10)?.checked_add(u16::from(digit.checked_sub(b'0')?)))
}
