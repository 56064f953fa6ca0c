//! Untyped configuration trees: key paths, Grocker's deep merge, TOML → YAML values, and
//! finding the line of a key path in the original text.
//!
//! Files are merged as values, before they become a [`crate::FileConfig`], so that a later
//! file can override `dependencies.run` and keep an earlier `dependencies.build`.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_norway::{Mapping, Value};

/// One step into a tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Seg {
    Key(String),
    Index(usize),
}

/// A path into a tree, displayed `dependencies.run[1]` or `runtimes."bookworm/3.11".deprecated`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct KeyPath(pub(crate) Vec<Seg>);

impl KeyPath {
    pub(crate) fn key(&self, key: &str) -> KeyPath {
        let mut segs = self.0.clone();
        segs.push(Seg::Key(key.to_string()));
        KeyPath(segs)
    }

    pub(crate) fn index(&self, index: usize) -> KeyPath {
        let mut segs = self.0.clone();
        segs.push(Seg::Index(index));
        KeyPath(segs)
    }

    pub(crate) fn join(&self, tail: &KeyPath) -> KeyPath {
        KeyPath(self.0.iter().chain(&tail.0).cloned().collect())
    }
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("(top level)");
        }
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                Seg::Index(n) => write!(f, "[{n}]")?,
                Seg::Key(k) => {
                    if i > 0 {
                        f.write_str(".")?;
                    }
                    let plain = !k.is_empty()
                        && k.chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
                    if plain {
                        f.write_str(k)?
                    } else {
                        write!(f, "{k:?}")?
                    }
                }
            }
        }
        Ok(())
    }
}

/// Grocker's `helpers.deep_update`: mappings merge key by key, recursively; anything else
/// (lists, scalars, null) in `over` replaces what `base` had.
pub(crate) fn deep_merge(base: &mut Value, over: Value) {
    match (base, over) {
        (Value::Mapping(base), Value::Mapping(over)) => {
            for (key, value) in over {
                match base.get_mut(&key) {
                    Some(existing) => deep_merge(existing, value),
                    None => {
                        base.insert(key, value);
                    }
                }
            }
        }
        (base, over) => *base = over,
    }
}

/// Whether `path` (or how much of it) exists in `value`: the number of segments found.
pub(crate) fn depth_in(value: &Value, path: &KeyPath) -> usize {
    let mut node = value;
    for (depth, seg) in path.0.iter().enumerate() {
        let next = match (seg, node) {
            (Seg::Key(k), Value::Mapping(m)) => m.get(k.as_str()),
            (Seg::Index(i), Value::Sequence(s)) => s.get(*i),
            _ => None,
        };
        match next {
            Some(next) => node = next,
            None => return depth,
        }
    }
    path.0.len()
}

/// A TOML value as a YAML value, so both formats merge and are checked the same way.
pub(crate) fn from_toml(value: toml::Value) -> Value {
    match value {
        toml::Value::String(s) => Value::String(s),
        toml::Value::Integer(i) => Value::Number(i.into()),
        toml::Value::Float(x) => Value::Number(x.into()),
        toml::Value::Boolean(b) => Value::Bool(b),
        toml::Value::Datetime(d) => Value::String(d.to_string()),
        toml::Value::Array(items) => Value::Sequence(items.into_iter().map(from_toml).collect()),
        toml::Value::Table(table) => Value::Mapping(
            table
                .into_iter()
                .map(|(k, v)| (Value::String(k), from_toml(v)))
                .collect::<Mapping>(),
        ),
    }
}

/// How a value is described in error messages.
pub(crate) fn describe(value: &Value) -> String {
    match value {
        Value::Null => "nothing (null)".to_string(),
        Value::Bool(b) => format!("a boolean ({b})"),
        Value::Number(n) => format!("a number ({n})"),
        Value::String(s) if s.chars().count() > 60 => "a long string".to_string(),
        Value::String(s) => format!("a string ({s:?})"),
        Value::Sequence(_) => "a list".to_string(),
        Value::Mapping(_) => "a mapping".to_string(),
        Value::Tagged(t) => format!("a value tagged {}", t.tag),
    }
}

/// The 1-based line where the value at `path` starts in a YAML text.
pub(crate) fn yaml_line(text: &str, path: &KeyPath) -> Option<usize> {
    let err = Locate(&path.0)
        .deserialize(serde_norway::Deserializer::from_str(text))
        .err()?;
    err.location().map(|l| l.line())
}

/// The 1-based line where the value at `path` starts in a TOML text.
pub(crate) fn toml_line(text: &str, path: &KeyPath) -> Option<usize> {
    let deserializer = toml::Deserializer::parse(text).ok()?;
    let err = Locate(&path.0).deserialize(deserializer).err()?;
    let span = err.span()?;
    Some(text.get(..span.start)?.matches('\n').count() + 1)
}

/// Walks a document with serde and fails on purpose on reaching `path`: the deserializer then
/// attaches the position of that node to the error, which is all we want from it.
struct Locate<'a>(&'a [Seg]);

const FOUND: &str = "found";

impl<'de> DeserializeSeed<'de> for Locate<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

macro_rules! scalar_visits {
    ($($name:ident: $ty:ty),*) => {$(
        fn $name<E: de::Error>(self, _: $ty) -> Result<(), E> { self.scalar() }
    )*};
}

impl Locate<'_> {
    fn scalar<E: de::Error>(self) -> Result<(), E> {
        if self.0.is_empty() {
            Err(E::custom(FOUND))
        } else {
            Ok(())
        }
    }
}

impl<'de> Visitor<'de> for Locate<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any value")
    }

    scalar_visits!(visit_bool: bool, visit_i64: i64, visit_u64: u64, visit_f64: f64,
        visit_str: &str, visit_i128: i128, visit_u128: u128);

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.scalar()
    }

    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        self.scalar()
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let Some((first, rest)) = self.0.split_first() else {
            return Err(de::Error::custom(FOUND));
        };
        let mut i = 0;
        loop {
            let more = if *first == Seg::Index(i) {
                seq.next_element_seed(Locate(rest))?.is_some()
            } else {
                seq.next_element::<IgnoredAny>()?.is_some()
            };
            if !more {
                return Ok(());
            }
            i += 1;
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let Some((first, rest)) = self.0.split_first() else {
            return Err(de::Error::custom(FOUND));
        };
        while let Some(key) = map.next_key::<Value>()? {
            let key = match key {
                Value::String(s) => Some(s),
                Value::Number(n) => Some(n.to_string()),
                Value::Bool(b) => Some(b.to_string()),
                _ => None,
            };
            if key.is_some_and(|k| *first == Seg::Key(k)) {
                map.next_value_seed(Locate(rest))?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(segs: &[&str]) -> KeyPath {
        KeyPath(
            segs.iter()
                .map(|s| match s.parse() {
                    Ok(i) => Seg::Index(i),
                    Err(_) => Seg::Key(s.to_string()),
                })
                .collect(),
        )
    }

    #[test]
    fn finds_lines_in_yaml_and_toml() {
        let yaml = "# c\nruntime: x\ndependencies:\n  run: [a,\n    {b: 1}]\nenvs: {A: 1}\n";
        assert_eq!(yaml_line(yaml, &path(&["runtime"])), Some(2));
        assert_eq!(
            yaml_line(yaml, &path(&["dependencies", "run", "1"])),
            Some(5)
        );
        assert_eq!(yaml_line(yaml, &path(&["envs", "A"])), Some(6));
        assert_eq!(yaml_line(yaml, &path(&["nope"])), None);
        let toml = "[project]\nname = 'x'\n[tool.grocker]\nports = [80,\n  [90]]\n";
        assert_eq!(
            toml_line(toml, &path(&["tool", "grocker", "ports", "1"])),
            Some(5)
        );
    }

    #[test]
    fn displays_paths_like_the_files_spell_them() {
        let p = path(&["runtimes", "bookworm/3.11", "dependencies", "run", "0"]);
        assert_eq!(
            p.to_string(),
            r#"runtimes."bookworm/3.11".dependencies.run[0]"#
        );
        assert_eq!(KeyPath::default().to_string(), "(top level)");
    }

    #[test]
    fn merges_mappings_and_replaces_the_rest() {
        let mut base: Value =
            serde_norway::from_str("a: {x: 1, l: [1, 2]}\nb: 1\nc: {d: 1}").unwrap();
        let over: Value = serde_norway::from_str("a: {y: 2, l: [3]}\nc: ~\n").unwrap();
        deep_merge(&mut base, over);
        let want: Value = serde_norway::from_str("a: {x: 1, l: [3], y: 2}\nb: 1\nc: ~\n").unwrap();
        assert_eq!(base, want);
    }
}
