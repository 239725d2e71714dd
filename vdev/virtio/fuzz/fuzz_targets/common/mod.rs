//! Fakes shared by the fuzz targets: guest RAM in a `Vec` that refuses (and
//! can be told to abort on) accesses outside it, a disk that aborts when the
//! device breaks the backend contract, and an input cursor.

#![allow(dead_code)]

use janus_virtio::{BackendError, BlockBackend, GuestMemory, MemoryError, RequestTag, Segment, Transfer};

/// Guest RAM `[base, base + bytes.len())`.
pub struct VecMemory {
    pub base: u64,
    pub bytes: Vec<u8>,
}

impl VecMemory {
    fn range(&self, address: u64, length: usize) -> Option<std::ops::Range<usize>> {
        let start = usize::try_from(address.checked_sub(self.base)?).ok()?;
        let end = start.checked_add(length)?;
        (end <= self.bytes.len()).then_some(start..end)
    }
}

impl GuestMemory for VecMemory {
    fn read(&self, address: u64, buffer: &mut [u8]) -> Result<(), MemoryError> {
        let range = self.range(address, buffer.len()).ok_or(MemoryError)?;
        buffer.copy_from_slice(&self.bytes[range]);
        Ok(())
    }

    /// The device checks every range it writes first (rings when the queue
    /// is enabled, buffers when a chain is parsed), so a write outside guest
    /// RAM is a bug, not a guest error.
    fn write(&mut self, address: u64, data: &[u8]) -> Result<(), MemoryError> {
        let Some(range) = self.range(address, data.len()) else {
            panic!("write of {} bytes at {address:#x} outside guest RAM", data.len());
        };
        self.bytes[range].copy_from_slice(data);
        Ok(())
    }
}

/// A disk in a `Vec`, checking the caller's side of the contract.
pub struct VecDisk {
    pub data: Vec<u8>,
    pub read_only: bool,
    pub fail: bool,
    /// Serve transfers straight from and to guest memory (as Janus' DMA
    /// backend does) instead of declining them.
    pub direct: bool,
    /// Take direct transfers asynchronously (until `finish`), at most
    /// `capacity` at a time.
    pub asynchronous: bool,
    pub capacity: usize,
    pub pending: Vec<Pending>,
}

/// A direct transfer taken asynchronously.
pub struct Pending {
    pub tag: RequestTag,
    pub write: bool,
    pub sector: u64,
    pub segments: Vec<Segment>,
}

impl VecDisk {
    fn range(&self, sector: u64, length: usize) -> std::ops::Range<usize> {
        assert!(length > 0 && length.is_multiple_of(512), "backend given {length} bytes");
        let end = sector.checked_add(length as u64 / 512).expect("sector overflow reached the backend");
        assert!(end <= self.sectors(), "backend asked for sectors {sector}..{end} past {}", self.sectors());
        sector as usize * 512..end as usize * 512
    }

    /// The model's side of the direct-transfer contract: non-empty
    /// segments inside guest RAM, whole sectors inside the disk.
    fn segments(&self, sector: u64, segments: &[Segment], memory: &dyn GuestMemory) -> std::ops::Range<usize> {
        for segment in segments {
            assert!(segment.length > 0, "empty segment {segment:?}");
            assert!(memory.contains(segment.address, u64::from(segment.length)), "segment outside guest RAM reached the backend: {segment:?}");
        }
        let total = segments.iter().map(|segment| segment.length as usize).sum();
        self.range(sector, total)
    }

    fn move_data(&mut self, write: bool, sector: u64, segments: &[Segment], memory: &mut dyn GuestMemory) -> Result<(), BackendError> {
        if self.fail {
            return Err(BackendError::Io);
        }
        let mut at = sector as usize * 512;
        for segment in segments {
            let end = at + segment.length as usize;
            let moved = if write { memory.read(segment.address, &mut self.data[at..end]) } else { memory.write(segment.address, &self.data[at..end]) };
            moved.map_err(|_| BackendError::Io)?;
            at = end;
        }
        Ok(())
    }

    /// Finishes pending transfer `position` (modulo how many there are):
    /// its tag and result, for `VirtioBlock::complete`.
    pub fn finish(&mut self, position: usize, memory: &mut dyn GuestMemory) -> Option<(RequestTag, Result<(), BackendError>)> {
        if self.pending.is_empty() {
            return None;
        }
        let pending = self.pending.remove(position % self.pending.len());
        let result = self.move_data(pending.write, pending.sector, &pending.segments, memory);
        Some((pending.tag, result))
    }
}

impl BlockBackend for VecDisk {
    fn sectors(&self) -> u64 {
        self.data.len() as u64 / 512
    }

    fn read_only(&self) -> bool {
        self.read_only
    }

    fn read(&mut self, sector: u64, buffer: &mut [u8]) -> Result<(), BackendError> {
        let range = self.range(sector, buffer.len());
        if self.fail {
            return Err(BackendError::Io);
        }
        buffer.copy_from_slice(&self.data[range]);
        Ok(())
    }

    fn write(&mut self, sector: u64, data: &[u8]) -> Result<(), BackendError> {
        let range = self.range(sector, data.len());
        assert!(!self.read_only, "write reached a read-only backend");
        if self.fail {
            return Err(BackendError::Io);
        }
        self.data[range].copy_from_slice(data);
        Ok(())
    }

    fn transfer_guest(
        &mut self,
        write: bool,
        sector: u64,
        segments: &[Segment],
        memory: &mut dyn GuestMemory,
        tag: RequestTag,
    ) -> Result<Transfer, BackendError> {
        if !self.direct {
            return Ok(Transfer::Declined);
        }
        self.segments(sector, segments, memory);
        assert!(!write || !self.read_only, "write reached a read-only backend");
        if !self.asynchronous {
            self.move_data(write, sector, segments, memory)?;
            return Ok(Transfer::Done);
        }
        if self.pending.len() >= self.capacity {
            return Ok(Transfer::Busy);
        }
        self.pending.push(Pending { tag, write, sector, segments: segments.to_vec() });
        Ok(Transfer::Submitted)
    }

    fn flush(&mut self) -> Result<(), BackendError> {
        if self.fail { Err(BackendError::Io) } else { Ok(()) }
    }
}

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
