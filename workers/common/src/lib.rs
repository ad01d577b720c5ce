//! What the workers share: plain-Rust parsing, validation and error
//! mapping that `cargo test` runs natively, and (on wasm32 only) the thin
//! glue between those and the Workers runtime.

pub mod body;
pub mod collection;
pub mod cursor;
pub mod deadline;
pub mod etag;
pub mod events;
pub mod id;
pub mod journal;
pub mod kv;
pub mod problem;
pub mod records;
pub mod reply;
pub mod text;
pub mod time;
pub mod trace;
pub mod url;
pub mod writes;

#[cfg(any(test, feature = "testing"))]
pub mod testing;

#[cfg(target_arch = "wasm32")]
pub mod glue;

/// A line for the worker's log.
#[cfg(target_arch = "wasm32")]
#[macro_export]
macro_rules! console_log {
    ($($line:tt)*) => { $crate::glue::log::log(&format!($($line)*)) };
}

/// A warning for the worker's log.
#[cfg(target_arch = "wasm32")]
#[macro_export]
macro_rules! console_warn {
    ($($line:tt)*) => { $crate::glue::log::warn(&format!($($line)*)) };
}

/// An error for the worker's log.
#[cfg(target_arch = "wasm32")]
#[macro_export]
macro_rules! console_error {
    ($($line:tt)*) => { $crate::glue::log::error(&format!($($line)*)) };
}

pub use problem::{FieldError, Problem};
pub use reply::Reply;

/// The header that carries a request's id across every hop.
pub const REQUEST_ID: &str = "X-Request-Id";

/// The 64-bit FNV-1a hash: fast, stable, not cryptographic.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

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
