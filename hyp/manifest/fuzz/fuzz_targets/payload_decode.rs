//! Fuzzes the boot-time payload decoder and plan check on arbitrary bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let _ = janus_manifest::payload_length(bytes);
    // The checksum rejects almost every mutation of a whole payload, so the
    // plan decoder is also fed the bytes directly.
    if let Ok(plan) = janus_manifest::decode_plan(bytes) {
        let _ = janus_manifest::validate_plan(&plan, u64::MAX);
    }
    if let Ok((plan, blobs)) = janus_manifest::parse_payload(bytes) {
        if janus_manifest::validate_plan(&plan, blobs.len()).is_ok() {
            for personality in &plan.personalities {
                assert!(blobs.get(personality.kernel).is_some());
                assert!(blobs.get(personality.dtb).is_some());
            }
        }
    }
});
