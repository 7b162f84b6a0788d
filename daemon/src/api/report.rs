//! `GET /api/report`: what left the house in a period, as JSON, CSV or a printable HTML page.
//! The report itself is `crate::transparency`; this reads the audit log (off the async
//! threads) and picks the format.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;

use super::recordings::TimeParamError;
use super::{ApiState, error};
use crate::transparency;

/// The report's formats (`format=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Json,
    Csv,
    Html,
}

/// Why a report was not made.
#[derive(Debug, thiserror::Error)]
enum ReportError {
    #[error(transparent)]
    Time(#[from] TimeParamError),
    #[error("`from` ({from}) must be before `to` ({to})")]
    Order { from: Timestamp, to: Timestamp },
    #[error("`format` must be json, csv or html, not {0:?}")]
    Format(String),
    #[error(transparent)]
    Audit(#[from] crate::audit::AuditError),
    #[error("the report could not be made: {0}")]
    Task(#[from] tokio::task::JoinError),
}

impl ReportError {
    fn status(&self) -> StatusCode {
        match self {
            Self::Time(_) | Self::Order { .. } | Self::Format(_) => StatusCode::BAD_REQUEST,
            Self::Audit(_) | Self::Task(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// `from` (default 7 days ago), `to` (default now) and `format` (default `json`), both times
/// read against one `now`.
fn params(
    q: &HashMap<String, String>,
    now: Timestamp,
) -> Result<(Timestamp, Timestamp, Format), ReportError> {
    let time = |name: &'static str, default: &str| {
        let text = q.get(name).map_or(default, String::as_str);
        crate::config::units::parse_time(text, now).map_err(|reason| TimeParamError::Invalid { name, reason })
    };
    let (from, to) = (time("from", "-7d")?, time("to", "now")?);
    if from >= to {
        return Err(ReportError::Order { from, to });
    }
    let format = match q.get("format").map(String::as_str) {
        None | Some("json") => Format::Json,
        Some("csv") => Format::Csv,
        Some("html") => Format::Html,
        Some(other) => return Err(ReportError::Format(other.to_owned())),
    };
    Ok((from, to, format))
}

pub async fn report(State(st): State<ApiState>, Query(q): Query<HashMap<String, String>>) -> Response {
    match make(&st, &q).await {
        Ok(resp) => resp,
        Err(e) => error(e.status(), &e.to_string()),
    }
}

async fn make(st: &ApiState, q: &HashMap<String, String>) -> Result<Response, ReportError> {
    let now = Timestamp::now();
    let (from, to, format) = params(q, now)?;
    let settings = st.settings.borrow().clone();
    let dir = settings.hub.data_dir.join("audit");
    let hub = settings.hub.name.clone();
    let report = tokio::task::spawn_blocking(move || {
        let (verdict, records) = crate::audit::read_verified(&dir)?;
        let chain = transparency::Chain::from(&verdict);
        Ok::<_, crate::audit::AuditError>(transparency::build(&records, chain, &hub, from, to, now))
    })
    .await??;
    let (body, content_type, ext) = match format {
        Format::Json => return Ok(axum::Json(report).into_response()),
        Format::Csv => (transparency::to_csv(&report), "text/csv; charset=utf-8", "csv"),
        Format::Html => (transparency::to_html(&report), "text/html; charset=utf-8", "html"),
    };
    let stamp = |t: Timestamp| t.strftime("%Y%m%dT%H%M%SZ").to_string();
    let mut resp = body.into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(v) = HeaderValue::from_str(&format!(
        "attachment; filename=\"porchlight-report-{}-{}.{ext}\"",
        stamp(from),
        stamp(to)
    )) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn parameters_default_to_the_last_week_as_json_and_errors_name_the_field() {
        let now: Timestamp = "2026-12-08T12:00:00Z".parse().expect("now");
        let (from, to, format) = params(&q(&[]), now).expect("defaults");
        assert_eq!((from.to_string().as_str(), to, format), ("2026-12-01T12:00:00Z", now, Format::Json));
        assert_eq!(params(&q(&[("format", "html")]), now).expect("html").2, Format::Html);
        let err =
            |pairs: &[(&str, &str)]| params(&q(pairs), now).map(|_| ()).expect_err("refused").to_string();
        assert!(
            err(&[("from", "yesterday")]).starts_with("`from`: invalid time"),
            "{}",
            err(&[("from", "yesterday")])
        );
        assert_eq!(
            err(&[("from", "-1d"), ("to", "-2d")]),
            "`from` (2026-12-07T12:00:00Z) must be before `to` (2026-12-06T12:00:00Z)"
        );
        assert_eq!(err(&[("format", "pdf")]), "`format` must be json, csv or html, not \"pdf\"");
    }
}
