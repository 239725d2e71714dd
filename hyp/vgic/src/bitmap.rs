//! Fixed-size bit sets over 32-bit words, one bit per interrupt.

/// A set of `32 * WORDS` bits. Indices out of range read as clear and are
/// never stored, so no access can panic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Bitmap<const WORDS: usize>([u32; WORDS]);

impl<const WORDS: usize> Bitmap<WORDS> {
    /// The empty set.
    pub(crate) const EMPTY: Self = Self([0; WORDS]);

    /// Whether bit `index` is set.
    pub(crate) fn get(&self, index: usize) -> bool {
        let (word, bit) = split(index);
        self.0.get(word).is_some_and(|value| value & bit != 0)
    }

    /// Sets bit `index` to `value`; out-of-range indices are ignored.
    pub(crate) fn assign(&mut self, index: usize, value: bool) {
        let (word, bit) = split(index);
        if let Some(slot) = self.0.get_mut(word) {
            // Without a branch: all ones when setting, all zeroes when clearing.
            let fill = u32::from(value).wrapping_neg();
            *slot = (*slot & !bit) | (fill & bit);
        }
    }

    /// Sets the bits `bits` of word `word` to `value`; an out-of-range word
    /// is ignored.
    pub(crate) fn assign_bits(&mut self, word: usize, bits: u32, value: bool) {
        if let Some(slot) = self.0.get_mut(word) {
            let fill = u32::from(value).wrapping_neg();
            *slot = (*slot & !bits) | (fill & bits);
        }
    }

    /// The 32 bits of word `word`, zero out of range.
    pub(crate) fn word(&self, word: usize) -> u32 {
        self.0.get(word).copied().unwrap_or(0)
    }
}

/// Word index and single-bit mask of bit `index`.
fn split(index: usize) -> (usize, u32) {
    (index / 32, 1 << (index % 32))
}

/// The bit of `index` in a 32-bit mask (of list registers, of candidate
/// words), zero for indices from 32 on.
pub(crate) fn index_bit(index: usize) -> u32 {
    u32::try_from(index).ok().and_then(|index| 1u32.checked_shl(index)).unwrap_or(0)
}

/// The indices of the set bits of `word`, lowest first.
pub(crate) fn set_bits(mut word: u32) -> impl Iterator<Item = usize> {
    core::iter::from_fn(move || {
        if word == 0 {
            return None;
        }
        let bit = word.trailing_zeros();
        word &= word - 1;
        // trailing_zeros of a non-zero u32 is below 32.
        Some(bit as usize)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_clear_and_out_of_range() {
        let mut bits = Bitmap::<2>::EMPTY;
        assert_eq!(bits, Bitmap::EMPTY);
        bits.assign(0, true);
        bits.assign(33, true);
        bits.assign(64, true); // out of range: ignored
        assert!(bits.get(0) && bits.get(33));
        assert!(!bits.get(64) && !bits.get(1000));
        assert_eq!(bits.word(0), 1);
        assert_eq!(bits.word(1), 2);
        assert_eq!(bits.word(2), 0);
        bits.assign(0, false);
        bits.assign(33, false);
        assert_eq!(bits, Bitmap::EMPTY);
    }

    #[test]
    fn index_bit_is_zero_out_of_range() {
        assert_eq!(index_bit(0), 1);
        assert_eq!(index_bit(31), 1 << 31);
        assert_eq!(index_bit(32), 0);
        assert_eq!(index_bit(usize::MAX), 0);
    }

    #[test]
    fn set_bits_lists_indices_in_order() {
        let found: Vec<usize> = set_bits(0x8000_0105).collect();
        assert_eq!(found, vec![0, 2, 8, 31]);
        assert_eq!(set_bits(0).count(), 0);
    }
}
