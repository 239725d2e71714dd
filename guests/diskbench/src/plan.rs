//! What janus-diskbench does, as pure data: its options, the fixed-seed
//! offsets of the random tests, the sector stamps that check the data read
//! back, and the result lines xtask parses. Host-tested.

/// Bytes per sequential request.
pub const SEQUENTIAL_BLOCK: usize = 1 << 20;
/// Bytes per random request.
pub const RANDOM_BLOCK: usize = 4096;
/// The seed of the random offsets and of the sector stamps.
pub const DEFAULT_SEED: u64 = 0x4a41_4e55_5344_4b42; // "JANUSDKB"

/// One test, in the order the tool runs them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Test {
    /// 1 MiB writes from offset 0, then fdatasync.
    SequentialWrite,
    /// 1 MiB reads of what the sequential writes wrote.
    SequentialRead,
    /// 4 KiB reads at random aligned offsets inside the written span.
    RandomRead,
    /// 4 KiB writes at random aligned offsets, then fdatasync.
    RandomWrite,
}

impl Test {
    /// Every test, in run order.
    pub const ALL: [Self; 4] = [Self::SequentialWrite, Self::SequentialRead, Self::RandomRead, Self::RandomWrite];

    /// The name on the result line (and in xtask's report).
    pub const fn name(self) -> &'static str {
        match self {
            Self::SequentialWrite => "seq-write-1m",
            Self::SequentialRead => "seq-read-1m",
            Self::RandomRead => "rand-read-4k",
            Self::RandomWrite => "rand-write-4k",
        }
    }

    /// Bytes per request.
    pub const fn block(self) -> usize {
        match self {
            Self::SequentialWrite | Self::SequentialRead => SEQUENTIAL_BLOCK,
            Self::RandomRead | Self::RandomWrite => RANDOM_BLOCK,
        }
    }

    /// Whether the test writes (and ends with fdatasync).
    pub const fn writes(self) -> bool {
        matches!(self, Self::SequentialWrite | Self::RandomWrite)
    }
}

/// The command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// The block device (or file) to measure.
    pub device: String,
    /// The label in front of every output line (the personality's name).
    pub label: String,
    /// MiB written and read sequentially; the random tests stay inside them.
    pub span_mib: u64,
    /// Requests per random test.
    pub random_ops: u64,
    /// Seed of the random offsets and the stamps.
    pub seed: u64,
    /// Open with O_DIRECT (the default; off only for a quick check on a
    /// file system without direct I/O, such as tmpfs).
    pub direct: bool,
}

/// The usage text.
pub const USAGE: &str = "usage: janus-diskbench [--label NAME] [--span-mib N] [--random-ops N] [--seed N] [--no-direct] DEVICE\n\
     Overwrites the first N MiB of DEVICE (default 128) with direct I/O: sequential 1 MiB writes and reads,\n\
     then random 4 KiB reads and writes inside them (default 4000 each, fixed seed), timed with CLOCK_MONOTONIC.";

/// Parses the arguments after the program name.
pub fn parse_arguments<I: IntoIterator<Item = String>>(arguments: I) -> Result<Options, String> {
    let mut options = Options { device: String::new(), label: String::from("diskbench"), span_mib: 128, random_ops: 4000, seed: DEFAULT_SEED, direct: true };
    let mut device = None;
    let mut arguments = arguments.into_iter();
    while let Some(argument) = arguments.next() {
        let mut value = |name: &str| arguments.next().ok_or_else(|| format!("{name} needs a value"));
        match argument.as_str() {
            "--label" => options.label = value("--label")?,
            "--span-mib" => options.span_mib = number(&value("--span-mib")?, "--span-mib")?,
            "--random-ops" => options.random_ops = number(&value("--random-ops")?, "--random-ops")?,
            "--seed" => options.seed = number(&value("--seed")?, "--seed")?,
            "--no-direct" => options.direct = false,
            "--help" | "-h" => return Err(USAGE.to_string()),
            other if other.starts_with('-') => return Err(format!("unknown option {other}")),
            other if device.is_none() => device = Some(other.to_string()),
            other => return Err(format!("one device only (got {other} as well)")),
        }
    }
    options.device = device.ok_or("no device given")?;
    if options.span_mib == 0 || options.span_mib > 1 << 20 {
        return Err(String::from("--span-mib must be between 1 and 1048576"));
    }
    if options.label.is_empty() || options.label.contains(char::is_whitespace) {
        return Err(String::from("--label must be one word"));
    }
    Ok(options)
}

fn number(text: &str, name: &str) -> Result<u64, String> {
    let parsed = match text.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => text.parse(),
    };
    parsed.map_err(|_| format!("{name}: '{text}' is not a number"))
}

impl Options {
    /// Bytes of the sequential span.
    pub const fn span_bytes(&self) -> u64 {
        self.span_mib * SEQUENTIAL_BLOCK as u64
    }

    /// Requests a test makes.
    pub const fn requests(&self, test: Test) -> u64 {
        match test {
            Test::SequentialWrite | Test::SequentialRead => self.span_mib,
            Test::RandomRead | Test::RandomWrite => self.random_ops,
        }
    }

    /// The byte offset of request `index` of `test`: in order for the
    /// sequential tests; for the random ones a 4 KiB-aligned offset inside
    /// the span drawn from the seed, a different stream per test.
    pub fn offsets(&self, test: Test) -> impl Iterator<Item = u64> {
        let slots = self.span_bytes() / RANDOM_BLOCK as u64;
        let mut random = SplitMix64(self.seed ^ (test as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let sequential = matches!(test, Test::SequentialWrite | Test::SequentialRead);
        (0..self.requests(test)).map(move |index| if sequential { index * SEQUENTIAL_BLOCK as u64 } else { (random.next() % slots) * RANDOM_BLOCK as u64 })
    }
}

/// SplitMix64 (Steele, Lea and Flood, "Fast splittable pseudorandom number
/// generators", OOPSLA 2014): tiny, and the same sequence everywhere.
#[derive(Clone, Debug)]
pub struct SplitMix64(pub u64);

impl SplitMix64 {
    /// The next value.
    #[allow(clippy::should_implement_trait)] // an infinite stream; Iterator's Option adds nothing
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// The stamp every 4 KiB sector at byte `offset` of the device starts with:
/// written by both write tests, checked by both read tests, so a read that
/// returns the wrong sector (or undecrypted data) is caught.
pub const fn stamp(seed: u64, offset: u64) -> u64 {
    offset ^ seed.rotate_left(17) ^ 0x5354_414d_5053_4543
}

/// Fills `buffer` (a whole number of 4 KiB sectors that will land at byte
/// `offset`) with the sectors' stamps; the rest of each sector keeps what
/// it had.
pub fn stamp_sectors(buffer: &mut [u8], seed: u64, offset: u64) {
    for (index, sector) in buffer.chunks_exact_mut(RANDOM_BLOCK).enumerate() {
        if let Some(head) = sector.get_mut(..8) {
            head.copy_from_slice(&stamp(seed, offset + (index * RANDOM_BLOCK) as u64).to_le_bytes());
        }
    }
}

/// The first 4 KiB sector of `buffer` (read from byte `offset`) whose stamp
/// is wrong, as its byte offset on the device.
pub fn check_sectors(buffer: &[u8], seed: u64, offset: u64) -> Option<u64> {
    buffer.chunks_exact(RANDOM_BLOCK).enumerate().find_map(|(index, sector)| {
        let at = offset + (index * RANDOM_BLOCK) as u64;
        let head: [u8; 8] = sector.get(..8)?.try_into().ok()?;
        (u64::from_le_bytes(head) != stamp(seed, at)).then_some(at)
    })
}

/// The body every written sector carries after its stamp: not zeros, not
/// constant, so nothing along the way can shortcut it.
pub fn fill_pattern(buffer: &mut [u8]) {
    for (index, byte) in buffer.iter_mut().enumerate() {
        *byte = (index as u32).wrapping_mul(31).wrapping_add(7).to_le_bytes()[0] ^ (index >> 12) as u8;
    }
}

/// One test's result line:
/// `LABEL: diskbench NAME requests=R bytes=B ns=T mib_per_s=X iops=Y`.
pub fn result_line(label: &str, test: Test, requests: u64, nanoseconds: u64) -> String {
    let bytes = requests * test.block() as u64;
    let seconds = nanoseconds.max(1) as f64 / 1e9;
    let mib_per_second = bytes as f64 / (1u64 << 20) as f64 / seconds;
    let iops = requests as f64 / seconds;
    format!("{label}: diskbench {} requests={requests} bytes={bytes} ns={nanoseconds} mib_per_s={mib_per_second:.1} iops={iops:.0}", test.name())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arguments(text: &str) -> Result<Options, String> {
        parse_arguments(text.split_whitespace().map(String::from))
    }

    #[test]
    fn defaults_and_every_option() {
        let options = arguments("/dev/vda").unwrap();
        assert_eq!((options.device.as_str(), options.span_mib, options.random_ops, options.direct), ("/dev/vda", 128, 4000, true));
        let options = arguments("--label work --span-mib 8 --random-ops 10 --seed 0x10 --no-direct /dev/vdb").unwrap();
        assert_eq!(options, Options { device: "/dev/vdb".into(), label: "work".into(), span_mib: 8, random_ops: 10, seed: 16, direct: false });
    }

    #[test]
    fn bad_command_lines_are_refused() {
        for bad in ["", "--span-mib 0 /dev/vda", "--span-mib x /dev/vda", "--frobnicate /dev/vda", "/dev/vda /dev/vdb", "/dev/vda --label"] {
            assert!(arguments(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn sequential_offsets_cover_the_span_in_order() {
        let options = arguments("--span-mib 3 x").unwrap();
        for test in [Test::SequentialWrite, Test::SequentialRead] {
            assert_eq!(options.offsets(test).collect::<Vec<_>>(), [0, 1 << 20, 2 << 20]);
        }
    }

    #[test]
    fn random_offsets_are_aligned_inside_the_span_repeatable_and_spread() {
        let options = arguments("--span-mib 4 --random-ops 5000 x").unwrap();
        let reads: Vec<u64> = options.offsets(Test::RandomRead).collect();
        assert_eq!(reads.len(), 5000);
        assert_eq!(reads, options.offsets(Test::RandomRead).collect::<Vec<_>>());
        assert!(reads.iter().all(|offset| offset % 4096 == 0 && offset + 4096 <= 4 << 20));
        let distinct: std::collections::BTreeSet<_> = reads.iter().collect();
        assert!(distinct.len() > 900, "only {} of 1024 slots hit", distinct.len());
        assert_ne!(reads, options.offsets(Test::RandomWrite).collect::<Vec<_>>());
        let reseeded = arguments("--span-mib 4 --random-ops 5000 --seed 1 x").unwrap();
        assert_ne!(reads, reseeded.offsets(Test::RandomRead).collect::<Vec<_>>());
    }

    #[test]
    fn splitmix64_matches_the_reference_sequence() {
        // The first outputs for seed 0 in the paper's reference code.
        let mut random = SplitMix64(0);
        assert_eq!([random.next(), random.next()], [0xe220_a839_7b1d_cdaf, 0x6e78_9e6a_a1b9_65f4]);
    }

    #[test]
    fn stamps_round_trip_and_catch_the_wrong_sector() {
        let mut buffer = vec![0u8; 3 * 4096];
        fill_pattern(&mut buffer);
        stamp_sectors(&mut buffer, 7, 1 << 20);
        assert_eq!(check_sectors(&buffer, 7, 1 << 20), None);
        assert_eq!(check_sectors(&buffer, 7, 0), Some(0));
        assert_eq!(check_sectors(&buffer, 8, 1 << 20), Some(1 << 20));
        buffer[4096] ^= 1;
        assert_eq!(check_sectors(&buffer, 7, 1 << 20), Some((1 << 20) + 4096));
        assert_eq!(check_sectors(&vec![0u8; 4096], 7, 0), Some(0), "zeros are never a valid sector");
    }

    #[test]
    fn result_lines_carry_what_xtask_parses() {
        let line = result_line("work", Test::SequentialRead, 64, 500_000_000);
        assert_eq!(line, "work: diskbench seq-read-1m requests=64 bytes=67108864 ns=500000000 mib_per_s=128.0 iops=128");
        let line = result_line("personal", Test::RandomWrite, 2000, 1_000_000_000);
        assert!(line.ends_with("rand-write-4k requests=2000 bytes=8192000 ns=1000000000 mib_per_s=7.8 iops=2000"), "{line}");
    }
}
