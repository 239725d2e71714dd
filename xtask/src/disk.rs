//! The physical disk image QEMU gives Janus: a GPT disk (`janus-meta`,
//! `personal`, `work`, `shared`) made by janus-disklayout on first use,
//! kept across runs, and never overwritten: an image that is too small,
//! damaged or somebody else's stops the run with the problem and the fix.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use janus_disklayout::{ImageError, Layout, Sizes};

/// The environment variable that overrides where the disk image lives.
pub const DISK_VARIABLE: &str = "JANUS_DISK";

/// `JANUS_DISK`, or `disk.img` in the data directory (never under
/// `target/`, which `cargo clean` deletes).
pub fn default_path() -> PathBuf {
    match std::env::var_os(DISK_VARIABLE) {
        Some(path) if !path.is_empty() => PathBuf::from(path),
        _ => crate::datadir::data_dir().join("disk.img"),
    }
}

/// Checks the image at `path`, creating it first if it does not exist.
pub fn ensure(path: &Path) -> Result<Layout> {
    match janus_disklayout::check_image(path) {
        Ok(layout) => Ok(layout),
        Err(ImageError::Missing { .. }) => {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            eprintln!("xtask: creating the disk image {} (GPT: janus-meta, personal, work, shared)", path.display());
            match janus_disklayout::create_image(path, &Sizes::default()) {
                Ok(layout) => Ok(layout),
                Err(error) => bail!("{error}"),
            }
        }
        Err(error) => bail!("{error}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let directory = std::env::temp_dir().join(format!("janus-xtask-disk-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&directory);
        std::fs::create_dir_all(&directory).unwrap();
        directory
    }

    #[test]
    fn creates_once_then_reuses_without_writing() {
        let directory = scratch("reuse");
        let path = directory.join("sub").join("disk.img");
        let created = ensure(&path).unwrap();
        std::fs::write(directory.join("marker"), b"x").unwrap();
        let before = std::fs::metadata(&path).unwrap().modified().unwrap();
        let again = ensure(&path).unwrap();
        assert_eq!(created, again);
        assert_eq!(before, std::fs::metadata(&path).unwrap().modified().unwrap());
        let _ = std::fs::remove_dir_all(directory);
    }

    #[test]
    fn refuses_a_foreign_file_and_leaves_it_alone() {
        let directory = scratch("foreign");
        let path = directory.join("disk.img");
        let content = vec![0x5a_u8; 64 << 20];
        std::fs::write(&path, &content).unwrap();
        let error = format!("{:#}", ensure(&path).unwrap_err());
        assert!(error.contains("Fix"), "{error}");
        assert_eq!(std::fs::read(&path).unwrap(), content);
        let _ = std::fs::remove_dir_all(directory);
    }

    #[test]
    fn refuses_a_too_small_file_and_leaves_it_alone() {
        let directory = scratch("small");
        let path = directory.join("disk.img");
        std::fs::write(&path, b"tiny").unwrap();
        let error = format!("{:#}", ensure(&path).unwrap_err());
        assert!(error.contains("small") || error.contains("sector"), "{error}");
        assert_eq!(std::fs::read(&path).unwrap(), b"tiny");
        let _ = std::fs::remove_dir_all(directory);
    }
}
