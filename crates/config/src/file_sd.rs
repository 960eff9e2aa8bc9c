//! File-based service discovery: files holding a list of target groups, in JSON or YAML,
//! `[{targets: [host:port, …], labels: {name: value, …}}, …]`, found through globs and re-read
//! periodically by the scrape manager.
//!
//! ```
//! let groups = diamond_config::file_sd::parse_groups(
//!     r#"[{"targets": ["a:9100", "b:9100"], "labels": {"env": "prod"}}]"#, true, "targets.json").unwrap();
//! assert_eq!(groups[0].targets.len(), 2);
//! assert_eq!(groups[0].labels["__meta_filepath"], "targets.json");
//! assert_eq!(groups[0].source, "targets.json:0");
//! ```

use std::path::{Path, PathBuf};

use crate::raw::RawTargetGroup;
use crate::{Error, FileSdConfig, TargetGroup};

/// The label file_sd adds to every group: the file it came from.
pub const META_FILEPATH: &str = "__meta_filepath";

/// Whether a `files` entry is acceptable, as Prometheus checks it: a `*` only in the last path element, and
/// a `.json`, `.yml` or `.yaml` extension.
pub fn valid_pattern(p: &str) -> bool {
    let lower_ok = ["json", "yml", "yaml", "JSON", "YML", "YAML"]
        .iter()
        .any(|ext| p.strip_suffix(ext).is_some_and(|s| s.ends_with('.')));
    if !lower_ok {
        return false;
    }
    match p.find('*') {
        None => true,
        Some(i) => !p[i..].contains('/') && p[i + 1..].find('*').is_none(),
    }
}

pub(crate) fn resolve_group(raw: RawTargetGroup, source: String) -> Result<TargetGroup, String> {
    let labels = raw.labels.unwrap_or_default();
    if let Some(bad) = labels.keys().find(|k| k.is_empty()) {
        return Err(format!("{bad:?} is not a valid label name"));
    }
    Ok(TargetGroup {
        targets: raw.targets.unwrap_or_default(),
        labels,
        source,
    })
}

/// Parses the content of one target file (`json` chooses JSON, otherwise YAML). Each group gets the
/// `__meta_filepath` label and the source `<name>:<index>`.
pub fn parse_groups(text: &str, json: bool, name: &str) -> Result<Vec<TargetGroup>, Error> {
    let invalid = |line, column, message| Error::Invalid {
        source_name: name.to_owned(),
        line,
        column,
        message,
    };
    let raws: Vec<RawTargetGroup> = if json {
        serde_json::from_str(text).map_err(|e| invalid(e.line(), e.column(), e.to_string()))?
    } else if text.trim().is_empty() {
        Vec::new()
    } else {
        serde_yaml_ng::from_str::<Option<Vec<RawTargetGroup>>>(text)
            .map_err(|e| {
                let (l, c) = e.location().map(|l| (l.line(), l.column())).unwrap_or((1, 1));
                invalid(l, c, e.to_string())
            })?
            .unwrap_or_default()
    };
    let mut out = Vec::with_capacity(raws.len());
    for (i, raw) in raws.into_iter().enumerate() {
        let mut g = resolve_group(raw, format!("{name}:{i}")).map_err(|m| invalid(1, 1, m))?;
        g.labels.insert(META_FILEPATH.to_owned(), name.to_owned());
        out.push(g);
    }
    Ok(out)
}

/// Reads one target file, choosing the syntax by extension.
pub fn load(path: &Path) -> Result<Vec<TargetGroup>, Error> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.to_owned(),
        source,
    })?;
    let json = path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("json"));
    parse_groups(&text, json, &path.display().to_string())
}

/// The files the patterns currently match, sorted and deduplicated.
pub fn expand(patterns: &[String]) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = patterns
        .iter()
        .flat_map(|p| match glob::glob(p) {
            Ok(paths) => paths.filter_map(Result::ok).collect::<Vec<_>>(),
            // Patterns were validated at load; a pattern glob cannot read names nothing.
            Err(_) => Vec::new(),
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Reads every file of a `file_sd_configs` entry. Groups of readable files are returned; each unreadable
/// or invalid file gives an error (Prometheus keeps the last good groups of such a file, which the caller
/// can do by source name).
pub fn read_all(cfg: &FileSdConfig) -> (Vec<TargetGroup>, Vec<Error>) {
    let mut groups = Vec::new();
    let mut errors = Vec::new();
    for p in expand(&cfg.files) {
        match load(&p) {
            Ok(g) => groups.extend(g),
            Err(e) => errors.push(e),
        }
    }
    (groups, errors)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn patterns_table() {
        let cases = [
            ("targets.json", true),
            ("/etc/sd/*.yml", true),
            ("/etc/sd/tg_*.yaml", true),
            ("a.YAML", true),
            ("/etc/*/x.json", false),
            ("targets.txt", false),
            ("json", false),
            ("a*b*.json", false),
        ];
        for (p, ok) in cases {
            assert_eq!(valid_pattern(p), ok, "{p}");
        }
    }

    #[test]
    fn yaml_and_json_files() -> Result<(), Error> {
        let dir = tempfile::tempdir().map_err(|source| Error::Io {
            path: "tmp".into(),
            source,
        })?;
        let write = |name: &str, body: &str| {
            let p = dir.path().join(name);
            std::fs::write(&p, body).map(|_| p)
        };
        let io = |source| Error::Io {
            path: "tmp".into(),
            source,
        };
        write(
            "a.json",
            r#"[{"targets": ["a:1"], "labels": {"x": "1"}}, {"targets": ["b:1", "c:1"]}]"#,
        )
        .map_err(io)?;
        write("b.yml", "- targets: [d:1]\n  labels:\n    y: '2'\n").map_err(io)?;
        write("bad.yaml", "- targetz: [e:1]\n").map_err(io)?;
        write("ignored.txt", "- targets: [f:1]\n").map_err(io)?;
        let cfg = FileSdConfig {
            files: vec![
                format!("{}/*.json", dir.path().display()),
                format!("{}/*.y*ml", dir.path().display()),
            ],
            refresh_interval: Duration::from_secs(1),
        };
        let (groups, errors) = read_all(&cfg);
        let targets: Vec<&str> = groups
            .iter()
            .flat_map(|g| g.targets.iter().map(String::as_str))
            .collect();
        assert_eq!(targets, ["a:1", "b:1", "c:1", "d:1"]);
        assert_eq!(groups[0].labels.get("x").map(String::as_str), Some("1"));
        assert!(groups[1].source.ends_with("a.json:1"), "{}", groups[1].source);
        assert_eq!(errors.len(), 1);
        let msg = errors[0].to_string();
        assert!(
            msg.contains("bad.yaml:1:3: ") && msg.contains("unknown field `targetz`"),
            "{msg}"
        );
        Ok(())
    }

    #[test]
    fn json_error_has_location() {
        let e = parse_groups("[{\"targets\": [\"a\"],\n  \"labels\": {\"x\": [1]}}]", true, "t.json")
            .expect_err("list as label value");
        assert!(e.to_string().starts_with("t.json:2:"), "{e}");
    }
}
