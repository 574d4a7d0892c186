//! The pushed modules: what the CLI's push request carries and how module paths resolve.
//!
//! `npx convex deploy` sends `POST /api/deploy2/start_push` with a JSON body whose
//! `appDefinition.changedModules` lists the bundled modules (see the crate docs for the
//! whole shape). Each module is `{path, source, sourceMap?, environment: "isolate"|"node"}`;
//! paths are relative to the `convex/` directory (`messages.js`, `_deps/ABCD1234.js`) and
//! modules import each other with relative specifiers (`./_deps/ABCD1234.js`).

use std::collections::BTreeMap;
use std::sync::Arc;

use hull_errors::{Error, Result};
use serde::Deserialize;

/// One pushed module.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ModuleSource {
    /// Canonical path inside `convex/`, e.g. `messages.js` or `_deps/ABCD1234.js`.
    pub path: String,
    /// ES module source text.
    pub source: String,
    /// The module's source map (JSON text), when the bundler produced one.
    #[serde(default)]
    pub source_map: Option<String>,
    /// `"isolate"` (runs here) or `"node"` (`"use node"` files: need a Node.js executor).
    pub environment: String,
}

/// The modules of one deployment that run in the isolate environment, by path.
#[derive(Clone, Debug, Default)]
pub struct ModuleMap {
    modules: BTreeMap<String, Arc<ModuleSource>>,
}

impl ModuleMap {
    /// Builds a map from modules, keeping only `environment == "isolate"` ones.
    pub fn new(modules: impl IntoIterator<Item = ModuleSource>) -> ModuleMap {
        let modules = modules
            .into_iter()
            .filter(|m| m.environment == "isolate")
            .map(|m| (m.path.clone(), Arc::new(m)))
            .collect();
        ModuleMap { modules }
    }

    /// The module at `path`.
    pub fn get(&self, path: &str) -> Option<&Arc<ModuleSource>> {
        self.modules.get(path)
    }

    /// All modules, sorted by path.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<ModuleSource>> {
        self.modules.values()
    }

    /// Paths of modules that may define functions (everything but `_deps/` chunks).
    pub fn entry_paths(&self) -> impl Iterator<Item = &str> {
        self.modules
            .keys()
            .map(String::as_str)
            .filter(|p| !p.starts_with("_deps/"))
    }
}

/// The parts of a push request (`start_push` body) this crate needs.
#[derive(Clone, Debug)]
pub struct PushRequest {
    /// The app's modules (`appDefinition.changedModules`).
    pub modules: Vec<ModuleSource>,
    /// The bundled `schema.js` (`appDefinition.schema`), if the app has a schema.
    pub schema: Option<ModuleSource>,
    /// The `convex` npm version the bundle was built with (`appDefinition.udfServerVersion`).
    pub udf_server_version: Option<String>,
}

impl PushRequest {
    /// Parses the JSON body `npx convex deploy --write-push-request` writes.
    pub fn parse(json: &str) -> Result<PushRequest> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Raw {
            app_definition: RawApp,
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct RawApp {
            #[serde(default)]
            changed_modules: Vec<ModuleSource>,
            #[serde(default)]
            schema: Option<ModuleSource>,
            #[serde(default)]
            udf_server_version: Option<String>,
        }
        let raw: Raw = serde_json::from_str(json).map_err(|e| {
            Error::bad_request("InvalidPushRequest", format!("invalid push request: {e}"))
        })?;
        Ok(PushRequest {
            modules: raw.app_definition.changed_modules,
            schema: raw.app_definition.schema,
            udf_server_version: raw.app_definition.udf_server_version,
        })
    }
}

/// Resolves an import specifier against the importing module's path, like a URL
/// (`messages.js` + `./_deps/X.js` = `_deps/X.js`; `a/b.js` + `../c.js` = `c.js`).
/// Bare specifiers (no `./`, `../` or `/`) are returned unchanged.
pub fn resolve_specifier(base: &str, specifier: &str) -> String {
    if !(specifier.starts_with("./") || specifier.starts_with("../") || specifier.starts_with('/'))
    {
        return specifier.to_owned();
    }
    let mut parts: Vec<&str> = if specifier.starts_with('/') {
        Vec::new()
    } else {
        let mut parts: Vec<&str> = base.split('/').collect();
        parts.pop(); // the importing file's own name
        parts
    };
    for segment in specifier.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    parts.join("/")
}

/// Splits a function path `dir/module:export` into (`dir/module.js`, `export`).
/// A path without `:` names the module's `default` export; a module path may already end
/// in `.js`.
pub fn split_function_path(path: &str) -> (String, String) {
    let (module, export) = match path.rsplit_once(':') {
        Some((module, export)) => (module, export),
        None => (path, "default"),
    };
    let module = if module.ends_with(".js") {
        module.to_owned()
    } else {
        format!("{module}.js")
    };
    (module, export.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_relative_specifiers() {
        assert_eq!(
            resolve_specifier("messages.js", "./_deps/X.js"),
            "_deps/X.js"
        );
        assert_eq!(
            resolve_specifier("a/b/c.js", "../../_deps/X.js"),
            "_deps/X.js"
        );
        assert_eq!(resolve_specifier("_deps/A.js", "./B.js"), "_deps/B.js");
        assert_eq!(resolve_specifier("a.js", "/x.js"), "x.js");
        assert_eq!(resolve_specifier("a.js", "convex/server"), "convex/server");
    }

    #[test]
    fn splits_function_paths() {
        assert_eq!(
            split_function_path("messages:list"),
            ("messages.js".into(), "list".into())
        );
        assert_eq!(
            split_function_path("dir/m.js:f"),
            ("dir/m.js".into(), "f".into())
        );
        assert_eq!(split_function_path("m"), ("m.js".into(), "default".into()));
    }
}
