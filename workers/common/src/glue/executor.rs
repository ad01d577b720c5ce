//! The executor behind every export (`fetch`, `queue`, Durable Object
//! methods): it polls a handler's future at once, inside the export, and
//! when the future completes without waiting the answer goes back with no
//! Promise and no microtask; otherwise the export returns a Promise that
//! the executor settles later. `JsAwait` awaits a JS promise through one
//! settle callback made once per instance (where wasm-bindgen-futures
//! makes two closures and a `queueMicrotask` per await).

use super::slots::Slots;
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};
use wasm_bindgen::prelude::*;

#[wasm_bindgen(inline_js = r#"
let settle, drain;
let generation = 0;
const pending = new Map();
// Once per (re)instantiated Wasm instance: requests still pending belong to
// an instance that trapped, and nothing will settle them any more; nor may
// their promises settle into the new instance, whose slots reuse the ids.
export function install(settleCallback, drainCallback) {
  failAll(new Error("the Wasm instance was reset"));
  generation++;
  settle = settleCallback;
  drain = drainCallback;
}
export function awaitPromise(promise, slot) {
  const born = generation;
  promise.then((value) => deliver(born, slot, true, value), (error) => deliver(born, slot, false, error));
}
function deliver(born, slot, ok, value) {
  if (born !== generation) return;
  try {
    settle(slot, ok, value);
  } catch (error) {
    instanceLost(error);
    throw error;
  }
}
export function promiseFor(task) {
  return new Promise((resolve, reject) => pending.set(task, { resolve, reject }));
}
export function finishTask(task, ok, value) {
  const entry = pending.get(task);
  pending.delete(task);
  if (ok) entry.resolve(value);
  else entry.reject(value);
}
export function scheduleDrain() {
  queueMicrotask(() => {
    try {
      drain();
    } catch (error) {
      instanceLost(error);
      throw error;
    }
  });
}
// Only a trap gets here: the instance is gone with every task in it. A
// panic has already asked for a reset; any other trap asks here, as the
// entry would for a trap it sees (runtime.js).
function instanceLost(error) {
  (globalThis.__worker_init_state ??= { criticalError: false, instanceId: 0 }).criticalError = true;
  failAll(error);
}
function failAll(error) {
  for (const { reject } of pending.values()) reject(error);
  pending.clear();
}
"#)]
extern "C" {
    fn install(settle: &JsValue, drain: &JsValue);
    #[wasm_bindgen(js_name = awaitPromise)]
    fn await_promise(promise: &JsValue, slot: u32);
    #[wasm_bindgen(js_name = promiseFor)]
    fn promise_for(task: u32) -> JsValue;
    #[wasm_bindgen(js_name = finishTask)]
    fn finish_task(task: u32, ok: bool, value: JsValue);
    #[wasm_bindgen(js_name = scheduleDrain)]
    fn schedule_drain();
}

pub type Outcome = Result<JsValue, JsValue>;
type BoxedFuture = Pin<Box<dyn Future<Output = Outcome>>>;

struct Executor {
    ready: RefCell<VecDeque<Rc<Task>>>,
    /// Polling is under way: a wake only queues the task.
    running: Cell<bool>,
    drain_scheduled: Cell<bool>,
    next_task: Cell<u32>,
    slots: RefCell<Slots>,
}

struct Task {
    id: u32,
    future: RefCell<Option<BoxedFuture>>,
    queued: Cell<bool>,
    /// The export has handed out a Promise for this task.
    promised: Cell<bool>,
    output: RefCell<Option<Outcome>>,
}

thread_local! {
    static EXECUTOR: Executor = Executor::new();
}

impl Executor {
    fn new() -> Self {
        let settle = Closure::<dyn FnMut(u32, bool, JsValue)>::new(settle).into_js_value();
        let drain = Closure::<dyn FnMut()>::new(drain).into_js_value();
        install(&settle, &drain);
        Executor {
            ready: RefCell::new(VecDeque::new()),
            running: Cell::new(false),
            drain_scheduled: Cell::new(false),
            next_task: Cell::new(0),
            slots: RefCell::new(Slots::default()),
        }
    }

    /// Polls the ready tasks until none is left.
    fn drain_ready(&self) {
        let was_running = self.running.replace(true);
        loop {
            let next = self.ready.borrow_mut().pop_front();
            let Some(task) = next else { break };
            task.queued.set(false);
            poll(&task);
        }
        self.running.set(was_running);
    }

    /// Polls `task` alone, now. Other tasks it wakes are polled in a
    /// microtask: polling them here would run another request's work in
    /// this request's context.
    fn poll_now(&self, task: &Rc<Task>) {
        let was_running = self.running.replace(true);
        poll(task);
        self.running.set(was_running);
        if !was_running && !self.ready.borrow().is_empty() && !self.drain_scheduled.replace(true) {
            schedule_drain();
        }
    }
}

/// Runs `future` as the answer of an export: its output at once when it
/// completes without waiting, else a Promise of it.
pub fn run(future: impl Future<Output = Outcome> + 'static) -> Outcome {
    EXECUTOR.with(|executor| {
        let id = executor.next_task.get();
        executor.next_task.set(id.wrapping_add(1));
        let task = Rc::new(Task {
            id,
            future: RefCell::new(Some(Box::pin(future))),
            queued: Cell::new(false),
            promised: Cell::new(false),
            output: RefCell::new(None),
        });
        executor.poll_now(&task);
        let output = task.output.borrow_mut().take();
        match output {
            Some(output) => output,
            None => {
                task.promised.set(true);
                Ok(promise_for(id))
            }
        }
    })
}

fn poll(task: &Rc<Task>) {
    let waker = waker_for(task);
    let mut context = Context::from_waker(&waker);
    let mut slot = task.future.borrow_mut();
    let Some(future) = slot.as_mut() else { return };
    if let Poll::Ready(output) = future.as_mut().poll(&mut context) {
        *slot = None;
        drop(slot);
        if task.promised.get() {
            match output {
                Ok(value) => finish_task(task.id, true, value),
                Err(error) => finish_task(task.id, false, error),
            }
        } else {
            *task.output.borrow_mut() = Some(output);
        }
    }
}

fn schedule(task: &Rc<Task>) {
    if task.queued.replace(true) {
        return;
    }
    EXECUTOR.with(|executor| {
        executor.ready.borrow_mut().push_back(task.clone());
        if !executor.running.get() && !executor.drain_scheduled.replace(true) {
            schedule_drain();
        }
    });
}

/// The one settle callback: a promise given to `await_promise` has settled.
fn settle(slot: u32, ok: bool, value: JsValue) {
    EXECUTOR.with(|executor| {
        let outcome = if ok { Ok(value) } else { Err(value) };
        let waker = executor.slots.borrow_mut().settle(slot, outcome);
        match waker.as_ref().and_then(own_task) {
            // Poll the waiting task here rather than a microtask later.
            Some(task) => executor.poll_now(&task),
            None => waker.into_iter().for_each(Waker::wake),
        }
    });
}

/// Wakes from outside the executor's own settle land here, a microtask later.
fn drain() {
    EXECUTOR.with(|executor| {
        executor.drain_scheduled.set(false);
        executor.drain_ready();
    });
}

/// A JS promise as a future, settled through the executor's one callback.
/// Works under any executor: settling wakes whatever waker polled it last.
pub struct JsAwait {
    promise: Option<JsValue>,
    slot: Option<u32>,
}

impl JsAwait {
    pub fn new(promise: impl Into<JsValue>) -> Self {
        JsAwait {
            promise: Some(promise.into()),
            slot: None,
        }
    }
}

impl Future for JsAwait {
    type Output = Outcome;

    fn poll(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<Outcome> {
        let this = self.get_mut();
        EXECUTOR.with(|executor| {
            if let Some(promise) = this.promise.take() {
                let slot = executor.slots.borrow_mut().wait(context.waker().clone());
                this.slot = Some(slot);
                await_promise(&promise, slot);
                return Poll::Pending;
            }
            let Some(slot) = this.slot else {
                return Poll::Pending;
            };
            match executor.slots.borrow_mut().take(slot, context.waker()) {
                Some(outcome) => {
                    this.slot = None;
                    Poll::Ready(outcome)
                }
                None => Poll::Pending,
            }
        })
    }
}

impl Drop for JsAwait {
    fn drop(&mut self) {
        if let Some(slot) = self.slot {
            let _ = EXECUTOR.try_with(|executor| executor.slots.borrow_mut().abandon(slot));
        }
    }
}

// A waker is a counted reference to its task (one thread, so `Rc`).
fn waker_for(task: &Rc<Task>) -> Waker {
    let raw = Rc::into_raw(task.clone()) as *const ();
    unsafe { Waker::from_raw(RawWaker::new(raw, &VTABLE)) }
}

/// The task behind `waker` when it is one of this executor's.
fn own_task(waker: &Waker) -> Option<Rc<Task>> {
    if !std::ptr::eq(waker.vtable(), &VTABLE) {
        return None;
    }
    let task = std::mem::ManuallyDrop::new(unsafe { Rc::from_raw(waker.data() as *const Task) });
    Some(Rc::clone(&task))
}

static VTABLE: RawWakerVTable = RawWakerVTable::new(clone_waker, wake, wake_by_ref, drop_waker);

unsafe fn clone_waker(raw: *const ()) -> RawWaker {
    Rc::increment_strong_count(raw as *const Task);
    RawWaker::new(raw, &VTABLE)
}

unsafe fn wake(raw: *const ()) {
    let task = Rc::from_raw(raw as *const Task);
    schedule(&task);
}

unsafe fn wake_by_ref(raw: *const ()) {
    let task = std::mem::ManuallyDrop::new(Rc::from_raw(raw as *const Task));
    schedule(&task);
}

unsafe fn drop_waker(raw: *const ()) {
    drop(Rc::from_raw(raw as *const Task));
}
