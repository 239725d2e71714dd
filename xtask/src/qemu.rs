//! Starting QEMU on a built image.

use std::path::Path;
use std::process::Command;

/// How the console is attached.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Console {
    /// The terminal (interactive `cargo xtask run`; Ctrl-A X quits QEMU).
    Terminal,
    /// Serial on stdin/stdout pipes, no monitor (tests).
    Pipes,
}

/// The QEMU command for `image` with the board's arguments.
pub fn command(image: &Path, board_arguments: &[String], console: Console, extra: &[String]) -> Command {
    let mut command = Command::new("qemu-system-aarch64");
    command.args(board_arguments);
    command.arg("-kernel").arg(image);
    match console {
        Console::Terminal => {
            command.arg("-nographic");
        }
        Console::Pipes => {
            command.args(["-display", "none", "-monitor", "none", "-serial", "stdio"]);
        }
    }
    command.args(extra);
    command
}
