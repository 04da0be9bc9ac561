//! The web UI's serving: the page and its assets come from the binary with their content types,
//! no caching without revalidation, and a Content-Security-Policy that allows only this server.

mod common;

use common::start;

async fn get(s: &common::TestServer, path: &str) -> reqwest::Response {
    s.client.get(format!("{}{path}", s.url)).send().await.unwrap()
}

fn header<'a>(r: &'a reqwest::Response, name: &str) -> &'a str {
    r.headers()
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .to_str()
        .unwrap()
}

#[tokio::test]
async fn the_root_is_the_page_with_a_strict_policy() {
    let s = start().await;
    let r = get(&s, "/").await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "content-type"), "text/html; charset=utf-8");
    assert_eq!(header(&r, "cache-control"), "no-cache");
    assert_eq!(header(&r, "x-content-type-options"), "nosniff");
    let csp = header(&r, "content-security-policy").to_string();
    let directives: Vec<&str> = csp.split(';').map(str::trim).collect();
    assert!(directives.contains(&"default-src 'self'"), "{csp}");
    assert!(directives.contains(&"connect-src 'self'"), "{csp}");
    assert!(
        directives.contains(&"script-src 'self' 'wasm-unsafe-eval'"),
        "{csp}"
    );
    assert!(
        !csp.contains("unsafe-inline") && !csp.contains("'unsafe-eval'"),
        "{csp}"
    );
    let page = r.text().await.unwrap();
    assert!(page.starts_with("<!doctype html>"));
    assert!(page.contains(r#"<script type="module" src="/ui/app.js">"#));
    // No inline script: the policy would block it.
    assert!(!page.contains("<script>"));
}

#[tokio::test]
async fn assets_have_their_content_types() {
    let s = start().await;
    for (path, ty) in [
        ("/ui/app.js", "text/javascript; charset=utf-8"),
        ("/ui/api.js", "text/javascript; charset=utf-8"),
        ("/ui/style.css", "text/css; charset=utf-8"),
        ("/ui/favicon.svg", "image/svg+xml"),
        ("/ui/index.html", "text/html; charset=utf-8"),
    ] {
        let r = get(&s, path).await;
        assert_eq!(r.status(), 200, "{path}");
        assert_eq!(header(&r, "content-type"), ty, "{path}");
        assert_eq!(header(&r, "cache-control"), "no-cache", "{path}");
        assert!(header(&r, "content-security-policy").contains("default-src 'self'"));
        assert!(!r.bytes().await.unwrap().is_empty(), "{path}");
    }
    // The modules the page imports are all served.
    let app = get(&s, "/ui/app.js").await.text().await.unwrap();
    for module in ["./api.js", "./dom.js", "./views.js"] {
        assert!(app.contains(module), "{module}");
        let r = get(&s, &format!("/ui/{}", &module[2..])).await;
        assert_eq!(r.status(), 200, "{module}");
    }
}

#[tokio::test]
async fn unknown_assets_are_404() {
    let s = start().await;
    for path in [
        "/ui/nope.js",
        "/ui/",
        "/ui/wasm/canopy.wasm",
        "/ui/../Cargo.toml",
        "/ui/%2e%2e/src/lib.rs",
        "/ui/app.js/x",
    ] {
        let r = get(&s, path).await;
        assert_eq!(r.status(), 404, "{path}");
    }
}

#[tokio::test]
async fn the_page_needs_no_token_but_the_api_does() {
    let s = common::start_with(canopy_server::Limits::default(), |repo| {
        canopy_server::tokens::TokenStore::for_repo(repo)
            .create("ui", &["*".into()], &[])
            .unwrap();
    })
    .await;
    assert_eq!(get(&s, "/").await.status(), 200);
    assert_eq!(get(&s, "/ui/app.js").await.status(), 200);
    let r = get(&s, "/api/v1/branches").await;
    assert_eq!(r.status(), 401);
    assert!(header(&r, "www-authenticate").starts_with("Bearer"));
}
