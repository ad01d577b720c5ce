//! The users service's Durable Objects: `UserWriter` (one per user) and
//! `EmailClaims` (one per address), wired to the runtime.

use crate::domain::{Email, User};
use crate::emails::{Claim, ClaimAnswer, ClaimRequest, ClaimStore, Claims, Holders, CLAIM_TTL_MS};
use crate::fans::{self, FansAnswer, FansRequest, FansStore};
use crate::problems::user_problem;
use crate::writer::{
    has_email, EmailClaims as ClaimsOfAddresses, ProductFans as FansOfProducts, UserWrite,
    UserWriter as Writer,
};
use crate::{EMAIL_CLAIMS, PRODUCT_FANS, WRITERS};
use common::glue::durable::{ask_object, serve_object, SqlJournal};
use common::glue::env::var;
use common::glue::kv::KvStore;
use common::glue::platform::now_millis;
use common::glue::request::Inbound;
use common::glue::worker::{
    self, durable_object, DurableObject, Env, Request, Response, SqlStorage, State, Storage,
};
use common::id::ResourceId;
use common::journal::{Journal, JournalStorage};
use common::kv::{KeyValue, StoreError};
use common::records::Record;
use common::time::Timestamp;
use common::{Problem, Reply};
use futures_util::lock::Mutex;
use serde::{Deserialize, Serialize};

/// The internal path on which a user's writer answers whether the user
/// has an address.
const HAS_EMAIL: &str = "https://object/has-email";
/// The internal path of an address object's requests.
const CLAIM: &str = "https://object/claim";
/// The internal path of a product object's requests.
pub const FANS: &str = "https://object/fans";

#[derive(Serialize, Deserialize)]
struct HasEmail {
    owner: ResourceId,
    email: Email,
}

#[durable_object(fetch)]
pub struct UserWriter {
    journal: SqlJournal,
    env: Env,
    writing: Mutex<()>,
}

impl DurableObject for UserWriter {
    fn new(state: State, env: Env) -> Self {
        Self {
            journal: SqlJournal::open(&state.storage()),
            env,
            writing: Mutex::new(()),
        }
    }

    async fn fetch(&self, request: Request) -> worker::Result<Response> {
        if common::url::path_and_query(&request.inner().url()).0 == "/has-email" {
            return serve_object(request, async |_, question: HasEmail| {
                self.has_email(&question.owner, &question.email).await
            })
            .await;
        }
        serve_object(request, async |inbound, write: UserWrite| {
            let _turn = self.writing.lock().await;
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
        })
        .await
    }
}

impl UserWriter {
    /// Answered from the committed record, without taking the writing
    /// turn: an address object may ask while this writer waits on it.
    async fn has_email(&self, owner: &ResourceId, email: &Email) -> Result<Reply, Problem> {
        let unavailable = |_| Problem::unavailable("storage is unavailable");
        let key = User::COLLECTION.key(owner);
        let committed = match self.journal.committed(&key).map_err(unavailable)? {
            Some(known) => known,
            None => KvStore::open(&self.env, "USERS_KV")?
                .get(&key)
                .await
                .map_err(unavailable)?,
        };
        Ok(Reply::json(200, &has_email(committed.as_deref(), email)))
    }
}

/// A user's writer talking to product objects.
struct FansClient<'a> {
    env: &'a Env,
    inbound: &'a Inbound,
}

impl FansOfProducts for FansClient<'_> {
    async fn enlist(&self, product: &ResourceId, user: &ResourceId) -> Result<bool, StoreError> {
        let request = FansRequest::Enlist {
            product: product.clone(),
            user: user.clone(),
        };
        let name = product.to_string();
        let answer: FansAnswer =
            ask_object(self.env, PRODUCT_FANS, &name, FANS, self.inbound, &request).await?;
        Ok(answer == FansAnswer::Enlisted)
    }
}

/// A user's writer talking to address objects.
struct ClaimsClient<'a> {
    env: &'a Env,
    inbound: &'a Inbound,
}

impl ClaimsClient<'_> {
    async fn ask(&self, request: ClaimRequest) -> Result<ClaimAnswer, StoreError> {
        let name = request.email().to_string();
        ask_object(self.env, EMAIL_CLAIMS, &name, CLAIM, self.inbound, &request).await
    }
}

impl ClaimsOfAddresses for ClaimsClient<'_> {
    async fn claim(&self, email: &Email, owner: &ResourceId) -> Result<bool, StoreError> {
        let request = ClaimRequest::Claim {
            email: email.clone(),
            owner: owner.clone(),
        };
        Ok(self.ask(request).await? == ClaimAnswer::Granted)
    }

    async fn confirm(&self, email: &Email, owner: &ResourceId) -> Result<(), StoreError> {
        let request = ClaimRequest::Confirm {
            email: email.clone(),
            owner: owner.clone(),
        };
        self.ask(request).await.map(drop)
    }

    async fn release(&self, email: &Email, owner: &ResourceId) -> Result<(), StoreError> {
        let request = ClaimRequest::Release {
            email: email.clone(),
            owner: owner.clone(),
        };
        self.ask(request).await.map(drop)
    }
}

#[durable_object(alarm)]
pub struct EmailClaims {
    storage: Storage,
    sql: SqlStorage,
    env: Env,
    busy: Mutex<()>,
}

impl DurableObject for EmailClaims {
    fn new(state: State, env: Env) -> Self {
        let storage = state.storage();
        let sql = storage.sql();
        if let Err(error) = sql.exec(
            "CREATE TABLE IF NOT EXISTS claim (id INTEGER PRIMARY KEY CHECK (id = 1), \
             email TEXT NOT NULL, owner TEXT, held INTEGER NOT NULL, since INTEGER NOT NULL)",
            None,
        ) {
            worker::console_error!("claims storage failed: {error}");
        }
        Self {
            storage,
            sql,
            env,
            busy: Mutex::new(()),
        }
    }

    async fn fetch(&self, request: Request) -> worker::Result<Response> {
        serve_object(request, async |inbound, request: ClaimRequest| {
            let _turn = self.busy.lock().await;
            let email = request.email().clone();
            let (store, holders) = self.parts(&email, inbound);
            let answer = self
                .claims(&store, &holders)
                .handle(request, now_millis())
                .await
                .map_err(|_| Problem::unavailable("claims are unavailable"))?;
            self.arm_alarm(&store).await;
            Ok(Reply::json(200, &answer))
        })
        .await
    }

    async fn alarm(&self) -> worker::Result<Response> {
        let _turn = self.busy.lock().await;
        let Some(email) = self.stored_email() else {
            return Response::empty();
        };
        let inbound = Inbound::internal(CLAIM, None, None)?;
        let (store, holders) = self.parts(&email, &inbound);
        let next = self
            .claims(&store, &holders)
            .expire(&email, now_millis())
            .await;
        match next {
            Ok(Some(at)) => self.storage.set_alarm(at as i64).await?,
            Ok(None) => {}
            Err(error) => worker::console_error!("claim alarm for {email} failed: {error}"),
        }
        Response::empty()
    }
}

impl EmailClaims {
    fn parts<'a>(
        &'a self,
        email: &'a Email,
        inbound: &'a Inbound,
    ) -> (ClaimRow<'a>, WritersClient<'a>) {
        let store = ClaimRow {
            sql: &self.sql,
            email,
            env: &self.env,
        };
        let holders = WritersClient {
            env: &self.env,
            inbound,
        };
        (store, holders)
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

    /// A pending claim gets an alarm at the end of its time.
    async fn arm_alarm(&self, store: &ClaimRow<'_>) {
        if let Ok(Some(Some(claim))) = store.load() {
            if !claim.held {
                let at = claim.since_ms + claim_ttl(&self.env);
                if let Err(error) = self.storage.set_alarm(at as i64).await {
                    worker::console_error!("claim alarm for {} not set: {error}", store.email);
                }
            }
        }
    }

    fn stored_email(&self) -> Option<Email> {
        #[derive(Deserialize)]
        struct Row {
            email: String,
        }
        let rows: Vec<Row> = self
            .sql
            .exec("SELECT email FROM claim WHERE id = 1", None)
            .and_then(|cursor| cursor.to_array())
            .ok()?;
        rows.into_iter()
            .next()
            .and_then(|row| Email::parse(&row.email).ok())
    }
}

fn claim_ttl(env: &Env) -> u64 {
    var(env, "EMAIL_CLAIM_TTL_MS")
        .and_then(|value| value.parse().ok())
        .unwrap_or(CLAIM_TTL_MS)
}

/// An address object's one row.
struct ClaimRow<'a> {
    sql: &'a SqlStorage,
    email: &'a Email,
    env: &'a Env,
}

#[derive(Deserialize)]
struct Row {
    owner: Option<String>,
    held: i64,
    since: i64,
}

fn sql_failure(error: impl std::fmt::Display) -> StoreError {
    let cause = format!("claims storage failed: {error}");
    worker::console_error!("{cause}");
    StoreError(cause)
}

impl ClaimStore for ClaimRow<'_> {
    fn load(&self) -> Result<Option<Option<Claim>>, StoreError> {
        let rows: Vec<Row> = self
            .sql
            .exec("SELECT owner, held, since FROM claim WHERE id = 1", None)
            .and_then(|cursor| cursor.to_array())
            .map_err(sql_failure)?;
        Ok(rows.into_iter().next().map(|row| {
            let owner = row.owner.as_deref().and_then(ResourceId::parse)?;
            Some(Claim {
                owner,
                held: row.held != 0,
                since_ms: u64::try_from(row.since).unwrap_or(0),
            })
        }))
    }

    fn save(&self, claim: Option<&Claim>) -> Result<(), StoreError> {
        let owner = claim.map(|claim| claim.owner.to_string());
        let held = claim.is_some_and(|claim| claim.held);
        let since = claim.map_or(0, |claim| claim.since_ms);
        self.sql
            .exec(
                "INSERT INTO claim (id, email, owner, held, since) VALUES (1, ?, ?, ?, ?) \
                 ON CONFLICT (id) DO UPDATE SET owner = excluded.owner, held = excluded.held, \
                 since = excluded.since",
                vec![
                    self.email.to_string().into(),
                    owner.into(),
                    i64::from(held).into(),
                    (since as f64).into(),
                ],
            )
            .map(drop)
            .map_err(sql_failure)
    }

    async fn indexed_owner(&self, email: &Email) -> Result<Option<ResourceId>, StoreError> {
        let kv = KvStore::open(self.env, "USERS_KV").map_err(|p| StoreError(p.detail))?;
        Ok(kv
            .get(&crate::emails::index_key(email))
            .await?
            .as_deref()
            .and_then(ResourceId::parse))
    }

    async fn set_index(&self, email: &Email, owner: Option<&ResourceId>) -> Result<(), StoreError> {
        let kv = KvStore::open(self.env, "USERS_KV").map_err(|p| StoreError(p.detail))?;
        let key = crate::emails::index_key(email);
        match owner {
            Some(owner) => kv.put(&key, owner.as_str()).await,
            None => kv.delete(&key).await,
        }
    }
}

/// An address object asking users' writers.
struct WritersClient<'a> {
    env: &'a Env,
    inbound: &'a Inbound,
}

impl Holders for WritersClient<'_> {
    async fn has_email(&self, owner: &ResourceId, email: &Email) -> Result<bool, StoreError> {
        let question = HasEmail {
            owner: owner.clone(),
            email: email.clone(),
        };
        let name = owner.to_string();
        ask_object(self.env, WRITERS, &name, HAS_EMAIL, self.inbound, &question).await
    }
}

/// `ProductFans`: one object per product, the users who favour it.
#[durable_object(fetch)]
pub struct ProductFans {
    sql: SqlStorage,
}

impl DurableObject for ProductFans {
    fn new(state: State, _env: Env) -> Self {
        let sql = state.storage().sql();
        for statement in [
            "CREATE TABLE IF NOT EXISTS fans (user TEXT PRIMARY KEY)",
            "CREATE TABLE IF NOT EXISTS product (id INTEGER PRIMARY KEY CHECK (id = 1), deleted_version INTEGER)",
        ] {
            if let Err(error) = sql.exec(statement, None) {
                worker::console_error!("fans storage failed: {error}");
            }
        }
        Self { sql }
    }

    async fn fetch(&self, request: Request) -> worker::Result<Response> {
        serve_object(request, async |_, request: FansRequest| {
            fans::handle(self, request)
                .map(|answer| Reply::json(200, &answer))
                .map_err(|_| Problem::unavailable("fans are unavailable"))
        })
        .await
    }
}

impl FansStore for ProductFans {
    fn deleted_version(&self) -> Result<Option<u64>, StoreError> {
        #[derive(Deserialize)]
        struct Row {
            deleted_version: Option<f64>,
        }
        let rows: Vec<Row> = self
            .sql
            .exec("SELECT deleted_version FROM product WHERE id = 1", None)
            .and_then(|cursor| cursor.to_array())
            .map_err(sql_failure)?;
        Ok(rows
            .into_iter()
            .next()
            .and_then(|row| row.deleted_version)
            .map(|version| version as u64))
    }

    fn set_deleted_version(&self, version: u64) -> Result<(), StoreError> {
        self.sql
            .exec(
                "INSERT INTO product (id, deleted_version) VALUES (1, ?) \
                 ON CONFLICT (id) DO UPDATE SET deleted_version = excluded.deleted_version",
                vec![(version as f64).into()],
            )
            .map(drop)
            .map_err(sql_failure)
    }

    fn add(&self, user: &ResourceId) -> Result<(), StoreError> {
        self.sql
            .exec(
                "INSERT INTO fans (user) VALUES (?) ON CONFLICT (user) DO NOTHING",
                vec![user.as_str().into()],
            )
            .map(drop)
            .map_err(sql_failure)
    }

    fn fans(&self) -> Result<Vec<ResourceId>, StoreError> {
        #[derive(Deserialize)]
        struct Row {
            user: String,
        }
        let rows: Vec<Row> = self
            .sql
            .exec("SELECT user FROM fans ORDER BY user", None)
            .and_then(|cursor| cursor.to_array())
            .map_err(sql_failure)?;
        Ok(rows
            .iter()
            .filter_map(|row| ResourceId::parse(&row.user))
            .collect())
    }
}
