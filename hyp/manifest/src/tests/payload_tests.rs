//! Payload layout, round trip, and one test per `PayloadError` variant.

use super::{DEVICE_KEY, PLAN_PAYLOAD_LENGTH, device_plan, valid_plan, valid_plan_with_devices, valid_plan_with_disks};
use crate::codec::{MAX_ENCODED_PLAN_SIZE, decode_plan, encode_plan};
use crate::payload::{PAYLOAD_BLOB_ALIGNMENT, PAYLOAD_HEADER_SIZE, PayloadBuilder, PayloadError, fnv1a64, parse_payload, payload_length};
use crate::plan::{Blob, validate_plan};
use janus_platform::PhysRange;

/// A payload holding the valid plan, with its blobs really in it.
fn built() -> (Vec<u8>, Vec<Vec<u8>>) {
    let mut builder = PayloadBuilder::new();
    let contents: Vec<Vec<u8>> = vec![vec![0x11; 0x3000], vec![0x22; 0x1000], vec![0x33; 0x1000]];
    let blobs: Vec<Blob> = contents.iter().map(|bytes| builder.add_blob(bytes)).collect();
    let mut plan = valid_plan();
    for personality in &mut plan.personalities {
        personality.kernel = blobs[0];
        personality.dtb = blobs[1];
        personality.initrd.as_mut().unwrap().0 = blobs[2];
    }
    (builder.finish(&plan), contents)
}

/// Rewrites the header checksum after a test has edited the body.
fn reseal(payload: &mut [u8]) {
    let checksum = fnv1a64(&payload[64..]);
    payload[40..48].copy_from_slice(&checksum.to_le_bytes());
}

/// A payload whose plan is exactly `plan` (no blobs), correctly sealed.
fn with_plan_bytes(plan: &[u8]) -> Vec<u8> {
    let mut payload = vec![0u8; 64];
    payload[0..8].copy_from_slice(b"JANUSPLD");
    payload[8..12].copy_from_slice(&crate::PAYLOAD_FORMAT_VERSION.to_le_bytes());
    payload[12..16].copy_from_slice(&64u32.to_le_bytes());
    payload[16..24].copy_from_slice(&64u64.to_le_bytes());
    payload[24..32].copy_from_slice(&(plan.len() as u64).to_le_bytes());
    payload[32..40].copy_from_slice(&(64 + plan.len() as u64).to_le_bytes());
    payload.extend_from_slice(plan);
    reseal(&mut payload);
    payload
}

#[test]
fn round_trip_with_blobs() {
    let (payload, contents) = built();
    assert_eq!(payload_length(&payload[..64]), Ok(payload.len() as u64));
    let (plan, blobs) = parse_payload(&payload).unwrap();
    assert_eq!(blobs.len(), payload.len() as u64);
    let personality = &plan.personalities[0];
    assert_eq!(personality.kernel, Blob { offset: PAYLOAD_BLOB_ALIGNMENT, size: 0x3000 });
    assert_eq!(personality.dtb.offset % PAYLOAD_BLOB_ALIGNMENT, 0);
    assert_eq!(personality.initrd.unwrap().0.offset % PAYLOAD_BLOB_ALIGNMENT, 0);
    assert_eq!(blobs.get(personality.kernel), Some(&contents[0][..]));
    assert_eq!(blobs.get(personality.dtb), Some(&contents[1][..]));
    assert_eq!(blobs.get(personality.initrd.unwrap().0), Some(&contents[2][..]));
    assert_eq!(blobs.get(Blob { offset: payload.len() as u64, size: 1 }), None);
    assert_eq!(validate_plan(&plan, blobs.len()), Ok(()));
    let mut expected = valid_plan();
    for (expected, decoded) in expected.personalities.iter_mut().zip(&plan.personalities) {
        expected.kernel = decoded.kernel;
        expected.dtb = decoded.dtb;
        expected.initrd = decoded.initrd;
    }
    assert_eq!(plan, expected);
}

#[test]
fn plan_without_blobs_round_trips() {
    let plan = valid_plan();
    let payload = PayloadBuilder::new().finish(&plan);
    assert_eq!(payload.len() as u64, PAYLOAD_HEADER_SIZE + encode_plan(&plan).len() as u64);
    assert_eq!(parse_payload(&payload).unwrap().0, plan);
    assert_eq!(validate_plan(&plan, PLAN_PAYLOAD_LENGTH), Ok(()));
}

#[test]
fn gic_v2_board_round_trips() {
    let mut plan = valid_plan();
    plan.board.gic = janus_platform::GicDescription::V2 {
        distributor: janus_platform::PhysAddr(0xff84_1000),
        cpu_interface: janus_platform::PhysAddr(0xff84_2000),
        hypervisor_interface: janus_platform::PhysAddr(0xff84_4000),
        virtual_cpu_interface: janus_platform::PhysAddr(0xff84_6000),
    };
    plan.personalities[0].initrd = None;
    assert_eq!(decode_plan(&encode_plan(&plan)), Ok(plan));
}

#[test]
fn too_short() {
    let (payload, _) = built();
    assert_eq!(payload_length(&payload[..63]), Err(PayloadError::TooShort { length: 63 }));
    assert_eq!(parse_payload(&[]).unwrap_err(), PayloadError::TooShort { length: 0 });
}

#[test]
fn bad_magic() {
    let (mut payload, _) = built();
    payload[0] = b'X';
    let error = parse_payload(&payload).unwrap_err();
    assert_eq!(error, PayloadError::BadMagic);
    assert!(error.to_string().contains("JANUSPLD"));
}

#[test]
fn unsupported_version() {
    let (mut payload, _) = built();
    let newer = crate::PAYLOAD_FORMAT_VERSION + 1;
    payload[8..12].copy_from_slice(&newer.to_le_bytes());
    assert_eq!(payload_length(&payload), Err(PayloadError::UnsupportedVersion { version: newer }));
}

#[test]
fn bad_header_size() {
    let (mut payload, _) = built();
    payload[12] = 32;
    assert_eq!(payload_length(&payload), Err(PayloadError::BadHeaderSize { size: 32 }));
}

#[test]
fn reserved_not_zero() {
    let (mut payload, _) = built();
    payload[63] = 1;
    assert_eq!(payload_length(&payload), Err(PayloadError::ReservedNotZero));
}

#[test]
fn total_too_small() {
    let (mut payload, _) = built();
    payload[32..40].copy_from_slice(&10u64.to_le_bytes());
    assert_eq!(payload_length(&payload), Err(PayloadError::TotalTooSmall { total: 10 }));
}

#[test]
fn plan_out_of_bounds() {
    let (payload, _) = built();
    let total = payload.len() as u64;
    for (offset, length) in [(0u64, 10u64), (64, total), (u64::MAX, 2), (64, u64::MAX)] {
        let mut edited = payload.clone();
        edited[16..24].copy_from_slice(&offset.to_le_bytes());
        edited[24..32].copy_from_slice(&length.to_le_bytes());
        assert_eq!(payload_length(&edited), Err(PayloadError::PlanOutOfBounds { offset, length, total }));
    }
}

#[test]
fn length_mismatch() {
    let (mut payload, _) = built();
    let declared = payload.len() as u64;
    payload.push(0);
    assert_eq!(parse_payload(&payload).unwrap_err(), PayloadError::LengthMismatch { declared, actual: declared + 1 });
    payload.truncate(100);
    assert_eq!(parse_payload(&payload).unwrap_err(), PayloadError::LengthMismatch { declared, actual: 100 });
}

#[test]
fn checksum_mismatch() {
    let (mut payload, _) = built();
    let last = payload.len() - 1;
    payload[last] ^= 1;
    assert!(matches!(parse_payload(&payload), Err(PayloadError::ChecksumMismatch { .. })));
}

#[test]
fn plan_truncated() {
    let plan = encode_plan(&valid_plan());
    let error = parse_payload(&with_plan_bytes(&plan[..plan.len() - 3])).unwrap_err();
    assert!(matches!(error, PayloadError::PlanTruncated { field: "initrd load address", .. }), "{error:?}");
    assert_eq!(decode_plan(&[]), Err(PayloadError::PlanTruncated { field: "board name", offset: 0 }));
}

#[test]
fn plan_trailing_bytes() {
    let mut plan = encode_plan(&valid_plan());
    plan.extend_from_slice(&[0, 0]);
    assert_eq!(parse_payload(&with_plan_bytes(&plan)).unwrap_err(), PayloadError::PlanTrailingBytes { count: 2 });
}

#[test]
fn plan_not_utf8() {
    let mut plan = encode_plan(&valid_plan());
    plan[1] = 0xff; // first byte of the board name
    assert_eq!(parse_payload(&with_plan_bytes(&plan)).unwrap_err(), PayloadError::PlanNotUtf8 { field: "board name" });
}

#[test]
fn plan_capacity_exceeded() {
    let mut plan = encode_plan(&valid_plan());
    plan[0] = 33; // board name length
    assert_eq!(decode_plan(&plan), Err(PayloadError::PlanCapacityExceeded { field: "board name", count: 33, capacity: 32 }));
    let mut plan = encode_plan(&valid_plan());
    let cpu_count = 1 + 9 + 32;
    assert_eq!(plan[cpu_count], 4);
    plan[cpu_count] = 9;
    assert!(matches!(decode_plan(&plan), Err(PayloadError::PlanCapacityExceeded { field: "board cpus", count: 9, .. })));
}

#[test]
fn plan_invalid_tag() {
    let mut plan = encode_plan(&valid_plan());
    let gic_tag = 1 + 9 + 32 + 1 + 32 + 8;
    assert_eq!(plan[gic_tag], 3);
    plan[gic_tag] = 7;
    let error = decode_plan(&plan).unwrap_err();
    assert_eq!(error, PayloadError::PlanInvalidTag { field: "gic version", value: 7 });
    assert!(error.to_string().contains("gic version"));
    let mut plan = encode_plan(&valid_plan());
    // The last personality ends with its initrd (1 + 24), no disk (1) and
    // no devices (1).
    let initrd_tag = plan.len() - 27;
    plan[initrd_tag] = 2;
    assert_eq!(decode_plan(&plan), Err(PayloadError::PlanInvalidTag { field: "initrd presence", value: 2 }));
}

#[test]
fn plan_invalid_storage_and_device_key_tags() {
    // Without personalities and key the plan ends: storage (1 + 24),
    // guest_disk (8), guest_disk_interrupt (4), one DMA master (1 + 1 +
    // 16), one DMA-incapable range (1 + 16), console, key tag, count.
    let mut plan = valid_plan();
    plan.personalities.clear();
    plan.board.dma_masters = [(janus_platform::DmaMaster::FirmwareConfig, PhysRange::new(0x0902_0000, 0x1000))].into_iter().collect();
    plan.board.dma_incapable = [PhysRange::new(0x0901_0000, 0x1000)].into_iter().collect();
    let bytes = encode_plan(&plan);
    assert_eq!(decode_plan(&bytes), Ok(plan));
    let storage_tag = bytes.len() - 3 - 17 - 18 - 12 - 25;
    assert_eq!(bytes[storage_tag], 1);
    let master_tag = bytes.len() - 3 - 17 - 17;
    assert_eq!(bytes[master_tag], 2);
    let key_tag = bytes.len() - 2;
    assert_eq!(bytes[key_tag], 0);
    for (at, value, field) in [(storage_tag, 2, "storage"), (master_tag, 9, "board dma master"), (key_tag, 2, "device key presence")] {
        let mut edited = bytes.clone();
        edited[at] = value;
        assert_eq!(decode_plan(&edited), Err(PayloadError::PlanInvalidTag { field, value }));
    }
}

#[test]
fn plan_invalid_disk_tags() {
    // The last personality ends with its disk (presence, partition,
    // encrypted) and its device count (0).
    let bytes = encode_plan(&valid_plan_with_disks());
    let end = bytes.len() - 1;
    assert_eq!(bytes[end - 3..end], [1, 1, 1]);
    for (at, value, field) in [(end - 3, 2, "disk presence"), (end - 2, 2, "disk partition"), (end - 1, 2, "disk encrypted")] {
        let mut edited = bytes.clone();
        edited[at] = value;
        let error = decode_plan(&edited).unwrap_err();
        assert_eq!(error, PayloadError::PlanInvalidTag { field, value });
        assert!(error.to_string().contains(field), "{error}");
    }
}

#[test]
fn disks_and_device_key_round_trip() {
    let plan = valid_plan_with_disks();
    let payload = PayloadBuilder::new().finish(&plan);
    let (decoded, blobs) = parse_payload(&payload).unwrap();
    assert_eq!(decoded, plan);
    assert_eq!(decoded.device_key, Some(DEVICE_KEY));
    assert_eq!(validate_plan(&decoded, blobs.len().max(PLAN_PAYLOAD_LENGTH)), Ok(()));
    // A board without storage round-trips too.
    let mut plan = valid_plan();
    plan.board.storage = None;
    assert_eq!(decode_plan(&encode_plan(&plan)), Ok(plan));
}

#[test]
fn the_device_key_span_covers_exactly_the_key_bytes() {
    let payload = PayloadBuilder::new().finish(&valid_plan_with_disks());
    let span = crate::device_key_span(&payload).unwrap();
    assert_eq!(&payload[span.clone()], &DEVICE_KEY[..]);
    // Scrubbed, the key is gone from the payload and nowhere else changed.
    let mut scrubbed = payload.clone();
    scrubbed[span.clone()].fill(0);
    assert!(!scrubbed.windows(DEVICE_KEY.len()).any(|window| window == DEVICE_KEY));
    assert_eq!(scrubbed[..span.start], payload[..span.start]);
    assert_eq!(scrubbed[span.end..], payload[span.end..]);
    // A plan without a key has no span.
    let mut plan = valid_plan_with_disks();
    plan.device_key = None;
    assert_eq!(crate::device_key_span(&PayloadBuilder::new().finish(&plan)), None);
    assert_eq!(crate::device_key_span(&payload[..10]), None);
}

#[test]
fn disk_and_device_key_truncation_is_rejected() {
    let bytes = encode_plan(&valid_plan_with_disks());
    // Drop the device count and the encrypted flag before it.
    assert!(matches!(decode_plan(&bytes[..bytes.len() - 2]), Err(PayloadError::PlanTruncated { field: "disk encrypted", .. })));
    let mut plan = valid_plan_with_disks();
    plan.personalities.clear();
    let bytes = encode_plan(&plan);
    // Cut inside the key: drop the count and the key's last byte.
    assert!(matches!(decode_plan(&bytes[..bytes.len() - 2]), Err(PayloadError::PlanTruncated { field: "device key", .. })));
}

#[test]
fn the_largest_plan_encodes_to_the_size_bound() {
    use janus_platform::{GpioButton, PhysAddr};
    let mut plan = valid_plan_with_disks();
    plan.board.name = "b".repeat(32).as_str().try_into().unwrap();
    while plan.board.cpus.push(janus_platform::Cpu { mpidr: 0 }).is_ok() {}
    plan.board.gic = janus_platform::GicDescription::V2 {
        distributor: PhysAddr(1),
        cpu_interface: PhysAddr(2),
        hypervisor_interface: PhysAddr(3),
        virtual_cpu_interface: PhysAddr(4),
    };
    plan.board.hotkey_button = Some(GpioButton { controller: PhysAddr(0x0903_0000), line: 3, interrupt: 39 });
    while plan.board.dma_masters.push((janus_platform::DmaMaster::GicIts, PhysRange::new(0x0808_0000, 0x2_0000))).is_ok() {}
    while plan.board.dma_incapable.push(PhysRange::new(0x0901_0000, 0x1000)).is_ok() {}
    let mut personality = plan.personalities[1].clone();
    personality.name = "p".repeat(16).as_str().try_into().unwrap();
    while personality.cpus.push(0).is_ok() {}
    let device = device_plan(&"d".repeat(16), 0x0901_0000, 0x1000, &[64, 65, 66, 67]);
    while personality.devices.push(device.clone()).is_ok() {}
    plan.personalities.clear();
    while plan.personalities.push(personality.clone()).is_ok() {}
    assert_eq!(encode_plan(&plan).len(), MAX_ENCODED_PLAN_SIZE);
    assert!(PAYLOAD_HEADER_SIZE as usize + MAX_ENCODED_PLAN_SIZE <= PAYLOAD_BLOB_ALIGNMENT as usize);
}

#[test]
fn too_many_personalities_in_plan() {
    let mut plan = valid_plan();
    let personality = plan.personalities[0].clone();
    plan.personalities.clear();
    let mut bytes = encode_plan(&plan);
    let without_personalities = bytes.len();
    plan.personalities.push(personality).unwrap();
    let one = encode_plan(&plan)[without_personalities..].to_vec();
    *bytes.last_mut().unwrap() = 5;
    for _ in 0..5 {
        bytes.extend_from_slice(&one);
    }
    assert_eq!(decode_plan(&bytes), Err(PayloadError::PlanCapacityExceeded { field: "personalities", count: 5, capacity: 4 }));
}

#[test]
fn devices_round_trip() {
    let plan = valid_plan_with_devices();
    let payload = PayloadBuilder::new().finish(&plan);
    let (decoded, blobs) = parse_payload(&payload).unwrap();
    assert_eq!(decoded, plan);
    let work = &decoded.personalities[1];
    assert_eq!(work.devices[0].name.as_str(), "gpio");
    assert_eq!(work.devices[0].interrupts.as_slice(), [40, 41]);
    assert_eq!(validate_plan(&decoded, blobs.len().max(PLAN_PAYLOAD_LENGTH)), Ok(()));
}

/// The plan's bytes with work's device ("gpio", two interrupts) last:
/// count (1), name (1 + 4), mmio (16), interrupt count (1), 2 x u32.
fn with_work_device() -> Vec<u8> {
    encode_plan(&valid_plan_with_devices())
}
const WORK_DEVICE_SIZE: usize = 1 + 5 + 16 + 1 + 8;

#[test]
fn device_truncation_is_rejected() {
    let bytes = with_work_device();
    for (cut, field) in [
        (1, "device interrupt"),
        (8, "device interrupt"),
        (9, "device interrupt count"),
        (10, "device mmio"),
        (WORK_DEVICE_SIZE - 1, "device name"),
        (WORK_DEVICE_SIZE, "device count"),
    ] {
        let error = decode_plan(&bytes[..bytes.len() - cut]).unwrap_err();
        assert!(matches!(error, PayloadError::PlanTruncated { field: found, .. } if found == field), "cut {cut}: {error:?}");
    }
}

#[test]
fn device_capacities_are_enforced() {
    let bytes = with_work_device();
    let start = bytes.len() - WORK_DEVICE_SIZE;
    assert_eq!(bytes[start], 1);
    let mut edited = bytes.clone();
    edited[start] = 5;
    // Five devices' worth of bytes: the fifth does not fit.
    let device = bytes[start + 1..].to_vec();
    edited.truncate(start + 1);
    for _ in 0..5 {
        edited.extend_from_slice(&device);
    }
    assert_eq!(decode_plan(&edited), Err(PayloadError::PlanCapacityExceeded { field: "devices", count: 5, capacity: 4 }));
    let interrupt_count = bytes.len() - 9;
    assert_eq!(bytes[interrupt_count], 2);
    let mut edited = bytes.clone();
    edited[interrupt_count] = 5;
    edited.extend_from_slice(&[0; 12]);
    assert_eq!(decode_plan(&edited), Err(PayloadError::PlanCapacityExceeded { field: "device interrupts", count: 5, capacity: 4 }));
    let name_length = start + 1;
    assert_eq!(bytes[name_length], 4);
    let mut edited = bytes.clone();
    edited[name_length] = 17;
    assert_eq!(decode_plan(&edited), Err(PayloadError::PlanCapacityExceeded { field: "device name", count: 17, capacity: 16 }));
    let mut edited = bytes;
    edited[name_length + 1] = 0xff;
    assert_eq!(decode_plan(&edited), Err(PayloadError::PlanNotUtf8 { field: "device name" }));
}
