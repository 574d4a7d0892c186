//! Which functions a key may call.

use hull_errors::{Error, Result};

/// One allowed pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Pattern {
    /// `*`: every function.
    Everything,
    /// `dir/*`: every function of every module under `dir/`.
    Directory(String),
    /// `module:*`: every function of one module.
    Module(String),
    /// `module:function`.
    Function(String, String),
}

/// The union of a key's (or token's) patterns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scope {
    patterns: Vec<Pattern>,
}

fn invalid(pattern: &str, why: &str) -> Error {
    Error::bad_request(
        "InvalidKeyScope",
        format!("Invalid --allow pattern '{pattern}': {why}. Use module:function, module:*, dir/* or *."),
    )
}

/// `messages.js` → `messages`; module paths are compared without the extension.
fn canonical_module(module: &str) -> &str {
    module.strip_suffix(".js").unwrap_or(module)
}

/// A module as [`Scope::patterns`] lists it, so that it parses back to itself: parsing strips one
/// `.js`, so a module whose name still ends in `.js` (the file `a.js.js`) keeps an extension.
fn listed_module(module: &str) -> String {
    if module.ends_with(".js") { format!("{module}.js") } else { module.to_owned() }
}

fn valid_module(module: &str) -> bool {
    !module.is_empty()
        && module.split('/').all(|part| {
            !part.is_empty() && part != "." && part != ".." && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
        })
}

impl Pattern {
    /// Parses one pattern.
    pub fn parse(pattern: &str) -> Result<Pattern> {
        if pattern == "*" {
            return Ok(Pattern::Everything);
        }
        if let Some(dir) = pattern.strip_suffix("/*") {
            if !valid_module(dir) {
                return Err(invalid(pattern, "the directory is not a valid path"));
            }
            return Ok(Pattern::Directory(dir.to_owned()));
        }
        let Some((module, function)) = pattern.split_once(':') else {
            return Err(invalid(pattern, "a function pattern needs module:function"));
        };
        let module = canonical_module(module);
        if !valid_module(module) {
            return Err(invalid(pattern, "the module is not a valid path"));
        }
        if function == "*" {
            return Ok(Pattern::Module(module.to_owned()));
        }
        if function.is_empty() || !function.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(invalid(pattern, "the function is not a valid name"));
        }
        Ok(Pattern::Function(module.to_owned(), function.to_owned()))
    }

    fn matches(&self, module: &str, function: &str) -> bool {
        match self {
            Pattern::Everything => true,
            Pattern::Directory(dir) => module.strip_prefix(dir.as_str()).is_some_and(|rest| rest.starts_with('/')),
            Pattern::Module(allowed) => allowed == module,
            Pattern::Function(allowed_module, allowed_function) => allowed_module == module && allowed_function == function,
        }
    }
}

impl Scope {
    /// Parses `--allow` patterns (at least one).
    pub fn parse(patterns: &[String]) -> Result<Scope> {
        if patterns.is_empty() {
            return Err(Error::bad_request("InvalidKeyScope", "A server key needs at least one --allow pattern."));
        }
        Ok(Scope { patterns: patterns.iter().map(|p| Pattern::parse(p)).collect::<Result<_>>()? })
    }

    /// True when the canonical function path `module:function` (module without `.js`, e.g.
    /// `dir/secrets:get`) is allowed. `_system/` functions never are.
    pub fn allows(&self, module: &str, function: &str) -> bool {
        let module = canonical_module(module);
        if module == "_system" || module.starts_with("_system/") || module.starts_with("_deps/") {
            return false;
        }
        self.patterns.iter().any(|pattern| pattern.matches(module, function))
    }

    /// The patterns as given back in listings.
    pub fn patterns(&self) -> Vec<String> {
        self.patterns
            .iter()
            .map(|pattern| match pattern {
                Pattern::Everything => "*".to_owned(),
                Pattern::Directory(dir) => format!("{dir}/*"),
                Pattern::Module(module) => format!("{}:*", listed_module(module)),
                Pattern::Function(module, function) => format!("{}:{function}", listed_module(module)),
            })
            .collect()
    }
}
