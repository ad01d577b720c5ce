//! Proof that the own pipeline (cargo, wasm-bindgen CLI, esbuild, wasm-opt;
//! no worker-build) and its plain entry serve a whole Worker: a hand-written
//! `fetch` export on the own executor, a `#[durable_object]` class on SQLite
//! storage, a `#[event(queue)]` consumer, and panic recovery both before the
//! first await and after one.

use floor_exec::{run, JsAwait};
use serde::Deserialize;
use wasm_bindgen::prelude::*;
use worker::{
    durable_object, event, web_sys, Context, DurableObject, Env, MessageBatch, Request, Response,
    Result, SqlStorage, State, Stub,
};

#[wasm_bindgen]
pub fn fetch(
    request: web_sys::Request,
    env: Env,
    _ctx: JsValue,
) -> std::result::Result<JsValue, JsValue> {
    let url = request.url();
    let path = url_path(&url).to_owned();
    if path == "/panic-now" {
        panic!("pipeline-demo: a panic on purpose, before any await");
    }
    run(async move {
        let response = match route(&path, &env).await {
            Ok(response) => response,
            Err(error) => Response::error(error.to_string(), 500)?,
        };
        Ok(web_sys::Response::from(response).into())
    })
}

async fn route(path: &str, env: &Env) -> Result<Response> {
    match path {
        "/count" => {
            counter(env)?
                .fetch_with_str("https://counter/add?by=1")
                .await
        }
        "/peek" => counter(env)?.fetch_with_str("https://counter/peek").await,
        "/enqueue" => {
            env.queue("JOBS")?.send(10u32).await?;
            Ok(Response::ok("queued")?.with_status(202))
        }
        "/panic-later" => {
            JsAwait::new(js_sys::Promise::resolve(&JsValue::NULL)).await?;
            panic!("pipeline-demo: a panic on purpose, after an await");
        }
        _ => Response::error("not found", 404),
    }
}

fn url_path(url: &str) -> &str {
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    let path = after_scheme.find('/').map_or("/", |at| &after_scheme[at..]);
    path.split(['?', '#']).next().unwrap_or("/")
}

fn counter(env: &Env) -> Result<Stub> {
    env.durable_object("COUNTER")?.get_by_name("main")
}

/// Each message adds its body to the counter.
#[event(queue)]
async fn queue(batch: MessageBatch<u32>, env: Env, _ctx: Context) -> Result<()> {
    let counter = counter(&env)?;
    for message in batch.messages()? {
        let by = message.body();
        counter
            .fetch_with_str(&format!("https://counter/add?by={by}"))
            .await?;
    }
    batch.ack_all();
    Ok(())
}

#[durable_object]
pub struct Counter {
    sql: SqlStorage,
}

#[derive(Deserialize)]
struct Row {
    n: i64,
}

impl DurableObject for Counter {
    fn new(state: State, _env: Env) -> Self {
        let sql = state.storage().sql();
        let schema =
            "CREATE TABLE IF NOT EXISTS counter (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)";
        if let Err(error) = sql.exec(schema, None) {
            worker::console_error!("schema: {error}");
        }
        Self { sql }
    }

    async fn fetch(&self, request: Request) -> Result<Response> {
        let url = request.url()?;
        if url.path() == "/add" {
            let by: i64 = url
                .query_pairs()
                .find(|(name, _)| name == "by")
                .and_then(|(_, value)| value.parse().ok())
                .unwrap_or(0);
            self.sql.exec(
                "INSERT INTO counter (id, n) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET n = n + excluded.n",
                vec![by.into()],
            )?;
        }
        let rows: Vec<Row> = self
            .sql
            .exec("SELECT n FROM counter WHERE id = 1", None)?
            .to_array()?;
        Response::ok(rows.first().map_or(0, |row| row.n).to_string())
    }
}
