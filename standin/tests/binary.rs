//! The `partnerbook-standin` binary: the first stdout line names the port; non-loopback is refused.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_partnerbook-standin");

/// Kills the child even when an assertion fails.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn prints_its_address_and_serves() {
    // An explicit --db in a folder we own: the child is killed, so it cannot clean up after itself.
    let dir = tempfile::tempdir().expect("tempdir");
    let child = Command::new(BIN)
        .arg("--db")
        .arg(dir.path().join("standin.sqlite3"))
        .args(["--addr", "127.0.0.1:0", "--partners-prefix", "/v1", "--api-key", "k1"])
        // --chaos with every rate overridden to 0: checks the overrides win over the preset.
        .args(["--chaos", "--server-error-rate", "0", "--rate-limit-rate", "0", "--reset-before-rate", "0"])
        .args(["--reset-after-rate", "0", "--timeout-rate", "0", "--timeout-after-write-rate", "0"])
        .args(["--malformed-rate", "0", "--latency-ms", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("binary starts");
    let mut child = Child(child);
    let stdout = child.0.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let first = lines.next().expect("a line").expect("utf-8");
    let base = first
        .strip_prefix("listening on ")
        .and_then(|rest| rest.split_once(' '))
        .map(|(base, _)| base.to_owned())
        .unwrap_or_else(|| panic!("unexpected first line: {first}"));
    assert!(first.ends_with(&format!("(partners: {base}/v1, organizations: {base})")), "{first}");
    let credentials = lines.next().expect("a line").expect("utf-8");
    assert!(credentials.contains("client_id=partnerbook-dev"), "{credentials}");
    assert_eq!(lines.next().expect("a line").expect("utf-8"), "api key: k1");

    let http = reqwest::Client::builder().no_proxy().build().expect("client");
    let response = http.get(format!("{base}/api/v1/organizations")).header("apiKey", "k1").send().await.expect("get");
    assert_eq!(response.status(), reqwest::StatusCode::OK);
    let token = http
        .post(format!("{base}/v1/oauth2/token"))
        .json(&serde_json::json!({"client_id": "partnerbook-dev", "client_secret": "dev-secret"}))
        .send()
        .await
        .expect("token");
    assert_eq!(token.status(), reqwest::StatusCode::OK);
}

#[test]
fn refuses_non_loopback_and_bad_flags() {
    let output = Command::new(BIN).args(["--addr", "0.0.0.0:0"]).output().expect("runs");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("refusing to listen on 0.0.0.0:0"), "{stderr}");

    let output = Command::new(BIN).args(["--malformed-rate", "1.5"]).output().expect("runs");
    assert!(!output.status.success());
    let output = Command::new(BIN).args(["--client", "no-org"]).output().expect("runs");
    assert!(!output.status.success());
}
