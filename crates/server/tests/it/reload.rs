//! Reloading the configuration with `POST /-/reload` and SIGHUP: a good file is applied, a bad one is
//! refused with its line and column while the running configuration stays in force.

use std::time::Duration;

use crate::harness::{Diamond, client, wait_until};

fn config_yaml(d: &Diamond) -> String {
    d.get_json("/api/v1/status/config")["yaml"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn reload_applies_good_files_and_keeps_the_running_config_on_bad_ones() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("prometheus.yml");
    std::fs::write(
        &cfg,
        "scrape_configs:\n  - job_name: first\n    static_configs:\n      - targets: ['127.0.0.1:1']\n",
    )
    .unwrap();
    let d = Diamond::start(&dir.path().join("data"), &[&format!("--config.file={}", cfg.display())]);
    assert!(config_yaml(&d).contains("first"));

    // A bad file: 500 with file, line and column; nothing changes.
    std::fs::write(&cfg, "scrape_configs:\n  - job_name: second\n    scrape_intervl: 5s\n").unwrap();
    let r = client().post(d.url("/-/reload")).send().unwrap();
    assert_eq!(r.status().as_u16(), 500);
    let msg = r.text().unwrap();
    assert!(
        msg.contains("prometheus.yml:3:") && msg.contains("scrape_intervl"),
        "{msg}"
    );
    assert!(
        config_yaml(&d).contains("first"),
        "the running config must stay after a failed reload"
    );
    let info = d.get_json("/api/v1/status/runtimeinfo");
    assert_eq!(info["reloadConfigSuccess"], false);

    // A good file through /-/reload.
    std::fs::write(
        &cfg,
        "scrape_configs:\n  - job_name: second\n    static_configs:\n      - targets: ['127.0.0.1:2']\n",
    )
    .unwrap();
    let r = client().post(d.url("/-/reload")).send().unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert!(config_yaml(&d).contains("second"));
    let t = d.get_json("/api/v1/targets");
    assert_eq!(t["activeTargets"][0]["scrapePool"], "second", "{t}");

    // And through SIGHUP.
    std::fs::write(
        &cfg,
        "scrape_configs:\n  - job_name: third\n    static_configs:\n      - targets: ['127.0.0.1:3']\n",
    )
    .unwrap();
    let pid = d.pid();
    assert!(
        std::process::Command::new("kill")
            .arg("-HUP")
            .arg(pid.to_string())
            .status()
            .unwrap()
            .success()
    );
    assert!(
        wait_until(Duration::from_secs(10), || config_yaml(&d).contains("third")),
        "SIGHUP did not reload"
    );
    assert_eq!(d.get_json("/api/v1/status/runtimeinfo")["reloadConfigSuccess"], true);
}
