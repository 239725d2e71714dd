//! Device passthrough: QEMU virt's PL031 RTC (0x0901_0000, SPI 2 = INTID
//! 34, level-high) given to personal in the manifest. Personal's test guest
//! drives it (`rtc=`): its alarms arrive as hardware interrupts that Janus
//! injects with the HW bit, so the guest's ordinary EOI deactivates the
//! physical line and the next alarm can come. Work, which does not own the
//! RTC, cannot touch it, and the build refuses manifests that share a
//! device or hand out one of Janus' own interrupts.

use janus_tests::{DeviceFile, Machine, RangeFile, build_image, test_system};

/// Personal's guest argument that drives the RTC.
const RTC_ARGUMENT: &str = "rtc=0x09010000@34";

/// The RTC's `[[personality.device]]` table, with its interrupt (34).
fn rtc_device(interrupt: u32) -> DeviceFile {
    DeviceFile::new("rtc", RangeFile::new(0x0901_0000, "4K"), &[interrupt], &["arm,pl031", "arm,primecell"])
}

/// The test manifest (from [`test_system`], with these guest arguments)
/// with `personal_devices` given to personal and `work_devices` to work.
fn with_devices(personal_arguments: &str, work_arguments: &str, personal_devices: &[DeviceFile], work_devices: &[DeviceFile]) -> String {
    let mut system = test_system(personal_arguments, work_arguments);
    system.personalities[0].devices = personal_devices.to_vec();
    system.personalities[1].devices = work_devices.to_vec();
    system.to_toml()
}

/// Waits for personal's three alarms and `rtc done` after `from`; checks
/// each alarm's RTCDR is larger than the one before (and than the start
/// time). Returns the index of the `rtc done` line.
fn expect_alarms(machine: &Machine, from: usize) -> usize {
    let (start_line, start) = machine.wait_for_after(from, "[personal] testguest: rtc now=");
    let mut previous: u64 = start.rsplit('=').next().and_then(|number| number.trim().parse().ok()).unwrap_or_else(|| panic!("malformed start line: {start}"));
    let mut index = start_line;
    for alarm in 1..=3 {
        let prefix = format!("[personal] testguest: rtc alarm {alarm} at ");
        let (found, line) = machine.wait_for_after(index, &prefix);
        let at: u64 = line[line.find(&prefix).unwrap() + prefix.len()..].trim().parse().unwrap_or_else(|_| panic!("malformed alarm line: {line}"));
        assert!(at > previous, "RTCDR did not increase: alarm {alarm} at {at} after {previous}");
        previous = at;
        index = found;
    }
    machine.wait_for_after(index, "[personal] testguest: rtc done").0
}

#[test]
fn personal_owns_the_rtc_and_takes_its_alarms_as_hardware_interrupts() {
    let manifest = with_devices(RTC_ARGUMENT, "", &[rtc_device(34)], &[]);
    let machine = Machine::boot(&manifest);
    let done = expect_alarms(&machine, 0);
    // Both personalities keep running; no interrupt went astray.
    let personal = machine.expect_heartbeats("personal", done, 10);
    let work = machine.expect_heartbeats("work", done, 10);
    for (name, index) in [("personal", personal), ("work", work)] {
        let line = &machine.lines()[index];
        assert!(line.contains("unexpected=0"), "{name} took an interrupt it did not ask for: {line}");
    }
    machine.assert_absent("janus: error");
    machine.assert_absent("testguest: rtc FAIL");
    machine.assert_absent("[work] testguest: rtc");
}

#[test]
fn work_cannot_read_or_write_the_rtc_it_does_not_own() {
    let manifest = with_devices(RTC_ARGUMENT, "attack=read@0x09010000 attack=write@0x09010000", &[rtc_device(34)], &[]);
    let machine = Machine::boot(&manifest);
    machine.wait_for("[work] testguest: attack read 0x9010000 contained: abort");
    machine.wait_for("[work] testguest: attack write 0x9010000 contained: abort");
    // Personal's RTC is undisturbed.
    let done = expect_alarms(&machine, 0);
    machine.expect_heartbeats("personal", done, 5);
    machine.expect_heartbeats("work", done, 5);
    machine.assert_absent("NOT CONTAINED");
    machine.assert_absent("janus: error");
    machine.assert_absent("testguest: rtc FAIL");
}

#[test]
fn the_rtc_given_to_both_personalities_is_refused() {
    let manifest = with_devices("", "", &[rtc_device(34)], &[rtc_device(34)]);
    let error = build_image(&manifest).unwrap_err();
    assert!(error.contains(".toml:"), "no line: {error}");
    assert!(error.contains("personality \"work\" device \"rtc\" mmio.base"), "{error}");
    assert!(error.contains("overlaps personality \"personal\" device \"rtc\"'s MMIO 0x9010000..0x9011000"), "{error}");
    assert!(error.contains("Fix: give the device to one personality only"), "{error}");
    assert!(error.contains("personality \"work\" device \"rtc\" interrupts[0]: interrupt 34 is already given to"), "{error}");
}

#[test]
fn janus_own_uart_interrupt_is_refused() {
    let manifest = with_devices("", "", &[rtc_device(33)], &[]);
    let error = build_image(&manifest).unwrap_err();
    assert!(error.contains(".toml:"), "no line: {error}");
    assert!(error.contains("personality \"personal\" device \"rtc\" interrupts[0]: interrupt 33 belongs to Janus' console UART"), "{error}");
    assert!(error.contains("Fix: remove interrupt 33"), "{error}");
}

/// A personality restarting with its device's interrupt possibly active
/// (SYSTEM_RESET two seconds in, between alarms): Janus quiesces the line
/// when it stops and re-enables it when it starts, so the restarted guest
/// takes alarms again.
#[test]
fn the_rtc_interrupt_works_again_after_its_owner_restarts() {
    let manifest = with_devices(&format!("{RTC_ARGUMENT} attack=reset@100"), "", &[rtc_device(34)], &[]);
    let machine = Machine::boot(&manifest);
    let (first, _) = machine.wait_for("[personal] testguest: rtc alarm 1 at ");
    let (reset, _) = machine.wait_for_after(first, "janus: personal: SYSTEM_RESET");
    let (again, _) = machine.wait_for_after(reset, "[personal] testguest: rtc now=");
    machine.wait_for_after(again, "[personal] testguest: rtc alarm 1 at ");
    machine.expect_heartbeats("work", reset, 5);
    machine.assert_absent("janus: error");
}
