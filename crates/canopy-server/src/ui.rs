//! The web UI: a single page (`GET /`) and its assets (`GET /ui/<file>`), compiled into the
//! binary from `crates/canopy-server/ui/`, so a server needs no files beside its store.
//!
//! The page is plain JavaScript modules that call the REST API from the same origin (so the
//! server's `Host`/`Origin` checks and JSON content types apply to it as to any client); it
//! asks for a token when the API answers 401. In offline mode (`offline.js`, `local.js`) it
//! works on a WebAssembly replica of the store and syncs it through the Git endpoint. Every
//! answer carries a strict Content-Security-Policy: only this server's own scripts, styles,
//! images and connections, no inline script, and WebAssembly compilation allowed for a replica
//! served from `/ui/wasm/`.
//! Assets are answered with `Cache-Control: no-cache`, so a new server version is picked up on
//! the next load (the browser revalidates; the assets are small).

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::api::Params;
use crate::AppState;

/// The policy every UI answer carries.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; \
     style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; object-src 'none'; \
     base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The embedded files: name under `/ui/`, content type, bytes.
const ASSETS: &[(&str, &str, &[u8])] = &[
    (
        "index.html",
        "text/html; charset=utf-8",
        include_bytes!("../ui/index.html"),
    ),
    (
        "style.css",
        "text/css; charset=utf-8",
        include_bytes!("../ui/style.css"),
    ),
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../ui/app.js"),
    ),
    (
        "api.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../ui/api.js"),
    ),
    (
        "graph.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../ui/graph.js"),
    ),
    (
        "views.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../ui/views.js"),
    ),
    (
        "dom.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../ui/dom.js"),
    ),
    (
        "local.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../ui/local.js"),
    ),
    (
        "offline.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../ui/offline.js"),
    ),
    (
        "favicon.svg",
        "image/svg+xml",
        include_bytes!("../ui/favicon.svg"),
    ),
    // The WebAssembly replica (crates/canopy-wasm, built by scripts/build-wasm).
    (
        "wasm/canopy.mjs",
        "text/javascript; charset=utf-8",
        include_bytes!("../ui/wasm/canopy.mjs"),
    ),
    (
        "wasm/canopy_wasm.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../ui/wasm/canopy_wasm.js"),
    ),
    (
        "wasm/canopy_wasm_bg.wasm",
        "application/wasm",
        include_bytes!("../ui/wasm/canopy_wasm_bg.wasm"),
    ),
];

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(index))
        .route("/ui/{*file}", get(asset))
}

async fn index() -> Response {
    serve("index.html")
}

#[derive(serde::Deserialize)]
pub(crate) struct File {
    file: String,
}

async fn asset(Params(f): Params<File>) -> Response {
    serve(&f.file)
}

fn serve(name: &str) -> Response {
    let Some((_, content_type, bytes)) = ASSETS.iter().find(|(n, _, _)| *n == name) else {
        let mut response = (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "no such file\n",
        )
            .into_response();
        secure(&mut response);
        return response;
    };
    let mut response = (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        *bytes,
    )
        .into_response();
    secure(&mut response);
    response
}

fn secure(response: &mut Response) {
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
}
