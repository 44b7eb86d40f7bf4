//! Typed configuration from environment variables, and optionally a TOML file under them
//! (Elixir's Vapor): a `#[derive(Deserialize)]` struct is filled from `PREFIX_FIELD` variables
//! and checked at boot. A missing or malformed variable stops the start with one error that
//! names *every* bad variable at once, so an operator fixes a deployment in one round instead of
//! one restart per typo.
//!
//! Field `port` of a config loaded with prefix `APP` is read from `APP_PORT`; a nested struct
//! field `db` with field `pool` from `APP_DB_POOL`. Values parse as their Rust type: numbers,
//! `true`/`false` (also `1`/`0`, `yes`/`no`, `on`/`off`), enum variants by name (any case),
//! comma-separated lists for `Vec`s, durations as `30s`, `5m`, `250ms` or `1h 30m` for
//! `std::time::Duration`, socket and IP addresses. `Option` fields and `#[serde(default)]`
//! fields may be left unset. A file given with [`ConfigLoader::file`] is read first (its keys
//! are the field names, tables for nested structs); variables override it.
//!
//! Written by hand rather than with envy or figment: both stop at the first bad variable.
//!
//! ```
//! use std::time::Duration;
//! use grove_kit::config::ConfigLoader;
//!
//! #[derive(serde::Deserialize, Debug)]
//! struct Config {
//!     port: u16,
//!     database_url: String,
//!     pool_size: Option<u32>,
//!     request_timeout: Duration,
//! }
//!
//! let loaded: Config = ConfigLoader::new("JENGA")
//!     .vars([
//!         ("JENGA_PORT", "4000"),
//!         ("JENGA_DATABASE_URL", "postgres://db/jenga"),
//!         ("JENGA_REQUEST_TIMEOUT", "15s"),
//!     ])
//!     .load()
//!     .unwrap();
//! assert_eq!(loaded.port, 4000);
//! assert_eq!(loaded.request_timeout, Duration::from_secs(15));
//!
//! let broken = ConfigLoader::new("JENGA")
//!     .vars([("JENGA_PORT", "eighty"), ("JENGA_REQUEST_TIMEOUT", "soon")])
//!     .load::<Config>()
//!     .unwrap_err();
//! let named: Vec<&str> = broken.problems.iter().map(|p| p.variable.as_str()).collect();
//! assert_eq!(named, ["JENGA_PORT", "JENGA_DATABASE_URL", "JENGA_REQUEST_TIMEOUT"]);
//! println!("{broken}");
//! ```

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::{self, DeserializeOwned, DeserializeSeed, IntoDeserializer, Visitor};

/// One bad variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The variable (or file key, spelled as its variable) at fault.
    pub variable: String,
    /// What is wrong with it.
    pub kind: ProblemKind,
}

/// What is wrong with a variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProblemKind {
    /// Not set, and the field has no default.
    Missing {
        /// What a valid value looks like (for example "true or false").
        expected: String,
    },
    /// Set, but not a valid value of its type.
    Malformed {
        /// The value as given.
        value: String,
        /// What a valid value looks like.
        expected: String,
        /// Where the value came from.
        source: Source,
    },
    /// Parsed, but refused by the application's own check.
    Invalid(String),
}

/// Where a value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A variable: from the process environment, or from [`ConfigLoader::vars`].
    Environment,
    /// The TOML file at this path, read with [`ConfigLoader::file`].
    File(PathBuf),
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ProblemKind::Missing { expected } => {
                write!(f, "{} is not set (expected {expected})", self.variable)
            }
            ProblemKind::Malformed {
                value,
                expected,
                source,
            } => {
                let from = match source {
                    Source::Environment => String::new(),
                    Source::File(path) => format!(" in {}", path.display()),
                };
                write!(
                    f,
                    "{}{from} is {value:?}, which is not {expected}",
                    self.variable
                )
            }
            ProblemKind::Invalid(why) => write!(f, "{}: {why}", self.variable),
        }
    }
}

/// The configuration could not be loaded: every problem found, in field order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// Every bad variable, in field order.
    pub problems: Vec<Problem>,
    /// A problem outside the variables (an unreadable file, an unsupported field type).
    pub other: Option<String>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = self.problems.len() + usize::from(self.other.is_some());
        write!(
            f,
            "the configuration is invalid ({count} problem{}); fix these and start again:",
            if count == 1 { "" } else { "s" }
        )?;
        for problem in &self.problems {
            write!(f, "\n  - {problem}")?;
        }
        if let Some(other) = &self.other {
            write!(f, "\n  - {other}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

/// Reads a configuration struct from variables with a prefix (and optionally a file).
#[derive(Debug, Clone)]
pub struct ConfigLoader {
    prefix: String,
    vars: Option<BTreeMap<String, String>>,
    file: Option<PathBuf>,
}

impl ConfigLoader {
    /// Variables named `PREFIX_FIELD` (an empty prefix reads `FIELD`).
    pub fn new(prefix: &str) -> Self {
        ConfigLoader {
            prefix: prefix.trim_end_matches('_').to_ascii_uppercase(),
            vars: None,
            file: None,
        }
    }

    /// Reads these variables instead of the process environment (tests, embedding).
    pub fn vars<K: Into<String>, V: Into<String>>(
        mut self,
        vars: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        self.vars = Some(
            vars.into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        );
        self
    }

    /// Reads this TOML file first; variables override its values. A missing file is an error.
    pub fn file(mut self, path: impl AsRef<Path>) -> Self {
        self.file = Some(path.as_ref().to_path_buf());
        self
    }

    /// Loads the configuration, or every problem with it.
    pub fn load<T: DeserializeOwned>(&self) -> Result<T, ConfigError> {
        self.load_checked(|_: &T| Vec::new())
    }

    /// Loads the configuration and runs `check` on it; `check` returns the problems it finds as
    /// (variable, why) pairs, reported with the others.
    pub fn load_checked<T: DeserializeOwned>(
        &self,
        check: impl FnOnce(&T) -> Vec<(String, String)>,
    ) -> Result<T, ConfigError> {
        let mut values = BTreeMap::new();
        if let Some(path) = &self.file {
            let text = std::fs::read_to_string(path).map_err(|error| ConfigError {
                problems: Vec::new(),
                other: Some(format!("cannot read {}: {error}", path.display())),
            })?;
            let table: toml::Table = toml::from_str(&text).map_err(|error| ConfigError {
                problems: Vec::new(),
                other: Some(format!("{} is not valid TOML: {error}", path.display())),
            })?;
            flatten(&self.prefix, &table, path, &mut values);
        }
        let vars: Box<dyn Iterator<Item = (String, String)>> = match &self.vars {
            Some(vars) => Box::new(vars.clone().into_iter()),
            // `vars_os`: a variable that is not UTF-8, anywhere in the environment, must not
            // panic the load; it is read with replacement characters (and one of ours then
            // fails to parse, and is reported).
            None => Box::new(std::env::vars_os().map(|(name, value)| {
                (
                    name.to_string_lossy().into_owned(),
                    value.to_string_lossy().into_owned(),
                )
            })),
        };
        for (name, value) in vars {
            values.insert(name, (value, Source::Environment));
        }
        let value = extract::<T>(&self.prefix, &values)?;
        let invalid = check(&value);
        if invalid.is_empty() {
            Ok(value)
        } else {
            Err(ConfigError {
                problems: invalid
                    .into_iter()
                    .map(|(variable, why)| Problem {
                        variable,
                        kind: ProblemKind::Invalid(why),
                    })
                    .collect(),
                other: None,
            })
        }
    }
}

/// `[db] pool = 10` under prefix `APP` becomes `APP_DB_POOL = "10"`.
fn flatten(
    prefix: &str,
    table: &toml::Table,
    path: &Path,
    out: &mut BTreeMap<String, (String, Source)>,
) {
    for (key, value) in table {
        let name = join(prefix, key);
        let text = match value {
            toml::Value::Table(inner) => {
                flatten(&name, inner, path, out);
                continue;
            }
            toml::Value::String(s) => s.clone(),
            toml::Value::Array(items) => items
                .iter()
                .map(|item| match item {
                    toml::Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect::<Vec<_>>()
                .join(","),
            other => other.to_string(),
        };
        out.insert(name, (text, Source::File(path.to_path_buf())));
    }
}

fn join(prefix: &str, field: &str) -> String {
    let field = field.to_ascii_uppercase();
    if prefix.is_empty() {
        field
    } else {
        format!("{prefix}_{field}")
    }
}

/// What one pass over the struct needs: the values, the problems found so far, and the
/// required variables known to be missing (given placeholders so the pass can go on).
struct Pass<'a> {
    values: &'a BTreeMap<String, (String, Source)>,
    missing: &'a BTreeSet<String>,
    /// Names found to be only a prefix of other variables (`APP_POOL` when `APP_POOL_SIZE`
    /// is set), not values: left out, so serde applies the field's default or reports it.
    absent: &'a BTreeSet<String>,
    /// A name this pass took for set but found only a prefix of others.
    absent_hit: RefCell<Option<String>>,
    problems: RefCell<Vec<Problem>>,
}

impl Pass<'_> {
    fn report(&self, variable: &str, kind: ProblemKind) {
        let mut problems = self.problems.borrow_mut();
        if !problems.iter().any(|p| p.variable == variable) {
            problems.push(Problem {
                variable: variable.to_string(),
                kind,
            });
        }
    }

    /// Whether `name` or anything under it (`name_...`) is set.
    fn has_any(&self, name: &str) -> bool {
        self.values.contains_key(name)
            || !self.absent.contains(name) && {
                let nested = format!("{name}_");
                self.values
                    .range(nested.clone()..)
                    .next()
                    .is_some_and(|(k, _)| k.starts_with(&nested))
            }
    }
}

/// Deserializes `T` in passes: each pass records every malformed value (and goes on with a
/// placeholder), and a required field found missing is given a placeholder in the next pass,
/// until a pass completes. Serde reports one missing field per pass, so this takes one pass per
/// missing field, plus one.
fn extract<T: DeserializeOwned>(
    prefix: &str,
    values: &BTreeMap<String, (String, Source)>,
) -> Result<T, ConfigError> {
    let mut missing = BTreeSet::new();
    let mut absent = BTreeSet::new();
    loop {
        let pass = Pass {
            values,
            missing: &missing,
            absent: &absent,
            absent_hit: RefCell::new(None),
            problems: RefCell::new(Vec::new()),
        };
        let outcome = T::deserialize(StructDe {
            pass: &pass,
            prefix: prefix.to_string(),
        });
        let (hit, problems) = (pass.absent_hit.into_inner(), pass.problems.into_inner());
        if let Some(name) = hit {
            if !absent.contains(&name) {
                absent.insert(name);
                continue;
            }
        }
        match outcome {
            Ok(value) if problems.is_empty() => return Ok(value),
            Ok(_) => {
                return Err(ConfigError {
                    problems,
                    other: None,
                })
            }
            Err(Error::Missing(variable)) if !missing.contains(&variable) => {
                missing.insert(variable);
            }
            Err(error) => {
                let other = match error {
                    Error::Missing(variable) => {
                        Some(format!("{variable} could not be given a placeholder"))
                    }
                    Error::MissingField(field) => Some(format!("field {field} is not set")),
                    Error::Custom(message) => Some(message),
                };
                return Err(ConfigError { problems, other });
            }
        }
    }
}

#[derive(Debug)]
enum Error {
    /// Serde found this field of the struct being read missing.
    MissingField(&'static str),
    /// A required variable is not set (the struct level's `MissingField`, named).
    Missing(String),
    Custom(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::MissingField(field) => write!(f, "field {field} is not set"),
            Error::Missing(variable) => write!(f, "{variable} is not set"),
            Error::Custom(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for Error {}

impl de::Error for Error {
    fn custom<M: fmt::Display>(message: M) -> Self {
        Error::Custom(message.to_string())
    }

    fn missing_field(field: &'static str) -> Self {
        Error::MissingField(field)
    }
}

/// A struct whose fields are variables under `prefix`.
struct StructDe<'p, 'a> {
    pass: &'p Pass<'a>,
    prefix: String,
}

impl<'de> de::Deserializer<'de> for StructDe<'_, '_> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, Error> {
        Err(Error::Custom(
            "a configuration must be a struct with named fields".into(),
        ))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        let present: Vec<&'static str> = fields
            .iter()
            .copied()
            .filter(|field| {
                let name = join(&self.prefix, field);
                self.pass.has_any(&name) || self.pass.missing.contains(&name)
            })
            .collect();
        let prefix = self.prefix.clone();
        visitor
            .visit_map(Fields {
                pass: self.pass,
                prefix: self.prefix,
                fields: present.into_iter(),
                current: None,
            })
            .map_err(|error| match error {
                Error::MissingField(field) => Error::Missing(join(&prefix, field)),
                other => other,
            })
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
        ignored_any
    }
}

struct Fields<'p, 'a> {
    pass: &'p Pass<'a>,
    prefix: String,
    fields: std::vec::IntoIter<&'static str>,
    current: Option<String>,
}

impl<'de> de::MapAccess<'de> for Fields<'_, '_> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        match self.fields.next() {
            Some(field) => {
                self.current = Some(join(&self.prefix, field));
                seed.deserialize(field.into_deserializer()).map(Some)
            }
            None => Ok(None),
        }
    }

    fn next_value_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<S::Value, Error> {
        let variable = self.current.take().unwrap_or_default();
        let value = self.pass.values.get(&variable).cloned();
        seed.deserialize(ValueDe {
            pass: self.pass,
            variable: variable.clone(),
            value,
        })
        .map_err(|error| match error {
            // A type that checks its own values refused this one: say which variable.
            Error::Custom(message) => Error::Custom(format!("{variable}: {message}")),
            other => other,
        })
    }
}

/// One variable's value (`None`: a placeholder for a missing required variable).
struct ValueDe<'p, 'a> {
    pass: &'p Pass<'a>,
    variable: String,
    value: Option<(String, Source)>,
}

macro_rules! parse_number {
    ($($method:ident $visit:ident $ty:ty, $expected:literal;)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            let parsed = self.text($expected).and_then(|text| {
                text.trim().parse::<$ty>().ok().or_else(|| {
                    self.malformed(&text, $expected);
                    None
                })
            });
            visitor.$visit(parsed.unwrap_or_default())
        }
    )*};
}

impl ValueDe<'_, '_> {
    /// The text, or `None` after reporting it missing.
    fn text(&self, expected: &str) -> Option<String> {
        match &self.value {
            Some((text, _)) => Some(text.clone()),
            None if !self.pass.missing.contains(&self.variable) => {
                // Taken for set only because other variables start with this name.
                self.pass
                    .absent_hit
                    .borrow_mut()
                    .get_or_insert_with(|| self.variable.clone());
                None
            }
            None => {
                self.pass.report(
                    &self.variable,
                    ProblemKind::Missing {
                        expected: expected.to_string(),
                    },
                );
                None
            }
        }
    }

    fn malformed(&self, text: &str, expected: &str) {
        let source = self
            .value
            .as_ref()
            .map_or(Source::Environment, |(_, source)| source.clone());
        self.pass.report(
            &self.variable,
            ProblemKind::Malformed {
                value: text.to_string(),
                expected: expected.to_string(),
                source,
            },
        );
    }
}

impl<'de> de::Deserializer<'de> for ValueDe<'_, '_> {
    type Error = Error;

    parse_number! {
        deserialize_i8 visit_i8 i8, "an integer from -128 to 127";
        deserialize_i16 visit_i16 i16, "an integer from -32768 to 32767";
        deserialize_i32 visit_i32 i32, "a 32-bit integer";
        deserialize_i64 visit_i64 i64, "a 64-bit integer";
        deserialize_u8 visit_u8 u8, "an integer from 0 to 255";
        deserialize_u16 visit_u16 u16, "an integer from 0 to 65535";
        deserialize_u32 visit_u32 u32, "a non-negative 32-bit integer";
        deserialize_u64 visit_u64 u64, "a non-negative 64-bit integer";
        deserialize_f32 visit_f32 f32, "a number";
        deserialize_f64 visit_f64 f64, "a number";
    }

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_string(visitor)
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        const EXPECTED: &str = "true or false";
        let parsed =
            self.text(EXPECTED)
                .and_then(|text| match text.trim().to_ascii_lowercase().as_str() {
                    "true" | "1" | "yes" | "on" => Some(true),
                    "false" | "0" | "no" | "off" => Some(false),
                    _ => {
                        self.malformed(&text, EXPECTED);
                        None
                    }
                });
        visitor.visit_bool(parsed.unwrap_or_default())
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        const EXPECTED: &str = "a single character";
        let parsed = self.text(EXPECTED).and_then(|text| {
            let mut chars = text.chars();
            match (chars.next(), chars.next()) {
                (Some(c), None) => Some(c),
                _ => {
                    self.malformed(&text, EXPECTED);
                    None
                }
            }
        });
        visitor.visit_char(parsed.unwrap_or(' '))
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_string(visitor)
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        // Some types parse their own strings (addresses): check those here, so a bad one is
        // reported with the rest instead of ending the pass.
        let expecting = format!("{}", &visitor as &dyn de::Expected);
        let Some(text) = self.text(&expecting) else {
            return visitor.visit_string(placeholder_for(&expecting).to_string());
        };
        if let Some(ok) = known_format(&expecting, text.trim()) {
            if !ok {
                self.malformed(&text, &expecting);
                return visitor.visit_string(placeholder_for(&expecting).to_string());
            }
            return visitor.visit_string(text.trim().to_string());
        }
        visitor.visit_string(text)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match &self.value {
            Some((text, _)) if !text.trim().is_empty() => visitor.visit_some(self),
            // An optional struct whose fields are set (`APP_DB_URL` for `db: Option<Db>`).
            None if self.pass.has_any(&self.variable) => visitor.visit_some(self),
            _ => visitor.visit_none(),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let items: Vec<String> = self
            .text("a comma-separated list")
            .map(|text| {
                text.split(',')
                    .map(str::trim)
                    .filter(|item| !item.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        let source = self
            .value
            .as_ref()
            .map_or(Source::Environment, |(_, s)| s.clone());
        visitor.visit_seq(Items {
            pass: self.pass,
            variable: self.variable,
            items: items.into_iter().enumerate(),
            source,
        })
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        if name == "Duration" && fields == ["secs", "nanos"] {
            const EXPECTED: &str = "a duration such as 30s, 5m, 250ms or 1h 30m";
            let parsed = self.text(EXPECTED).and_then(|text| {
                humantime::parse_duration(text.trim()).ok().or_else(|| {
                    self.malformed(&text, EXPECTED);
                    None
                })
            });
            let duration = parsed.unwrap_or_default();
            return visitor.visit_map(de::value::MapDeserializer::new(
                [
                    ("secs", duration.as_secs()),
                    ("nanos", u64::from(duration.subsec_nanos())),
                ]
                .into_iter(),
            ));
        }
        StructDe {
            pass: self.pass,
            prefix: self.variable,
        }
        .deserialize_struct(name, fields, visitor)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        let expected = format!("one of {}", variants.join(", "));
        let chosen = self.text(&expected).and_then(|text| {
            let wanted = text.trim();
            let found = variants
                .iter()
                .find(|v| v.eq_ignore_ascii_case(wanted))
                .copied();
            if found.is_none() {
                self.malformed(&text, &expected);
            }
            found
        });
        let variant = chosen.or(variants.first().copied()).unwrap_or_default();
        visitor.visit_enum(variant.into_deserializer())
    }

    serde::forward_to_deserialize_any! {
        i128 u128 bytes byte_buf unit unit_struct tuple tuple_struct map identifier ignored_any
    }
}

/// For strings a type parses itself: whether `text` is valid, when the type is one we know.
fn known_format(expecting: &str, text: &str) -> Option<bool> {
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
    Some(match expecting {
        "socket address" => text.parse::<SocketAddr>().is_ok(),
        "IP address" => text.parse::<IpAddr>().is_ok(),
        "IPv4 address" => text.parse::<Ipv4Addr>().is_ok(),
        "IPv6 address" => text.parse::<Ipv6Addr>().is_ok(),
        _ => return None,
    })
}

/// A value a type parsing its own strings accepts, to go on after a problem.
fn placeholder_for(expecting: &str) -> &'static str {
    match expecting {
        "socket address" => "0.0.0.0:0",
        "IP address" | "IPv4 address" => "0.0.0.0",
        "IPv6 address" => "::",
        _ => "",
    }
}

struct Items<'p, 'a> {
    pass: &'p Pass<'a>,
    variable: String,
    items: std::iter::Enumerate<std::vec::IntoIter<String>>,
    source: Source,
}

impl<'de> de::SeqAccess<'de> for Items<'_, '_> {
    type Error = Error;

    fn next_element_seed<S: DeserializeSeed<'de>>(
        &mut self,
        seed: S,
    ) -> Result<Option<S::Value>, Error> {
        match self.items.next() {
            Some((index, item)) => seed
                .deserialize(ValueDe {
                    pass: self.pass,
                    variable: format!("{}[{index}]", self.variable),
                    value: Some((item, self.source.clone())),
                })
                .map(Some),
            None => Ok(None),
        }
    }
}
