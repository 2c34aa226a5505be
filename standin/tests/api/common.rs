//! Helpers shared by the HTTP tests: a started stand-in, a client, and valid bodies.

#![allow(dead_code)]

use std::time::Duration;

use partnerbook_standin::{Config, DEV_API_KEY, DEV_CLIENT_ID, DEV_CLIENT_SECRET, DEV_ORG_ID, StandIn};
use reqwest::{Client, RequestBuilder, Response, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

pub struct Harness {
    pub standin: StandIn,
    pub http: Client,
}

pub fn client(timeout: Duration) -> Client {
    Client::builder().no_proxy().timeout(timeout).build().expect("http client")
}

impl Harness {
    pub async fn start(config: Config) -> Self {
        let standin = StandIn::start(config).await.expect("stand-in starts");
        Self { standin, http: client(Duration::from_secs(5)) }
    }

    pub async fn new() -> Self {
        Self::start(Config::default()).await
    }

    pub fn partners(&self, path: &str) -> String {
        format!("{}{path}", self.standin.partners_url())
    }

    pub fn orgs(&self, path: &str) -> String {
        format!("{}/api/v1/organizations{path}", self.standin.organizations_url())
    }

    pub fn admin(&self, path: &str) -> String {
        format!("{}/_admin{path}", self.standin.organizations_url())
    }

    pub async fn token_for(&self, client_id: &str, secret: &str) -> Response {
        self.http
            .post(self.partners("/oauth2/token"))
            .json(&json!({"client_id": client_id, "client_secret": secret}))
            .send()
            .await
            .expect("token request")
    }

    pub async fn token(&self) -> String {
        let response = self.token_for(DEV_CLIENT_ID, DEV_CLIENT_SECRET).await;
        assert_eq!(response.status(), StatusCode::OK);
        let body: Value = response.json().await.expect("token json");
        body["access_token"].as_str().expect("access_token").to_owned()
    }

    /// A request to the partners API as the dev client acting for its own org.
    pub fn as_dev(&self, request: RequestBuilder, token: &str) -> RequestBuilder {
        self.as_org(request, token, DEV_ORG_ID, DEV_ORG_ID)
    }

    pub fn as_org(&self, request: RequestBuilder, token: &str, requester: Uuid, target: Uuid) -> RequestBuilder {
        request
            .bearer_auth(token)
            .header("Requester-Organization-ID", requester.to_string())
            .header("Target-Organization-ID", target.to_string())
    }

    pub async fn create_partner(&self, token: &str, body: &Value) -> Response {
        self.as_dev(self.http.post(self.partners("/partners")), token).json(body).send().await.expect("create partner")
    }

    pub fn with_key(&self, request: RequestBuilder) -> RequestBuilder {
        request.header("apiKey", DEV_API_KEY)
    }

    pub async fn create_org(&self, body: &Value) -> Response {
        self.try_create_org(body).await.expect("create org")
    }

    pub async fn try_create_org(&self, body: &Value) -> reqwest::Result<Response> {
        self.with_key(self.http.post(self.orgs(""))).json(body).send().await
    }
}

pub fn partner_body(name: &str, email: &str) -> Value {
    json!({
        "company_name": name,
        "sales_amount": 1000,
        "partner_type": "customer",
        "email": email,
        "frequency": "monthly",
        "payment_terms": "net 30"
    })
}

pub fn org_body(id: &str, name: &str) -> Value {
    json!({
        "id": id,
        "name": name,
        "type": "S",
        "address": "5 Madison Avenue",
        "country": "US",
        "phone": "1505111222",
        "contacts": [{"firstName": "John", "lastName": "Doe", "email": "john@acme.com"}]
    })
}

pub async fn json(response: Response) -> Value {
    response.json().await.expect("json body")
}
