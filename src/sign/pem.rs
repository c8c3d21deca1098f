//! PEM (RFC 7468): the `-----BEGIN LABEL-----` blocks of a key file, and writing one.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// One block of a PEM file.
pub(super) struct Block {
    pub label: String,
    pub der: Vec<u8>,
    /// An OpenSSL "traditional" block with `Proc-Type: 4,ENCRYPTED` (its body is ciphertext).
    pub encrypted: bool,
}

/// Every block of `text`, in order. Text outside blocks is ignored (OpenSSL writes comments there);
/// the error says what is wrong, for the caller to attach the file name.
pub(super) fn parse(text: &str) -> Result<Vec<Block>, String> {
    let mut blocks = Vec::new();
    let mut lines = text.lines().map(str::trim).enumerate();
    while let Some((_, line)) = lines.next() {
        let Some(label) = boundary(line, "BEGIN") else { continue };
        let (mut body, mut encrypted, mut closed) = (String::new(), false, false);
        for (n, line) in lines.by_ref() {
            if let Some(end) = boundary(line, "END") {
                if end != label {
                    return Err(format!("line {}: `{line}` closes a `{label}` block", n + 1));
                }
                closed = true;
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                encrypted |= name.trim() == "Proc-Type" && value.contains("ENCRYPTED");
            } else {
                body.push_str(line);
            }
        }
        if !closed {
            return Err(format!("the `{label}` block has no END line"));
        }
        let der = STANDARD.decode(&body).map_err(|e| format!("the `{label}` block is not valid base64: {e}"))?;
        blocks.push(Block { label: label.to_string(), der, encrypted });
    }
    if blocks.is_empty() {
        return Err("not a PEM file (no `-----BEGIN ...-----` line)".to_string());
    }
    Ok(blocks)
}

/// `-----BEGIN LABEL-----` (or END) gives `LABEL`.
fn boundary<'a>(line: &'a str, which: &str) -> Option<&'a str> {
    line.strip_prefix("-----")?.strip_prefix(which)?.strip_prefix(' ')?.strip_suffix("-----")
}

/// A PEM block of `der` under `label`, 64 characters a line, ending in a newline.
pub(super) fn encode(label: &str, der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).expect("base64 is ASCII"));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}
