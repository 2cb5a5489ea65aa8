//! The knowledge base's articles. Each write is announced on `kb-indexing` (through the outbox,
//! in the same transaction), and the indexer makes the article's passages searchable: the
//! answer comes before the indexing, and `indexed_version` says when it has caught up.

use super::conversations::Page;
use super::parse_id;
use crate::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use helpdesk_domain::text::{check_text, display_name};
use helpdesk_domain::{Permission, ValidationError};
use helpdesk_http::{ApiError, ApiJson, ApiQuery, AuthContext, Cursor, Problem, RequestId};
use helpdesk_store::{ArticleInput, ArticleRecord};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ArticleBody {
    /// 1 to 300 characters.
    #[schema(example = "How refunds work")]
    pub title: String,
    /// Markdown, up to 200,000 characters.
    #[schema(example = "Refunds reach your card within 5 working days.")]
    pub body: String,
    /// Up to 20 tags of 1 to 50 characters.
    #[serde(default)]
    pub tags: Vec<String>,
    /// ISO 639-3 (`eng` by default).
    #[serde(default)]
    #[schema(example = "eng")]
    pub language: Option<String>,
    /// Drafts use published articles only (`false` by default).
    #[serde(default)]
    pub published: bool,
}

impl ArticleBody {
    fn parse(self) -> Result<ArticleInput, ApiError> {
        let mut errors = Vec::new();
        let title = display_name(&self.title, 300).map_err(|e| errors.push(ValidationError::new("title", e)));
        let title = title.unwrap_or_default();
        if let Err(e) = check_text(&self.body, 200_000, false) {
            errors.push(ValidationError::new("body", e));
        }
        if self.tags.len() > 20 {
            errors.push(ValidationError::new("tags", "at most 20 tags"));
        }
        let tags: Vec<String> = self
            .tags
            .iter()
            .filter_map(|t| display_name(t, 50).map_err(|e| errors.push(ValidationError::new("tags", e))).ok())
            .collect();
        let language = self.language.unwrap_or_else(|| "eng".into());
        if !helpdesk_domain::is_language_code(&language) {
            errors.push(ValidationError::new("language", "an ISO 639-3 code such as eng, spa, fra"));
        }
        if !errors.is_empty() {
            return Err(ApiError::Validation(errors));
        }
        Ok(ArticleInput { title, body: self.body, tags, language, published: self.published })
    }
}

/// `POST /v1/kb/articles`: a new article; its passages become searchable once indexed.
#[utoipa::path(
    post, path = "/v1/kb/articles", tag = "kb",
    request_body = ArticleBody,
    responses(
        (status = 201, description = "Created (indexing follows)", body = ArticleRecord),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over 256 KB", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["kb:write"]))
)]
pub async fn create(
    State(state): State<AppState>,
    auth: AuthContext,
    Extension(request_id): Extension<RequestId>,
    ApiJson(body): ApiJson<ArticleBody>,
) -> Result<(StatusCode, Json<ArticleRecord>), ApiError> {
    auth.require(Permission::KbWrite)?;
    let input = body.parse()?;
    let (article, record) =
        state.store.create_article(auth.org, auth.user_id().ok(), &input, Some(&request_id.0)).await?;
    helpdesk_platform::outbox::relay_now(&state.store, &state.publisher, auth.org, std::slice::from_ref(&record)).await;
    Ok((StatusCode::CREATED, Json(article)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    /// Only published (`true`) or unpublished (`false`) articles.
    published: Option<bool>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Page size; 25 by default.
    #[param(minimum = 1, maximum = 100)]
    limit: Option<i64>,
}

/// `GET /v1/kb/articles`: most recently edited first, cursor-paginated.
#[utoipa::path(
    get, path = "/v1/kb/articles", tag = "kb",
    params(ListParams),
    responses(
        (status = 200, description = "A page of articles", body = Page<ArticleRecord>),
        (status = 400, description = "A bad cursor or limit", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["kb:read"]))
)]
pub async fn list(
    State(state): State<AppState>,
    auth: AuthContext,
    ApiQuery(params): ApiQuery<ListParams>,
) -> Result<Json<Page<ArticleRecord>>, ApiError> {
    auth.require(Permission::KbRead)?;
    let after = params
        .cursor
        .filter(|c| !c.is_empty())
        .map(|c| Cursor::decode(&c).ok_or_else(|| ApiError::BadRequest("cursor is not one this API issued".into())))
        .transpose()?;
    let limit = params.limit.unwrap_or(25);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::BadRequest("limit must be between 1 and 100".into()));
    }
    let mut data =
        state.store.list_articles(auth.org, params.published, after.map(|c| (c.at, c.id)), limit + 1).await?;
    let next_cursor = if data.len() as i64 > limit {
        data.truncate(limit as usize);
        data.last().map(|a| Cursor { at: a.updated_at, id: a.id }.encode())
    } else {
        None
    };
    Ok(Json(Page { data, next_cursor }))
}

/// `GET /v1/kb/articles/{id}`
#[utoipa::path(
    get, path = "/v1/kb/articles/{id}", tag = "kb",
    params(("id" = uuid::Uuid, Path, description = "Article id")),
    responses(
        (status = 200, description = "The article", body = ArticleRecord),
        (status = 400, description = "Malformed id", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such article in your organisation", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["kb:read"]))
)]
pub async fn show(
    State(state): State<AppState>,
    auth: AuthContext,
    Path(id): Path<String>,
) -> Result<Json<ArticleRecord>, ApiError> {
    auth.require(Permission::KbRead)?;
    let id: uuid::Uuid = parse_id(&id, "article")?;
    state
        .store
        .article(auth.org, id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("article {id} not found")))
}

/// `PUT /v1/kb/articles/{id}`: replaces the article (a new version, indexed again).
#[utoipa::path(
    put, path = "/v1/kb/articles/{id}", tag = "kb",
    params(("id" = uuid::Uuid, Path, description = "Article id")),
    request_body = ArticleBody,
    responses(
        (status = 200, description = "Saved (indexing follows)", body = ArticleRecord),
        (status = 400, description = "Malformed id or JSON", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such article in your organisation", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over 256 KB", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["kb:write"]))
)]
pub async fn update(
    State(state): State<AppState>,
    auth: AuthContext,
    Extension(request_id): Extension<RequestId>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ArticleBody>,
) -> Result<Json<ArticleRecord>, ApiError> {
    auth.require(Permission::KbWrite)?;
    let id: uuid::Uuid = parse_id(&id, "article")?;
    let input = body.parse()?;
    let (article, record) = state
        .store
        .update_article(auth.org, id, auth.user_id().ok(), &input, Some(&request_id.0))
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("article {id} not found")))?;
    helpdesk_platform::outbox::relay_now(&state.store, &state.publisher, auth.org, std::slice::from_ref(&record)).await;
    Ok(Json(article))
}

/// `DELETE /v1/kb/articles/{id}`: the article and its passages, at once.
#[utoipa::path(
    delete, path = "/v1/kb/articles/{id}", tag = "kb",
    params(("id" = uuid::Uuid, Path, description = "Article id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "Malformed id", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such article in your organisation", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["kb:write"]))
)]
pub async fn delete(
    State(state): State<AppState>,
    auth: AuthContext,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    auth.require(Permission::KbWrite)?;
    let id: uuid::Uuid = parse_id(&id, "article")?;
    if state.store.delete_article(auth.org, id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound(format!("article {id} not found")))
    }
}
