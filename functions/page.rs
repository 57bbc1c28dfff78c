//! `GET /`, unauthenticated: the page a person onboards with in a browser (web/). It is served by the
//! status function from the API's own origin, so the API needs no CORS grant for it, and it is one document:
//! its style and its one script (web/page.js with the age library, bundled by scripts/build-page) are
//! inline, allowed by their hashes, so that the Content-Security-Policy can refuse every other script,
//! style and origin. It holds nothing about anyone: everything personal comes from the API after sign-in.

use aws_lambda_events::apigw::ApiGatewayV2httpResponse;
use aws_lambda_events::encodings::Body;
use aws_lambda_events::http::{HeaderMap, HeaderValue, header};
use base64::Engine;
use sha2::{Digest, Sha256};

use crate::discovery::Discovery;

pub const ROUTE_KEY: &str = "GET /";

const HTML: &str = include_str!("../web/page.html");
const STYLE: &str = include_str!("../web/page.css");
/// Generated (not in git): scripts/setup runs scripts/build-page, and build.rs says so when it has not.
const SCRIPT: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/web/dist/page.js"));

#[derive(Debug, Clone)]
pub struct Page {
    html: String,
    csp: HeaderValue,
}

/// A page setting the function cannot serve: init fails naming it, as with every other setting.
#[derive(Debug, thiserror::Error)]
#[error("{variable}: {message}")]
pub struct PageConfigError {
    pub variable: &'static str,
    pub message: String,
}

impl Page {
    /// The origins the page's script may call besides its own (the API): the issuer, for its discovery
    /// document and token endpoint, and `extra` (`IDP_TOKEN_ORIGIN`: an identity provider whose token
    /// endpoint is not on the issuer's origin, as Cognito's hosted UI domain is not).
    pub fn new(discovery: &Discovery, extra: Option<&str>) -> Result<Page, PageConfigError> {
        let issuer = origin_of(&discovery.issuer).ok_or_else(|| PageConfigError {
            variable: "JWT_ISSUER",
            message: format!("{:?} has no host a policy can name", discovery.issuer),
        })?;
        let mut connect = vec!["'self'".to_string(), issuer];
        if let Some(extra) = extra.map(str::trim).filter(|extra| !extra.is_empty()) {
            match origin_of(extra) {
                Some(origin)
                    if origin == extra.trim_end_matches('/') && extra.starts_with("https://") =>
                {
                    connect.push(origin)
                }
                _ => {
                    return Err(PageConfigError {
                        variable: "IDP_TOKEN_ORIGIN",
                        message: format!(
                            "{extra:?} is not an https:// origin (scheme and host only)"
                        ),
                    });
                }
            }
        }
        // The QR code is the API's PNG, shown as a data: URL; forms are never submitted, nothing is framed.
        let csp = format!(
            "default-src 'none'; script-src '{}'; style-src '{}'; img-src data:; connect-src {}; \
             base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
            hash(SCRIPT),
            hash(STYLE),
            connect.join(" ")
        );
        let csp = HeaderValue::from_str(&csp).map_err(|_| PageConfigError {
            variable: "JWT_ISSUER",
            message: "the issuer's origin cannot be written into a header".into(),
        })?;
        let html = HTML
            .replacen("<!--style-->", &format!("<style>{STYLE}</style>"), 1)
            .replacen("<!--script-->", &format!("<script>{SCRIPT}</script>"), 1);
        Ok(Page { html, csp })
    }

    pub fn respond(&self) -> ApiGatewayV2httpResponse {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        // The page shows an access key's secret: it must not be kept by a cache or the back button.
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        crate::http::security_headers(&mut headers);
        headers.insert(header::CONTENT_SECURITY_POLICY, self.csp.clone());
        let mut response = ApiGatewayV2httpResponse::default();
        response.status_code = 200;
        response.headers = headers;
        response.body = Some(Body::Text(self.html.clone()));
        response
    }
}

/// A CSP source for exactly this text.
fn hash(text: &str) -> String {
    format!(
        "sha256-{}",
        base64::engine::general_purpose::STANDARD.encode(Sha256::digest(text.as_bytes()))
    )
}

/// `scheme://host[:port]` of a URL: what CSP and CORS compare. `None` when the host holds anything but a
/// host name's characters, which in a policy could start another directive.
fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host_like = |c: char| c.is_ascii_alphanumeric() || "-.:[]".contains(c);
    (matches!(scheme, "https" | "http")
        && !authority.is_empty()
        && authority.chars().all(host_like))
    .then(|| format!("{scheme}://{authority}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn discovery(issuer: &str) -> Discovery {
        Discovery {
            api_url: None,
            api_version: crate::discovery::API_VERSION,
            issuer: issuer.into(),
            client_id: "cli".into(),
            audience: vec!["cli".into()],
            region: None,
            mfa_max_age_seconds: None,
        }
    }

    fn csp(page: &Page) -> String {
        page.respond().headers[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap()
            .to_string()
    }

    #[test]
    fn the_page_allows_its_own_script_and_style_by_hash_and_calls_only_the_api_and_the_issuer() {
        let page = Page::new(&discovery("https://idp.example.com/pool/1"), None).unwrap();
        let response = page.respond();
        assert_eq!(response.status_code, 200);
        assert_eq!(
            response.headers[header::CONTENT_TYPE],
            "text/html; charset=utf-8"
        );
        assert_eq!(response.headers[header::CACHE_CONTROL], "no-store");
        assert_eq!(response.headers[header::REFERRER_POLICY], "no-referrer");
        let policy = csp(&page);
        assert!(policy.starts_with("default-src 'none'; "), "{policy}");
        assert!(policy.contains(&format!("script-src '{}';", hash(SCRIPT))));
        assert!(policy.contains(&format!("style-src '{}';", hash(STYLE))));
        assert!(policy.contains("connect-src 'self' https://idp.example.com;"));
        assert!(policy.contains("frame-ancestors 'none'"));
        let Some(Body::Text(html)) = response.body else {
            panic!("an HTML body")
        };
        // Exactly the hashed texts are inline, and nothing can end the script early.
        assert!(html.contains(&format!("<script>{SCRIPT}</script>")));
        assert!(html.contains(&format!("<style>{STYLE}</style>")));
        assert!(!SCRIPT.contains("</script"));
        assert_eq!(html.matches("<script").count(), 1);
    }

    #[test]
    fn a_token_endpoint_elsewhere_is_allowed_only_as_an_https_origin() {
        let page = Page::new(
            &discovery("https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_abc"),
            Some("https://login.example.auth.eu-west-1.amazoncognito.com"),
        )
        .unwrap();
        assert!(csp(&page).contains(
            "connect-src 'self' https://cognito-idp.eu-west-1.amazonaws.com \
             https://login.example.auth.eu-west-1.amazoncognito.com;"
        ));
        for refused in [
            "http://login.example.com",
            "https://login.example.com/oauth2/token",
            "https://a.example.com; script-src *",
        ] {
            let error =
                Page::new(&discovery("https://idp.example.com"), Some(refused)).unwrap_err();
            assert_eq!(error.variable, "IDP_TOKEN_ORIGIN", "{refused}");
        }
    }
}
