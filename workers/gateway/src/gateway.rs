//! The gateway's pipeline: the README's list of concerns, composed in the
//! order a request meets them. Each concern lives in its own module.

use crate::access_log::AccessLog;
use crate::auth::{self, Identity};
use crate::headers::ContentPolicy;
use crate::routes::{self, Destination, Upstream};
use crate::settings::Settings;
use crate::{body_limit, cors, docs, headers, health, rate_limit, upstream, OPENAPI_JSON};
use common::glue::describe;
use common::glue::env::{var, Env};
use common::glue::platform::now_millis;
use common::glue::request::header;
use common::glue::request::Inbound;
use common::glue::response::{build_response, restamped};
use common::glue::run;
use common::glue::service::Outgoing;
use common::time::rfc3339_utc;
use common::{Problem, Reply, REQUEST_ID};
use std::cell::OnceCell;
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use web_sys::Response;

thread_local! {
    static SETTINGS: OnceCell<Rc<Settings>> = const { OnceCell::new() };
}

#[wasm_bindgen]
pub fn fetch(request: web_sys::Request, env: Env, _ctx: JsValue) -> Result<JsValue, JsValue> {
    run(async move {
        let started = now_millis();
        // 1. Request id and trace: kept or made here, passed on with every call.
        let mut exchange = Exchange::new(Inbound::new(request), &env);
        let outcome = exchange.handle().await;
        let response = exchange.respond(outcome).await;
        // 9. Access log: one line per request, however it ended.
        exchange.log(response.as_ref().map_or(500, Response::status), started);
        response.map(JsValue::from)
    })
}

/// What the gateway answers: a service's response, a file of the API
/// reference, or one of its own.
enum Answer {
    Forwarded(Response),
    Docs(Response),
    Own(Reply),
}

impl Answer {
    fn content_policy(&self) -> ContentPolicy {
        match self {
            Answer::Docs(_) => ContentPolicy::Docs,
            Answer::Forwarded(_) | Answer::Own(_) => ContentPolicy::Api,
        }
    }
}

struct Exchange<'a> {
    inbound: Inbound,
    env: &'a Env,
    settings: Rc<Settings>,
    preflight: bool,
    identity: Option<Identity>,
    service: Option<Upstream>,
    service_status: Option<u16>,
}

impl<'a> Exchange<'a> {
    fn new(inbound: Inbound, env: &'a Env) -> Self {
        let settings = SETTINGS.with(|cell| {
            cell.get_or_init(|| Rc::new(Settings::from_vars(|name| var(env, name))))
                .clone()
        });
        let preflight = cors::is_preflight(
            &inbound.method,
            inbound.header("Access-Control-Request-Method").as_deref(),
        );
        Self {
            inbound,
            env,
            settings,
            preflight,
            identity: None,
            service: None,
            service_status: None,
        }
    }

    async fn handle(&mut self) -> Result<Answer, Problem> {
        // 2. Rate limiting: every request counts against its address.
        self.rate_limit(&self.address()).await?;
        // 3. CORS: a preflight is answered here.
        if self.preflight {
            return Ok(Answer::Own(Reply::no_content()));
        }
        // 4. Routing.
        let destination = routes::resolve(&self.inbound.method, &self.inbound.path)?;
        // 5. Authentication, then the caller's own rate limit.
        let authorization = self.inbound.header("Authorization");
        let authentication =
            auth::authenticate(self.env, authorization.as_deref(), &self.inbound.request_id).await;
        self.identity = authentication.identity.clone();
        auth::require(&self.inbound.method, &authentication)?;
        if let Some(identity) = &self.identity {
            self.rate_limit(&identity.name()).await?;
        }
        match destination {
            Destination::Forward(upstream) => self.forward(upstream).await.map(Answer::Forwarded),
            Destination::Health => {
                let timeout = self.settings.upstream.timeout_ms;
                let health = health::check_services(self.env, &self.inbound, timeout).await;
                Ok(Answer::Own(Reply::json(health.http_status(), &health)))
            }
            Destination::OpenApi => Ok(Answer::Own(Reply::raw_json(200, OPENAPI_JSON.to_string()))),
            Destination::Docs => {
                let timeout = self.settings.upstream.timeout_ms;
                docs::fetch(self.env, &self.inbound, timeout)
                    .await
                    .map(Answer::Docs)
            }
        }
    }

    async fn rate_limit(&self, key: &str) -> Result<(), Problem> {
        rate_limit::admit(self.env, key, self.settings.rate_limit_period_secs).await
    }

    async fn forward(&mut self, upstream: Upstream) -> Result<Response, Problem> {
        self.service = Some(upstream);
        // 6. Body limit: 413 before anything is forwarded.
        let body = body_limit::outbound_body(&self.inbound).await?;
        let connection = self.inbound.header("Connection");
        let policy = self.settings.upstream;
        let mut set = self.inbound.next_hop();
        set.push(upstream::deadline_header(policy, now_millis()));
        let outgoing = Outgoing {
            url: &self.inbound.url,
            method: &self.inbound.method,
            from: Some(&self.inbound.headers),
            drop: headers::not_forwarded(connection.as_deref(), body.is_some()),
            set,
            body: body.unwrap_or(JsValue::UNDEFINED),
        };
        // 7. Failure isolation: a timeout, a deadline and a breaker per
        // service.
        let forwarded = upstream::forward(self.env, upstream, &outgoing, policy).await;
        self.service_status = forwarded.service_status;
        forwarded.answer
    }

    /// Step 8: every answer leaves with the request id, the security
    /// headers and CORS. A refusal first drains what is left of the body
    /// (bounded).
    async fn respond(&self, outcome: Result<Answer, Problem>) -> Result<Response, JsValue> {
        if let Err(problem) = &outcome {
            body_limit::discard_unread(&self.inbound, problem.status).await;
        }
        let answer = outcome.unwrap_or_else(|problem| Answer::Own(self.problem_reply(&problem)));
        self.render(answer)
            .or_else(|error| self.render(Answer::Own(self.problem_reply(&internal(error)))))
    }

    fn render(&self, answer: Answer) -> Result<Response, JsValue> {
        let policy = answer.content_policy();
        match answer {
            Answer::Forwarded(response) | Answer::Docs(response) => {
                let vary = match self.settings.cors.is_enabled() {
                    true => header(&response.headers(), "Vary"),
                    false => None,
                };
                restamped(&response, &self.gateway_headers(policy, vary.as_deref()))
            }
            Answer::Own(mut reply) => {
                reply.headers.extend(self.gateway_headers(policy, None));
                let head = self.inbound.is_head();
                build_response(reply.status, reply.headers, reply.body.as_deref(), head)
            }
        }
    }

    /// What every answer carries: the request id, the security headers
    /// (the content policy of what it is) and CORS (`Vary` appended to a
    /// service's own, `existing_vary`).
    fn gateway_headers(
        &self,
        policy: ContentPolicy,
        existing_vary: Option<&str>,
    ) -> Vec<(&'static str, String)> {
        let mut fields = vec![(REQUEST_ID, self.inbound.request_id.clone())];
        fields.extend(headers::security_headers(policy));
        let origin = self.inbound.header("Origin");
        fields.extend(cors::answer_headers(
            &self.settings.cors,
            origin.as_deref(),
            self.preflight,
            existing_vary,
        ));
        fields
    }

    fn problem_reply(&self, problem: &Problem) -> Reply {
        Reply::problem(problem, &self.inbound.request_id, &self.inbound.path)
    }

    fn address(&self) -> String {
        rate_limit::address_key(self.inbound.header("CF-Connecting-IP").as_deref())
    }

    fn log(&self, status: u16, started: u64) {
        AccessLog {
            time: rfc3339_utc(started),
            request_id: &self.inbound.request_id,
            method: &self.inbound.method,
            path: &self.inbound.path,
            status,
            duration_ms: now_millis().saturating_sub(started),
            service: self.service.map(Upstream::name),
            service_status: self.service_status,
            caller: self
                .identity
                .as_ref()
                .map_or_else(|| self.address(), Identity::name),
        }
        .write();
    }
}

/// A runtime call the gateway relies on failed: a 500 problem, logged.
fn internal(error: JsValue) -> Problem {
    common::console_error!("the answer could not be built: {}", describe(&error));
    Problem::new(
        500,
        "internal",
        "Internal error",
        "the gateway could not build the request or its answer",
    )
}
