//! Envelope encryption with KMS: `GenerateDataKey` (AES-256) per secret, the secret sealed with
//! AES-256-GCM under that data key, and only the KMS-encrypted data key stored beside it. The
//! organisation and the purpose are the KMS encryption context and the AEAD's associated data,
//! so a sealed value opens only where it was sealed. The plaintext data key lives for one call.

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::DataKeySpec;
use helpdesk_domain::{OrgId, SealFuture, SealedSecret, SecretSealer};

#[derive(Debug, Clone)]
pub struct KmsEnvelope {
    client: aws_sdk_kms::Client,
    /// The master key: id, ARN or alias (`DATA_KEY_ID` in the functions).
    key_id: String,
}

impl KmsEnvelope {
    pub fn new(config: &aws_config::SdkConfig, key_id: impl Into<String>) -> Self {
        Self { client: aws_sdk_kms::Client::new(config), key_id: key_id.into() }
    }

    fn context(org: OrgId, purpose: &str) -> String {
        format!("helpdesk/{org}/{purpose}")
    }

    async fn seal_secret(&self, org: OrgId, purpose: &str, plaintext: &[u8]) -> Result<SealedSecret, String> {
        let data_key = self
            .client
            .generate_data_key()
            .key_id(&self.key_id)
            .key_spec(DataKeySpec::Aes256)
            .encryption_context("organization_id", org.to_string())
            .encryption_context("purpose", purpose)
            .send()
            .await
            .map_err(|e| format!("KMS GenerateDataKey: {}", aws_sdk_kms::error::DisplayErrorContext(e)))?;
        let (Some(key), Some(encrypted_key)) = (data_key.plaintext(), data_key.ciphertext_blob()) else {
            return Err("KMS GenerateDataKey returned no key".into());
        };
        let key = aead_key(key.as_ref())?;
        let mut nonce = [0u8; NONCE_LEN];
        aws_lc_rs::rand::fill(&mut nonce).map_err(|_| "no randomness for a nonce".to_string())?;
        let mut ciphertext = plaintext.to_vec();
        key.seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(Self::context(org, purpose).as_bytes()),
            &mut ciphertext,
        )
        .map_err(|_| "sealing failed".to_string())?;
        Ok(SealedSecret { encrypted_key: encrypted_key.as_ref().to_vec(), nonce: nonce.to_vec(), ciphertext })
    }

    async fn open_secret(&self, org: OrgId, purpose: &str, sealed: &SealedSecret) -> Result<Vec<u8>, String> {
        let data_key = self
            .client
            .decrypt()
            .key_id(&self.key_id)
            .ciphertext_blob(Blob::new(sealed.encrypted_key.clone()))
            .encryption_context("organization_id", org.to_string())
            .encryption_context("purpose", purpose)
            .send()
            .await
            .map_err(|e| format!("KMS Decrypt: {}", aws_sdk_kms::error::DisplayErrorContext(e)))?;
        let key = aead_key(data_key.plaintext().ok_or("KMS Decrypt returned no key")?.as_ref())?;
        let nonce = Nonce::try_assume_unique_for_key(&sealed.nonce).map_err(|_| "bad nonce".to_string())?;
        let mut buffer = sealed.ciphertext.clone();
        let plaintext = key
            .open_in_place(nonce, Aad::from(Self::context(org, purpose).as_bytes()), &mut buffer)
            .map_err(|_| "the secret does not open: tampered with, or sealed for another organisation or purpose")?;
        Ok(plaintext.to_vec())
    }
}

fn aead_key(bytes: &[u8]) -> Result<LessSafeKey, String> {
    Ok(LessSafeKey::new(UnboundKey::new(&AES_256_GCM, bytes).map_err(|_| "not an AES-256 key".to_string())?))
}

impl SecretSealer for KmsEnvelope {
    fn seal<'a>(&'a self, org: OrgId, purpose: &'a str, plaintext: &'a [u8]) -> SealFuture<'a, SealedSecret> {
        Box::pin(self.seal_secret(org, purpose, plaintext))
    }

    fn open<'a>(&'a self, org: OrgId, purpose: &'a str, sealed: &'a SealedSecret) -> SealFuture<'a, Vec<u8>> {
        Box::pin(self.open_secret(org, purpose, sealed))
    }
}
