//! Unattended installs: `/api/v1/templates`, `/api/v1/groups`, `/api/v1/secrets` (admins
//! only, names only), `/api/v1/install/families`, and a client's install
//! (`/api/v1/clients/{mac}/install`, its rendered files for admins).

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Extension;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::require_admin;
use super::clients::MacPath;
use super::error::{ApiResult, ErrorBody, Json, Path};
use super::AppState;
use crate::install::families::{self, Family};
use crate::install::{Group, Template};
use crate::service::access::Caller;
use crate::service::install::{InstallView, TemplateBody};
use crate::users::Role;

/// The install families and the layouts each serves.
#[utoipa::path(get, path = "/api/v1/install/families", tag = "install",
    responses((status = 200, description = "Families", body = Vec<Family>),
              (status = 401, description = "Not logged in", body = ErrorBody)))]
pub async fn list_families() -> Json<Vec<Family>> {
    Json(families::all().to_vec())
}

/// Every template: fleetboot's starters (`starter-<family>`, read-only), then the stored ones.
#[utoipa::path(get, path = "/api/v1/templates", tag = "install",
    responses((status = 200, description = "Templates", body = Vec<Template>),
              (status = 401, description = "Not logged in", body = ErrorBody)))]
pub async fn list_templates(State(state): State<AppState>) -> ApiResult<Json<Vec<Template>>> {
    Ok(Json(state.backend.call(|s| s.templates()).await?))
}

/// One template.
#[utoipa::path(get, path = "/api/v1/templates/{name}", tag = "install",
    params(("name" = String, Path, description = "Template name")),
    responses((status = 200, description = "The template", body = Template),
              (status = 400, description = "Bad name", body = ErrorBody),
              (status = 401, description = "Not logged in", body = ErrorBody),
              (status = 404, description = "No such template", body = ErrorBody)))]
pub async fn show_template(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult<Json<Template>> {
    Ok(Json(
        state.backend.try_call(move |s| s.template(&name)).await?,
    ))
}

/// Creates or replaces a template (checked: family, file names, syntax).
#[utoipa::path(put, path = "/api/v1/templates/{name}", tag = "install",
    params(("name" = String, Path, description = "Template name")),
    request_body = TemplateBody,
    responses((status = 200, description = "The template as stored", body = Template),
              (status = 400, description = "Invalid template", body = ErrorBody),
              (status = 401, description = "Not logged in", body = ErrorBody),
              (status = 403, description = "Viewers cannot change templates", body = ErrorBody)))]
pub async fn put_template(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Json(body): Json<TemplateBody>,
) -> ApiResult<Json<Template>> {
    Ok(Json(
        state
            .backend
            .try_call(move |s| s.put_template(&name, body))
            .await?,
    ))
}

/// Deletes a stored template.
#[utoipa::path(delete, path = "/api/v1/templates/{name}", tag = "install",
    params(("name" = String, Path, description = "Template name")),
    responses((status = 204, description = "Deleted"),
              (status = 400, description = "Bad name", body = ErrorBody),
              (status = 401, description = "Not logged in", body = ErrorBody),
              (status = 403, description = "Viewers cannot delete", body = ErrorBody),
              (status = 404, description = "No such stored template", body = ErrorBody)))]
pub async fn delete_template(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    state
        .backend
        .try_call(move |s| s.delete_template(&name))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Every group.
#[utoipa::path(get, path = "/api/v1/groups", tag = "install",
    responses((status = 200, description = "Groups", body = Vec<Group>),
              (status = 401, description = "Not logged in", body = ErrorBody)))]
pub async fn list_groups(State(state): State<AppState>) -> ApiResult<Json<Vec<Group>>> {
    Ok(Json(state.backend.call(|s| s.groups()).await?))
}

/// `PUT /api/v1/groups/{name}`'s body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupBody {
    /// Template for its members.
    #[serde(default)]
    pub template: Option<String>,
    /// Key/value for its members' templates.
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
}

/// Creates or replaces a group.
#[utoipa::path(put, path = "/api/v1/groups/{name}", tag = "install",
    params(("name" = String, Path, description = "Group name")),
    request_body = GroupBody,
    responses((status = 200, description = "The group", body = Group),
              (status = 400, description = "Bad name or metadata", body = ErrorBody),
              (status = 401, description = "Not logged in", body = ErrorBody),
              (status = 403, description = "Viewers cannot change groups", body = ErrorBody),
              (status = 404, description = "No such template", body = ErrorBody)))]
pub async fn put_group(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Json(body): Json<GroupBody>,
) -> ApiResult<Json<Group>> {
    let group = Group {
        name,
        template: body.template,
        metadata: body.metadata,
    };
    Ok(Json(
        state.backend.try_call(move |s| s.put_group(group)).await?,
    ))
}

/// Deletes a group.
#[utoipa::path(delete, path = "/api/v1/groups/{name}", tag = "install",
    params(("name" = String, Path, description = "Group name")),
    responses((status = 204, description = "Deleted"),
              (status = 400, description = "Bad name", body = ErrorBody),
              (status = 401, description = "Not logged in", body = ErrorBody),
              (status = 403, description = "Viewers cannot delete", body = ErrorBody),
              (status = 404, description = "No such group", body = ErrorBody)))]
pub async fn delete_group(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    state
        .backend
        .try_call(move |s| s.delete_group(&name))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The secrets' names (values are never shown).
#[utoipa::path(get, path = "/api/v1/secrets", tag = "install",
    responses((status = 200, description = "Names", body = Vec<String>),
              (status = 401, description = "Not logged in", body = ErrorBody),
              (status = 403, description = "Admins only", body = ErrorBody)))]
pub async fn list_secrets(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> ApiResult<Json<Vec<String>>> {
    require_admin(&caller)?;
    Ok(Json(state.backend.call(|s| s.secret_names()).await?))
}

/// `PUT /api/v1/secrets/{name}`'s body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SecretBody {
    /// The value (templates read it with `secret("name")`).
    pub value: String,
}

/// Sets a secret.
#[utoipa::path(put, path = "/api/v1/secrets/{name}", tag = "install",
    params(("name" = String, Path, description = "Secret name")),
    request_body = SecretBody,
    responses((status = 204, description = "Stored"),
              (status = 400, description = "Bad name or value", body = ErrorBody),
              (status = 401, description = "Not logged in", body = ErrorBody),
              (status = 403, description = "Admins only", body = ErrorBody)))]
pub async fn put_secret(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Json(body): Json<SecretBody>,
) -> ApiResult<StatusCode> {
    state
        .backend
        .try_call(move |s| s.put_secret(&name, Some(body.value)))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Deletes a secret.
#[utoipa::path(delete, path = "/api/v1/secrets/{name}", tag = "install",
    params(("name" = String, Path, description = "Secret name")),
    responses((status = 204, description = "Deleted"),
              (status = 400, description = "Bad name", body = ErrorBody),
              (status = 401, description = "Not logged in", body = ErrorBody),
              (status = 403, description = "Admins only", body = ErrorBody),
              (status = 404, description = "No such secret", body = ErrorBody)))]
pub async fn delete_secret(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    state
        .backend
        .try_call(move |s| s.put_secret(&name, None))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A machine's install: the template it gets and from where (`client`, `group`, `image`),
/// the kernel parameters added (for viewers without the machine's token: with it anyone
/// could read the rendered files, secrets and all), why none applies, and its last install.
#[utoipa::path(get, path = "/api/v1/clients/{mac}/install", tag = "install",
    params(MacPath),
    responses((status = 200, description = "The install", body = InstallView),
              (status = 400, description = "Not a MAC address", body = ErrorBody),
              (status = 401, description = "Not logged in", body = ErrorBody),
              (status = 404, description = "No such client", body = ErrorBody)))]
pub async fn show_install(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(MacPath { mac }): Path<MacPath>,
) -> ApiResult<Json<InstallView>> {
    let mut view = state
        .backend
        .try_call(move |s| s.install_view(&mac))
        .await?;
    if caller.role != Role::Admin {
        view.kernel_args = view.kernel_args.map(|a| redact_token(&a));
    }
    Ok(Json(view))
}

/// `…/t/<token>/…` as `…/t/…/…`.
fn redact_token(args: &str) -> String {
    args.split(' ')
        .map(|arg| match arg.split_once("/t/") {
            Some((head, rest)) => {
                let tail = rest.split_once('/').map_or("", |(_, t)| t);
                format!("{head}/t/…/{tail}")
            }
            None => arg.to_owned(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// One rendered file.
#[derive(Debug, Serialize, ToSchema)]
pub struct RenderedFile {
    /// Its name.
    pub file: String,
    /// Its text as the installer gets it (secrets included; the server's address as
    /// `@fleetboot-server@`).
    pub text: String,
}

/// A machine's files as its installer gets them (admins only: secrets are in them).
#[utoipa::path(get, path = "/api/v1/clients/{mac}/install/files", tag = "install",
    params(MacPath),
    responses((status = 200, description = "Rendered files", body = Vec<RenderedFile>),
              (status = 400, description = "Not a MAC address", body = ErrorBody),
              (status = 401, description = "Not logged in", body = ErrorBody),
              (status = 403, description = "Admins only", body = ErrorBody),
              (status = 404, description = "No such client or image", body = ErrorBody),
              (status = 409, description = "No template applies, or it does not render", body = ErrorBody)))]
pub async fn rendered(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(MacPath { mac }): Path<MacPath>,
) -> ApiResult<Json<Vec<RenderedFile>>> {
    require_admin(&caller)?;
    let files = state.backend.try_call(move |s| s.rendered(&mac)).await?;
    Ok(Json(
        files
            .into_iter()
            .map(|(file, text)| RenderedFile { file, text })
            .collect(),
    ))
}

#[cfg(test)]
mod tests {
    #[test]
    fn tokens_are_cut_out_of_kernel_parameters() {
        assert_eq!(
            super::redact_token("autoinstall ds=nocloud-net;s=http://h:8080/t/0123abcd/ x=1"),
            "autoinstall ds=nocloud-net;s=http://h:8080/t/…/ x=1"
        );
        assert_eq!(
            super::redact_token("inst.ks=http://h/t/ffee/ks.cfg"),
            "inst.ks=http://h/t/…/ks.cfg"
        );
    }
}
