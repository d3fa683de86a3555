//! Byte units and the OCI hugepage size notation ("2MB", "1GB").

/// One kibibyte.
pub const KIB: u64 = 1024;
/// One mebibyte.
pub const MIB: u64 = 1024 * KIB;
/// One gibibyte.
pub const GIB: u64 = 1024 * MIB;

/// Parses an OCI hugepage size such as `"2MB"`, `"1GB"` or `"64KB"` into
/// bytes. OCI, like the kernel's `hugetlb.<size>` file names, uses KB/MB/GB
/// for powers of 1024. Returns `None` for anything else.
pub fn parse_page_size(text: &str) -> Option<u64> {
    let (digits, unit) = text.split_at(text.find(|c: char| !c.is_ascii_digit())?);
    let number: u64 = digits.parse().ok()?;
    let scale = match unit {
        "KB" => KIB,
        "MB" => MIB,
        "GB" => GIB,
        _ => return None,
    };
    if number == 0 {
        return None;
    }
    number.checked_mul(scale)
}

/// Formats a byte count as an OCI hugepage size (`2097152` → `"2MB"`), using
/// the largest unit that divides it exactly.
pub fn format_page_size(bytes: u64) -> String {
    if bytes >= GIB && bytes.is_multiple_of(GIB) {
        format!("{}GB", bytes / GIB)
    } else if bytes >= MIB && bytes.is_multiple_of(MIB) {
        format!("{}MB", bytes / MIB)
    } else {
        format!("{}KB", bytes / KIB)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_sizes_parse_and_format() {
        assert_eq!(parse_page_size("2MB"), Some(2 * MIB));
        assert_eq!(parse_page_size("1GB"), Some(GIB));
        assert_eq!(parse_page_size("64KB"), Some(64 * KIB));
        for bad in ["", "MB", "2mb", "2 MB", "0MB", "2TB", "-2MB", "2M"] {
            assert_eq!(parse_page_size(bad), None, "{bad:?}");
        }
        assert_eq!(format_page_size(2 * MIB), "2MB");
        assert_eq!(format_page_size(GIB), "1GB");
        assert_eq!(format_page_size(64 * KIB), "64KB");
    }
}
