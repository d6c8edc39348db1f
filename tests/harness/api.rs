//! The admin API as tests use it: log in with the password the first start printed, then
//! JSON requests with the bearer token, through a real HTTP client (ureq) on the admin port.

use std::time::Duration;

use serde_json::Value;

use crate::Server;

/// A logged-in (or anonymous) API client.
pub struct Api {
    base: String,
    token: Option<String>,
    agent: ureq::Agent,
}

/// An answer: status and JSON body (`Null` when empty or not JSON).
#[derive(Debug, Clone)]
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// The body as JSON.
    pub body: Value,
    /// The body as text.
    pub text: String,
    /// The response headers (names in lower case), in order.
    pub headers: Vec<(String, String)>,
}

impl Answer {
    /// The first value of header `name` (lower case), if any.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

impl Server {
    /// The `admin` password the first start printed.
    pub fn admin_password(&self) -> String {
        self.startup
            .iter()
            .find_map(|l| l.strip_prefix("admin user: admin  password: "))
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or_else(|| panic!("no admin password in {:?}", self.startup))
            .to_owned()
    }

    /// An API client without credentials.
    pub fn anonymous(&self) -> Api {
        Api {
            base: format!("http://{}", self.admin),
            token: None,
            agent: ureq::Agent::new_with_config(
                ureq::Agent::config_builder()
                    .http_status_as_error(false)
                    .timeout_global(Some(Duration::from_secs(60)))
                    .build(),
            ),
        }
    }

    /// An API client logged in as `user`.
    pub fn login(&self, user: &str, password: &str) -> Api {
        let mut api = self.anonymous();
        let answer = api.post(
            "/api/v1/login",
            &serde_json::json!({ "username": user, "password": password }),
        );
        assert_eq!(answer.status, 200, "login as {user}: {}", answer.text);
        api.token = Some(answer.body["token"].as_str().unwrap().to_owned());
        api
    }

    /// An API client logged in as `admin`.
    pub fn admin_api(&self) -> Api {
        self.login("admin", &self.admin_password())
    }
}

impl Api {
    /// The same client with another bearer secret (a token, or `None`).
    pub fn with_token(&self, token: Option<&str>) -> Api {
        Api {
            base: self.base.clone(),
            token: token.map(str::to_owned),
            agent: self.agent.clone(),
        }
    }

    /// The bearer secret in use.
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// `GET path`.
    pub fn get(&self, path: &str) -> Answer {
        self.send("GET", path, None)
    }

    /// `POST path` with a JSON body.
    pub fn post(&self, path: &str, body: &Value) -> Answer {
        self.send("POST", path, Some(body))
    }

    /// `PATCH path` with a JSON body.
    pub fn patch(&self, path: &str, body: &Value) -> Answer {
        self.send("PATCH", path, Some(body))
    }

    /// `DELETE path`.
    pub fn delete(&self, path: &str) -> Answer {
        self.send("DELETE", path, None)
    }

    /// Any request: `method path`, with a JSON body if given.
    pub fn send(&self, method: &str, path: &str, body: Option<&Value>) -> Answer {
        self.send_with(method, path, &[], body)
    }

    /// Like [`Api::send`], with extra request headers (e.g. a `Cookie`).
    pub fn send_with(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Answer {
        let url = format!("{}{path}", self.base);
        let mut request = ureq::http::Request::builder().method(method).uri(&url);
        if let Some(t) = &self.token {
            request = request.header("authorization", format!("Bearer {t}"));
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let bytes = match body {
            Some(v) => {
                request = request.header("content-type", "application/json");
                serde_json::to_vec(v).unwrap()
            }
            None => Vec::new(),
        };
        let request = request.body(bytes).unwrap();
        let mut response = self
            .agent
            .run(request)
            .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(n, v)| (n.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
            .collect();
        let text = response.body_mut().read_to_string().unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Answer {
            status,
            body,
            text,
            headers,
        }
    }
}
