//! The personality's own disk: opening it, and victim rounds that write a
//! pattern naming the personality and the round, flush, read it back and
//! compare, after checking the last round's pattern is still there. The
//! attacks on it are in `disk_attacks`.

use core::fmt::Write as _;

use crate::say;
use crate::virtio::{Driver, Error, SECTOR_BYTES, Transport, request_status};

/// First sector of the victim's pattern. Sector 0, so that a request that
/// escapes the end of the other personality's disk (if the partitions are
/// adjacent) lands on it and is noticed.
pub const VICTIM_SECTOR: u64 = 0;
/// Most sectors one victim round writes (fewer if `size_max` is smaller).
pub const VICTIM_SECTORS: usize = 8;
/// Sectors the attacks read and write legitimately, with a known pattern.
pub(crate) const ATTACK_SECTOR: u64 = 64;
pub(crate) const ATTACK_SECTORS: usize = 8;
/// The pattern "round" of the attack sectors (victim rounds start at 1).
pub(crate) const ATTACK_ROUND: u64 = 0;
/// Smallest disk the victim and the attacks can work on.
pub const MINIMUM_CAPACITY: u64 = 256;

/// This personality's RAM, from the device tree.
#[derive(Clone, Copy, Debug)]
pub struct Ram {
    pub start: u64,
    pub size: u64,
}

/// Fills `out` with the pattern of `name`'s `round` at `sector`: a line of
/// text naming all three, then bytes from a generator seeded by them.
pub fn sector_pattern(name: &str, round: u64, sector: u64, out: &mut [u8; SECTOR_BYTES]) {
    let mut text = heapless::String::<128>::new();
    let _ = writeln!(text, "janus testguest disk: {name} round {round} sector {sector}");
    let mut state = name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |hash, byte| (hash ^ u64::from(byte)).wrapping_mul(0x100_0000_01b3));
    state ^= round.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ sector.rotate_left(29);
    state |= 1;
    for (index, byte) in out.iter_mut().enumerate() {
        *byte = match text.as_bytes().get(index) {
            Some(&character) => character,
            None => {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state >> 24) as u8
            }
        };
    }
}

/// The first offset at which `found` differs from `expected`.
pub fn first_difference(expected: &[u8], found: &[u8]) -> Option<usize> {
    expected
        .iter()
        .zip(found)
        .position(|(expected, found)| expected != found)
        .or_else(|| if expected.len() == found.len() { None } else { Some(expected.len().min(found.len())) })
}

/// The printable text at the start of a sector, for a report.
fn sector_text(bytes: &[u8]) -> heapless::String<48> {
    let mut text = heapless::String::new();
    for &byte in bytes.iter().take(48) {
        if !(0x20..0x7f).contains(&byte) || byte == b'"' {
            break;
        }
        let _ = text.push(char::from(byte));
    }
    text
}

/// The disk of this personality: its driver, and the victim's state.
pub struct Disk<T: Transport> {
    pub(crate) driver: Driver<T>,
    pub(crate) name: heapless::String<32>,
    pub(crate) ram: Ram,
    /// Victim rounds attempted, and completed without a problem.
    attempts: u64,
    rounds: u64,
    /// The round whose pattern the victim sectors hold, if known.
    written: Option<u64>,
}

impl<T: Transport> Disk<T> {
    /// Brings the device up and prints `disk capacity=<sectors> ...`, or
    /// prints `disk FAIL ...` and returns None.
    pub fn open(transport: T, name: &str, ram: Ram) -> Option<Self> {
        let driver = match Driver::new(transport) {
            Ok(driver) => driver,
            Err(error) => {
                say!("disk FAIL initialising the device: {error}");
                return None;
            }
        };
        let mut own_name = heapless::String::new();
        for character in name.chars() {
            if own_name.push(character).is_err() {
                break;
            }
        }
        say!(
            "disk capacity={} queue={} size-max={} seg-max={} features={:#x} read-only={}",
            driver.capacity(),
            driver.queue_size(),
            driver.size_max(),
            driver.segment_max(),
            driver.features(),
            if driver.read_only() { "yes" } else { "no" }
        );
        if driver.capacity() < MINIMUM_CAPACITY {
            say!("disk FAIL capacity {} below {MINIMUM_CAPACITY} sectors", driver.capacity());
            return None;
        }
        Some(Self { driver, name: own_name, ram, attempts: 0, rounds: 0, written: None })
    }

    /// Victim rounds completed without a problem.
    pub fn rounds(&self) -> u64 {
        self.rounds
    }

    fn victim_sectors(&self) -> usize {
        (self.driver.max_transfer() / SECTOR_BYTES).min(VICTIM_SECTORS)
    }

    /// Compares the bounce buffer with `round`'s pattern of the victim
    /// sectors; describes the first difference.
    pub(crate) fn compare(&self, round: u64, first: u64, sectors: usize) -> Option<heapless::String<192>> {
        let mut expected = [0u8; SECTOR_BYTES];
        let mut found = [0u8; SECTOR_BYTES];
        for index in 0..sectors {
            let sector = first + index as u64;
            sector_pattern(&self.name, round, sector, &mut expected);
            if !self.driver.get_data(index * SECTOR_BYTES, &mut found) {
                return None;
            }
            if let Some(offset) = first_difference(&expected, &found) {
                let mut report = heapless::String::new();
                let _ = write!(
                    report,
                    "sector={sector} offset={offset} expected={:#04x} found={:#04x} found-text=\"{}\"",
                    expected.get(offset).copied().unwrap_or(0),
                    found.get(offset).copied().unwrap_or(0),
                    sector_text(&found)
                );
                return Some(report);
            }
        }
        None
    }

    /// One victim round: the last round's pattern must still be on disk;
    /// then write this round's, flush, read it back and compare. Prints
    /// `disk ok round=N`, `disk CORRUPTED round=N ...` or `disk FAIL
    /// round=N ...`.
    pub fn victim_round(&mut self) {
        self.attempts += 1;
        let round = self.attempts;
        let sectors = self.victim_sectors();
        let length = sectors * SECTOR_BYTES;
        if let Some(previous) = self.written {
            self.driver.fill_data(0, length, 0);
            if let Err(error) = self.driver.read(VICTIM_SECTOR, length) {
                return self.victim_failed(round, "reading back the last round", error);
            }
            if let Some(report) = self.compare(previous, VICTIM_SECTOR, sectors) {
                self.written = None;
                say!("disk CORRUPTED round={round} before writing, round {previous}'s data changed: {report}");
                return;
            }
        }
        let mut pattern = [0u8; SECTOR_BYTES];
        for index in 0..sectors {
            sector_pattern(&self.name, round, VICTIM_SECTOR + index as u64, &mut pattern);
            self.driver.put_data(index * SECTOR_BYTES, &pattern);
        }
        self.written = None;
        if let Err(error) = self.driver.write(VICTIM_SECTOR, length) {
            return self.victim_failed(round, "write", error);
        }
        self.written = Some(round);
        if let Err(error) = self.driver.flush() {
            return self.victim_failed(round, "flush", error);
        }
        self.driver.fill_data(0, length, 0);
        if let Err(error) = self.driver.read(VICTIM_SECTOR, length) {
            return self.victim_failed(round, "read", error);
        }
        if let Some(report) = self.compare(round, VICTIM_SECTOR, sectors) {
            say!("disk CORRUPTED round={round} reading back what was just written: {report}");
            return;
        }
        self.rounds += 1;
        say!("disk ok round={round}");
    }

    fn victim_failed(&mut self, round: u64, what: &str, error: Error) {
        say!("disk FAIL round={round} {what}: {error}");
        self.written = None;
        if matches!(error, Error::NeedsReset { .. } | Error::Timeout) {
            match self.driver.initialise() {
                Ok(()) => say!("disk re-initialised"),
                Err(error) => say!("disk FAIL re-initialising: {error}"),
            }
        }
    }

    pub(crate) fn prepare_attack_sectors(&mut self) -> Result<(), Error> {
        let mut pattern = [0u8; SECTOR_BYTES];
        for index in 0..ATTACK_SECTORS {
            sector_pattern(&self.name, ATTACK_ROUND, ATTACK_SECTOR + index as u64, &mut pattern);
            self.driver.put_data(index * SECTOR_BYTES, &pattern);
        }
        self.driver.write(ATTACK_SECTOR, ATTACK_SECTORS * SECTOR_BYTES)?;
        self.driver.flush()?;
        match self.check_attack_sector() {
            None => Ok(()),
            Some(_) => Err(Error::Status { status: request_status::OK }),
        }
    }

    /// Writes the attack sectors' pattern again after a check found them
    /// changed, so later attacks are judged on their own.
    pub(crate) fn restore_attack_sectors(&mut self) {
        if let Err(error) = self.prepare_attack_sectors() {
            say!("disk FAIL restoring the attack sectors: {error}");
        }
    }

    /// Reads the first attack sector and compares it with its pattern: the
    /// device still works and nothing was written there. Describes what is
    /// wrong, if anything.
    pub(crate) fn check_attack_sector(&mut self) -> Option<heapless::String<192>> {
        let mut report = heapless::String::new();
        if let Err(error) = self.driver.read(ATTACK_SECTOR, SECTOR_BYTES) {
            let _ = write!(report, "read of sector {ATTACK_SECTOR} failed: {error}");
            return Some(report);
        }
        self.compare(ATTACK_ROUND, ATTACK_SECTOR, 1)?;
        let _ = write!(report, "sector {ATTACK_SECTOR} changed");
        Some(report)
    }

    /// The underlying driver (host tests).
    #[cfg(not(target_os = "none"))]
    pub fn driver(&mut self) -> &mut Driver<T> {
        &mut self.driver
    }
}
