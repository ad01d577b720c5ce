//! How the users service's errors become HTTP problems: the one place.

use crate::domain::User;
use crate::writer::UserError;
use common::id::ResourceId;
use common::records::Record;
use common::writes::write_problem;
use common::Problem;

pub fn user_problem(error: UserError, id: &ResourceId) -> Problem {
    match error {
        UserError::Write(error) => write_problem(error, User::COLLECTION, id),
        UserError::EmailTaken(email) => {
            Problem::conflict(format!("another user already has the email {email}"))
        }
        UserError::ClaimsUnavailable => Problem::write_refused_for_now(
            "email addresses cannot be checked now; nothing was written",
        ),
        UserError::FavoritesFull => Problem::conflict(format!(
            "a user has at most {} favourites",
            crate::favorites::MAX_FAVORITES
        )),
        UserError::ProductUnconfirmed => Problem::new(
            UNCONFIRMED,
            "product-unconfirmed",
            "Product unconfirmed",
            "the product is not in the list; products must confirm it",
        ),
        UserError::ProductGone(product) => {
            Problem::not_found(format!("product {product} does not exist"))
        }
        UserError::FansUnavailable => {
            Problem::write_refused_for_now("favourites cannot be checked now; nothing was written")
        }
    }
}

/// What a user's writer answers its worker when a favourite it does not
/// list came without the products service's confirmation; the worker asks
/// products then, and never passes this status on.
pub const UNCONFIRMED: u16 = 428;

/// A new favourite that the products service could not confirm.
pub fn products_unconfirmed() -> Problem {
    Problem::dependency_unavailable(
        "the products service cannot confirm the product; nothing was written",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Email;
    use common::writes::WriteError;

    #[test]
    fn each_error_has_its_status() {
        let id = ResourceId::parse("1").unwrap();
        let status = |error| user_problem(error, &id).status;
        assert_eq!(status(UserError::Write(WriteError::NotFound)), 404);
        assert_eq!(
            status(UserError::Write(WriteError::PreconditionFailed)),
            412
        );
        assert_eq!(
            status(UserError::EmailTaken(Email::parse("a@x.io").unwrap())),
            409
        );
        assert_eq!(status(UserError::FavoritesFull), 409);
        assert_eq!(status(UserError::ClaimsUnavailable), 503);
        assert_eq!(status(UserError::FansUnavailable), 503);
        assert_eq!(status(UserError::ProductGone(id.clone())), 404);
        assert_eq!(status(UserError::ProductUnconfirmed), UNCONFIRMED);
        assert_eq!(
            (products_unconfirmed().status, products_unconfirmed().slug),
            (503, "dependency-unavailable")
        );
    }
}
