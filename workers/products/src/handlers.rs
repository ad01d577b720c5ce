//! The worker glue: KV reads and writes for products.

use crate::domain::{Product, ProductDraft, ProductPatch, FIELDS};
use crate::keys::PRODUCTS;
use crate::routes::{resolve, Route};
use crate::Batch;
use common::etag::{representation, require_match};
use common::glue::worker::{self, event, web_sys, Context, Env};
use common::glue::{chain_panic_hook, now_millis, random_bytes, serve, Inbound};
use common::id::ResourceId;
use common::store::JsonStore;
use common::time::rfc3339_utc;
use common::{Problem, Reply};

#[event(start)]
fn start() {
    chain_panic_hook();
}

#[event(fetch)]
async fn fetch(
    request: web_sys::Request,
    env: Env,
    _ctx: Context,
) -> worker::Result<web_sys::Response> {
    serve(request, &env, handle).await
}

async fn handle(inbound: &Inbound, env: &Env) -> Result<Reply, Problem> {
    let route = resolve(&inbound.method, &inbound.path, &inbound.query)?;
    let products = Products {
        store: JsonStore::open(env, "PRODUCTS_KV")?,
        inbound,
    };
    match route {
        Route::Health => products.health().await,
        Route::ListProducts => products.list().await,
        Route::BatchGet(ids) => products.batch(&ids).await,
        Route::CreateProduct => products.create().await,
        Route::GetProduct(id) => products.get(&id).await,
        Route::ReplaceProduct(id) => {
            let draft = ProductDraft::parse(inbound.json_body(FIELDS).await?)?;
            products
                .update(&id, |product, now| product.replaced(draft, now))
                .await
        }
        Route::PatchProduct(id) => {
            let patch = ProductPatch::parse(inbound.json_body(FIELDS).await?)?;
            products
                .update(&id, |product, now| product.patched(patch, now))
                .await
        }
        Route::DeleteProduct(id) => products.delete(&id).await,
    }
}

struct Products<'a> {
    store: JsonStore,
    inbound: &'a Inbound,
}

impl Products<'_> {
    async fn health(&self) -> Result<Reply, Problem> {
        self.store.health().await
    }

    async fn list(&self) -> Result<Reply, Problem> {
        self.store
            .page::<Product>(PRODUCTS, &self.inbound.query)
            .await
    }

    async fn batch(&self, ids: &[ResourceId]) -> Result<Reply, Problem> {
        let keys: Vec<String> = ids.iter().map(|id| PRODUCTS.key(id)).collect();
        let mut found = self.store.get_many::<Product>(&keys).await?;
        let mut batch = Batch {
            items: Vec::with_capacity(ids.len()),
            missing: Vec::new(),
        };
        for (id, key) in ids.iter().zip(&keys) {
            match found.remove(key) {
                Some(product) => batch.items.push(product),
                None => batch.missing.push(id.clone()),
            }
        }
        Ok(Reply::json(200, &batch))
    }

    async fn get(&self, id: &ResourceId) -> Result<Reply, Problem> {
        let if_none_match = self.inbound.header("If-None-Match");
        self.store
            .read(PRODUCTS, id, if_none_match.as_deref())
            .await
    }

    async fn load(&self, id: &ResourceId) -> Result<(Product, String), Problem> {
        self.store.load(PRODUCTS, id).await
    }

    async fn create(&self) -> Result<Reply, Problem> {
        let draft = ProductDraft::parse(self.inbound.json_body(FIELDS).await?)?;
        let product = Product::create(ResourceId::from_random(random_bytes()), draft, &now());
        let json = self.store.put(&PRODUCTS.key(&product.id), &product).await?;
        Ok(Reply::created(
            representation(json, None),
            format!("/products/{}", product.id),
        ))
    }

    async fn update(
        &self,
        id: &ResourceId,
        change: impl FnOnce(&Product, &str) -> Product,
    ) -> Result<Reply, Problem> {
        let (current, current_json) = self.load(id).await?;
        require_match(self.inbound.header("If-Match").as_deref(), &current_json)?;
        let next = change(&current, &now());
        if next == current {
            return Ok(representation(current_json, None));
        }
        let json = self.store.put(&PRODUCTS.key(id), &next).await?;
        Ok(representation(json, None))
    }

    async fn delete(&self, id: &ResourceId) -> Result<Reply, Problem> {
        let (_, current_json) = self.load(id).await?;
        require_match(self.inbound.header("If-Match").as_deref(), &current_json)?;
        self.store.delete(&PRODUCTS.key(id)).await?;
        Ok(Reply::no_content())
    }
}

fn now() -> String {
    rfc3339_utc(now_millis())
}
