//! The push protocol the Convex CLI speaks on `npx convex deploy` / `dev` / `codegen` (wire
//! protocols §8): `POST /api/get_config_hashes`, `/api/deploy2/start_push`,
//! `/api/deploy2/evaluate_push`, `/api/deploy2/evaluate_schema`,
//! `/api/deploy2/wait_for_schema`, `/api/deploy2/finish_push` and
//! `/api/deploy2/report_push_completed`.
//!
//! The request bodies of start_push, evaluate_push, evaluate_schema and finish_push arrive
//! Brotli-compressed; every body carries `adminKey`, which is what authenticates the request
//! (the `Authorization` header is the fallback). The answers are built by hand to the shapes
//! the CLI's zod schemas accept (`cli/lib/deployApi/*.ts`). The prepared push is named by an id
//! Hull puts in `schemaChange.schemaIds[""]`, which the CLI hands back verbatim to
//! wait_for_schema (as `schemaChange`) and finish_push (inside `startPush`).

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use hull_app::{Application, IndexChange, IndexSpec, ModuleHash, PushPlan, SchemaEvaluation, SchemaStatus, UdfType, Visibility};
use hull_errors::{Code, Error};
use serde::Deserialize;
use serde_json::{json, Value as Json_};


use crate::auth::{self, Credentials};
use crate::wire::{self, MAX_BACKEND_PUBLIC_API_REQUEST_SIZE, MAX_PUSH_BYTES};
use crate::{AppState, HttpError};

/// The functions directory `get_config_hashes` reports. Hull does not store the project's
/// `convex.json`; the CLI only checks that this is a string.
const FUNCTIONS_DIR: &str = "convex/";

/// Bytes of the import-phase RNG seed reported in `udfConfig` (upstream: a 32-byte seed). The
/// CLI hands it back unread; Hull seeds each runtime itself, so it reports zeros.
const RNG_SEED_BYTES: usize = 32;

/// The push routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/get_config_hashes", post(get_config_hashes))
        .route("/api/deploy2/start_push", post(start_push))
        .route("/api/deploy2/evaluate_push", post(evaluate_push))
        .route("/api/deploy2/evaluate_schema", post(evaluate_schema))
        .route("/api/deploy2/wait_for_schema", post(wait_for_schema))
        .route("/api/deploy2/finish_push", post(finish_push))
        .route("/api/deploy2/report_push_completed", post(report_push_completed))
        .route("/api/v1/get_canonical_urls", get(get_canonical_urls))
}

/// Bodies that only need their `adminKey`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AdminOnly {
    admin_key: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WaitForSchemaRequest {
    admin_key: Option<String>,
    schema_change: Json_,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct FinishPushRequest {
    admin_key: Option<String>,
    start_push: Json_,
    #[serde(default)]
    dry_run: bool,
}

/// The start_push body as far as this layer reads it; `hull-app` parses the modules.
struct StartPushBody {
    json: String,
    unchanged: Vec<ModuleHash>,
    dry_run: bool,
}

fn respond(result: Result<Response, HttpError>) -> Response {
    result.unwrap_or_else(IntoResponse::into_response)
}

/// Checks the body's `adminKey` (or, without one, the `Authorization` header's): a wrong key is
/// 401 `BadAdminKey`, no key at all 403 `BadDeployKey`.
fn authenticate(state: &AppState, headers: &HeaderMap, uri: &Uri, body_key: Option<&str>) -> Result<(), HttpError> {
    let key = match body_key {
        Some(key) => key.to_owned(),
        None => match auth::credentials(headers, uri)? {
            Credentials::AdminKey { key, .. } => key,
            Credentials::None | Credentials::User { .. } => {
                return Err(Error::new(Code::Forbidden, "BadDeployKey", hull_app::NOT_ADMIN_MESSAGE).into());
            }
        },
    };
    state.application().check_admin_key(&key)?;
    Ok(())
}

/// Runs `job` on a blocking thread (pushes run JavaScript and wait for commits).
async fn blocking<T: Send + 'static>(
    state: &AppState,
    job: impl FnOnce(&Application) -> hull_errors::Result<T> + Send + 'static,
) -> Result<T, HttpError> {
    let application = state.application().clone();
    let result = tokio::task::spawn_blocking(move || job(&application))
        .await
        .map_err(|_| Error::internal("PushPanicked", "a push request panicked"))?;
    Ok(result?)
}

async fn get_config_hashes(State(state): State<AppState>, headers: HeaderMap, uri: Uri, body: Body) -> Response {
    respond(
        async {
            let request: AdminOnly = wire::read_json(&headers, body, MAX_BACKEND_PUBLIC_API_REQUEST_SIZE).await?;
            authenticate(&state, &headers, &uri, request.admin_key.as_deref())?;
            let (hashes, udf_server_version) = blocking(&state, |app| app.module_hashes()).await?;
            let module_hashes: Vec<Json_> = hashes
                .iter()
                .map(|h| json!({"path": h.path, "hash": h.sha256, "environment": h.environment}))
                .collect();
            // No `nodeVersion`: Hull runs no Node.js actions, and the CLI's config diff compares
            // the field with `!==` against an unset local one, so `null` would show as a change.
            let body = json!({
                "config": {"functions": FUNCTIONS_DIR},
                "moduleHashes": module_hashes,
                "udfServerVersion": udf_server_version,
            });
            Ok(Json(body).into_response())
        }
        .await,
    )
}

/// Reads and authenticates a start_push-shaped body (start_push, evaluate_push,
/// evaluate_schema).
async fn read_push(state: &AppState, headers: &HeaderMap, uri: &Uri, body: Body) -> Result<StartPushBody, HttpError> {
    let json: Json_ = wire::read_json_decompressed(headers, body, MAX_PUSH_BYTES).await?;
    authenticate(state, headers, uri, json.get("adminKey").and_then(Json_::as_str))?;
    let components = json.get("componentDefinitions").and_then(Json_::as_array).map_or(0, Vec::len);
    // The CLI always sends `appDefinition.definition` (a generated `convex.config.js` when the
    // project has none); components show up as definitions and dependencies.
    let dependencies = json.pointer("/appDefinition/dependencies").and_then(Json_::as_array).map_or(0, Vec::len);
    if components > 0 || dependencies > 0 {
        return Err(Error::bad_request(
            "ComponentsNotSupported",
            "Hull does not support components yet: remove convex.config.ts (and the components it uses) to deploy.",
        )
        .into());
    }
    #[derive(Deserialize)]
    struct Hash {
        path: String,
        environment: String,
        sha256: String,
    }
    let unchanged: Vec<Hash> = match json.pointer("/appDefinition/unchangedModuleHashes") {
        Some(hashes) => serde_json::from_value(hashes.clone())
            .map_err(|e| Error::bad_request("BadJsonBody", format!("Invalid appDefinition.unchangedModuleHashes: {e}")))?,
        None => Vec::new(),
    };
    Ok(StartPushBody {
        dry_run: json.get("dryRun").and_then(Json_::as_bool).unwrap_or(false),
        unchanged: unchanged.into_iter().map(|h| ModuleHash { path: h.path, environment: h.environment, sha256: h.sha256 }).collect(),
        json: json.to_string(),
    })
}

async fn start_push(State(state): State<AppState>, headers: HeaderMap, uri: Uri, body: Body) -> Response {
    respond(
        async {
            let push = read_push(&state, &headers, &uri, body).await?;
            let plan = blocking(&state, move |app| app.start_push(&push.json, &push.unchanged, push.dry_run)).await?;
            Ok(Json(start_push_response(&plan, state.application().environment_variables())).into_response())
        }
        .await,
    )
}

async fn evaluate_push(State(state): State<AppState>, headers: HeaderMap, uri: Uri, body: Body) -> Response {
    respond(
        async {
            let push = read_push(&state, &headers, &uri, body).await?;
            let plan = blocking(&state, move |app| app.evaluate_push(&push.json, &push.unchanged)).await?;
            Ok(Json(json!({"schemaChange": schema_change(&plan)})).into_response())
        }
        .await,
    )
}

async fn evaluate_schema(State(state): State<AppState>, headers: HeaderMap, uri: Uri, body: Body) -> Response {
    respond(
        async {
            let push = read_push(&state, &headers, &uri, body).await?;
            let evaluation = blocking(&state, move |app| app.evaluate_schema(&push.json, &push.unchanged)).await?;
            Ok(Json(evaluate_schema_response(&evaluation)).into_response())
        }
        .await,
    )
}

async fn wait_for_schema(State(state): State<AppState>, headers: HeaderMap, uri: Uri, body: Body) -> Response {
    respond(
        async {
            let request: WaitForSchemaRequest = wire::read_json(&headers, body, MAX_BACKEND_PUBLIC_API_REQUEST_SIZE).await?;
            authenticate(&state, &headers, &uri, request.admin_key.as_deref())?;
            let status = match push_id(&request.schema_change) {
                Some(id) => blocking(&state, move |app| app.wait_for_schema(&id)).await?,
                None => SchemaStatus::RaceDetected,
            };
            let body = match status {
                SchemaStatus::Complete => json!({"type": "complete"}),
                SchemaStatus::RaceDetected => json!({"type": "raceDetected"}),
                SchemaStatus::Failed { error, table } => {
                    json!({"type": "failed", "error": error, "componentPath": "", "tableName": table})
                }
            };
            Ok(Json(body).into_response())
        }
        .await,
    )
}

async fn finish_push(State(state): State<AppState>, headers: HeaderMap, uri: Uri, body: Body) -> Response {
    respond(
        async {
            let request: FinishPushRequest = wire::read_json_decompressed(&headers, body, MAX_PUSH_BYTES).await?;
            authenticate(&state, &headers, &uri, request.admin_key.as_deref())?;
            let id = request.start_push.get("schemaChange").and_then(push_id).ok_or_else(|| {
                Error::bad_request("BadJsonBody", "startPush.schemaChange.schemaIds[\"\"] must be the push id start_push returned.")
            })?;
            let dry_run = request.dry_run;
            let (plan, summary) = blocking(&state, move |app| app.finish_push(&id, dry_run)).await?;
            let body = match summary {
                Some(_) => finish_push_diff(&plan),
                None => json!({"authDiff": {"added": [], "removed": []}, "definitionDiffs": {}, "componentDiffs": {}}),
            };
            Ok(Json(body).into_response())
        }
        .await,
    )
}

/// Upstream answers `()` (JSON `null`); the CLI only checks that the answer parses.
async fn report_push_completed(State(state): State<AppState>, headers: HeaderMap, uri: Uri, body: Body) -> Response {
    respond(
        async {
            let request: AdminOnly = wire::read_json(&headers, body, MAX_PUSH_BYTES).await?;
            authenticate(&state, &headers, &uri, request.admin_key.as_deref())?;
            Ok(Json(Json_::Null).into_response())
        }
        .await,
    )
}

/// The push id in a `schemaChange` object.
fn push_id(schema_change: &Json_) -> Option<String> {
    schema_change.get("schemaIds")?.get("")?.as_str().map(str::to_owned)
}

/// `DeveloperIndexConfig` of a database index: `fields` end with `_creationTime`, as upstream
/// reports them (and the CLI prints them).
fn index_config(spec: &IndexSpec) -> Json_ {
    let mut fields = spec.fields.clone();
    fields.push("_creationTime".to_owned());
    json!({"name": format!("{}.{}", spec.table, spec.name), "type": "database", "fields": fields})
}

fn index_diff(plan: &PushPlan) -> Json_ {
    json!({
        "added_indexes": plan.indexes_added.iter().map(index_config).collect::<Vec<_>>(),
        "removed_indexes": plan.indexes_removed.iter().map(index_config).collect::<Vec<_>>(),
        "enabled_indexes": [],
        "disabled_indexes": [],
    })
}

fn schema_change(plan: &PushPlan) -> Json_ {
    json!({
        "allocatedComponentIds": {},
        "schemaIds": {"": plan.push_id},
        "indexDiffs": {"": index_diff(plan)},
    })
}

fn udf_type_name(udf_type: UdfType) -> Option<&'static str> {
    match udf_type {
        UdfType::Query => Some("Query"),
        UdfType::Mutation => Some("Mutation"),
        UdfType::Action => Some("Action"),
        // HTTP actions are reached through routes, not listed as functions (the CLI's zod
        // schema allows only the three kinds above).
        _ => None,
    }
}

/// `analysis[""].functions`: per module, its functions in the CLI's `analyzedModule` shape.
fn analyzed_functions(plan: &PushPlan) -> serde_json::Map<String, Json_> {
    plan.analysis
        .iter()
        .map(|module| {
            let functions: Vec<Json_> = module
                .functions
                .iter()
                .filter_map(|f| {
                    let udf_type = udf_type_name(f.udf_type)?;
                    let name = f.path.rsplit_once(':').map_or(f.path.as_str(), |(_, name)| name);
                    let visibility = f.visibility.map(|v| match v {
                        Visibility::Public => json!({"kind": "public"}),
                        Visibility::Internal => json!({"kind": "internal"}),
                    });
                    Some(json!({"name": name, "pos": null, "udfType": udf_type, "visibility": visibility, "args": f.args, "returns": f.returns}))
                })
                .collect();
            let routes = module
                .http_routes
                .as_ref()
                .map(|routes| routes.iter().map(|r| json!({"path": r.path, "method": r.method})).collect::<Vec<_>>());
            let body = json!({"functions": functions, "httpRoutes": routes, "cronSpecs": module.crons, "sourceMapped": null});
            (module.path.clone(), body)
        })
        .collect()
}

/// The start_push answer (`startPushResponse` in `cli/lib/deployApi/startPush.ts`).
/// `environmentVariables` holds the deployment's variables (the CLI redacts their values from
/// what it prints).
fn start_push_response(plan: &PushPlan, environment_variables: std::collections::BTreeMap<String, String>) -> Json_ {
    let schema = plan.schema.as_deref().and_then(|s| serde_json::from_str::<Json_>(s).ok());
    let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
    let base64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    let http_routes = plan
        .analysis
        .iter()
        .find_map(|m| m.http_routes.as_ref())
        .map(|routes| routes.iter().map(|r| json!({"method": r.method, "path": r.path})).collect::<Vec<_>>());
    json!({
        "environmentVariables": environment_variables,
        "externalDepsId": null,
        "componentDefinitionPackages": {"": {"pushId": plan.push_id}},
        "appAuth": plan.auth_providers.clone().unwrap_or_else(|| json!([])),
        "analysis": {"": {
            "definition": {
                "path": "",
                "definitionType": {"type": "app"},
                "childComponents": [],
                "httpMounts": {},
                "exports": {"type": "branch", "branch": []},
                "envVars": null,
            },
            "schema": schema,
            "functions": analyzed_functions(plan),
            "udfConfig": {
                "serverVersion": plan.udf_server_version.as_deref().unwrap_or(crate::VERSION),
                "importPhaseRngSeed": {"$bytes": base64(&[0u8; RNG_SEED_BYTES])},
                "importPhaseUnixTimestamp": {"$integer": base64(&now_ms.to_le_bytes())},
            },
        }},
        "app": {
            "definitionPath": "",
            "componentPath": "",
            "args": {},
            "childComponents": {},
            "httpRoutes": {"httpModuleRoutes": http_routes, "mounts": []},
            "exports": {},
        },
        "schemaChange": schema_change(plan),
    })
}


/// The finish_push answer (`finishPushDiff` in `cli/lib/deployApi/finishPush.ts`).
fn finish_push_diff(plan: &PushPlan) -> Json_ {
    let created = plan.modules_removed.is_empty() && plan.modules_added.len() == plan.modules.len();
    let schema_diff = (plan.schema != plan.previous_schema)
        .then(|| json!({"previous_schema": plan.previous_schema, "next_schema": plan.schema}));
    let udf_config_diff = match (&plan.previous_udf_server_version, &plan.udf_server_version) {
        (Some(previous), Some(next)) if previous != next => json!({"previous_version": previous, "next_version": next}),
        _ => Json_::Null,
    };
    json!({
        "authDiff": auth_diff(plan),
        "definitionDiffs": {"": {}},
        "componentDiffs": {"": {
            "diffType": {"type": if created { "create" } else { "modify" }},
            "moduleDiff": {"added": plan.modules_added, "removed": plan.modules_removed},
            "udfConfigDiff": udf_config_diff,
            "cronDiff": {"added": plan.cron_diff.added, "updated": plan.cron_diff.updated, "deleted": plan.cron_diff.deleted},
            "indexDiff": index_diff(plan),
            "schemaDiff": schema_diff,
        }},
    })
}

/// The providers a push adds and removes, each as its JSON text (how upstream's `authDiff`
/// lists them).
fn auth_diff(plan: &PushPlan) -> Json_ {
    let texts = |providers: &Option<Json_>| -> Vec<String> {
        providers.as_ref().and_then(Json_::as_array).map(|list| list.iter().map(Json_::to_string).collect()).unwrap_or_default()
    };
    let (next, previous) = (texts(&plan.auth_providers), texts(&plan.previous_auth_providers));
    let added: Vec<&String> = next.iter().filter(|p| !previous.contains(p)).collect();
    let removed: Vec<&String> = previous.iter().filter(|p| !next.contains(p)).collect();
    json!({"added": added, "removed": removed})
}

/// The evaluate_schema answer (`evaluateSchemaResponse` in
/// `cli/lib/deployApi/evaluateSchema.ts`). Table sizes in bytes are not tracked (0).
fn evaluate_schema_response(evaluation: &SchemaEvaluation) -> Json_ {
    let tables: Vec<Json_> = evaluation
        .tables
        .iter()
        .map(|t| {
            let outcome = if t.validated && t.documents > 0 { "mustWalk" } else { "notValidated" };
            json!({"name": t.name, "outcome": outcome, "numDocs": t.documents, "sizeBytes": 0})
        })
        .collect();
    let indexes: Vec<Json_> = evaluation
        .indexes
        .iter()
        .map(|(spec, change, documents)| {
            let mut config = index_config(spec);
            let change = match change {
                IndexChange::Added => "added",
                IndexChange::Identical => "identical",
                IndexChange::Dropped => "dropped",
            };
            config["change"] = json!(change);
            config["needsBackfill"] = json!(change == "added");
            config["numDocs"] = json!(documents);
            config
        })
        .collect();
    json!({
        "componentSchemaEvaluations": {"": {
            "definitionPath": "",
            "schemaValidation": evaluation.schema_validation,
            "tables": tables,
            "indexes": indexes,
        }},
        "newComponentDefinitions": [],
    })
}

/// `GET /api/v1/get_canonical_urls` (§9.4; `deploy --cmd` and `dev` read it): the URLs clients
/// reach this deployment at. Hull has no configured public origins yet, so they are the
/// request's own host with the API port, and the same host with the site port.
async fn get_canonical_urls(State(state): State<AppState>, headers: HeaderMap, uri: Uri) -> Response {
    respond((|| {
        authenticate(&state, &headers, &uri, None)?;
        let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("127.0.0.1");
        let authority: axum::http::uri::Authority =
            host.parse().map_err(|_| Error::bad_request("InvalidHeaderFailure", "The Host header is not a valid authority."))?;
        // `Authority::host` keeps an IPv6 address's brackets.
        let site = match state.site_port() {
            Some(port) => format!("http://{}:{port}", authority.host()),
            None => format!("http://{host}/http"),
        };
        let body = json!({"convexCloudUrl": format!("http://{host}"), "convexSiteUrl": site});
        Ok(Json(body).into_response())
    })())
}

#[cfg(test)]
mod tests {
    use axum::http::{Method, Request};
    use tower::ServiceExt;

    use super::*;

    /// Upper bound on a response body read by these tests.
    const BODY_BYTES_MAX: usize = 1 << 20;

    /// `{"adminKey":"k"}`, Brotli-compressed by Node's `zlib.brotliCompressSync`.
    const BROTLI_WRONG_KEY: &[u8] = &[139, 7, 128, 123, 34, 97, 100, 109, 105, 110, 75, 101, 121, 34, 58, 34, 107, 34, 125, 3];

    async fn post(state: AppState, path: &str, encoding: Option<&str>, body: Vec<u8>) -> (u16, Json_) {
        let mut request = Request::builder().method(Method::POST).uri(path).header("content-type", "application/json");
        if let Some(encoding) = encoding {
            request = request.header("content-encoding", encoding);
        }
        let response = crate::api_router(state).oneshot(request.body(Body::from(body)).unwrap()).await.unwrap();
        let status = response.status().as_u16();
        let bytes = axum::body::to_bytes(response.into_body(), BODY_BYTES_MAX).await.unwrap();
        (status, serde_json::from_slice(&bytes).unwrap_or(Json_::Null))
    }

    fn envelope(code: &str, message: &str) -> Json_ {
        json!({"code": code, "message": message})
    }

    #[tokio::test]
    async fn a_brotli_push_with_a_wrong_body_admin_key_is_401_bad_admin_key() {
        let answer = post(crate::test_state("hull-test"), "/api/deploy2/start_push", Some("br"), BROTLI_WRONG_KEY.to_vec()).await;
        assert_eq!(answer, (401, envelope("BadAdminKey", hull_app::BAD_ADMIN_KEY_MESSAGE)));
    }

    #[tokio::test]
    async fn garbage_brotli_is_400_bad_json_body() {
        let (status, body) = post(crate::test_state("hull-test"), "/api/deploy2/finish_push", Some("br"), b"garbage".to_vec()).await;
        assert_eq!(status, 400);
        assert_eq!(body["code"], "BadJsonBody");
        assert!(body["message"].as_str().unwrap().starts_with("Failed to buffer the request body"), "{body}");
    }

    #[tokio::test]
    async fn other_content_encodings_are_415() {
        let (status, body) = post(crate::test_state("hull-test"), "/api/deploy2/start_push", Some("gzip"), b"{}".to_vec()).await;
        assert_eq!((status, body["code"].as_str()), (415, Some("UnsupportedMediaType")));
    }

    #[tokio::test]
    async fn a_push_without_any_admin_key_is_403() {
        let (status, body) = post(crate::test_state("hull-test"), "/api/get_config_hashes", None, br#"{"version":"1.48.0"}"#.to_vec()).await;
        assert_eq!((status, body["code"].as_str()), (403, Some("BadDeployKey")));
    }

    #[tokio::test]
    async fn an_empty_deployment_has_no_module_hashes_and_unknown_pushes_race() {
        let state = crate::test_state("hull-test");
        let key = state.application().issue_admin_key();
        let request = json!({"version": "1.48.0", "adminKey": key}).to_string().into_bytes();
        let (status, body) = post(state.clone(), "/api/get_config_hashes", None, request).await;
        assert_eq!(status, 200);
        assert_eq!(body, json!({"config": {"functions": "convex/"}, "moduleHashes": [], "udfServerVersion": null}));

        let request = json!({"adminKey": key, "schemaChange": {"schemaIds": {"": "nope"}}, "timeoutMs": 10000, "dryRun": false});
        let answer = post(state.clone(), "/api/deploy2/wait_for_schema", None, request.to_string().into_bytes()).await;
        assert_eq!(answer, (200, json!({"type": "raceDetected"})));

        let request = json!({"adminKey": key, "startPush": {"schemaChange": {"schemaIds": {"": "nope"}}}, "dryRun": false});
        let (status, body) = post(state.clone(), "/api/deploy2/finish_push", None, request.to_string().into_bytes()).await;
        assert_eq!((status, body["code"].as_str()), (400, Some("RaceDetected")));

        let request = json!({"adminKey": key, "spans": []}).to_string().into_bytes();
        assert_eq!(post(state, "/api/deploy2/report_push_completed", None, request).await, (200, Json_::Null));
    }
}
