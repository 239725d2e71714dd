//! `say!` for the host: lines are collected for the tests to read.

use std::fmt;
use std::sync::Mutex;

static LINES: Mutex<String> = Mutex::new(String::new());

/// Appends formatted text to the captured output (and echoes it).
pub fn print(arguments: fmt::Arguments<'_>) {
    let text = arguments.to_string();
    print!("{text}");
    LINES.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).push_str(&text);
}

/// Takes the lines printed so far.
pub fn take_lines() -> Vec<String> {
    let text = std::mem::take(&mut *LINES.lock().unwrap_or_else(|poisoned| poisoned.into_inner()));
    text.lines().map(str::to_owned).collect()
}

/// `testguest: ...` lines, as on the target.
#[macro_export]
macro_rules! say {
    ($($argument:tt)*) => {
        $crate::console::print(format_args!("testguest: {}\n", format_args!($($argument)*)))
    };
}
