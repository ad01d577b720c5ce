//! The JS promises being awaited, by slot number: who waits, or what came.

use std::task::Waker;
use wasm_bindgen::JsValue;

type Outcome = Result<JsValue, JsValue>;

enum Slot {
    Waiting(Waker),
    Settled(Outcome),
    /// Its future was dropped first; freed when the promise settles.
    Abandoned,
    Free,
}

#[derive(Default)]
pub(crate) struct Slots {
    entries: Vec<Slot>,
    free: Vec<u32>,
}

impl Slots {
    pub(crate) fn wait(&mut self, waker: Waker) -> u32 {
        match self.free.pop() {
            Some(id) => {
                self.entries[id as usize] = Slot::Waiting(waker);
                id
            }
            None => {
                self.entries.push(Slot::Waiting(waker));
                (self.entries.len() - 1) as u32
            }
        }
    }

    /// Stores the outcome; returns the waker to wake, if anyone waits.
    pub(crate) fn settle(&mut self, id: u32, outcome: Outcome) -> Option<Waker> {
        let entry = self.entries.get_mut(id as usize)?;
        match std::mem::replace(entry, Slot::Free) {
            Slot::Waiting(waker) => {
                *entry = Slot::Settled(outcome);
                Some(waker)
            }
            Slot::Abandoned => {
                self.free.push(id);
                None
            }
            other => {
                *entry = other;
                None
            }
        }
    }

    /// The outcome if it came (the slot is freed), else keeps `waker`.
    pub(crate) fn take(&mut self, id: u32, waker: &Waker) -> Option<Outcome> {
        let entry = self.entries.get_mut(id as usize)?;
        match entry {
            Slot::Settled(_) => {
                let Slot::Settled(outcome) = std::mem::replace(entry, Slot::Free) else {
                    return None;
                };
                self.free.push(id);
                Some(outcome)
            }
            Slot::Waiting(current) => {
                if !current.will_wake(waker) {
                    *current = waker.clone();
                }
                None
            }
            _ => None,
        }
    }

    pub(crate) fn abandon(&mut self, id: u32) {
        let Some(entry) = self.entries.get_mut(id as usize) else {
            return;
        };
        match entry {
            Slot::Waiting(_) => *entry = Slot::Abandoned,
            Slot::Settled(_) => {
                *entry = Slot::Free;
                self.free.push(id);
            }
            _ => {}
        }
    }
}
