//! What the workers share: plain-Rust parsing, validation and error
//! mapping that `cargo test` runs natively, and (on wasm32 only) the thin
//! glue between those and the Workers runtime.

pub mod body;
pub mod etag;
pub mod id;
pub mod problem;
pub mod reply;
pub mod time;
pub mod trace;
pub mod url;

#[cfg(target_arch = "wasm32")]
pub mod glue;
#[cfg(target_arch = "wasm32")]
pub mod store;

pub use problem::{FieldError, Problem};
pub use reply::Reply;

/// The header that carries a request's id across every hop.
pub const REQUEST_ID: &str = "X-Request-Id";

/// Lower-case hexadecimal of some bytes.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(DIGITS[usize::from(byte >> 4)] as char);
        out.push(DIGITS[usize::from(byte & 0xf)] as char);
    }
    out
}
