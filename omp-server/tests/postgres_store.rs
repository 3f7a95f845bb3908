//! PostgreSQL as a store: its schema against SQLite's, the start-up
//! errors, and `omp-server migrate` from a SQLite data directory holding a
//! row in every table.
//!
//! Each test gets a database of its own (`test_support::postgres`); without
//! PostgreSQL installed they are skipped with the reason printed, unless
//! `CI=true`, where they fail.

use std::collections::BTreeSet;

use omp_server::error::{ServerError, StoreError};
use omp_server::migrate;
use omp_server::store::postgres;
use sqlx::{PgPool, Row, SqlitePool};
use test_support::postgres::TestDatabase;

async fn sqlite_store(dir: &std::path::Path) -> SqlitePool {
    omp_server::store::open(&dir.join("omp.sqlite3"))
        .await
        .expect("open SQLite")
}

/// SQLite's declared type as the PostgreSQL schema spells it.
fn postgres_type(sqlite: &str) -> &'static str {
    match sqlite {
        "INTEGER" => "bigint",
        "TEXT" => "text",
        "BLOB" => "bytea",
        other => panic!("SQLite type {other} has no PostgreSQL twin in the schema"),
    }
}

#[tokio::test]
async fn the_postgres_schema_has_sqlites_tables_columns_indexes_and_triggers() {
    let Some(db) = TestDatabase::create("schema").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let sqlite = sqlite_store(dir.path()).await;
    let (pg, _) = postgres::open(&db.url).await.expect("open PostgreSQL");

    for table in migrate::schema::TABLES {
        let sqlite_columns: BTreeSet<(String, String, bool)> =
            sqlx::query("SELECT name, type, \"notnull\" FROM pragma_table_info(?1)")
                .bind(table)
                .fetch_all(&sqlite)
                .await
                .unwrap()
                .iter()
                .map(|r| {
                    let ty: String = r.get(1);
                    let not_null: i64 = r.get(2);
                    (r.get(0), postgres_type(&ty).to_owned(), not_null == 1)
                })
                .collect();
        let pg_columns: BTreeSet<(String, String, bool)> = sqlx::query(
            "SELECT column_name::text, data_type::text, is_nullable = 'NO'
             FROM information_schema.columns
             WHERE table_schema = current_schema() AND table_name = $1",
        )
        .bind(table)
        .fetch_all(&pg)
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
        // SQLite lets an INTEGER PRIMARY KEY be declared nullable; it never is.
        let pg_loose: BTreeSet<(String, String)> = pg_columns
            .iter()
            .map(|(n, t, _)| (n.clone(), t.clone()))
            .collect();
        let sqlite_loose: BTreeSet<(String, String)> = sqlite_columns
            .iter()
            .map(|(n, t, _)| (n.clone(), t.clone()))
            .collect();
        assert_eq!(sqlite_loose, pg_loose, "columns of {table}");
        for (name, ty, not_null) in &sqlite_columns {
            if *not_null {
                assert!(
                    pg_columns.contains(&(name.clone(), ty.clone(), true)),
                    "{table}.{name} is NOT NULL on SQLite only"
                );
            }
        }
    }

    let sqlite_indexes: BTreeSet<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL",
    )
    .fetch_all(&sqlite)
    .await
    .unwrap()
    .into_iter()
    .collect();
    let pg_indexes: BTreeSet<String> = sqlx::query_scalar(
        // Indexes of their own, not those behind PRIMARY KEY and UNIQUE
        // constraints (SQLite names those sqlite_autoindex_…, with no SQL).
        // The tables of PostgreSQL only (instances, sessions: which of
        // several instances holds which session) have no SQLite twin to
        // compare their indexes with.
        "SELECT i.relname::text FROM pg_index x
         JOIN pg_class i ON i.oid = x.indexrelid
         JOIN pg_class t ON t.oid = x.indrelid
         JOIN pg_namespace n ON n.oid = i.relnamespace
         WHERE n.nspname = current_schema()
           AND t.relname::text <> ALL($1)
           AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)",
    )
    .bind(migrate::schema::POSTGRES_ONLY)
    .fetch_all(&pg)
    .await
    .unwrap()
    .into_iter()
    .collect();
    assert_eq!(sqlite_indexes, pg_indexes);

    let sqlite_triggers: BTreeSet<String> =
        sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'trigger'")
            .fetch_all(&sqlite)
            .await
            .unwrap()
            .into_iter()
            .collect();
    let pg_triggers: BTreeSet<String> = sqlx::query_scalar(
        "SELECT DISTINCT trigger_name::text FROM information_schema.triggers
         WHERE trigger_schema = current_schema()",
    )
    .fetch_all(&pg)
    .await
    .unwrap()
    .into_iter()
    .collect();
    assert!(
        sqlite_triggers.is_subset(&pg_triggers),
        "SQLite's triggers {sqlite_triggers:?} not all in {pg_triggers:?}"
    );
}

#[tokio::test]
async fn the_database_writes_the_timeline_and_the_outbox_as_on_sqlite() {
    let Some(db) = TestDatabase::create("triggers").await else {
        return;
    };
    let (pg, _) = postgres::open(&db.url).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let sqlite = sqlite_store(dir.path()).await;
    let script = [
        "INSERT INTO gateways (gw_id, auth_id, auth_key, domain, manufacture_id, registered_at)
         VALUES ('SC10010001', 'a1', 'k', 'ThingPlug', 'WIZnet', 1)",
        "INSERT INTO controls (gw_id, control_type, state, created_at, expires_at)
         VALUES ('SC10010001', 7, 'QUEUED', 10, 99)",
        "UPDATE controls SET state = 'SENT', changed_at = 20",
        "UPDATE controls SET state = 'SENT', changed_at = 21",
        "INSERT INTO deliveries (gw_id, device_id, report_type, media_type, tid,
             origin_timestamp, received_at, encryption_flag, payload)
         VALUES ('SC10010001', '', 1, 1, 5, 1, 30, 0, X'00ff')",
        "INSERT INTO mqtt_messages (client_id, kind, topic, payload, qos, retain, dup, received_at)
         VALUES ('dev1', 'publish', 't', X'01', 1, 0, 0, 40)",
    ];
    for statement in script {
        sqlx::query(sqlx::AssertSqlSafe(statement))
            .execute(&sqlite)
            .await
            .unwrap();
        let pg_statement = statement
            .replace("X'00ff'", "'\\x00ff'")
            .replace("X'01'", "'\\x01'");
        sqlx::query(sqlx::AssertSqlSafe(pg_statement))
            .execute(&pg)
            .await
            .unwrap();
    }
    let events = "SELECT id, kind, gw_id, device_id, at, ref_id FROM events ORDER BY id";
    type Event = (
        i64,
        String,
        Option<String>,
        Option<String>,
        i64,
        Option<i64>,
    );
    let on_sqlite: Vec<Event> = sqlx::query_as(events).fetch_all(&sqlite).await.unwrap();
    let on_pg: Vec<Event> = sqlx::query_as(events).fetch_all(&pg).await.unwrap();
    assert_eq!(on_sqlite, on_pg);
    assert_eq!(
        on_pg.len(),
        4,
        "QUEUED, SENT (once), delivery, message: {on_pg:?}"
    );
    let data = "SELECT data FROM events WHERE kind = 'control_state' ORDER BY id";
    let parse = |rows: Vec<String>| -> Vec<serde_json::Value> {
        rows.iter()
            .map(|d| serde_json::from_str(d).unwrap())
            .collect()
    };
    assert_eq!(
        parse(sqlx::query_scalar(data).fetch_all(&sqlite).await.unwrap()),
        parse(sqlx::query_scalar(data).fetch_all(&pg).await.unwrap())
    );
}

#[tokio::test]
async fn a_schema_newer_than_the_binary_is_refused_naming_the_database() {
    let Some(db) = TestDatabase::create("newer").await else {
        return;
    };
    let (pg, target) = postgres::open(&db.url).await.unwrap();
    // A second start on a migrated database changes nothing.
    postgres::open(&db.url).await.expect("reopen");
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
         VALUES (9999, 'from a newer server', true, '\\x00', 0)",
    )
    .execute(&pg)
    .await
    .unwrap();
    let err = postgres::open(&db.url).await.unwrap_err();
    assert!(
        matches!(err, StoreError::SchemaNewer { version: 9999, .. }),
        "{err}"
    );
    let message = err.to_string();
    assert!(message.contains(&target.to_string()), "{message}");
    assert!(message.contains("newer omp-server"), "{message}");
}

#[tokio::test]
async fn an_unreachable_database_is_named_with_the_cause() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("postgres://omp:hunter2@127.0.0.1:{port}/omp_data?connect_timeout=2");
    let err = postgres::open(&url).await.unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains(&format!(
            "cannot connect to PostgreSQL at 127.0.0.1:{port}/omp_data"
        )),
        "{message}"
    );
    assert!(
        !message.contains("hunter2"),
        "the password is never shown: {message}"
    );
}

/// One row or more in every table, with the values a copy most easily
/// gets wrong: every byte value, NULLs beside empty strings and blobs,
/// text outside ASCII, i64's extremes.
async fn fill_every_table(sqlite: &SqlitePool) {
    let every_byte: Vec<u8> = (0..=255).collect();
    let statements = [
        "INSERT INTO provisioning (auth_id, domain, manufacture_id, created_at, name)
         VALUES ('0008dc1e3222', 'ThingPlug', NULL, 1, '온도 센서'), ('b', NULL, NULL, 2, '')",
        "INSERT INTO gateways (gw_id, auth_id, auth_key, domain, manufacture_id, registered_at,
             last_seen, encryption_key)
         VALUES ('SC10010001', '0008dc1e3222', 'key', 'ThingPlug', 'WIZnet', 3, 9223372036854775807, X''),
                ('SC10010002', 'b', 'key2', 'd', 'm', -9223372036854775808, NULL, NULL)",
        "INSERT INTO devices (device_id, gw_id, manufacture_id, registered_at)
         VALUES ('SC10010001_1', 'SC10010001', 'temp', 4)",
        "INSERT INTO profiles (gw_id, heartbeat_period, report_period, report_offset, response_timeout)
         VALUES ('SC10010001', 1, 2, 3, 4)",
        "INSERT INTO delivery_splits (id, gw_id, device_id, report_type, media_type,
             encryption_flag, keyed, total_count, origin_timestamp, last_tid, state, reason,
             peer, started_at, last_part_at, closed_at)
         VALUES (7, 'SC10010001', '', 1, 1, 0, 0, 3, 5, 8, 'abandoned', 'timed out',
             '127.0.0.1:5000', 6, 7, 8)",
        "INSERT INTO controls (gw_id, control_type, data, state, created_at, expires_at, idempotency_key)
         VALUES ('SC10010001', 3, X'0102', 'QUEUED', 10, 99, 'k-1')",
        "UPDATE controls SET state = 'SUCCESS', result_code = 0, result_data = X'', changed_at = 11",
        "INSERT INTO controls (device_id, state, created_at, expires_at, mqtt_client_id,
             mqtt_topic, mqtt_qos, data)
         VALUES ('', 'QUEUED', 12, 99, 'dev1', '$creq', 1, X'7b7d')",
        "INSERT INTO mqtt_provisioning (profile, client_id, username, secret_hash, created_at)
         VALUES ('onenet', 'dev1', 'product', 'sha256$00$11', 13), ('client-id', 'dev2', NULL, NULL, 14)",
        "INSERT INTO mqtt_messages (client_id, kind, topic, payload, qos, retain, dup, packet_id,
             received_at, dp_undecodable, dp_error)
         VALUES ('dev1', 'publish', '$dp', X'03001b7b2274657374223a2268656c6c6fefbc8c776f726c64efbc81227d',
             2, 1, 0, 17, 15, 0, NULL),
                ('dev1', 'will', 'gone', X'', 1, 0, 0, NULL, 16, 1, 'type 9')",
        "INSERT INTO mqtt_datapoints (message_id, client_id, stream, at, value)
         VALUES (1, 'dev1', 'test', NULL, '\"hello，world！\"')",
        "INSERT INTO mqtt_presence (client_id, online, reason, peer, connected_at, last_seen)
         VALUES ('dev1', 0, 'keep-alive expired', '10.0.0.2:1234', 17, 18)",
        "INSERT INTO webhooks (url, secret, kinds, gw_id, enabled, cursor, created_at, failing_since)
         VALUES ('http://127.0.0.1:9/hook', 's3cret', '[\"delivery\"]', NULL, 1, 3, 19, NULL)",
        "INSERT INTO revocations (auth_id, gw_id, revoked_at) VALUES ('gone', NULL, 20)",
        "INSERT INTO events (kind, gw_id, at, data)
         VALUES ('gateway_online', 'SC10010001', 21, '{\"reason\":\"registered\"}')",
    ];
    for statement in statements {
        sqlx::query(sqlx::AssertSqlSafe(statement))
            .execute(sqlite)
            .await
            .unwrap_or_else(|e| panic!("{statement}: {e}"));
    }
    for (i, payload) in [every_byte.clone(), Vec::new(), b"x".repeat(70_000)]
        .into_iter()
        .enumerate()
    {
        sqlx::query(
            "INSERT INTO deliveries (gw_id, device_id, report_type, media_type, tid,
                 origin_timestamp, received_at, encryption_flag, payload, keyed)
             VALUES ('SC10010001', ?1, 1, 2, ?2, 100, 200, 0, ?3, ?4)",
        )
        .bind(if i == 0 { "" } else { "SC10010001_1" })
        .bind(i as i64)
        .bind(payload)
        .bind((i % 2) as i64)
        .execute(sqlite)
        .await
        .unwrap();
    }
    sqlx::query(
        "INSERT INTO delivery_parts (split_id, current_count, tid, received_at, payload)
         VALUES (7, 1, 8, 6, ?1)",
    )
    .bind(every_byte)
    .execute(sqlite)
    .await
    .unwrap();
}

async fn count(pg: &PgPool, table: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {table}")))
        .fetch_one(pg)
        .await
        .unwrap()
}

#[tokio::test]
async fn migrate_copies_every_table_verified_and_the_target_goes_on_from_the_copied_ids() {
    let Some(db) = TestDatabase::create("migrate").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let sqlite = sqlite_store(dir.path()).await;
    fill_every_table(&sqlite).await;

    let mut out = Vec::new();
    let reports = migrate::run(dir.path(), &db.url, false, &mut out)
        .await
        .expect("migrate");
    let out = String::from_utf8(out).unwrap();
    assert!(out.contains("verified"), "{out}");
    let (pg, _) = postgres::open(&db.url).await.unwrap();
    assert_eq!(reports.len(), migrate::schema::TABLES.len());
    for report in &reports {
        let in_sqlite: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT count(*) FROM {}",
            report.table
        )))
        .fetch_one(&sqlite)
        .await
        .unwrap();
        assert!(in_sqlite > 0, "the test fills {}", report.table);
        assert_eq!(report.rows as i64, in_sqlite, "{}", report.table);
        assert_eq!(
            count(&pg, report.table).await,
            in_sqlite,
            "{}",
            report.table
        );
    }

    // Byte-exact, read back independently of the copy's own checksum.
    let payloads = "SELECT id, payload FROM deliveries ORDER BY id";
    let from: Vec<(i64, Vec<u8>)> = sqlx::query_as(payloads).fetch_all(&sqlite).await.unwrap();
    let to: Vec<(i64, Vec<u8>)> = sqlx::query_as(payloads).fetch_all(&pg).await.unwrap();
    assert_eq!(from, to);
    let name: Option<String> =
        sqlx::query_scalar("SELECT name FROM provisioning WHERE auth_id = '0008dc1e3222'")
            .fetch_one(&pg)
            .await
            .unwrap();
    assert_eq!(name.as_deref(), Some("온도 센서"));

    // The copied timeline and outbox are not written twice, and the next
    // rows take the next ids, with the database's own rows back on.
    let events_before = count(&pg, "events").await;
    let max_event: i64 = sqlx::query_scalar("SELECT max(id) FROM events")
        .fetch_one(&pg)
        .await
        .unwrap();
    let max_delivery: i64 = sqlx::query_scalar("SELECT max(id) FROM deliveries")
        .fetch_one(&pg)
        .await
        .unwrap();
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO deliveries (gw_id, device_id, report_type, media_type, tid,
             origin_timestamp, received_at, encryption_flag, payload)
         VALUES ('SC10010001', '', 1, 1, 99, 1, 1, 0, '\\x00') RETURNING id",
    )
    .fetch_one(&pg)
    .await
    .unwrap();
    assert_eq!(id, max_delivery + 1);
    let (event, kind): (i64, String) =
        sqlx::query_as("SELECT id, kind FROM events ORDER BY id DESC LIMIT 1")
            .fetch_one(&pg)
            .await
            .unwrap();
    assert_eq!((event, kind.as_str()), (max_event + 1, "delivery"));
    assert_eq!(count(&pg, "events").await, events_before + 1);
    let seq: i64 = sqlx::query_scalar(
        "INSERT INTO revocations (auth_id, revoked_at) VALUES ('next', 1) RETURNING seq",
    )
    .fetch_one(&pg)
    .await
    .unwrap();
    assert_eq!(seq, 2);

    // A target with rows is refused, naming them, and left as it was.
    let err = migrate::run(dir.path(), &db.url, false, &mut Vec::new())
        .await
        .unwrap_err();
    assert!(
        matches!(err, ServerError::MigrateTargetNotEmpty { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("deliveries"), "{err}");
    assert!(err.to_string().contains("--replace-target"), "{err}");
    assert_eq!(count(&pg, "deliveries").await, max_delivery + 1);

    // Told to, it replaces the target's rows with the source's.
    migrate::run(dir.path(), &db.url, true, &mut Vec::new())
        .await
        .expect("migrate --replace-target");
    assert_eq!(count(&pg, "deliveries").await, max_delivery);
    assert_eq!(count(&pg, "events").await, events_before);
}

#[tokio::test]
async fn migrate_without_a_database_in_the_source_names_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let err = migrate::run(
        &dir.path().join("nothing-here"),
        "postgres://omp@127.0.0.1:1/x",
        false,
        &mut Vec::new(),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, ServerError::MigrateWithoutDatabase { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("nothing-here"), "{err}");
}

#[tokio::test]
async fn outbox_ids_increase_in_commit_order_across_concurrent_transactions() {
    let Some(db) = TestDatabase::create("commit-order").await else {
        return;
    };
    let (pg, _) = postgres::open(&db.url).await.unwrap();
    let insert = "INSERT INTO events (kind, at) VALUES ('gateway_online', 1) RETURNING id";
    let mut first = pg.begin().await.unwrap();
    let first_id: i64 = sqlx::query_scalar(insert)
        .fetch_one(&mut *first)
        .await
        .unwrap();
    // A second writer draws its id only once the first has ended: a
    // reader at the first's id can never miss the second's row.
    let second = tokio::spawn({
        let pg = pg.clone();
        async move {
            let mut tx = pg.begin().await.unwrap();
            let id: i64 = sqlx::query_scalar(insert)
                .fetch_one(&mut *tx)
                .await
                .unwrap();
            tx.commit().await.unwrap();
            id
        }
    });
    test_support::wait::until("the second writer waits for the first", || {
        let pg = pg.clone();
        async move {
            let waiting: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted",
            )
            .fetch_one(&pg)
            .await
            .unwrap();
            waiting == 1
        }
    })
    .await;
    assert!(!second.is_finished());
    first.commit().await.unwrap();
    let second_id = second.await.unwrap();
    assert!(second_id > first_id, "{second_id} after {first_id}");
}
