//! Fuzz target: arbitrary bytes as the two `janus-meta` slots.
//!
//! The input fills slot 0 then slot 1 (missing bytes read as zero, so short
//! inputs exercise blank and nearly blank slots). Half the time the first
//! input byte instead asks for a valid record with the rest of the input
//! spliced over it, so the fuzzer gets past the checksum.
//!
//! Nothing may panic, and: a slot that decodes re-encodes to a block that
//! decodes to the same record; `select` agrees with decoding each slot (its
//! current record is one of the valid ones and the newest by serial number,
//! its next slot is the other one); a wipe plan carried out leaves neither
//! slot holding the wiped key (unless the same wrapped bytes are also in
//! a kept key slot); a scrub leaves no rewrite pending.
#![no_main]

use janus_diskcrypt::meta::{META_BLOCK_SIZE, MetaError, MetaRecord, decode, encode, plan_scrub, plan_wipe, select};
use janus_diskcrypt::{WRAPPED_KEY_SIZE, WrappedKey};
use libfuzzer_sys::fuzz_target;

type Block = [u8; META_BLOCK_SIZE];

/// A valid record to splice fuzz bytes over.
fn seed_record(tag: u8) -> MetaRecord {
    MetaRecord {
        sequence: u64::from(tag).wrapping_mul(0x0101_0101_0101_0101),
        key_slots: [Some(WrappedKey([tag; WRAPPED_KEY_SIZE])), None, Some(WrappedKey([tag ^ 0x55; WRAPPED_KEY_SIZE])), None],
        plaintext: [false, tag % 2 == 0, false, false],
        wipe_counter: u64::from(tag),
        last_wipe_command: 3,
    }
}

fn slots_from(data: &[u8]) -> [Block; 2] {
    let mut slots = [[0u8; META_BLOCK_SIZE]; 2];
    let Some((mode, rest)) = data.split_first() else {
        return slots;
    };
    if mode & 1 == 1 {
        // Valid records, then the input overwrites a window of them.
        encode(&seed_record(*mode), &mut slots[0]);
        encode(&seed_record(mode.wrapping_add(1)), &mut slots[1]);
        let Some((offset, patch)) = rest.split_first_chunk::<2>() else {
            return slots;
        };
        let start = usize::from(u16::from_le_bytes(*offset)) % (2 * META_BLOCK_SIZE);
        for (index, byte) in patch.iter().enumerate() {
            let position = (start + index) % (2 * META_BLOCK_SIZE);
            slots[position / META_BLOCK_SIZE][position % META_BLOCK_SIZE] = *byte;
        }
    } else {
        for (index, byte) in rest.iter().take(2 * META_BLOCK_SIZE).enumerate() {
            slots[index / META_BLOCK_SIZE][index % META_BLOCK_SIZE] = *byte;
        }
    }
    slots
}

fuzz_target!(|data: &[u8]| {
    let mut slots = slots_from(data);
    let decoded = [decode(&slots[0]), decode(&slots[1])];
    for result in &decoded {
        if let Ok(record) = result {
            let mut block = [0u8; META_BLOCK_SIZE];
            encode(record, &mut block);
            assert_eq!(decode(&block).as_ref(), Ok(record));
        }
    }
    let selection = select(&slots[0], &slots[1]);
    match (&decoded[0], &decoded[1], &selection) {
        (Err(_), Err(_), Ok(selection)) => {
            assert!(selection.current.is_none());
            assert!(decoded.contains(&Err(MetaError::Blank)));
        }
        (Err(_), Err(_), Err(error)) => assert_eq!(*error, MetaError::NoValidRecord),
        (_, _, Ok(selection)) => {
            let slot = selection.current_slot.unwrap();
            assert_eq!(selection.next_slot, 1 - slot);
            let current = selection.current.as_ref().unwrap();
            assert_eq!(decoded[slot].as_ref(), Ok(current));
            assert_eq!(selection.next_sequence, current.sequence.wrapping_add(1));
            if let Ok(other) = &decoded[1 - slot] {
                assert!(other.sequence.wrapping_sub(current.sequence).cast_signed() <= 0);
            }
            // Wipe slot 0 and check no copy of its key survives.
            if let Ok(plan) = plan_wipe(selection, 0) {
                let keys: Vec<WrappedKey> = decoded.iter().filter_map(|result| result.as_ref().ok()).filter_map(|record| record.key_slots[0]).collect();
                let mut after = slots;
                for write in &plan.writes {
                    write.encode(&mut after[write.slot]);
                }
                for key in &keys {
                    // The same wrapped bytes may legitimately sit in another key slot.
                    if plan.writes[0].record.key_slots.contains(&Some(*key)) {
                        continue;
                    }
                    for block in &after {
                        assert!(!decode(block).unwrap().key_slots.contains(&Some(*key)));
                    }
                }
                let settled = select(&after[0], &after[1]).unwrap();
                assert!(!settled.other_slot_needs_rewrite);
            }
            if let Some(scrub) = plan_scrub(selection) {
                scrub.encode(&mut slots[scrub.slot]);
                let settled = select(&slots[0], &slots[1]).unwrap();
                assert!(!settled.other_slot_needs_rewrite);
                assert_eq!(settled.current.as_ref().map(|record| &record.key_slots), Some(&current.key_slots));
            }
        }
        (_, _, Err(error)) => panic!("a valid slot but select failed: {error}"),
    }
});
