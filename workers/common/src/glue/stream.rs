//! Request bodies as streams: read whole up to a limit, or drained.

use super::promise::settled;
use super::request::header;
use crate::Problem;
use js_sys::{Reflect, Uint8Array};
use wasm_bindgen::JsCast;
use web_sys::{Headers, ReadableStreamDefaultReader, Request};

/// How much of a refused body is still read and dropped, so that a client
/// that is still sending gets the answer instead of a reset connection.
/// Beyond it the stream is cancelled: a refusal stays cheap.
pub const DRAIN_MAX_BYTES: usize = 1024 * 1024;

/// Reads a request's whole body, refusing one longer than `limit` bytes:
/// at once when its declared length says so, else as soon as it passes the
/// limit.
pub async fn read_body(request: &Request, limit: usize) -> Result<Vec<u8>, Problem> {
    let too_long = declared_length(&request.headers()).is_some_and(|length| length > limit);
    let Some(stream) = request.body() else {
        return Ok(Vec::new());
    };
    let reader: ReadableStreamDefaultReader = stream.get_reader().unchecked_into();
    if too_long {
        drain(&reader, 0).await;
        return Err(Problem::payload_too_large(limit));
    }
    let mut bytes = Vec::new();
    while let Some(chunk) = next_chunk(&reader).await? {
        let start = bytes.len();
        let length = chunk.length() as usize;
        if start + length > limit {
            drain(&reader, start + length).await;
            return Err(Problem::payload_too_large(limit));
        }
        bytes.resize(start + length, 0);
        chunk.copy_to(&mut bytes[start..]);
    }
    Ok(bytes)
}

/// Reads and drops a body nobody read (up to `DRAIN_MAX_BYTES`).
pub async fn discard_unread_body(request: &Request) {
    if let Some(stream) = request.body().filter(|stream| !stream.locked()) {
        drain(&stream.get_reader().unchecked_into(), 0).await;
    }
}

async fn drain(reader: &ReadableStreamDefaultReader, mut seen: usize) {
    while seen < DRAIN_MAX_BYTES {
        match next_chunk(reader).await {
            Ok(Some(chunk)) => seen += chunk.length() as usize,
            _ => return,
        }
    }
    let _ = reader.cancel();
}

async fn next_chunk(reader: &ReadableStreamDefaultReader) -> Result<Option<Uint8Array>, Problem> {
    let unreadable = |_| Problem::bad_request("the body could not be read");
    let chunk = settled(reader.read()).await.map_err(unreadable)?;
    if Reflect::get(&chunk, &"done".into())
        .map_err(unreadable)?
        .is_truthy()
    {
        return Ok(None);
    }
    let value = Reflect::get(&chunk, &"value".into()).map_err(unreadable)?;
    Ok(Some(value.unchecked_into()))
}

pub fn declared_length(headers: &Headers) -> Option<usize> {
    header(headers, "Content-Length").and_then(|length| length.trim().parse().ok())
}
