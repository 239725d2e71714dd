//! Partition modes: recorded at first use, a mismatch refused, only
//! re-provisioning clears them.

use super::*;

/// What `provision` returns: the key's bytes, and whether it is new.
type Outcome = Result<(Option<[u8; 64]>, bool), ProvisionError>;

/// Runs `provision_partition` on `slots` and applies its writes.
fn provision(slots: &mut [Block; 2], key_slot: usize, requested: PartitionMode, blank: bool) -> Outcome {
    let selection = select(&slots[0], &slots[1]).unwrap();
    let outcome = provision_partition(&selection, Some(&device(1)), key_slot, requested, blank, || random(9))?;
    for write in outcome.writes.iter().flatten() {
        apply(slots, write);
    }
    Ok((outcome.key.map(|key| key.test_bytes()), outcome.new))
}

/// Personal in plaintext and work encrypted, as the board's manifest has
/// them.
fn provision_both(slots: &mut [Block; 2], blank: bool) -> [Outcome; 2] {
    [provision(slots, PERSONAL_KEY_SLOT, PartitionMode::Plaintext, blank), provision(slots, WORK_KEY_SLOT, PartitionMode::Encrypted, blank)]
}

#[test]
fn each_mode_is_recorded_at_first_use_and_loaded_after() {
    let mut slots = [BLANK, BLANK];
    assert_eq!(provision_both(&mut slots, true), [Ok((None, true)), Ok((Some(random(9)), true))]);
    let current = select(&slots[0], &slots[1]).unwrap().current.unwrap();
    assert_eq!(current.mode(PERSONAL_KEY_SLOT), Some(PartitionMode::Plaintext));
    assert_eq!(current.mode(WORK_KEY_SLOT), Some(PartitionMode::Encrypted));
    assert_eq!(current.mode(2), None);
    // Both slots carry both modes (no stale slot for a torn boot to pick).
    for slot in &slots {
        assert_eq!(decode(slot).unwrap().mode(PERSONAL_KEY_SLOT), Some(PartitionMode::Plaintext));
    }
    // The next boots: nothing new, nothing written, the same key.
    let before = slots;
    assert_eq!(provision_both(&mut slots, false), [Ok((None, false)), Ok((Some(random(9)), false))]);
    assert_eq!(slots, before);
}

#[test]
fn a_manifest_that_toggles_encryption_is_refused_and_nothing_is_written() {
    let mut slots = [BLANK, BLANK];
    let _ = provision_both(&mut slots, true).map(Result::unwrap);
    let before = slots;
    assert_eq!(
        provision(&mut slots, PERSONAL_KEY_SLOT, PartitionMode::Encrypted, false),
        Err(ProvisionError::ModeMismatch { recorded: PartitionMode::Plaintext, requested: PartitionMode::Encrypted })
    );
    assert_eq!(
        provision(&mut slots, WORK_KEY_SLOT, PartitionMode::Plaintext, false),
        Err(ProvisionError::ModeMismatch { recorded: PartitionMode::Encrypted, requested: PartitionMode::Plaintext })
    );
    assert_eq!(slots, before);
    let message = ProvisionError::ModeMismatch { recorded: PartitionMode::Plaintext, requested: PartitionMode::Encrypted }.to_string();
    assert_eq!(message, "janus-meta records it as not encrypted, the manifest asks for encrypted");
}

#[test]
fn data_from_before_modes_were_recorded_is_adopted_as_plaintext_never_encrypted() {
    let mut slots = [BLANK, BLANK];
    assert_eq!(provision(&mut slots, PERSONAL_KEY_SLOT, PartitionMode::Encrypted, false), Err(ProvisionError::UnrecordedData));
    assert_eq!(slots, [BLANK, BLANK]);
    assert_eq!(provision(&mut slots, PERSONAL_KEY_SLOT, PartitionMode::Plaintext, false), Ok((None, false)));
    let current = select(&slots[0], &slots[1]).unwrap().current.unwrap();
    assert_eq!(current.mode(PERSONAL_KEY_SLOT), Some(PartitionMode::Plaintext));
}

#[test]
fn an_encrypted_partition_needs_the_device_key() {
    let selection = select(&BLANK, &BLANK).unwrap();
    let outcome = provision_partition(&selection, None, WORK_KEY_SLOT, PartitionMode::Encrypted, true, || random(1));
    assert_eq!(outcome.err(), Some(ProvisionError::NoDeviceKey));
    let outcome = provision_partition(&selection, None, KEY_SLOTS, PartitionMode::Plaintext, true, || random(1));
    assert_eq!(outcome.err(), Some(ProvisionError::Meta(MetaError::NoSuchKeySlot { slot: KEY_SLOTS })));
}

#[test]
fn reprovisioning_forgets_the_mode_and_the_key_in_both_slots() {
    let mut slots = [BLANK, BLANK];
    let _ = provision_both(&mut slots, true).map(Result::unwrap);
    let key = select(&slots[0], &slots[1]).unwrap().current.unwrap().key_slots[WORK_KEY_SLOT].unwrap();
    for key_slot in [PERSONAL_KEY_SLOT, WORK_KEY_SLOT] {
        let selection = select(&slots[0], &slots[1]).unwrap();
        for write in &plan_reprovision(&selection, key_slot).unwrap().writes {
            apply(&mut slots, write);
        }
        for slot in &slots {
            assert_eq!(decode(slot).unwrap().mode(key_slot), None);
        }
    }
    assert!(!holds(&slots[0], &key) && !holds(&slots[1], &key));
    // The next boot provisions the other way round, as new.
    assert_eq!(provision(&mut slots, PERSONAL_KEY_SLOT, PartitionMode::Encrypted, true), Ok((Some(random(9)), true)));
    assert_eq!(provision(&mut slots, WORK_KEY_SLOT, PartitionMode::Plaintext, true), Ok((None, true)));
    assert_eq!(plan_reprovision(&select(&BLANK, &BLANK).unwrap(), 0).err(), Some(MetaError::Unformatted));
}

#[test]
fn a_plaintext_entry_with_key_bytes_is_malformed() {
    let mut block = encoded(&record(1));
    // Slot 1 is plaintext: bytes in its key field make it malformed.
    block[48 + 80 + 8] = 1;
    reseal(&mut block);
    assert_eq!(decode(&block), Err(MetaError::BadLayout));
}
