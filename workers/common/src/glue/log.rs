//! Lines for the worker's log (`wrangler dev` prints them; in production
//! they go to Workers Logs). Use the crate's `console_log!`,
//! `console_warn!` and `console_error!` macros.

pub fn log(line: &str) {
    web_sys::console::log_1(&line.into());
}

pub fn warn(line: &str) {
    web_sys::console::warn_1(&line.into());
}

pub fn error(line: &str) {
    web_sys::console::error_1(&line.into());
}
