//! Sizes for people: `--max-size 10G` in, `1.5 GiB` out. Binary units (K = 1024).

const UNITS: [(&str, u32); 5] = [("", 0), ("K", 1), ("M", 2), ("G", 3), ("T", 4)];

/// Parses `123` (bytes), `500K`, `500M`, `10G`, `1T`, `1.5G`; a unit may be lower case and end in `B`
/// or `iB` (`10GiB`, `10gb`). Units are binary: `1K` is 1024 bytes.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let unit = unit.trim().to_ascii_uppercase();
    let unit = unit.strip_suffix("IB").or_else(|| unit.strip_suffix('B')).unwrap_or(&unit);
    let bad = || format!("`{text}` is not a size: use bytes or a number with K, M, G or T (binary units), e.g. `10G`");
    let power = UNITS.iter().find(|(u, _)| *u == unit).map(|(_, p)| *p).ok_or_else(bad)?;
    let value: f64 = number.parse().map_err(|_| bad())?;
    let bytes = value * 1024f64.powi(power as i32);
    if !bytes.is_finite() || bytes > u64::MAX as f64 {
        return Err(bad());
    }
    Ok(bytes.round() as u64)
}

/// `1536` -> `1.5 KiB`; below 1 KiB, `N B`.
pub fn format_size(bytes: u64) -> String {
    let mut v = bytes as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    match unit {
        0 => format!("{bytes} B"),
        u => format!("{v:.1} {}iB", UNITS[u].0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bytes_and_binary_units() {
        assert_eq!(parse_size("123"), Ok(123));
        assert_eq!(parse_size("10G"), Ok(10 << 30));
        assert_eq!(parse_size("500M"), Ok(500 << 20));
        assert_eq!(parse_size("4k"), Ok(4096));
        assert_eq!(parse_size("1.5G"), Ok(3 << 29));
        assert_eq!(parse_size("2TiB"), Ok(2 << 40));
        assert_eq!(parse_size("10gb"), Ok(10 << 30));
        assert_eq!(parse_size(" 7 M "), Ok(7 << 20));
        for bad in ["", "G", "10X", "ten", "1.2.3G", "-1G", "1e400"] {
            assert!(parse_size(bad).is_err(), "{bad:?} should not parse");
        }
    }

    #[test]
    fn formats_for_people() {
        assert_eq!(format_size(0), "0 B");
        assert_eq!(format_size(1023), "1023 B");
        assert_eq!(format_size(1536), "1.5 KiB");
        assert_eq!(format_size(10 << 30), "10.0 GiB");
    }
}
