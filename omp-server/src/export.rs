//! A gateway's deliveries as CSV or NDJSON, oldest first, streamed in
//! constant memory: [`deliveries`] reads [`PAGE`] rows at a time by
//! keyset (`id > last id`, the index `deliveries_gw_id`) and turns each
//! page into one chunk of bytes, so any number of rows costs one page of
//! memory. The HTTP export (`GET /api/v1/gateways/{gw_id}/deliveries/export`)
//! sends the chunks as a streamed body; `omp-server export` writes them to
//! a file or stdout.
//!
//! CSV: a header row, then one row per delivery, the payload Base64 as
//! the API gives it (`content`):
//!
//! ```text
//! id,gw_id,device_id,report_type,report_type_name,media_type,tid,origin_timestamp,received_at,encrypted,content_length,content
//! 1,SC10010001,,1,collect_data,1,7,2020-04-15T08:00:00Z,2026-12-03T10:00:00.123Z,false,5,aGVsbG8=
//! ```
//!
//! NDJSON: one `Delivery` of the API (the contract's schema) per line.

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::store::Db;
use bytes::Bytes;
use futures::{Stream, StreamExt};

use crate::config::{Config, ExportCommand};
use crate::error::{ConfigError, ServerError, StoreError};
use crate::events::EventFeed;
use crate::http::deliveries::DeliveryBody;
use crate::http::time::parse_rfc3339;
use crate::store::deliveries::{self, HistoryFilter, StoredDelivery};

/// Rows read and encoded per chunk.
pub const PAGE: i64 = 1000;

/// The CSV header row.
pub const CSV_HEADER: &str = "id,gw_id,device_id,report_type,report_type_name,media_type,tid,\
origin_timestamp,received_at,encrypted,content_length,content\n";

/// How the rows are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Comma-separated, a header row first (RFC 4180 quoting).
    Csv,
    /// One JSON object per line.
    Ndjson,
}

impl Format {
    /// The format named `name` (`csv`, `ndjson`).
    pub fn parse(name: &str) -> Option<Format> {
        match name {
            "csv" => Some(Format::Csv),
            "ndjson" => Some(Format::Ndjson),
            _ => None,
        }
    }

    /// The response's media type.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Csv => "text/csv; charset=utf-8",
            Format::Ndjson => "application/x-ndjson",
        }
    }

    /// The file name extension.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Ndjson => "ndjson",
        }
    }
}

/// Which deliveries an export holds.
#[derive(Debug, Clone)]
pub struct Selection {
    /// The gateway.
    pub gw_id: String,
    /// `received_at >=`, `received_at <` and `device_id =` (its
    /// `before_id` and `report_type` are not used).
    pub filter: HistoryFilter,
}

/// The export of `selection` in `format`, chunk by chunk; the rows
/// written are counted on `feed`'s `export_rows` when given.
pub fn deliveries(
    db: Db,
    selection: Selection,
    format: Format,
    feed: Option<Arc<EventFeed>>,
) -> impl Stream<Item = Result<Bytes, StoreError>> + Send + 'static {
    let header = match format {
        Format::Csv => Some(Ok(Bytes::from_static(CSV_HEADER.as_bytes()))),
        Format::Ndjson => None,
    };
    let pages = futures::stream::try_unfold(Some(0i64), move |after| {
        let db = db.clone();
        let selection = selection.clone();
        let feed = feed.clone();
        async move {
            let Some(after) = after else {
                return Ok(None);
            };
            let rows =
                deliveries::oldest_after(&db, &selection.gw_id, &selection.filter, after, PAGE)
                    .await?;
            let Some(last) = rows.last().map(|r| r.id) else {
                return Ok(None);
            };
            let next = (rows.len() as i64 == PAGE).then_some(last);
            if let Some(feed) = &feed {
                feed.metrics()
                    .export_rows
                    .fetch_add(rows.len() as u64, Ordering::Relaxed);
            }
            Ok(Some((encode(format, rows), next)))
        }
    });
    futures::stream::iter(header).chain(pages)
}

/// One page of rows as bytes.
fn encode(format: Format, rows: Vec<StoredDelivery>) -> Bytes {
    let mut out = Vec::with_capacity(rows.len() * 128);
    for row in rows {
        match format {
            Format::Csv => csv_row(&mut out, &row),
            Format::Ndjson => {
                // A struct of strings and integers always serialises.
                let _ = serde_json::to_writer(&mut out, &DeliveryBody::from(row));
                out.push(b'\n');
            }
        }
    }
    Bytes::from(out)
}

/// One CSV row of `d`, with the same values as the API's `Delivery`.
fn csv_row(out: &mut Vec<u8>, d: &StoredDelivery) {
    let body = DeliveryBody::from(d.clone());
    let fields = body.csv_fields();
    for (i, field) in fields.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        csv_field(out, field);
    }
    out.push(b'\n');
}

/// `field`, quoted when it holds a comma, a quote or a line break.
fn csv_field(out: &mut Vec<u8>, field: &str) {
    if field.contains([',', '"', '\n', '\r']) {
        out.push(b'"');
        out.extend_from_slice(field.replace('"', "\"\"").as_bytes());
        out.push(b'"');
    } else {
        out.extend_from_slice(field.as_bytes());
    }
}

/// `omp-server export`: writes the export of `selection` to `out`;
/// returns the bytes written.
pub async fn write(
    db: Db,
    selection: Selection,
    format: Format,
    out: &mut impl Write,
) -> Result<u64, ServerError> {
    let mut chunks = std::pin::pin!(deliveries(db, selection, format, None));
    let mut written = 0u64;
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk?;
        out.write_all(&chunk).map_err(ServerError::ExportWrite)?;
        written += chunk.len() as u64;
    }
    out.flush().map_err(ServerError::ExportWrite)?;
    Ok(written)
}

/// `omp-server export …`: the export of the command's selection to its
/// `--out` file (made anew) or stdout. The database must exist (an export
/// never makes a data directory).
pub async fn execute(config: &Config, command: &ExportCommand) -> Result<(), ServerError> {
    let bad = |key: &'static str, value: &str, reason: &str| {
        ServerError::Config(ConfigError::BadValue {
            key,
            value: value.to_owned(),
            reason: reason.to_owned(),
        })
    };
    let format = Format::parse(&command.format)
        .ok_or_else(|| bad("--format", &command.format, "must be csv or ndjson"))?;
    let time = |key: &'static str, value: &Option<String>| {
        value
            .as_deref()
            .map(|v| parse_rfc3339(v).ok_or_else(|| bad(key, v, "must be an RFC 3339 date-time")))
            .transpose()
    };
    let selection = Selection {
        gw_id: command.gw_id.clone(),
        filter: HistoryFilter {
            from: time("--from", &command.from)?,
            to: time("--to", &command.to)?,
            device_id: command.device_id.clone(),
            ..HistoryFilter::default()
        },
    };
    let database = config.database_path();
    // An export never creates the SQLite file it reads.
    if config.database_url.is_none() && !database.exists() {
        let path = std::path::absolute(&database).unwrap_or(database);
        return Err(ServerError::ExportWithoutDatabase { path });
    }
    let (db, _) = crate::store::Db::open(config.database_url.as_deref(), &database).await?;
    let written = match &command.out {
        Some(path) => {
            let file = std::fs::File::create(path).map_err(ServerError::ExportWrite)?;
            let mut out = std::io::BufWriter::new(file);
            write(db.clone(), selection, format, &mut out).await
        }
        None => {
            let mut out = std::io::BufWriter::new(std::io::stdout());
            write(db.clone(), selection, format, &mut out).await
        }
    };
    db.close().await;
    let written = written?;
    tracing::info!(gw_id = %command.gw_id, bytes = written, "deliveries exported");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_with_commas_quotes_or_line_breaks_are_quoted() {
        let mut out = Vec::new();
        csv_field(&mut out, "plain");
        out.push(b'|');
        csv_field(&mut out, "a,b");
        out.push(b'|');
        csv_field(&mut out, "say \"hi\"");
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"plain|"a,b"|"say ""hi""""#
        );
    }

    #[test]
    fn formats_are_named_csv_and_ndjson() {
        assert_eq!(Format::parse("csv"), Some(Format::Csv));
        assert_eq!(Format::parse("ndjson"), Some(Format::Ndjson));
        assert_eq!(Format::parse("json"), None);
    }
}
