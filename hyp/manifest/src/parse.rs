//! Reads a TOML manifest into the [`Manifest`] model and renders every
//! problem (syntax, value or validation) as `FILE:LINE: field: problem. Fix: ...`.

use std::fmt;
use std::ops::Range;

use janus_platform::{BoardDescription, PhysRange};
use serde::Deserialize;
use toml::Spanned;

use crate::model::{DeviceConfig, DeviceKey, DeviceRef, FieldKey, FieldPath, Manifest, PersonalityConfig, PersonalityRef, parse_size};
use crate::plan::{DiskPartition, DiskPlan};
use crate::validate::{ValidationError, validate};

/// One problem, located in the manifest file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManifestError {
    /// The manifest's file name, as given to [`parse`] or [`load`].
    pub file: String,
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub kind: ManifestErrorKind,
}

/// The kinds of manifest problem.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ManifestErrorKind {
    /// The TOML did not parse or did not fit the schema (unknown or missing
    /// keys, wrong types).
    Syntax {
        /// The TOML parser's message.
        message: String,
    },
    /// A value has the right type but cannot be used (a malformed size, a
    /// negative address, a core index above 255).
    Value {
        /// The field.
        field: FieldPath,
        /// What is wrong.
        problem: String,
        /// How to fix it.
        fix: String,
    },
    /// The manifest parsed but breaks a rule.
    Invalid(ValidationError),
}

impl fmt::Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: ", self.file, self.line)?;
        match &self.kind {
            ManifestErrorKind::Syntax { message } => {
                let message = message.trim().replace('\n', "; ");
                let fix = if message.starts_with("unknown field") {
                    "remove the key or correct its spelling"
                } else if message.starts_with("missing field") {
                    "add the missing key to this table"
                } else if message.starts_with("invalid type") {
                    "give the key a value of the expected type"
                } else {
                    "correct the TOML at this line"
                };
                write!(f, "toml: {message}. Fix: {fix}")
            }
            ManifestErrorKind::Value { field, problem, fix } => write!(f, "{field}: {problem}. Fix: {fix}"),
            ManifestErrorKind::Invalid(error) => write!(f, "{error}"),
        }
    }
}

/// Every problem found in a manifest, in file order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManifestErrors {
    /// The problems (never empty when returned as an error).
    pub errors: Vec<ManifestError>,
}

impl fmt::Display for ManifestErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, error) in self.errors.iter().enumerate() {
            if index > 0 {
                writeln!(f)?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ManifestErrors {}

/// Parses a manifest. `file_name` is only used in messages.
pub fn parse(file_name: &str, text: &str) -> Result<Manifest, ManifestErrors> {
    parse_with_spans(file_name, text).map(|(manifest, _)| manifest)
}

/// Parses a manifest and validates it against `board`; every problem comes
/// back with its line number.
pub fn load(file_name: &str, text: &str, board: &BoardDescription) -> Result<Manifest, ManifestErrors> {
    let (manifest, spans) = parse_with_spans(file_name, text)?;
    match validate(&manifest, board) {
        Ok(()) => Ok(manifest),
        Err(problems) => {
            let mut errors: Vec<ManifestError> = problems
                .into_iter()
                .map(|problem| ManifestError {
                    file: file_name.to_owned(),
                    line: line_of(text, spans.locate(&problem.field()).start),
                    kind: ManifestErrorKind::Invalid(problem),
                })
                .collect();
            errors.sort_by_key(|error| error.line);
            Err(ManifestErrors { errors })
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    board: Spanned<String>,
    #[serde(default)]
    console: Option<Spanned<String>>,
    #[serde(default, rename = "personality")]
    personalities: Vec<Spanned<RawPersonality>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPersonality {
    name: Spanned<String>,
    cpus: Spanned<Vec<Spanned<i64>>>,
    ram: Spanned<RawRange>,
    kernel: Spanned<String>,
    #[serde(default)]
    initrd: Option<Spanned<String>>,
    #[serde(default)]
    cmdline: Option<Spanned<String>>,
    #[serde(default)]
    disk: Option<Spanned<RawDisk>>,
    #[serde(default, rename = "device")]
    devices: Vec<Spanned<RawDevice>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDevice {
    name: Spanned<String>,
    mmio: Spanned<RawRange>,
    #[serde(default)]
    interrupts: Option<Spanned<Vec<Spanned<i64>>>>,
    compatible: Spanned<Vec<Spanned<String>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a disk table such as { partition = \"work\", encrypted = true }")]
struct RawDisk {
    partition: Spanned<toml::Value>,
    #[serde(default)]
    encrypted: Option<Spanned<toml::Value>>,
}

/// A `{ base = ..., size = ... }` table (`ram`, a device's `mmio`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRange {
    base: Spanned<toml::Value>,
    size: Spanned<toml::Value>,
}

/// Where each field sits in the text (byte ranges).
struct Spans {
    board: Range<usize>,
    personalities: Vec<PersonalitySpans>,
}

struct PersonalitySpans {
    table: Range<usize>,
    name: Range<usize>,
    cpus: Range<usize>,
    cpu: Vec<Range<usize>>,
    ram: Range<usize>,
    ram_base: Range<usize>,
    ram_size: Range<usize>,
    kernel: Range<usize>,
    initrd: Option<Range<usize>>,
    cmdline: Option<Range<usize>>,
    disk: Option<Range<usize>>,
    disk_partition: Option<Range<usize>>,
    disk_encrypted: Option<Range<usize>>,
    devices: Vec<DeviceSpans>,
}

struct DeviceSpans {
    table: Range<usize>,
    name: Range<usize>,
    mmio: Range<usize>,
    mmio_base: Range<usize>,
    mmio_size: Range<usize>,
    interrupts: Option<Range<usize>>,
    interrupt: Vec<Range<usize>>,
    compatible: Range<usize>,
    compatible_entry: Vec<Range<usize>>,
}

impl DeviceSpans {
    fn of(spanned: &Spanned<RawDevice>) -> Self {
        let device = spanned.get_ref();
        let mmio = device.mmio.get_ref();
        Self {
            table: spanned.span(),
            name: device.name.span(),
            mmio: device.mmio.span(),
            mmio_base: mmio.base.span(),
            mmio_size: mmio.size.span(),
            interrupts: device.interrupts.as_ref().map(Spanned::span),
            interrupt: device.interrupts.iter().flat_map(|list| list.get_ref().iter().map(Spanned::span)).collect(),
            compatible: device.compatible.span(),
            compatible_entry: device.compatible.get_ref().iter().map(Spanned::span).collect(),
        }
    }

    fn locate(&self, key: DeviceKey) -> &Range<usize> {
        let found = match key {
            DeviceKey::Table => None,
            DeviceKey::Name => Some(&self.name),
            DeviceKey::Mmio => Some(&self.mmio),
            DeviceKey::MmioBase => Some(&self.mmio_base),
            DeviceKey::MmioSize => Some(&self.mmio_size),
            DeviceKey::Interrupts => self.interrupts.as_ref(),
            DeviceKey::Interrupt(position) => self.interrupt.get(position).or(self.interrupts.as_ref()),
            DeviceKey::Compatible => Some(&self.compatible),
            DeviceKey::CompatibleEntry(position) => Some(self.compatible_entry.get(position).unwrap_or(&self.compatible)),
        };
        found.unwrap_or(&self.table)
    }
}

impl Spans {
    /// The text a field path refers to; an absent field falls back to its
    /// personality's table header.
    fn locate(&self, field: &FieldPath) -> Range<usize> {
        if let FieldPath::Device { personality, device, key } = field {
            let Some(spans) = self.personalities.get(personality.index) else {
                return 0..0;
            };
            return spans.devices.get(device.index).map_or(&spans.table, |device| device.locate(*key)).clone();
        }
        let FieldPath::Personality { personality, key } = field else {
            return match field {
                FieldPath::Board => self.board.clone(),
                _ => self.personalities.first().map_or(0..0, |first| first.table.clone()),
            };
        };
        let Some(spans) = self.personalities.get(personality.index) else {
            return 0..0;
        };
        let found = match key {
            FieldKey::Table => None,
            FieldKey::Name => Some(&spans.name),
            FieldKey::Cpus => Some(&spans.cpus),
            FieldKey::Cpu(position) => spans.cpu.get(*position),
            FieldKey::Ram => Some(&spans.ram),
            FieldKey::RamBase => Some(&spans.ram_base),
            FieldKey::RamSize => Some(&spans.ram_size),
            FieldKey::Kernel => Some(&spans.kernel),
            FieldKey::Initrd => spans.initrd.as_ref(),
            FieldKey::Cmdline => spans.cmdline.as_ref(),
            FieldKey::Disk => spans.disk.as_ref(),
            FieldKey::DiskPartition => spans.disk_partition.as_ref().or(spans.disk.as_ref()),
            FieldKey::DiskEncrypted => spans.disk_encrypted.as_ref().or(spans.disk.as_ref()),
        };
        found.unwrap_or(&spans.table).clone()
    }
}

/// The 1-based line holding byte `offset`.
fn line_of(text: &str, offset: usize) -> usize {
    text.bytes().take(offset).filter(|&byte| byte == b'\n').count() + 1
}

fn parse_with_spans(file_name: &str, text: &str) -> Result<(Manifest, Spans), ManifestErrors> {
    let raw: RawManifest = toml::from_str(text).map_err(|error| ManifestErrors {
        errors: vec![ManifestError {
            file: file_name.to_owned(),
            line: line_of(text, error.span().map_or(0, |span| span.start)),
            kind: ManifestErrorKind::Syntax { message: error.message().to_owned() },
        }],
    })?;

    let mut errors = Vec::new();
    let mut value_error = |span: &Range<usize>, field: FieldPath, problem: String, fix: String| {
        errors.push(ManifestError { file: file_name.to_owned(), line: line_of(text, span.start), kind: ManifestErrorKind::Value { field, problem, fix } });
    };

    let console = match raw.console.as_ref().map(|mode| (mode.get_ref().as_str(), mode.span())) {
        None | Some(("switched", _)) => crate::plan::ConsoleMode::Switched,
        Some(("tagged", _)) => crate::plan::ConsoleMode::Tagged,
        Some((other, span)) => {
            value_error(
                &span,
                FieldPath::Console,
                format!("unknown console mode \"{other}\""),
                "use \"switched\" (one personality in front, Ctrl-] switches) or \"tagged\" (every line prefixed with its personality)".to_owned(),
            );
            crate::plan::ConsoleMode::Switched
        }
    };
    let mut personalities = Vec::with_capacity(raw.personalities.len());
    let mut devices = Vec::new();
    let mut personality_spans = Vec::with_capacity(raw.personalities.len());
    for (index, spanned) in raw.personalities.iter().enumerate() {
        let raw_personality = spanned.get_ref();
        let name = raw_personality.name.get_ref();
        let at = |key| FieldPath::personality(index, name, key);

        let mut cpus = Vec::with_capacity(raw_personality.cpus.get_ref().len());
        for (position, cpu) in raw_personality.cpus.get_ref().iter().enumerate() {
            match u8::try_from(*cpu.get_ref()) {
                Ok(cpu) => cpus.push(cpu),
                Err(_) => value_error(
                    &cpu.span(),
                    at(FieldKey::Cpu(position)),
                    format!("{} is not a core index", cpu.get_ref()),
                    "use the board's core numbers, starting at 0".to_owned(),
                ),
            }
        }

        let ram = raw_personality.ram.get_ref();
        let mut number = |value: &Spanned<toml::Value>, key, what: &str, example: &str| {
            spanned_number(value, what, example, |span, problem, fix| value_error(span, at(key), problem, fix))
        };
        let base = number(&ram.base, FieldKey::RamBase, "base", "0x4800_0000");
        let size = number(&ram.size, FieldKey::RamSize, "size", "\"128M\"");

        let disk = raw_personality.disk.as_ref().and_then(|disk| {
            let disk = disk.get_ref();
            let partition = read_partition(disk.partition.get_ref()).map_err(|(problem, fix)| {
                value_error(&disk.partition.span(), at(FieldKey::DiskPartition), problem, fix);
            });
            let encrypted = match disk.encrypted.as_ref() {
                None => Ok(false),
                Some(encrypted) => match encrypted.get_ref() {
                    toml::Value::Boolean(encrypted) => Ok(*encrypted),
                    other => {
                        value_error(
                            &encrypted.span(),
                            at(FieldKey::DiskEncrypted),
                            format!("encrypted must be true or false, not {}", with_article(other.type_str())),
                            "write encrypted = true, or leave it out for a plain disk".to_owned(),
                        );
                        Err(())
                    }
                },
            };
            Some(DiskPlan { partition: partition.ok()?, encrypted: encrypted.ok()? })
        });

        for (position, spanned_device) in raw_personality.devices.iter().enumerate() {
            let raw_device = spanned_device.get_ref();
            let at = |key| FieldPath::Device {
                personality: PersonalityRef { index, name: name.clone() },
                device: DeviceRef { index: position, name: raw_device.name.get_ref().clone() },
                key,
            };
            let mmio = raw_device.mmio.get_ref();
            let mut number = |value: &Spanned<toml::Value>, key, what: &str, example: &str| {
                spanned_number(value, what, example, |span, problem, fix| value_error(span, at(key), problem, fix))
            };
            let base = number(&mmio.base, DeviceKey::MmioBase, "base", "0x0901_0000");
            let size = number(&mmio.size, DeviceKey::MmioSize, "size", "\"4K\"");
            let mut interrupts = Vec::new();
            let listed = raw_device.interrupts.as_ref().map_or(&[][..], |list| list.get_ref());
            for (position, interrupt) in listed.iter().enumerate() {
                match u32::try_from(*interrupt.get_ref()) {
                    Ok(interrupt) => interrupts.push(interrupt),
                    Err(_) => value_error(
                        &interrupt.span(),
                        at(DeviceKey::Interrupt(position)),
                        format!("{} is not an interrupt ID", interrupt.get_ref()),
                        "use the device's GIC interrupt ID, an SPI from 32 to 1019 (SPI n is INTID 32 + n)".to_owned(),
                    ),
                }
            }
            devices.push(DeviceConfig {
                personality: index,
                name: raw_device.name.get_ref().clone(),
                mmio: PhysRange::new(base, size),
                interrupts,
                compatible: raw_device.compatible.get_ref().iter().map(|entry| entry.get_ref().clone()).collect(),
            });
        }

        personalities.push(PersonalityConfig {
            name: name.clone(),
            cpus,
            ram: PhysRange::new(base, size),
            kernel: raw_personality.kernel.get_ref().clone(),
            initrd: raw_personality.initrd.as_ref().map(|initrd| initrd.get_ref().clone()),
            cmdline: raw_personality.cmdline.as_ref().map(|cmdline| cmdline.get_ref().clone()).unwrap_or_default(),
            disk,
        });
        personality_spans.push(PersonalitySpans {
            table: spanned.span(),
            name: raw_personality.name.span(),
            cpus: raw_personality.cpus.span(),
            cpu: raw_personality.cpus.get_ref().iter().map(Spanned::span).collect(),
            ram: raw_personality.ram.span(),
            ram_base: ram.base.span(),
            ram_size: ram.size.span(),
            kernel: raw_personality.kernel.span(),
            initrd: raw_personality.initrd.as_ref().map(Spanned::span),
            cmdline: raw_personality.cmdline.as_ref().map(Spanned::span),
            disk: raw_personality.disk.as_ref().map(Spanned::span),
            disk_partition: raw_personality.disk.as_ref().map(|disk| disk.get_ref().partition.span()),
            disk_encrypted: raw_personality.disk.as_ref().and_then(|disk| disk.get_ref().encrypted.as_ref().map(Spanned::span)),
            devices: raw_personality.devices.iter().map(DeviceSpans::of).collect(),
        });
    }

    if !errors.is_empty() {
        return Err(ManifestErrors { errors });
    }
    let manifest = Manifest { board: raw.board.get_ref().clone(), personalities, console, devices };
    let spans = Spans { board: raw.board.span(), personalities: personality_spans };
    Ok((manifest, spans))
}

/// A disk partition name, or what is wrong with it and how to fix it.
fn read_partition(value: &toml::Value) -> Result<DiskPartition, (String, String)> {
    let choices = DiskPartition::ALL.map(|partition| format!("\"{partition}\""));
    let fix = format!("use partition = {} (\"shared\" is reserved for the shared space, not a private disk)", choices.join(" or "));
    match value {
        toml::Value::String(name) => DiskPartition::from_name(name).ok_or_else(|| {
            let problem = if name == "shared" {
                "partition \"shared\" is the shared space, not a private disk".to_owned()
            } else {
                format!("unknown disk partition {name:?}")
            };
            (problem, fix)
        }),
        other => Err((format!("partition must be a string, not {}", with_article(other.type_str())), fix)),
    }
}

/// [`read_number`] of a TOML value, reporting a problem (with the value's
/// span, the problem and a fix naming `what` and an `example`) as 0.
fn spanned_number(value: &Spanned<toml::Value>, what: &str, example: &str, report: impl FnOnce(&Range<usize>, String, String)) -> u64 {
    read_number(value.get_ref()).unwrap_or_else(|problem| {
        report(&value.span(), format!("{what} {problem}"), format!("write e.g. {what} = {example}"));
        0
    })
}

/// A non-negative integer, or a string accepted by [`parse_size`].
fn read_number(value: &toml::Value) -> Result<u64, String> {
    match value {
        toml::Value::Integer(integer) => u64::try_from(*integer).map_err(|_| format!("{integer} is negative")),
        toml::Value::String(text) => parse_size(text).ok_or_else(|| format!("{text:?} is not a number (digits or 0x hex, optionally followed by K, M or G)")),
        other => Err(format!("must be an integer or a string, not {}", with_article(other.type_str()))),
    }
}

/// A TOML type name with its indefinite article: "an integer", "a string".
fn with_article(type_name: &str) -> String {
    let article = if type_name.starts_with(['a', 'e', 'i', 'o', 'u']) { "an" } else { "a" };
    format!("{article} {type_name}")
}
