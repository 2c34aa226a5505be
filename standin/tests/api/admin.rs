//! `/_admin` and the library handle: server-side edits, clients, faults and stats.

use crate::common::{Harness, json, org_body, partner_body};
use partnerbook_standin::{DEV_ORG_ID, Faults};
use reqwest::StatusCode;
use serde_json::json;
use uuid::Uuid;

#[tokio::test]
async fn server_side_partner_edits_show_up_in_the_api() {
    let h = Harness::new().await;
    let token = h.token().await;
    let created = json(h.create_partner(&token, &partner_body("Acme", "a@acme.com")).await).await;
    let id = created["id"].as_str().expect("id");

    let response =
        h.http.patch(h.admin(&format!("/partners/{id}"))).json(&json!({"company_name": "Acme (edited)"})).send().await;
    let edited = json(response.expect("patch")).await;
    assert_eq!(edited["company_name"], "Acme (edited)");
    assert_eq!(edited["org_id"], DEV_ORG_ID.to_string());
    assert!(edited["updated_at"].as_str() > created["updated_at"].as_str());

    let url = h.partners(&format!("/partners/{id}"));
    let seen = json(h.as_dev(h.http.get(&url), &token).send().await.expect("get")).await;
    assert_eq!(seen["company_name"], "Acme (edited)");
    assert_eq!(seen["updated_at"], edited["updated_at"]);

    let response = h.http.patch(h.admin(&format!("/partners/{id}"))).json(&json!({"email": "bad"})).send().await;
    assert_eq!(response.expect("patch").status(), StatusCode::UNPROCESSABLE_ENTITY);
    let response = h.http.patch(h.admin(&format!("/partners/{}", Uuid::new_v4()))).json(&json!({})).send().await;
    assert_eq!(response.expect("patch").status(), StatusCode::NOT_FOUND);

    // Library handle: edits, inserts for another org, deletes.
    let uuid = Uuid::parse_str(id).expect("uuid");
    let edited = h.standin.edit_partner(uuid, json!({"invitation_status": "invited"})).expect("exists");
    assert_eq!(edited["invitation_status"], "invited");
    assert!(h.standin.try_edit_partner(uuid, json!({"sales_amount": -1})).is_err());
    let other_org = Uuid::new_v4();
    let mut body = partner_body("Other", "o@other.io");
    body["org_id"] = json!(other_org.to_string());
    let response = h.http.post(h.admin("/partners")).json(&body).send().await.expect("post");
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(json(response).await["org_id"], other_org.to_string());
    let all = json(h.http.get(h.admin("/partners")).send().await.expect("get")).await;
    assert_eq!(all.as_array().map(Vec::len), Some(2));

    let listed = h
        .as_dev(h.http.get(h.partners("/partners")), &token)
        .query(&[("partner_types", "customer"), ("limit", "100")])
        .send()
        .await
        .expect("list");
    assert_eq!(json(listed).await["total_items"], 1, "the other org's partner is not ours");

    let response = h.http.delete(h.admin(&format!("/partners/{id}"))).send().await.expect("delete");
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert!(!h.standin.delete_partner(uuid));
    assert_eq!(h.standin.partners().len(), 1);
    assert_eq!(h.standin.stats().admin_writes, 4);
}

#[tokio::test]
async fn server_side_organization_edits() {
    let h = Harness::new().await;
    let response = h.http.post(h.admin("/organizations")).json(&org_body("o1", "Acme")).send().await.expect("post");
    assert_eq!(response.status(), StatusCode::CREATED);
    let created = json(response).await;
    let response =
        h.http.patch(h.admin("/organizations/o1")).json(&json!({"name": "Acme 2", "linkedTo": "3111222"})).send().await;
    let edited = json(response.expect("patch")).await;
    assert_eq!((edited["name"].as_str(), edited["linkedTo"].as_str()), (Some("Acme 2"), Some("3111222")));
    assert!(edited["updatedAt"].as_str() > created["updatedAt"].as_str());

    let seen = json(h.with_key(h.http.get(h.orgs("/o1"))).send().await.expect("get")).await;
    assert_eq!(seen["data"], edited);

    let response = h.http.patch(h.admin("/organizations/o1")).json(&json!({"country": "usa"})).send().await;
    assert_eq!(response.expect("patch").status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(h.standin.edit_organization("missing", json!({"name": "x"})).is_none());
    assert_eq!(h.standin.edit_organization("o1", json!({"name": "Acme 3"})).expect("exists")["name"], "Acme 3");

    let all = json(h.http.get(h.admin("/organizations")).send().await.expect("get")).await;
    assert_eq!(all.as_array().map(Vec::len), Some(1));
    let response = h.http.delete(h.admin("/organizations/o1")).send().await.expect("delete");
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert!(!h.standin.delete_organization("o1"));
    h.standin.insert_organization(org_body("o2", "Lib"));
    assert_eq!(h.standin.organizations().len(), 1);
}

#[tokio::test]
async fn clients_can_be_added_and_revoked_over_http() {
    let h = Harness::new().await;
    let org = Uuid::new_v4();
    let response = h
        .http
        .post(h.admin("/clients"))
        .json(&json!({"client_id": "ci", "client_secret": "s3cret", "org_id": org}))
        .send()
        .await
        .expect("post");
    assert_eq!(response.status(), StatusCode::CREATED);
    let token = json(h.token_for("ci", "s3cret").await).await["access_token"].as_str().expect("token").to_owned();
    let list = || {
        h.as_org(h.http.get(h.partners("/partners")), &token, org, org)
            .query(&[("partner_types", "supplier"), ("limit", "1")])
            .send()
    };
    assert_eq!(list().await.expect("list").status(), StatusCode::OK);
    let response = h.http.delete(h.admin("/clients/ci")).send().await.expect("delete");
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(list().await.expect("list").status(), StatusCode::UNAUTHORIZED);
    assert_eq!(h.http.delete(h.admin("/clients/ci")).send().await.expect("again").status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn faults_stats_and_switches_over_http() {
    let h = Harness::new().await;
    let token = h.token().await;
    let response =
        h.http.put(h.admin("/faults")).json(&json!({"malformed_rate": 2.0})).send().await.expect("put faults");
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(json(response).await["error"].as_str().is_some_and(|e| e.contains("malformed_rate")));

    let response = h
        .http
        .put(h.admin("/faults"))
        .json(&json!({"rate_limit_rate": 1.0, "idempotency": "honour", "expire_tokens_now": true}))
        .send()
        .await
        .expect("put faults");
    let faults = json(response).await;
    assert_eq!(faults["rate_limit_rate"], 1.0);
    assert_eq!(faults["expire_tokens_now"], false, "an action, not a state");
    assert_eq!(faults["retry_after_secs"], 1);
    assert_eq!(h.standin.faults().idempotency, partnerbook_standin::IdempotencyMode::Honour);

    let response = h.create_partner(&token, &partner_body("A", "a@a.io")).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS, "faults come before auth");
    h.standin.set_faults(Faults::default());
    let response = h.create_partner(&token, &partner_body("A", "a@a.io")).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "expire_tokens_now expired the token");

    let token = h.token().await;
    let response = h.http.post(h.admin("/expire-tokens")).send().await.expect("expire");
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(h.create_partner(&token, &partner_body("A", "a@a.io")).await.status(), StatusCode::UNAUTHORIZED);

    let response = h.http.put(h.admin("/assumed-partner-ops")).json(&json!({"enabled": false})).send().await;
    assert_eq!(response.expect("put").status(), StatusCode::OK);
    let response = h.http.get(h.partners(&format!("/partners/{}", Uuid::new_v4()))).send().await.expect("get");
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);

    let stats = json(h.http.get(h.admin("/stats")).send().await.expect("stats")).await;
    assert_eq!(stats["faults"]["rate_limit"], 1);
    assert_eq!(stats["requests"], 6, "token x2, create x3, get x1; admin calls are not counted");
    assert_eq!(h.http.delete(h.admin("/stats")).send().await.expect("reset").status(), StatusCode::NO_CONTENT);
    assert_eq!(h.standin.stats(), partnerbook_standin::Stats::default());
}
