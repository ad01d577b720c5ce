//! `UserWriter`: one object per user (see `writer.rs` for what it does).

use super::clients::{ClaimsClient, FansClient, HasEmail};
use crate::domain::{Email, User};
use crate::problems::user_problem;
use crate::writer::{has_email, UserWrite, UserWriter as Writer};
use common::glue::durable::{serve_object, still_awaited, DurableObjectState, SqlJournal};
use common::glue::env::Env;
use common::glue::kv::KvStore;
use common::glue::platform::now_millis;
use common::glue::run;
use common::id::ResourceId;
use common::journal::{Journal, JournalStorage};
use common::kv::KeyValue;
use common::records::Record;
use common::time::Timestamp;
use common::{Problem, Reply};
use futures_util::lock::Mutex;
use std::rc::Rc;
use wasm_bindgen::prelude::*;

#[wasm_bindgen]
pub struct UserWriter(Rc<Object>);

struct Object {
    journal: SqlJournal,
    env: Env,
    writing: Mutex<()>,
}

#[wasm_bindgen]
impl UserWriter {
    #[wasm_bindgen(constructor)]
    pub fn new(state: DurableObjectState, env: Env) -> Self {
        Self(Rc::new(Object {
            journal: SqlJournal::open(&state.storage()),
            env,
            writing: Mutex::new(()),
        }))
    }

    pub fn fetch(&self, request: web_sys::Request) -> Result<JsValue, JsValue> {
        let object = self.0.clone();
        run(async move {
            if common::url::path_and_query(&request.url()).0 == "/has-email" {
                return serve_object(request, async |_, question: HasEmail| {
                    object.has_email(&question.owner, &question.email).await
                })
                .await;
            }
            serve_object(request, async |inbound, write: UserWrite| {
                object.write(inbound, write).await
            })
            .await
        })
    }
}

impl Object {
    /// One write at a time: the writing turn is held until it is done.
    async fn write(
        &self,
        inbound: &common::glue::request::Inbound,
        write: UserWrite,
    ) -> Result<Reply, Problem> {
        let _turn = self.writing.lock().await;
        still_awaited(inbound)?;
        let kv = KvStore::open(&self.env, "USERS_KV")?;
        let claims = ClaimsClient {
            env: &self.env,
            inbound,
        };
        let fans = FansClient {
            env: &self.env,
            inbound,
        };
        let writer = Writer {
            journal: Journal::new(&self.journal, &kv),
            claims: &claims,
            fans: &fans,
        };
        let id = write.id.clone();
        let now = Timestamp::from_millis(now_millis());
        let if_match = inbound.header("If-Match");
        writer
            .execute(write, if_match.as_deref(), &now)
            .await
            .map_err(|error| user_problem(error, &id))
    }

    /// Answered from the committed record and the write in progress,
    /// without taking the writing turn: an address object may ask while
    /// this writer waits on it. A pending write with no write running was
    /// interrupted, and the next request undoes it: it holds no address.
    async fn has_email(&self, owner: &ResourceId, email: &Email) -> Result<Reply, Problem> {
        let unavailable = |_| Problem::unavailable("storage is unavailable");
        let key = User::COLLECTION.key(owner);
        let pending = match self.writing.try_lock() {
            Some(_idle) => None,
            None => self.journal.pending().map_err(unavailable)?,
        };
        let writing = pending
            .iter()
            .flatten()
            .filter(|change| change.key == key)
            .any(|change| has_email(change.value.as_deref(), email));
        let committed = match self.journal.committed(&key).map_err(unavailable)? {
            Some(known) => known,
            None => KvStore::open(&self.env, "USERS_KV")?
                .get(&key)
                .await
                .map_err(unavailable)?,
        };
        Ok(Reply::json(
            200,
            &(writing || has_email(committed.as_deref(), email)),
        ))
    }
}
