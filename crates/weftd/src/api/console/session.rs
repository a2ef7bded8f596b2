//! Console sessions: the login page, the `weft_console` cookie, who is
//! looking, and the same-origin check for mutations made with the cookie.

use std::sync::Arc;

use axum::Form;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use weft_api::Scope;

use super::super::Ctx;
use super::super::auth::Transport;
use super::html::esc;

/// The cookie holding the session's token secret.
pub(crate) const COOKIE: &str = "weft_console";

/// How long a console login lasts (the cookie's Max-Age), seconds.
const SESSION_S: u32 = 12 * 3600;

/// The token secret in the request's `weft_console` cookie.
pub(crate) fn cookie_secret(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// Whether a request may change state on the strength of the cookie: its
/// `Origin` names the host it was sent to, and the browser did not mark it
/// cross-site. A request without `Origin` is refused (browsers send it on
/// every `POST`, `PUT`, `PATCH` and `DELETE`).
pub(crate) fn same_origin(headers: &HeaderMap) -> bool {
    let get = |h: &str| headers.get(h).and_then(|v| v.to_str().ok());
    if get("sec-fetch-site").is_some_and(|s| s != "same-origin" && s != "none") {
        return false;
    }
    let (Some(origin), Some(host)) = (get("origin"), get("host")) else {
        return false;
    };
    origin
        .split_once("://")
        .is_some_and(|(scheme, h)| matches!(scheme, "http" | "https") && h == host)
}

/// Whether `method` changes state (anything but GET, HEAD, OPTIONS).
pub(crate) fn mutates(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Who looks at a console page.
#[derive(Debug, Clone)]
pub(crate) struct Viewer {
    /// The token's name, or `local socket`.
    pub(crate) who: String,
    /// The token's scope.
    pub(crate) scope: Scope,
    /// The session's secret (to check it again); `None` on the unix socket.
    pub(crate) secret: Option<String>,
}

impl Viewer {
    /// Whether the viewer may do what needs `scope` (buttons are shown only then).
    pub(crate) fn may(&self, scope: Scope) -> bool {
        self.scope.allows(scope)
    }
}

impl FromRequestParts<Arc<Ctx>> for Viewer {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, ctx: &Arc<Ctx>) -> Result<Self, Response> {
        match parts.extensions.get::<Transport>() {
            Some(Transport::Local) => {
                return Ok(Self {
                    who: "local socket".to_owned(),
                    scope: Scope::Admin,
                    secret: None,
                });
            }
            Some(Transport::Tcp(_)) => {}
            None => return Err(to_login()),
        }
        let Some(secret) = cookie_secret(&parts.headers) else {
            return Err(to_login());
        };
        let store = ctx.store.clone();
        let s = secret.clone();
        match tokio::task::spawn_blocking(move || store.verify_token(&s)).await {
            Ok(Ok(Some(t))) => Ok(Self { who: t.name, scope: t.scope, secret: Some(secret) }),
            _ => Err(to_login()),
        }
    }
}

fn to_login() -> Response {
    Redirect::to("/ui/login").into_response()
}

/// `GET /ui/login`.
pub(crate) async fn login_page() -> Response {
    login_html(StatusCode::OK, "")
}

fn login_html(code: StatusCode, error: &str) -> Response {
    let error = if error.is_empty() {
        String::new()
    } else {
        format!("<p class=\"error\" role=\"alert\" id=\"login-error\">{}</p>", esc(error))
    };
    let body = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>Log in · Weft</title><link rel=\"stylesheet\" href=\"/ui/static/console.css\">\
         <script src=\"/ui/static/console.js\" defer></script></head>\
         <body class=\"login\"><main id=\"main\"><h1>Weft console</h1>{error}\
         <form method=\"post\" action=\"/ui/login\">\
         <label for=\"token\">API token</label>\
         <input id=\"token\" name=\"token\" type=\"password\" autocomplete=\"current-password\" required \
          aria-describedby=\"token-help\">\
         <p id=\"token-help\" class=\"help\">A token from <code>POST /api/v1/tokens</code> or the agent's \
          <code>STATE_DIR/api.token</code>. Its scope decides what you may change here.</p>\
         <button type=\"submit\" id=\"login\">Log in</button></form></main></body></html>"
    );
    let mut r = (code, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response();
    super::html::harden(&mut r);
    r
}

/// The login form.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct LoginForm {
    token: String,
}

/// `POST /ui/login`: a known token becomes the session cookie.
pub(crate) async fn login(
    State(ctx): State<Arc<Ctx>>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    // A login forged from another site would log the victim in as the attacker.
    if headers.contains_key("origin") && !same_origin(&headers) {
        return login_html(StatusCode::FORBIDDEN, "cross-site login refused");
    }
    let secret = form.token.trim().to_owned();
    // Only what a secret can hold: the cookie value must stay one token.
    if secret.is_empty() || !secret.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return login_html(StatusCode::UNAUTHORIZED, "that is not a token");
    }
    let store = ctx.store.clone();
    let s = secret.clone();
    match tokio::task::spawn_blocking(move || store.verify_token(&s)).await {
        Ok(Ok(Some(_))) => {
            let cookie = session_cookie(&secret, ctx.https);
            let mut r = Redirect::to("/ui").into_response();
            if let Ok(v) = HeaderValue::from_str(&cookie) {
                r.headers_mut().insert(header::SET_COOKIE, v);
            }
            r
        }
        Ok(Ok(None)) => login_html(StatusCode::UNAUTHORIZED, "unknown or revoked token"),
        _ => login_html(StatusCode::INTERNAL_SERVER_ERROR, "the token store did not answer"),
    }
}

/// The session cookie for `secret`; `Secure` when the API's TCP listener
/// serves HTTPS (`[api] tls_cert`), so the browser never sends it in clear.
fn session_cookie(secret: &str, https: bool) -> String {
    let secure = if https { "; Secure" } else { "" };
    format!("{COOKIE}={secret}; HttpOnly; SameSite=Strict; Path=/; Max-Age={SESSION_S}{secure}")
}

/// `POST /ui/logout`: clears the cookie.
pub(crate) async fn logout(headers: HeaderMap) -> Response {
    if !same_origin(&headers) {
        return (StatusCode::FORBIDDEN, "cross-site logout refused").into_response();
    }
    let mut r = Redirect::to("/ui/login").into_response();
    r.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("weft_console=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0"),
    );
    r
}

#[cfg(test)]
mod cookie_tests {
    #[test]
    fn the_session_cookie_is_secure_exactly_when_the_api_serves_https() {
        let plain = super::session_cookie("weft_x", false);
        assert!(plain.contains("HttpOnly") && plain.contains("SameSite=Strict"), "{plain}");
        assert!(!plain.contains("Secure"), "{plain}");
        assert!(super::session_cookie("weft_x", true).ends_with("; Secure"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let h = headers(&[("cookie", "a=1; weft_console=weft_abc ; b=2")]);
        assert_eq!(cookie_secret(&h).as_deref(), Some("weft_abc"));
        assert_eq!(cookie_secret(&headers(&[("cookie", "weft_console=")])), None);
    }

    #[test]
    fn mutations_by_cookie_need_an_origin_equal_to_the_host() {
        let ok = [("host", "10.0.0.1:7420"), ("origin", "http://10.0.0.1:7420")];
        assert!(same_origin(&headers(&ok)));
        assert!(!same_origin(&headers(&[("host", "10.0.0.1:7420")])), "no Origin");
        let other = [("host", "10.0.0.1:7420"), ("origin", "https://evil.example")];
        assert!(!same_origin(&headers(&other)));
        let marked = [
            ("host", "10.0.0.1:7420"),
            ("origin", "http://10.0.0.1:7420"),
            ("sec-fetch-site", "cross-site"),
        ];
        assert!(!same_origin(&headers(&marked)));
    }
}
