//! How the objects (and the queue consumer) call one another.

use super::{CLAIM, FANS, HAS_EMAIL};
use crate::domain::Email;
use crate::emails::{ClaimAnswer, ClaimRequest, Holders};
use crate::fans::{FansAnswer, FansRequest};
use crate::writer::{EmailClaims as ClaimsOfAddresses, ProductFans as FansOfProducts};
use crate::{EMAIL_CLAIMS, PRODUCT_FANS, WRITERS};
use common::glue::durable::ask_object;
use common::glue::env::Env;
use common::glue::request::Inbound;
use common::id::ResourceId;
use common::kv::StoreError;
use serde::{Deserialize, Serialize};

/// What an address object asks a user's writer.
#[derive(Serialize, Deserialize)]
pub struct HasEmail {
    pub owner: ResourceId,
    pub email: Email,
}

/// Talking to product objects.
pub struct FansClient<'a> {
    pub env: &'a Env,
    pub inbound: &'a Inbound,
}

impl FansClient<'_> {
    pub async fn ask(&self, request: &FansRequest) -> Result<FansAnswer, StoreError> {
        let name = request.product().to_string();
        ask_object(self.env, PRODUCT_FANS, &name, FANS, self.inbound, request).await
    }
}

impl FansOfProducts for FansClient<'_> {
    async fn enlist(&self, product: &ResourceId, user: &ResourceId) -> Result<bool, StoreError> {
        let request = FansRequest::Enlist {
            product: product.clone(),
            user: user.clone(),
        };
        Ok(self.ask(&request).await? == FansAnswer::Enlisted)
    }
}

/// Talking to address objects.
pub struct ClaimsClient<'a> {
    pub env: &'a Env,
    pub inbound: &'a Inbound,
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

    async fn confirm(&self, email: &Email, owner: &ResourceId) -> Result<bool, StoreError> {
        let request = ClaimRequest::Confirm {
            email: email.clone(),
            owner: owner.clone(),
        };
        Ok(self.ask(request).await? == ClaimAnswer::Done)
    }

    async fn release(&self, email: &Email, owner: &ResourceId) -> Result<(), StoreError> {
        let request = ClaimRequest::Release {
            email: email.clone(),
            owner: owner.clone(),
        };
        self.ask(request).await.map(drop)
    }
}

/// Talking to users' writers.
pub struct WritersClient<'a> {
    pub env: &'a Env,
    pub inbound: &'a Inbound,
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
