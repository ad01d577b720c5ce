//! The worker's entry: routes a request, reads from KV, and sends writes
//! to the product's writer object.

use crate::domain::{Product, ProductDraft, ProductPatch, FIELDS};
use crate::routes::{resolve, Route};
use crate::WRITERS;
use common::glue::env::Env;
use common::glue::kv::KvStore;
use common::glue::platform::{now_millis, random_bytes};
use common::glue::request::Inbound;
use common::glue::resource;
use common::glue::run;
use common::glue::serve::{serve, Answer};
use common::id::ResourceId;
use common::time::Timestamp;
use common::writes::Edit;
use common::Problem;
use wasm_bindgen::prelude::*;

#[wasm_bindgen]
pub fn fetch(request: web_sys::Request, env: Env, _ctx: JsValue) -> Result<JsValue, JsValue> {
    run(async move { serve(request, &env, handle).await })
}

async fn handle(inbound: &Inbound, env: &Env) -> Result<Answer, Problem> {
    let route = resolve(inbound.routing_method(), &inbound.path, &inbound.query)?;
    let kv = KvStore::open(env, "PRODUCTS_KV")?;
    let write = |id, edit| resource::write::<Product>(env, WRITERS, inbound, id, edit);
    match route {
        Route::Health => resource::health(&kv).await.map(Answer::from),
        Route::ListProducts => resource::list::<Product>(&kv, inbound, env)
            .await
            .map(Answer::from),
        Route::BatchGet(ids) => resource::batch::<Product>(&kv, &ids)
            .await
            .map(Answer::from),
        Route::GetProduct(id) => resource::get::<Product>(&kv, inbound, &id)
            .await
            .map(Answer::from),
        Route::CreateProduct => {
            let draft = ProductDraft::parse(inbound.json_body(FIELDS).await?)?;
            let id = ResourceId::from_random(random_bytes());
            let now = Timestamp::from_millis(now_millis());
            let record = Product::create(id.clone(), draft, &now);
            write(id, Edit::Create { record }).await
        }
        Route::ReplaceProduct(id) => {
            let draft = ProductDraft::parse(inbound.json_body(FIELDS).await?)?;
            write(id, Edit::Replace { draft }).await
        }
        Route::PatchProduct(id) => {
            let patch = ProductPatch::parse(inbound.json_body(FIELDS).await?)?;
            write(id, Edit::Patch { patch }).await
        }
        Route::DeleteProduct(id) => write(id, Edit::Delete).await,
    }
}
