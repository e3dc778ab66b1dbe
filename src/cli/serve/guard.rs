//! What a request must pass before a route sees it: the token on `/run` and `/probe`, and
//! the limits on its target and headers.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;

use super::routes::{App, error};

/// The longest request target accepted (414 beyond): `/run`'s longest query is under 60
/// bytes. Far longer ones still get hyper's bare answer.
const MAX_URI_BYTES: usize = 2048;
/// The most header bytes accepted (431 beyond): browsers and routers send a few kilobytes.
const MAX_HEADER_BYTES: usize = 16 * 1024;

/// With a token set, a request without it is refused on `/run` and `/probe` (`401`), and
/// served on the other routes (a platform's health check has no token) with its
/// `X-Request-Start` and `X-Queue-Start` taken away first: no client can put a forged queue
/// time into the metrics.
pub(super) async fn authorize(
    State(app): State<App>,
    mut request: Request,
    next: Next,
) -> Response {
    let Some(token) = app.token.as_deref() else {
        return next.run(request).await;
    };
    if carries(request.headers(), token) {
        return next.run(request).await;
    }
    if matches!(request.uri().path(), "/run" | "/probe") {
        let mut response = error(
            StatusCode::UNAUTHORIZED,
            "this server needs its token: Authorization: Bearer TOKEN",
        );
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Bearer"),
        );
        return response;
    }
    request.headers_mut().remove("x-request-start");
    request.headers_mut().remove("x-queue-start");
    next.run(request).await
}

/// Whether `headers` carry `Authorization: Bearer TOKEN` (the scheme in any case, RFC 9110).
fn carries(headers: &HeaderMap, token: &str) -> bool {
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"));
    given.is_some_and(|(_, given)| same_secret(given.trim().as_bytes(), token.as_bytes()))
}

/// Compares two secrets in time that depends only on their lengths.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |diff, (x, y)| diff | (x ^ y)) == 0
}

/// Refuses, with a JSON body, a target or headers longer than anyone needs.
pub(super) async fn limits(request: Request, next: Next) -> Response {
    let target = request
        .uri()
        .path_and_query()
        .map_or(0, |p| p.as_str().len());
    if target > MAX_URI_BYTES {
        return error(
            StatusCode::URI_TOO_LONG,
            &format!("the request target is {target} bytes; at most {MAX_URI_BYTES}"),
        );
    }
    let headers: usize = request
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    if headers > MAX_HEADER_BYTES {
        return error(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            &format!("the headers are {headers} bytes; at most {MAX_HEADER_BYTES}"),
        );
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_match_only_when_equal() {
        assert!(same_secret(b"s3cret", b"s3cret"));
        assert!(!same_secret(b"s3cret", b"s3creT"));
        assert!(!same_secret(b"s3cret", b"s3cre"));
        assert!(!same_secret(b"", b"x"));
    }
}
