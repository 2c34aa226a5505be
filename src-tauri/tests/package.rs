//! The Linux packages, used as a user would without touching this system:
//! the Tauri CLI bundles the binaries this test run built into a `.deb` and an
//! `.rpm`; the `.deb`'s dependencies must resolve (`apt-get install -s`), its
//! files are unpacked into a scratch root (`dpkg-deb -x`), its `.desktop`
//! entry must pass `desktop-file-validate`, the unpacked command line must
//! answer `--version` and `info`, and the unpacked window must open its first
//! partner list. The `.rpm` must hold the same files and require WebKitGTK 4.1.
//! Only in CI as root (`CI=true`) is the `.deb` really installed and removed.
//!
//! These are debug builds of the binaries (the ones the other tests ran), so
//! the packages are large; `./release.sh` makes the release ones.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use partnerbook_bench::start::{Display, add_partners, measure};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// Runs `program` with `args`, failing the test with its output unless it succeeds.
fn run(program: &str, args: &[&str], cwd: &Path) -> Output {
    let out = Command::new(program)
        .args(args)
        .current_dir(cwd)
        .output()
        .unwrap_or_else(|e| panic!("{program} does not run ({e}): ./test.sh installs it"));
    assert!(
        out.status.success(),
        "{program} {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The one file in `dir` ending in `suffix`.
fn the_file(dir: &Path, suffix: &str) -> PathBuf {
    let found: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(suffix))
        .collect();
    assert_eq!(found.len(), 1, "one {suffix} in {}: {found:?}", dir.display());
    found.into_iter().next().unwrap()
}

#[test]
fn the_packages_install_and_run_as_a_user_would_use_them() {
    let root = workspace();
    let tauri = root.join("packaging/node_modules/.bin/tauri");
    assert!(tauri.is_file(), "{} is missing: run ./test.sh, which installs the Tauri CLI", tauri.display());
    let version = env!("CARGO_PKG_VERSION");
    let bundles = root.join("target/debug/bundle");
    let _ = std::fs::remove_dir_all(&bundles);
    let started = std::time::Instant::now();
    run(tauri.to_str().unwrap(), &["bundle", "--debug", "--bundles", "deb,rpm", "--ci"], &root.join("src-tauri"));
    eprintln!("bundling took {:.1} s", started.elapsed().as_secs_f64());
    let deb = the_file(&bundles.join("deb"), ".deb");
    let rpm = the_file(&bundles.join("rpm"), ".rpm");
    for package in [&deb, &rpm] {
        eprintln!("{}: {:.1} MiB", package.display(), std::fs::metadata(package).unwrap().len() as f64 / 1048576.0);
    }
    let scratch = tempfile::tempdir().unwrap();
    let here = scratch.path();

    // The .deb's metadata: its name, the one version, what it needs.
    let field = |name: &str| stdout(&run("dpkg-deb", &["-f", deb.to_str().unwrap(), name], here));
    assert_eq!(field("Package"), "partnerbook");
    assert_eq!(field("Version"), version);
    assert_eq!(field("Section"), "office");
    let depends = field("Depends");
    assert!(depends.contains("libwebkit2gtk-4.1-0") && depends.contains("libgtk-3-0"), "{depends}");
    // Its dependencies resolve on this system (a dry run: nothing is installed).
    let simulated = run("apt-get", &["install", "-s", "--no-install-recommends", deb.to_str().unwrap()], here);
    let said = stdout(&simulated);
    assert!(said.contains("partnerbook"), "{said}");

    // Unpacked into a scratch root: the window, the command line, the launcher entry and its icon.
    let unpacked = here.join("root");
    run("dpkg-deb", &["-x", deb.to_str().unwrap(), unpacked.to_str().unwrap()], here);
    let window = unpacked.join("usr/bin/partnerbook-desktop");
    let cli = unpacked.join("usr/bin/partnerbook");
    let desktop = unpacked.join("usr/share/applications/Partnerbook.desktop");
    for file in
        [&window, &cli, &desktop, &unpacked.join("usr/share/icons/hicolor/128x128/apps/partnerbook-desktop.png")]
    {
        assert!(file.is_file(), "{} is not in the package", file.display());
    }
    run("desktop-file-validate", &[desktop.to_str().unwrap()], here);
    let entry = std::fs::read_to_string(&desktop).unwrap();
    for line in ["Exec=partnerbook-desktop", "Icon=partnerbook-desktop", "Categories=Office;", "Terminal=false"] {
        assert!(entry.lines().any(|l| l.starts_with(line)), "{line} missing from the .desktop entry:\n{entry}");
    }

    // The unpacked command line, on a database of its own.
    let cli_out = run(cli.to_str().unwrap(), &["--version"], here);
    assert_eq!(stdout(&cli_out), format!("partnerbook {}", partnerbook::version_line()));
    let db = here.join("user.db");
    let info = Command::new(&cli).args(["--json", "info"]).env("PARTNERBOOK_DB", &db).output().unwrap();
    assert!(info.status.success(), "{}", String::from_utf8_lossy(&info.stderr));
    let info: serde_json::Value = serde_json::from_slice(&info.stdout).unwrap();
    assert_eq!(info["version"], version);
    assert_eq!(info["schema_version"], partnerbook::store::SCHEMA_VERSION);
    assert_eq!(info["partners"], 0);
    // IT's commented example ships with the package, and taken as it is it applies cleanly and changes nothing.
    let example = unpacked.join("usr/share/doc/partnerbook/examples/config.toml");
    let managed = Command::new(&cli)
        .args(["--json", "info"])
        .env("PARTNERBOOK_DB", &db)
        .env("PARTNERBOOK_MANAGED_CONFIG", &example)
        .output()
        .unwrap();
    let managed: serde_json::Value = serde_json::from_slice(&managed.stdout).unwrap();
    assert_eq!(managed["managed"]["path"], example.to_str().unwrap(), "{managed}");
    assert_eq!(managed["managed"]["problem"], serde_json::Value::Null, "{managed}");

    // The unpacked window opens its first list on a database that holds partners.
    add_partners(&db, 2).unwrap();
    let display = Display::open().unwrap();
    let opened = measure(&window, &db, here, &display, Duration::from_secs(90)).unwrap();
    assert_eq!(opened.partners, 2, "{opened:?}");

    // The .rpm: the same files, the same version, WebKitGTK 4.1 required.
    let rpm_query = |args: &[&str]| {
        let mut all = vec!["-qp"];
        all.extend_from_slice(args);
        all.push(rpm.to_str().unwrap());
        stdout(&run("rpm", &all, here))
    };
    assert_eq!(rpm_query(&["--queryformat", "%{NAME} %{VERSION}"]), format!("partnerbook {version}"));
    let files = rpm_query(&["-l"]);
    for file in [
        "/usr/bin/partnerbook",
        "/usr/bin/partnerbook-desktop",
        "/usr/share/applications/Partnerbook.desktop",
        "/usr/share/doc/partnerbook/examples/config.toml",
    ] {
        assert!(files.lines().any(|l| l == file), "{file} is not in the .rpm:\n{files}");
    }
    let requires = rpm_query(&["--requires"]);
    assert!(requires.contains("libwebkit2gtk-4.1.so.0"), "{requires}");

    // In CI, as root: a real install and removal.
    if std::env::var("CI").as_deref() == Ok("true") && is_root() {
        run("dpkg", &["-i", deb.to_str().unwrap()], here);
        let installed = run("/usr/bin/partnerbook", &["--version"], here);
        assert_eq!(stdout(&installed), format!("partnerbook {}", partnerbook::version_line()));
        run("dpkg", &["-r", "partnerbook"], here);
        assert!(!Path::new("/usr/bin/partnerbook").exists(), "dpkg -r left the command line behind");
        assert!(!Path::new("/usr/bin/partnerbook-desktop").exists(), "dpkg -r left the window behind");
    }
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().map(|o| stdout(&o) == "0").unwrap_or(false)
}
