//! `[[personality.device]]` tables: the model they parse to and the
//! `FILE:LINE` of their problems.

use janus_platform::PhysRange;

use super::{SAMPLE, board, rtc, sample_with_rtc};
use crate::parse::{ManifestErrorKind, ManifestErrors, load, parse};
use crate::validate::ValidationError;

fn rendered(errors: &ManifestErrors) -> Vec<String> {
    errors.errors.iter().map(ToString::to_string).collect()
}

/// The RTC's table, to put after a personality's table.
const RTC: &str = r#"
[[personality.device]]
name = "rtc"
mmio = { base = 0x0901_0000, size = "4K" }
interrupts = [34]
compatible = ["arm,pl031", "arm,primecell"]
"#;

/// [`SAMPLE`] with `personal_devices` after personal's table and
/// `work_devices` after work's. Personal's first device table starts at
/// line 12 (its `name` on 13, `mmio` on 14, `interrupts` on 15).
fn with_devices(personal_devices: &str, work_devices: &str) -> String {
    let (personal, work) = SAMPLE.split_once("\n[[personality]]\nname = \"work\"").unwrap();
    format!("{personal}{personal_devices}\n[[personality]]\nname = \"work\"{work}{work_devices}")
}

#[test]
fn device_tables_parse_to_the_model() {
    let text = with_devices(RTC, "");
    assert_eq!(load("janus.toml", &text, &board()), Ok(sample_with_rtc()));
    // Devices of both personalities, with an interrupt-less one and the
    // inline array form.
    let text = with_devices(
        &format!("{RTC}\n[[personality.device]]\nname = \"flash\"\nmmio = {{ base = \"0x0400_0000\", size = 0x10_0000 }}\ncompatible = [\"cfi-flash\"]\n"),
        "device = [{ name = \"rtc2\", mmio = { base = 0x0902_0000, size = 4096 }, interrupts = [40, 41], compatible = [\"x,y\"] }]\n",
    );
    let manifest = load("janus.toml", &text, &board()).unwrap();
    assert_eq!(manifest.devices.len(), 3);
    assert_eq!(manifest.devices[0], rtc(0));
    assert_eq!(manifest.devices[1].name, "flash");
    assert_eq!(manifest.devices[1].mmio, PhysRange::new(0x0400_0000, 0x10_0000));
    assert!(manifest.devices[1].interrupts.is_empty());
    assert_eq!(manifest.devices[2].personality, 1);
    assert_eq!(manifest.devices[2].interrupts, [40, 41]);
    assert_eq!(manifest.devices_of(0).count(), 2);
    assert_eq!(manifest.devices_of(1).map(|device| device.name.as_str()).collect::<Vec<_>>(), ["rtc2"]);
    assert!(parse("janus.toml", SAMPLE).unwrap().devices.is_empty());
}

#[test]
fn device_problems_carry_the_line_of_their_field() {
    let text = with_devices(&RTC.replace("0x0901_0000", "0x0901_0800"), "");
    let lines = rendered(&load("janus.toml", &text, &board()).unwrap_err());
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].starts_with("janus.toml:14: personality \"personal\" device \"rtc\" mmio.base: base 0x9010800 is not 4 KiB"), "{lines:?}");
    let text = with_devices(&RTC.replace("[34]", "[34, 33]"), "");
    let lines = rendered(&load("janus.toml", &text, &board()).unwrap_err());
    assert!(
        lines[0].starts_with("janus.toml:15: personality \"personal\" device \"rtc\" interrupts[1]: interrupt 33 belongs to Janus' console UART"),
        "{lines:?}"
    );
    // The RTC in both personalities: reported at work's table (line 24 on).
    let text = with_devices(RTC, RTC);
    let errors = load("janus.toml", &text, &board()).unwrap_err();
    let lines = rendered(&errors);
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines[0].starts_with("janus.toml:26: personality \"work\" device \"rtc\" mmio.base: MMIO"), "{lines:?}");
    assert!(lines[1].starts_with("janus.toml:27: personality \"work\" device \"rtc\" interrupts[0]: interrupt 34"), "{lines:?}");
    assert!(matches!(errors.errors[1].kind, ManifestErrorKind::Invalid(ValidationError::DeviceInterruptShared { .. })));
}

#[test]
fn bad_device_values_are_refused_with_their_line() {
    let text = with_devices(&RTC.replace("[34]", "[34, -1]").replace("size = \"4K\"", "size = \"4Q\""), "");
    let lines = rendered(&parse("janus.toml", &text).unwrap_err());
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines[0].starts_with("janus.toml:14: personality \"personal\" device \"rtc\" mmio.size: size \"4Q\" is not a number"), "{lines:?}");
    assert!(lines[0].contains("Fix: write e.g. size = \"4K\""), "{lines:?}");
    assert!(lines[1].starts_with("janus.toml:15: personality \"personal\" device \"rtc\" interrupts[1]: -1 is not an interrupt ID. Fix:"), "{lines:?}");
}

#[test]
fn device_table_schema_errors_are_refused_with_their_line() {
    let text = with_devices(&RTC.replace("interrupts =", "irqs ="), "");
    let lines = rendered(&parse("janus.toml", &text).unwrap_err());
    assert!(lines[0].starts_with("janus.toml:15: toml: unknown field `irqs`"), "{lines:?}");
    let text = with_devices(&RTC.replace("compatible = [\"arm,pl031\", \"arm,primecell\"]\n", ""), "");
    let lines = rendered(&parse("janus.toml", &text).unwrap_err());
    assert!(lines[0].contains("missing field `compatible`"), "{lines:?}");
    assert!(lines[0].contains("Fix: add the missing key"), "{lines:?}");
}
