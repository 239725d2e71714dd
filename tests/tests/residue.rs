//! No residue across a personality's restart: after SYSTEM_RESET, every
//! EL1/EL0 register Janus resets (stack pointers, thread registers, the
//! EL1 translation and exception registers, FP/SIMD with FPCR and FPSR,
//! the timers' compare values, pointer-authentication keys where the core
//! has them, and the virtual CPU interface's active priorities) reads its
//! reset value at the restarted guest's first instruction.

use janus_tests::{Machine, test_manifest};

#[test]
fn no_el1_state_survives_a_system_reset() {
    let machine = Machine::boot(&test_manifest("residue", ""));
    let report = "[personal] testguest: residue ";
    let (first, line) = machine.wait_for(report);
    assert!(line.contains("residue ok: 29 registers at their reset values"), "first boot: {line}");
    let (planted, line) = machine.wait_for_after(first, "[personal] testguest: residue planted");
    assert!(line.contains("SGI 5 left active"), "{line}");
    let (reset, _) = machine.wait_for_after(planted, "janus: personal: SYSTEM_RESET");
    let (_, line) = machine.wait_for_after(reset, report);
    assert!(line.contains("residue ok: 29 registers at their reset values"), "after SYSTEM_RESET: {line}");
    machine.assert_absent("residue FAIL");
    machine.assert_absent("janus: error");
}
