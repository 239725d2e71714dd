//! Where the user's data lives: the disk image and the device key are not
//! build output, so they live in a data directory that `cargo clean` does
//! not touch (`$XDG_DATA_HOME/janus`, by default `~/.local/share/janus`),
//! and data an older xtask left under `target/janus/` is moved there.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// The data directory: `$XDG_DATA_HOME/janus`, else
/// `$HOME/.local/share/janus`, else `janus-data/` in the workspace.
pub fn data_dir() -> PathBuf {
    directory_from(std::env::var_os("XDG_DATA_HOME"), std::env::var_os("HOME"), &crate::root())
}

/// [`data_dir`] with the environment and workspace given.
fn directory_from(xdg_data_home: Option<std::ffi::OsString>, home: Option<std::ffi::OsString>, root: &Path) -> PathBuf {
    match (xdg_data_home, home) {
        (Some(data), _) if Path::new(&data).is_absolute() => PathBuf::from(data).join("janus"),
        (_, Some(home)) if !home.is_empty() => PathBuf::from(home).join(".local").join("share").join("janus"),
        _ => root.join("janus-data"),
    }
}

/// Moves the disk image and the device key an older xtask kept under
/// `target/janus/` to their places in the data directory, unless
/// `JANUS_DISK` / `JANUS_DEVICE_KEY` point elsewhere or the data
/// directory already has them (then the old files are left alone, with a
/// note).
pub fn adopt_build_directory_data() -> Result<()> {
    let old = crate::output_dir();
    let overridden = |variable: &str| std::env::var_os(variable).is_some_and(|value| !value.is_empty());
    adopt(&old.join("disk.img"), &crate::disk::default_path(), overridden(crate::disk::DISK_VARIABLE))?;
    adopt(&old.join("device-key"), &crate::devicekey::default_path(), overridden(crate::devicekey::DEVICE_KEY_VARIABLE))
}

/// Moves `old` to `new` unless `overridden` (the user points elsewhere) or
/// `new` exists.
fn adopt(old: &Path, new: &Path, overridden: bool) -> Result<()> {
    if !old.exists() || overridden {
        return Ok(());
    }
    if new.exists() {
        println!(
            "xtask: note: {} is left from an older xtask; the one in use is {} (delete the old one once you no longer need it)",
            old.display(),
            new.display()
        );
        return Ok(());
    }
    move_file(old, new).with_context(|| format!("moving {} to {} (cargo clean would delete it). Fix: move it there by hand", old.display(), new.display()))?;
    println!("xtask: moved {} to {}: user data lives outside target/, which cargo clean deletes", old.display(), new.display());
    Ok(())
}

/// Moves `old` to `new` (making `new`'s directory), copying across file
/// systems: the copy goes to a temporary name, is synced and renamed into
/// place before `old` is removed, so no step loses the file.
pub fn move_file(old: &Path, new: &Path) -> Result<()> {
    let directory = new.parent().filter(|parent| !parent.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(directory)?;
    if std::fs::rename(old, new).is_ok() {
        return Ok(());
    }
    let temporary = directory.join(format!(".{}.{}.moving", new.file_name().and_then(|name| name.to_str()).unwrap_or("file"), std::process::id()));
    std::fs::copy(old, &temporary)?;
    std::fs::File::open(&temporary)?.sync_all()?;
    std::fs::rename(&temporary, new)?;
    std::fs::remove_file(old)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_data_directory_is_xdg_or_home_never_the_build_directory() {
        let root = Path::new("/work/janus");
        assert_eq!(directory_from(Some("/data".into()), Some("/home/me".into()), root), Path::new("/data/janus"));
        assert_eq!(directory_from(Some("relative".into()), Some("/home/me".into()), root), Path::new("/home/me/.local/share/janus"));
        assert_eq!(directory_from(None, Some("/home/me".into()), root), Path::new("/home/me/.local/share/janus"));
        assert_eq!(directory_from(None, None, root), Path::new("/work/janus/janus-data"));
        assert!(!data_dir().starts_with(crate::target_dir()));
    }

    #[test]
    fn old_data_is_adopted_only_where_nothing_is_in_use() {
        let directory = std::env::temp_dir().join(format!("janus-datadir-adopt-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&directory);
        std::fs::create_dir_all(&directory).unwrap();
        let (old, new) = (directory.join("old.img"), directory.join("data").join("disk.img"));
        std::fs::write(&old, b"old").unwrap();
        // Pointed elsewhere: left alone.
        adopt(&old, &new, true).unwrap();
        assert!(old.exists() && !new.exists());
        // Moved.
        adopt(&old, &new, false).unwrap();
        assert!(!old.exists());
        assert_eq!(std::fs::read(&new).unwrap(), b"old");
        // The data directory has one already: neither file changes.
        std::fs::write(&old, b"older").unwrap();
        adopt(&old, &new, false).unwrap();
        assert_eq!(std::fs::read(&old).unwrap(), b"older");
        assert_eq!(std::fs::read(&new).unwrap(), b"old");
        std::fs::remove_dir_all(directory).unwrap();
    }

    #[test]
    fn cargo_clean_leaves_the_data_in_place() {
        // An older xtask's disk and key under a target directory, adopted
        // into a data directory; then a real `cargo clean` of that target
        // directory.
        let directory = std::env::temp_dir().join(format!("janus-datadir-clean-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&directory);
        let target = directory.join("target");
        let data = directory_from(Some(directory.join("share").into_os_string()), None, &directory);
        std::fs::create_dir_all(target.join("janus")).unwrap();
        for name in ["disk.img", "device-key"] {
            std::fs::write(target.join("janus").join(name), name).unwrap();
            adopt(&target.join("janus").join(name), &data.join(name), false).unwrap();
        }
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = std::process::Command::new(cargo).current_dir(crate::root()).args(["clean", "--quiet", "--target-dir"]).arg(&target).status().unwrap();
        assert!(status.success());
        assert!(!target.exists(), "cargo clean removes the target directory");
        for name in ["disk.img", "device-key"] {
            assert_eq!(std::fs::read(data.join(name)).unwrap(), name.as_bytes(), "{name} must survive cargo clean");
        }
        std::fs::remove_dir_all(directory).unwrap();
    }

    #[test]
    fn a_moved_file_keeps_its_bytes_and_leaves_no_copy_behind() {
        let directory = std::env::temp_dir().join(format!("janus-datadir-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&directory);
        std::fs::create_dir_all(&directory).unwrap();
        let old = directory.join("target").join("disk.img");
        std::fs::create_dir_all(old.parent().unwrap()).unwrap();
        std::fs::write(&old, b"personal data").unwrap();
        let new = directory.join("share").join("janus").join("disk.img");
        move_file(&old, &new).unwrap();
        assert_eq!(std::fs::read(&new).unwrap(), b"personal data");
        assert!(!old.exists());
        assert_eq!(std::fs::read_dir(new.parent().unwrap()).unwrap().count(), 1);
        std::fs::remove_dir_all(directory).unwrap();
    }
}
