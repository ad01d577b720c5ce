//! `ProductWriter`: one object per product, which makes that product's
//! writes one after another, each checked against the committed version,
//! and publishes an event for each committed change (from its outbox, so
//! none is lost while the queue is away: an alarm sends them later).

use crate::domain::Product;
use crate::events::{event_of, Cause};
use crate::EVENTS;
use common::events::ProductEvent;
use common::glue::durable::{
    serve_object, still_awaited, DurableObjectState, ObjectStorage, SqlJournal,
};
use common::glue::env::Env;
use common::glue::executor::spawn;
use common::glue::kv::KvStore;
use common::glue::platform::{new_uuid, now_millis};
use common::glue::queue::publish;
use common::glue::run;
use common::journal::{deliver, Journal, Publisher};
use common::kv::StoreError;
use common::records::Record;
use common::time::Timestamp;
use common::writes::{write_one, write_problem, Command};
use futures_util::lock::Mutex;
use std::cell::Cell;
use std::rc::Rc;
use wasm_bindgen::prelude::*;

/// The first wait before the outbox is tried again, doubled up to the
/// longest while the queue stays away.
const RESEND_FIRST_MS: u64 = 1_000;
const RESEND_LONGEST_MS: u64 = 60_000;

#[wasm_bindgen]
pub struct ProductWriter {
    writer: Rc<Writer>,
    state: DurableObjectState,
}

#[wasm_bindgen]
impl ProductWriter {
    #[wasm_bindgen(constructor)]
    pub fn new(state: DurableObjectState, env: Env) -> Self {
        let storage = state.storage();
        let writer = Rc::new(Writer {
            journal: SqlJournal::open(&storage),
            storage,
            env,
            writing: Mutex::new(()),
            sending: Mutex::new(()),
            resend_after_ms: Cell::new(RESEND_FIRST_MS),
        });
        Self { writer, state }
    }

    /// Answers the write, then sends its event in the background.
    pub fn fetch(&self, request: web_sys::Request) -> Result<JsValue, JsValue> {
        let writer = self.writer.clone();
        let answer = run(async move { writer.fetch(request).await });
        let writer = self.writer.clone();
        self.state.wait_until(&spawn(async move {
            writer.send_events().await;
            Ok(JsValue::UNDEFINED)
        }));
        answer
    }

    pub fn alarm(&self) -> Result<JsValue, JsValue> {
        let writer = self.writer.clone();
        run(async move {
            writer.send_events().await;
            Ok(JsValue::UNDEFINED)
        })
    }
}

struct Writer {
    journal: SqlJournal,
    storage: ObjectStorage,
    env: Env,
    writing: Mutex<()>,
    /// One delivery of the outbox at a time: none sends an event twice.
    sending: Mutex<()>,
    resend_after_ms: Cell<u64>,
}

impl Writer {
    async fn fetch(&self, request: web_sys::Request) -> Result<JsValue, JsValue> {
        serve_object(request, async |inbound, command: Command<Product>| {
            let _turn = self.writing.lock().await;
            still_awaited(inbound)?;
            let kv = KvStore::open(&self.env, "PRODUCTS_KV")?;
            let journal = Journal::new(&self.journal, &kv);
            let now = Timestamp::from_millis(now_millis());
            let cause = Cause {
                event_id: new_uuid(),
                time: now.clone(),
                request_id: inbound.request_id.clone(),
                traceparent: inbound.header("traceparent"),
            };
            let if_match = inbound.header("If-Match");
            let id = &command.id;
            write_one(
                &journal,
                id,
                command.edit,
                if_match.as_deref(),
                &now,
                |edited| event_of(edited, id, cause).into_iter().collect(),
            )
            .await
            .map_err(|error| write_problem(error, Product::COLLECTION, id))
            .map(|edited| edited.reply(id))
        })
        .await
    }

    /// Sends the outbox on; what the queue refuses waits for an alarm.
    async fn send_events(&self) {
        let _turn = self.sending.lock().await;
        let queue = Queue { env: &self.env };
        match deliver(&self.journal, &queue).await {
            Ok(true) => self.resend_after_ms.set(RESEND_FIRST_MS),
            Ok(false) | Err(_) => {
                let wait = self.resend_after_ms.get();
                self.resend_after_ms.set((wait * 2).min(RESEND_LONGEST_MS));
                if let Err(error) = self.storage.set_alarm(now_millis() + wait).await {
                    common::console_error!("the outbox's alarm was not set: {error}");
                }
            }
        }
    }
}

struct Queue<'a> {
    env: &'a Env,
}

impl Publisher for Queue<'_> {
    async fn publish(&self, sequence: u64, event: &str) -> Result<(), StoreError> {
        let message = ProductEvent::versioned(event, sequence)
            .ok_or_else(|| StoreError(format!("outbox entry {sequence} is not an event")))?;
        publish(self.env, EVENTS, &message).await
    }
}
