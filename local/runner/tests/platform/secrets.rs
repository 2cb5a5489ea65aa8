//! Envelope encryption of tenants' secrets against the AWS emulator's KMS: a secret opens only
//! for the organisation and purpose it was sealed for, and never sits in the clear.

use crate::helpers::{provision, sdk_config, test_env};
use helpdesk_aws::KmsEnvelope;
use helpdesk_domain::{OrgId, SecretSealer, LLM_API_KEY_PURPOSE as PURPOSE};

#[tokio::test]
async fn a_sealed_secret_opens_only_for_its_organisation_and_purpose() {
    let env = test_env();
    let stack = format!("t{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let resources = provision(&env, &stack, &env.endpoint).await;
    let key = resources.physical_id("DataKey").expect("the stack has its data key");
    let kms = KmsEnvelope::new(&sdk_config(&env.endpoint).await, key);
    let (org, other) = (OrgId::new(), OrgId::new());
    let api_key = b"sk-live-0123456789abcdef";

    let sealed = kms.seal(org, PURPOSE, api_key).await.unwrap();
    assert!(!sealed.ciphertext.windows(api_key.len()).any(|w| w == api_key), "not in the clear");
    assert_eq!(kms.open(org, PURPOSE, &sealed).await.unwrap(), api_key);
    // A fresh data key and nonce each time: the same secret never seals the same way twice.
    let again = kms.seal(org, PURPOSE, api_key).await.unwrap();
    assert_ne!((&again.encrypted_key, &again.ciphertext), (&sealed.encrypted_key, &sealed.ciphertext));

    assert!(kms.open(other, PURPOSE, &sealed).await.is_err(), "another organisation");
    assert!(kms.open(org, "mailbox_password", &sealed).await.is_err(), "another purpose");
    let mut tampered = sealed.clone();
    tampered.ciphertext[0] ^= 1;
    assert!(kms.open(org, PURPOSE, &tampered).await.is_err(), "tampered with");
}
