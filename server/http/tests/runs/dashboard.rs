//! dq's own dashboard: the pages at `/` and under `/ui/`, their snapshot streams, and the token login whose
//! cookie stands in for the bearer token. The pages in a real browser are `tests/browser/` (run by
//! `tests/cli/browser.rs`).

use reqwest::StatusCode;
use reqwest::redirect::Policy;

use crate::util::{Answer, GUARD, RunsApi, TestServer, failing, sse_until};

const TOKEN: &str = "s3cret-dashboard-token";

async fn page(server: &TestServer, path: &str) -> (StatusCode, String) {
    let response = server.client().get(server.url(path)).send().await.unwrap();
    let status = response.status();
    (status, response.text().await.unwrap())
}

#[tokio::test]
async fn every_page_is_served_with_labelled_controls() {
    let server = TestServer::start();
    let run_id = server.create(failing("tool_call")).await;
    server.wait_status(&run_id, 0, "dead_lettered").await;
    for (path, needles) in [
        (
            "/",
            &["<h1>Runs</h1>", "Search run id", "id=\"status-filter\""][..],
        ),
        (
            "/ui/start",
            &[
                "Fail at",
                "<option value=\"tool_call\">",
                "Start run",
                "Input (JSON object)",
            ],
        ),
        ("/ui/dlq", &["Replay selected with fix"]),
        ("/ui/demo", &["Run the demo", "DLQ persisted"]),
        (
            &format!("/ui/runs/{run_id}"),
            &[
                "Replay with fix",
                "dead-lettered",
                "Fail step",
                "Max attempts",
                &run_id,
            ],
        ),
    ] {
        let (status, body) = page(&server, path).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert!(body.starts_with("<!DOCTYPE html>"), "{path}");
        for needle in needles {
            assert!(body.contains(needle), "{path} lacks {needle}: {body}");
        }
    }
    // After a replay with the fix the page says so, and links to it.
    let Answer { status, .. } = server
        .post(
            &format!("/runs/{run_id}/replay"),
            serde_json::json!({"fail_at": null}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    server.wait_status(&run_id, 1, "succeeded").await;
    let (_, body) = page(&server, &format!("/ui/runs/{run_id}")).await;
    assert!(
        body.contains("href=\"#replay-1\">Replay 1</a> · fail at none · succeeded"),
        "{body}"
    );

    let (status, body) = page(&server, "/ui/runs/0123456789abcdef").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body.contains("No run has this id"));
    let script = server
        .client()
        .get(server.url("/ui/app.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(script.status(), StatusCode::OK);
    assert!(
        script.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/javascript")
    );
    assert!(script.text().await.unwrap().contains("EventSource"));
}

#[tokio::test]
async fn the_runs_stream_shows_a_new_run_and_its_status_as_they_change() {
    let server = TestServer::start();
    let first = sse_until(&server, "/ui/live/runs", &[], |_| true).await;
    assert_eq!(first[0].data["runs"], serde_json::json!([]));
    let run_id = server.create(failing("tool_call")).await;
    let frames = sse_until(&server, "/ui/live/runs", &[], |frame| {
        frame.data["runs"][0]["status"] == "dead_lettered"
    })
    .await;
    assert_eq!(frames.last().unwrap().data["runs"][0]["run_id"], run_id);
    // Filtered by status on the server.
    let succeeded = server.create(serde_json::json!({})).await;
    server.wait_status(&succeeded, 0, "succeeded").await;
    let only = sse_until(&server, "/ui/live/runs?status=succeeded", &[], |_| true).await;
    assert_eq!(only[0].data["count"], 1, "{:?}", only[0].data);
    assert_eq!(only[0].data["runs"][0]["run_id"], succeeded);
    let bad = server
        .client()
        .get(server.url("/ui/live/runs?status=bogus"))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);

    let dlq = sse_until(&server, "/ui/live/dlq", &[], |frame| {
        frame.data["count"] == 1
    })
    .await;
    let record = &dlq.last().unwrap().data["items"][0];
    assert_eq!(record["command"]["fail_at"], "tool_call");
}

#[tokio::test]
async fn with_a_token_the_login_cookie_stands_in_for_it() {
    let server = TestServer::with(|config| config.token = Some(TOKEN.to_owned()));
    let browser = reqwest::Client::builder()
        .redirect(Policy::none())
        .timeout(GUARD)
        .build()
        .unwrap();

    // A page redirects to the form, which returns to it; the API and the streams answer 401.
    let response = browser.get(server.url("/ui/dlq")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()["location"], "/ui/login?next=%2Fui%2Fdlq");
    for path in ["/runs", "/ui/live/runs"] {
        let response = browser.get(server.url(path)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{path}");
    }
    let form = browser
        .get(server.url("/ui/login?next=/ui/dlq"))
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), StatusCode::OK);
    assert!(form.text().await.unwrap().contains("Token"));

    let login = |token: &str| {
        let body = form_urlencoded::Serializer::new(String::new())
            .append_pair("token", token)
            .append_pair("next", "/ui/dlq")
            .finish();
        browser
            .post(server.url("/ui/login"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
    };
    let wrong = login("not-the-token").await.unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert!(wrong.headers().get("set-cookie").is_none());

    let right = login(TOKEN).await.unwrap();
    assert_eq!(right.status(), StatusCode::SEE_OTHER);
    assert_eq!(right.headers()["location"], "/ui/dlq");
    let set_cookie = right.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(set_cookie.contains("HttpOnly"), "{set_cookie}");
    assert!(set_cookie.contains("SameSite=Strict"), "{set_cookie}");
    assert!(
        !set_cookie.contains(TOKEN),
        "the cookie must not carry the token"
    );
    let cookie = set_cookie.split(';').next().unwrap().to_owned();

    // The cookie opens the pages, the API, a run's EventSource stream and the snapshot streams.
    let created = browser
        .post(server.url("/runs"))
        .header("cookie", &cookie)
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::OK);
    let run_id = created.json::<serde_json::Value>().await.unwrap()["run_id"]
        .as_str()
        .unwrap()
        .to_owned();
    for path in [
        "/".to_owned(),
        "/ui/dlq".to_owned(),
        format!("/ui/runs/{run_id}"),
        format!("/runs/{run_id}/events"),
        "/ui/live/runs".to_owned(),
    ] {
        let response = browser
            .get(server.url(&path))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
    }

    // Logging out clears it.
    let out = browser
        .post(server.url("/ui/logout"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    assert!(
        out.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
}
