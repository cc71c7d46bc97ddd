//! The one list of policies and what reads it. Help text, validation errors, `compare`'s
//! defaults and the property tests all read [`REGISTRY`] (declared by the `policies!` line in
//! `policy/mod.rs`), so a policy is added by writing its file and naming it on that line.
//!
//! Each policy owns its parameters: `[policy]`'s keys other than `name` and `interval` reach
//! its [`Entry::build`] as [`Params`], which it reads, range-checks and must use up. A key the
//! policy does not read is an error naming the keys it does.

use std::collections::{BTreeMap, BTreeSet};

use serde::de::DeserializeOwned;

use super::{Policy, REGISTRY};

/// A policy, or a family of policies that share a name grammar.
pub struct Entry {
    /// The name as written in scenarios, or the family's pattern (`DETECTOR-SELECTOR-PARAMETER`).
    pub name: &'static str,
    /// One line for `--help` and error messages, naming the parameters.
    pub about: &'static str,
    /// Names `compare` runs when none are given.
    pub defaults: &'static [&'static str],
    /// Further names that exercise every part of the policy, for the property tests.
    pub variants: &'static [&'static str],
    /// Whether `name` is this entry's (the family's grammar; its parameter may still be bad).
    pub matches: fn(name: &str) -> bool,
    /// Builds the policy, or says which name part or parameter is wrong.
    pub build: fn(&mut Config<'_>) -> Result<Box<dyn Policy>, ParamError>,
}

/// What a policy is built from.
pub struct Config<'a> {
    /// The full name (`thr-mmt-0.8`).
    pub name: &'a str,
    /// The scenario's seed, for policies that draw random numbers (from their own stream).
    pub seed: u64,
    pub params: Params<'a>,
}

/// A policy's parameters, read once each.
pub struct Params<'a> {
    values: &'a BTreeMap<String, toml::Value>,
    read: BTreeSet<&'static str>,
}

/// A bad policy name or parameter: `key` is the parameter (`None`: the name itself).
#[derive(Debug, Clone, PartialEq)]
pub struct ParamError {
    pub key: Option<String>,
    pub message: String,
}

impl ParamError {
    pub fn name(message: impl Into<String>) -> ParamError {
        ParamError {
            key: None,
            message: message.into(),
        }
    }
    pub fn param(key: &str, message: impl Into<String>) -> ParamError {
        ParamError {
            key: Some(key.to_string()),
            message: message.into(),
        }
    }
}

impl<'a> Params<'a> {
    pub fn new(values: &'a BTreeMap<String, toml::Value>) -> Params<'a> {
        Params {
            values,
            read: BTreeSet::new(),
        }
    }

    /// The parameter `key` as a `T`, or `None` when the scenario does not set it.
    pub fn get<T: DeserializeOwned>(&mut self, key: &'static str) -> Result<Option<T>, ParamError> {
        self.read.insert(key);
        match self.values.get(key) {
            None => Ok(None),
            Some(v) => v
                .clone()
                .try_into()
                .map(Some)
                .map_err(|e| ParamError::param(key, format!("{v} is not valid: {e}"))),
        }
    }

    /// A utilisation fraction in (0, 1], `default` when unset.
    pub fn fraction(&mut self, key: &'static str, default: f64) -> Result<f64, ParamError> {
        let v = self.get::<f64>(key)?.unwrap_or(default);
        if v > 0.0 && v <= 1.0 {
            Ok(v)
        } else {
            Err(ParamError::param(key, format!("{v} is not in (0, 1]")))
        }
    }

    /// A whole number of at least `min`, `default` when unset.
    pub fn count(&mut self, key: &'static str, default: u32, min: u32) -> Result<u32, ParamError> {
        let v = self.get::<u32>(key)?.unwrap_or(default);
        if v >= min {
            Ok(v)
        } else {
            Err(ParamError::param(key, format!("{v} is less than {min}")))
        }
    }

    /// Errs on a key no `get` asked for, naming those that were.
    pub fn finish(&self, policy: &str) -> Result<(), ParamError> {
        match self.values.keys().find(|k| !self.read.contains(k.as_str())) {
            None => Ok(()),
            Some(k) if self.read.is_empty() => Err(ParamError::param(
                k,
                format!("policy {policy:?} takes no parameters"),
            )),
            Some(k) => Err(ParamError::param(
                k,
                format!(
                    "policy {policy:?} takes {}",
                    self.read.iter().copied().collect::<Vec<_>>().join(", ")
                ),
            )),
        }
    }
}

/// The entry whose grammar `name` follows.
pub fn entry(name: &str) -> Option<&'static Entry> {
    REGISTRY.iter().copied().find(|e| (e.matches)(name))
}

/// Builds the policy `name` with its parameters: the one way a run gets its policy, and the
/// check scenario validation makes.
pub fn build(
    name: &str,
    params: &BTreeMap<String, toml::Value>,
    seed: u64,
) -> Result<Box<dyn Policy>, ParamError> {
    let e = entry(name).ok_or_else(|| {
        ParamError::name(format!(
            "unknown policy {name:?}; known: {}",
            REGISTRY
                .iter()
                .map(|e| e.name)
                .collect::<Vec<_>>()
                .join(", ")
        ))
    })?;
    let mut cfg = Config {
        name,
        seed,
        params: Params::new(params),
    };
    let p = (e.build)(&mut cfg)?;
    cfg.params.finish(name)?;
    Ok(p)
}

/// Whether `name` is a policy [`build`] accepts without parameters.
pub fn known(name: &str) -> bool {
    build(name, &BTreeMap::new(), 0).is_ok()
}

/// The policies `compare` runs when none are named.
pub fn defaults() -> Vec<&'static str> {
    REGISTRY
        .iter()
        .flat_map(|e| e.defaults.iter().copied())
        .collect()
}

/// One name per part of every policy (defaults and variants), for tests.
pub fn examples() -> Vec<&'static str> {
    REGISTRY
        .iter()
        .flat_map(|e| e.defaults.iter().chain(e.variants).copied())
        .collect()
}

/// The registry as help text: one line per entry.
pub fn help() -> String {
    REGISTRY
        .iter()
        .map(|e| format!("  {:<28} {}\n", e.name, e.about))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_name_builds() {
        for n in examples() {
            assert!(known(n), "{n}");
        }
        assert!(!known("thr-xx-0.8") && !known("thr-mmt") && !known("thr-mmt--1"));
    }

    #[test]
    fn unread_parameters_are_refused_by_name() {
        let mut p = BTreeMap::new();
        p.insert("office_start".to_string(), toml::Value::String("8h".into()));
        let e = build("ulm", &p, 1).err().unwrap();
        assert_eq!(e.key.as_deref(), Some("office_start"));
        assert!(e.message.contains("samples, threshold"), "{}", e.message);
        let e = build("none", &p, 1).err().unwrap();
        assert!(e.message.contains("takes no parameters"), "{}", e.message);
    }

    #[test]
    fn parameters_are_range_checked() {
        let mut p = BTreeMap::new();
        p.insert("threshold".to_string(), toml::Value::Float(1.5));
        assert_eq!(
            build("ulm", &p, 1).err().unwrap().key.as_deref(),
            Some("threshold")
        );
        p.insert("threshold".to_string(), toml::Value::String("high".into()));
        assert!(build("spread", &p, 1).is_err());
    }
}
