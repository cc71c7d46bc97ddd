//! Content hashes that name what a result was computed from (scenarios in sweeps and plans).

use std::fmt::Write;

use sha2::{Digest, Sha256};

/// SHA-256 as lowercase hex.
pub fn hash_text(text: &str) -> String {
    let d = Sha256::digest(text.as_bytes());
    let mut s = String::with_capacity(64);
    for b in d {
        let _ = write!(s, "{b:02x}");
    }
    s
}
