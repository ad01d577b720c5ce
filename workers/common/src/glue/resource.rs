//! What both services do alike for their records: health, reads from KV
//! (one, a page, a batch), and writes sent to the record's writer object.

use super::durable::call_object;
use super::env::var;
use super::env::Env;
use super::kv::KvStore;
use super::request::Inbound;
use super::serve::Answer;
use crate::cursor::CursorKey;
use crate::id::ResourceId;
use crate::kv::KeyValue;
use crate::records::{self, storage_unavailable, Listing};
use crate::writes::{Command, Edit, Resource};
use crate::{Problem, Reply};
use serde_json::json;
use std::cell::OnceCell;
use std::rc::Rc;

thread_local! {
    static CURSOR_KEY: OnceCell<Option<Rc<CursorKey>>> = const { OnceCell::new() };
}

/// `200 {"status": "ok"}` once the store answers a read.
pub async fn health(kv: &KvStore) -> Result<Reply, Problem> {
    kv.get("health:probe").await.map_err(storage_unavailable)?;
    Ok(Reply::json(200, &json!({"status": "ok"})))
}

pub async fn get<R: Resource>(
    kv: &KvStore,
    inbound: &Inbound,
    id: &ResourceId,
) -> Result<Reply, Problem> {
    records::read::<R>(kv, id, inbound.header("If-None-Match").as_deref()).await
}

pub async fn list<R: Resource>(
    kv: &KvStore,
    inbound: &Inbound,
    env: &Env,
) -> Result<Reply, Problem> {
    let key = cursor_key(env)?;
    logged(records::page::<R>(kv, &inbound.query, &key).await?)
}

pub async fn batch<R: Resource>(kv: &KvStore, ids: &[ResourceId]) -> Result<Reply, Problem> {
    logged(records::batch::<R>(kv, ids).await?)
}

/// Sends an edit of record `id` to its writer object (in namespace
/// `writers`) and passes its answer on.
pub async fn write<R: Resource>(
    env: &Env,
    writers: &str,
    inbound: &Inbound,
    id: ResourceId,
    edit: Edit<R>,
) -> Result<Answer, Problem> {
    let name = id.to_string();
    let command = Command { id, edit };
    call_object(env, writers, &name, inbound, &command)
        .await
        .map(Answer::Response)
}

fn logged(listing: Listing) -> Result<Reply, Problem> {
    for key in &listing.unreadable {
        crate::console_error!("record {key} does not decode; skipped");
    }
    Ok(listing.reply)
}

/// The key list cursors are sealed with, from the `CURSOR_SECRET` secret.
fn cursor_key(env: &Env) -> Result<Rc<CursorKey>, Problem> {
    CURSOR_KEY
        .with(|cell| {
            cell.get_or_init(|| {
                var(env, "CURSOR_SECRET")
                    .filter(|secret| !secret.is_empty())
                    .map(|secret| Rc::new(CursorKey::from_secret(&secret)))
            })
            .clone()
        })
        .ok_or_else(|| {
            crate::console_error!("the CURSOR_SECRET secret is not set");
            Problem::unavailable("listing is not configured")
        })
}
