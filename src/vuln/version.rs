//! Ordering of upstream version strings, as feeds and recipes write them ("1.36.1", "v2.0", "1.2~rc1",
//! "1.1.1k").
//!
//! The algorithm is Debian's (deb-version(7), without epoch and revision): the string splits into
//! alternating non-digit and digit runs; digit runs compare numerically (leading zeros do not matter),
//! non-digit runs compare character by character with `~` before everything (even the end of the
//! string), then the end, then letters, then other characters. Hence `1.2~rc1 < 1.2 < 1.2.1`,
//! `1.1.1 < 1.1.1k`, and `1.2 < 1.2.0` (trailing zero segments are not dropped). A leading `v` or `V`
//! is ignored. The order is total, so every comparison can be made; versions in different schemes
//! (a date against a release number) compare by these rules even when the answer means nothing.

use std::cmp::Ordering;

/// Compares two upstream versions.
pub fn compare(a: &str, b: &str) -> Ordering {
    let (mut a, mut b) = (strip(a).as_bytes(), strip(b).as_bytes());
    while !a.is_empty() || !b.is_empty() {
        let (an, ar) = split_while(a, |c| !c.is_ascii_digit());
        let (bn, br) = split_while(b, |c| !c.is_ascii_digit());
        let ord = compare_alpha(an, bn);
        if ord != Ordering::Equal {
            return ord;
        }
        let (ad, ar) = split_while(ar, |c| c.is_ascii_digit());
        let (bd, br) = split_while(br, |c| c.is_ascii_digit());
        let ord = compare_digits(ad, bd);
        if ord != Ordering::Equal {
            return ord;
        }
        (a, b) = (ar, br);
    }
    Ordering::Equal
}

/// True when both name the same version (`v1.2` and `1.2`, `01.2` and `1.2`).
pub fn same(a: &str, b: &str) -> bool {
    compare(a, b) == Ordering::Equal
}

fn strip(v: &str) -> &str {
    let v = v.trim();
    match v.strip_prefix(['v', 'V']) {
        Some(rest) if rest.starts_with(|c: char| c.is_ascii_digit()) => rest,
        _ => v,
    }
}

fn split_while(s: &[u8], f: impl Fn(u8) -> bool) -> (&[u8], &[u8]) {
    let n = s.iter().position(|&c| !f(c)).unwrap_or(s.len());
    s.split_at(n)
}

/// Debian's character weight: `~` lowest, then end of string, letters, everything else.
fn weight(c: Option<u8>) -> i32 {
    match c {
        Some(b'~') => -1,
        None => 0,
        Some(c) if c.is_ascii_alphabetic() => i32::from(c),
        Some(c) => i32::from(c) + 256,
    }
}

fn compare_alpha(a: &[u8], b: &[u8]) -> Ordering {
    for i in 0..a.len().max(b.len()) {
        let ord = weight(a.get(i).copied()).cmp(&weight(b.get(i).copied()));
        if ord != Ordering::Equal {
            return ord;
        }
    }
    Ordering::Equal
}

fn compare_digits(a: &[u8], b: &[u8]) -> Ordering {
    let trim = |s: &[u8]| -> usize { s.iter().position(|&c| c != b'0').unwrap_or(s.len()) };
    let (a, b) = (&a[trim(a)..], &b[trim(b)..]);
    // Arbitrary length: longer (without leading zeros) is larger, else lexical on equal lengths.
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use Ordering::*;

    #[test]
    fn orders_edge_cases() {
        let cases = [
            ("1.2", "1.2.1", Less),
            ("1.2.1", "1.2", Greater),
            ("1.10", "1.9", Greater),
            ("1.36.1", "1.36.1", Equal),
            ("v1.36.1", "1.36.1", Equal),
            ("V2", "2", Equal),
            ("1.02", "1.2", Equal),
            ("1.2~rc1", "1.2", Less),
            ("1.2~rc1", "1.2~rc2", Less),
            ("1.2~~", "1.2~", Less),
            ("1.1.1", "1.1.1k", Less),
            ("1.1.1k", "1.1.1l", Less),
            ("1.2a", "1.2.0", Less),
            ("1.2", "1.2.0", Less),
            ("0", "0.1", Less),
            ("0", "00", Equal),
            ("2.0", "10.0", Less),
            ("99999999999999999999999", "100000000000000000000000", Less),
            ("1.0-rc1", "1.0", Greater),
        ];
        for (a, b, want) in cases {
            assert_eq!(compare(a, b), want, "{a} vs {b}");
            assert_eq!(compare(b, a), want.reverse(), "{b} vs {a}");
        }
    }

    #[test]
    fn v_is_only_stripped_before_a_digit() {
        assert_eq!(compare("vim", "im"), Greater);
        assert!(same(" v1.0 ", "1.0"));
    }
}
