//! Declares the app's commands so that `capabilities/` really gates them:
//! a command not granted there is refused at the IPC boundary.

const COMMANDS: &[&str] = &[
    "window_ready",
    "list_partners",
    "get_partner",
    "validate_partner",
    "possible_duplicates",
    "possible_duplicate_organizations",
    "create_partner",
    "update_partner",
    "delete_partner",
    "list_organizations",
    "get_organization",
    "validate_organization",
    "create_organization",
    "update_organization",
    "delete_organization",
    "countries",
    "status",
    "about",
    "sync_now",
    "sync_tick",
    "network_changed",
    "try_sign_in_again",
    "partner_read_only",
    "get_settings",
    "save_settings",
    "test_connection",
    "export_partners",
    "export_organizations",
    "cancel_export",
    "import_partners",
    "cancel_import",
    "conflicts",
    "resolve_conflicts",
    "outbox",
    "outbox_page",
    "retry_change",
    "discard_change",
    "record_changes",
    "update_status",
    "check_for_updates",
    "install_update",
];

fn main() {
    println!("cargo:rerun-if-changed=../ui");
    println!("cargo:rerun-if-changed=tauri.conf.json");
    println!("cargo:rerun-if-changed=capabilities");
    tauri_build::try_build(
        tauri_build::Attributes::new().app_manifest(tauri_build::AppManifest::new().commands(COMMANDS)),
    )
    .expect("tauri-build failed");
}
