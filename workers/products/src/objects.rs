//! `ProductWriter`: one object per product, which makes that product's
//! writes one after another, each checked against the committed version.

use crate::domain::Product;
use common::glue::durable::{serve_object, SqlJournal};
use common::glue::kv::KvStore;
use common::glue::platform::now_millis;
use common::glue::worker::{self, durable_object, DurableObject, Env, Request, Response, State};
use common::journal::Journal;
use common::time::Timestamp;
use common::writes::{write_one, write_problem, Command};
use common::{records::Record, Reply};
use futures_util::lock::Mutex;

#[durable_object(fetch)]
pub struct ProductWriter {
    journal: SqlJournal,
    env: Env,
    writing: Mutex<()>,
}

impl DurableObject for ProductWriter {
    fn new(state: State, env: Env) -> Self {
        Self {
            journal: SqlJournal::open(&state.storage()),
            env,
            writing: Mutex::new(()),
        }
    }

    async fn fetch(&self, request: Request) -> worker::Result<Response> {
        serve_object(request, async |inbound, command: Command<Product>| {
            let _turn = self.writing.lock().await;
            let kv = KvStore::open(&self.env, "PRODUCTS_KV")?;
            let journal = Journal::new(&self.journal, &kv);
            let now = Timestamp::from_millis(now_millis());
            let if_match = inbound.header("If-Match");
            let edited = write_one(
                &journal,
                &command.id,
                command.edit,
                if_match.as_deref(),
                &now,
            )
            .await
            .map_err(|error| write_problem(error, Product::COLLECTION, &command.id))?;
            Ok::<Reply, _>(edited.reply(&command.id))
        })
        .await
    }
}
