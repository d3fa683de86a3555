//! Keeps `docs/policy-reference.md` true: every JSON path of the decision
//! and of the request, read from the SDK types' own `Deserialize` impls,
//! is in the reference's tables, every path there exists, and every
//! public method of the types (the builders and accessors) and every
//! test helper is mentioned.
//!
//! The paths come from a deserializer that walks a type instead of
//! reading data: serde's derive hands it each struct's field names
//! exactly as they appear in JSON (after `rename`, `rename_all`, ...),
//! and it answers every field with a placeholder value, so the walk sees
//! the whole tree of a type without a list kept by hand.
//!
//! Native only: it reads the docs and the sources from the checkout.
#![cfg(not(target_family = "wasm"))]

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::value::StrDeserializer;
use serde::de::{self, DeserializeSeed, IntoDeserializer, Visitor};
use serde::{Deserialize, Deserializer};

/// serde_json's name for `RawValue` (`request.previous`, `request.settings`).
const RAW_VALUE: &str = "$serde_json::private::RawValue";

#[derive(Debug)]
struct WalkError(String);

impl fmt::Display for WalkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for WalkError {}

impl de::Error for WalkError {
    fn custom<T: fmt::Display>(message: T) -> WalkError {
        WalkError(message.to_string())
    }
}

/// What the walk found: each JSON path with what is there (`struct
/// Memory`, `u64`, `list`, ...). A list's element is `path[]`, a map's
/// value `path{}`.
#[derive(Default)]
struct Tree {
    paths: BTreeMap<String, String>,
    /// Struct and enum names met, with the path where first met.
    types: BTreeMap<&'static str, String>,
}

/// A deserializer for the value at `path`.
struct Walker<'a> {
    tree: &'a mut Tree,
    path: String,
    /// Struct names not expanded below the root (their fields are
    /// documented where the other tree has them).
    stop: &'a BTreeSet<&'static str>,
    /// False below a stopped struct: its fields are not recorded.
    recording: bool,
    depth: usize,
}

impl<'a> Walker<'a> {
    fn child(&mut self, suffix: &str) -> Walker<'_> {
        let path = if self.path.is_empty()
            || suffix.is_empty()
            || suffix.starts_with('[')
            || suffix.starts_with('{')
        {
            format!("{}{suffix}", self.path)
        } else {
            format!("{}.{suffix}", self.path)
        };
        Walker {
            tree: self.tree,
            path,
            stop: self.stop,
            recording: self.recording,
            depth: self.depth + 1,
        }
    }

    fn record(&mut self, kind: impl Into<String>) -> Result<(), WalkError> {
        if self.depth > 24 {
            return Err(WalkError(format!(
                "{}: too deep (a recursive type?)",
                self.path
            )));
        }
        if self.recording && !self.path.is_empty() {
            self.tree
                .paths
                .entry(self.path.clone())
                .or_insert(kind.into());
        }
        Ok(())
    }
}

macro_rules! primitive {
    ($($method:ident => $visit:ident($($value:expr)?), $kind:literal;)*) => {
        $(fn $method<V: Visitor<'de>>(mut self, visitor: V) -> Result<V::Value, WalkError> {
            self.record($kind)?;
            visitor.$visit($($value)?)
        })*
    };
}

impl<'de> Deserializer<'de> for Walker<'_> {
    type Error = WalkError;

    primitive! {
        deserialize_bool => visit_bool(false), "bool";
        deserialize_i8 => visit_i8(0), "i8";
        deserialize_i16 => visit_i16(0), "i16";
        deserialize_i32 => visit_i32(0), "i32";
        deserialize_i64 => visit_i64(0), "i64";
        deserialize_u8 => visit_u8(0), "u8";
        deserialize_u16 => visit_u16(0), "u16";
        deserialize_u32 => visit_u32(0), "u32";
        deserialize_u64 => visit_u64(0), "u64";
        deserialize_f32 => visit_f32(0.0), "f32";
        deserialize_f64 => visit_f64(0.0), "f64";
        deserialize_char => visit_char('x'), "char";
        deserialize_str => visit_str(""), "string";
        deserialize_string => visit_str(""), "string";
        deserialize_bytes => visit_bytes(&[]), "bytes";
        deserialize_byte_buf => visit_bytes(&[]), "bytes";
        deserialize_unit => visit_unit(), "null";
    }

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, WalkError> {
        Err(WalkError(format!(
            "{}: a self-describing type (serde_json::Value, an untagged enum): \
             the walk cannot see its shape; give it a typed field",
            self.path
        )))
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, WalkError> {
        visitor.visit_unit()
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, _: V) -> Result<V::Value, WalkError> {
        Err(WalkError(format!(
            "{}: an identifier where a value was expected",
            self.path
        )))
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, WalkError> {
        visitor.visit_some(self)
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        mut self,
        _: &'static str,
        visitor: V,
    ) -> Result<V::Value, WalkError> {
        self.record("null")?;
        visitor.visit_unit()
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        mut self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, WalkError> {
        if name == RAW_VALUE {
            self.record("raw JSON")?;
            return visitor.visit_map(RawValueAccess { sent_key: false });
        }
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(mut self, visitor: V) -> Result<V::Value, WalkError> {
        self.record("list")?;
        visitor.visit_seq(OneElement {
            walker: self.child("[]"),
            done: false,
        })
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, _: usize, _: V) -> Result<V::Value, WalkError> {
        Err(WalkError(format!("{}: tuples are not walked", self.path)))
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: usize,
        _: V,
    ) -> Result<V::Value, WalkError> {
        Err(WalkError(format!(
            "{}: tuple structs are not walked",
            self.path
        )))
    }

    fn deserialize_map<V: Visitor<'de>>(mut self, visitor: V) -> Result<V::Value, WalkError> {
        self.record("map")?;
        visitor.visit_map(OneEntry {
            walker: self.child("{}"),
            state: 0,
        })
    }

    fn deserialize_struct<V: Visitor<'de>>(
        mut self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, WalkError> {
        self.record(format!("struct {name}"))?;
        if self.recording {
            self.tree
                .types
                .entry(name)
                .or_insert_with(|| self.path.clone());
        }
        if !self.path.is_empty() && self.stop.contains(name) {
            self.recording = false;
        }
        visitor.visit_map(Fields {
            walker: self,
            fields,
            next: 0,
        })
    }

    fn deserialize_enum<V: Visitor<'de>>(
        mut self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, WalkError> {
        self.record(format!("enum {name}: {}", variants.join(" | ")))?;
        if self.recording {
            self.tree
                .types
                .entry(name)
                .or_insert_with(|| self.path.clone());
        }
        let Some(first) = variants.first() else {
            return Err(WalkError(format!(
                "{}: enum {name} has no variant",
                self.path
            )));
        };
        visitor.visit_enum(UnitVariant {
            name: first,
            path: self.path,
        })
    }
}

struct RawValueAccess {
    sent_key: bool,
}

impl<'de> de::MapAccess<'de> for RawValueAccess {
    type Error = WalkError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, WalkError> {
        if self.sent_key {
            return Ok(None);
        }
        self.sent_key = true;
        let key: StrDeserializer<'_, WalkError> = RAW_VALUE.into_deserializer();
        seed.deserialize(key).map(Some)
    }

    fn next_value_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<S::Value, WalkError> {
        let value: StrDeserializer<'_, WalkError> = "{}".into_deserializer();
        seed.deserialize(value)
    }
}

struct OneElement<'a> {
    walker: Walker<'a>,
    done: bool,
}

impl<'de> de::SeqAccess<'de> for OneElement<'_> {
    type Error = WalkError;

    fn next_element_seed<S: DeserializeSeed<'de>>(
        &mut self,
        seed: S,
    ) -> Result<Option<S::Value>, WalkError> {
        if self.done {
            return Ok(None);
        }
        self.done = true;
        seed.deserialize(self.walker.child("")).map(Some)
    }
}

struct OneEntry<'a> {
    walker: Walker<'a>,
    state: u8,
}

impl<'de> de::MapAccess<'de> for OneEntry<'_> {
    type Error = WalkError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, WalkError> {
        if self.state > 0 {
            return Ok(None);
        }
        self.state = 1;
        let key: StrDeserializer<'_, WalkError> = "key".into_deserializer();
        seed.deserialize(key).map(Some)
    }

    fn next_value_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<S::Value, WalkError> {
        seed.deserialize(self.walker.child(""))
    }
}

struct Fields<'a> {
    walker: Walker<'a>,
    fields: &'static [&'static str],
    next: usize,
}

impl<'de> de::MapAccess<'de> for Fields<'_> {
    type Error = WalkError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, WalkError> {
        let Some(field) = self.fields.get(self.next) else {
            return Ok(None);
        };
        let key: StrDeserializer<'_, WalkError> = field.into_deserializer();
        seed.deserialize(key).map(Some)
    }

    fn next_value_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<S::Value, WalkError> {
        let field = self.fields[self.next];
        self.next += 1;
        seed.deserialize(self.walker.child(field))
    }
}

struct UnitVariant {
    name: &'static str,
    path: String,
}

impl<'de> de::EnumAccess<'de> for UnitVariant {
    type Error = WalkError;
    type Variant = UnitVariant;

    fn variant_seed<S: DeserializeSeed<'de>>(
        self,
        seed: S,
    ) -> Result<(S::Value, UnitVariant), WalkError> {
        let name: StrDeserializer<'_, WalkError> = self.name.into_deserializer();
        Ok((seed.deserialize(name)?, self))
    }
}

impl<'de> de::VariantAccess<'de> for UnitVariant {
    type Error = WalkError;

    fn unit_variant(self) -> Result<(), WalkError> {
        Ok(())
    }

    fn newtype_variant_seed<S: DeserializeSeed<'de>>(self, _: S) -> Result<S::Value, WalkError> {
        Err(self.unsupported())
    }

    fn tuple_variant<V: Visitor<'de>>(self, _: usize, _: V) -> Result<V::Value, WalkError> {
        Err(self.unsupported())
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, WalkError> {
        Err(self.unsupported())
    }
}

impl UnitVariant {
    fn unsupported(&self) -> WalkError {
        WalkError(format!(
            "{}: the first variant {:?} carries data; the walk knows unit variants only",
            self.path, self.name
        ))
    }
}

/// Every JSON path of `T`, not expanding the structs named in `stop`
/// below the root.
fn walk<T: for<'de> Deserialize<'de>>(stop: &BTreeSet<&'static str>) -> Tree {
    let mut tree = Tree::default();
    let walker = Walker {
        tree: &mut tree,
        path: String::new(),
        stop,
        recording: true,
        depth: 0,
    };
    if let Err(error) = T::deserialize(walker) {
        panic!("walking {}: {error}", std::any::type_name::<T>());
    }
    tree
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn reference() -> String {
    let path = repo().join("docs/policy-reference.md");
    std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

/// The paths in the first column of the tables under the `## HEADING`
/// section: every `code span` of that cell.
fn documented_paths(doc: &str, heading: &str) -> BTreeSet<String> {
    let marker = format!("## {heading}");
    let start = doc
        .lines()
        .position(|line| line.trim_end() == marker)
        .unwrap_or_else(|| panic!("docs/policy-reference.md has no section {marker:?}"));
    let mut paths = BTreeSet::new();
    for line in doc.lines().skip(start + 1) {
        if line.starts_with("## ") {
            break;
        }
        let Some(row) = line.strip_prefix('|') else {
            continue;
        };
        let cell = row.split('|').next().unwrap_or("");
        if cell.trim().starts_with("---") {
            continue;
        }
        paths.extend(cell.split('`').skip(1).step_by(2).map(str::to_string));
    }
    paths
}

/// Compares the walked tree with the section; the messages name each path.
fn compare(tree: &Tree, documented: &BTreeSet<String>, what: &str, heading: &str) -> Vec<String> {
    let mut problems = Vec::new();
    for (path, kind) in &tree.paths {
        // A list's element and a map's value are documented with the list.
        if path.ends_with("[]") || path.ends_with("{}") {
            continue;
        }
        if !documented.contains(path) {
            problems.push(format!(
                "{what} field `{path}` ({kind}) is missing from docs/policy-reference.md \
                 (section \"## {heading}\"): add a row for it"
            ));
        }
    }
    for path in documented {
        if !tree.paths.contains_key(path) {
            problems.push(format!(
                "docs/policy-reference.md (section \"## {heading}\") lists `{path}`, \
                 which is not a {what} field (a typo, or a field that was renamed or removed)"
            ));
        }
    }
    problems
}

const DECISION: &str = "Decision fields";
const REQUEST: &str = "Request fields";

#[test]
fn every_decision_and_request_field_is_in_the_reference() {
    let doc = reference();
    let decision = walk::<policy_sdk::Decision>(&BTreeSet::new());
    // The request's `requested` and `requestedSpec` have the decision's
    // shapes (`Resources`, `Decision`): documented there, not again.
    let decision_types: BTreeSet<&'static str> = decision.types.keys().copied().collect();
    let request = walk::<policy_sdk::Request>(&decision_types);
    assert!(
        decision.paths.contains_key("resources.memory.limit"),
        "the walk works"
    );
    assert!(
        request.paths.contains_key("host.cgroupMode"),
        "the walk works"
    );

    let mut problems = compare(
        &decision,
        &documented_paths(&doc, DECISION),
        "decision",
        DECISION,
    );
    problems.extend(compare(
        &request,
        &documented_paths(&doc, REQUEST),
        "request",
        REQUEST,
    ));
    assert!(
        problems.is_empty(),
        "docs/policy-reference.md is out of date:\n{}",
        problems.join("\n")
    );
}

/// A public function found in the sources.
struct Function {
    owner: String,
    name: String,
    file: String,
}

/// The `pub fn`s of the inherent `impl OWNER {` blocks for `owners`, and
/// the free `pub fn`s of the files in `free_in`, in every `.rs` file
/// below `dir`, test modules left out.
fn public_functions(
    dir: &Path,
    owners: &BTreeSet<String>,
    free_in: &[&str],
    out: &mut Vec<Function>,
) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|error| panic!("{}: {error}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            public_functions(&path, owners, free_in, out);
            continue;
        }
        if path.extension().is_none_or(|ext| ext != "rs") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("source file");
        let file = path
            .strip_prefix(repo())
            .unwrap_or(&path)
            .display()
            .to_string()
            .trim_start_matches("../")
            .to_string();
        let free = free_in.iter().any(|suffix| file.ends_with(suffix));
        let mut owner: Option<String> = None;
        let mut lines = text.lines().peekable();
        while let Some(line) = lines.next() {
            // A test module ends what the crate exports from this file.
            if line == "#[cfg(test)]" && lines.peek().is_some_and(|next| next.starts_with("mod ")) {
                break;
            }
            if line == "}" {
                owner = None;
            } else if let Some(rest) = line.strip_prefix("impl ") {
                // `impl Decision {`, not `impl Trait for Decision {`.
                let rest = rest.trim_end_matches('{').trim();
                if !rest.contains(" for ") {
                    let name = rest.split(['<', ' ']).next().unwrap_or("");
                    owner = owners.contains(name).then(|| name.to_string());
                }
            } else if let Some(owner) = &owner {
                if let Some(name) = function_name(line, "    pub fn ") {
                    out.push(Function {
                        owner: owner.clone(),
                        name,
                        file: file.clone(),
                    });
                }
            } else if let Some(name) = function_name(line, "pub fn ").filter(|_| free) {
                out.push(Function {
                    owner: String::new(),
                    name,
                    file: file.clone(),
                });
            }
        }
    }
}

fn function_name(line: &str, prefix: &str) -> Option<String> {
    let rest = line.strip_prefix(prefix)?;
    let name: String = rest
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    (!name.is_empty()).then_some(name)
}

/// Whether `doc` calls `name` somewhere: `.name(`, `::name(` or `` `name( ``.
fn mentions(doc: &str, name: &str) -> bool {
    let needle = format!("{name}(");
    doc.match_indices(&needle).any(|(at, _)| {
        matches!(
            doc[..at].chars().next_back(),
            Some('.') | Some(':') | Some('`')
        )
    })
}

#[test]
fn every_builder_accessor_and_test_helper_is_in_the_reference() {
    let doc = reference();
    let decision = walk::<policy_sdk::Decision>(&BTreeSet::new());
    let request = walk::<policy_sdk::Request>(&BTreeSet::new());
    let mut owners: BTreeSet<String> = decision
        .types
        .keys()
        .chain(request.types.keys())
        .map(|name| name.to_string())
        .collect();
    owners.insert("RequestBuilder".into());
    assert!(owners.contains("Decision") && owners.contains("Host") && owners.contains("User"));

    let mut functions = Vec::new();
    let root = repo();
    public_functions(&root.join("policy-model/src"), &owners, &[], &mut functions);
    public_functions(
        &root.join("policy-sdk/src"),
        &owners,
        &["policy-sdk/src/testing.rs"],
        &mut functions,
    );
    let names: BTreeSet<&str> = functions.iter().map(|f| f.name.as_str()).collect();
    for expected in [
        "memory_limit",
        "pids_limit",
        "label",
        "host_memory",
        "assert_allowed",
    ] {
        assert!(
            names.contains(expected),
            "the scan found no `{expected}`: the scan is broken"
        );
    }

    let missing: Vec<String> = functions
        .iter()
        .filter(|function| !mentions(&doc, &function.name))
        .map(|function| {
            let name = if function.owner.is_empty() {
                format!("testing::{}", function.name)
            } else {
                format!("{}::{}", function.owner, function.name)
            };
            format!(
                "`{name}` ({}) is not mentioned in docs/policy-reference.md: name it \
                 (as `.{}(...)`) in the row of the field it sets or reads",
                function.file, function.name
            )
        })
        .collect();
    assert!(
        missing.is_empty(),
        "docs/policy-reference.md is out of date:\n{}",
        missing.join("\n")
    );
}

/// Prints the walked paths (`cargo test -p policy-sdk --test reference_doc
/// -- --ignored --nocapture print_paths`), to write a new row from.
#[test]
#[ignore]
fn print_paths() {
    let decision = walk::<policy_sdk::Decision>(&BTreeSet::new());
    let types: BTreeSet<&'static str> = decision.types.keys().copied().collect();
    for (path, kind) in &decision.paths {
        println!("decision {path}: {kind}");
    }
    for (path, kind) in &walk::<policy_sdk::Request>(&types).paths {
        println!("request {path}: {kind}");
    }
}
