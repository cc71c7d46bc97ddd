//! Reading scenario files: includes, `--set` overrides, and errors that point at the culprit.
//!
//! A scenario is assembled as a plain TOML table: the files it includes first (recursively), then
//! the file itself, then each `--set key.path=value` from the command line. Tables merge key by
//! key; arrays and scalars replace. While assembling, every key path remembers where it was last
//! written (file and byte offset, or the command-line argument), so a deserialisation error on
//! `hosts[1].ram` can be reported as `cluster.toml:14:7: hosts[1].ram: expected …`.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use toml::de::{DeTable, DeValue};
use toml::{Spanned, Table, Value};

use super::{QUICKSTART, QUICKSTART_NAME, Scenario};

/// Where a value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    File {
        file: String,
        line: usize,
        column: usize,
    },
    CommandLine(String),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::File { file, line, column } => write!(f, "{file}:{line}:{column}"),
            Origin::CommandLine(arg) => write!(f, "--set {arg}"),
        }
    }
}

/// A scenario that cannot be used, with the place and field at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScenarioError {
    #[error("{file}: cannot read: {reason}")]
    Read { file: String, reason: String },
    #[error("{origin}: {message}")]
    Syntax { origin: Origin, message: String },
    #[error("{origin}: {field}: {message}")]
    Field {
        origin: Origin,
        field: String,
        message: String,
    },
    #[error("{file}: include cycle: {chain}")]
    IncludeCycle { file: String, chain: String },
    #[error("--set {arg}: {message}")]
    Set { arg: String, message: String },
}

impl ScenarioError {
    /// The field path at fault, if the error is about one.
    pub fn field(&self) -> Option<&str> {
        match self {
            ScenarioError::Field { field, .. } => Some(field),
            _ => None,
        }
    }
}

/// Byte offsets of the values (and keys) of every path in one source text.
struct Spans {
    file: String,
    text: String,
    values: BTreeMap<String, usize>,
    keys: BTreeMap<String, usize>,
}

impl Spans {
    fn origin(&self, offset: usize) -> Origin {
        let (line, column) = line_col(&self.text, offset);
        Origin::File {
            file: self.file.clone(),
            line,
            column,
        }
    }
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let col_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
    (line, before[col_start..].chars().count() + 1)
}

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_string()
    } else {
        format!("{prefix}.{key}")
    }
}

fn walk_table(t: &DeTable<'_>, prefix: &str, spans: &mut Spans) {
    for (k, v) in t.iter() {
        let path = join(prefix, k.get_ref());
        spans.keys.insert(path.clone(), k.span().start);
        walk_value(v, &path, spans);
    }
}

fn walk_value(v: &Spanned<DeValue<'_>>, path: &str, spans: &mut Spans) {
    spans.values.insert(path.to_string(), v.span().start);
    match v.get_ref() {
        DeValue::Table(t) => walk_table(t, path, spans),
        DeValue::Array(a) => {
            for (i, e) in a.iter().enumerate() {
                walk_value(e, &format!("{path}[{i}]"), spans);
            }
        }
        _ => {}
    }
}

/// Everything known about where each path of the assembled table came from.
#[derive(Default, Clone)]
struct Origins {
    /// path → origin; later writers replace earlier ones.
    values: BTreeMap<String, Origin>,
    keys: BTreeMap<String, Origin>,
    /// The file that was asked for, for errors about fields no file wrote (missing fields).
    top: String,
}

impl Origins {
    fn absorb(&mut self, s: &Spans) {
        for (p, &off) in &s.values {
            self.values.insert(p.clone(), s.origin(off));
        }
        for (p, &off) in &s.keys {
            self.keys.insert(p.clone(), s.origin(off));
        }
    }

    /// The origin of `path` or of its nearest ancestor that has one.
    fn find(&self, path: &str, prefer_key: bool) -> Origin {
        let mut p = path.to_string();
        loop {
            let hit = if prefer_key {
                self.keys.get(&p).or_else(|| self.values.get(&p))
            } else {
                self.values.get(&p).or_else(|| self.keys.get(&p))
            };
            if let Some(o) = hit {
                return o.clone();
            }
            match p.rfind(['.', '[']) {
                Some(i) => p.truncate(i),
                None => break,
            }
        }
        // Nothing wrote this path (a missing field of the top-level table): the file's start.
        Origin::File {
            file: self.top.clone(),
            line: 1,
            column: 1,
        }
    }
}

/// A TOML error's message for a person: toml says "duplicate key" without naming it, so the
/// key is taken from the source at the error's span.
pub fn toml_message(text: &str, span: Option<std::ops::Range<usize>>, message: &str) -> String {
    let m = message.trim();
    match span.and_then(|r| text.get(r)) {
        Some(key) if m == "duplicate key" && !key.trim().is_empty() => {
            format!("duplicate key `{}`", key.trim())
        }
        _ => m.to_string(),
    }
}

fn parse_source(file: &str, text: &str) -> Result<(Table, Spans), ScenarioError> {
    let syntax = |offset: usize, message: String| {
        let (line, column) = line_col(text, offset);
        ScenarioError::Syntax {
            origin: Origin::File {
                file: file.to_string(),
                line,
                column,
            },
            message,
        }
    };
    let message = |span, m: &str| toml_message(text, span, m);
    let table: Table = toml::from_str(text).map_err(|e| {
        let off = e.span().map(|s| s.start).unwrap_or(0);
        syntax(off, message(e.span(), e.message()))
    })?;
    let de = DeTable::parse(text).map_err(|e| {
        let off = e.span().map(|s| s.start).unwrap_or(0);
        syntax(off, message(e.span(), e.message()))
    })?;
    let mut spans = Spans {
        file: file.to_string(),
        text: text.to_string(),
        values: BTreeMap::new(),
        keys: BTreeMap::new(),
    };
    walk_table(de.get_ref(), "", &mut spans);
    Ok((table, spans))
}

/// Deep merge: tables key by key, everything else replaced.
fn merge(base: &mut Table, top: Table) {
    for (k, v) in top {
        match (base.get_mut(&k), v) {
            (Some(Value::Table(b)), Value::Table(t)) => merge(b, t),
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}

fn assemble(
    file: &str,
    text: &str,
    dir: Option<&Path>,
    stack: &mut Vec<PathBuf>,
    origins: &mut Origins,
) -> Result<Table, ScenarioError> {
    let (mut table, spans) = parse_source(file, text)?;
    let includes: Vec<(usize, String)> = match table.remove("include") {
        None => Vec::new(),
        Some(Value::String(s)) => vec![(0, s)],
        Some(Value::Array(a)) => {
            let mut v = Vec::new();
            for (i, e) in a.into_iter().enumerate() {
                match e {
                    Value::String(s) => v.push((i, s)),
                    _ => {
                        return Err(ScenarioError::Field {
                            origin: spans.origin(spans.values[&format!("include[{i}]")]),
                            field: format!("include[{i}]"),
                            message: "expected a file name (a string)".into(),
                        });
                    }
                }
            }
            v
        }
        Some(_) => {
            return Err(ScenarioError::Field {
                origin: spans.origin(spans.values["include"]),
                field: "include".into(),
                message: "expected a file name or a list of file names".into(),
            });
        }
    };
    let mut base = Table::new();
    let mut names = Vec::new();
    for (i, inc) in includes {
        let path = match dir {
            Some(d) => d.join(&inc),
            None => PathBuf::from(&inc),
        };
        let canon = path.canonicalize().map_err(|e| ScenarioError::Field {
            origin: spans.origin(
                spans
                    .values
                    .get(&format!("include[{i}]"))
                    .or_else(|| spans.values.get("include"))
                    .copied()
                    .unwrap_or(0),
            ),
            field: "include".into(),
            message: format!("cannot open {}: {e}", path.display()),
        })?;
        if stack.contains(&canon) {
            let chain: Vec<String> = stack
                .iter()
                .chain(std::iter::once(&canon))
                .map(|p| p.display().to_string())
                .collect();
            return Err(ScenarioError::IncludeCycle {
                file: file.to_string(),
                chain: chain.join(" -> "),
            });
        }
        let inc_text = std::fs::read_to_string(&canon).map_err(|e| ScenarioError::Read {
            file: path.display().to_string(),
            reason: e.to_string(),
        })?;
        stack.push(canon.clone());
        let inc_table = assemble(
            &path.display().to_string(),
            &inc_text,
            canon.parent(),
            stack,
            origins,
        )?;
        stack.pop();
        merge(&mut base, inc_table);
        names.push(inc);
    }
    origins.absorb(&spans);
    merge(&mut base, table);
    if !names.is_empty() {
        base.insert(
            "include".into(),
            Value::Array(names.into_iter().map(Value::String).collect()),
        );
    }
    Ok(base)
}

/// One step of a `--set` key path: a table key or an array index.
#[derive(Debug, Clone, PartialEq)]
enum Step {
    Key(String),
    Index(usize),
}

fn parse_key_path(s: &str) -> Option<Vec<Step>> {
    let mut steps = Vec::new();
    for part in s.split('.') {
        let (key, mut rest) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if key.is_empty() {
            // "hosts.0.count" style: a bare number after a dot is an index.
            if rest.is_empty() {
                return None;
            }
        } else if let Ok(i) = key.parse::<usize>() {
            steps.push(Step::Index(i));
        } else {
            if !key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            {
                return None;
            }
            steps.push(Step::Key(key.to_string()));
        }
        while !rest.is_empty() {
            let close = rest.find(']')?;
            let idx: usize = rest[1..close].parse().ok()?;
            steps.push(Step::Index(idx));
            rest = &rest[close + 1..];
            if !rest.is_empty() && !rest.starts_with('[') {
                return None;
            }
        }
    }
    if steps.is_empty() { None } else { Some(steps) }
}

fn canonical_path(steps: &[Step]) -> String {
    let mut s = String::new();
    for st in steps {
        match st {
            Step::Key(k) => {
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(k);
            }
            Step::Index(i) => s.push_str(&format!("[{i}]")),
        }
    }
    s
}

/// Parses the right-hand side of `--set`: a TOML value if it is one, otherwise a bare string,
/// so that `--set horizon=2h` works without shell-quoting the quotes.
fn parse_set_value(raw: &str) -> Value {
    let doc = format!("v = {raw}");
    match toml::from_str::<Table>(&doc) {
        Ok(mut t) => t.remove("v").unwrap_or(Value::String(raw.to_string())),
        Err(_) => Value::String(raw.to_string()),
    }
}

/// Applies one `key.path=value` override.
pub fn apply_set(table: &mut Table, arg: &str) -> Result<String, ScenarioError> {
    let err = |message: String| ScenarioError::Set {
        arg: arg.to_string(),
        message,
    };
    let (k, v) = arg
        .split_once('=')
        .ok_or_else(|| err("expected key.path=value".into()))?;
    let steps = parse_key_path(k.trim()).ok_or_else(|| {
        err(format!(
            "{:?} is not a key path like hosts[0].count",
            k.trim()
        ))
    })?;
    let value = parse_set_value(v.trim());
    let mut cur: &mut Value = {
        let Step::Key(first) = &steps[0] else {
            return Err(err("a key path starts with a key, not an index".into()));
        };
        if steps.len() == 1 {
            table.insert(first.clone(), value);
            return Ok(canonical_path(&steps));
        }
        table
            .entry(first.clone())
            .or_insert_with(|| Value::Table(Table::new()))
    };
    for (n, st) in steps.iter().enumerate().skip(1) {
        let last = n == steps.len() - 1;
        let so_far = canonical_path(&steps[..n]);
        match st {
            Step::Key(key) => {
                let Value::Table(t) = cur else {
                    return Err(err(format!("{so_far} is not a table")));
                };
                if last {
                    t.insert(key.clone(), value);
                    return Ok(canonical_path(&steps));
                }
                cur = t
                    .entry(key.clone())
                    .or_insert_with(|| Value::Table(Table::new()));
            }
            Step::Index(i) => {
                let Value::Array(a) = cur else {
                    return Err(err(format!("{so_far} is not a list")));
                };
                let len = a.len();
                let slot = a.get_mut(*i).ok_or_else(|| {
                    err(format!(
                        "{so_far} has {len} entries; index {i} is out of range"
                    ))
                })?;
                if last {
                    *slot = value;
                    return Ok(canonical_path(&steps));
                }
                cur = slot;
            }
        }
    }
    unreachable!("the last step returns")
}

/// Turns serde_path_to_error's path (`hosts[0].ram`, `?` for unknown) into ours.
fn clean_path(p: &str) -> String {
    if p == "." {
        String::new()
    } else {
        p.to_string()
    }
}

fn deserialize(table: Table, origins: &Origins) -> Result<Scenario, ScenarioError> {
    let value = Value::Table(table);
    serde_path_to_error::deserialize::<_, Scenario>(value).map_err(|e| {
        let path = clean_path(&e.path().to_string());
        let message = e.inner().message().trim().to_string();
        // For an unknown field, point at the offending key rather than at its table.
        if let Some(rest) = message.strip_prefix("unknown field `") {
            let name = rest.split('`').next().unwrap_or("");
            let ends_with_name = path == name || path.ends_with(&format!(".{name}"));
            let field = if ends_with_name {
                path.clone()
            } else {
                join(&path, name)
            };
            return ScenarioError::Field {
                origin: origins.find(&field, true),
                field,
                message,
            };
        }
        // A missing field is named in full; it is located at the table that lacks it.
        let field = match message.strip_prefix("missing field `") {
            Some(rest) => join(&path, rest.split('`').next().unwrap_or("")),
            None if path.is_empty() => "(top level)".to_string(),
            None => path.clone(),
        };
        ScenarioError::Field {
            origin: origins.find(&path, false),
            field,
            message,
        }
    })
}

/// A loaded scenario and where each of its fields came from, for later semantic checks.
#[derive(Clone)]
pub struct Loaded {
    pub scenario: Scenario,
    origins: Origins,
}

impl Loaded {
    /// A path written in field `field`: relative paths resolve against the folder of the file
    /// that wrote it, or the working directory if it came from the command line.
    pub fn resolve_path(&self, field: &str, value: &str) -> std::path::PathBuf {
        let p = std::path::Path::new(value);
        if p.is_absolute() {
            return p.to_path_buf();
        }
        match self.origins.values.get(field) {
            Some(Origin::File { file, .. }) => std::path::Path::new(file)
                .parent()
                .map(|d| d.join(p))
                .unwrap_or_else(|| p.to_path_buf()),
            _ => p.to_path_buf(),
        }
    }

    /// An error about `field`, located where the field was written.
    pub fn field_error(&self, field: &str, message: impl Into<String>) -> ScenarioError {
        ScenarioError::Field {
            origin: self.origins.find(field, false),
            field: field.to_string(),
            message: message.into(),
        }
    }
}

fn load_inner(
    file: &str,
    text: &str,
    dir: Option<&Path>,
    canon: Option<PathBuf>,
    sets: &[String],
) -> Result<Loaded, ScenarioError> {
    let mut origins = Origins {
        top: file.to_string(),
        ..Origins::default()
    };
    let mut stack: Vec<PathBuf> = canon.into_iter().collect();
    let mut table = assemble(file, text, dir, &mut stack, &mut origins)?;
    for arg in sets {
        let path = apply_set(&mut table, arg)?;
        let o = Origin::CommandLine(arg.clone());
        // An override replaces the whole subtree below its path.
        let prefix_dot = format!("{path}.");
        let prefix_idx = format!("{path}[");
        origins
            .values
            .retain(|k, _| !(k.starts_with(&prefix_dot) || k.starts_with(&prefix_idx)));
        origins.values.insert(path.clone(), o.clone());
        origins.keys.insert(path, o);
    }
    let scenario = deserialize(table, &origins)?;
    let loaded = Loaded { scenario, origins };
    super::validate::check(&loaded)?;
    Ok(loaded)
}

/// Loads a scenario file, its includes and `--set` overrides, and checks it.
impl Loaded {
    /// The assembled scenario as one self-contained file: includes and `--set`s applied,
    /// paths made absolute. A plan folder keeps it, so that its migrations can be simulated
    /// again (`migsim calibrate`).
    pub fn resolved_toml(&self) -> Result<String, String> {
        let mut sc = self.scenario.clone();
        sc.include.clear();
        if let Some(t) = sc.trace.as_mut() {
            let abs =
                |p: std::path::PathBuf| std::path::absolute(&p).unwrap_or(p).display().to_string();
            t.path = abs(self.resolve_path("trace.path", &t.path));
            if let Some(o) = t.order.as_mut() {
                *o = abs(self.resolve_path("trace.order", o));
            }
        }
        toml::to_string(&sc).map_err(|e| format!("cannot write the scenario: {e}"))
    }
}

pub fn load_file(path: &Path, sets: &[String]) -> Result<Loaded, ScenarioError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| ScenarioError::Read {
        file: file.clone(),
        reason: e.to_string(),
    })?;
    let canon = path.canonicalize().ok();
    let dir = canon
        .as_deref()
        .and_then(Path::parent)
        .map(Path::to_path_buf);
    load_inner(&file, &text, dir.as_deref(), canon, sets)
}

/// Loads a scenario from text; includes resolve against `dir` (or the working directory).
pub fn load_str(
    name: &str,
    text: &str,
    dir: Option<&Path>,
    sets: &[String],
) -> Result<Loaded, ScenarioError> {
    load_inner(name, text, dir, None, sets)
}

/// The built-in quickstart scenario.
pub fn load_builtin(sets: &[String]) -> Result<Loaded, ScenarioError> {
    load_str(QUICKSTART_NAME, QUICKSTART, None, sets)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column_are_one_based() {
        let t = "a = 1\nbb = 2\n";
        assert_eq!(line_col(t, 0), (1, 1));
        assert_eq!(line_col(t, 6), (2, 1));
        assert_eq!(line_col(t, 11), (2, 6));
    }

    #[test]
    fn key_paths_accept_brackets_and_dots() {
        assert_eq!(
            parse_key_path("hosts[0].count").unwrap(),
            vec![
                Step::Key("hosts".into()),
                Step::Index(0),
                Step::Key("count".into())
            ]
        );
        assert_eq!(
            parse_key_path("hosts.0.count").unwrap(),
            parse_key_path("hosts[0].count").unwrap()
        );
        assert!(parse_key_path("hosts[x]").is_none());
        assert!(parse_key_path("").is_none());
    }

    #[test]
    fn set_values_are_toml_or_bare_strings() {
        assert_eq!(parse_set_value("7"), Value::Integer(7));
        assert_eq!(parse_set_value("2h"), Value::String("2h".into()));
        assert_eq!(parse_set_value("\"2h\""), Value::String("2h".into()));
        assert_eq!(parse_set_value("true"), Value::Boolean(true));
    }

    #[test]
    fn set_creates_tables_but_not_array_slots() {
        let mut t: Table = toml::from_str("[[hosts]]\ncount = 1\n").unwrap();
        apply_set(&mut t, "network.topology=tree").unwrap();
        apply_set(&mut t, "hosts[0].count=4").unwrap();
        assert_eq!(t["hosts"][0]["count"].as_integer(), Some(4));
        assert_eq!(t["network"]["topology"].as_str(), Some("tree"));
        let e = apply_set(&mut t, "hosts[3].count=4").unwrap_err();
        assert!(e.to_string().contains("out of range"), "{e}");
        assert!(apply_set(&mut t, "nokey").is_err());
    }

    #[test]
    fn merge_is_deep_for_tables_and_replaces_arrays() {
        let mut a: Table = toml::from_str("x = 1\n[n]\na = 1\nb = 2\nl = [1, 2]\n").unwrap();
        let b: Table = toml::from_str("[n]\nb = 3\nl = [9]\n").unwrap();
        merge(&mut a, b);
        assert_eq!(a["x"].as_integer(), Some(1));
        assert_eq!(a["n"]["a"].as_integer(), Some(1));
        assert_eq!(a["n"]["b"].as_integer(), Some(3));
        assert_eq!(a["n"]["l"].as_array().unwrap().len(), 1);
    }
}
