//! Deliveries: the seed's bytes come back as ThingPlug's Base64, latest,
//! history filters and pagination, the query plans, hostile parameters.

mod answer;
mod http_support;

use std::collections::BTreeSet;

use axum::http::StatusCode;
use http_support::TestApp;
use omp_server::store::deliveries::{HistoryFilter, history_query, latest_sql};

/// The payload of the golden 0x0B frame of the WizFi310 guide.
fn seed_payload() -> Vec<u8> {
    let frame = hex::decode(include_str!("../../gmmp-codec/tests/vectors/delivery_req.hex").trim())
        .unwrap();
    // header, then domain (10) gw_id (16) device_id (16) report_type media_type
    frame[gmmp_codec::HEADER_LEN + 44..].to_vec()
}

#[tokio::test]
async fn seed_delivery_comes_back_as_thingplug_base64() {
    let app = TestApp::new().await;
    app.add_gateway("SC10010254", "0008dc1e3222").await;
    let payload = seed_payload();
    assert_eq!(payload, b"WizFi310 test data !@#$%^&*(/)");
    let id = app
        .add_delivery("SC10010254", "", 1, 1_586_937_600_250, &payload)
        .await;
    let latest = app
        .get("/api/v1/gateways/SC10010254/deliveries/latest")
        .await;
    assert_eq!(latest.status, StatusCode::OK, "{}", latest.text);
    assert_eq!(
        latest.json,
        serde_json::json!({
            "id": id,
            "gw_id": "SC10010254",
            "device_id": null,
            "report_type": { "code": 1, "name": "collect_data" },
            "media_type": 1,
            "tid": 129,
            "origin_timestamp": "2020-04-15T08:00:00Z",
            "received_at": "2020-04-15T08:00:00.250Z",
            "encrypted": false,
            "content": "V2l6RmkzMTAgdGVzdCBkYXRhICFAIyQlXiYqKC8p",
            "content_length": 30,
        })
    );
}

#[tokio::test]
async fn latest_is_the_newest_of_the_gateway_or_device() {
    let app = TestApp::new().await;
    app.add_gateway("SC10010254", "0008dc1e3222").await;
    app.add_gateway("SC10010255", "0008dc1e3223").await;
    app.add_device("SC10010254", "AD10014858", "m1").await;

    let none = app
        .get("/api/v1/gateways/SC10010254/deliveries/latest")
        .await;
    assert_eq!(none.status, StatusCode::NOT_FOUND);
    assert_eq!(
        none.json["error"]["message"],
        "gateway SC10010254 has no deliveries yet"
    );
    let unknown = app
        .get("/api/v1/gateways/SC99999999/deliveries/latest")
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(unknown.json["error"]["message"], "no gateway SC99999999");

    let gw = app.add_delivery("SC10010254", "", 1, 1000, b"gw").await;
    let dev = app
        .add_delivery("SC10010254", "AD10014858", 2, 2000, b"dev")
        .await;
    app.add_delivery("SC10010255", "", 1, 3000, b"other").await;

    let latest = app
        .get("/api/v1/gateways/SC10010254/deliveries/latest")
        .await;
    assert_eq!(latest.json["id"], dev);
    assert_eq!(latest.json["device_id"], "AD10014858");
    assert_eq!(latest.json["report_type"]["name"], "alarm");
    let own = app
        .get("/api/v1/gateways/SC10010254/deliveries/latest?device_id=")
        .await;
    assert_eq!(own.json["id"], gw);
    let of_device = app
        .get("/api/v1/gateways/SC10010254/deliveries/latest?device_id=AD10014858")
        .await;
    assert_eq!(of_device.json["id"], dev);
    let too_long = app
        .get("/api/v1/gateways/SC10010254/deliveries/latest?device_id=AD100148580000000")
        .await;
    assert_eq!(too_long.status, StatusCode::BAD_REQUEST);
    assert_eq!(too_long.field(), "device_id");
}

#[tokio::test]
async fn history_pages_walk_every_delivery_exactly_once_newest_first() {
    let app = TestApp::new().await;
    app.add_gateway("SC10010254", "0008dc1e3222").await;
    app.add_gateway("SC10010255", "0008dc1e3223").await;
    let mut ids = Vec::new();
    for i in 0..23 {
        ids.push(
            app.add_delivery("SC10010254", "", 1, 1000 + i, &[i as u8])
                .await,
        );
        app.add_delivery("SC10010255", "", 1, 1000 + i, b"x").await;
    }
    ids.reverse();
    let mut seen = Vec::new();
    let mut uri = "/api/v1/gateways/SC10010254/deliveries?limit=5".to_owned();
    let mut pages = 0;
    loop {
        let page = app.get(&uri).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.text);
        pages += 1;
        for item in page.json["items"].as_array().unwrap() {
            assert_eq!(item["gw_id"], "SC10010254");
            seen.push(item["id"].as_i64().unwrap());
        }
        match page.json["next_cursor"].as_str() {
            Some(c) => uri = format!("/api/v1/gateways/SC10010254/deliveries?limit=5&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(pages, 5);
    assert_eq!(seen, ids);
    assert_eq!(seen.iter().collect::<BTreeSet<_>>().len(), 23);

    // Exactly a page's worth: the last page has next_cursor null.
    let all = app
        .get("/api/v1/gateways/SC10010254/deliveries?limit=23")
        .await;
    assert_eq!(all.json["items"].as_array().unwrap().len(), 23);
    assert!(all.json["next_cursor"].is_null());
    let default = app.get("/api/v1/gateways/SC10010254/deliveries").await;
    assert_eq!(default.json["items"].as_array().unwrap().len(), 23);
}

#[tokio::test]
async fn history_filters_by_time_device_and_report_type() {
    let app = TestApp::new().await;
    app.add_gateway("SC10010254", "0008dc1e3222").await;
    // 2020-04-15T08:00:00Z = 1586937600000
    let t0 = 1_586_937_600_000;
    let a = app.add_delivery("SC10010254", "", 1, t0, b"a").await;
    let b = app
        .add_delivery("SC10010254", "AD10014858", 2, t0 + 60_000, b"b")
        .await;
    let c = app
        .add_delivery("SC10010254", "", 4, t0 + 120_000, b"c")
        .await;
    let ids = |v: &serde_json::Value| -> Vec<i64> {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["id"].as_i64().unwrap())
            .collect()
    };
    let base = "/api/v1/gateways/SC10010254/deliveries";
    let q = |s: &str| format!("{base}?{s}");
    assert_eq!(
        ids(&app.get(&q("from=2020-04-15T08:01:00Z")).await.json),
        vec![c, b]
    );
    assert_eq!(
        ids(&app.get(&q("to=2020-04-15T08:01:00Z")).await.json),
        vec![a]
    );
    assert_eq!(
        ids(&app
            .get(&q(
                "from=2020-04-15T17:00:00%2B09:00&to=2020-04-15T08:02:00Z"
            ))
            .await
            .json),
        vec![b, a]
    );
    assert_eq!(
        ids(&app.get(&q("device_id=AD10014858")).await.json),
        vec![b]
    );
    assert_eq!(ids(&app.get(&q("device_id=")).await.json), vec![c, a]);
    assert_eq!(
        ids(&app.get(&q("report_type=alarm_clear")).await.json),
        vec![c]
    );
    assert_eq!(ids(&app.get(&q("report_type=2")).await.json), vec![b]);
    assert_eq!(
        ids(&app.get(&q("report_type=9")).await.json),
        Vec::<i64>::new()
    );

    for (query, field) in [
        ("from=yesterday", "from"),
        ("to=2020-13-01T00:00:00Z", "to"),
        ("report_type=reboot", "report_type"),
        ("report_type=256", "report_type"),
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("limit=ten", "limit"),
        ("cursor=!!!", "cursor"),
        ("cursor=Zzo1", "cursor"),
    ] {
        let answer = app.get(&q(query)).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{query}");
        assert_eq!(answer.code(), "bad_request");
        assert_eq!(answer.field(), field, "{query}");
    }
    let unknown = app.get("/api/v1/gateways/SC99999999/deliveries").await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
}

/// The plan of `sql` (the `detail` column of each step).
async fn plan(app: &TestApp, sql: &str, binds: &[&str]) -> Vec<String> {
    let mut q = sqlx::query_as::<_, (i64, i64, i64, String)>(sqlx::AssertSqlSafe(format!(
        "EXPLAIN QUERY PLAN {sql}"
    )));
    for b in binds {
        q = q.bind(*b);
    }
    q.fetch_all(&app.pool)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.3)
        .collect()
}

fn assert_uses_index(plan: &[String]) {
    assert!(
        plan.iter()
            .any(|d| d.contains("USING INDEX deliveries_gw_id")
                || d.contains("USING COVERING INDEX deliveries_gw_id")),
        "{plan:?}"
    );
    assert!(
        !plan
            .iter()
            .any(|d| d.starts_with("SCAN deliveries") && !d.contains("INDEX")),
        "{plan:?}"
    );
    assert!(
        !plan.iter().any(|d| d.contains("TEMP B-TREE")),
        "sorts: {plan:?}"
    );
}

#[tokio::test]
async fn latest_and_history_use_the_gw_id_index() {
    let app = TestApp::new().await;
    app.add_gateway("SC10010254", "0008dc1e3222").await;
    for i in 0..50 {
        app.add_delivery("SC10010254", "", 1, i, b"x").await;
    }
    sqlx::query("ANALYZE").execute(&app.pool).await.unwrap();
    assert_uses_index(&plan(&app, &latest_sql(false), &["SC10010254"]).await);
    assert_uses_index(&plan(&app, &latest_sql(true), &["SC10010254", "AD1"]).await);

    let filter = HistoryFilter {
        before_id: Some(40),
        from: Some(1),
        to: Some(30),
        device_id: Some(String::new()),
        report_type: Some(1),
    };
    let query = history_query("SC10010254", &filter, 101);
    let mut explain = sqlx::QueryBuilder::<sqlx::Sqlite>::new("EXPLAIN QUERY PLAN ");
    explain.push(query.sql().as_str());
    // The binds are positional; the plan does not depend on their values.
    let steps: Vec<(i64, i64, i64, String)> =
        sqlx::query_as(sqlx::AssertSqlSafe(explain.sql().as_str().to_owned()))
            .bind("SC10010254")
            .bind(40)
            .bind(1)
            .bind(30)
            .bind("")
            .bind(1)
            .bind(101)
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert_uses_index(&steps.into_iter().map(|s| s.3).collect::<Vec<_>>());
    let plain = history_query("SC10010254", &HistoryFilter::default(), 101);
    let sql = plain.sql().as_str().to_owned();
    let steps: Vec<(i64, i64, i64, String)> =
        sqlx::query_as(sqlx::AssertSqlSafe(format!("EXPLAIN QUERY PLAN {sql}")))
            .bind("SC10010254")
            .bind(101)
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert_uses_index(&steps.into_iter().map(|s| s.3).collect::<Vec<_>>());
}

#[tokio::test]
async fn sql_injection_in_parameters_is_refused_or_harmless() {
    let app = TestApp::new().await;
    app.add_gateway("SC10010254", "0008dc1e3222").await;
    app.add_delivery("SC10010254", "", 1, 1000, b"x").await;
    let before = app.counts().await;
    let hostile = [
        "%27%20OR%20%271%27%3D%271",
        "1%3BDROP%20TABLE%20deliveries",
        "SC10010254%27--",
        "%22%29%3B%20DELETE%20FROM%20gateways%3B--",
    ];
    for h in hostile {
        for uri in [
            format!("/api/v1/gateways/{h}"),
            format!("/api/v1/gateways/{h}/deliveries"),
            format!("/api/v1/gateways/{h}/deliveries/latest"),
            format!("/api/v1/gateways/SC10010254/deliveries?report_type={h}"),
            format!("/api/v1/gateways/SC10010254/deliveries?cursor={h}"),
            format!("/api/v1/gateways/SC10010254/deliveries?from={h}"),
            format!("/api/v1/gateways?cursor={h}&connected={h}"),
            format!("/api/v1/gateways/{h}/controls?state={h}"),
            format!("/api/v1/controls/{h}"),
            format!("/api/v1/provisioning?cursor={h}"),
        ] {
            let answer = app.get(&uri).await;
            assert!(answer.status.is_client_error(), "{uri}: {}", answer.status);
            assert!(answer.json["error"]["code"].is_string(), "{uri}");
        }
        let answer = app
            .call(
                axum::http::Method::DELETE,
                &format!("/api/v1/provisioning/{h}"),
            )
            .await;
        assert!(answer.status.is_client_error());
    }
    // A device filter that would match everything if spliced into SQL is
    // just a device ID that has no deliveries.
    let answer = app
        .get("/api/v1/gateways/SC10010254/deliveries?device_id=%27%20OR%20%271%27%3D%271")
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.json["items"].as_array().unwrap().len(), 0);
    let answer = app
        .get("/api/v1/gateways/SC10010254/deliveries/latest?device_id=%27%20OR%201%3D1--")
        .await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    assert_eq!(app.counts().await, before);
}
