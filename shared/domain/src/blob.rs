//! The port to object storage (S3 behind `helpdesk-aws`): model artifacts now, attachments,
//! raw mail and reports later. Keys are paths chosen by the caller; values are bytes.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;

/// What a [`BlobStore`] call returns (boxed, so generic callers stay `Send`).
pub type BlobFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, String>> + Send + 'a>>;

pub trait BlobStore: Send + Sync {
    fn put<'a>(&'a self, key: &'a str, bytes: Vec<u8>) -> BlobFuture<'a, ()>;
    /// `None` when there is no such object.
    fn get<'a>(&'a self, key: &'a str) -> BlobFuture<'a, Option<Vec<u8>>>;
}

/// Objects in memory, for unit tests of code written against the port.
#[derive(Debug, Default)]
pub struct MemoryBlobs(Mutex<HashMap<String, Vec<u8>>>);

impl MemoryBlobs {
    pub fn keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = self.0.lock().expect("not poisoned").keys().cloned().collect();
        keys.sort();
        keys
    }
}

impl BlobStore for MemoryBlobs {
    fn put<'a>(&'a self, key: &'a str, bytes: Vec<u8>) -> BlobFuture<'a, ()> {
        self.0.lock().expect("not poisoned").insert(key.to_string(), bytes);
        Box::pin(async { Ok(()) })
    }

    fn get<'a>(&'a self, key: &'a str) -> BlobFuture<'a, Option<Vec<u8>>> {
        let found = self.0.lock().expect("not poisoned").get(key).cloned();
        Box::pin(async move { Ok(found) })
    }
}
