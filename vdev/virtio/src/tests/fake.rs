//! Fakes for the two traits: sparse guest RAM with holes and write-protected
//! ranges, and a disk in a `Vec` with switchable failures that checks the
//! caller's side of the [`BlockBackend`] contract.

use std::cell::Cell;
use std::collections::BTreeMap;

use crate::{BackendError, BlockBackend, GuestMemory, MemoryError, RequestTag, Segment, Transfer};

const PAGE: u64 = 4096;

/// Guest RAM `[base, base + size)`, stored sparsely (untouched pages read as
/// zero), so tests can describe gigabyte buffers.
#[derive(Clone, Debug)]
pub struct FakeMemory {
    pub base: u64,
    pub size: u64,
    pages: BTreeMap<u64, Vec<u8>>,
    /// Ranges inside RAM where every access fails (the default `contains`
    /// probe only looks at the ends of a range, so a hole in the middle
    /// passes it).
    pub holes: Vec<(u64, u64)>,
    /// Ranges that can be read but not written.
    pub write_protected: Vec<(u64, u64)>,
    /// Write attempts the fake refused.
    pub refused_writes: Cell<usize>,
    pub fences: Cell<usize>,
}

impl FakeMemory {
    pub fn new(base: u64, size: u64) -> Self {
        Self { base, size, pages: BTreeMap::new(), holes: Vec::new(), write_protected: Vec::new(), refused_writes: Cell::new(0), fences: Cell::new(0) }
    }

    fn in_range(&self, address: u64, length: usize) -> bool {
        let Some(end) = address.checked_add(length as u64) else {
            return false;
        };
        let in_hole = self.holes.iter().any(|&(start, stop)| address < stop && start < end);
        address >= self.base && end <= self.base + self.size && !in_hole
    }

    /// Direct access for the test driver (panics outside RAM).
    pub fn load(&self, address: u64, buffer: &mut [u8]) {
        assert!(address >= self.base && address + buffer.len() as u64 <= self.base + self.size);
        let mut at = address;
        for piece in split_at_pages(address, buffer) {
            let start = (at % PAGE) as usize;
            match self.pages.get(&(at / PAGE)) {
                Some(page) => piece.copy_from_slice(&page[start..start + piece.len()]),
                None => piece.fill(0),
            }
            at += piece.len() as u64;
        }
    }

    pub fn store(&mut self, address: u64, data: &[u8]) {
        assert!(address >= self.base && address + data.len() as u64 <= self.base + self.size);
        let mut at = address;
        let mut rest = data;
        while !rest.is_empty() {
            let start = (at % PAGE) as usize;
            let length = rest.len().min(PAGE as usize - start);
            let page = self.pages.entry(at / PAGE).or_insert_with(|| vec![0; PAGE as usize]);
            page[start..start + length].copy_from_slice(&rest[..length]);
            rest = &rest[length..];
            at += length as u64;
        }
    }

    pub fn bytes(&self, address: u64, length: usize) -> Vec<u8> {
        let mut buffer = vec![0; length];
        self.load(address, &mut buffer);
        buffer
    }

    pub fn u16(&self, address: u64) -> u16 {
        let mut bytes = [0; 2];
        self.load(address, &mut bytes);
        u16::from_le_bytes(bytes)
    }

    pub fn u32(&self, address: u64) -> u32 {
        let mut bytes = [0; 4];
        self.load(address, &mut bytes);
        u32::from_le_bytes(bytes)
    }

    /// A snapshot of every stored page, to compare memory before and after.
    pub fn snapshot(&self) -> BTreeMap<u64, Vec<u8>> {
        self.pages.clone()
    }
}

impl GuestMemory for FakeMemory {
    fn read(&self, address: u64, buffer: &mut [u8]) -> Result<(), MemoryError> {
        if !self.in_range(address, buffer.len()) {
            return Err(MemoryError);
        }
        self.load(address, buffer);
        Ok(())
    }

    fn write(&mut self, address: u64, data: &[u8]) -> Result<(), MemoryError> {
        let end = address.checked_add(data.len() as u64);
        let protected = self.write_protected.iter().any(|&(start, stop)| end.is_some_and(|end| address < stop && start < end));
        if !self.in_range(address, data.len()) || protected {
            self.refused_writes.set(self.refused_writes.get() + 1);
            return Err(MemoryError);
        }
        self.store(address, data);
        Ok(())
    }

    fn fence(&self) {
        self.fences.set(self.fences.get() + 1);
    }
}

/// `buffer` cut where `address + offset` crosses a page boundary.
fn split_at_pages(address: u64, buffer: &mut [u8]) -> Vec<&mut [u8]> {
    let mut pieces = Vec::new();
    let mut rest = buffer;
    let mut at = address;
    while !rest.is_empty() {
        let length = rest.len().min((PAGE - at % PAGE) as usize);
        let (piece, tail) = rest.split_at_mut(length);
        pieces.push(piece);
        rest = tail;
        at += length as u64;
    }
    pieces
}

/// One call the disk received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DiskCall {
    Read {
        sector: u64,
        length: usize,
    },
    Write {
        sector: u64,
        length: usize,
    },
    /// A direct transfer into guest memory, with the segments it was given.
    ReadDirect {
        sector: u64,
        segments: Vec<Segment>,
    },
    /// A direct transfer out of guest memory.
    WriteDirect {
        sector: u64,
        segments: Vec<Segment>,
    },
    Flush,
}

/// A disk of 512-byte sectors in memory.
#[derive(Clone, Debug, Default)]
pub struct FakeDisk {
    pub data: Vec<u8>,
    pub read_only: bool,
    pub fail_reads: bool,
    pub fail_writes: bool,
    pub fail_flush: bool,
    /// Serve reads and writes straight from and to guest memory (as a DMA
    /// backend does) instead of declining them.
    pub direct: bool,
    /// Take direct transfers asynchronously: they wait in `pending` until
    /// [`FakeDisk::finish`] moves their data (as a DMA disk completes later).
    pub asynchronous: bool,
    /// With `asynchronous`: at most this many pending, then `Busy`.
    pub capacity: usize,
    pub pending: std::collections::VecDeque<Pending>,
    pub calls: Vec<DiskCall>,
}

/// A direct transfer the fake took asynchronously.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pending {
    pub tag: RequestTag,
    pub write: bool,
    pub sector: u64,
    pub segments: Vec<Segment>,
}

impl FakeDisk {
    /// `sectors` sectors, sector `n` filled with byte pattern `n * 7 + i`.
    pub fn new(sectors: u64) -> Self {
        let data = (0..sectors * 512).map(|i| ((i / 512) * 7 + i % 251) as u8).collect();
        Self { data, ..Self::default() }
    }

    fn check_contract(&self, sector: u64, length: usize) -> std::ops::Range<usize> {
        assert!(length > 0 && length.is_multiple_of(512), "backend called with {length} bytes");
        let end = sector.checked_add(length as u64 / 512).expect("sector overflow reached the backend");
        assert!(end <= self.sectors(), "backend called past the end: {sector} + {length} bytes");
        (sector as usize * 512)..(end as usize * 512)
    }

    /// The model's side of the direct-transfer contract: non-empty
    /// segments that passed `contains`, adding up to whole sectors inside
    /// the disk. Like a DMA backend, the fake then checks every byte itself
    /// (`contains` only probes the ends, so a segment over a hole in RAM
    /// gets here) and fails the request if one is not guest RAM.
    fn check_segments(&self, sector: u64, segments: &[Segment], memory: &dyn GuestMemory) -> Result<std::ops::Range<usize>, BackendError> {
        let mut exact = true;
        for segment in segments {
            assert!(segment.length > 0, "empty segment {segment:?}");
            assert!(memory.contains(segment.address, u64::from(segment.length)), "segment outside guest RAM reached the backend: {segment:?}");
            let mut probe = vec![0u8; segment.length as usize];
            exact &= memory.read(segment.address, &mut probe).is_ok();
        }
        let total: usize = segments.iter().map(|segment| segment.length as usize).sum();
        let range = self.check_contract(sector, total);
        if exact { Ok(range) } else { Err(BackendError::Io) }
    }

    /// Moves a direct transfer's data (failing as the switches say).
    fn move_data(&mut self, write: bool, sector: u64, segments: &[Segment], memory: &mut dyn GuestMemory) -> Result<(), BackendError> {
        if (write && self.fail_writes) || (!write && self.fail_reads) {
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

    /// Finishes the pending transfer at `position` (0: the oldest): moves
    /// its data and returns its tag and result for `complete`.
    pub fn finish(&mut self, position: usize, memory: &mut dyn GuestMemory) -> Option<(RequestTag, Result<(), BackendError>)> {
        let pending = self.pending.remove(position)?;
        let result = self.move_data(pending.write, pending.sector, &pending.segments, memory);
        Some((pending.tag, result))
    }

    pub fn sector(&self, sector: u64) -> &[u8] {
        &self.data[sector as usize * 512..(sector as usize + 1) * 512]
    }
}

impl BlockBackend for FakeDisk {
    fn sectors(&self) -> u64 {
        self.data.len() as u64 / 512
    }

    fn read_only(&self) -> bool {
        self.read_only
    }

    fn read(&mut self, sector: u64, buffer: &mut [u8]) -> Result<(), BackendError> {
        let range = self.check_contract(sector, buffer.len());
        self.calls.push(DiskCall::Read { sector, length: buffer.len() });
        if self.fail_reads {
            return Err(BackendError::Io);
        }
        buffer.copy_from_slice(&self.data[range]);
        Ok(())
    }

    fn write(&mut self, sector: u64, data: &[u8]) -> Result<(), BackendError> {
        let range = self.check_contract(sector, data.len());
        assert!(!self.read_only, "write reached a read-only backend");
        self.calls.push(DiskCall::Write { sector, length: data.len() });
        if self.fail_writes {
            return Err(BackendError::Io);
        }
        self.data[range].copy_from_slice(data);
        Ok(())
    }

    /// Both directions of a direct transfer: declined unless `direct`,
    /// pending if `asynchronous` (busy at `capacity`), done otherwise.
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
        if self.asynchronous && self.pending.len() >= self.capacity {
            return Ok(Transfer::Busy);
        }
        self.check_segments(sector, segments, memory)?;
        assert!(!write || !self.read_only, "write reached a read-only backend");
        let segments = segments.to_vec();
        self.calls.push(if write {
            DiskCall::WriteDirect { sector, segments: segments.clone() }
        } else {
            DiskCall::ReadDirect { sector, segments: segments.clone() }
        });
        if self.asynchronous {
            assert!(self.pending.iter().all(|pending| pending.tag != tag), "tag {tag:?} handed out twice while in flight");
            self.pending.push_back(Pending { tag, write, sector, segments });
            return Ok(Transfer::Submitted);
        }
        self.move_data(write, sector, &segments, memory)?;
        Ok(Transfer::Done)
    }

    fn flush(&mut self) -> Result<(), BackendError> {
        self.calls.push(DiskCall::Flush);
        if self.fail_flush { Err(BackendError::Io) } else { Ok(()) }
    }
}
