//! Updates, against an update server of the test's own: https under a
//! throwaway certificate, a manifest per case, and files signed by the Tauri
//! CLI's own signer (not by code of ours) with a key pair made for these
//! tests only (`fixtures/updater/`). A good update is offered; one wrongly
//! signed, one signed with another key, one over plain http, an older one,
//! and an old release announced as new are each refused with a sentence that
//! says why. A `.deb`/`.rpm` install is pointed to its package manager and
//! downloads nothing.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use partnerbook::update::{Installer, Refusal, UpdateStatus};
use partnerbook_desktop::updates::{self, Source};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/updater")
}

/// Signs `bytes` as the Tauri CLI does for a release of `version`, with a key of the fixtures.
fn sign(bytes: &[u8], key: &str, version: &str) -> String {
    let tauri = Path::new(env!("CARGO_MANIFEST_DIR")).join("../packaging/node_modules/.bin/tauri");
    assert!(tauri.is_file(), "{} is missing: run ./test.sh, which installs the Tauri CLI", tauri.display());
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("release.AppImage");
    std::fs::write(&file, bytes).unwrap();
    let out = Command::new(tauri)
        .args(["signer", "sign", "--password", "", "--app-version", version, "--private-key-path"])
        .arg(fixtures().join(key))
        .arg(&file)
        .output()
        .unwrap();
    assert!(out.status.success(), "tauri signer sign: {}", String::from_utf8_lossy(&out.stderr));
    std::fs::read_to_string(dir.path().join("release.AppImage.sig")).unwrap().trim().to_string()
}

/// An https server that answers each path from a table and counts what it was asked.
struct UpdateServer {
    port: u16,
    routes: Arc<Mutex<HashMap<String, Vec<u8>>>>,
    hits: Arc<Mutex<Vec<String>>>,
    certificate_pem: String,
}

impl UpdateServer {
    async fn start() -> UpdateServer {
        let certified = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
        let key =
            tokio_rustls::rustls::pki_types::PrivateKeyDer::try_from(certified.signing_key.serialize_der()).unwrap();
        let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
        let config = tokio_rustls::rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![certified.cert.der().clone()], key)
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let routes: Arc<Mutex<HashMap<String, Vec<u8>>>> = Arc::default();
        let hits: Arc<Mutex<Vec<String>>> = Arc::default();
        let (table, seen) = (routes.clone(), hits.clone());
        tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else { return };
                let (acceptor, table, seen) = (acceptor.clone(), table.clone(), seen.clone());
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(tcp).await else { return };
                    let Some(path) = request_path(&mut tls).await else { return };
                    seen.lock().unwrap().push(path.clone());
                    let body = table.lock().unwrap().get(&path).cloned();
                    let head = match &body {
                        Some(b) => {
                            format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", b.len())
                        }
                        None => "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".into(),
                    };
                    let _ = tls.write_all(head.as_bytes()).await;
                    let _ = tls.write_all(&body.unwrap_or_default()).await;
                    let _ = tls.shutdown().await;
                });
            }
        });
        UpdateServer { port, routes, hits, certificate_pem: certified.cert.pem() }
    }

    fn url(&self, path: &str) -> String {
        format!("https://127.0.0.1:{}{path}", self.port)
    }

    fn serve(&self, path: &str, body: Vec<u8>) {
        self.routes.lock().unwrap().insert(path.to_string(), body);
    }

    fn hits(&self, path: &str) -> usize {
        self.hits.lock().unwrap().iter().filter(|p| *p == path).count()
    }

    fn source(&self, manifest: &str) -> Source {
        Source {
            address: self.url(manifest).parse().unwrap(),
            root_certificate: Some(self.certificate_pem.clone().into_bytes()),
        }
    }
}

/// Reads an HTTP request's head and returns its path.
async fn request_path(stream: &mut (impl AsyncReadExt + Unpin)) -> Option<String> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && head.len() < 16 * 1024 {
        if stream.read(&mut byte).await.ok()? == 0 {
            return None;
        }
        head.push(byte[0]);
    }
    let line = String::from_utf8_lossy(&head).lines().next()?.to_string();
    line.split(' ').nth(1).map(|p| p.split('?').next().unwrap_or(p).to_string())
}

fn manifest(version: &str, url: &str, signature: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "version": version,
        "notes": format!("What is new in {version}."),
        "pub_date": "2026-11-30T12:00:00Z",
        "platforms": { "linux-x86_64": { "url": url, "signature": signature } }
    }))
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn updates_are_offered_only_when_their_signature_and_version_check_out() {
    let public_key = std::fs::read_to_string(fixtures().join("test-key.pub")).unwrap();
    let mut context = tauri::test::mock_context(tauri::test::noop_assets());
    context
        .config_mut()
        .plugins
        .0
        .insert("updater".into(), json!({ "pubkey": public_key.trim(), "requireSignedVersion": true }));
    let app = tauri::test::mock_builder().plugin(tauri_plugin_updater::Builder::new().build()).build(context).unwrap();
    let handle = app.handle().clone();
    let current = handle.package_info().version.clone();
    let newer = format!("{}.0.0", current.major + 1);
    let older = "0.0.1";
    assert!(semver_less(older, &current.to_string()), "the test needs an older version than {current}");

    let server = UpdateServer::start().await;
    let release: Vec<u8> = (0..64 * 1024).map(|i| (i * 7 % 251) as u8).collect();
    server.serve("/release.AppImage", release.clone());
    let check = |manifest_path: &str, installer: Installer| {
        let (handle, source) = (handle.clone(), server.source(manifest_path));
        async move { updates::check(&handle, &source, installer).await }
    };
    let refusal = |status: &UpdateStatus| match status {
        UpdateStatus::Refused { refusal, .. } => Some(refusal.clone()),
        _ => None,
    };

    // A good update: downloaded, verified, offered with its notes, installable on a click.
    let good = sign(&release, "test-key", &newer);
    server.serve("/good.json", manifest(&newer, &server.url("/release.AppImage"), &good));
    let (status, verified) = check("/good.json", Installer::InApp).await;
    assert_eq!(
        status,
        UpdateStatus::Available {
            version: newer.clone(),
            notes: Some(format!("What is new in {newer}.")),
            installer: Installer::InApp
        }
    );
    assert_eq!(verified.as_ref().map(|v| v.version()), Some(newer.as_str()));
    assert_eq!(status.sentence(&current.to_string()), format!("Version {newer} is available."));
    assert_eq!(server.hits("/release.AppImage"), 1);

    // Wrongly signed: the signature of other bytes, with the right key.
    let mut altered = release.clone();
    altered[100] ^= 1;
    let of_other_bytes = sign(&altered, "test-key", &newer);
    server.serve("/wrong.json", manifest(&newer, &server.url("/release.AppImage"), &of_other_bytes));
    let (status, verified) = check("/wrong.json", Installer::InApp).await;
    assert_eq!(refusal(&status), Some(Refusal::Signature), "{status:?}");
    assert!(verified.is_none());
    assert!(status.sentence("x").contains("signature does not match this app's update key"), "{status:?}");
    assert_eq!(server.hits("/release.AppImage"), 2, "refused after the download");

    // Signed with another key.
    let by_another_key = sign(&release, "other-key", &newer);
    server.serve("/other-key.json", manifest(&newer, &server.url("/release.AppImage"), &by_another_key));
    let (status, verified) = check("/other-key.json", Installer::InApp).await;
    assert_eq!(refusal(&status), Some(Refusal::Signature), "{status:?}");
    assert!(verified.is_none());

    // A signature that is not one at all.
    server.serve("/garbage.json", manifest(&newer, &server.url("/release.AppImage"), "bm90IGEgc2lnbmF0dXJl"));
    let (status, _) = check("/garbage.json", Installer::InApp).await;
    assert_eq!(refusal(&status), Some(Refusal::Signature), "{status:?}");

    // Over plain http: refused before anything is fetched from there.
    let plain = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let plain_port = plain.local_addr().unwrap().port();
    let plain_hits = Arc::new(AtomicUsize::new(0));
    let counted = plain_hits.clone();
    tokio::spawn(async move {
        while let Ok((_conn, _)) = plain.accept().await {
            counted.fetch_add(1, Ordering::SeqCst);
        }
    });
    let http_url = format!("http://127.0.0.1:{plain_port}/release.AppImage");
    server.serve("/http.json", manifest(&newer, &http_url, &good));
    let (status, verified) = check("/http.json", Installer::InApp).await;
    assert_eq!(refusal(&status), Some(Refusal::PlainHttp), "{status:?}");
    assert!(verified.is_none());
    assert!(status.sentence("x").contains("plain http"), "{status:?}");
    assert_eq!(plain_hits.load(Ordering::SeqCst), 0, "nothing was fetched over http");
    // The update address itself must be https, even on this computer.
    assert!(partnerbook::update::check_address(&format!("http://127.0.0.1:{}/good.json", server.port)).is_err());

    // A downgrade: an older version is not offered, and says so.
    let old_signature = sign(&release, "test-key", older);
    server.serve("/older.json", manifest(older, &server.url("/release.AppImage"), &old_signature));
    let before = server.hits("/release.AppImage");
    let (status, verified) = check("/older.json", Installer::InApp).await;
    assert_eq!(status, UpdateStatus::Refused { version: older.into(), refusal: Refusal::NotNewer });
    assert!(verified.is_none());
    assert!(status.sentence(&current.to_string()).contains("not newer than this version"), "{status:?}");
    assert_eq!(server.hits("/release.AppImage"), before, "nothing downloaded for a downgrade");

    // An old release announced as new: its genuine signature names its real version.
    server.serve("/replayed.json", manifest(&newer, &server.url("/release.AppImage"), &old_signature));
    let (status, verified) = check("/replayed.json", Installer::InApp).await;
    assert_eq!(refusal(&status), Some(Refusal::SignedForAnotherVersion { signed: older.into() }), "{status:?}");
    assert!(verified.is_none());

    // Installed from a .deb or .rpm: offered, to be updated by the package manager; nothing downloaded.
    let before = server.hits("/release.AppImage");
    let (status, verified) = check("/good.json", Installer::PackageManager).await;
    assert_eq!(
        status.sentence(&current.to_string()),
        format!("Version {newer} is available: update through your package manager.")
    );
    assert!(verified.is_none());
    assert_eq!(server.hits("/release.AppImage"), before);

    // A manifest that is not there: a failure to retry at the next check, not a refusal.
    let (status, _) = check("/missing.json", Installer::InApp).await;
    assert!(matches!(status, UpdateStatus::Failed { .. }), "{status:?}");
}

fn semver_less(a: &str, b: &str) -> bool {
    let parse = |v: &str| v.split('.').map(|n| n.parse::<u64>().unwrap()).collect::<Vec<_>>();
    parse(a) < parse(b)
}
