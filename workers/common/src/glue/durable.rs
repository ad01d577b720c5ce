//! Durable Objects: calling a writer object from a worker, serving a call
//! inside one, and a writer's journal kept in its SQLite storage.

use super::request::Inbound;
use super::service::{call_service, CallFailure, ServiceBinding};
use super::{describe, env::binding};
use crate::journal::{Change, JournalStorage};
use crate::kv::StoreError;
use crate::{Problem, Reply, REQUEST_ID};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use worker::web_sys::{Headers, RequestInit, Response};
use worker::{Env, SqlStorage};

/// How long a worker waits for a writer object before it answers 503.
pub const OBJECT_TIMEOUT_MS: u64 = 5_000;

#[wasm_bindgen]
extern "C" {
    type ObjectNamespace;

    #[wasm_bindgen(method, catch, js_name = getByName)]
    fn get_by_name(this: &ObjectNamespace, name: &str) -> Result<JsValue, JsValue>;
}

/// A writer that could not be reached, was overloaded or threw: nothing
/// was written, and the client may try again.
pub fn object_unavailable(why: &str) -> Problem {
    worker::console_error!("writer object unavailable: {why}");
    Problem::unavailable("the writer is unavailable; nothing was written")
        .with_header("Retry-After", "1")
}

/// Sends `command` to the object `name` of namespace `binding`, for the
/// request `inbound` (its URL, id, trace and `If-Match` go along): the
/// object's answer, or 503 when there is none.
pub async fn call_object<C: Serialize>(
    env: &Env,
    binding_name: &str,
    name: &str,
    inbound: &Inbound,
    command: &C,
) -> Result<Response, Problem> {
    send(env, binding_name, name, &inbound.url, inbound, command)
        .await
        .map_err(|why| object_unavailable(&why))
}

/// Asks the object `name` of namespace `binding` something at `url` (an
/// internal path of its own) and reads its JSON answer.
pub async fn ask_object<C: Serialize, A: DeserializeOwned>(
    env: &Env,
    binding_name: &str,
    name: &str,
    url: &str,
    inbound: &Inbound,
    command: &C,
) -> Result<A, StoreError> {
    let failed = |why: String| {
        let cause = format!("{binding_name} {name}: {why}");
        worker::console_error!("object call failed: {cause}");
        StoreError(cause)
    };
    let response = send(env, binding_name, name, url, inbound, command)
        .await
        .map_err(failed)?;
    if !response.ok() {
        return Err(failed(format!("answered {}", response.status())));
    }
    let text = response.text().map_err(|e| failed(describe(&e)))?;
    let text = super::promise::settled(text)
        .await
        .map_err(|e| failed(describe(&e)))?
        .as_string()
        .unwrap_or_default();
    serde_json::from_str(&text).map_err(|e| failed(e.to_string()))
}

async fn send<C: Serialize>(
    env: &Env,
    binding_name: &str,
    name: &str,
    url: &str,
    inbound: &Inbound,
    command: &C,
) -> Result<Response, String> {
    let namespace: ObjectNamespace = binding(env, binding_name)
        .ok_or_else(|| format!("the {binding_name} binding is missing"))?
        .unchecked_into();
    let stub: ServiceBinding = namespace
        .get_by_name(name)
        .map_err(|error| describe(&error))?
        .unchecked_into();
    let body = serde_json::to_string(command).map_err(|e| e.to_string())?;
    let init = object_request(inbound, &body).map_err(|e| describe(&e))?;
    let response = call_service(&stub, url, &init, OBJECT_TIMEOUT_MS)
        .await
        .map_err(|failure| match failure {
            CallFailure::TimedOut => "timed out".to_string(),
            CallFailure::Threw(why) => why,
        })?;
    // An object's own answers carry the request id; a bare 5xx is the
    // runtime's: the object threw or was reset.
    match response.status() >= 500 && response.headers().has(REQUEST_ID).ok() != Some(true) {
        true => Err(format!("answered {}", response.status())),
        false => Ok(response),
    }
}

fn object_request(inbound: &Inbound, body: &str) -> Result<RequestInit, JsValue> {
    let headers = Headers::new()?;
    inbound.propagate_to(&headers)?;
    headers.set("Content-Type", "application/json")?;
    if let Some(if_match) = inbound.header("If-Match") {
        headers.set("If-Match", &if_match)?;
    }
    let init = RequestInit::new();
    init.set_method("POST");
    init.set_headers(&headers);
    init.set_body(&JsValue::from_str(body));
    Ok(init)
}

/// Serves a call inside an object: the command read from the body, the
/// outcome answered with the request's id.
pub async fn serve_object<C: DeserializeOwned>(
    request: worker::Request,
    handle: impl AsyncFnOnce(&Inbound, C) -> Result<Reply, Problem>,
) -> worker::Result<worker::Response> {
    let inbound = Inbound::new(Clone::clone(request.inner()));
    let outcome = match command(&inbound).await {
        Ok(command) => handle(&inbound, command).await,
        Err(problem) => Err(problem),
    };
    Ok(worker::Response::from(inbound.respond(outcome)?))
}

async fn command<C: DeserializeOwned>(inbound: &Inbound) -> Result<C, Problem> {
    let bytes = super::stream::read_body(&inbound.request, usize::MAX).await?;
    serde_json::from_slice(&bytes)
        .map_err(|error| Problem::bad_request(format!("not a command this object knows: {error}")))
}

/// A writer's journal in its SQLite storage: the committed value of each
/// record it owns, and the write in progress.
pub struct SqlJournal {
    sql: SqlStorage,
}

#[derive(Deserialize)]
struct Value {
    value: Option<String>,
}

#[derive(Deserialize)]
struct Pending {
    changes: String,
}

fn sql_failure(error: impl std::fmt::Display) -> StoreError {
    let cause = format!("object storage failed: {error}");
    worker::console_error!("{cause}");
    StoreError(cause)
}

impl SqlJournal {
    pub fn open(storage: &worker::Storage) -> Self {
        let sql = storage.sql();
        for statement in [
            "CREATE TABLE IF NOT EXISTS committed (key TEXT PRIMARY KEY, value TEXT)",
            "CREATE TABLE IF NOT EXISTS pending (id INTEGER PRIMARY KEY CHECK (id = 1), changes TEXT NOT NULL)",
            "CREATE TABLE IF NOT EXISTS outbox (sequence INTEGER PRIMARY KEY AUTOINCREMENT, event TEXT NOT NULL)",
        ] {
            if let Err(error) = sql.exec(statement, None) {
                sql_failure(error);
            }
        }
        Self { sql }
    }

    pub fn sql(&self) -> &SqlStorage {
        &self.sql
    }

    fn set(&self, key: &str, value: Option<&str>) -> Result<(), StoreError> {
        self.sql
            .exec(
                "INSERT INTO committed (key, value) VALUES (?, ?) \
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                vec![key.into(), value.map(str::to_string).into()],
            )
            .map(drop)
            .map_err(sql_failure)
    }
}

impl JournalStorage for SqlJournal {
    fn committed(&self, key: &str) -> Result<Option<Option<String>>, StoreError> {
        let rows: Vec<Value> = self
            .sql
            .exec(
                "SELECT value FROM committed WHERE key = ?",
                vec![key.into()],
            )
            .and_then(|cursor| cursor.to_array())
            .map_err(sql_failure)?;
        Ok(rows.into_iter().next().map(|row| row.value))
    }

    fn remember(&self, key: &str, value: Option<&str>) -> Result<(), StoreError> {
        self.set(key, value)
    }

    fn pending(&self) -> Result<Option<Vec<Change>>, StoreError> {
        let rows: Vec<Pending> = self
            .sql
            .exec("SELECT changes FROM pending WHERE id = 1", None)
            .and_then(|cursor| cursor.to_array())
            .map_err(sql_failure)?;
        rows.into_iter()
            .next()
            .map(|row| serde_json::from_str(&row.changes).map_err(sql_failure))
            .transpose()
    }

    fn set_pending(&self, changes: Option<&[Change]>) -> Result<(), StoreError> {
        let result = match changes {
            None => self.sql.exec("DELETE FROM pending", None),
            Some(changes) => {
                let json = serde_json::to_string(changes).map_err(sql_failure)?;
                self.sql.exec(
                    "INSERT INTO pending (id, changes) VALUES (1, ?) \
                     ON CONFLICT (id) DO UPDATE SET changes = excluded.changes",
                    vec![json.into()],
                )
            }
        };
        result.map(drop).map_err(sql_failure)
    }

    fn commit(&self, changes: &[Change], events: &[String]) -> Result<(), StoreError> {
        for change in changes {
            self.set(&change.key, change.value.as_deref())?;
        }
        for event in events {
            self.sql
                .exec(
                    "INSERT INTO outbox (event) VALUES (?)",
                    vec![event.as_str().into()],
                )
                .map_err(sql_failure)?;
        }
        self.set_pending(None)
    }

    fn outbox(&self) -> Result<Vec<(u64, String)>, StoreError> {
        #[derive(Deserialize)]
        struct Row {
            sequence: f64,
            event: String,
        }
        let rows: Vec<Row> = self
            .sql
            .exec("SELECT sequence, event FROM outbox ORDER BY sequence", None)
            .and_then(|cursor| cursor.to_array())
            .map_err(sql_failure)?;
        Ok(rows
            .into_iter()
            .map(|row| (row.sequence as u64, row.event))
            .collect())
    }

    fn delivered(&self, sequence: u64) -> Result<(), StoreError> {
        self.sql
            .exec(
                "DELETE FROM outbox WHERE sequence = ?",
                vec![(sequence as f64).into()],
            )
            .map(drop)
            .map_err(sql_failure)
    }
}
