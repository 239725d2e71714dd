//! The guest's driver, victim and attacks against the device model.

use std::sync::{Mutex, MutexGuard};

use crate::console::take_lines;
use crate::disk::{Disk, Ram, first_difference, sector_pattern};
use crate::disk_attacks::Attack;
use crate::fake::FakeTransport;
use crate::virtio::{self, Driver, Error, SECTOR_BYTES};

/// The guest's DMA area is one static: one test at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    let guard = SERIAL.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    take_lines();
    guard
}

/// The guest's RAM in these tests: its DMA area.
fn dma_ram() -> (u64, u64) {
    let (start, size) = virtio::dma_range();
    (start, size as u64)
}

fn open(name: &str, transport: &FakeTransport) -> Disk<FakeTransport> {
    let (start, size) = dma_ram();
    let disk = Disk::open(transport.clone(), name, Ram { start, size }).expect("the disk opens");
    let lines = take_lines();
    assert!(lines.iter().any(|line| line.starts_with("testguest: disk capacity=1024 queue=16 size-max=65536 seg-max=64")), "{lines:?}");
    disk
}

fn line_with<'a>(lines: &'a [String], text: &str) -> &'a str {
    lines.iter().find(|line| line.contains(text)).unwrap_or_else(|| panic!("no line with {text:?} in {lines:#?}"))
}

#[test]
fn the_driver_negotiates_and_moves_data() {
    let _serial = serial();
    let transport = FakeTransport::new(1024, vec![dma_ram()]);
    let mut driver = Driver::new(transport.clone()).expect("initialises");
    assert_eq!(driver.capacity(), 1024);
    assert_eq!(driver.queue_size(), 16);
    assert_eq!(driver.features() & virtio::feature::VERSION_1, virtio::feature::VERSION_1);
    assert!(!driver.read_only());
    let data: Vec<u8> = (0..4096).map(|index| (index * 7 % 256) as u8).collect();
    assert!(driver.put_data(0, &data));
    driver.write(10, 4096).expect("write");
    driver.flush().expect("flush");
    assert_eq!(&transport.0.borrow().disk.bytes[10 * 512..18 * 512], &data[..]);
    driver.fill_data(0, 4096, 0);
    driver.read(10, 4096).expect("read");
    let mut back = vec![0; 4096];
    assert!(driver.get_data(0, &mut back));
    assert_eq!(back, data);
    assert_eq!(transport.0.borrow().disk.flushes, 1);
    // Not whole sectors, or more than the bounce buffer: refused locally.
    assert_eq!(driver.read(0, 100), Err(Error::BadLength { length: 100 }));
    assert_eq!(driver.read(0, 1 << 20), Err(Error::BadLength { length: 1 << 20 }));
    // Past the end: the device answers IOERR.
    assert_eq!(driver.read(1024, 512), Err(Error::Status { status: 1 }));
    // Many requests: the ring indices wrap around the queue many times.
    for round in 0..100u64 {
        driver.read(round % 1000, 512).expect("read");
    }
    assert_eq!(transport.0.borrow().model.statistics().needs_reset, 0);
}

#[test]
fn a_smaller_queue_is_used_as_offered() {
    let _serial = serial();
    let transport = FakeTransport::new(1024, vec![dma_ram()]);
    let config = janus_virtio::BlockConfig { serial: [0; 20], queue_size_max: 8, segment_max: 4, size_max: 4096 };
    transport.0.borrow_mut().model = janus_virtio::VirtioBlock::new(config);
    let mut driver = Driver::new(transport.clone()).expect("initialises");
    assert_eq!(driver.queue_size(), 8);
    assert_eq!(driver.max_transfer(), 4096);
    for sector in 0..40 {
        driver.write(sector, 512).expect("write");
    }
}

#[test]
fn victim_rounds_write_flush_read_back_and_compare() {
    let _serial = serial();
    let transport = FakeTransport::new(1024, vec![dma_ram()]);
    let mut disk = open("work", &transport);
    for _ in 0..5 {
        disk.victim_round();
    }
    let lines = take_lines();
    let expected: Vec<String> = (1..=5).map(|round| format!("testguest: disk ok round={round}")).collect();
    assert_eq!(lines, expected);
    assert_eq!(disk.rounds(), 5);
    let mut device = transport.0.borrow_mut();
    // A well-behaved driver: the device recorded no error at all (Janus
    // would warn about the victim otherwise).
    assert_eq!(device.model.statistics().total_errors(), 0, "{:?}", device.model.take_last_error());
    assert!(device.disk.sector(0).starts_with(b"janus testguest disk: work round 5 sector 0\n"));
    assert!(device.disk.sector(7).starts_with(b"janus testguest disk: work round 5 sector 7\n"));
    assert_eq!(device.disk.flushes, 5);
}

#[test]
fn a_victim_notices_its_data_changed_behind_its_back() {
    let _serial = serial();
    let transport = FakeTransport::new(1024, vec![dma_ram()]);
    let mut disk = open("work", &transport);
    disk.victim_round();
    let mut other = [0u8; SECTOR_BYTES];
    sector_pattern("personal", 9, 3, &mut other);
    transport.0.borrow_mut().disk.bytes[3 * 512..4 * 512].copy_from_slice(&other);
    disk.victim_round();
    disk.victim_round();
    let lines = take_lines();
    assert_eq!(lines[0], "testguest: disk ok round=1");
    assert!(
        lines[1].starts_with("testguest: disk CORRUPTED round=2 before writing, round 1's data changed: sector=3 offset=22 ")
            && lines[1].ends_with("found-text=\"janus testguest disk: personal round 9 sector 3\""),
        "{lines:?}"
    );
    assert_eq!(lines[2], "testguest: disk ok round=3");
    assert_eq!(disk.rounds(), 2);
}

#[test]
fn every_attack_is_contained_by_the_device_model() {
    let _serial = serial();
    let foreign = vec![0x33u8; 16384];
    let foreign_address = foreign.as_ptr() as u64;
    let transport = FakeTransport::new(1024, vec![dma_ram()]);
    let neighbour_before = transport.0.borrow().disk.bytes[1024 * 512..].to_vec();
    let mut disk = open("personal", &transport);
    let mut attacks = Attack::ALL.to_vec();
    attacks[2] = Attack::Range { target: Some(foreign_address) };
    disk.run_attacks(&attacks);
    let lines = take_lines();
    assert_eq!(lines.first().map(String::as_str), Some("testguest: disk attacks start"), "{lines:#?}");
    assert_eq!(lines.last().map(String::as_str), Some("testguest: disk attacks done"), "{lines:#?}");
    assert_eq!(lines.len(), attacks.len() + 2, "{lines:#?}");
    for (kind, how) in [
        ("loop", "reset"),
        ("index", "reset"),
        ("range", "ioerr"),
        ("overflow", "ioerr+reset"),
        ("huge", "ioerr"),
        ("readonly", "ioerr"),
        ("sector", "ioerr"),
        ("flood", "flood done"),
    ] {
        line_with(&lines, &format!("testguest: attack virtio-{kind} contained: {how} ("));
    }
    for kind in ["loop", "index", "overflow", "flood"] {
        assert!(line_with(&lines, &format!("virtio-{kind} ")).ends_with("; config-change interrupt yes)"), "{lines:#?}");
    }
    assert!(line_with(&lines, "virtio-range").contains(&format!("rings at {foreign_address:#x}: refused")));
    assert!(line_with(&lines, "virtio-overflow").contains("descriptor table wrapping 2^64: refused"));
    // Every line fits Janus' tagged console (240 bytes a line).
    for line in &lines {
        assert!(line.len() <= 240, "{} bytes: {line}", line.len());
    }
    let flood = line_with(&lines, "virtio-flood");
    let number = |name: &str| -> u64 {
        let start = flood.find(&format!("{name}=")).expect(name) + name.len() + 1;
        flood[start..].split(' ').next().and_then(|value| value.parse().ok()).expect(name)
    };
    assert!(number("rounds") >= 10_000, "{flood}");
    assert_eq!(number("requests"), 5 * number("rounds"), "{flood}");
    assert_eq!(number("notifies"), 2 * number("rounds"), "{flood}");
    assert!(flood.contains("avail.idx 10000 ahead: reset"), "{flood}");
    // Nothing reached outside the guest's RAM or past the disk's end.
    assert!(foreign.iter().all(|&byte| byte == 0x33));
    assert_eq!(transport.0.borrow().disk.bytes[1024 * 512..], neighbour_before[..]);
    let statistics = transport.0.borrow().model.statistics().clone();
    assert_eq!(statistics.needs_reset, 2 + 3 + 1 + 1);
    // The disk still works for the victim afterwards.
    disk.victim_round();
    assert_eq!(take_lines(), ["testguest: disk ok round=1"]);
}

#[test]
fn a_device_that_never_asks_for_a_reset_is_reported() {
    let _serial = serial();
    let transport = FakeTransport::new(1024, vec![dma_ram()]);
    transport.0.borrow_mut().hide_needs_reset = true;
    let mut disk = open("personal", &transport);
    disk.run_attacks(&[Attack::Loop, Attack::ReadOnly]);
    let lines = take_lines();
    assert!(
        line_with(&lines, "virtio-loop").starts_with(
            "testguest: attack virtio-loop NOT CONTAINED: header chained to itself: no completion and no reset; chain 0-1-2-1: no completion and no reset"
        ),
        "{lines:#?}"
    );
    line_with(&lines, "testguest: attack virtio-readonly contained: ioerr (");
}

#[test]
fn a_device_that_reaches_outside_guest_ram_is_reported() {
    let _serial = serial();
    let mut foreign = vec![0x33u8; 16384];
    let foreign_address = foreign.as_mut_ptr() as u64;
    // A device that takes the other personality's RAM for this one's.
    let transport = FakeTransport::new(1024, vec![dma_ram(), (foreign_address, foreign.len() as u64)]);
    let mut disk = open("personal", &transport);
    disk.run_attacks(&[Attack::Range { target: Some(foreign_address) }]);
    let lines = take_lines();
    let line = line_with(&lines, "virtio-range");
    assert!(line.starts_with("testguest: attack virtio-range NOT CONTAINED: "), "{line}");
    assert!(line.contains(&format!("write from {foreign_address:#x}: status OK; write from {foreign_address:#x}: then sector 64 changed")), "{line}");
    assert!(line.contains(&format!("read into {foreign_address:#x}: status OK")), "{line}");
    assert!(line.contains(&format!("rings at {foreign_address:#x}: accepted")), "{line}");
    assert!(line.len() <= 240, "{line}");
    // The read that escaped put the attack sector's pattern there.
    assert!(foreign[..512].starts_with(b"janus testguest disk: personal round 0 sector 64"));
}

#[test]
fn patterns_name_their_writer_round_and_sector() {
    let mut first = [0u8; SECTOR_BYTES];
    let mut again = [0u8; SECTOR_BYTES];
    sector_pattern("work", 3, 5, &mut first);
    sector_pattern("work", 3, 5, &mut again);
    assert_eq!(first, again);
    assert!(first.starts_with(b"janus testguest disk: work round 3 sector 5\n"));
    for (name, round, sector) in [("personal", 3, 5), ("work", 4, 5), ("work", 3, 6)] {
        sector_pattern(name, round, sector, &mut again);
        let tail = 64;
        assert_ne!(first[tail..], again[tail..], "{name} {round} {sector}");
    }
    assert_eq!(first_difference(b"abc", b"abc"), None);
    assert_eq!(first_difference(b"abc", b"abd"), Some(2));
    assert_eq!(first_difference(b"abc", b"ab"), Some(2));
}

#[test]
fn attacks_parse_from_the_command_line() {
    assert_eq!(Attack::parse("loop", None), Some(Attack::Loop));
    assert_eq!(Attack::parse("range", Some(0x5040_0000)), Some(Attack::Range { target: Some(0x5040_0000) }));
    assert_eq!(Attack::parse("readonly", None), Some(Attack::ReadOnly));
    assert_eq!(Attack::parse("bogus", None), None);
    for attack in Attack::ALL {
        assert_eq!(Attack::parse(attack.name(), None), Some(attack));
    }
}

#[test]
fn a_request_beyond_the_advertised_limit_inside_ram_is_refused() {
    let _serial = serial();
    // A 24 MiB "RAM" besides the DMA area, so the over-limit buffer (16 MiB
    // in, seg_max · size_max + 512 bytes long) lies inside guest RAM.
    let ram = vec![0u8; 24 << 20];
    let start = ram.as_ptr() as u64;
    let transport = FakeTransport::new(1 << 16, vec![dma_ram(), (start, ram.len() as u64)]);
    let mut disk = Disk::open(transport.clone(), "personal", Ram { start, size: ram.len() as u64 }).expect("opens");
    take_lines();
    disk.run_attacks(&[Attack::Huge]);
    let lines = take_lines();
    let line = line_with(&lines, "virtio-huge");
    assert!(line.starts_with("testguest: attack virtio-huge contained: ioerr ("), "{line}");
    assert!(line.contains("read of 4194816 bytes into own RAM: ioerr"), "{line}");
    // Only the planted ends were written, by the guest itself.
    assert!(ram[16 << 20..(16 << 20) + 512].iter().all(|&byte| byte == 0x5a));
    assert!(ram[(16 << 20) + 512..(16 << 20) + 4096].iter().all(|&byte| byte == 0));
}
