//! `EmailClaims`: one object per address (see `emails.rs` for what it
//! decides), its one row in SQLite, and its alarm.

use super::clients::WritersClient;
use super::CLAIM;
use crate::domain::Email;
use crate::emails::{index_key, Claim, ClaimRequest, ClaimStore, Claims, CLAIM_TTL_MS};
use common::glue::durable::{
    serve_object, DurableObjectState, ObjectStorage, SqlStorage, SqlValue,
};
use common::glue::env::{var, Env};
use common::glue::kv::KvStore;
use common::glue::platform::now_millis;
use common::glue::request::Inbound;
use common::glue::run;
use common::id::ResourceId;
use common::kv::{KeyValue, StoreError};
use common::{Problem, Reply};
use futures_util::lock::Mutex;
use std::rc::Rc;
use wasm_bindgen::prelude::*;

#[wasm_bindgen]
pub struct EmailClaims(Rc<Object>);

struct Object {
    storage: ObjectStorage,
    sql: SqlStorage,
    env: Env,
    busy: Mutex<()>,
}

#[wasm_bindgen]
impl EmailClaims {
    #[wasm_bindgen(constructor)]
    pub fn new(state: DurableObjectState, env: Env) -> Self {
        let storage = state.storage();
        let sql = storage.sql();
        sql.create_tables(&[
            "CREATE TABLE IF NOT EXISTS claim (id INTEGER PRIMARY KEY CHECK (id = 1), \
             email TEXT NOT NULL, owner TEXT, held INTEGER NOT NULL, since INTEGER NOT NULL)",
        ]);
        Self(Rc::new(Object {
            storage,
            sql,
            env,
            busy: Mutex::new(()),
        }))
    }

    pub fn fetch(&self, request: web_sys::Request) -> Result<JsValue, JsValue> {
        let object = self.0.clone();
        run(async move {
            serve_object(request, async |inbound, request: ClaimRequest| {
                object.handle(inbound, request).await
            })
            .await
        })
    }

    pub fn alarm(&self) -> Result<JsValue, JsValue> {
        let object = self.0.clone();
        run(async move {
            object.expire().await;
            Ok(JsValue::UNDEFINED)
        })
    }
}

impl Object {
    async fn handle(&self, inbound: &Inbound, request: ClaimRequest) -> Result<Reply, Problem> {
        let _turn = self.busy.lock().await;
        let email = request.email().clone();
        let store = self.row(&email);
        let holders = WritersClient {
            env: &self.env,
            inbound,
        };
        let answer = self
            .claims(&store, &holders)
            .handle(request, now_millis())
            .await
            .map_err(|_| Problem::unavailable("claims are unavailable"))?;
        self.schedule_alarm(&store).await;
        Ok(Reply::json(200, &answer))
    }

    /// A claim still pending after its time: kept or freed.
    async fn expire(&self) {
        let _turn = self.busy.lock().await;
        let Some(email) = self.stored_email() else {
            return;
        };
        let Ok(inbound) = Inbound::internal(CLAIM, None, None) else {
            return;
        };
        let store = self.row(&email);
        let holders = WritersClient {
            env: &self.env,
            inbound: &inbound,
        };
        match self
            .claims(&store, &holders)
            .expire(&email, now_millis())
            .await
        {
            Ok(Some(at)) => {
                let _ = self.storage.set_alarm(at).await;
            }
            Ok(None) => {}
            Err(error) => common::console_error!("claim alarm for {email} failed: {error}"),
        }
    }

    fn row<'a>(&'a self, email: &'a Email) -> ClaimRow<'a> {
        ClaimRow {
            sql: &self.sql,
            email,
            env: &self.env,
        }
    }

    fn claims<'a>(
        &self,
        store: &'a ClaimRow<'a>,
        holders: &'a WritersClient<'a>,
    ) -> Claims<'a, ClaimRow<'a>, WritersClient<'a>> {
        Claims {
            store,
            holders,
            ttl_ms: claim_ttl(&self.env),
        }
    }

    /// A pending claim gets an alarm at the end of its time. A held or
    /// released one has its alarm taken away: it would wake the object for
    /// nothing, one billed alarm per create.
    async fn schedule_alarm(&self, store: &ClaimRow<'_>) {
        let Ok(claim) = store.load() else {
            return;
        };
        let alarm_at = claim
            .flatten()
            .and_then(|claim| claim.alarm_at(claim_ttl(&self.env)));
        let scheduled = match alarm_at {
            Some(at) => self.storage.set_alarm(at).await,
            None => self.storage.delete_alarm().await,
        };
        if let Err(error) = scheduled {
            common::console_error!("claim alarm for {} not scheduled: {error}", store.email);
        }
    }

    fn stored_email(&self) -> Option<Email> {
        let rows = self
            .sql
            .exec("SELECT email FROM claim WHERE id = 1", &[])
            .ok()?;
        rows.first()
            .and_then(|row| row.text("email"))
            .and_then(|email| Email::parse(&email).ok())
    }
}

fn claim_ttl(env: &Env) -> u64 {
    var(env, "EMAIL_CLAIM_TTL_MS")
        .and_then(|value| value.parse().ok())
        .unwrap_or(CLAIM_TTL_MS)
}

/// An address object's one row, and KV's mirror of it.
struct ClaimRow<'a> {
    sql: &'a SqlStorage,
    email: &'a Email,
    env: &'a Env,
}

impl ClaimRow<'_> {
    fn kv(&self) -> Result<KvStore, StoreError> {
        KvStore::open(self.env, "USERS_KV").map_err(|problem| StoreError(problem.detail))
    }
}

impl ClaimStore for ClaimRow<'_> {
    fn load(&self) -> Result<Option<Option<Claim>>, StoreError> {
        let rows = self
            .sql
            .exec("SELECT owner, held, since FROM claim WHERE id = 1", &[])?;
        Ok(rows.first().map(|row| {
            let owner = row.text("owner").as_deref().and_then(ResourceId::parse)?;
            Some(Claim {
                owner,
                held: row.number("held").is_some_and(|held| held != 0.0),
                since_ms: row.number("since").unwrap_or(0.0) as u64,
            })
        }))
    }

    fn save(&self, claim: Option<&Claim>) -> Result<(), StoreError> {
        let owner = claim.map(|claim| claim.owner.to_string());
        let held = claim.is_some_and(|claim| claim.held);
        let since = claim.map_or(0, |claim| claim.since_ms);
        let email = self.email.to_string();
        self.sql
            .exec(
                "INSERT INTO claim (id, email, owner, held, since) VALUES (1, ?, ?, ?, ?) \
                 ON CONFLICT (id) DO UPDATE SET owner = excluded.owner, held = excluded.held, \
                 since = excluded.since",
                &[
                    SqlValue::Text(&email),
                    owner.as_deref().map_or(SqlValue::Null, SqlValue::Text),
                    SqlValue::Number(if held { 1.0 } else { 0.0 }),
                    SqlValue::Number(since as f64),
                ],
            )
            .map(drop)
    }

    async fn indexed_owner(&self, email: &Email) -> Result<Option<ResourceId>, StoreError> {
        Ok(self
            .kv()?
            .get(&index_key(email))
            .await?
            .as_deref()
            .and_then(ResourceId::parse))
    }

    async fn set_index(&self, email: &Email, owner: Option<&ResourceId>) -> Result<(), StoreError> {
        let kv = self.kv()?;
        let key = index_key(email);
        match owner {
            Some(owner) => kv.put(&key, owner.as_str()).await,
            None => kv.delete(&key).await,
        }
    }
}
