//! CPE 2.3 formatted strings (`cpe:2.3:part:vendor:product:version:update:...`, NISTIR 7695 §6.2):
//! the parts a match needs. Vendor and product compare case-insensitively; a version of `*` (any) or
//! `-` (not applicable) means "no version given", and then the cpeMatch's range decides. The update
//! part (`1.36.0:rc1`) names a pre-release or patch level: a criteria with one matches only a package
//! whose CPE has the same update.

/// The parsed parts of a CPE 2.3 name that matching uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Cpe {
    /// Lowercased, unescaped.
    pub vendor: String,
    /// Lowercased, unescaped.
    pub product: String,
    /// Unescaped; `None` for `*` and `-`.
    pub version: Option<String>,
    /// The update part (`rc1`, `beta2`, `p1`), lowercased; `None` for `*` and `-` (a release).
    pub update: Option<String>,
}

impl Cpe {
    /// Parses a CPE 2.3 formatted string of exactly 13 colon-separated parts (`\:` is an escaped colon
    /// inside a part). Returns `None` for anything else.
    pub fn parse(s: &str) -> Option<Cpe> {
        let parts = split(s);
        if parts.len() != 13 || parts[0] != "cpe" || parts[1] != "2.3" {
            return None;
        }
        let version = match parts[5].as_str() {
            "*" | "-" | "" => None,
            v => Some(v.to_string()),
        };
        let update = match parts[6].as_str() {
            "*" | "-" | "" => None,
            u => Some(u.to_lowercase()),
        };
        Some(Cpe { vendor: parts[3].to_lowercase(), product: parts[4].to_lowercase(), version, update })
    }
}

/// Splits on unescaped colons and removes the escaping backslashes.
fn split(s: &str) -> Vec<String> {
    let mut parts = vec![String::new()];
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let (Some(next), Some(last)) = (chars.next(), parts.last_mut()) {
                    last.push(next);
                }
            }
            ':' => parts.push(String::new()),
            c => {
                if let Some(last) = parts.last_mut() {
                    last.push(c);
                }
            }
        }
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_parts_and_escapes() {
        let c = Cpe::parse(r"cpe:2.3:a:BusyBox:busybox:1.36.1:*:*:*:*:*:*:*").expect("valid");
        assert_eq!(
            (c.vendor.as_str(), c.product.as_str(), c.version.as_deref()),
            ("busybox", "busybox", Some("1.36.1"))
        );
        let c = Cpe::parse(r"cpe:2.3:a:foo\:bar:baz\\qux:*:*:*:*:*:*:*:*").expect("valid");
        assert_eq!((c.vendor.as_str(), c.product.as_str(), c.version), ("foo:bar", r"baz\qux", None));
        let c = Cpe::parse("cpe:2.3:o:vendor:os:-:*:*:*:*:*:*:*").expect("valid");
        assert_eq!(c.version, None);
    }

    #[test]
    fn rejects_malformed() {
        assert_eq!(Cpe::parse("cpe:2.3:a:busybox:busybox:1.0"), None);
        assert_eq!(Cpe::parse("cpe:/a:busybox:busybox:1.0"), None);
        assert_eq!(Cpe::parse("cpe:2.2:a:b:c:*:*:*:*:*:*:*:*"), None);
        assert_eq!(Cpe::parse(""), None);
    }

    #[test]
    fn vendor_and_product_compare_case_insensitively() {
        let a = Cpe::parse("cpe:2.3:a:OpenSSL:OpenSSL:*:*:*:*:*:*:*:*").expect("valid");
        let b = Cpe::parse("cpe:2.3:a:openssl:openssl:3.0.0:*:*:*:*:*:*:*").expect("valid");
        let c = Cpe::parse("cpe:2.3:a:other:openssl:3.0.0:*:*:*:*:*:*:*").expect("valid");
        assert_eq!((&a.vendor, &a.product), (&b.vendor, &b.product));
        assert_ne!((&a.vendor, &a.product), (&c.vendor, &c.product));
    }
}
