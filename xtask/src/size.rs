//! The hypervisor's size: bytes of the EL2 image and lines of code in hyp/.

use std::path::Path;

use anyhow::Result;

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
            total += body
                .lines()
                .map(str::trim)
                .filter(|line| !line.is_empty() && !line.starts_with("//"))
                .count();
        }
    }
    Ok(total)
}
