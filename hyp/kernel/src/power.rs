//! Powering the board off (PSCI SYSTEM_OFF, DEN 0022 §5.10, to the
//! firmware).

use crate::arch;

/// PSCI SYSTEM_OFF.
const PSCI_SYSTEM_OFF: u64 = 0x8400_0008;

/// Powers the board off; `failure` says Janus stops because something is
/// wrong (the reason was printed before).
pub fn power_off_board(failure: bool) -> ! {
    let _ = failure; // The firmware's SYSTEM_OFF carries no status.
    let _ = arch::secure_monitor_call(PSCI_SYSTEM_OFF, 0, 0, 0); // Returns only if it failed.
    arch::halt()
}
