//! A full disk over HTTP: with the data dir on a 4 MiB tmpfs filled by produces, the failing produce and every
//! later write answer 507 naming the full disk and the data dir (in the `/v1` and the runs API's error
//! shapes), both health checks answer 503 with the reason, and `/metrics` shows `dq_storage_ok 0`. The router
//! is served here without `serve`, which would stop the server on the failure (tested at the process level
//! in the CLI tests). Skips where mounting is not allowed.

use std::sync::Arc;

use dq_broker::Broker;
use dq_server::{AppState, ServerConfig};
use dq_testkit::full_disk::{Tmpfs, incompressible};
use reqwest::StatusCode;
use serde_json::json;

use crate::util::{Answer, client};

#[test]
fn a_full_disk_answers_507_and_makes_both_health_checks_503() {
    let Some(disk) = Tmpfs::mount("4m") else {
        return;
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let mut config = ServerConfig::new(disk.path());
        config.runs.workers = 0;
        let broker = Broker::open(config.broker.clone()).expect("broker");
        let mut state = AppState::new(broker.clone(), config.clone());
        let queue: Arc<dyn dq_runs::Queue> = Arc::new(dq_local::LocalQueue::new(broker.clone()));
        let runs =
            dq_runs::RunsRuntime::start(queue, config.runs.clone(), (*state.shutdown).clone())
                .await
                .expect("runs");
        state.set_runs(runs.service());
        let stop = (*state.shutdown).clone();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a port");
        let base = format!("http://{}", listener.local_addr().expect("address"));
        let served = tokio::spawn(
            axum::serve(listener, dq_server::router(state))
                .with_graceful_shutdown(stop.clone().cancelled_owned())
                .into_future(),
        );
        let http = client();
        let get = |path: &str| http.get(format!("{base}{path}")).send();
        let post = |path: &str, body: serde_json::Value| {
            http.post(format!("{base}{path}")).json(&body).send()
        };

        assert_eq!(get("/v1/healthz").await.unwrap().status(), StatusCode::OK);
        assert_eq!(get("/healthz").await.unwrap().status(), StatusCode::OK);
        let metrics = get("/metrics").await.unwrap().text().await.unwrap();
        assert!(metrics.contains("\ndq_storage_ok 1\n"), "{metrics}");
        let created = post("/v1/topics", json!({"name": "t"})).await.unwrap();
        assert_eq!(created.status(), StatusCode::CREATED);

        let dir = disk.path().display().to_string();
        let mut acked = 0u64;
        let failed = loop {
            assert!(acked < 2_000, "4 MiB never filled up");
            let value = incompressible(acked, 10_000);
            let answer = Answer::read(
                post("/v1/produce", json!({"topic": "t", "value": value}))
                    .await
                    .unwrap(),
            )
            .await;
            if answer.status != StatusCode::OK {
                break answer;
            }
            acked += 1;
        };
        assert_eq!(
            failed.status,
            StatusCode::INSUFFICIENT_STORAGE,
            "{}",
            failed.json
        );
        assert_eq!(failed.json["error"], "INSUFFICIENT_STORAGE");
        assert_eq!(failed.json["reason"], "disk_full");
        let message = failed.json["message"].as_str().unwrap();
        assert!(
            message.starts_with(&format!("storage failed: disk full in {dir}")),
            "{message}"
        );

        let again = Answer::read(
            post("/v1/produce", json!({"topic": "t", "value": "v"}))
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(
            again.status,
            StatusCode::INSUFFICIENT_STORAGE,
            "{}",
            again.json
        );
        assert!(
            !again.json.to_string().contains("Poisoned"),
            "{}",
            again.json
        );

        let run = Answer::read(post("/runs", json!({})).await.unwrap()).await;
        assert_eq!(run.status, StatusCode::INSUFFICIENT_STORAGE, "{}", run.json);
        let detail = run.json["detail"].as_str().unwrap();
        assert!(detail.contains(&format!("disk full in {dir}")), "{detail}");

        let health = Answer::read(get("/v1/healthz").await.unwrap()).await;
        assert_eq!(health.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(health.json["error"], "UNAVAILABLE");
        assert_eq!(health.json["reason"], "disk_full");
        assert!(health.headers.contains_key("retry-after"));
        let message = health.json["message"].as_str().unwrap();
        assert!(
            message.contains(&format!("disk full in {dir}")),
            "{message}"
        );
        let health = Answer::read(get("/healthz").await.unwrap()).await;
        assert_eq!(health.status, StatusCode::SERVICE_UNAVAILABLE);
        let detail = health.json["detail"].as_str().unwrap();
        assert!(detail.contains(&format!("disk full in {dir}")), "{detail}");
        let metrics = get("/metrics").await.unwrap().text().await.unwrap();
        assert!(metrics.contains("\ndq_storage_ok 0\n"), "{metrics}");

        stop.cancel();
        broker.shutdown();
        served.await.expect("server task").expect("served");
        runs.join().await;
    });
}
