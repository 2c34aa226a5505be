//! Every benchmark path runs at tiny sizes, so the harness keeps compiling and
//! working; figures are not checked (timings are not tests).

#[test]
fn every_benchmark_runs_at_smoke_size() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_partnerbook-bench")).arg("--smoke").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let table = String::from_utf8(out.stdout).unwrap();
    for path in [
        "save one partner",
        "import valid partners",
        "type-ahead search",
        "push new partners",
        "pull remote",
        "idle window",
    ] {
        assert!(table.contains(path), "{path} missing from:\n{table}");
    }
}
