//! Disk attacks: each hands the personality's own virtio-blk device
//! malicious requests (virtio 1.2 §2.7 split virtqueues, §5.2.6 block
//! requests) and reports in one line whether every one was contained, by
//! `VIRTIO_BLK_S_IOERR` with nothing written, or by `DEVICE_NEEDS_RESET`
//! after which the re-initialised device works again.

use core::fmt::{self, Write as _};

use crate::disk::{ATTACK_ROUND, ATTACK_SECTOR, ATTACK_SECTORS, Disk, sector_pattern};
use crate::say;
use crate::virtio::{self, Descriptor, HEADER_BYTES, SECTOR_BYTES, SLOTS, Transport, Wait, interrupt, request_status, request_type, status};

/// Sectors the flood reads.
const FLOOD_SECTOR: u64 = 128;
const FLOOD_SPAN: u64 = 64;
/// Longest report line: Janus' tagged console breaks lines at 240 bytes,
/// and each starts with `testguest: `.
pub const LINE_BYTES: usize = 224;
/// What the bounce buffer holds while a request must not write into it.
const SENTINEL: u8 = 0x5a;
/// Bytes of the bounce buffer checked against [`SENTINEL`].
const SENTINEL_BYTES: usize = 4096;
/// The flood: at least this many notifications of a full queue...
const FLOOD_ROUNDS: u64 = 10_000;
/// ... and for at least this long, so the victim's rounds overlap it ...
const FLOOD_MINIMUM_SECONDS: u64 = 3;
/// ... but never longer than this.
const FLOOD_MAXIMUM_SECONDS: u64 = 20;
/// How far ahead of the used ring the flood finally moves `avail.idx`.
const FLOOD_INDEX_JUMP: u16 = 10_000;
/// A data buffer whose end overflows the address space.
const WRAPPING_ADDRESS: u64 = 0xffff_ffff_ffff_f000;
const WRAPPING_LENGTH: u32 = 0x2000;
/// A descriptor table whose end is exactly 2^64 for 16 entries.
const WRAPPING_TABLE: u64 = 0xffff_ffff_ffff_ff00;

/// One disk attack, named on the command line as `attack=virtio-<kind>`
/// (`attack=virtio-range@<address>` for a target of its choice).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Attack {
    /// Descriptor chains that loop.
    Loop,
    /// A head index, and a `next`, at or beyond the queue size.
    Index,
    /// Data buffers (and rings) outside this guest's RAM: at `target`, or
    /// just past the end of its RAM.
    Range { target: Option<u64> },
    /// Buffers (and a ring) whose end overflows the address space.
    Overflow,
    /// 4 GiB data lengths, and chains whose length wraps in 32 bits.
    Huge,
    /// A read request into a buffer the driver marked device-readable.
    ReadOnly,
    /// Sectors at and beyond the capacity.
    Sector,
    /// Far more requests and notifications than the queue holds.
    Flood,
}

impl Attack {
    /// Every kind in the order `attack=virtio-all` runs them.
    pub const ALL: [Attack; 8] =
        [Attack::Loop, Attack::Index, Attack::Range { target: None }, Attack::Overflow, Attack::Huge, Attack::ReadOnly, Attack::Sector, Attack::Flood];

    /// The attack `kind` (the part after `virtio-`), with an optional
    /// target address.
    pub fn parse(kind: &str, target: Option<u64>) -> Option<Attack> {
        Some(match kind {
            "loop" => Attack::Loop,
            "index" => Attack::Index,
            "range" => Attack::Range { target },
            "overflow" => Attack::Overflow,
            "huge" => Attack::Huge,
            "readonly" => Attack::ReadOnly,
            "sector" => Attack::Sector,
            "flood" => Attack::Flood,
            _ => return None,
        })
    }

    /// The name in its report line (`attack virtio-<name> ...`).
    pub fn name(&self) -> &'static str {
        match self {
            Attack::Loop => "loop",
            Attack::Index => "index",
            Attack::Range { .. } => "range",
            Attack::Overflow => "overflow",
            Attack::Huge => "huge",
            Attack::ReadOnly => "readonly",
            Attack::Sector => "sector",
            Attack::Flood => "flood",
        }
    }
}

/// What became of one malicious chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Returned through the used ring with this status byte.
    Completed { status: u8 },
    /// The device set `DEVICE_NEEDS_RESET`.
    Reset { status: u32, interrupt: u32 },
    /// Neither within the driver's timeout.
    Hung,
}

/// The report of one attack: how its requests were contained, what
/// happened, and what was not contained.
pub struct Verdict {
    io_errors: u32,
    resets: u32,
    /// Of the resets, those that came with a configuration change
    /// interrupt (virtio 1.2 §2.1.2).
    interrupts: u32,
    summary: Option<&'static str>,
    detail: heapless::String<512>,
    failure: heapless::String<512>,
}

impl Verdict {
    fn new() -> Self {
        Self { io_errors: 0, resets: 0, interrupts: 0, summary: None, detail: heapless::String::new(), failure: heapless::String::new() }
    }

    fn note(&mut self, arguments: fmt::Arguments<'_>) {
        if !self.detail.is_empty() {
            let _ = self.detail.push_str("; ");
        }
        let _ = self.detail.write_fmt(arguments);
    }

    fn fail(&mut self, arguments: fmt::Arguments<'_>) {
        if !self.failure.is_empty() {
            let _ = self.failure.push_str("; ");
        }
        let _ = self.failure.write_fmt(arguments);
    }

    /// Whether nothing escaped.
    pub fn contained(&self) -> bool {
        self.failure.is_empty()
    }

    /// `ioerr`, `reset`, both, or the attack's own summary.
    pub fn how(&self) -> &'static str {
        if let Some(summary) = self.summary {
            return summary;
        }
        match (self.io_errors > 0, self.resets > 0) {
            (true, false) => "ioerr",
            (false, true) => "reset",
            (true, true) => "ioerr+reset",
            (false, false) => "nothing",
        }
    }

    /// The one line of `attack virtio-<name>`, without the `testguest: `
    /// prefix, cut to [`LINE_BYTES`].
    pub fn line(&self, name: &str) -> heapless::String<LINE_BYTES> {
        let mut line = heapless::String::<512>::new();
        if self.contained() {
            let _ = write!(line, "attack virtio-{name} contained: {} ({}", self.how(), self.detail);
            if self.resets > 0 {
                let all = if self.interrupts == self.resets { "yes" } else { "NO" };
                let _ = write!(line, "; config-change interrupt {all}");
            }
            let _ = line.push(')');
        } else {
            let _ = write!(line, "attack virtio-{name} NOT CONTAINED: {}", self.failure);
        }
        let mut cut = heapless::String::new();
        for character in line.chars() {
            if cut.len() + character.len_utf8() > LINE_BYTES - 3 && line.len() > LINE_BYTES {
                let _ = cut.push_str("...");
                break;
            }
            let _ = cut.push(character);
        }
        cut
    }

    /// Prints [`Verdict::line`].
    pub fn print(&self, name: &str) {
        say!("{}", self.line(name));
    }
}

impl<T: Transport> Disk<T> {
    /// Runs `attacks` in order, one report line each, between `disk
    /// attacks start` and `disk attacks done`.
    pub fn run_attacks(&mut self, attacks: &[Attack]) {
        say!("disk attacks start");
        if let Err(error) = self.prepare_attack_sectors() {
            say!("disk FAIL preparing the attack sectors: {error}");
        }
        for attack in attacks {
            let mut verdict = Verdict::new();
            match *attack {
                Attack::Loop => self.attack_loop(&mut verdict),
                Attack::Index => self.attack_index(&mut verdict),
                Attack::Range { target } => self.attack_range(&mut verdict, target),
                Attack::Overflow => self.attack_overflow(&mut verdict),
                Attack::Huge => self.attack_huge(&mut verdict),
                Attack::ReadOnly => self.attack_read_only(&mut verdict),
                Attack::Sector => self.attack_sector(&mut verdict),
                Attack::Flood => self.attack_flood(&mut verdict),
            }
            verdict.print(attack.name());
        }
        say!("disk attacks done");
    }

    fn header(&self) -> Descriptor {
        Descriptor::readable(self.driver.header_address(0), HEADER_BYTES)
    }

    fn status_byte(&self) -> Descriptor {
        Descriptor::writable(self.driver.status_address(0), 1)
    }

    /// Header, one data buffer, status: descriptors 0, 1, 2.
    fn chain(&self, data: Descriptor) -> [(u16, Descriptor); 3] {
        [(0, self.header().then(1)), (1, data.then(2)), (2, self.status_byte())]
    }

    fn bounce_in(&self, length: u32) -> Descriptor {
        Descriptor::writable(self.driver.data_address(0), length)
    }

    /// Hands the device one chain (head `head`) and waits for it.
    fn submit(&mut self, descriptors: &[(u16, Descriptor)], head: u16) -> Outcome {
        for &(index, descriptor) in descriptors {
            self.driver.set_descriptor(index, descriptor);
        }
        self.driver.publish(&[head]);
        self.driver.notify();
        match self.driver.wait(1) {
            Wait::Done => {
                let _ = self.driver.take_used();
                let device = self.driver.device_status();
                if device & status::DEVICE_NEEDS_RESET != 0 {
                    return Outcome::Reset { status: device, interrupt: self.driver.interrupt_status() };
                }
                Outcome::Completed { status: self.driver.status(0) }
            }
            Wait::NeedsReset { status, interrupt } => Outcome::Reset { status, interrupt },
            Wait::Timeout => Outcome::Hung,
        }
    }

    /// One malicious request: header `request` at `sector` in slot 0, the
    /// given descriptors, head `head`. With `sentinel`, the first 4 KiB of
    /// the bounce buffer must come back unwritten. Then the device must
    /// still work (after a reset, once re-initialised) and the attack
    /// sector must be unchanged.
    #[allow(clippy::too_many_arguments)] // each is one part of the crafted request
    fn crafted(
        &mut self,
        verdict: &mut Verdict,
        what: fmt::Arguments<'_>,
        request: u32,
        sector: u64,
        descriptors: &[(u16, Descriptor)],
        head: u16,
        sentinel: bool,
    ) {
        if sentinel {
            self.driver.fill_data(0, SENTINEL_BYTES, SENTINEL);
        }
        self.driver.set_header(0, request, sector);
        self.driver.set_status_byte(0, request_status::UNTOUCHED);
        let outcome = self.submit(descriptors, head);
        if sentinel {
            let mut found = [0u8; SECTOR_BYTES];
            for chunk in 0..SENTINEL_BYTES / SECTOR_BYTES {
                self.driver.get_data(chunk * SECTOR_BYTES, &mut found);
                if let Some(offset) = found.iter().position(|&byte| byte != SENTINEL) {
                    verdict.fail(format_args!(
                        "{what}: device wrote the buffer at offset {} ({:#04x})",
                        chunk * SECTOR_BYTES + offset,
                        found.get(offset).copied().unwrap_or(0)
                    ));
                    break;
                }
            }
        }
        self.judge(verdict, what, outcome);
    }

    /// Records `outcome` in `verdict` and brings the device back to a
    /// working state, checking that it works.
    fn judge(&mut self, verdict: &mut Verdict, what: fmt::Arguments<'_>, outcome: Outcome) {
        match outcome {
            Outcome::Completed { status: request_status::IO_ERROR } => {
                verdict.io_errors += 1;
                verdict.note(format_args!("{what}: ioerr"));
                if let Some(problem) = self.check_attack_sector() {
                    verdict.fail(format_args!("{what}: afterwards {problem}"));
                    self.restore_attack_sectors();
                }
            }
            Outcome::Completed { status } => {
                match status {
                    request_status::OK => verdict.fail(format_args!("{what}: status OK")),
                    request_status::UNTOUCHED => verdict.fail(format_args!("{what}: no status written")),
                    other => verdict.fail(format_args!("{what}: status {other}")),
                }
                self.recover(verdict, what);
            }
            Outcome::Reset { interrupt, .. } => {
                if self.recover(verdict, what) {
                    verdict.resets += 1;
                    verdict.interrupts += u32::from(interrupt & interrupt::CONFIG_CHANGE != 0);
                    verdict.note(format_args!("{what}: reset"));
                }
            }
            Outcome::Hung => {
                verdict.fail(format_args!("{what}: no completion and no reset"));
                self.recover(verdict, what);
            }
        }
    }

    /// Resets and re-initialises the device, then checks the attack
    /// sector reads back right. False (and a failure noted) if not.
    fn recover(&mut self, verdict: &mut Verdict, what: fmt::Arguments<'_>) -> bool {
        if let Err(error) = self.driver.initialise() {
            verdict.fail(format_args!("{what}: re-initialising failed: {error}"));
            return false;
        }
        match self.check_attack_sector() {
            None => true,
            Some(problem) => {
                verdict.fail(format_args!("{what}: then {problem}"));
                self.restore_attack_sectors();
                false
            }
        }
    }

    /// Offers queue 0 with its areas at the given addresses: the device
    /// must refuse (QueueReady stays 0). Re-initialises afterwards.
    fn offer_rings(&mut self, verdict: &mut Verdict, what: fmt::Arguments<'_>, rings: (u64, u64, u64)) {
        match self.driver.offer_rings(rings.0, rings.1, rings.2) {
            Ok(false) => verdict.note(format_args!("{what}: refused")),
            Ok(true) => verdict.fail(format_args!("{what}: accepted")),
            Err(error) => verdict.fail(format_args!("{what}: {error}")),
        }
        self.recover(verdict, what);
    }

    fn attack_loop(&mut self, verdict: &mut Verdict) {
        let header = self.header();
        let data = self.bounce_in(SECTOR_BYTES as u32);
        let status = self.status_byte();
        self.crafted(verdict, format_args!("header chained to itself"), request_type::IN, ATTACK_SECTOR, &[(0, header.then(0))], 0, true);
        self.crafted(
            verdict,
            format_args!("chain 0-1-2-1"),
            request_type::IN,
            ATTACK_SECTOR,
            &[(0, header.then(1)), (1, data.then(2)), (2, status.then(1))],
            0,
            true,
        );
    }

    fn attack_index(&mut self, verdict: &mut Verdict) {
        let size = self.driver.queue_size();
        let chain = self.chain(self.bounce_in(SECTOR_BYTES as u32));
        self.crafted(verdict, format_args!("head {size}"), request_type::IN, ATTACK_SECTOR, &chain, size, true);
        self.crafted(verdict, format_args!("head 65535"), request_type::IN, ATTACK_SECTOR, &chain, u16::MAX, true);
        let header = self.header();
        let data = self.bounce_in(SECTOR_BYTES as u32);
        self.crafted(verdict, format_args!("next {size}"), request_type::IN, ATTACK_SECTOR, &[(0, header.then(1)), (1, data.then(size))], 0, true);
    }

    fn attack_range(&mut self, verdict: &mut Verdict, target: Option<u64>) {
        let target = target.unwrap_or(self.ram.start.saturating_add(self.ram.size));
        let length = SECTOR_BYTES as u32;
        // The write first: if it leaked, the attack sector now holds the
        // target's bytes, which the check afterwards sees.
        let chain = self.chain(Descriptor::readable(target, length));
        self.crafted(verdict, format_args!("write from {target:#x}"), request_type::OUT, ATTACK_SECTOR, &chain, 0, false);
        let chain = self.chain(Descriptor::writable(target, length));
        self.crafted(verdict, format_args!("read into {target:#x}"), request_type::IN, ATTACK_SECTOR, &chain, 0, false);
        let rings = (target, target.saturating_add(0x1000), target.saturating_add(0x2000));
        self.offer_rings(verdict, format_args!("rings at {target:#x}"), rings);
    }

    fn attack_overflow(&mut self, verdict: &mut Verdict) {
        // Data buffers at 0xffff_ffff_ffff_f000, 0x2000 bytes long.
        let chain = self.chain(Descriptor::writable(WRAPPING_ADDRESS, WRAPPING_LENGTH));
        self.crafted(verdict, format_args!("read wrapping 2^64"), request_type::IN, ATTACK_SECTOR, &chain, 0, false);
        let chain = self.chain(Descriptor::readable(WRAPPING_ADDRESS, WRAPPING_LENGTH));
        self.crafted(verdict, format_args!("write wrapping 2^64"), request_type::OUT, ATTACK_SECTOR, &chain, 0, false);
        // The status byte itself wraps: there is no status to trust.
        let header = self.header();
        let data = self.bounce_in(SECTOR_BYTES as u32);
        let status = Descriptor::writable(u64::MAX, 2);
        let what = format_args!("status byte wrapping 2^64");
        self.crafted(verdict, what, request_type::IN, ATTACK_SECTOR, &[(0, header.then(1)), (1, data.then(2)), (2, status)], 0, true);
        let (_, available, used) = virtio::own_rings();
        self.offer_rings(verdict, format_args!("descriptor table wrapping 2^64"), (WRAPPING_TABLE, available, used));
    }

    fn attack_huge(&mut self, verdict: &mut Verdict) {
        let chain = self.chain(self.bounce_in(u32::MAX));
        self.crafted(verdict, format_args!("read of 4 GiB - 1"), request_type::IN, ATTACK_SECTOR, &chain, 0, true);
        // 2 GiB + (2 GiB + 512): 512 bytes if summed in 32 bits.
        let header = self.header();
        let status = self.status_byte();
        let first = self.bounce_in(0x8000_0000);
        let second = self.bounce_in(0x8000_0200);
        self.crafted(
            verdict,
            format_args!("read of 2 GiB + 2 GiB + 512"),
            request_type::IN,
            ATTACK_SECTOR,
            &[(0, header.then(1)), (1, first.then(2)), (2, second.then(3)), (3, status)],
            0,
            true,
        );
        // A buffer inside this guest's RAM, one sector longer than the
        // device's advertised limit seg_max · size_max.
        let limit = u64::from(self.driver.size_max()) * u64::from(self.driver.segment_max());
        let region = self.ram.start.saturating_add(16 << 20);
        let Some(length) = limit.checked_add(SECTOR_BYTES as u64).filter(|_| limit != 0) else { return };
        let fits = region.checked_add(length).is_some_and(|end| end <= self.ram.start.saturating_add(self.ram.size));
        let Ok(length32) = u32::try_from(length) else { return };
        if !fits {
            return;
        }
        // SAFETY: [region, region + length) lies inside this guest's RAM
        // (checked above), 16 MiB in: past the image and the canary page,
        // used by nothing else.
        unsafe { plant(region, length) };
        let chain = self.chain(Descriptor::writable(region, length32));
        self.crafted(verdict, format_args!("read of {length} bytes into own RAM"), request_type::IN, ATTACK_SECTOR, &chain, 0, false);
        // SAFETY: as above.
        if let Some(offset) = unsafe { planted_difference(region, length) } {
            verdict.fail(format_args!("read of {length} bytes into own RAM: the device wrote at {:#x}", region + offset));
        }
    }

    fn attack_read_only(&mut self, verdict: &mut Verdict) {
        let chain = self.chain(Descriptor::readable(self.driver.data_address(0), SECTOR_BYTES as u32));
        self.crafted(verdict, format_args!("read into a device-readable buffer"), request_type::IN, ATTACK_SECTOR, &chain, 0, true);
        let header = self.header();
        let status = self.status_byte();
        let readable = Descriptor::readable(self.driver.data_address(0), SECTOR_BYTES as u32);
        let writable = Descriptor::writable(self.driver.data_address(SECTOR_BYTES), SECTOR_BYTES as u32);
        self.crafted(
            verdict,
            format_args!("read into a device-readable then a writable buffer"),
            request_type::IN,
            ATTACK_SECTOR,
            &[(0, header.then(1)), (1, readable.then(2)), (2, writable.then(3)), (3, status)],
            0,
            true,
        );
    }

    fn attack_sector(&mut self, verdict: &mut Verdict) {
        let capacity = self.driver.capacity();
        let one = self.chain(self.bounce_in(SECTOR_BYTES as u32));
        let two = self.chain(self.bounce_in(2 * SECTOR_BYTES as u32));
        self.crafted(verdict, format_args!("read at the capacity"), request_type::IN, capacity, &one, 0, true);
        let last = capacity.saturating_sub(1);
        self.crafted(verdict, format_args!("read of 2 across the end"), request_type::IN, last, &two, 0, true);
        self.crafted(verdict, format_args!("read at 2^64-1"), request_type::IN, u64::MAX, &one, 0, true);
        // Writes past the end: if they escaped they would land on whatever
        // follows this disk (the other personality's victim sectors).
        let length = ATTACK_SECTORS * SECTOR_BYTES;
        let out = self.chain(Descriptor::readable(self.driver.data_address(0), length as u32));
        for (sector, what) in [(capacity, "write of 8 at the capacity"), (u64::MAX - 3, "write of 8 at 2^64-4")] {
            let mut pattern = [0u8; SECTOR_BYTES];
            for index in 0..ATTACK_SECTORS {
                sector_pattern(&self.name, ATTACK_ROUND, sector.wrapping_add(index as u64), &mut pattern);
                self.driver.put_data(index * SECTOR_BYTES, &pattern);
            }
            self.crafted(verdict, format_args!("{what}"), request_type::OUT, sector, &out, 0, false);
        }
    }

    fn attack_flood(&mut self, verdict: &mut Verdict) {
        verdict.summary = Some("flood done");
        let per_round = (self.driver.queue_size() / 3).clamp(1, SLOTS);
        let second = virtio::ticks_per_second();
        let start = virtio::now();
        let (mut rounds, mut requests, mut notifies, mut failed) = (0u64, 0u64, 0u64, 0u64);
        loop {
            let elapsed = virtio::now().saturating_sub(start);
            let enough = rounds >= FLOOD_ROUNDS && elapsed >= FLOOD_MINIMUM_SECONDS * second;
            if enough || elapsed >= FLOOD_MAXIMUM_SECONDS * second {
                break;
            }
            let mut heads = heapless::Vec::<u16, { SLOTS as usize }>::new();
            for slot in 0..per_round {
                let first = slot * 3;
                let sector = FLOOD_SECTOR + (requests + u64::from(slot)) % FLOOD_SPAN;
                self.driver.set_header(slot, request_type::IN, sector);
                self.driver.set_status_byte(slot, request_status::UNTOUCHED);
                let header = Descriptor::readable(self.driver.header_address(slot), HEADER_BYTES);
                let data = Descriptor::writable(self.driver.data_address(usize::from(slot) * SECTOR_BYTES), SECTOR_BYTES as u32);
                let status = Descriptor::writable(self.driver.status_address(slot), 1);
                self.driver.set_descriptor(first, header.then(first + 1));
                self.driver.set_descriptor(first + 1, data.then(first + 2));
                self.driver.set_descriptor(first + 2, status);
                let _ = heads.push(first);
            }
            self.driver.publish(&heads);
            // One notification for the work, one for nothing.
            self.driver.notify();
            self.driver.notify();
            notifies += 2;
            match self.driver.wait(per_round) {
                Wait::Done => {}
                Wait::NeedsReset { status, .. } => {
                    verdict.fail(format_args!("round {rounds}: valid requests made the device ask for a reset (status {status:#x})"));
                    self.recover(verdict, format_args!("flood"));
                    break;
                }
                Wait::Timeout => {
                    verdict.fail(format_args!("round {rounds}: valid requests not completed"));
                    self.recover(verdict, format_args!("flood"));
                    break;
                }
            }
            for _ in 0..per_round {
                match self.driver.take_used() {
                    Some(used) if heads.iter().any(|&head| u32::from(head) == used.id) => {}
                    Some(_) | None => failed += 1,
                }
            }
            failed += (0..per_round).filter(|&slot| self.driver.status(slot) != request_status::OK).count() as u64;
            requests += u64::from(per_round);
            rounds += 1;
        }
        let milliseconds = virtio::now().saturating_sub(start).saturating_mul(1000) / second.max(1);
        verdict.note(format_args!("requests={requests} rounds={rounds} notifies={notifies} in {milliseconds} ms"));
        if failed > 0 {
            verdict.fail(format_args!("{failed} of {requests} valid requests failed"));
        }
        if !verdict.contained() {
            return;
        }
        // Then far more requests than the queue holds, all at once.
        let jump = self.driver.available_index().wrapping_add(FLOOD_INDEX_JUMP);
        self.driver.publish_raw_index(jump);
        self.driver.notify();
        let outcome = match self.driver.wait(1) {
            Wait::Done => Outcome::Completed { status: self.driver.status(0) },
            Wait::NeedsReset { status, interrupt } => Outcome::Reset { status, interrupt },
            Wait::Timeout => Outcome::Hung,
        };
        match outcome {
            Outcome::Reset { interrupt, .. } => {
                if self.recover(verdict, format_args!("avail.idx {FLOOD_INDEX_JUMP} ahead")) {
                    verdict.resets += 1;
                    verdict.interrupts += u32::from(interrupt & interrupt::CONFIG_CHANGE != 0);
                    verdict.note(format_args!("avail.idx {FLOOD_INDEX_JUMP} ahead: reset"));
                }
            }
            Outcome::Completed { .. } => {
                verdict.fail(format_args!("avail.idx {FLOOD_INDEX_JUMP} ahead: the device served stale ring entries"));
                self.recover(verdict, format_args!("avail.idx jump"));
            }
            Outcome::Hung => {
                verdict.fail(format_args!("avail.idx {FLOOD_INDEX_JUMP} ahead: neither served nor asked for a reset"));
                self.recover(verdict, format_args!("avail.idx jump"));
            }
        }
    }
}

/// Bytes planted at each end of a region a request must not write.
const PLANTED_BYTES: u64 = 512;

/// Fills the first and last 512 bytes of `[start, start + length)` with
/// [`SENTINEL`].
///
/// # Safety
///
/// The range must be RAM of this guest that nothing else uses, at least
/// 1 KiB long.
unsafe fn plant(start: u64, length: u64) {
    for offset in (0..PLANTED_BYTES).chain(length - PLANTED_BYTES..length) {
        // SAFETY: inside the range (offset < length), per the contract.
        unsafe { ((start + offset) as *mut u8).write_volatile(SENTINEL) };
    }
}

/// The first planted byte that no longer holds [`SENTINEL`].
///
/// # Safety
///
/// As for [`plant`].
unsafe fn planted_difference(start: u64, length: u64) -> Option<u64> {
    // SAFETY: inside the range, per the contract.
    (0..PLANTED_BYTES).chain(length - PLANTED_BYTES..length).find(|&offset| unsafe { ((start + offset) as *const u8).read_volatile() } != SENTINEL)
}
