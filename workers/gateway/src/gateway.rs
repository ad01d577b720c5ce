//! The worker glue: each concern in the order a request meets it.

use crate::access_log::AccessLog;
use crate::auth::{needs_key, unauthorized, ApiKeys};
use crate::breaker::Breaker;
use crate::health::{Health, ServiceHealth};
use crate::policy::{self, caller_id, CallOutcome, Settings, NOT_FORWARDED, SECURITY_HEADERS};
use crate::routes::{resolve, Destination, Upstream};
use crate::OPENAPI_JSON;
use common::body::MAX_BODY_BYTES;
use common::glue::worker::wasm_bindgen_futures::JsFuture;
use common::glue::worker::{self, event, js_sys, web_sys, Context, Env};
use common::glue::{
    binding, build_response, call_service, chain_panic_hook, declared_length, describe,
    discard_unread_body, now_millis, read_body, reply_headers, service, CallFailure, Inbound,
};
use common::time::rfc3339_utc;
use common::{Problem, Reply, REQUEST_ID};
use std::cell::{OnceCell, RefCell};
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{Headers, RequestInit, Response, ResponseInit};

thread_local! {
    static SETTINGS: OnceCell<Rc<Settings>> = const { OnceCell::new() };
    static API_KEYS: OnceCell<ApiKeys> = const { OnceCell::new() };
    /// Per isolate: each isolate learns about a failing service on its own.
    static BREAKERS: RefCell<[Breaker; 2]> = RefCell::new([Breaker::default(); 2]);
}

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
    let started = now_millis();
    let mut exchange = Exchange::new(Inbound::new(request), &env);
    let outcome = exchange.handle().await;
    if outcome.is_err() {
        discard_unread_body(&exchange.inbound.request).await;
    }
    let response = exchange.finish(outcome)?;
    exchange.log(response.status(), started);
    Ok(response)
}

/// What the gateway answers: a service's response, or one of its own.
enum Answer {
    Forwarded(Response),
    Own(Reply),
}

struct Exchange<'a> {
    inbound: Inbound,
    env: &'a Env,
    settings: Rc<Settings>,
    preflight: bool,
    key_label: Option<String>,
    service: Option<Upstream>,
    service_status: Option<u16>,
}

impl<'a> Exchange<'a> {
    fn new(inbound: Inbound, env: &'a Env) -> Self {
        let settings = SETTINGS.with(|cell| {
            cell.get_or_init(|| Rc::new(Settings::from_vars(|name| var(env, name))))
                .clone()
        });
        let preflight = policy::is_preflight(
            &inbound.method,
            inbound.header("Access-Control-Request-Method").as_deref(),
        );
        Self {
            inbound,
            env,
            settings,
            preflight,
            key_label: None,
            service: None,
            service_status: None,
        }
    }

    async fn handle(&mut self) -> Result<Answer, Problem> {
        let method = self.inbound.method.clone();
        if self.preflight {
            return Ok(Answer::Own(Reply::no_content()));
        }
        let destination = resolve(&method, &self.inbound.path)?;
        self.key_label = self.identify();
        if needs_key(&method) && self.key_label.is_none() {
            return Err(unauthorized(self.inbound.header("Authorization").is_some()));
        }
        self.rate_limit().await?;
        match destination {
            Destination::Forward(upstream) => self.forward(upstream).await.map(Answer::Forwarded),
            Destination::Health => self.health().await,
            Destination::OpenApi => Ok(Answer::Own(Reply::raw_json(200, OPENAPI_JSON.to_string()))),
        }
    }

    /// The label of the API key the request presents, if it presents a
    /// valid one. Writes need one; reads may carry one, which then names the
    /// caller for rate limits and the log.
    fn identify(&self) -> Option<String> {
        let authorization = self.inbound.header("Authorization")?;
        API_KEYS.with(|cell| {
            let keys = cell.get_or_init(|| ApiKeys::parse(&api_keys_secret(self.env)));
            keys.caller(Some(&authorization)).map(str::to_string)
        })
    }

    fn caller(&self) -> String {
        caller_id(
            self.key_label.as_deref(),
            self.inbound.header("CF-Connecting-IP").as_deref(),
        )
    }

    /// A limiter that is missing or fails lets the request through: rate
    /// limiting protects the services, it must not take them down.
    async fn rate_limit(&self) -> Result<(), Problem> {
        let Some(limiter) = binding(self.env, "RATE_LIMITER") else {
            return Ok(());
        };
        match limit(&limiter.unchecked_into(), &self.caller()).await {
            Ok(false) => Err(policy::rate_limited(self.settings.rate_limit_period_secs)),
            Ok(true) => Ok(()),
            Err(error) => {
                worker::console_error!(
                    "rate limiter failed, request let through: {}",
                    describe(&error)
                );
                Ok(())
            }
        }
    }

    async fn forward(&mut self, upstream: Upstream) -> Result<Response, Problem> {
        self.service = Some(upstream);
        let init = self.outbound_init().await?;
        let binding = service(self.env, upstream.binding())?;
        let policy = self.settings.breaker;
        with_breaker(upstream, |breaker| breaker.admit(policy, now_millis()))
            .map_err(|refused| policy::circuit_open(upstream, refused.retry_after_secs))?;
        let timeout = self.settings.upstream_timeout_ms;
        let result = call_service(&binding, &self.inbound.url, &init, timeout).await;
        let outcome = match &result {
            Ok(response) => CallOutcome::Answered {
                status: response.status(),
            },
            Err(CallFailure::TimedOut) => CallOutcome::TimedOut,
            Err(CallFailure::Threw(_)) => CallOutcome::Threw,
        };
        with_breaker(upstream, |breaker| match outcome.is_failure() {
            true => breaker.record_failure(policy, now_millis()),
            false => breaker.record_success(),
        });
        match result {
            Ok(response) => {
                let status = response.status();
                self.service_status = Some(status);
                let content_type = common::glue::header(&response.headers(), "Content-Type");
                if policy::passes_through(status, content_type.as_deref()) {
                    Ok(response)
                } else {
                    Err(policy::bad_gateway(upstream, &format!("answered {status}")))
                }
            }
            Err(CallFailure::TimedOut) => Err(policy::timed_out(upstream, timeout)),
            Err(CallFailure::Threw(why)) => {
                worker::console_error!("{} threw: {why}", upstream.name());
                Err(policy::bad_gateway(upstream, "the call threw"))
            }
        }
    }

    /// The request as the service gets it: same method, URL and body, the
    /// request id and a new trace span, without credentials or hop-by-hop
    /// headers. A body of declared length streams through untouched; one
    /// without a length is read (up to the limit) and sent on as bytes.
    async fn outbound_init(&self) -> Result<RequestInit, Problem> {
        let incoming = &self.inbound.request;
        let method = &self.inbound.method;
        let init = RequestInit::new();
        init.set_method(method);
        init.set_headers(self.outbound_headers().map_err(js_failure)?.as_ref());
        if method != "GET" && method != "HEAD" {
            match declared_length(&self.inbound.headers) {
                Some(length) if length <= MAX_BODY_BYTES => {
                    init.set_body(&incoming.body().map_or(JsValue::NULL, JsValue::from))
                }
                _ => {
                    let bytes = read_body(incoming, MAX_BODY_BYTES).await?;
                    if !bytes.is_empty() {
                        init.set_body(&js_sys::Uint8Array::from(bytes.as_slice()));
                    }
                }
            }
        }
        Ok(init)
    }

    fn outbound_headers(&self) -> Result<Headers, JsValue> {
        let headers = Headers::new_with_headers(&self.inbound.headers)?;
        if let Some(connection) = self.inbound.header("Connection") {
            for name in connection.split(',') {
                headers.delete(name.trim())?;
            }
        }
        for name in NOT_FORWARDED {
            headers.delete(name)?;
        }
        self.inbound.propagate_to(&headers)?;
        Ok(headers)
    }

    /// Asks every service's `/health` at once, each within the timeout.
    async fn health(&self) -> Result<Answer, Problem> {
        let (users, products) =
            futures_util::join!(self.check(Upstream::Users), self.check(Upstream::Products));
        let health = Health::new(
            ServiceHealth::from_check(users),
            ServiceHealth::from_check(products),
        );
        Ok(Answer::Own(Reply::json(health.http_status(), &health)))
    }

    async fn check(&self, upstream: Upstream) -> Result<u16, String> {
        let binding = service(self.env, upstream.binding()).map_err(|p| p.detail)?;
        let headers = Headers::new().map_err(|e| describe(&e))?;
        headers
            .set(REQUEST_ID, &self.inbound.request_id)
            .map_err(|e| describe(&e))?;
        let init = RequestInit::new();
        init.set_headers(&headers);
        let timeout = self.settings.upstream_timeout_ms;
        match call_service(&binding, "https://service/health", &init, timeout).await {
            Ok(response) => Ok(response.status()),
            Err(CallFailure::TimedOut) => Err("timed out".to_string()),
            Err(CallFailure::Threw(why)) => Err(format!("threw: {why}")),
        }
    }

    /// Every answer leaves with the request id, the security headers and,
    /// for an allowed origin, CORS headers. A service's answer keeps its
    /// status and streams its body through.
    fn finish(&self, outcome: Result<Answer, Problem>) -> worker::Result<Response> {
        let answer = outcome.unwrap_or_else(|problem| {
            Answer::Own(Reply::problem(
                &problem,
                &self.inbound.request_id,
                &self.inbound.path,
            ))
        });
        match answer {
            Answer::Forwarded(response) => {
                let headers = Headers::new_with_headers(&response.headers())?;
                self.add_gateway_headers(&headers)?;
                let init = ResponseInit::new();
                init.set_status(response.status());
                init.set_headers(&headers);
                Ok(Response::new_with_opt_readable_stream_and_init(
                    response.body().as_ref(),
                    &init,
                )?)
            }
            Answer::Own(reply) => {
                let headers = reply_headers(&reply)?;
                self.add_gateway_headers(&headers)?;
                Ok(build_response(
                    reply.status,
                    &headers,
                    reply.body.as_deref(),
                )?)
            }
        }
    }

    fn add_gateway_headers(&self, headers: &Headers) -> Result<(), JsValue> {
        headers.set(REQUEST_ID, &self.inbound.request_id)?;
        for (name, value) in SECURITY_HEADERS {
            headers.set(name, value)?;
        }
        let origin = self.inbound.header("Origin");
        if let Some(origin) = self.settings.allowed_origin(origin.as_deref()) {
            let extra = if self.preflight {
                policy::preflight_headers()
            } else {
                Vec::new()
            };
            for (name, value) in policy::cors_headers(origin).into_iter().chain(extra) {
                headers.set(name, &value)?;
            }
        }
        Ok(())
    }

    fn log(&self, status: u16, started: u64) {
        let entry = AccessLog {
            time: rfc3339_utc(started),
            request_id: &self.inbound.request_id,
            method: &self.inbound.method,
            path: &self.inbound.path,
            status,
            duration_ms: now_millis().saturating_sub(started),
            service: self.service.map(Upstream::name),
            service_status: self.service_status,
            caller: self.caller(),
        };
        worker::console_log!("{}", entry.to_line());
    }
}

#[wasm_bindgen]
extern "C" {
    /// The Workers Rate Limiting binding.
    type RateLimit;

    #[wasm_bindgen(method, catch, js_name = limit)]
    fn limit_call(this: &RateLimit, options: &js_sys::Object) -> Result<js_sys::Promise, JsValue>;
}

/// Whether `key` is still within its limit.
async fn limit(limiter: &RateLimit, key: &str) -> Result<bool, JsValue> {
    let options = js_sys::Object::new();
    js_sys::Reflect::set(&options, &"key".into(), &key.into())?;
    let outcome = JsFuture::from(limiter.limit_call(&options)?).await?;
    Ok(js_sys::Reflect::get(&outcome, &"success".into())?.is_truthy())
}

fn with_breaker<T>(upstream: Upstream, f: impl FnOnce(&mut Breaker) -> T) -> T {
    let index = Upstream::ALL
        .iter()
        .position(|u| *u == upstream)
        .unwrap_or(0);
    BREAKERS.with(|breakers| f(&mut breakers.borrow_mut()[index]))
}

fn var(env: &Env, name: &str) -> Option<String> {
    env.var(name).ok().map(|value| value.to_string())
}

fn api_keys_secret(env: &Env) -> String {
    env.secret("API_KEYS")
        .map(|secret| secret.to_string())
        .ok()
        .or_else(|| var(env, "API_KEYS"))
        .unwrap_or_default()
}

fn js_failure(error: JsValue) -> Problem {
    worker::console_error!("runtime call failed: {}", describe(&error));
    Problem::new(
        500,
        "internal",
        "Internal error",
        "the gateway could not build the request",
    )
}
