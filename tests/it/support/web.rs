//! A browser-like HTTP client for the admin pages: keeps cookies, follows no redirects
//! (tests look at each one), and reads CSRF tokens out of the forms it was served.

use reqwest::header::{HeaderMap, LOCATION, SET_COOKIE};
use std::collections::BTreeMap;

pub const PASSWORD: &str = "a long admin password";

pub struct Page {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: String,
}

impl Page {
    pub fn location(&self) -> Option<String> {
        self.headers
            .get(LOCATION)
            .map(|v| v.to_str().unwrap().to_string())
    }

    /// The value of the first `name="csrf"` field.
    pub fn csrf(&self) -> String {
        self.field("csrf").expect("the page has a CSRF field")
    }

    /// The `value` of the first input named `name`.
    pub fn field(&self, name: &str) -> Option<String> {
        self.attribute_value(&format!("name=\"{name}\""))
    }

    /// The `value` of the input with this `id`.
    pub fn input_by_id(&self, id: &str) -> Option<String> {
        self.attribute_value(&format!("id=\"{id}\""))
    }

    /// The `value="…"` in the tag that holds `marker`.
    fn attribute_value(&self, marker: &str) -> Option<String> {
        let at = self.body.find(marker)?;
        let start = self.body[..at].rfind('<')?;
        let tag = &self.body[start..start + self.body[start..].find('>')?];
        let value = &tag[tag.find("value=\"")? + 7..];
        Some(value[..value.find('"')?].to_string())
    }

    /// The raw `Set-Cookie` header for cookie `name`.
    pub fn set_cookie(&self, name: &str) -> Option<String> {
        self.headers
            .get_all(SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap().to_string())
            .find(|c| c.starts_with(&format!("{name}=")))
    }
}

pub struct Browser {
    pub base: String,
    http: reqwest::Client,
    pub cookies: BTreeMap<String, String>,
    /// Sent with every request (e.g. `X-Forwarded-For` as a proxy would add it).
    pub headers: Vec<(&'static str, String)>,
}

impl Browser {
    pub fn new(base: &str) -> Browser {
        Browser {
            base: base.trim_end_matches('/').to_string(),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookies: BTreeMap::new(),
            headers: Vec::new(),
        }
    }

    fn url(&self, path: &str) -> String {
        if path.starts_with("http") {
            path.to_string()
        } else {
            format!("{}{path}", self.base)
        }
    }

    pub fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn finish(&mut self, response: reqwest::Response) -> Page {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        for value in headers.get_all(SET_COOKIE) {
            let pair = value.to_str().unwrap().split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            let removed = value.is_empty()
                || headers.get_all(SET_COOKIE).iter().any(|v| {
                    v.to_str().unwrap().contains("Max-Age=0")
                        && v.to_str().unwrap().starts_with(&format!("{name}="))
                });
            if removed {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_string(), value.to_string());
            }
        }
        let body = response.text().await.unwrap_or_default();
        Page {
            status,
            headers,
            body,
        }
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let mut request = self
            .http
            .request(method, self.url(path))
            .header("cookie", self.cookie_header());
        for (name, value) in &self.headers {
            request = request.header(*name, value);
        }
        request
    }

    pub async fn get(&mut self, path: &str) -> Page {
        let response = self
            .request(reqwest::Method::GET, path)
            .send()
            .await
            .expect("handoff answers");
        self.finish(response).await
    }

    pub async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let response = self
            .request(reqwest::Method::POST, path)
            .form(form)
            .send()
            .await
            .expect("handoff answers");
        self.finish(response).await
    }

    /// GETs `path` until `done` holds for the page, failing after `timeout`.
    pub async fn get_until(
        &mut self,
        path: &str,
        timeout: std::time::Duration,
        done: impl Fn(&Page) -> bool,
    ) -> Page {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let page = self.get(path).await;
            if done(&page) {
                return page;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{path} not as expected within {timeout:?}:\n{}",
                page.body
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    /// Sets the admin password through `/setup` with the printed token; leaves the browser
    /// logged in.
    pub async fn claim(&mut self, setup_token: &str) -> Page {
        let form = self.get(&format!("/setup?token={setup_token}")).await;
        assert_eq!(form.status, 200, "{}", form.body);
        let csrf = form.csrf();
        let done = self
            .post(
                "/setup",
                &[
                    ("token", setup_token),
                    ("csrf", &csrf),
                    ("password", PASSWORD),
                    ("confirm", PASSWORD),
                ],
            )
            .await;
        assert_eq!(done.status, 303, "{}", done.body);
        done
    }

    pub async fn login(&mut self, password: &str) -> Page {
        let form = self.get("/login").await;
        let csrf = form.csrf();
        self.post("/login", &[("csrf", &csrf), ("password", password)])
            .await
    }

    /// Saves the HubSpot app step with the fake's credentials (`client_secret` as given).
    pub async fn save_app(&mut self, client_secret: &str, developer_api_key: &str) -> Page {
        use super::fake_hubspot::FakeHubSpot;
        self.submit(
            "/wizard/hubspot-app",
            "/wizard/hubspot-app",
            &[
                ("client_id", FakeHubSpot::CLIENT_ID),
                ("client_secret", client_secret),
                ("app_id", FakeHubSpot::APP_ID),
                ("developer_api_key", developer_api_key),
            ],
        )
        .await
    }

    /// GETs `page` and POSTs `fields` (plus its CSRF token) to `action`.
    pub async fn submit(&mut self, page: &str, action: &str, fields: &[(&str, &str)]) -> Page {
        let csrf = self.get(page).await.csrf();
        let mut form = vec![("csrf", csrf.as_str())];
        form.extend_from_slice(fields);
        self.post(action, &form).await
    }
}
