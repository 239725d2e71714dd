//! Metadata tests: encoding, every decode error, selection, torn writes, wipes, provisioning.

use proptest::prelude::*;

use super::*;
use crate::keys::{self, DataKey, DeviceKey, KeyError};

mod modes;

type Block = [u8; META_BLOCK_SIZE];

const BLANK: Block = [0; META_BLOCK_SIZE];

fn device(seed: u8) -> DeviceKey {
    DeviceKey::from_bytes(core::array::from_fn(|index| (index as u8).wrapping_mul(29).wrapping_add(seed))).unwrap()
}

fn random(seed: u8) -> [u8; 64] {
    core::array::from_fn(|index| (index as u8).wrapping_mul(101).wrapping_add(seed))
}

fn wrapped(seed: u8) -> WrappedKey {
    keys::wrap(&device(1), &DataKey::from_bytes(random(seed)).unwrap())
}

fn record(sequence: u64) -> MetaRecord {
    MetaRecord {
        sequence,
        key_slots: [Some(wrapped(1)), None, Some(wrapped(2)), None],
        plaintext: [false, true, false, false],
        wipe_counter: 3,
        last_wipe_command: 17,
    }
}

fn encoded(record: &MetaRecord) -> Block {
    let mut block = [0xa5; META_BLOCK_SIZE];
    encode(record, &mut block);
    block
}

/// Re-seals a hand-edited block with a correct checksum.
fn reseal(block: &mut Block) {
    let sum = checksum(block);
    block[CHECKSUM_OFFSET..].copy_from_slice(&sum);
}

/// Carries out a plan against an in-memory partition.
fn apply(slots: &mut [Block; 2], write: &PlannedWrite) {
    write.encode(&mut slots[write.slot]);
}

fn holds(block: &Block, key: &WrappedKey) -> bool {
    block.windows(key.0.len()).any(|window| window == key.0)
}

#[test]
fn layout_constants() {
    assert_eq!(SLOT_BYTE_OFFSETS, [0, 4096]);
    assert_eq!(SLOT_FIRST_SECTORS, [0, 8]);
    assert_eq!(META_PARTITION_MIN_SIZE, 8192);
    assert_eq!(KEY_SLOT_ENTRY_SIZE, 80);
    assert_eq!(MAX_ENCODED_KEY_SLOTS, 50);
    let write = PlannedWrite { slot: 1, record: MetaRecord::empty() };
    assert_eq!((write.byte_offset(), write.first_sector()), (4096, 8));
}

#[test]
fn encode_layout_is_as_documented() {
    let block = encoded(&record(0x1122_3344_5566_7788));
    assert_eq!(&block[..8], b"JANUSMT1");
    assert_eq!(block[8..12], 1u32.to_le_bytes());
    assert_eq!(block[12..16], 4u32.to_le_bytes());
    assert_eq!(block[16..20], 80u32.to_le_bytes());
    assert_eq!(block[24..32], 0x1122_3344_5566_7788u64.to_le_bytes());
    assert_eq!(block[32..40], 3u64.to_le_bytes());
    assert_eq!(block[40..48], 17u64.to_le_bytes());
    assert_eq!(block[48], 1);
    assert_eq!(block[56..128], wrapped(1).0);
    // Slot 1: provisioned in plaintext, no key bytes.
    assert_eq!(block[128], 2);
    assert!(block[129..208].iter().all(|byte| *byte == 0));
    assert!(block[128 + 80 * 3..CHECKSUM_OFFSET].iter().all(|byte| *byte == 0));
}

#[test]
fn encode_decode_round_trip() {
    let original = record(42);
    assert_eq!(decode(&encoded(&original)), Ok(original));
    assert_eq!(decode(&encoded(&MetaRecord::empty())), Ok(MetaRecord::empty()));
}

#[test]
fn decode_blank() {
    assert_eq!(decode(&BLANK), Err(MetaError::Blank));
    assert_eq!(decode(&[0xff; META_BLOCK_SIZE]), Err(MetaError::Blank));
}

#[test]
fn decode_bad_magic() {
    let mut block = encoded(&record(1));
    block[0] = b'X';
    reseal(&mut block);
    assert_eq!(decode(&block), Err(MetaError::BadMagic));
}

#[test]
fn decode_bad_checksum() {
    let mut block = encoded(&record(1));
    block[30] ^= 1;
    assert_eq!(decode(&block), Err(MetaError::BadChecksum));
    let mut block = encoded(&record(1));
    block[META_BLOCK_SIZE - 1] ^= 0x80;
    assert_eq!(decode(&block), Err(MetaError::BadChecksum));
}

#[test]
fn decode_unsupported_version() {
    let mut block = encoded(&record(1));
    block[8..12].copy_from_slice(&2u32.to_le_bytes());
    reseal(&mut block);
    assert_eq!(decode(&block), Err(MetaError::UnsupportedVersion { version: 2 }));
}

#[test]
fn decode_bad_layout() {
    let edits: [fn(&mut Block); 6] = [
        |block| block[12..16].copy_from_slice(&51u32.to_le_bytes()),
        |block| block[16..20].copy_from_slice(&96u32.to_le_bytes()),
        |block| block[20] = 1,
        |block| block[49] = 1,
        |block| block[CHECKSUM_OFFSET - 1] = 1,
        // An empty entry with key bytes left in it.
        |block| block[128 + 8] = 1,
    ];
    for (index, edit) in edits.iter().enumerate() {
        let mut block = encoded(&record(1));
        edit(&mut block);
        reseal(&mut block);
        assert_eq!(decode(&block), Err(MetaError::BadLayout), "edit {index}");
    }
}

#[test]
fn decode_unknown_key_slot_state() {
    let mut block = encoded(&record(1));
    block[48 + 80] = 7;
    reseal(&mut block);
    assert_eq!(decode(&block), Err(MetaError::UnknownKeySlotState { slot: 1, state: 7 }));
}

#[test]
fn more_slots_on_disk_than_in_this_build() {
    // A record from a build with six slots: empty extras are fine ...
    let mut block = encoded(&record(1));
    block[12..16].copy_from_slice(&6u32.to_le_bytes());
    reseal(&mut block);
    assert_eq!(decode(&block), Ok(record(1)));
    // ... a key in slot 5 is not silently dropped.
    block[48 + 80 * 5] = 1;
    block[48 + 80 * 5 + 8..48 + 80 * 6].copy_from_slice(&wrapped(3).0);
    reseal(&mut block);
    assert_eq!(decode(&block), Err(MetaError::KeySlotBeyondCapacity { slot: 5 }));
}

#[test]
fn fewer_slots_on_disk_than_in_this_build() {
    // A record from a build with one slot reads with the rest empty.
    let mut block = encoded(&record(1));
    block[12..16].copy_from_slice(&1u32.to_le_bytes());
    block[128..CHECKSUM_OFFSET].fill(0);
    reseal(&mut block);
    let mut expected = record(1);
    expected.key_slots[2] = None;
    expected.plaintext[1] = false;
    assert_eq!(decode(&block), Ok(expected));
}

#[test]
fn errors_display_one_line() {
    for error in [
        MetaError::Blank,
        MetaError::BadMagic,
        MetaError::BadChecksum,
        MetaError::UnsupportedVersion { version: 9 },
        MetaError::BadLayout,
        MetaError::UnknownKeySlotState { slot: 1, state: 2 },
        MetaError::KeySlotBeyondCapacity { slot: 5 },
        MetaError::NoValidRecord,
        MetaError::Unformatted,
        MetaError::NoSuchKeySlot { slot: 9 },
        MetaError::WipeCounterExhausted,
    ] {
        let text = error.to_string();
        assert!(!text.is_empty() && !text.contains('\n'), "{text}");
        let text = ProvisionError::Meta(error).to_string();
        assert!(!text.contains('\n'), "{text}");
    }
}

#[test]
fn select_both_blank_is_unformatted() {
    let selection = select(&BLANK, &BLANK).unwrap();
    assert_eq!(selection, Selection { current: None, current_slot: None, next_slot: 0, next_sequence: 1, other_slot_needs_rewrite: false });
}

#[test]
fn select_blank_beside_torn_first_format_is_unformatted() {
    let mut torn = BLANK;
    torn[..512].copy_from_slice(&encoded(&record(1))[..512]);
    assert_eq!(select(&torn, &BLANK).unwrap().current, None);
    assert_eq!(select(&BLANK, &torn).unwrap().current, None);
}

#[test]
fn select_both_corrupt_is_an_error() {
    let mut first = encoded(&record(1));
    let mut second = encoded(&record(2));
    first[100] ^= 1;
    second[0] = 0;
    assert_eq!(select(&first, &second), Err(MetaError::NoValidRecord));
}

#[test]
fn select_highest_sequence() {
    let (older, newer) = (encoded(&record(4)), encoded(&record(5)));
    let selection = select(&older, &newer).unwrap();
    assert_eq!((selection.current_slot, selection.next_slot, selection.next_sequence), (Some(1), 0, 6));
    assert_eq!(selection.current, Some(record(5)));
    assert!(!selection.other_slot_needs_rewrite);
    let selection = select(&newer, &older).unwrap();
    assert_eq!((selection.current_slot, selection.next_slot), (Some(0), 1));
}

#[test]
fn select_equal_sequences_picks_slot_0() {
    let block = encoded(&record(9));
    let selection = select(&block, &block).unwrap();
    assert_eq!((selection.current_slot, selection.next_slot), (Some(0), 1));
}

#[test]
fn select_one_corrupt_takes_the_valid_one() {
    let mut corrupt = encoded(&record(8));
    corrupt[2000] ^= 4;
    let valid = encoded(&record(7));
    let selection = select(&corrupt, &valid).unwrap();
    assert_eq!(selection.current, Some(record(7)));
    assert_eq!((selection.current_slot, selection.next_slot), (Some(1), 0));
    assert!(selection.other_slot_needs_rewrite);
    let selection = select(&valid, &BLANK).unwrap();
    assert_eq!(selection.current_slot, Some(0));
    assert!(selection.other_slot_needs_rewrite);
}

#[test]
fn sequence_wraps() {
    let before = encoded(&record(u64::MAX));
    let after = encoded(&record(0));
    let selection = select(&before, &after).unwrap();
    assert_eq!(selection.current_slot, Some(1));
    assert_eq!(selection.next_sequence, 1);
    let selection = select(&after, &before).unwrap();
    assert_eq!(selection.current_slot, Some(0));
    // The step after u64::MAX is 0.
    let selection = select(&before, &BLANK).unwrap();
    assert_eq!(selection.next_sequence, 0);
    let plan = plan_commit(&selection, &record(0));
    assert_eq!(plan.writes[0].record.sequence, 0);
    assert_eq!(plan.writes[1].record.sequence, 1);
}

#[test]
fn commit_plan_writes_next_slot_then_the_other() {
    let selection = select(&encoded(&record(10)), &encoded(&record(11))).unwrap();
    let plan = plan_commit(&selection, &MetaRecord::empty());
    assert_eq!(plan.writes[0].slot, 0);
    assert_eq!(plan.writes[0].record.sequence, 12);
    assert_eq!(plan.writes[1].slot, 1);
    assert_eq!(plan.writes[1].record.sequence, 13);
}

#[test]
fn wipe_removes_the_key_from_both_slots() {
    let work_key = wrapped(1);
    let mut slots = [encoded(&record(4)), encoded(&record(5))];
    let selection = select(&slots[0], &slots[1]).unwrap();
    let plan = plan_wipe(&selection, WORK_KEY_SLOT).unwrap();
    for write in &plan.writes {
        apply(&mut slots, write);
    }
    assert!(!holds(&slots[0], &work_key) && !holds(&slots[1], &work_key));
    let after = select(&slots[0], &slots[1]).unwrap();
    let current = after.current.unwrap();
    assert_eq!(current.key_slots[WORK_KEY_SLOT], None);
    assert_eq!(current.key_slots[2], Some(wrapped(2)));
    assert_eq!(current.wipe_counter, 4);
    assert_eq!(current.sequence, 7);
    assert!(!after.other_slot_needs_rewrite);
    assert_eq!(decode(&slots[0]).unwrap().key_slots, current.key_slots);
}

#[test]
fn wipe_interrupted_between_writes_is_finished_by_scrub() {
    let work_key = wrapped(1);
    let mut slots = [encoded(&record(4)), encoded(&record(5))];
    let selection = select(&slots[0], &slots[1]).unwrap();
    let plan = plan_wipe(&selection, WORK_KEY_SLOT).unwrap();
    apply(&mut slots, &plan.writes[0]);
    // Power lost here: the older slot still holds the key.
    let reboot = select(&slots[0], &slots[1]).unwrap();
    assert_eq!(reboot.current.as_ref().unwrap().key_slots[WORK_KEY_SLOT], None);
    assert!(reboot.other_slot_needs_rewrite);
    assert!(holds(&slots[1], &work_key));
    apply(&mut slots, &plan_scrub(&reboot).unwrap());
    assert!(!holds(&slots[0], &work_key) && !holds(&slots[1], &work_key));
    let settled = select(&slots[0], &slots[1]).unwrap();
    assert!(!settled.other_slot_needs_rewrite);
    assert_eq!(plan_scrub(&settled), None);
}

#[test]
fn plan_wipe_errors() {
    let unformatted = select(&BLANK, &BLANK).unwrap();
    assert_eq!(plan_wipe(&unformatted, 0), Err(MetaError::Unformatted));
    let selection = select(&encoded(&record(1)), &BLANK).unwrap();
    assert_eq!(plan_wipe(&selection, KEY_SLOTS), Err(MetaError::NoSuchKeySlot { slot: KEY_SLOTS }));
    let mut exhausted = record(1);
    exhausted.wipe_counter = u64::MAX;
    let selection = select(&encoded(&exhausted), &BLANK).unwrap();
    assert_eq!(plan_wipe(&selection, 0), Err(MetaError::WipeCounterExhausted));
}

#[test]
fn first_boot_creates_and_records_a_key() {
    let device = device(1);
    let mut slots = [BLANK, BLANK];
    let selection = select(&slots[0], &slots[1]).unwrap();
    let Provisioned::Created { key, plan } = provision_or_load(&selection, &device, WORK_KEY_SLOT, || random(50)).unwrap() else {
        panic!("expected a new key");
    };
    assert_eq!(key.test_bytes(), random(50));
    assert_eq!((plan.writes[0].slot, plan.writes[1].slot), (0, 1));
    for write in &plan.writes {
        apply(&mut slots, write);
    }
    // Next boot loads the same key from either slot.
    let selection = select(&slots[0], &slots[1]).unwrap();
    assert!(!selection.other_slot_needs_rewrite);
    let Provisioned::Loaded { key, scrub } = provision_or_load(&selection, &device, WORK_KEY_SLOT, || panic!("no random bytes needed")).unwrap() else {
        panic!("expected the stored key");
    };
    assert_eq!(key.test_bytes(), random(50));
    assert_eq!(scrub, None);
}

#[test]
fn first_format_torn_after_first_flush_still_loads() {
    let device = device(1);
    let mut slots = [BLANK, BLANK];
    let selection = select(&slots[0], &slots[1]).unwrap();
    let Provisioned::Created { plan, .. } = provision_or_load(&selection, &device, WORK_KEY_SLOT, || random(50)).unwrap() else {
        panic!("expected a new key");
    };
    apply(&mut slots, &plan.writes[0]);
    let selection = select(&slots[0], &slots[1]).unwrap();
    let Provisioned::Loaded { key, scrub } = provision_or_load(&selection, &device, WORK_KEY_SLOT, || random(0)).unwrap() else {
        panic!("expected the stored key");
    };
    assert_eq!(key.test_bytes(), random(50));
    assert_eq!(scrub.unwrap().slot, 1);
}

#[test]
fn after_a_wipe_a_new_key_is_made() {
    let device = device(1);
    let mut slots = [encoded(&record(4)), encoded(&record(5))];
    let selection = select(&slots[0], &slots[1]).unwrap();
    for write in &plan_wipe(&selection, WORK_KEY_SLOT).unwrap().writes {
        apply(&mut slots, write);
    }
    let selection = select(&slots[0], &slots[1]).unwrap();
    let Provisioned::Created { key, plan } = provision_or_load(&selection, &device, WORK_KEY_SLOT, || random(77)).unwrap() else {
        panic!("expected a new key");
    };
    assert_eq!(key.test_bytes(), random(77));
    // The other slots and the counters are carried over.
    let record = &plan.writes[0].record;
    assert_eq!(record.key_slots[2], Some(wrapped(2)));
    assert_eq!((record.wipe_counter, record.last_wipe_command), (4, 17));
    assert_eq!(record.sequence, 8);
}

#[test]
fn wrong_device_key_is_an_error_not_a_new_key() {
    let selection = select(&encoded(&record(1)), &BLANK).unwrap();
    let outcome = provision_or_load(&selection, &device(2), WORK_KEY_SLOT, || panic!("must not make a new key"));
    assert_eq!(outcome.unwrap_err(), ProvisionError::Key(KeyError::UnwrapFailed));
}

#[test]
fn provision_rejects_bad_random_and_bad_slot() {
    let selection = select(&BLANK, &BLANK).unwrap();
    let outcome = provision_or_load(&selection, &device(1), WORK_KEY_SLOT, || [0; 64]);
    assert_eq!(outcome.unwrap_err(), ProvisionError::Key(KeyError::AllZero));
    let outcome = provision_or_load(&selection, &device(1), KEY_SLOTS, || random(1));
    assert_eq!(outcome.unwrap_err(), ProvisionError::Meta(MetaError::NoSuchKeySlot { slot: KEY_SLOTS }));
}

/// Keeps the first `boundary` bytes of `new` over `old`: a write torn after
/// `boundary / 512` sectors reached the medium.
fn torn(old: &Block, new: &Block, boundary: usize) -> Block {
    let mut block = *old;
    block[..boundary].copy_from_slice(&new[..boundary]);
    block
}

proptest! {
    /// An update torn at any sector boundary (or garbled from there on)
    /// never loses the current record: select gives either the old record
    /// or, once the write is whole, the new one.
    #[test]
    fn torn_update_never_loses_the_record(
        sector in 0usize..=8,
        garble in any::<bool>(),
        noise in any::<u8>(),
        old_sequence in any::<u64>(),
        current_in_slot_1 in any::<bool>(),
    ) {
        let old = record(old_sequence);
        let stale = MetaRecord { sequence: old_sequence.wrapping_sub(1), ..record(0) };
        let mut slots = if current_in_slot_1 {
            [encoded(&stale), encoded(&old)]
        } else {
            [encoded(&old), encoded(&stale)]
        };
        let selection = select(&slots[0], &slots[1]).unwrap();
        prop_assert_eq!(selection.current.as_ref(), Some(&old));
        let mut new = old.clone();
        new.key_slots[0] = None;
        new.last_wipe_command += 1;
        let plan = plan_commit(&selection, &new);
        let write = &plan.writes[0];
        let mut new_block = BLANK;
        write.encode(&mut new_block);
        let boundary = sector * 512;
        let mut damaged = torn(&slots[write.slot], &new_block, boundary);
        if garble && boundary < META_BLOCK_SIZE {
            damaged[boundary..].fill(noise);
        }
        slots[write.slot] = damaged;
        let after = select(&slots[0], &slots[1]).unwrap();
        let current = after.current.unwrap();
        if boundary == META_BLOCK_SIZE {
            prop_assert_eq!(current, write.record.clone());
        } else {
            prop_assert_eq!(current, old);
        }
    }

    /// The same for the first format: a torn first write reads as
    /// unformatted or (once whole) as formatted, never as an error.
    #[test]
    fn torn_first_format_is_unformatted_or_formatted(sector in 0usize..=8, noise in any::<u8>()) {
        let selection = select(&BLANK, &BLANK).unwrap();
        let Provisioned::Created { plan, .. } =
            provision_or_load(&selection, &device(1), WORK_KEY_SLOT, || random(9)).unwrap()
        else {
            panic!("expected a new key");
        };
        let mut new_block = BLANK;
        plan.writes[0].encode(&mut new_block);
        let boundary = sector * 512;
        let mut damaged = torn(&BLANK, &new_block, boundary);
        if boundary < META_BLOCK_SIZE && boundary > 0 {
            damaged[boundary..].fill(noise);
        }
        let after = select(&damaged, &BLANK).unwrap();
        prop_assert_eq!(after.current.is_some(), boundary == META_BLOCK_SIZE);
    }

    /// The second wipe write torn anywhere: the current record has no key,
    /// and the torn slot is flagged for a rewrite that removes the key.
    #[test]
    fn torn_second_wipe_write_is_scrubbed(sector in 0usize..=8) {
        let work_key = wrapped(1);
        let mut slots = [encoded(&record(4)), encoded(&record(5))];
        let selection = select(&slots[0], &slots[1]).unwrap();
        let plan = plan_wipe(&selection, WORK_KEY_SLOT).unwrap();
        apply(&mut slots, &plan.writes[0]);
        let second = &plan.writes[1];
        let mut new_block = BLANK;
        second.encode(&mut new_block);
        slots[second.slot] = torn(&slots[second.slot], &new_block, sector * 512);
        let after = select(&slots[0], &slots[1]).unwrap();
        prop_assert_eq!(after.current.as_ref().unwrap().key_slots[WORK_KEY_SLOT], None);
        if let Some(scrub) = plan_scrub(&after) {
            apply(&mut slots, &scrub);
        }
        prop_assert!(!holds(&slots[0], &work_key) && !holds(&slots[1], &work_key));
    }

    #[test]
    fn decode_never_panics_and_round_trips(bytes in proptest::collection::vec(any::<u8>(), META_BLOCK_SIZE)) {
        let block: Block = bytes.try_into().unwrap();
        if let Ok(record) = decode(&block) {
            prop_assert_eq!(decode(&encoded(&record)), Ok(record));
        }
    }

    #[test]
    fn arbitrary_records_round_trip(
        sequence in any::<u64>(),
        wipe_counter in any::<u64>(),
        last_wipe_command in any::<u64>(),
        present in proptest::collection::vec(any::<bool>(), KEY_SLOTS),
        fill in any::<u8>(),
    ) {
        let record = MetaRecord {
            sequence,
            key_slots: core::array::from_fn(|index| {
                present[index].then(|| WrappedKey([fill.wrapping_add(index as u8); WRAPPED_KEY_SIZE]))
            }),
            plaintext: core::array::from_fn(|index| !present[index] && fill % 2 == 0),
            wipe_counter,
            last_wipe_command,
        };
        prop_assert_eq!(decode(&encoded(&record)), Ok(record));
    }
}
