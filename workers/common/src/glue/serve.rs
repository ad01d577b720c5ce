//! A worker's whole exchange: the request read, handed to its handler, and
//! the outcome answered with the request's id.

use super::request::Inbound;
use crate::{Problem, Reply};
use wasm_bindgen::JsValue;
use web_sys::{Request, Response};

/// What a handler answers: a reply of its own, or a response it passes on
/// as it is (a writer object's).
pub enum Answer {
    Reply(Reply),
    Response(Response),
}

impl From<Reply> for Answer {
    fn from(reply: Reply) -> Self {
        Answer::Reply(reply)
    }
}

pub async fn serve<E>(
    request: Request,
    env: &E,
    handle: impl AsyncFnOnce(&Inbound, &E) -> Result<Answer, Problem>,
) -> Result<JsValue, JsValue> {
    let inbound = Inbound::new(request);
    let response = match handle(&inbound, env).await {
        Ok(Answer::Response(response)) => response,
        Ok(Answer::Reply(reply)) => inbound.respond(Ok(reply))?,
        Err(problem) => inbound.respond(Err(problem))?,
    };
    Ok(response.into())
}
