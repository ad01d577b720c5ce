//! `ProductWriter`: one object per product, which makes that product's
//! writes one after another, each checked against the committed version,
//! and publishes an event for each committed change (from its outbox, so
//! none is lost while the queue is away: an alarm sends them later).

use crate::domain::Product;
use crate::events::{event_of, next_resend_wait, Cause, RESEND_FIRST_MS, RESEND_LONGEST_MS};
use crate::EVENTS;
use common::events::ProductEvent;
use common::glue::durable::{
    serve_object, still_awaited, DurableObjectState, ObjectStorage, SqlJournal,
};
use common::glue::env::Env;
use common::glue::kv::KvStore;
use common::glue::platform::{new_uuid, now_millis};
use common::glue::promise::within;
use common::glue::queue::publish;
use common::glue::request::Inbound;
use common::glue::run;
use common::journal::{deliver, Journal, Publisher};
use common::kv::StoreError;
use common::records::Record;
use common::time::Timestamp;
use common::writes::Edited;
use common::writes::{write_one, write_problem, Command};
use common::{Problem, Reply};
use futures_util::lock::Mutex;
use std::cell::Cell;
use std::rc::Rc;
use wasm_bindgen::prelude::*;

/// The longest a write's answer waits for its event to be sent: a queue
/// that is slow or down delays the answer by no more than this.
const SEND_BEFORE_ANSWER_MS: u64 = 500;

#[wasm_bindgen]
pub struct ProductWriter(Rc<Writer>);

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
        Self(writer)
    }

    pub fn fetch(&self, request: web_sys::Request) -> Result<JsValue, JsValue> {
        let writer = self.0.clone();
        run(async move { writer.fetch(request).await })
    }

    pub fn alarm(&self) -> Result<JsValue, JsValue> {
        let writer = self.0.clone();
        run(async move {
            writer.send_events(RESEND_LONGEST_MS).await;
            Ok(JsValue::UNDEFINED)
        })
    }
}

struct Writer {
    journal: SqlJournal,
    storage: ObjectStorage,
    env: Env,
    writing: Mutex<()>,
    /// One delivery of the outbox at a time. An event whose send was cut
    /// short by its budget may go again with the next delivery; the
    /// consumer applies it once.
    sending: Mutex<()>,
    resend_after_ms: Cell<u64>,
}

impl Writer {
    async fn fetch(&self, request: web_sys::Request) -> Result<JsValue, JsValue> {
        serve_object(request, async |inbound, command: Command<Product>| {
            let reply = self.write(inbound, command).await?;
            // The event goes out before the answer when the queue takes it in
            // time; else the outbox keeps it for the alarm.
            let budget = inbound.remaining_ms().min(SEND_BEFORE_ANSWER_MS);
            self.send_events(budget).await;
            Ok(reply)
        })
        .await
    }

    /// One write at a time: the writing turn is held until it is committed.
    async fn write(&self, inbound: &Inbound, command: Command<Product>) -> Result<Reply, Problem> {
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
        let events_of =
            |edited: &Edited<Product>| event_of(edited, id, cause).into_iter().collect();
        write_one(
            &journal,
            id,
            command.edit,
            if_match.as_deref(),
            &now,
            events_of,
        )
        .await
        .map_err(|error| write_problem(error, Product::COLLECTION, id))
        .map(|edited| edited.reply(id))
    }

    /// Sends the outbox on within `budget_ms`; what the queue refuses (or
    /// does not take in time) waits for an alarm.
    async fn send_events(&self, budget_ms: u64) {
        let queue = Queue { env: &self.env };
        let delivery = async {
            let _turn = self.sending.lock().await;
            deliver(&self.journal, &queue).await
        };
        match within(budget_ms, delivery).await {
            Some(Ok(true)) => self.resend_after_ms.set(RESEND_FIRST_MS),
            Some(Ok(false) | Err(_)) | None => {
                let wait = self.resend_after_ms.get();
                self.resend_after_ms.set(next_resend_wait(wait));
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
        publish(self.env, EVENTS, &JsValue::from(message)).await
    }
}
