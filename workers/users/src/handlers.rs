//! The worker glue: KV reads and writes, and the call to products.

use crate::domain::{User, UserDraft, UserPatch, FIELDS};
use crate::favorites::{Favorites, FavoritesView, ProductCheck};
use crate::keys::{self, USERS};
use crate::routes::{resolve, Route};
use common::etag::{representation, require_match};
use common::glue::worker::{self, event, web_sys, Context, Env};
use common::glue::{
    call_service, chain_panic_hook, now_millis, random_bytes, response_text, serve, service,
    Inbound,
};
use common::id::ResourceId;
use common::store::JsonStore;
use common::time::rfc3339_utc;
use common::{Problem, Reply};
use std::cell::RefCell;
use std::collections::HashSet;

const DEFAULT_PRODUCTS_TIMEOUT_MS: u64 = 1500;

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
    let route = resolve(&inbound.method, &inbound.path)?;
    let users = Users {
        store: JsonStore::open(env, "USERS_KV")?,
        inbound,
        env,
    };
    match route {
        Route::Health => users.health().await,
        Route::ListUsers => users.list().await,
        Route::CreateUser => users.create().await,
        Route::GetUser(id) => users.get(&id).await,
        Route::ReplaceUser(id) => {
            let draft = UserDraft::parse(inbound.json_body(FIELDS).await?)?;
            users
                .update(&id, |user, now| user.replaced(draft, now))
                .await
        }
        Route::PatchUser(id) => {
            let patch = UserPatch::parse(inbound.json_body(FIELDS).await?)?;
            users
                .update(&id, |user, now| user.patched(patch, now))
                .await
        }
        Route::DeleteUser(id) => users.delete(&id).await,
        Route::ListFavorites(id) => users.favorites(&id).await,
        Route::AddFavorite(id, product_id) => users.add_favorite(&id, product_id).await,
        Route::RemoveFavorite(id, product_id) => users.remove_favorite(&id, &product_id).await,
    }
}

struct Users<'a> {
    store: JsonStore,
    inbound: &'a Inbound,
    env: &'a Env,
}

fn now() -> String {
    rfc3339_utc(now_millis())
}

impl Users<'_> {
    async fn health(&self) -> Result<Reply, Problem> {
        self.store.health().await
    }

    async fn list(&self) -> Result<Reply, Problem> {
        self.store.page::<User>(USERS, &self.inbound.query).await
    }

    async fn get(&self, id: &ResourceId) -> Result<Reply, Problem> {
        let if_none_match = self.inbound.header("If-None-Match");
        self.store.read(USERS, id, if_none_match.as_deref()).await
    }

    async fn load(&self, id: &ResourceId) -> Result<(User, String), Problem> {
        self.store.load(USERS, id).await
    }

    async fn create(&self) -> Result<Reply, Problem> {
        let draft = UserDraft::parse(self.inbound.json_body(FIELDS).await?)?;
        let id = ResourceId::from_random(random_bytes());
        let user = User::create(id, draft, &now());
        let _claim = EmailClaim::take(&user.email)?;
        self.ensure_email_free(&user.email, &user.id).await?;
        let (email_key, user_key) = (keys::email(&user.email), USERS.key(&user.id));
        let (claimed, stored) = futures_util::join!(
            self.store.put_text(&email_key, user.id.as_str()),
            self.store.put(&user_key, &user),
        );
        let json = match (claimed, stored) {
            (Ok(()), Ok(json)) => json,
            (_, Err(problem)) | (Err(problem), _) => {
                let _ = futures_util::join!(
                    self.release_email(&user.email, &user.id),
                    self.store.delete(&user_key)
                );
                return Err(problem);
            }
        };
        Ok(Reply::created(
            representation(json, None),
            format!("/users/{}", user.id),
        ))
    }

    async fn update(
        &self,
        id: &ResourceId,
        change: impl FnOnce(&User, &str) -> User,
    ) -> Result<Reply, Problem> {
        let (current, current_json) = self.load(id).await?;
        require_match(self.inbound.header("If-Match").as_deref(), &current_json)?;
        let next = change(&current, &now());
        if next == current {
            return Ok(representation(current_json, None));
        }
        let email_changed = next.email != current.email;
        let mut claim = None;
        if email_changed {
            claim = Some(EmailClaim::take(&next.email)?);
            self.ensure_email_free(&next.email, id).await?;
            self.store
                .put_text(&keys::email(&next.email), id.as_str())
                .await?;
        }
        let json = match self.store.put(&USERS.key(id), &next).await {
            Ok(json) => json,
            Err(problem) => {
                if email_changed {
                    let _ = self.release_email(&next.email, id).await;
                }
                return Err(problem);
            }
        };
        if email_changed {
            self.release_email_logged(&current.email, id).await;
        }
        drop(claim);
        Ok(representation(json, None))
    }

    async fn delete(&self, id: &ResourceId) -> Result<Reply, Problem> {
        let (current, current_json) = self.load(id).await?;
        require_match(self.inbound.header("If-Match").as_deref(), &current_json)?;
        self.store.delete(&USERS.key(id)).await?;
        let favorites_key = keys::favorites(id);
        let (_, favorites) = futures_util::join!(
            self.release_email_logged(&current.email, id),
            self.store.delete(&favorites_key),
        );
        if let Err(problem) = favorites {
            worker::console_error!(
                "user {id} deleted, but not their favourites: {}",
                problem.detail
            );
        }
        Ok(Reply::no_content())
    }

    /// `409` when a live user other than `id` has `email`. An index entry
    /// whose user is gone or has since changed address is stale: free.
    async fn ensure_email_free(&self, email: &str, id: &ResourceId) -> Result<(), Problem> {
        let Some(owner) = self.store.get_text(&keys::email(email)).await? else {
            return Ok(());
        };
        if owner == id.as_str() {
            return Ok(());
        }
        let owner_has_it = match ResourceId::parse(&owner) {
            Some(owner_id) => self
                .store
                .get::<User>(&USERS.key(&owner_id))
                .await?
                .is_some_and(|(user, _)| user.email == email),
            None => false,
        };
        if owner_has_it {
            return Err(Problem::conflict(format!(
                "another user already has the email {email}"
            )));
        }
        Ok(())
    }

    /// Removes the index entry for `email` if it still points at `id`.
    async fn release_email(&self, email: &str, id: &ResourceId) -> Result<(), Problem> {
        let key = keys::email(email);
        match self.store.get_text(&key).await? {
            Some(owner) if owner == id.as_str() => self.store.delete(&key).await,
            _ => Ok(()),
        }
    }

    /// Releasing an old address can fail without harm: the stale entry is
    /// recognised as free by `ensure_email_free`.
    async fn release_email_logged(&self, email: &str, id: &ResourceId) {
        if let Err(problem) = self.release_email(email, id).await {
            worker::console_error!("stale email index entry for user {id}: {}", problem.detail);
        }
    }

    async fn load_favorites(&self, id: &ResourceId) -> Result<Favorites, Problem> {
        Ok(self
            .store
            .get::<Favorites>(&keys::favorites(id))
            .await?
            .map(|(list, _)| list)
            .unwrap_or_default())
    }

    async fn favorites(&self, id: &ResourceId) -> Result<Reply, Problem> {
        self.load(id).await?;
        let favorites = self.load_favorites(id).await?;
        let batch = if favorites.is_empty() {
            None
        } else {
            self.ask_products(&favorites.batch_path())
                .await
                .ok()
                .filter(|(status, _)| *status == 200)
                .map(|(_, body)| body)
        };
        Ok(Reply::json(
            200,
            &FavoritesView::new(id.clone(), &favorites, batch.as_deref()),
        ))
    }

    async fn add_favorite(
        &self,
        id: &ResourceId,
        product_id: ResourceId,
    ) -> Result<Reply, Problem> {
        self.load(id).await?;
        let mut favorites = self.load_favorites(id).await?;
        if favorites.contains(&product_id) {
            return Ok(Reply::no_content());
        }
        let check = match self.ask_products(&format!("/products/{product_id}")).await {
            Ok((status, body)) => ProductCheck::from_answer(status, &body, &product_id),
            Err(_) => ProductCheck::Unknown,
        };
        match check {
            ProductCheck::Exists => {}
            ProductCheck::Absent => {
                return Err(Problem::not_found(format!(
                    "product {product_id} does not exist"
                )))
            }
            ProductCheck::Unknown => {
                return Err(Problem::unavailable(
                    "the products service cannot confirm the product; nothing was written",
                ))
            }
        }
        favorites.add(product_id)?;
        self.store.put(&keys::favorites(id), &favorites).await?;
        Ok(Reply::no_content())
    }

    async fn remove_favorite(
        &self,
        id: &ResourceId,
        product_id: &ResourceId,
    ) -> Result<Reply, Problem> {
        self.load(id).await?;
        let mut favorites = self.load_favorites(id).await?;
        if favorites.remove(product_id) {
            self.store.put(&keys::favorites(id), &favorites).await?;
        }
        Ok(Reply::no_content())
    }

    /// A GET to the products service, with this request's id and trace,
    /// bounded in time: its status and body, or why there is none.
    async fn ask_products(&self, path_and_query: &str) -> Result<(u16, String), Problem> {
        let unavailable = |why: &str| Problem::unavailable(format!("products: {why}"));
        let binding = service(self.env, "PRODUCTS")?;
        let init = self
            .products_init()
            .map_err(|_| unavailable("request could not be built"))?;
        let url = format!("https://products{path_and_query}");
        let response = call_service(&binding, &url, &init, self.products_timeout())
            .await
            .map_err(|failure| unavailable(&format!("{failure:?}")))?;
        let body = response_text(&response)
            .await
            .ok_or_else(|| unavailable("body unreadable"))?;
        Ok((response.status(), body))
    }

    fn products_init(&self) -> Result<web_sys::RequestInit, worker::wasm_bindgen::JsValue> {
        let headers = web_sys::Headers::new()?;
        self.inbound.propagate_to(&headers)?;
        let init = web_sys::RequestInit::new();
        init.set_headers(&headers);
        Ok(init)
    }

    fn products_timeout(&self) -> u64 {
        self.env
            .var("PRODUCTS_TIMEOUT_MS")
            .ok()
            .and_then(|value| value.to_string().parse().ok())
            .unwrap_or(DEFAULT_PRODUCTS_TIMEOUT_MS)
    }
}

thread_local! {
    static EMAILS_IN_FLIGHT: RefCell<HashSet<String>> = RefCell::new(HashSet::new());
}

/// An address this isolate is writing to the index right now. KV has no
/// compare-and-set, so two requests could both find an address free and
/// both take it; within one isolate this claim closes that window (the
/// second gets a 409). Across isolates it stays open: see the README.
struct EmailClaim(String);

impl EmailClaim {
    fn take(email: &str) -> Result<Self, Problem> {
        let fresh = EMAILS_IN_FLIGHT.with(|set| set.borrow_mut().insert(email.to_string()));
        match fresh {
            true => Ok(Self(email.to_string())),
            false => Err(Problem::conflict(format!(
                "another request is taking the email {email}"
            ))),
        }
    }
}

impl Drop for EmailClaim {
    fn drop(&mut self) {
        EMAILS_IN_FLIGHT.with(|set| set.borrow_mut().remove(&self.0));
    }
}
