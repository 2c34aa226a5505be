//! The partners API (MyCreditApp): create and list are documented; get/update/delete by id are
//! assumed and served only while `assumed_partner_ops` is on (else 405, like a server without them).

use std::cmp::Ordering;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{FromRequestParts, Path, RawQuery, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::auth::{PartnerAuth, json_body};
use crate::envelope::{self, Detail, Vendor};
use crate::model::partner::{self, PARTNER_TYPES, Partner};
use crate::state::AppState;

/// Present only while the assumed operations are switched on; checked before auth, like routing.
pub(crate) struct AssumedOps;

impl FromRequestParts<AppState> for AssumedOps {
    type Rejection = Response;

    async fn from_request_parts(_parts: &mut Parts, app: &AppState) -> Result<Self, Self::Rejection> {
        if app.assumed_partner_ops() { Ok(AssumedOps) } else { Err(Vendor::Partners.method_not_allowed()) }
    }
}

fn internal(e: crate::Error) -> Response {
    Vendor::Partners.internal(&e)
}

fn unprocessable(errors: Vec<Detail>) -> Response {
    envelope::detail(StatusCode::UNPROCESSABLE_ENTITY, errors)
}

fn validated_body(body: &Bytes) -> Result<partner::PartnerFields, Response> {
    let value = json_body(body)?;
    partner::validate(&value).map_err(unprocessable)
}

/// `POST {prefix}/partners`: Self only; the partner belongs to the target (= requester) org.
pub(crate) async fn create(State(app): State<AppState>, auth: PartnerAuth, body: Bytes) -> Response {
    if let Err(response) = auth.require_self() {
        return response;
    }
    let fields = match validated_body(&body) {
        Ok(fields) => fields,
        Err(response) => return response,
    };
    let mut partner = Partner::new(auth.target, fields);
    if let Err(e) = app.db.insert_partner(&mut partner) {
        return internal(e);
    }
    app.stats.count_write();
    // 200, not 201: the seed documents only "200 Successful Response" for this call.
    (StatusCode::OK, Json(partner.view())).into_response()
}

fn path_id(raw: &str) -> Result<Uuid, Response> {
    Uuid::parse_str(raw).map_err(|_| {
        unprocessable(vec![Detail::field(
            vec![json!("path"), json!("partner_id")],
            "Input should be a valid UUID",
            "uuid_parsing",
        )])
    })
}

fn not_found() -> Response {
    envelope::detail(
        StatusCode::NOT_FOUND,
        vec![Detail::new(
            vec![json!("path"), json!("partner_id")],
            "Partner not found",
            "not_found",
            "partner_not_found",
        )],
    )
}

/// The target org's partner with this id, or the answer to give instead.
fn find(app: &AppState, auth: PartnerAuth, raw_id: &str) -> Result<Partner, Response> {
    let id = path_id(raw_id)?;
    match app.db.partner(id) {
        Ok(Some(partner)) if partner.org_id == auth.target => Ok(partner),
        Ok(_) => Err(not_found()),
        Err(e) => Err(internal(e)),
    }
}

/// `GET {prefix}/partners/{id}` (assumed).
pub(crate) async fn get_one(
    _on: AssumedOps,
    State(app): State<AppState>,
    auth: PartnerAuth,
    Path(id): Path<String>,
) -> Response {
    match find(&app, auth, &id) {
        Ok(partner) => Json(partner.view()).into_response(),
        Err(response) => response,
    }
}

/// `PUT {prefix}/partners/{id}` (assumed): a full body, validated like a create; Self only.
pub(crate) async fn update(
    _on: AssumedOps,
    State(app): State<AppState>,
    auth: PartnerAuth,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    if let Err(response) = auth.require_write(&app) {
        return response;
    }
    // Like FastAPI, the body is validated before the handler looks anything up.
    let fields = match validated_body(&body) {
        Ok(fields) => fields,
        Err(response) => return response,
    };
    let mut partner = match find(&app, auth, &id) {
        Ok(partner) => partner,
        Err(response) => return response,
    };
    partner.fields = fields;
    match app.db.update_partner(&mut partner) {
        Ok(true) => {
            app.stats.count_write();
            Json(partner.view()).into_response()
        }
        Ok(false) => not_found(),
        Err(e) => internal(e),
    }
}

/// `DELETE {prefix}/partners/{id}` (assumed): 204, or 404 when it is not there; Self only.
pub(crate) async fn delete(
    _on: AssumedOps,
    State(app): State<AppState>,
    auth: PartnerAuth,
    Path(id): Path<String>,
) -> Response {
    if let Err(response) = auth.require_write(&app) {
        return response;
    }
    let partner = match find(&app, auth, &id) {
        Ok(partner) => partner,
        Err(response) => return response,
    };
    match app.db.delete_partner(partner.id) {
        Ok(true) => {
            app.stats.count_write();
            StatusCode::NO_CONTENT.into_response()
        }
        Ok(false) => not_found(),
        Err(e) => internal(e),
    }
}

const ORDER_FIELDS: [&str; 6] = ["company_name", "sales_amount", "partner_type", "email", "frequency", "payment_terms"];

/// The list endpoint's query, parsed from repeated keys (`partner_types=a&partner_types=b`).
#[derive(Debug, PartialEq)]
pub(crate) struct ListQuery {
    partner_types: Vec<String>,
    partner_ids: Option<Vec<Uuid>>,
    invitation_statuses: Option<Vec<String>>,
    search_field: String,
    search_text: Option<String>,
    order_by: String,
    descending: bool,
    limit: usize,
    offset: usize,
}

fn query_loc(name: &str) -> Vec<Value> {
    vec![json!("query"), json!(name)]
}

fn enum_error(loc: Vec<Value>, allowed: &[&str]) -> Detail {
    let quoted: Vec<String> = allowed.iter().map(|a| format!("'{a}'")).collect();
    let msg = match quoted.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("Input should be {} or {last}", rest.join(", ")),
        _ => format!("Input should be {}", quoted.join("")),
    };
    Detail::field(loc, msg, "enum")
}

impl ListQuery {
    /// Parses and validates the raw query, listing every problem like FastAPI would.
    pub fn parse(raw: Option<&str>) -> Result<Self, Vec<Detail>> {
        let pairs: Vec<(String, String)> =
            form_urlencoded::parse(raw.unwrap_or_default().as_bytes()).into_owned().collect();
        let all = |name: &str| pairs.iter().filter(|(k, _)| k == name).map(|(_, v)| v.as_str()).collect::<Vec<_>>();
        let last = |name: &str| pairs.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
        let mut errors = Vec::new();

        let one_of_each = |name: &str, allowed: &[&str], errors: &mut Vec<Detail>| -> Vec<String> {
            let values = all(name);
            for (i, v) in values.iter().enumerate() {
                if !allowed.contains(v) {
                    errors.push(enum_error(vec![json!("query"), json!(name), json!(i)], allowed));
                }
            }
            values.into_iter().map(str::to_owned).collect()
        };
        let partner_types = one_of_each("partner_types", &PARTNER_TYPES, &mut errors);
        if partner_types.is_empty() {
            errors.push(Detail::field(query_loc("partner_types"), "Field required", "missing"));
        }
        let statuses = one_of_each("invitation_statuses", &["invited", "accepted"], &mut errors);
        let invitation_statuses = (!statuses.is_empty()).then_some(statuses);

        let ids = all("partner_ids");
        let mut partner_ids = Vec::with_capacity(ids.len());
        for (i, v) in ids.iter().enumerate() {
            match Uuid::parse_str(v) {
                Ok(id) => partner_ids.push(id),
                Err(_) => errors.push(Detail::field(
                    vec![json!("query"), json!("partner_ids"), json!(i)],
                    "Input should be a valid UUID",
                    "uuid_parsing",
                )),
            }
        }
        let partner_ids = (!ids.is_empty()).then_some(partner_ids);

        let mut choice = |name: &str, allowed: &[&str], default: &str| match last(name) {
            None => default.to_owned(),
            Some(v) if allowed.contains(&v) => v.to_owned(),
            Some(_) => {
                errors.push(enum_error(query_loc(name), allowed));
                default.to_owned()
            }
        };
        let search_field = choice("search_field", &["company_name", "email"], "company_name");
        let order_by = choice("order_by", &ORDER_FIELDS, "company_name");
        let descending = choice("order_dir", &["asc", "desc"], "asc") == "desc";

        let search_text = last("search_text").map(str::to_owned);
        if let Some(text) = &search_text {
            let length = text.chars().count();
            if length == 0 {
                errors.push(Detail::field(
                    query_loc("search_text"),
                    "String should have at least 1 character",
                    "string_too_short",
                ));
            } else if length > 255 {
                errors.push(Detail::field(
                    query_loc("search_text"),
                    "String should have at most 255 characters",
                    "string_too_long",
                ));
            }
        }

        let mut number = |name: &str, min: usize, max: usize, default: Option<usize>| {
            let Some(raw) = last(name) else {
                if default.is_none() {
                    errors.push(Detail::field(query_loc(name), "Field required", "missing"));
                }
                return default.unwrap_or(min);
            };
            let Ok(n) = raw.parse::<i64>() else {
                errors.push(Detail::field(
                    query_loc(name),
                    "Input should be a valid integer, unable to parse string as an integer",
                    "int_parsing",
                ));
                return min;
            };
            match usize::try_from(n) {
                Ok(n) if n < min => {}
                Ok(n) if n <= max => return n,
                Ok(_) => {
                    errors.push(Detail::field(
                        query_loc(name),
                        format!("Input should be less than or equal to {max}"),
                        "less_than_equal",
                    ));
                    return min;
                }
                Err(_) => {}
            }
            errors.push(Detail::field(
                query_loc(name),
                format!("Input should be greater than or equal to {min}"),
                "greater_than_equal",
            ));
            min
        };
        let limit = number("limit", 1, 100, None);
        let offset = number("offset", 0, usize::MAX, Some(0));

        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Self {
            partner_types,
            partner_ids,
            invitation_statuses,
            search_field,
            search_text,
            order_by,
            descending,
            limit,
            offset,
        })
    }

    fn matches(&self, p: &Partner) -> bool {
        let f = &p.fields;
        self.partner_types.contains(&f.partner_type)
            && self.partner_ids.as_ref().is_none_or(|ids| ids.contains(&p.id))
            && self
                .invitation_statuses
                .as_ref()
                .is_none_or(|statuses| p.invitation_status.as_ref().is_some_and(|status| statuses.contains(status)))
            && self.search_text.as_ref().is_none_or(|needle| {
                let haystack = if self.search_field == "email" { &f.email } else { &f.company_name };
                haystack.to_lowercase().contains(&needle.to_lowercase())
            })
    }

    /// The chosen order, then company_name and id, so every page boundary is stable.
    fn compare(&self, a: &Partner, b: &Partner) -> Ordering {
        let (x, y) = (&a.fields, &b.fields);
        let primary = match self.order_by.as_str() {
            "sales_amount" => x.sales_amount.cmp(&y.sales_amount),
            "partner_type" => x.partner_type.cmp(&y.partner_type),
            "email" => x.email.cmp(&y.email),
            "frequency" => x.frequency.cmp(&y.frequency),
            "payment_terms" => x.payment_terms.cmp(&y.payment_terms),
            _ => Ordering::Equal,
        };
        let primary = if self.descending { primary.reverse() } else { primary };
        let by_name = x.company_name.cmp(&y.company_name);
        let by_name = if self.descending && self.order_by == "company_name" { by_name.reverse() } else { by_name };
        primary.then(by_name).then(a.id.cmp(&b.id))
    }
}

/// `GET {prefix}/partners`: the target org's partners, filtered, ordered and paged.
pub(crate) async fn list(State(app): State<AppState>, auth: PartnerAuth, RawQuery(raw): RawQuery) -> Response {
    let query = match ListQuery::parse(raw.as_deref()) {
        Ok(query) => query,
        Err(errors) => return unprocessable(errors),
    };
    let unpaged: Vec<&str> = raw
        .as_deref()
        .unwrap_or_default()
        .split('&')
        .filter(|pair| !pair.starts_with("limit=") && !pair.starts_with("offset="))
        .collect();
    let key = format!("{}|{}|{}", auth.target, app.db.partners_version(), unpaged.join("&"));
    let cached =
        crate::state::lock(&app.partner_list_cache).as_ref().filter(|(k, _)| *k == key).map(|(_, l)| l.clone());
    let partners = match cached {
        Some(list) => list,
        None => {
            let mut partners: Vec<Partner> = match app.db.partners(Some(auth.target)) {
                Ok(partners) => partners.into_iter().filter(|p| query.matches(p)).collect(),
                Err(e) => return internal(e),
            };
            partners.sort_by(|a, b| query.compare(a, b));
            let list = std::sync::Arc::new(partners);
            *crate::state::lock(&app.partner_list_cache) = Some((key, list.clone()));
            list
        }
    };
    let items: Vec<_> = partners.iter().skip(query.offset).take(query.limit).map(Partner::view).collect();
    Json(json!({ "items": items, "total_items": partners.len() })).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(errors: &[Detail]) -> Vec<(String, String)> {
        errors
            .iter()
            .map(|d| (d.loc.iter().map(|l| l.to_string()).collect::<Vec<_>>().join("."), d.kind.clone()))
            .collect()
    }

    #[test]
    fn repeated_keys_and_defaults() {
        let q = ListQuery::parse(Some("partner_types=customer&partner_types=supplier&limit=5")).expect("valid");
        assert_eq!(q.partner_types, ["customer", "supplier"]);
        assert_eq!((q.limit, q.offset, q.search_field.as_str(), q.descending), (5, 0, "company_name", false));
        assert_eq!(q.partner_ids, None);
    }

    #[test]
    fn every_problem_is_listed() {
        let errors = ListQuery::parse(Some(
            "partner_types=friend&limit=0&offset=-1&search_text=&partner_ids=nope&order_dir=up&search_field=name",
        ))
        .expect_err("invalid");
        let got = kinds(&errors);
        let expected = [
            ("\"query\".\"partner_types\".0", "enum"),
            ("\"query\".\"partner_ids\".0", "uuid_parsing"),
            ("\"query\".\"search_field\"", "enum"),
            ("\"query\".\"order_dir\"", "enum"),
            ("\"query\".\"search_text\"", "string_too_short"),
            ("\"query\".\"limit\"", "greater_than_equal"),
            ("\"query\".\"offset\"", "greater_than_equal"),
        ];
        assert_eq!(got, expected.map(|(a, b)| (a.to_owned(), b.to_owned())));
    }

    #[test]
    fn required_parameters() {
        let errors = ListQuery::parse(None).expect_err("missing");
        assert_eq!(errors.len(), 2);
        assert!(errors.iter().all(|d| d.kind == "missing"));
        let errors = ListQuery::parse(Some("partner_types=customer&limit=101&offset=x")).expect_err("bad");
        assert_eq!(errors[0].kind, "less_than_equal");
        assert_eq!(errors[1].kind, "int_parsing");
    }

    #[test]
    fn enum_messages_read_like_pydantic() {
        let error = enum_error(vec![], &["asc", "desc"]);
        assert_eq!(error.msg, "Input should be 'asc' or 'desc'");
        let error = enum_error(vec![], &["a", "b", "c"]);
        assert_eq!(error.msg, "Input should be 'a', 'b' or 'c'");
    }
}
