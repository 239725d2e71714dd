//! The input cursor shared by the fuzz targets (the fake guest RAM and disk
//! are `janus_virtio::mock`, shared with the crate's tests).

#![allow(dead_code)]

/// A cursor over the fuzz input that yields zeros once it runs out.
pub struct Input<'a> {
    pub bytes: &'a [u8],
}

impl Input<'_> {
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    pub fn byte(&mut self) -> u8 {
        match self.bytes.split_first() {
            Some((first, rest)) => {
                self.bytes = rest;
                *first
            }
            None => 0,
        }
    }

    pub fn word(&mut self, length: usize) -> u64 {
        let mut word = [0u8; 8];
        let length = self.bytes.len().min(length).min(8);
        let (head, tail) = self.bytes.split_at(length);
        word[..length].copy_from_slice(head);
        self.bytes = tail;
        u64::from_le_bytes(word)
    }

    pub fn u16(&mut self) -> u16 {
        self.word(2) as u16
    }

    pub fn u32(&mut self) -> u32 {
        self.word(4) as u32
    }

    pub fn u64(&mut self) -> u64 {
        self.word(8)
    }
}
