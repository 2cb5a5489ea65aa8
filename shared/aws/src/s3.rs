use aws_sdk_s3::primitives::ByteStream;
use helpdesk_domain::blob::BlobFuture;
use helpdesk_domain::BlobStore;
use std::path::Path;

/// Objects in one bucket (SSE-KMS is the bucket's default, so nothing is sent per object).
#[derive(Debug, Clone)]
pub struct S3Blobs {
    client: aws_sdk_s3::Client,
    bucket: String,
}

impl S3Blobs {
    pub fn new(client: aws_sdk_s3::Client, bucket: impl Into<String>) -> Self {
        Self { client, bucket: bucket.into() }
    }

    /// A client for large objects (model files), from the function's SDK configuration with
    /// longer limits: its five-second operation limit is for small calls. Path-style addressing
    /// works with moto and LocalStack as with AWS.
    pub fn client_for_large_objects(sdk: &aws_config::SdkConfig) -> aws_sdk_s3::Client {
        let timeouts = aws_config::timeout::TimeoutConfig::builder()
            .connect_timeout(std::time::Duration::from_secs(2))
            .operation_timeout(std::time::Duration::from_secs(120))
            .build();
        aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(sdk).timeout_config(timeouts).force_path_style(true).build(),
        )
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// A URL that lets whoever holds it download `key` for `expires_in` (SigV4 query
    /// presigning), answered with `content_type` and as an attachment named `filename` (so a
    /// browser saves a customer's file rather than rendering it on our origin).
    pub async fn presigned_get(
        &self,
        key: &str,
        expires_in: std::time::Duration,
        content_type: &str,
        filename: Option<&str>,
    ) -> Result<String, String> {
        let config = aws_sdk_s3::presigning::PresigningConfig::expires_in(expires_in).map_err(|e| e.to_string())?;
        // RFC 6266 / RFC 8187: an ASCII fallback and the UTF-8 name, percent-encoded.
        let disposition = match filename {
            Some(name) => {
                let ascii: String = name
                    .chars()
                    .map(|c| if c.is_ascii_graphic() && !matches!(c, '"' | '\\' | ';' | '%') { c } else { '_' })
                    .collect();
                let encoded: String = name
                    .bytes()
                    .map(|b| {
                        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                            (b as char).to_string()
                        } else {
                            format!("%{b:02X}")
                        }
                    })
                    .collect();
                format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
            }
            None => "attachment".to_string(),
        };
        let request = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .response_content_type(content_type)
            .response_content_disposition(disposition)
            .presigned(config)
            .await
            .map_err(|e| {
                format!("presigning s3://{}/{key}: {}", self.bucket, aws_sdk_s3::error::DisplayErrorContext(e))
            })?;
        Ok(request.uri().to_string())
    }

    /// Copies every object under `prefix` into `dir` (file names without the prefix), skipping
    /// files already there with the same size: a warm container's `/tmp` keeps them.
    pub async fn download_prefix(&self, prefix: &str, dir: &Path) -> Result<usize, String> {
        tokio::fs::create_dir_all(dir).await.map_err(|e| format!("{}: {e}", dir.display()))?;
        let listing = self.client.list_objects_v2().bucket(&self.bucket).prefix(prefix).send().await.map_err(|e| {
            format!("listing s3://{}/{prefix}: {}", self.bucket, aws_sdk_s3::error::DisplayErrorContext(e))
        })?;
        let mut copied = 0;
        for object in listing.contents() {
            let Some(key) = object.key() else { continue };
            let name = key.strip_prefix(prefix).unwrap_or(key).trim_start_matches('/');
            if name.is_empty() || name.contains('/') {
                continue;
            }
            let target = dir.join(name);
            let size = object.size().unwrap_or(-1);
            if tokio::fs::metadata(&target).await.is_ok_and(|m| m.len() as i64 == size) {
                continue;
            }
            let bytes = self.get(key).await?.ok_or_else(|| format!("s3://{}/{key} vanished", self.bucket))?;
            // Write then rename, so a half-written file is never taken for a whole one.
            let partial = dir.join(format!(".{name}.partial"));
            tokio::fs::write(&partial, bytes).await.map_err(|e| format!("{}: {e}", partial.display()))?;
            tokio::fs::rename(&partial, &target).await.map_err(|e| format!("{}: {e}", target.display()))?;
            copied += 1;
        }
        Ok(copied)
    }
}

impl BlobStore for S3Blobs {
    fn put<'a>(&'a self, key: &'a str, bytes: Vec<u8>) -> BlobFuture<'a, ()> {
        Box::pin(async move {
            self.client
                .put_object()
                .bucket(&self.bucket)
                .key(key)
                .body(ByteStream::from(bytes))
                .send()
                .await
                .map(|_| ())
                .map_err(|e| {
                    format!("putting s3://{}/{key}: {}", self.bucket, aws_sdk_s3::error::DisplayErrorContext(e))
                })
        })
    }

    fn get<'a>(&'a self, key: &'a str) -> BlobFuture<'a, Option<Vec<u8>>> {
        Box::pin(async move {
            let object = match self.client.get_object().bucket(&self.bucket).key(key).send().await {
                Ok(object) => object,
                Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => return Ok(None),
                Err(e) => {
                    return Err(format!(
                        "getting s3://{}/{key}: {}",
                        self.bucket,
                        aws_sdk_s3::error::DisplayErrorContext(e)
                    ))
                }
            };
            let body = object.body.collect().await.map_err(|e| format!("reading s3://{}/{key}: {e}", self.bucket))?;
            Ok(Some(body.into_bytes().to_vec()))
        })
    }
}
