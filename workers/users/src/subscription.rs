//! The queue handler: the product events users consumes (`consumer.rs`
//! decides), each acknowledged on its own, retried with a delay when a
//! step fails, and sent straight to the dead-letter queue when it is not
//! an event at all.

use crate::consumer::{handling, remove_everywhere, Favourers, Handling};
use crate::fans::{FansAnswer, FansRequest};
use crate::objects::{FansClient, FANS, WRITE};
use crate::writer::{UserCommand, UserWrite};
use crate::{DEAD_LETTERS, WRITERS};
use common::events::ProductEvent;
use common::glue::describe;
use common::glue::durable::call_object;
use common::glue::env::Env;
use common::glue::kv::KvStore;
use common::glue::platform::now_millis;
use common::glue::queue::{publish, Message, MessageBatch};
use common::glue::request::Inbound;
use common::glue::run;
use common::id::ResourceId;
use common::kv::{KeyValue, StoreError};
use common::time::Timestamp;
use serde::Serialize;
use wasm_bindgen::prelude::*;

/// The KV key where the consumer notes how far it has got (read by
/// `/health`).
pub const PROGRESS_KEY: &str = "events:progress";

/// The longest wait before a failed message is tried again.
const LONGEST_RETRY_DELAY_SECS: u32 = 30;

#[derive(Serialize)]
struct Progress {
    processed_at: Timestamp,
    last_event_time: Timestamp,
    lag_ms: u64,
}

#[wasm_bindgen]
pub fn queue(batch: MessageBatch, env: Env, _ctx: JsValue) -> Result<JsValue, JsValue> {
    run(async move {
        consume(&batch, &env).await;
        Ok(JsValue::UNDEFINED)
    })
}

async fn consume(batch: &MessageBatch, env: &Env) {
    let mut newest: Option<ProductEvent> = None;
    for message in batch.each() {
        let body = message.text();
        if let Some(event) = handle(env, &message, &body).await {
            if newest.as_ref().is_none_or(|known| event.time > known.time) {
                newest = Some(event);
            }
        }
    }
    if let Some(event) = newest {
        note_progress(env, &event).await;
    }
}

/// Handles one message; answers the event once it is done with.
async fn handle(env: &Env, message: &Message, body: &str) -> Option<ProductEvent> {
    match handling(body) {
        Handling::DeadLetter(why) => {
            common::console_error!("message {} dead-lettered: {why}", message.id());
            match publish(env, DEAD_LETTERS, &message.body()).await {
                Ok(()) => message.ack(),
                Err(_) => retry(message),
            }
            None
        }
        Handling::Ignore(event) => {
            message.ack();
            Some(event)
        }
        Handling::RemoveEverywhere(event) => {
            let favourers = Objects { env, event: &event };
            let product = &event.product_id;
            match remove_everywhere(&favourers, product, event.version).await {
                Ok(count) => {
                    common::console_log!(
                        "product.deleted {product} (event {}): removed from {count} lists",
                        event.id
                    );
                    message.ack();
                    Some(event)
                }
                Err(error) => {
                    common::console_error!("product.deleted {product} not applied yet: {error}");
                    retry(message);
                    None
                }
            }
        }
    }
}

fn retry(message: &Message) {
    let delay = (message.attempts() as u32).clamp(1, LONGEST_RETRY_DELAY_SECS);
    message.retry(delay);
}

/// Notes when the newest event of a batch was processed: `/health` shows
/// it (one KV write per batch).
async fn note_progress(env: &Env, event: &ProductEvent) {
    let now = now_millis();
    let progress = Progress {
        processed_at: Timestamp::from_millis(now),
        last_event_time: event.time.clone(),
        lag_ms: now.saturating_sub(event.time.millis()),
    };
    let Ok(kv) = KvStore::open(env, "USERS_KV") else {
        return;
    };
    if let Ok(json) = serde_json::to_string(&progress) {
        let _ = kv.put(PROGRESS_KEY, &json).await;
    }
}

struct Objects<'a> {
    env: &'a Env,
    event: &'a ProductEvent,
}

impl Objects<'_> {
    /// A request of its own for each object call, carrying the event's
    /// request id and trace: each call has the whole default budget, so a
    /// product with many fans is not cut short by one shared deadline.
    fn inbound(&self, url: &str) -> Result<Inbound, StoreError> {
        let event = self.event;
        Inbound::internal(url, Some(&event.request_id), event.traceparent.as_deref())
            .map_err(|error| StoreError(format!("no request: {}", describe(&error))))
    }
}

impl Favourers for Objects<'_> {
    async fn product_deleted(
        &self,
        product: &ResourceId,
        version: u64,
    ) -> Result<Vec<ResourceId>, StoreError> {
        let request = FansRequest::ProductDeleted {
            product: product.clone(),
            version,
        };
        let inbound = self.inbound(FANS)?;
        let fans = FansClient {
            env: self.env,
            inbound: &inbound,
        };
        match fans.ask(&request).await? {
            FansAnswer::Fans(fans) => Ok(fans),
            other => Err(StoreError(format!("unexpected answer {other:?}"))),
        }
    }

    async fn remove_favorite(
        &self,
        user: &ResourceId,
        product: &ResourceId,
    ) -> Result<(), StoreError> {
        let write = UserWrite {
            id: user.clone(),
            command: UserCommand::RemoveFavorite {
                product: product.clone(),
            },
        };
        let name = user.to_string();
        let inbound = self.inbound(WRITE)?;
        let response = call_object(self.env, WRITERS, &name, &inbound, &write)
            .await
            .map_err(|problem| StoreError(problem.detail))?;
        match response.status() {
            204 | 404 => Ok(()),
            status => Err(StoreError(format!(
                "the writer of {user} answered {status}"
            ))),
        }
    }
}
