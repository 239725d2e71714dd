//! The hypervisor's size: bytes of the EL2 image and lines of code in hyp/.

use std::path::Path;

use anyhow::{Result, bail};

/// The most code and initialised data the hypervisor image may have.
pub const IMAGE_BUDGET: u64 = 256 * 1024;

/// Refuses an image whose code and initialised data (everything before
/// `data_end`) exceed [`IMAGE_BUDGET`].
pub fn check_budget(data_end: u64) -> Result<()> {
    if data_end > IMAGE_BUDGET {
        bail!(
            "the hypervisor image is {} KiB of code and data, over its {} KiB budget. Fix: look for large statics in \
             .data (`nm -S --size-sort` on the ELF): a static whose initializer is not all zero bytes, such as an \
             `Option` whose `None` borrows a niche, is stored in the image instead of the zeroed BSS (see \
             hyp/kernel/src/zeroed.rs); otherwise build cold code for size",
            data_end.div_ceil(1024),
            IMAGE_BUDGET / 1024
        );
    }
    Ok(())
}

/// Non-blank, non-comment lines of Rust and assembly in `directory`,
/// skipping tests and fuzz targets.
pub fn count_lines(directory: &Path) -> Result<usize> {
    let mut total = 0;
    let mut pending = vec![directory.to_path_buf()];
    while let Some(path) = pending.pop() {
        for entry in std::fs::read_dir(&path)? {
            let path = entry?.path();
            let name = path.file_name().and_then(|name| name.to_str()).unwrap_or("");
            if path.is_dir() {
                if !matches!(name, "fuzz" | "tests" | "target") {
                    pending.push(path);
                }
                continue;
            }
            let is_source = name.ends_with(".rs") || name.ends_with(".S");
            if !is_source || name.contains("test") || name == "testing.rs" || name == "proptests.rs" {
                continue;
            }
            let text = std::fs::read_to_string(&path)?;
            let body = text.split("#[cfg(test)]").next().unwrap_or("");
            total += body.lines().map(str::trim).filter(|line| !line.is_empty() && !line.starts_with("//")).count();
        }
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_takes_256_kib_and_refuses_a_byte_more() {
        assert!(check_budget(IMAGE_BUDGET).is_ok());
        let error = check_budget(IMAGE_BUDGET + 1).unwrap_err().to_string();
        assert!(error.contains("257 KiB of code and data, over its 256 KiB budget"), "{error}");
        assert!(error.contains("Fix:"), "{error}");
    }
}
