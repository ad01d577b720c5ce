//! A kind of record in a KV namespace: its key prefix, and its name in
//! messages.

use crate::id::ResourceId;
use crate::Problem;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Collection {
    pub prefix: &'static str,
    pub noun: &'static str,
    /// Where its records are found over HTTP: `/users`.
    pub path: &'static str,
}

impl Collection {
    pub fn key(self, id: &ResourceId) -> String {
        format!("{}{id}", self.prefix)
    }

    pub fn location(self, id: &ResourceId) -> String {
        format!("{}/{id}", self.path)
    }

    pub fn not_found(self, id: &ResourceId) -> Problem {
        Problem::not_found(format!("{} {id} does not exist", self.noun))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const USERS: Collection = Collection {
        prefix: "user:",
        noun: "user",
        path: "/users",
    };

    #[test]
    fn keys_are_namespaced_and_misses_name_the_record() {
        let id = ResourceId::parse("7").unwrap();
        assert_eq!(USERS.key(&id), "user:7");
        assert_eq!(USERS.location(&id), "/users/7");
        assert_eq!(USERS.not_found(&id).detail, "user 7 does not exist");
    }
}
