//! The organizations API over real HTTP.

use crate::common::{Harness, json, org_body};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// `2021-06-02 12:34:02.861000+00:00`
fn is_python_utc(s: &str) -> bool {
    let b = s.as_bytes();
    s.len() == 32
        && b[10] == b' '
        && b[19] == b'.'
        && s.ends_with("+00:00")
        && s[20..26].bytes().all(|c| c.is_ascii_digit())
}

#[tokio::test]
async fn crud_round_trip() {
    let h = Harness::new().await;
    let mut body = org_body("org-1", "Acme Corp");
    body["location"] = json!({"latitude": 38.8951, "longitude": -77.0364});
    body["organizationLabels"] = json!(["Tier 1"]);
    let response = h.create_org(&body).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let created = json(response).await["data"].clone();
    assert_eq!(created["id"], "org-1");
    assert_eq!(created["linkedTo"], Value::Null);
    assert_eq!(created["city"], Value::Null);
    assert_eq!(created["location"]["latitude"], 38.8951);
    assert_eq!(created["organizationLabels"], json!(["Tier 1"]));
    assert_eq!(created["contacts"][0]["firstName"], "John");
    let created_at = created["createdAt"].as_str().expect("createdAt");
    assert!(is_python_utc(created_at), "{created_at}");
    assert_eq!(created["updatedAt"], created["createdAt"]);

    let response = h.create_org(&org_body("org-1", "Again")).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        json(response).await,
        json!({"errorCode": "Generic", "message": "Organization with this id already exists", "errors": null})
    );

    let response = h.with_key(h.http.get(h.orgs("/org-1"))).send().await.expect("get");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(json(response).await["data"], created);

    let mut update = org_body("ignored", "Acme Renamed");
    update.as_object_mut().expect("object").remove("id");
    let response = h.with_key(h.http.put(h.orgs("/org-1"))).json(&update).send().await.expect("put");
    assert_eq!(response.status(), StatusCode::OK);
    let updated = json(response).await["data"].clone();
    assert_eq!(updated["name"], "Acme Renamed");
    assert_eq!(updated["location"], Value::Null, "a full PUT clears what it leaves out");
    assert_eq!(updated["createdAt"], created["createdAt"]);
    assert!(updated["updatedAt"].as_str() > created["updatedAt"].as_str());
    assert!(is_python_utc(updated["updatedAt"].as_str().expect("updatedAt")));

    let response = h.with_key(h.http.put(h.orgs("/nope"))).json(&update).send().await.expect("put");
    assert_eq!(response.status(), StatusCode::NOT_FOUND);

    let response = h.with_key(h.http.delete(h.orgs("/org-1"))).send().await.expect("delete");
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let response = h.with_key(h.http.get(h.orgs("/org-1"))).send().await.expect("get");
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        json(response).await,
        json!({"errorCode": "NotFound", "message": "Organization not found", "errors": null})
    );
    let response = h.with_key(h.http.delete(h.orgs("/org-1"))).send().await.expect("delete");
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(h.standin.stats().writes, 3);
}

#[tokio::test]
async fn api_key_and_validation_errors() {
    let h = Harness::new().await;
    for request in [h.http.get(h.orgs("")), h.http.get(h.orgs("")).header("apiKey", "wrong")] {
        let response = request.send().await.expect("send");
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            json(response).await,
            json!({"errorCode": "Unauthenticated", "message": "Cannot retrieve session data because of expired token",
                   "errors": null})
        );
    }

    let mut body = org_body("", "");
    body["type"] = json!("Q");
    body["country"] = json!("usa");
    body["contacts"] = json!([{"lastName": "Doe"}]);
    body["location"] = json!({"latitude": 100, "longitude": 0});
    let response = h.create_org(&body).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body = json(response).await;
    assert_eq!(body["errorCode"], "ValidationError");
    assert_eq!(body["message"], "Input is not valid");
    let keys: Vec<&str> = body["errors"].as_object().expect("errors").keys().map(String::as_str).collect();
    for key in ["id", "name", "type", "country", "contacts.0.firstName", "location.latitude"] {
        assert!(keys.contains(&key), "{key} missing from {keys:?}");
    }
    assert!(body["errors"]["id"][0].is_string());

    let response = h.create_org(&json!({"id": "x", "contacts": []})).await;
    let body = json(response).await;
    assert_eq!(body["errors"]["contacts"], json!(["Shorter than minimum length 1."]));
    assert_eq!(body["errors"]["address"], json!(["Missing data for required field."]));

    let response = h.with_key(h.http.post(h.orgs(""))).body("{not json").send().await.expect("send");
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(h.standin.organizations().is_empty());
}

#[tokio::test]
async fn list_pages_in_creation_order_and_filters_by_name() {
    let h = Harness::new().await;
    for i in 0..15 {
        let name = if i % 3 == 0 { format!("Special {i}") } else { format!("Plain {i}") };
        assert_eq!(h.create_org(&org_body(&format!("org-{i:02}"), &name)).await.status(), StatusCode::CREATED);
    }
    let list = |query: &'static [(&'static str, &'static str)]| {
        let request = h.with_key(h.http.get(h.orgs(""))).query(query);
        async move {
            let response = request.send().await.expect("send");
            (response.status(), json(response).await)
        }
    };
    let (status, first) = list(&[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (first["limit"].clone(), first["offset"].clone(), first["total"].clone()),
        (json!(10), json!(0), json!(15))
    );
    let (_, second) = list(&[("offset", "10"), ("limit", "10")]).await;
    let ids: Vec<String> = first["data"]
        .as_array()
        .into_iter()
        .chain(second["data"].as_array())
        .flatten()
        .map(|o| o["id"].as_str().expect("id").to_owned())
        .collect();
    assert_eq!(ids, (0..15).map(|i| format!("org-{i:02}")).collect::<Vec<_>>());

    let (_, special) = list(&[("name", "sPeCiAl"), ("limit", "100")]).await;
    assert_eq!(special["total"], 5);

    for bad in [&[("limit", "0")][..], &[("limit", "101")], &[("offset", "-1")], &[("limit", "x")]] {
        let (status, body) = list(bad).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad:?}");
        assert_eq!(body["errorCode"], "ValidationError");
    }
}
