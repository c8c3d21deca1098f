//! Ordering of upstream version strings, as feeds and recipes write them ("1.36.1", "v2.0", "1.2~rc1",
//! "1.1.1k").
//!
//! The algorithm is Debian's (deb-version(7), without epoch and revision): the string splits into
//! alternating non-digit and digit runs; digit runs compare numerically (leading zeros do not matter),
//! non-digit runs compare character by character with `~` before everything (even the end of the
//! string), then the end, then letters, then other characters. Hence `1.2~rc1 < 1.2 < 1.2.1` and
//! `1.1.1 < 1.1.1k`.
//!
//! Before that, each version is normalised as upstreams write them:
//! - a leading `v` or `V` before a digit is dropped;
//! - a pre-release word (`alpha`, `beta`, `rc`, `pre`, `preview`, `dev`) right after a digit, or after
//!   a digit and one of `-._`, becomes `~word`: `1.0-rc1`, `1.0.rc1` and `1.0rc1` are all `1.0~rc1`,
//!   before `1.0`;
//! - trailing segments of zeros are dropped (before any `~`): `1.2.0` is `1.2`, `1.2.0~rc1` is
//!   `1.2~rc1`.
//!
//! The order is total, so every comparison can be made; versions in different schemes (a date against
//! a release number) compare by these rules even when the answer means nothing.

use std::cmp::Ordering;

/// Compares two upstream versions.
pub fn compare(a: &str, b: &str) -> Ordering {
    let (a, b) = (normalise(a), normalise(b));
    let (mut a, mut b) = (a.as_bytes(), b.as_bytes());
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

const PRE_RELEASE: [&str; 6] = ["preview", "alpha", "beta", "pre", "dev", "rc"];

/// The version with `v` dropped, pre-release words marked with `~` and trailing zero segments dropped.
fn normalise(v: &str) -> String {
    let s = strip(v);
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len() + 2);
    let mut i = 0;
    while i < b.len() {
        let after_digit = i > 0 && b[i - 1].is_ascii_digit();
        let sep = b"-._".contains(&b[i]) && after_digit;
        let at = if sep { i + 1 } else { i };
        if (after_digit || sep)
            && let Some(w) = pre_release_at(b, at)
        {
            out.push('~');
            out.push_str(&s[at..at + w].to_ascii_lowercase());
            i = at + w;
            continue;
        }
        out.push(b[i] as char);
        i += 1;
    }
    let (main, pre) = out.split_at(out.find('~').unwrap_or(out.len()));
    let mut main = main;
    while let Some((head, last)) = main.rsplit_once('.') {
        if head.is_empty() || last.is_empty() || !last.bytes().all(|c| c == b'0') {
            break;
        }
        main = head;
    }
    format!("{main}{pre}")
}

/// The length of a pre-release word at `at` that ends at the end, a digit or a separator.
fn pre_release_at(b: &[u8], at: usize) -> Option<usize> {
    let rest = b.get(at..)?;
    let ends = |n: usize| rest.get(n).is_none_or(|c| c.is_ascii_digit() || b"-._".contains(c));
    // "preview" is listed before "pre": the longest word wins.
    PRE_RELEASE
        .iter()
        .find(|w| rest.len() >= w.len() && rest[..w.len()].eq_ignore_ascii_case(w.as_bytes()) && ends(w.len()))
        .map(|w| w.len())
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
            ("1.2a", "1.2.0", Greater),
            ("1.2", "1.2.0", Equal),
            ("1.2.0.0", "1.2", Equal),
            ("1.0", "1", Equal),
            ("1.2.0~rc1", "1.2~rc1", Equal),
            ("2.0rc1", "2.0", Less),
            ("1.0.beta2", "1.0", Less),
            ("1.0-alpha", "1.0-beta", Less),
            ("1.0-rc1", "1.0-rc2", Less),
            ("1.0-RC1", "1.0~rc1", Equal),
            ("1.0-rc1", "0.9", Greater),
            ("1.0-src", "1.0", Greater),
            ("1.0-devel", "1.0", Greater),
            ("0", "0.1", Less),
            ("0", "00", Equal),
            ("2.0", "10.0", Less),
            ("99999999999999999999999", "100000000000000000000000", Less),
            ("1.0-rc1", "1.0", Less),
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
