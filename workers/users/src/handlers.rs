//! The worker's entry: routes a request, reads from KV, asks products
//! about favourites, and sends writes to the user's writer object.

use crate::domain::{User, UserDraft, UserPatch, FIELDS};
use crate::favorites::{Favorites, FavoritesView, ProductCheck};
use crate::problems::{products_unconfirmed, UNCONFIRMED};
use crate::routes::{resolve, Route};
use crate::subscription::PROGRESS_KEY;
use crate::writer::{favorites_key, UserCommand, UserWrite};
use crate::WRITERS;
use common::glue::durable::call_object;
use common::glue::env::var;
use common::glue::env::Env;
use common::glue::kv::KvStore;
use common::glue::platform::{now_millis, random_bytes};
use common::glue::request::Inbound;
use common::glue::resource;
use common::glue::run;
use common::glue::serve::{serve, Answer};
use common::glue::service::{call_service_for_text, service, CallFailure, Outgoing};
use common::id::ResourceId;
use common::kv::KeyValue;
use common::records::{self, storage_unavailable, unreadable};
use common::time::Timestamp;
use common::writes::Edit;
use common::{Problem, Reply};
use wasm_bindgen::prelude::*;

const DEFAULT_PRODUCTS_TIMEOUT_MS: u64 = 1500;

#[wasm_bindgen]
pub fn fetch(request: web_sys::Request, env: Env, _ctx: JsValue) -> Result<JsValue, JsValue> {
    run(async move { serve(request, &env, handle).await })
}

async fn handle(inbound: &Inbound, env: &Env) -> Result<Answer, Problem> {
    let route = resolve(inbound.routing_method(), &inbound.path)?;
    let kv = KvStore::open(env, "USERS_KV")?;
    let edit = |id, edit| write(env, inbound, id, UserCommand::Edit { edit });
    match route {
        Route::Health => health(&kv).await.map(Answer::from),
        Route::ListUsers => resource::list::<User>(&kv, inbound, env)
            .await
            .map(Answer::from),
        Route::GetUser(id) => resource::get::<User>(&kv, inbound, &id)
            .await
            .map(Answer::from),
        Route::CreateUser => {
            let draft = UserDraft::parse(inbound.json_body(FIELDS).await?)?;
            let id = ResourceId::from_random(random_bytes());
            let now = Timestamp::from_millis(now_millis());
            let record = User::create(id.clone(), draft, &now);
            edit(id, Edit::Create { record }).await
        }
        Route::ReplaceUser(id) => {
            let draft = UserDraft::parse(inbound.json_body(FIELDS).await?)?;
            edit(id, Edit::Replace { draft }).await
        }
        Route::PatchUser(id) => {
            let patch = UserPatch::parse(inbound.json_body(FIELDS).await?)?;
            edit(id, Edit::Patch { patch }).await
        }
        Route::DeleteUser(id) => edit(id, Edit::Delete).await,
        Route::ListFavorites(id) => favorites(&kv, inbound, env, id).await.map(Answer::from),
        Route::AddFavorite(id, product) => add_favorite(&kv, inbound, env, id, product).await,
        Route::RemoveFavorite(id, product) => {
            write(env, inbound, id, UserCommand::RemoveFavorite { product }).await
        }
    }
}

/// `PUT /users/:id/favorites/:product`. A product KV lists is first added
/// without asking products, so that re-adding one works while products is
/// down; the writer, which has the committed list, says when that will not
/// do (KV was behind, or a DELETE came first). Then products is asked, and
/// its answer goes to the writer.
async fn add_favorite(
    kv: &KvStore,
    inbound: &Inbound,
    env: &Env,
    id: ResourceId,
    product: ResourceId,
) -> Result<Answer, Problem> {
    let add = |confirmed| {
        let command = UserCommand::AddFavorite {
            product: product.clone(),
            confirmed,
        };
        write(env, inbound, id.clone(), command)
    };
    if stored_favorites(kv, &id).await?.contains(&product) {
        let answer = add(false).await?;
        if !needs_confirmation(&answer) {
            return Ok(answer);
        }
    }
    let confirmed = match check_product(inbound, env, &product).await {
        ProductCheck::Exists => true,
        ProductCheck::Absent => {
            return Err(Problem::not_found(format!(
                "product {product} does not exist"
            )))
        }
        ProductCheck::Unknown => false,
    };
    let answer = add(confirmed).await?;
    match needs_confirmation(&answer) {
        true => Err(products_unconfirmed()),
        false => Ok(answer),
    }
}

fn needs_confirmation(answer: &Answer) -> bool {
    matches!(answer, Answer::Response(response) if response.status() == UNCONFIRMED)
}

/// `200 {"status": "ok", "events": …}` once KV answers: the events part
/// says how far the product events were processed (`null` before the
/// first).
async fn health(kv: &KvStore) -> Result<Reply, Problem> {
    let progress = kv.get(PROGRESS_KEY).await.map_err(storage_unavailable)?;
    let events = progress
        .and_then(|json| serde_json::value::RawValue::from_string(json).ok())
        .map_or_else(|| "null".to_string(), |raw| raw.get().to_string());
    Ok(Reply::raw_json(
        200,
        format!(r#"{{"status":"ok","events":{events}}}"#),
    ))
}

async fn write(
    env: &Env,
    inbound: &Inbound,
    id: ResourceId,
    command: UserCommand,
) -> Result<Answer, Problem> {
    let name = id.to_string();
    call_object(env, WRITERS, &name, inbound, &UserWrite { id, command })
        .await
        .map(Answer::Response)
}

/// `GET /users/:id/favorites`: the list expanded with one batch read from
/// products, or bare ids (`degraded`) when products cannot answer.
async fn favorites(
    kv: &KvStore,
    inbound: &Inbound,
    env: &Env,
    id: ResourceId,
) -> Result<Reply, Problem> {
    records::read::<User>(kv, &id, None).await?;
    let favorites = stored_favorites(kv, &id).await?;
    let batch = match favorites.is_empty() {
        true => None,
        false => ask_products(inbound, env, &favorites.batch_path())
            .await
            .ok()
            .filter(|(status, _)| *status == 200)
            .map(|(_, body)| body),
    };
    Ok(Reply::json(
        200,
        &FavoritesView::new(id, &favorites, batch.as_deref()),
    ))
}

/// A user's favourites as KV has them.
async fn stored_favorites(kv: &KvStore, id: &ResourceId) -> Result<Favorites, Problem> {
    match kv.get(&favorites_key(id)).await {
        Ok(None) => Ok(Favorites::default()),
        Ok(Some(json)) => serde_json::from_str(&json)
            .map_err(|_| unreadable(format!("the stored favourites of user {id} cannot be read"))),
        Err(error) => Err(storage_unavailable(error)),
    }
}

async fn check_product(inbound: &Inbound, env: &Env, product: &ResourceId) -> ProductCheck {
    match ask_products(inbound, env, &format!("/products/{product}")).await {
        Ok((status, body)) => ProductCheck::from_answer(status, &body, product),
        Err(_) => ProductCheck::Unknown,
    }
}

/// A GET to the products service, with this request's id and trace, its
/// whole exchange (body included) bounded by `PRODUCTS_TIMEOUT_MS` and by
/// the request's time less what its own answer needs.
async fn ask_products(
    inbound: &Inbound,
    env: &Env,
    path_and_query: &str,
) -> Result<(u16, String), CallFailure> {
    let binding = service(env, "PRODUCTS").map_err(|problem| CallFailure::Threw(problem.detail))?;
    let timeout = var(env, "PRODUCTS_TIMEOUT_MS")
        .and_then(|value| value.parse().ok())
        .unwrap_or(DEFAULT_PRODUCTS_TIMEOUT_MS)
        .min(inbound.hop_budget_ms());
    let url = format!("https://products{path_and_query}");
    let outgoing = Outgoing::get(&url, inbound.next_hop());
    let answer = call_service_for_text(&binding, &outgoing, timeout).await;
    if let Err(failure) = &answer {
        common::console_error!("products did not answer {path_and_query}: {failure:?}");
    }
    answer
}
