//! The device key: the per-device key-encryption key that wraps the keys of
//! encrypted disks. On QEMU it is a 32-byte file xtask creates once (never
//! while a disk holds keys wrapped under a key it cannot find) and embeds
//! in every image whose manifest has an encrypted disk.

use std::io::{ErrorKind, Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use janus_manifest::DEVICE_KEY_LENGTH;

/// The environment variable that overrides where the device key lives.
pub const DEVICE_KEY_VARIABLE: &str = "JANUS_DEVICE_KEY";

/// What to do about a device key file that is not a key.
const FIX: &str = "restore the original key file; delete it only if no disk encrypted under it matters: the work \
                   data becomes unreadable (xtask then creates a new key)";

/// Where the device key lives: `$JANUS_DEVICE_KEY` if set, else
/// `device-key` in the data directory (never under `target/`, which
/// `cargo clean` deletes).
pub fn default_path() -> PathBuf {
    path_from(std::env::var_os(DEVICE_KEY_VARIABLE), &crate::datadir::data_dir())
}

/// [`default_path`] with the environment and data directory given.
fn path_from(variable: Option<std::ffi::OsString>, data_directory: &Path) -> PathBuf {
    match variable {
        Some(path) if !path.is_empty() => PathBuf::from(path),
        _ => data_directory.join("device-key"),
    }
}

/// The device key at `path`. An existing file must hold exactly 32 bytes,
/// not all zero; a missing one is created from the system's random source
/// with mode 0600 (and its parent directories with it), unless the disk
/// image at `disk` holds keys wrapped under a device key: then the key is
/// lost or misplaced, and a new one would make that data unreadable.
pub fn device_key(path: &Path, disk: &Path) -> Result<[u8; DEVICE_KEY_LENGTH]> {
    match std::fs::read(path) {
        Ok(bytes) => check(path, &bytes),
        Err(error) if error.kind() == ErrorKind::NotFound => {
            refuse_if_a_disk_needs_it(path, disk)?;
            create(path, disk)
        }
        Err(error) => Err(error).with_context(|| {
            format!(
                "cannot read the device key {}. Fix: make it a file readable by this user, or point \
                 {DEVICE_KEY_VARIABLE} at the key file",
                path.display()
            )
        }),
    }
}

/// Refuses to make a new key at `path` if the Janus disk at `disk` has
/// encrypted partitions (or its `janus-meta` cannot be read). A missing or
/// foreign disk needs no key.
fn refuse_if_a_disk_needs_it(path: &Path, disk: &Path) -> Result<()> {
    let Ok(layout) = janus_disklayout::check_image(disk) else { return Ok(()) };
    let encrypted = match crate::janusmeta::encrypted_partitions(disk, &layout) {
        Ok(encrypted) if encrypted.is_empty() => return Ok(()),
        Ok(encrypted) => encrypted.iter().map(|partition| partition.name()).collect::<Vec<_>>().join(" and "),
        Err(error) => format!("none it can tell ({error:#})"),
    };
    bail!(
        "the device key {} is missing, but the disk {} has partitions encrypted under a device key ({encrypted}): a new \
         key would make their data unreadable, so xtask makes none. Fix: put the original key file back at {}, or point \
         {DEVICE_KEY_VARIABLE} at it (and {} at the disk it belongs to); to give that data up instead, re-provision those \
         partitions with `cargo xtask reprovision <partition> --destroy-data`",
        path.display(),
        disk.display(),
        path.display(),
        crate::disk::DISK_VARIABLE
    )
}

fn check(path: &Path, bytes: &[u8]) -> Result<[u8; DEVICE_KEY_LENGTH]> {
    let Ok(key) = <[u8; DEVICE_KEY_LENGTH]>::try_from(bytes) else {
        bail!("the device key {} is {} bytes, not {DEVICE_KEY_LENGTH}. Fix: {FIX}", path.display(), bytes.len());
    };
    if key.iter().all(|&byte| byte == 0) {
        bail!("the device key {} is all zeros, which is no key. Fix: {FIX}", path.display());
    }
    Ok(key)
}

/// Creates a new random key at `path` without ever exposing a partly
/// written file: the key goes to a private temporary file that is then
/// linked into place, which fails if another build created the key first
/// (that key is used instead).
fn create(path: &Path, disk: &Path) -> Result<[u8; DEVICE_KEY_LENGTH]> {
    let mut key = [0; DEVICE_KEY_LENGTH];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut random| random.read_exact(&mut key))
        .context("reading 32 random bytes from /dev/urandom for a new device key")?;
    if key.iter().all(|&byte| byte == 0) {
        bail!("/dev/urandom returned 32 zero bytes for a new device key. Fix: check the system's random source");
    }
    let directory = path.parent().filter(|parent| !parent.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(directory).with_context(|| format!("creating {} for the device key", directory.display()))?;
    let file_name = path.file_name().and_then(|name| name.to_str()).unwrap_or("device-key");
    let temporary = directory.join(format!(".{file_name}.{}.new", std::process::id()));
    let written = write_private(&temporary, &key);
    let linked = written.and_then(|()| std::fs::hard_link(&temporary, path));
    let _ = std::fs::remove_file(&temporary);
    match linked {
        Ok(()) => Ok(key),
        Err(error) if error.kind() == ErrorKind::AlreadyExists => device_key(path, disk),
        Err(error) => Err(error).with_context(|| format!("creating the device key {}", path.display())),
    }
}

/// Writes `bytes` to a new file only its owner may read.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// A fresh directory under the system's temporary directory.
    fn scratch() -> PathBuf {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let directory = std::env::temp_dir().join(format!("janus-devicekey-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::SeqCst)));
        let _ = std::fs::remove_dir_all(&directory);
        directory
    }

    #[test]
    fn a_missing_key_is_created_private_with_its_directories() {
        let directory = scratch();
        let path = directory.join("janus").join("device-key");
        let key = device_key(&path, &directory.join("no-disk.img")).unwrap();
        assert!(key.iter().any(|&byte| byte != 0));
        assert_eq!(std::fs::read(&path).unwrap(), key);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "mode {mode:o}");
        }
        // No temporary file is left behind.
        assert_eq!(std::fs::read_dir(path.parent().unwrap()).unwrap().count(), 1);
        std::fs::remove_dir_all(directory).unwrap();
    }

    #[test]
    fn an_existing_key_is_reused() {
        let directory = scratch();
        let path = directory.join("device-key");
        let first = device_key(&path, &directory.join("no-disk.img")).unwrap();
        assert_eq!(device_key(&path, &directory.join("no-disk.img")).unwrap(), first);
        std::fs::remove_dir_all(directory).unwrap();
    }

    #[test]
    fn a_key_file_of_the_wrong_size_is_refused_and_kept() {
        let directory = scratch();
        std::fs::create_dir_all(&directory).unwrap();
        let path = directory.join("device-key");
        for length in [0, 31, 33] {
            std::fs::write(&path, vec![7; length]).unwrap();
            let error = format!("{:#}", device_key(&path, &directory.join("no-disk.img")).unwrap_err());
            assert!(error.contains(&path.display().to_string()), "{error}");
            assert!(error.contains(&format!("is {length} bytes, not 32")), "{error}");
            assert!(error.contains("Fix: restore the original key file; delete it only if"), "{error}");
            assert!(error.contains("the work data becomes unreadable"), "{error}");
            assert_eq!(std::fs::read(&path).unwrap().len(), length, "the file must not be replaced");
        }
        std::fs::remove_dir_all(directory).unwrap();
    }

    #[test]
    fn an_all_zero_key_is_refused() {
        let directory = scratch();
        std::fs::create_dir_all(&directory).unwrap();
        let path = directory.join("device-key");
        std::fs::write(&path, [0; 32]).unwrap();
        let error = format!("{:#}", device_key(&path, &directory.join("no-disk.img")).unwrap_err());
        assert!(error.contains("is all zeros"), "{error}");
        assert!(error.contains(&path.display().to_string()), "{error}");
        assert!(error.contains("the work data becomes unreadable"), "{error}");
        std::fs::remove_dir_all(directory).unwrap();
    }

    #[test]
    fn a_missing_key_is_not_replaced_while_a_disk_needs_it() {
        let directory = scratch();
        std::fs::create_dir_all(&directory).unwrap();
        let disk = crate::janusmeta::disk_with_a_wrapped_key(&directory);
        let before = std::fs::read(&disk).unwrap();
        let path = directory.join("device-key");
        let error = format!("{:#}", device_key(&path, &disk).unwrap_err());
        assert!(error.contains(&format!("the device key {} is missing", path.display())), "{error}");
        assert!(error.contains("has partitions encrypted under a device key (work)"), "{error}");
        assert!(error.contains("Fix: put the original key file back"), "{error}");
        assert!(error.contains("JANUS_DEVICE_KEY"), "{error}");
        assert!(!path.exists(), "no key may be made");
        assert!(std::fs::read(&disk).unwrap() == before, "the disk must not change");
        // A disk with no encrypted partition lets a key be made.
        let plain = directory.join("plain");
        std::fs::create_dir_all(&plain).unwrap();
        janus_disklayout::create_image(&plain.join("disk.img"), &janus_disklayout::Sizes::default()).unwrap();
        assert!(device_key(&plain.join("device-key"), &plain.join("disk.img")).is_ok());
        std::fs::remove_dir_all(directory).unwrap();
    }

    #[test]
    fn the_path_is_the_variable_or_the_data_directory() {
        let target = Path::new("/home/me/.local/share/janus");
        assert_eq!(path_from(None, target), Path::new("/home/me/.local/share/janus/device-key"));
        assert_eq!(path_from(Some("".into()), target), Path::new("/home/me/.local/share/janus/device-key"));
        assert_eq!(path_from(Some("/keys/janus".into()), target), Path::new("/keys/janus"));
    }
}
