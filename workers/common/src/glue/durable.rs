//! Durable Objects: calling a writer object from a worker, serving a call
//! inside one, and a writer's journal kept in its SQLite storage.

use super::env::Env;
use super::promise::settled;
use super::request::Inbound;
use super::service::{call_service, call_service_for_text, CallFailure, Outgoing, ServiceBinding};
use super::{describe, env::binding};
use crate::journal::{Change, JournalStorage};
use crate::kv::StoreError;
use crate::{Problem, Reply, REQUEST_ID};
use js_sys::{Array, Promise, Reflect};
use serde::de::DeserializeOwned;
use serde::Serialize;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::Response;

#[wasm_bindgen]
extern "C" {
    type ObjectNamespace;

    #[wasm_bindgen(method, catch, js_name = getByName)]
    fn get_by_name(this: &ObjectNamespace, name: &str) -> Result<JsValue, JsValue>;

    /// What a Durable Object is constructed with (`ctx`).
    pub type DurableObjectState;

    #[wasm_bindgen(method, getter)]
    pub fn storage(this: &DurableObjectState) -> ObjectStorage;

    #[derive(Clone)]
    pub type ObjectStorage;

    #[wasm_bindgen(method, getter)]
    pub fn sql(this: &ObjectStorage) -> SqlStorage;

    #[wasm_bindgen(method, catch, js_name = setAlarm)]
    fn set_alarm_at(this: &ObjectStorage, at_millis: f64) -> Result<Promise, JsValue>;

    #[wasm_bindgen(method, catch, js_name = deleteAlarm)]
    fn delete_alarm_now(this: &ObjectStorage) -> Result<Promise, JsValue>;

    /// An object's SQLite database; `exec` is synchronous.
    #[derive(Clone)]
    pub type SqlStorage;

    #[wasm_bindgen(method, catch, variadic, js_name = exec)]
    fn exec_with(this: &SqlStorage, query: &str, bindings: &Array) -> Result<SqlCursor, JsValue>;

    type SqlCursor;

    #[wasm_bindgen(method, js_name = toArray)]
    fn to_array(this: &SqlCursor) -> Array;
}

impl ObjectStorage {
    /// Asks for the object's `alarm` at `at_millis` (since the epoch).
    pub async fn set_alarm(&self, at_millis: u64) -> Result<(), StoreError> {
        let set = self.set_alarm_at(at_millis as f64).map_err(sql_failure)?;
        settled(set).await.map(drop).map_err(sql_failure)
    }

    /// Takes the object's alarm away, if it has one.
    pub async fn delete_alarm(&self) -> Result<(), StoreError> {
        let delete = self.delete_alarm_now().map_err(sql_failure)?;
        settled(delete).await.map(drop).map_err(sql_failure)
    }
}

/// A value bound to a `?` of a statement.
pub enum SqlValue<'a> {
    Text(&'a str),
    Number(f64),
    Null,
}

impl SqlStorage {
    /// Runs an object's `CREATE TABLE IF NOT EXISTS` statements. A failure
    /// is logged (as every failed `exec` is), and the statements that need
    /// the table then fail and say so.
    pub fn create_tables(&self, statements: &[&str]) {
        for statement in statements {
            let _ = self.exec(statement, &[]);
        }
    }

    /// Runs a statement; every row it answers, as objects by column name.
    pub fn exec(&self, query: &str, bindings: &[SqlValue]) -> Result<Vec<SqlRow>, StoreError> {
        let values: Array = bindings
            .iter()
            .map(|value| match value {
                SqlValue::Text(text) => JsValue::from_str(text),
                SqlValue::Number(number) => JsValue::from_f64(*number),
                SqlValue::Null => JsValue::NULL,
            })
            .collect();
        let cursor = self.exec_with(query, &values).map_err(sql_failure)?;
        Ok(cursor.to_array().iter().map(SqlRow).collect())
    }
}

/// One row of a statement's answer.
pub struct SqlRow(JsValue);

impl SqlRow {
    fn column(&self, name: &str) -> JsValue {
        Reflect::get(&self.0, &name.into()).unwrap_or(JsValue::NULL)
    }

    pub fn text(&self, name: &str) -> Option<String> {
        self.column(name).as_string()
    }

    pub fn number(&self, name: &str) -> Option<f64> {
        self.column(name).as_f64()
    }
}

/// A writer that could not be reached, was overloaded or threw: nothing
/// was written, and the client may try again.
pub fn object_unavailable(why: &str) -> Problem {
    crate::console_error!("writer object unavailable: {why}");
    Problem::write_refused_for_now("the writer is unavailable; nothing was written")
}

/// Sends `command` to the object `name` of namespace `binding_name`, for the
/// request `inbound` (its URL, id, trace and `If-Match` go along): the
/// object's answer, or 503 when there is none.
pub async fn call_object<C: Serialize>(
    env: &Env,
    binding_name: &str,
    name: &str,
    inbound: &Inbound,
    command: &C,
) -> Result<Response, Problem> {
    still_awaited(inbound)?;
    let body = serde_json::to_string(command).map_err(|e| object_unavailable(&e.to_string()))?;
    send(env, binding_name, name, &inbound.url, inbound, body)
        .await
        .map_err(|why| match why.as_str() {
            TIMED_OUT => object_timed_out(),
            _ => object_unavailable(&why),
        })
}

const TIMED_OUT: &str = "timed out";

/// Before a write, and inside an object once its turn came: `Err` when the
/// caller has stopped waiting, so that nothing is written that nobody
/// hears about.
pub fn still_awaited(inbound: &Inbound) -> Result<(), Problem> {
    match inbound.remaining_ms() {
        0 => Err(Problem::write_refused_for_now(
            "the request's time ran out before its write; nothing was written",
        )),
        _ => Ok(()),
    }
}

/// A writer that did not answer before the request's deadline: the write
/// may have been made, or not; a read tells.
pub fn object_timed_out() -> Problem {
    crate::console_error!("writer object did not answer in time");
    Problem::new(
        504,
        "writer-timeout",
        "Writer timeout",
        "the writer did not answer in time; the write may or may not have been made",
    )
}

/// Asks the object `name` of namespace `binding_name` something at `url` (an
/// internal path of its own) and reads its JSON answer, body included
/// within the request's time.
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
        crate::console_error!("object call failed: {cause}");
        StoreError(cause)
    };
    let body = serde_json::to_string(command).map_err(|e| failed(e.to_string()))?;
    let object = stub(env, binding_name, name).map_err(failed)?;
    let outgoing = object_request(inbound, url, body);
    let (status, text) = call_service_for_text(&object, &outgoing, inbound.remaining_ms())
        .await
        .map_err(|failure| failed(failure_text(failure)))?;
    if !(200..300).contains(&status) {
        return Err(failed(format!("answered {status}")));
    }
    serde_json::from_str(&text).map_err(|e| failed(e.to_string()))
}

/// The stub of the object `name` of namespace `binding_name`.
fn stub(env: &Env, binding_name: &str, name: &str) -> Result<ServiceBinding, String> {
    let namespace: ObjectNamespace = binding(env, binding_name)
        .ok_or_else(|| format!("the {binding_name} binding is missing"))?
        .unchecked_into();
    namespace
        .get_by_name(name)
        .map(JsCast::unchecked_into)
        .map_err(|error| describe(&error))
}

fn failure_text(failure: CallFailure) -> String {
    match failure {
        CallFailure::TimedOut => TIMED_OUT.to_string(),
        CallFailure::Threw(why) => why,
    }
}

async fn send(
    env: &Env,
    binding_name: &str,
    name: &str,
    url: &str,
    inbound: &Inbound,
    body: String,
) -> Result<Response, String> {
    let object = stub(env, binding_name, name)?;
    let timeout = inbound.remaining_ms();
    let response = call_service(&object, &object_request(inbound, url, body), timeout)
        .await
        .map_err(failure_text)?;
    // An object's own answers carry the request id; a bare 5xx is the
    // runtime's: the object threw or was reset.
    match response.status() >= 500 && response.headers().has(REQUEST_ID).ok() != Some(true) {
        true => Err(format!("answered {}", response.status())),
        false => Ok(response),
    }
}

/// A POST of `body` to an object at `url`, with the request's id, trace
/// and `If-Match`.
fn object_request<'a>(inbound: &Inbound, url: &'a str, body: String) -> Outgoing<'a> {
    let mut set = inbound.next_hop();
    set.push(inbound.next_deadline());
    set.push(("Content-Type", "application/json".to_string()));
    if let Some(if_match) = inbound.header("If-Match") {
        set.push(("If-Match", if_match));
    }
    Outgoing {
        url,
        method: "POST",
        from: None,
        drop: Vec::new(),
        set,
        body: JsValue::from(body),
    }
}

/// Serves a call inside an object: the command read from the body, the
/// outcome answered with the request's id.
pub async fn serve_object<C: DeserializeOwned>(
    request: web_sys::Request,
    handle: impl AsyncFnOnce(&Inbound, C) -> Result<Reply, Problem>,
) -> Result<JsValue, JsValue> {
    let inbound = Inbound::new(request);
    let outcome = match command_text(&inbound).await.and_then(|text| decode(&text)) {
        Ok(command) => handle(&inbound, command).await,
        Err(problem) => Err(problem),
    };
    Ok(inbound.respond(outcome)?.into())
}

async fn command_text(inbound: &Inbound) -> Result<Vec<u8>, Problem> {
    super::stream::read_body(&inbound.request, usize::MAX).await
}

fn decode<C: DeserializeOwned>(bytes: &[u8]) -> Result<C, Problem> {
    serde_json::from_slice(bytes)
        .map_err(|error| Problem::bad_request(format!("not a command this object knows: {error}")))
}

/// A writer's journal in its SQLite storage: the committed value of each
/// record it owns, the write in progress, and the outbox of its events.
pub struct SqlJournal {
    sql: SqlStorage,
}

fn sql_failure(error: impl Into<JsValue>) -> StoreError {
    let cause = format!("object storage failed: {}", describe(&error.into()));
    crate::console_error!("{cause}");
    StoreError(cause)
}

impl SqlJournal {
    pub fn open(storage: &ObjectStorage) -> Self {
        let sql = storage.sql();
        sql.create_tables(&[
            "CREATE TABLE IF NOT EXISTS committed (key TEXT PRIMARY KEY, value TEXT)",
            "CREATE TABLE IF NOT EXISTS pending (id INTEGER PRIMARY KEY CHECK (id = 1), changes TEXT NOT NULL)",
            "CREATE TABLE IF NOT EXISTS outbox (sequence INTEGER PRIMARY KEY AUTOINCREMENT, event TEXT NOT NULL)",
        ]);
        Self { sql }
    }

    fn set(&self, key: &str, value: Option<&str>) -> Result<(), StoreError> {
        let value = value.map_or(SqlValue::Null, SqlValue::Text);
        self.sql
            .exec(
                "INSERT INTO committed (key, value) VALUES (?, ?) \
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                &[SqlValue::Text(key), value],
            )
            .map(drop)
    }
}

impl JournalStorage for SqlJournal {
    fn committed(&self, key: &str) -> Result<Option<Option<String>>, StoreError> {
        let rows = self.sql.exec(
            "SELECT value FROM committed WHERE key = ?",
            &[SqlValue::Text(key)],
        )?;
        Ok(rows.first().map(|row| row.text("value")))
    }

    fn remember(&self, key: &str, value: Option<&str>) -> Result<(), StoreError> {
        self.set(key, value)
    }

    fn pending(&self) -> Result<Option<Vec<Change>>, StoreError> {
        let rows = self
            .sql
            .exec("SELECT changes FROM pending WHERE id = 1", &[])?;
        rows.first()
            .and_then(|row| row.text("changes"))
            .map(|json| {
                serde_json::from_str(&json).map_err(|e| StoreError(format!("pending write: {e}")))
            })
            .transpose()
    }

    fn set_pending(&self, changes: Option<&[Change]>) -> Result<(), StoreError> {
        match changes {
            None => self.sql.exec("DELETE FROM pending", &[]).map(drop),
            Some(changes) => {
                let json = serde_json::to_string(changes)
                    .map_err(|e| StoreError(format!("pending write: {e}")))?;
                self.sql
                    .exec(
                        "INSERT INTO pending (id, changes) VALUES (1, ?) \
                         ON CONFLICT (id) DO UPDATE SET changes = excluded.changes",
                        &[SqlValue::Text(&json)],
                    )
                    .map(drop)
            }
        }
    }

    fn commit(&self, changes: &[Change], events: &[String]) -> Result<(), StoreError> {
        for change in changes {
            self.set(&change.key, change.value.as_deref())?;
        }
        for event in events {
            self.sql.exec(
                "INSERT INTO outbox (event) VALUES (?)",
                &[SqlValue::Text(event)],
            )?;
        }
        self.set_pending(None)
    }

    fn outbox(&self) -> Result<Vec<(u64, String)>, StoreError> {
        let rows = self
            .sql
            .exec("SELECT sequence, event FROM outbox ORDER BY sequence", &[])?;
        Ok(rows
            .iter()
            .filter_map(|row| Some((row.number("sequence")? as u64, row.text("event")?)))
            .collect())
    }

    fn delivered(&self, sequence: u64) -> Result<(), StoreError> {
        self.sql
            .exec(
                "DELETE FROM outbox WHERE sequence = ?",
                &[SqlValue::Number(sequence as f64)],
            )
            .map(drop)
    }
}
