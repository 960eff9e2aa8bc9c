//! Finds where a key path sits in block-style YAML source, so errors found after deserialisation (bad
//! durations, invalid regexes, duplicate job names) can point at a line and column like parse errors do.
//!
//! serde_yaml_ng keeps no spans once a value is deserialised, so we re-read the text. This is a line-based
//! reading of block YAML (indentation, `- ` items, `key:`), which covers how prometheus.yml files are written.
//! Flow-style parts (`{a: 1}`) are not descended into: the deepest block-style ancestor found is reported.

/// One step of a path into the document.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Seg {
    /// A mapping key.
    Key(String),
    /// A sequence index.
    Idx(usize),
}

impl From<&str> for Seg {
    fn from(s: &str) -> Self {
        Seg::Key(s.to_owned())
    }
}

impl From<usize> for Seg {
    fn from(i: usize) -> Self {
        Seg::Idx(i)
    }
}

/// A line of the node being searched: its 0-based line number and its text, with the `-` of enclosing
/// sequence items blanked out so an item's first key lines up with the keys below it.
#[derive(Clone)]
struct Line {
    no: usize,
    text: String,
}

fn indent(s: &str) -> usize {
    s.len() - s.trim_start_matches(' ').len()
}

fn is_content(s: &str) -> bool {
    let t = s.trim_start();
    !t.is_empty() && !t.starts_with('#') && t != "---"
}

/// The 1-based (line, column) of the deepest part of `path` found in `src`; (1, 1) when not even the first
/// segment is found.
pub(crate) fn locate(src: &str, path: &[Seg]) -> (usize, usize) {
    let mut node: Vec<Line> = src
        .lines()
        .enumerate()
        .map(|(no, t)| Line { no, text: t.to_owned() })
        .collect();
    let mut best = (1, 1);
    for seg in path {
        let Some(first) = node.iter().find(|l| is_content(&l.text)) else {
            break;
        };
        let ind = indent(&first.text);
        let found = match seg {
            Seg::Key(k) => find_key(&node, ind, k),
            Seg::Idx(i) => find_item(&node, ind, *i),
        };
        match found {
            Some((pos, child)) => {
                best = pos;
                node = child;
            }
            None => break,
        }
    }
    best
}

fn key_matches(t: &str, k: &str) -> bool {
    for quoted in [k.to_owned(), format!("\"{k}\""), format!("'{k}'")] {
        if let Some(rest) = t.strip_prefix(&quoted) {
            let rest = rest.trim_start_matches(' ');
            if rest.starts_with(':') {
                return true;
            }
        }
    }
    false
}

/// Lines that belong to the value of an entry starting at `node[start]` with indentation `ind`: every following
/// line indented deeper, plus sequence items at the same indentation (YAML allows `key:\n- item`).
fn child_lines(node: &[Line], start: usize, ind: usize, value_on_line: Option<Line>) -> Vec<Line> {
    let mut out: Vec<Line> = value_on_line.into_iter().collect();
    for l in &node[start + 1..] {
        if !is_content(&l.text) {
            continue;
        }
        let li = indent(&l.text);
        if li > ind
            || (li == ind && l.text.trim_start().starts_with('-') && !node[start].text.trim_start().starts_with('-'))
        {
            out.push(l.clone());
        } else {
            break;
        }
    }
    out
}

fn find_key(node: &[Line], ind: usize, k: &str) -> Option<((usize, usize), Vec<Line>)> {
    for (i, l) in node.iter().enumerate() {
        if !is_content(&l.text) || indent(&l.text) != ind {
            continue;
        }
        let t = &l.text[ind..];
        if key_matches(t, k) {
            // A value on the same line (`key: value` or `key: [a, b]`) is kept as the child node, so that
            // a deeper path still lands on this line.
            let colon = t.find(':').unwrap_or(0);
            let after = t[colon + 1..].trim();
            let same = (!after.is_empty() && !after.starts_with('#')).then(|| Line {
                no: l.no,
                text: format!("{}{}", " ".repeat(ind + colon + 2), after),
            });
            return Some(((l.no + 1, ind + 1), child_lines(node, i, ind, same)));
        }
    }
    None
}

fn find_item(node: &[Line], ind: usize, idx: usize) -> Option<((usize, usize), Vec<Line>)> {
    let mut n = 0;
    for (i, l) in node.iter().enumerate() {
        if !is_content(&l.text) || indent(&l.text) != ind {
            continue;
        }
        let t = &l.text[ind..];
        if !(t.starts_with("- ") || t == "-") {
            continue;
        }
        if n == idx {
            // Blank the dash so the item's first key has the indentation of the keys that follow it.
            let first = Line {
                no: l.no,
                text: format!("{} {}", " ".repeat(ind), &t[1..]),
            };
            let mut child = vec![first];
            for m in &node[i + 1..] {
                if !is_content(&m.text) {
                    continue;
                }
                if indent(&m.text) > ind {
                    child.push(m.clone());
                } else {
                    break;
                }
            }
            let col = ind + 1 + t[1..].len() - t[1..].trim_start().len() + 1;
            return Some(((l.no + 1, col), child));
        }
        n += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "\
global:
  scrape_interval: 15s   # comment
# a comment
scrape_configs:
  - job_name: a
    scrape_timeout: 5s
  - job_name: b
    relabel_configs:
    - source_labels: [x]
      regex: '('
    static_configs: [{targets: [a]}]
";

    #[test]
    fn table() {
        let cases: Vec<(Vec<Seg>, (usize, usize))> = vec![
            (vec!["global".into()], (1, 1)),
            (vec!["global".into(), "scrape_interval".into()], (2, 3)),
            (vec!["scrape_configs".into(), 0.into()], (5, 5)),
            (vec!["scrape_configs".into(), 0.into(), "job_name".into()], (5, 5)),
            (vec!["scrape_configs".into(), 0.into(), "scrape_timeout".into()], (6, 5)),
            (vec!["scrape_configs".into(), 1.into(), "job_name".into()], (7, 5)),
            (
                vec![
                    "scrape_configs".into(),
                    1.into(),
                    "relabel_configs".into(),
                    0.into(),
                    "regex".into(),
                ],
                (10, 7),
            ),
            (
                vec![
                    "scrape_configs".into(),
                    1.into(),
                    "relabel_configs".into(),
                    0.into(),
                    "source_labels".into(),
                ],
                (9, 7),
            ),
            // Flow style: the deepest block-style ancestor.
            (
                vec![
                    "scrape_configs".into(),
                    1.into(),
                    "static_configs".into(),
                    0.into(),
                    "targets".into(),
                ],
                (11, 5),
            ),
            (vec!["nope".into()], (1, 1)),
            (vec!["scrape_configs".into(), 5.into()], (4, 1)),
        ];
        for (path, want) in cases {
            assert_eq!(locate(DOC, &path), want, "{path:?}");
        }
    }
}
