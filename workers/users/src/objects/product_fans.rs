//! `ProductFans`: one object per product (see `fans.rs` for what it
//! decides), its tables in SQLite.

use crate::fans::{self, FansRequest, FansStore};
use common::glue::durable::{serve_object, DurableObjectState, SqlStorage, SqlValue};
use common::glue::env::Env;
use common::glue::run;
use common::id::ResourceId;
use common::kv::StoreError;
use common::{Problem, Reply};
use std::rc::Rc;
use wasm_bindgen::prelude::*;

#[wasm_bindgen]
pub struct ProductFans(Rc<SqlStorage>);

#[wasm_bindgen]
impl ProductFans {
    #[wasm_bindgen(constructor)]
    pub fn new(state: DurableObjectState, _env: Env) -> Self {
        let sql = state.storage().sql();
        sql.create_tables(&[
            "CREATE TABLE IF NOT EXISTS fans (user TEXT PRIMARY KEY)",
            "CREATE TABLE IF NOT EXISTS product (id INTEGER PRIMARY KEY CHECK (id = 1), deleted_version INTEGER)",
        ]);
        Self(Rc::new(sql))
    }

    /// Synchronous storage only: requests cannot interleave in here.
    pub fn fetch(&self, request: web_sys::Request) -> Result<JsValue, JsValue> {
        let sql = self.0.clone();
        run(async move {
            serve_object(request, async |_, request: FansRequest| {
                fans::handle(&Fans(&sql), request)
                    .map(|answer| Reply::json(200, &answer))
                    .map_err(|_| Problem::unavailable("fans are unavailable"))
            })
            .await
        })
    }
}

struct Fans<'a>(&'a SqlStorage);

impl FansStore for Fans<'_> {
    fn deleted_version(&self) -> Result<Option<u64>, StoreError> {
        let rows = self
            .0
            .exec("SELECT deleted_version FROM product WHERE id = 1", &[])?;
        Ok(rows
            .first()
            .and_then(|row| row.number("deleted_version"))
            .map(|version| version as u64))
    }

    fn set_deleted_version(&self, version: u64) -> Result<(), StoreError> {
        self.0
            .exec(
                "INSERT INTO product (id, deleted_version) VALUES (1, ?) \
                 ON CONFLICT (id) DO UPDATE SET deleted_version = excluded.deleted_version",
                &[SqlValue::Number(version as f64)],
            )
            .map(drop)
    }

    fn add(&self, user: &ResourceId) -> Result<(), StoreError> {
        self.0
            .exec(
                "INSERT INTO fans (user) VALUES (?) ON CONFLICT (user) DO NOTHING",
                &[SqlValue::Text(user.as_str())],
            )
            .map(drop)
    }

    fn fans(&self) -> Result<Vec<ResourceId>, StoreError> {
        let rows = self.0.exec("SELECT user FROM fans ORDER BY user", &[])?;
        Ok(rows
            .iter()
            .filter_map(|row| ResourceId::parse(&row.text("user")?))
            .collect())
    }
}
