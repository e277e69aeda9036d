//! The token form: a server with a token asks a browser for it once (`GET /ui/login`), and on the right one
//! (`POST /ui/login`) sets an HttpOnly, SameSite=Strict session cookie that the token check accepts in place of
//! the bearer token, for the pages, their API calls and `EventSource` alike (which cannot send headers), so
//! the token never appears in a URL or a log. `POST /ui/logout` clears it.

use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::{Dashboard, pages};
use crate::auth::SESSION_COOKIE;

/// `?next=` of the form: where to go once logged in.
#[derive(Deserialize)]
pub(super) struct Next {
    next: Option<String>,
}

/// The form's fields.
#[derive(Deserialize)]
pub(super) struct LoginForm {
    token: String,
    next: Option<String>,
}

/// `GET /ui/login`.
pub(super) async fn form(State(dash): State<Dashboard>, Query(next): Query<Next>) -> Response {
    let next = local(next.next.as_deref());
    if dash.credentials.is_none() {
        return Redirect::to(next).into_response();
    }
    Html(pages::login(next, None).into_string()).into_response()
}

/// `POST /ui/login`: the cookie and a redirect to `next` on the right token, the form again with a 401 on a
/// wrong one.
pub(super) async fn submit(State(dash): State<Dashboard>, Form(form): Form<LoginForm>) -> Response {
    let next = local(form.next.as_deref());
    let Some(credentials) = dash.credentials else {
        return Redirect::to(next).into_response();
    };
    if !credentials.is_token(form.token.trim()) {
        let page = pages::login(next, Some("That is not the server's token."));
        return (StatusCode::UNAUTHORIZED, Html(page.into_string())).into_response();
    }
    // A session cookie (no Max-Age): it lasts as long as the browser session, as the issue asks.
    let cookie = format!(
        "{SESSION_COOKIE}={}; Path=/; HttpOnly; SameSite=Strict",
        credentials.session()
    );
    with_cookie(next, &cookie)
}

/// `POST /ui/logout`: clears the cookie.
pub(super) async fn logout() -> Response {
    let cookie = format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
    with_cookie(super::LOGIN_PATH, &cookie)
}

fn with_cookie(location: &str, cookie: &str) -> Response {
    let mut response = Redirect::to(location).into_response();
    if let Ok(value) = HeaderValue::from_str(cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

/// `next` when it is a path on this server, else `/`: a login link must not send the browser elsewhere.
fn local(next: Option<&str>) -> &str {
    match next {
        Some(path) if path.starts_with('/') && !path.starts_with("//") && !path.contains('\\') => {
            path
        }
        _ => "/",
    }
}

#[cfg(test)]
mod tests {
    use super::local;

    #[test]
    fn next_stays_on_this_server() {
        assert_eq!(local(Some("/ui/dlq")), "/ui/dlq");
        assert_eq!(local(Some("//evil.example/")), "/");
        assert_eq!(local(Some("https://evil.example/")), "/");
        assert_eq!(local(Some("/\\evil.example")), "/");
        assert_eq!(local(None), "/");
    }
}
