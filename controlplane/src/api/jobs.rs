//! Getting ISOs in: `POST /api/v1/images` (a streamed multipart upload) and
//! `POST /api/v1/images/download` (a download job), and `/api/v1/jobs`.

use std::time::Duration;

use axum::body::Body;
use axum::extract::{FromRequest, Multipart, Request, State};
use axum::http::StatusCode;
use futures_util::StreamExt;
use serde::Serialize;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use utoipa::ToSchema;

use super::error::{ApiError, ApiResult, ErrorBody, Json, Path};
use super::AppState;
use crate::service::images::{id_of, ImageView};
use crate::service::ErrorKind;
use crate::transfer::{self, DownloadRequest, JobId, JobStatus, TransferError, Uploaded};

impl From<TransferError> for ApiError {
    fn from(e: TransferError) -> ApiError {
        let kind = match &e {
            TransferError::BadInput(_) => ErrorKind::BadRequest,
            TransferError::NotFound(_) => ErrorKind::NotFound,
            TransferError::Exists(_) => ErrorKind::Conflict,
            TransferError::TooLarge(_) => ErrorKind::TooLarge,
            TransferError::Busy(_) => ErrorKind::Unavailable,
            TransferError::Internal(_) => ErrorKind::Internal,
        };
        ApiError::new(kind, e.to_string())
    }
}

/// An upload's result: the file, and the image detected in it.
#[derive(Debug, Serialize, ToSchema)]
pub struct UploadResult {
    /// The file as stored.
    pub file: Uploaded,
    /// The image, as detected by the scan that followed.
    pub image: Option<ImageView>,
}

/// The multipart form of an upload (for the document).
#[derive(ToSchema)]
#[allow(dead_code)]
struct UploadForm {
    /// The ISO; its file name names it (`.iso`).
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
    /// Folder under `data/isos/` (`linux/servers`), optional.
    folder: Option<String>,
}

/// Uploads an ISO (multipart: field `file`, optional field `folder`): streamed to a hidden
/// file with its SHA-256 computed on the way, synced, then moved into place and scanned. An
/// interrupted upload leaves nothing.
#[utoipa::path(post, path = "/api/v1/images", tag = "images",
    request_body(content = UploadForm, content_type = "multipart/form-data"),
    responses((status = 201, description = "Stored and scanned", body = UploadResult),
              (status = 400, description = "Bad form or name", body = ErrorBody),
              (status = 401, description = "Not logged in", body = ErrorBody),
              (status = 403, description = "Viewers cannot upload", body = ErrorBody),
              (status = 409, description = "An ISO of that name exists", body = ErrorBody),
              (status = 413, description = "Larger than the upload limit", body = ErrorBody)))]
pub async fn upload(
    State(state): State<AppState>,
    request: Request,
) -> ApiResult<(StatusCode, Json<UploadResult>)> {
    let multipart = Multipart::from_request(lingering(request), &state)
        .await
        .map_err(|e| ApiError::new(ErrorKind::BadRequest, e.body_text()))?;
    let file = transfer::receive_multipart(multipart, &state.data_dir, state.upload_max).await?;
    tracing::info!(path = %file.path, size = file.size, sha256 = %file.sha256, "ISO uploaded");
    state.backend.rescan().await?;
    let id = id_of(&file.path);
    let image = state.backend.call(move |s| s.image_view(&id).ok()).await?;
    Ok((StatusCode::CREATED, Json(UploadResult { file, image })))
}

/// How long the rest of a refused upload is still read, so its sender sees the answer.
const LINGER: Duration = Duration::from_secs(10);

/// `request` with its body read by a task of its own. When the handler stops reading early (a
/// bad name, a taken name, over the cap), the task keeps reading and discarding for up to
/// [`LINGER`]: were the connection closed with unread bytes, the kernel would reset it and
/// the client, still sending, would get a broken pipe instead of the 4xx answer (nginx's
/// "lingering close").
fn lingering(request: Request) -> Request {
    let (parts, body) = request.into_parts();
    let mut body = body.into_data_stream();
    let (tx, rx) = mpsc::channel(4);
    tokio::spawn(async move {
        while let Some(chunk) = body.next().await {
            if tx.send(chunk).await.is_err() {
                let drain = async { while let Some(Ok(_)) = body.next().await {} };
                let _ = tokio::time::timeout(LINGER, drain).await;
                return;
            }
        }
    });
    Request::from_parts(parts, Body::from_stream(ReceiverStream::new(rx)))
}

/// Downloads an ISO from a URL as a job: streamed, resumed after a dropped connection,
/// checked against `sha256` when given, then scanned. Progress: `GET /api/v1/jobs/{id}` and
/// `job` events.
#[utoipa::path(post, path = "/api/v1/images/download", tag = "images",
    request_body = DownloadRequest,
    responses((status = 202, description = "The job", body = JobStatus),
              (status = 400, description = "Bad URL, path or checksum", body = ErrorBody),
              (status = 401, description = "Not logged in", body = ErrorBody),
              (status = 403, description = "Viewers cannot download", body = ErrorBody),
              (status = 409, description = "The destination exists", body = ErrorBody),
              (status = 503, description = "Too many jobs waiting", body = ErrorBody)))]
pub async fn download(
    State(state): State<AppState>,
    Json(request): Json<DownloadRequest>,
) -> ApiResult<(StatusCode, Json<JobStatus>)> {
    let id = state.jobs.start_download(request)?;
    let status = state
        .jobs
        .get(id)
        .ok_or_else(|| ApiError::new(ErrorKind::Internal, "the job vanished"))?;
    Ok((StatusCode::ACCEPTED, Json(status)))
}

/// Every job (running, waiting, and the last finished).
#[utoipa::path(get, path = "/api/v1/jobs", tag = "images",
    responses((status = 200, description = "Jobs", body = Vec<JobStatus>),
              (status = 401, description = "Not logged in", body = ErrorBody)))]
pub async fn list(State(state): State<AppState>) -> Json<Vec<JobStatus>> {
    Json(state.jobs.list())
}

fn job_id(text: &str) -> Result<JobId, ApiError> {
    text.parse().map_err(ApiError::from)
}

/// One job.
#[utoipa::path(get, path = "/api/v1/jobs/{id}", tag = "images",
    params(("id" = u64, Path, description = "Job id")),
    responses((status = 200, description = "The job", body = JobStatus),
              (status = 400, description = "Not a job id", body = ErrorBody),
              (status = 401, description = "Not logged in", body = ErrorBody),
              (status = 404, description = "No such job", body = ErrorBody)))]
pub async fn show(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<JobStatus>> {
    let id = job_id(&id)?;
    state
        .jobs
        .get(id)
        .map(Json)
        .ok_or_else(|| ApiError::new(ErrorKind::NotFound, format!("no job {id}")))
}

/// Cancels a job (its partial file is removed); a finished job is left as it is.
#[utoipa::path(delete, path = "/api/v1/jobs/{id}", tag = "images",
    params(("id" = u64, Path, description = "Job id")),
    responses((status = 200, description = "The job, cancelled", body = JobStatus),
              (status = 400, description = "Not a job id", body = ErrorBody),
              (status = 401, description = "Not logged in", body = ErrorBody),
              (status = 403, description = "Viewers cannot cancel", body = ErrorBody),
              (status = 404, description = "No such job", body = ErrorBody)))]
pub async fn cancel(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<JobStatus>> {
    Ok(Json(state.jobs.cancel(job_id(&id)?)?))
}
