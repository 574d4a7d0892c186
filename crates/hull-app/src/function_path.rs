//! Function paths in every spelling Convex accepts (wire protocols §4): `file:fn`,
//! `file.js:fn`, `dir/file:fn`, `file` (the default export) and the `/api/run/dir/file/fn` form.

use std::fmt;

use hull_errors::{Error, Result};

/// A parsed function path: a module inside `convex/` and one of its exports.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FunctionPath {
    /// Canonical module path, always ending in `.js` (`dir/file.js`).
    module: String,
    /// The export's name (`default` for a default export).
    function: String,
}

/// The export name a path without `:` refers to.
pub const DEFAULT_EXPORT: &str = "default";

impl FunctionPath {
    /// Parses the `path` field of a request: `dir/file:fn`, `dir/file.js:fn` or `dir/file`.
    /// The module is everything before the last `:`.
    pub fn parse(path: &str) -> Result<FunctionPath> {
        let (module, function) = match path.rsplit_once(':') {
            Some((module, function)) => (module, function),
            None => (path, DEFAULT_EXPORT),
        };
        FunctionPath::from_parts(path, module, function)
    }

    /// Parses the part of `/api/run/{path}` after `/api/run/`, already percent-decoded: the last
    /// segment names the export (`messages/list` = `messages:list`). A decoded path holding a
    /// `:` (`messages%3Alist`) is read like a request's `path` field.
    pub fn parse_url_path(path: &str) -> Result<FunctionPath> {
        if path.contains(':') {
            return FunctionPath::parse(path);
        }
        match path.rsplit_once('/') {
            Some((module, function)) => FunctionPath::from_parts(path, module, function),
            None => FunctionPath::from_parts(path, path, DEFAULT_EXPORT),
        }
    }

    fn from_parts(original: &str, module: &str, function: &str) -> Result<FunctionPath> {
        let invalid = |detail: String| {
            Error::bad_request(
                "BadConvexFunctionIdentifier",
                format!("{original} is not a valid path to a Convex function. {detail}"),
            )
        };
        hull_values::check_identifier(function)
            .map_err(|_| invalid(format!("The function name \"{function}\" is not a valid identifier.")))?;
        if module.is_empty() {
            return Err(invalid("The module path is empty.".into()));
        }
        if module.starts_with('/') {
            return Err(invalid("The module path must be relative.".into()));
        }
        for component in module.split('/') {
            if component.is_empty() || component == "." || component == ".." {
                return Err(invalid(format!("The module path \"{module}\" has an empty, \".\" or \"..\" component.")));
            }
        }
        let file = module.rsplit('/').next().expect("split yields at least one part");
        let canonical = match file.rsplit_once('.') {
            None => format!("{module}.js"),
            Some((_, "js")) => module.to_owned(),
            Some((_, extension)) => {
                return Err(invalid(format!("The module extension \".{extension}\" is not \".js\".")));
            }
        };
        Ok(FunctionPath { module: canonical, function: function.to_owned() })
    }

    /// The canonical module path, e.g. `dir/file.js`.
    pub fn module(&self) -> &str {
        &self.module
    }

    /// The export's name.
    pub fn function(&self) -> &str {
        &self.function
    }

    /// `dir/file:fn`: the module without `.js`, as functions are named in analysis results and
    /// `hull_js` calls.
    pub fn runtime_path(&self) -> String {
        format!("{}:{}", self.module_stem(), self.function)
    }

    /// The name Convex shows in "Could not find public function" messages: the module without
    /// `.js` and without `:default` for default exports.
    pub fn display_name(&self) -> String {
        if self.function == DEFAULT_EXPORT { self.module_stem().to_owned() } else { self.runtime_path() }
    }

    fn module_stem(&self) -> &str {
        self.module.strip_suffix(".js").expect("canonical modules end in .js")
    }

    /// `_system/...` functions: callable by admins only.
    pub fn is_system(&self) -> bool {
        self.module.starts_with("_system/")
    }

    /// Bundler chunks (`_deps/`, `actions/_deps/`): never callable.
    pub fn is_dependency_chunk(&self) -> bool {
        self.module.starts_with("_deps/") || self.module.starts_with("actions/_deps/")
    }
}

impl fmt::Display for FunctionPath {
    /// The canonical form, `dir/file.js:fn`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.module, self.function)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canonical(path: &str) -> String {
        FunctionPath::parse(path).unwrap().to_string()
    }

    #[test]
    fn every_spelling_of_a_path_has_one_canonical_form() {
        assert_eq!(canonical("messages:list"), "messages.js:list");
        assert_eq!(canonical("messages.js:list"), "messages.js:list");
        assert_eq!(canonical("dir/file:fn"), "dir/file.js:fn");
        assert_eq!(canonical("dir/file.js:fn"), "dir/file.js:fn");
        assert_eq!(canonical("messages"), "messages.js:default");
        assert_eq!(canonical("messages.js"), "messages.js:default");
        assert_eq!(canonical("a:b:c"), "a:b.js:c");
    }

    #[test]
    fn url_paths_name_the_export_in_their_last_segment() {
        let url = |p: &str| FunctionPath::parse_url_path(p).unwrap().to_string();
        assert_eq!(url("messages/list"), "messages.js:list");
        assert_eq!(url("dir/file/fn"), "dir/file.js:fn");
        assert_eq!(url("messages:list"), "messages.js:list");
        assert_eq!(url("messages"), "messages.js:default");
    }

    #[test]
    fn display_names_drop_js_and_default() {
        let path = FunctionPath::parse("dir/file.js:fn").unwrap();
        assert_eq!((path.display_name(), path.runtime_path()), ("dir/file:fn".into(), "dir/file:fn".into()));
        let path = FunctionPath::parse("messages.js").unwrap();
        assert_eq!((path.display_name(), path.runtime_path()), ("messages".into(), "messages:default".into()));
    }

    #[test]
    fn system_and_dependency_paths_are_recognised() {
        assert!(FunctionPath::parse("_system/cli/modules:apiSpec").unwrap().is_system());
        assert!(!FunctionPath::parse("system/x:y").unwrap().is_system());
        assert!(FunctionPath::parse("_deps/ABC:x").unwrap().is_dependency_chunk());
        assert!(FunctionPath::parse("actions/_deps/ABC:x").unwrap().is_dependency_chunk());
    }

    #[test]
    fn malformed_paths_are_bad_function_identifiers() {
        for bad in ["", ":list", "messages:", "messages:li-st", "/abs:x", "a/../b:x", "a//b:x", "./a:x", "file.ts:fn"] {
            let error = FunctionPath::parse(bad).unwrap_err();
            assert_eq!(error.short, "BadConvexFunctionIdentifier", "{bad:?}");
            assert!(error.message.starts_with(&format!("{bad} is not a valid path to a Convex function. ")), "{}", error.message);
        }
    }
}
