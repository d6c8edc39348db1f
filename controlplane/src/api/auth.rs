//! Authentication and roles. Every route but `/health`, `POST /api/v1/login` and the web
//! console's static files (`/`, `/ui/…`) needs a
//! caller: a bearer secret (`Authorization: Bearer …`, a login session or an API token) or
//! the session cookie the login sets for the web UI. Callers on the control socket are
//! trusted (its file mode lets only the server's user in). Viewers read; writing needs an
//! admin. Failed logins are limited per source address.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Extension;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::{ApiError, ApiResult, ErrorBody, Json};
use super::listener::Peer;
use super::AppState;
use crate::service::access::{Caller, Issued};
use crate::service::ErrorKind;
use crate::users::{password, Role};

/// The session cookie's name.
pub const COOKIE: &str = "fleetboot_session";

/// Marks requests that came through the control socket.
#[derive(Debug, Clone, Copy)]
pub struct Trusted;

/// The caller on the control socket.
fn root() -> Caller {
    Caller {
        user: "root".into(),
        role: Role::Admin,
        grant: None,
    }
}

/// Paths open to anyone: health, login, and the console's static files (no data in them).
fn is_open(path: &str) -> bool {
    path == "/health" || path == "/api/v1/login" || super::ui::is_console(path)
}

/// Middleware: finds the caller, refuses the unauthenticated (401) and viewers writing (403),
/// and hands the [`Caller`] to handlers.
pub async fn guard(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    if is_open(req.uri().path()) {
        return next.run(req).await;
    }
    let caller = if req.extensions().get::<Trusted>().is_some() {
        Some(root())
    } else {
        secret(&req).and_then(|s| state.grants.check(&s))
    };
    let Some(caller) = caller else {
        return refuse(
            &req,
            ApiError::new(
                ErrorKind::Unauthorized,
                "log in first (POST /api/v1/login), then send the token as `Authorization: Bearer …`",
            ),
        );
    };
    let reads = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if !reads && caller.role != Role::Admin && req.uri().path() != "/api/v1/logout" {
        return refuse(
            &req,
            ApiError::new(
                ErrorKind::Forbidden,
                format!("{} is a viewer: read-only", caller.user),
            ),
        );
    }
    req.extensions_mut().insert(caller);
    next.run(req).await
}

/// A refusal sent before the request body is read. hyper then closes the connection (the
/// body may still be on its way) without saying so: `Connection: close` tells the client not
/// to send its next request on it.
fn refuse(req: &Request, error: ApiError) -> Response {
    let mut response = error.into_response();
    let headers = req.headers();
    let body = headers
        .get(header::CONTENT_LENGTH)
        .map_or(headers.contains_key(header::TRANSFER_ENCODING), |n| {
            n != "0"
        });
    if body {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// The bearer secret, else the session cookie's.
fn secret(req: &Request) -> Option<String> {
    let headers = req.headers();
    if let Some(auth) = headers.get(header::AUTHORIZATION) {
        let text = auth.to_str().ok()?;
        let (scheme, token) = text.split_once(' ')?;
        return scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| token.trim().to_owned());
    }
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| {
            let (name, value) = pair.trim().split_once('=')?;
            (name == COOKIE).then(|| value.to_owned())
        })
}

/// Refuses an admin-only request from a viewer (for reads reserved to admins).
///
/// # Errors
/// 403 for a viewer.
pub fn require_admin(caller: &Caller) -> Result<(), ApiError> {
    if caller.role == Role::Admin {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorKind::Forbidden,
            format!("{} is a viewer: this needs an admin", caller.user),
        ))
    }
}

/// Failed logins per source address over the last minute.
pub struct LoginLimiter {
    max: usize,
    failures: Mutex<HashMap<IpAddr, VecDeque<Instant>>>,
}

/// The window failed logins are counted over.
const LOGIN_WINDOW: Duration = Duration::from_secs(60);

/// Sources tracked at most: beyond, the oldest are forgotten (bounded memory under a spray).
const LOGIN_SOURCES: usize = 65_536;

impl LoginLimiter {
    /// At most `max` failures per source per minute.
    pub fn new(max: usize) -> LoginLimiter {
        LoginLimiter {
            max: max.max(1),
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// Seconds until `ip` may try again, if it is locked out.
    fn locked(&self, ip: IpAddr, now: Instant) -> Option<u64> {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let times = map.get_mut(&ip)?;
        while times
            .front()
            .is_some_and(|t| now.duration_since(*t) >= LOGIN_WINDOW)
        {
            times.pop_front();
        }
        if times.len() < self.max {
            return None;
        }
        let oldest = *times.front()?;
        Some((LOGIN_WINDOW - now.duration_since(oldest)).as_secs().max(1))
    }

    fn fail(&self, ip: IpAddr, now: Instant) {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= LOGIN_SOURCES && !map.contains_key(&ip) {
            map.retain(|_, t| {
                t.back()
                    .is_some_and(|t| now.duration_since(*t) < LOGIN_WINDOW)
            });
            if map.len() >= LOGIN_SOURCES {
                map.clear();
            }
        }
        let times = map.entry(ip).or_default();
        times.push_back(now);
        if times.len() > self.max {
            times.pop_front();
        }
    }
}

/// `POST /api/v1/login`'s body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// User name.
    pub username: String,
    /// Password.
    pub password: String,
}

/// Who is logged in (`GET /api/v1/me`).
#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    /// User name (`root` on the control socket).
    pub user: String,
    /// What the caller may do.
    pub role: Role,
}

/// Logs in: a session token (also set as an HttpOnly, SameSite=Strict cookie).
#[utoipa::path(post, path = "/api/v1/login", tag = "auth", security(()),
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Logged in", body = Issued),
        (status = 400, description = "Malformed request", body = ErrorBody),
        (status = 401, description = "Wrong user name or password", body = ErrorBody),
        (status = 429, description = "Too many failed logins from this address", body = ErrorBody,
            headers(("retry-after" = u64, description = "Seconds until this address may try again"))),
    ))]
pub async fn login(
    State(state): State<AppState>,
    peer: Option<Extension<Peer>>,
    Json(body): Json<LoginRequest>,
) -> ApiResult<Response> {
    let ip = peer.and_then(|Extension(p)| p.0).map(|a| a.ip());
    let now = Instant::now();
    if let Some(wait) = ip.and_then(|ip| state.logins.locked(ip, now)) {
        return Err(ApiError {
            retry_after: Some(wait),
            ..ApiError::new(
                ErrorKind::RateLimited,
                format!("too many failed logins from this address; try again in {wait} s"),
            )
        });
    }
    let name = body.username.clone();
    let credentials = state
        .backend
        .try_call(move |s| s.credentials(&name))
        .await?;
    let given = body.password;
    // argon2id costs tens of milliseconds of CPU: off the runtime's threads.
    let role = tokio::task::spawn_blocking(move || match credentials {
        Some((hash, role)) => password::verify(&hash, &given).then_some(role),
        None => {
            password::verify_nobody(&given);
            None
        }
    })
    .await
    .map_err(|e| ApiError::new(ErrorKind::Internal, e.to_string()))?;
    let Some(role) = role else {
        if let Some(ip) = ip {
            state.logins.fail(ip, now);
        }
        tracing::warn!(user = %body.username, source = ?ip, "failed login");
        return Err(ApiError::new(
            ErrorKind::Unauthorized,
            "wrong user name or password",
        ));
    };
    let user = body.username;
    let ttl = state.session_ttl.as_secs();
    let issued = state
        .backend
        .try_call(move |s| s.open_session(&user, role, ttl))
        .await?;
    let cookie = format!(
        "{COOKIE}={}; HttpOnly; SameSite=Strict; Path=/; Max-Age={ttl}",
        issued.token
    );
    let mut response = Json(issued).into_response();
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, v);
    }
    Ok(response)
}

/// Logs out: the session (or token) used is revoked, and the cookie cleared.
#[utoipa::path(post, path = "/api/v1/logout", tag = "auth",
    responses(
        (status = 204, description = "Logged out"),
        (status = 401, description = "Not logged in", body = ErrorBody),
    ))]
pub async fn logout(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> ApiResult<Response> {
    if let Some(id) = caller.grant {
        state.backend.try_call(move |s| s.revoke(&[id])).await?;
    }
    let mut response = axum::http::StatusCode::NO_CONTENT.into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static(
            "fleetboot_session=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0",
        ),
    );
    Ok(response)
}

/// The caller.
#[utoipa::path(get, path = "/api/v1/me", tag = "auth",
    responses(
        (status = 200, description = "Who is calling", body = Me),
        (status = 401, description = "Not logged in", body = ErrorBody),
    ))]
pub async fn me(Extension(caller): Extension<Caller>) -> Json<Me> {
    Json(Me {
        user: caller.user,
        role: caller.role,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_source_is_locked_out_after_max_failures_within_a_minute() {
        let limiter = LoginLimiter::new(3);
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        let other: IpAddr = "192.0.2.8".parse().unwrap();
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(limiter.locked(ip, t0), None);
            limiter.fail(ip, t0);
        }
        assert!(limiter.locked(ip, t0).is_some_and(|s| s <= 60));
        assert_eq!(limiter.locked(other, t0), None);
        assert_eq!(limiter.locked(ip, t0 + LOGIN_WINDOW), None);
    }
}
