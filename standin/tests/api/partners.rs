//! The partners API over real HTTP: tokens, headers, create, list, assumed operations.

use crate::common::{Harness, json, partner_body};
use partnerbook_standin::{ClientCredentials, Config, DEV_ORG_ID, Faults};
use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

fn is_rfc3339_micros(s: &str) -> bool {
    // 2026-11-26T10:00:00.123456Z
    s.len() == 27 && s.as_bytes()[10] == b'T' && s.ends_with('Z') && s.as_bytes()[19] == b'.'
}

#[tokio::test]
async fn token_issue_and_bad_credentials() {
    let h = Harness::new().await;
    let response = h.token_for("partnerbook-dev", "dev-secret").await;
    assert_eq!(response.status(), StatusCode::OK);
    let body = json(response).await;
    assert_eq!(body["expires_in"], 3600);
    assert!(body["access_token"].as_str().is_some_and(|t| t.len() >= 32));

    for (id, secret) in [("partnerbook-dev", "wrong"), ("nobody", "dev-secret")] {
        let response = h.token_for(id, secret).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            json(response).await,
            json!({"detail": [{"loc": ["body", "client_secret"], "msg": "Invalid client credentials",
                               "type": "invalid_client", "code": "invalid_client"}]})
        );
    }
    let response =
        h.http.post(h.partners("/oauth2/token")).json(&json!({"client_id": "x"})).send().await.expect("send");
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(json(response).await["detail"][0]["loc"], json!(["body", "client_secret"]));
}

#[tokio::test]
async fn tokens_expire_and_revoked_clients_lose_them() {
    let h = Harness::new().await;
    let token = h.token().await;
    let list = |token: String| {
        let request = h.as_dev(h.http.get(h.partners("/partners")), &token);
        async move { request.query(&[("partner_types", "customer"), ("limit", "10")]).send().await.expect("send") }
    };
    assert_eq!(list(token.clone()).await.status(), StatusCode::OK);

    h.standin.expire_tokens();
    let response = list(token).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let body = json(response).await;
    assert_eq!(body["detail"][0]["msg"], "Token expired");
    assert_eq!(body["detail"][0]["loc"], json!(["header", "Authorization"]));

    // Short-lived tokens through the faults.
    h.standin.set_faults(Faults { token_ttl_secs: Some(0), ..Faults::default() });
    let short = h.token_for("partnerbook-dev", "dev-secret").await;
    let short = json(short).await;
    assert_eq!(short["expires_in"], 0);
    let response = list(short["access_token"].as_str().expect("token").to_owned()).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    h.standin.set_faults(Faults::default());

    let token = h.token().await;
    h.standin.revoke_client("partnerbook-dev");
    let response = list(token).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(json(response).await["detail"][0]["msg"], "Invalid token");
    assert_eq!(h.token_for("partnerbook-dev", "dev-secret").await.status(), StatusCode::UNAUTHORIZED);

    h.standin.add_client(ClientCredentials::dev());
    assert_eq!(list(h.token().await).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn auth_and_org_header_errors() {
    let other = Uuid::new_v4();
    let connected = Uuid::new_v4();
    let h = Harness::start(Config {
        clients: vec![ClientCredentials::dev(), ClientCredentials::new("other", "s", other)],
        connections: vec![(DEV_ORG_ID, connected)],
        ..Config::default()
    })
    .await;
    let token = h.token().await;
    let query = [("partner_types", "customer"), ("limit", "10")];

    let response = h.http.get(h.partners("/partners")).query(&query).send().await.expect("send");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(json(response).await["detail"][0]["msg"], "Not authenticated");

    let response = h.http.get(h.partners("/partners")).bearer_auth(&token).query(&query).send().await.expect("send");
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body = json(response).await;
    assert_eq!(body["detail"][0]["loc"], json!(["header", "Requester-Organization-ID"]));
    assert_eq!(body["detail"][1]["loc"], json!(["header", "Target-Organization-ID"]));

    let response = h
        .http
        .get(h.partners("/partners"))
        .bearer_auth(&token)
        .header("Requester-Organization-ID", "not-a-uuid")
        .header("Target-Organization-ID", DEV_ORG_ID.to_string())
        .query(&query)
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(json(response).await["detail"][0]["type"], "uuid_parsing");

    // Requester must be the token's organization.
    let response =
        h.as_org(h.http.get(h.partners("/partners")), &token, other, other).query(&query).send().await.expect("send");
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(json(response).await["detail"][0]["loc"], json!(["header", "Requester-Organization-ID"]));

    // A target without a connection.
    let response = h
        .as_org(h.http.get(h.partners("/partners")), &token, DEV_ORG_ID, other)
        .query(&query)
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        json(response).await,
        json!({"detail": [{"loc": ["header", "Target-Organization-ID"], "msg": "No connection with the target organization",
                           "type": "forbidden", "code": "forbidden"}]})
    );

    // A connected target can be read, but creating there is Self-only.
    h.standin.insert_partner(connected, partner_body("Guest Co", "g@guest.io"));
    let response = h
        .as_org(h.http.get(h.partners("/partners")), &token, DEV_ORG_ID, connected)
        .query(&query)
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(json(response).await["total_items"], 1);
    let response = h
        .as_org(h.http.post(h.partners("/partners")), &token, DEV_ORG_ID, connected)
        .json(&partner_body("X", "x@x.io"))
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(h.standin.partners().len(), 1);
}

#[tokio::test]
async fn create_validates_every_field_and_answers_the_documented_shape() {
    let h = Harness::new().await;
    let token = h.token().await;
    let bad = json!({"company_name": "", "sales_amount": 1.5, "partner_type": "friend", "email": "no-at-sign",
                     "frequency": "x".repeat(31)});
    let response = h.create_partner(&token, &bad).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body = json(response).await;
    let fields: Vec<&str> =
        body["detail"].as_array().expect("detail list").iter().map(|d| d["loc"][1].as_str().expect("field")).collect();
    assert_eq!(fields, ["company_name", "sales_amount", "partner_type", "email", "frequency", "payment_terms"]);
    assert!(body["detail"].as_array().expect("list").iter().all(|d| d["msg"].is_string() && d["code"].is_string()));

    let response = h.create_partner(&token, &json!({"sales_amount": 2_147_483_648_i64})).await;
    let body = json(response).await;
    assert!(body["detail"].as_array().expect("list").iter().any(|d| d["type"] == "less_than_equal"));

    let mut good = partner_body("Ünïcode & <script>alert(1)</script>", "a@acme.com");
    good["extra"] = json!("ignored");
    let response = h.create_partner(&token, &good).await;
    assert_eq!(response.status(), StatusCode::OK);
    let created = json(response).await;
    assert_eq!(created["company_name"], good["company_name"]);
    assert_eq!(created["sales_amount"], 1000);
    assert_eq!(created["invitation_status"], Value::Null);
    assert_eq!(created["guest_organization_id"], Value::Null);
    assert!(created.get("extra").is_none());
    let id = Uuid::parse_str(created["id"].as_str().expect("id")).expect("uuid");
    assert_eq!(id.get_version_num(), 4);
    let (c, u) = (created["created_at"].as_str().expect("c"), created["updated_at"].as_str().expect("u"));
    assert!(is_rfc3339_micros(c), "{c}");
    assert_eq!(c, u);

    let stored = h.standin.partners();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0]["org_id"], DEV_ORG_ID.to_string());
    assert_eq!(h.standin.stats().writes, 1);
}

#[tokio::test]
async fn list_pages_searches_and_filters() {
    let h = Harness::new().await;
    let token = h.token().await;
    for i in 0..25 {
        let mut body = partner_body(&format!("Company {:02}", 24 - i), &format!("p{i}@example.com"));
        if i % 5 == 0 {
            body["partner_type"] = json!("supplier");
        }
        assert_eq!(h.create_partner(&token, &body).await.status(), StatusCode::OK);
    }
    let list = |params: Vec<(&'static str, String)>| {
        let request = h.as_dev(h.http.get(h.partners("/partners")), &token).query(&params);
        async move {
            let response = request.send().await.expect("send");
            (response.status(), json(response).await)
        }
    };
    let both = || vec![("partner_types", "customer".to_owned()), ("partner_types", "supplier".to_owned())];

    let mut names = Vec::new();
    for offset in [0, 10, 20] {
        let mut params = both();
        params.extend([("limit", "10".to_owned()), ("offset", offset.to_string())]);
        let (status, body) = list(params).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["total_items"], 25);
        names.extend(
            body["items"]
                .as_array()
                .expect("items")
                .iter()
                .map(|p| p["company_name"].as_str().expect("name").to_owned()),
        );
    }
    let expected: Vec<String> = (0..25).map(|i| format!("Company {i:02}")).collect();
    assert_eq!(names, expected, "pages cover everything once, in company_name order");

    let (_, suppliers) = list(vec![("partner_types", "supplier".to_owned()), ("limit", "100".to_owned())]).await;
    assert_eq!(suppliers["total_items"], 5);

    let mut params = both();
    params.extend([("limit", "100".to_owned()), ("search_text", "COMPANY 1".to_owned())]);
    let (_, found) = list(params).await;
    assert_eq!(found["total_items"], 10, "case-insensitive substring on company_name");

    let mut params = both();
    params.extend([
        ("limit", "100".to_owned()),
        ("search_field", "email".to_owned()),
        ("search_text", "P7@EXAMPLE".to_owned()),
    ]);
    let (_, by_email) = list(params).await;
    assert_eq!(by_email["total_items"], 1);
    let id = by_email["items"][0]["id"].as_str().expect("id").to_owned();

    let mut params = both();
    params.extend([
        ("limit", "100".to_owned()),
        ("partner_ids", id.clone()),
        ("partner_ids", Uuid::new_v4().to_string()),
    ]);
    let (_, by_id) = list(params).await;
    assert_eq!(by_id["total_items"], 1);
    assert_eq!(by_id["items"][0]["id"], id.as_str());

    let mut params = both();
    params.extend([
        ("limit", "3".to_owned()),
        ("order_by", "company_name".to_owned()),
        ("order_dir", "desc".to_owned()),
    ]);
    let (_, desc) = list(params).await;
    assert_eq!(desc["items"][0]["company_name"], "Company 24");

    let (status, body) = list(vec![("limit", "10".to_owned())]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["detail"][0]["loc"], json!(["query", "partner_types"]));
    let mut params = both();
    params.push(("limit", "101".to_owned()));
    let (status, _) = list(params).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, body) = list(both()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "limit is required");
    assert_eq!(body["detail"][0]["loc"], json!(["query", "limit"]));
}

#[tokio::test]
async fn assumed_operations_and_the_switch() {
    let h = Harness::new().await;
    let token = h.token().await;
    let created = json(h.create_partner(&token, &partner_body("Acme", "a@acme.com")).await).await;
    let id = created["id"].as_str().expect("id");
    let url = h.partners(&format!("/partners/{id}"));

    let response = h.as_dev(h.http.get(&url), &token).send().await.expect("get");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(json(response).await, created);

    let response =
        h.as_dev(h.http.put(&url), &token).json(&partner_body("Acme 2", "a@acme.com")).send().await.expect("put");
    assert_eq!(response.status(), StatusCode::OK);
    let updated = json(response).await;
    assert_eq!(updated["company_name"], "Acme 2");
    assert_eq!(updated["created_at"], created["created_at"]);
    assert!(updated["updated_at"].as_str() > created["updated_at"].as_str(), "updated_at moves forward");

    let response = h.as_dev(h.http.put(&url), &token).json(&json!({"company_name": "only"})).send().await.expect("put");
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let response = h.as_dev(h.http.get(h.partners("/partners/not-a-uuid")), &token).send().await.expect("get");
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);

    h.standin.set_assumed_partner_ops(false);
    for request in [h.http.get(&url), h.http.put(&url), h.http.delete(&url)] {
        let response = request.send().await.expect("send");
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(json(response).await["detail"][0]["msg"], "Method Not Allowed");
    }
    h.standin.set_assumed_partner_ops(true);

    let response = h.as_dev(h.http.delete(&url), &token).send().await.expect("delete");
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let response = h.as_dev(h.http.delete(&url), &token).send().await.expect("delete again");
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(json(response).await["detail"][0]["msg"], "Partner not found");
    let response = h.as_dev(h.http.get(&url), &token).send().await.expect("get");
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert!(h.standin.partners().is_empty());
}

#[tokio::test]
async fn unknown_routes_and_methods_use_the_vendor_envelope() {
    let h = Harness::start(Config { partners_prefix: "v1".to_owned(), ..Config::default() }).await;
    assert!(h.standin.partners_url().ends_with("/v1"));
    let response = h.http.patch(h.partners("/partners")).send().await.expect("patch");
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(json(response).await["detail"][0]["msg"], "Method Not Allowed");
    let response = h.http.get(h.partners("/nothing")).send().await.expect("get");
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert!(json(response).await["detail"].is_array());
    let response = h.http.get(h.orgs("/x/y")).send().await.expect("get");
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(json(response).await["errorCode"], "NotFound");
}
