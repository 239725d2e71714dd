//! The interrupts of one vCPU waiting for a list register, as word-wide bit
//! sets, and the choice of the best of them (IHI 0069H chapter 6, "Virtual
//! interrupt handling and prioritization": highest priority, lowest value,
//! first).

use crate::VirtualGic;
use crate::bitmap::{index_bit, set_bits};
use crate::line::{FIRST_SPI_WORD, Flag, SPI_WORDS, Slot};

/// Words of a [`Candidates`] set: one private word, then the SPI words.
const CANDIDATE_WORDS: usize = 1 + SPI_WORDS;

/// A set of interrupts of one vCPU, as bit sets over its private word and
/// the SPI words (see [`VirtualGic::collect_candidates`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Candidates {
    vcpu: usize,
    /// Bit `i` set: `words[i]` is not zero.
    present: u32,
    /// Word 0: the vCPU's private interrupts; word `1 + w`: SPI word `w`.
    words: [u32; CANDIDATE_WORDS],
}

impl Candidates {
    /// The empty set.
    pub(crate) const EMPTY: Self = Self { vcpu: 0, present: 0, words: [0; CANDIDATE_WORDS] };

    /// Sets word `index` of the set to `bits`.
    fn insert_word(&mut self, index: usize, bits: u32) {
        if let Some(word) = self.words.get_mut(index) {
            *word = bits;
            if bits != 0 {
                self.present |= index_bit(index);
            } else {
                self.present &= !index_bit(index);
            }
        }
    }

    /// The word of the line bit sets that word `index` of the set covers.
    fn line_word(&self, index: usize) -> usize {
        match index.checked_sub(1) {
            None => self.vcpu,
            Some(spi_word) => FIRST_SPI_WORD + spi_word,
        }
    }

    /// Whether the set is empty.
    pub(crate) fn is_empty(&self) -> bool {
        self.present == 0
    }

    /// The member with the lowest priority value, then the lowest INTID.
    /// Words and bits come in increasing INTID order, so on equal priority
    /// the first one found wins, and priority 0 cannot be beaten.
    pub(crate) fn best(&self, gic: &VirtualGic) -> Option<Slot> {
        let mut best: Option<(u8, Slot)> = None;
        for index in set_bits(self.present) {
            let bits = self.words.get(index).copied().unwrap_or(0);
            for bit in set_bits(bits) {
                let slot = Slot::from_bit(self.line_word(index), bit);
                let priority = gic.priority(slot);
                if best.is_none_or(|(best_priority, _)| priority < best_priority) {
                    best = Some((priority, slot));
                    if priority == 0 {
                        return Some(slot);
                    }
                }
            }
        }
        best.map(|(_, slot)| slot)
    }

    /// Removes `slot` from the set.
    pub(crate) fn remove(&mut self, slot: Slot) {
        let line_word = slot.line() / 32;
        let bit = 1u32 << (slot.line() % 32);
        let index = if line_word == self.vcpu { Some(0) } else { line_word.checked_sub(FIRST_SPI_WORD).map(|spi_word| spi_word + 1) };
        if let Some(index) = index {
            let bits = self.words.get(index).copied().unwrap_or(0);
            self.insert_word(index, bits & !bit);
        }
    }
}

impl VirtualGic {
    /// Sets `candidates` to the interrupts of `vcpu` waiting for a list
    /// register: not in one, and either active or pending and signalable.
    /// Each word is one expression over the flag words: the vCPU's private
    /// word, then only the SPI words with something routed to it.
    ///
    /// Kept out of line: inlined at its second call site in the fill loop,
    /// its address computations would be hoisted into every flush.
    #[inline(never)]
    pub(crate) fn collect_candidates(&self, vcpu: usize, candidates: &mut Candidates) {
        let signal_mask = if self.distributor_enabled { u32::MAX } else { 0 };
        let waiting = |word: usize, visible: u32| {
            let signalable = self.flag_word(Flag::Pending, word) & self.flag_word(Flag::Enabled, word) & signal_mask;
            (signalable | self.flag_word(Flag::Active, word)) & !self.flag_word(Flag::Resident, word) & visible
        };
        *candidates = Candidates::EMPTY;
        candidates.vcpu = vcpu;
        if vcpu < self.vcpu_count {
            candidates.insert_word(0, waiting(vcpu, u32::MAX));
        }
        let routed_words = self.routed_words.get(vcpu).copied().unwrap_or(0);
        if let Some(routed) = self.routed_spis.get(vcpu) {
            for spi_word in set_bits(u32::from(routed_words)) {
                let bits = waiting(FIRST_SPI_WORD + spi_word, routed.word(spi_word));
                candidates.insert_word(1 + spi_word, bits);
            }
        }
    }
}
