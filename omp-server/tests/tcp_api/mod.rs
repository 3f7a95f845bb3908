//! Helpers of the HTTP tests over real TCP: the whole server
//! (`omp_server::run` on 127.0.0.1:0, GMMP and HTTP), seeded over GMMP,
//! called with reqwest.

#![allow(dead_code)]

use std::path::Path;

use gmmp_codec::{Message, ResultCode};
use reqwest::Method;
use serde_json::Value;

use crate::common::{Client, TestServer, rc, start};

/// The API key the test server is started with.
pub const KEY: &str = "tcp-test-key-3f9a0c1d2e4b5a6978";
/// The WizFi310 guide's delivery text (Base64 `V2l6RmkyNTAgdGVzdCBkYXRhICFAIyQlXiYqKCk=`).
pub const SEED_TEXT: &[u8] = b"WizFi250 test data !@#$%^&*()";

pub use crate::answer::Answer;

/// A reqwest client on the server's HTTP address.
pub struct Api {
    pub base: String,
    pub client: reqwest::Client,
}

impl Api {
    pub fn new(server: &TestServer) -> Api {
        Api {
            base: format!("http://{}", server.http_addr),
            client: reqwest::Client::new(),
        }
    }

    /// A request with the right key.
    pub fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(KEY)
    }

    /// Sends and reads the whole answer.
    pub async fn send(&self, request: reqwest::RequestBuilder) -> Answer {
        let response = tokio::time::timeout(crate::common::GUARD, request.send())
            .await
            .expect("an answer in time")
            .expect("an HTTP answer");
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.expect("a body");
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        Answer {
            status,
            headers,
            text,
            json,
        }
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.send(self.request(Method::GET, path)).await
    }

    pub async fn delete(&self, path: &str) -> Answer {
        self.send(self.request(Method::DELETE, path)).await
    }

    /// `method path` with a JSON text body.
    pub async fn json(&self, method: Method, path: &str, body: &str) -> Answer {
        self.send(
            self.request(method, path)
                .header("content-type", "application/json")
                .body(body.to_owned()),
        )
        .await
    }
}

/// What the seed put on the server.
pub struct Seed {
    /// The registered gateway, still connected.
    pub gw: Client,
    pub gw_id: String,
    pub device_id: String,
}

/// The server (open provisioning, the key [`KEY`]) with one gateway and
/// one device registered over GMMP, and two deliveries: the seed text from
/// the gateway, then bytes from the device.
pub async fn seeded(dir: &Path) -> (TestServer, Seed) {
    let server = start(dir, |c| {
        c.api_key = Some(KEY.to_owned());
        c.trace_gmmp = false;
    })
    .await;
    let mut gw = Client::connect(server.addr, "0008dc1e3222").await;
    assert_eq!(
        rc(&gw.register_gw("ThingPlug", "WIZnet").await),
        ResultCode::OK
    );
    let device = gw.register_device("0008dc1e3222").await;
    let Message::DeviceRegistrationResponse(d) = &device.message else {
        panic!("{device:?}")
    };
    let device_id = d.device_id.to_string();
    assert_eq!(rc(&gw.deliver(SEED_TEXT).await), ResultCode::OK);
    let on_device = gw.delivery(d.device_id, &[0x00, 0xff, 0x10]);
    assert_eq!(rc(&gw.request(on_device).await), ResultCode::OK);
    let gw_id = gw.gw_id.to_string();
    (
        server,
        Seed {
            gw,
            gw_id,
            device_id,
        },
    )
}

/// Delivers `payload` from `gw` and returns the rc of its 0x0C, skipping
/// frames the server pushed meanwhile (a control sent by a test).
pub async fn deliver_skipping_pushes(gw: &mut Client, payload: &[u8]) -> ResultCode {
    let header = gw.header();
    let delivery = gw.delivery(gmmp_codec::DeviceId::EMPTY, payload);
    gw.send(gmmp_codec::Frame::new(header, delivery)).await;
    loop {
        let frame = gw.recv().await;
        if let Message::DeliveryResponse(_) = frame.message {
            return rc(&frame);
        }
    }
}

/// The contract, parsed.
pub fn spec() -> serde_norway::Value {
    serde_norway::from_str(omp_server::http::service::OPENAPI_YAML).unwrap()
}

/// One operation of the contract.
#[derive(Debug, Clone)]
pub struct Operation {
    pub method: Method,
    /// The path template (`/api/v1/gateways/{gw_id}`).
    pub path: String,
    /// `security: []`: no key needed.
    pub open: bool,
    /// Its parameters (path and query), with the shared ones of the path.
    pub parameters: Vec<Parameter>,
    /// It takes a JSON body.
    pub has_body: bool,
}

/// A path or query parameter of an operation.
#[derive(Debug, Clone)]
pub struct Parameter {
    pub name: String,
    /// `path` or `query` (headers are left out).
    pub location: String,
    /// `string`, `integer`, `boolean`, or `enum` for string enums.
    pub kind: String,
}

fn resolve<'a>(
    spec: &'a serde_norway::Value,
    v: &'a serde_norway::Value,
) -> &'a serde_norway::Value {
    match v.get("$ref").and_then(|r| r.as_str()) {
        Some(r) => {
            let mut node = spec;
            for part in r.trim_start_matches("#/").split('/') {
                node = &node[part];
            }
            resolve(spec, node)
        }
        None => v,
    }
}

fn parameters(spec: &serde_norway::Value, list: &serde_norway::Value) -> Vec<Parameter> {
    let mut out = Vec::new();
    for p in list.as_sequence().into_iter().flatten() {
        let p = resolve(spec, p);
        let location = p["in"].as_str().unwrap().to_owned();
        if location != "path" && location != "query" {
            continue;
        }
        let schema = resolve(spec, &p["schema"]);
        let kind = if schema.get("enum").is_some() {
            "enum".to_owned()
        } else {
            schema["type"].as_str().unwrap_or("string").to_owned()
        };
        out.push(Parameter {
            name: p["name"].as_str().unwrap().to_owned(),
            location,
            kind,
        });
    }
    out
}

/// Every operation of the contract.
pub fn spec_operations() -> Vec<Operation> {
    let spec = spec();
    let mut out = Vec::new();
    for (path, item) in spec["paths"].as_mapping().unwrap() {
        let shared = parameters(&spec, &item["parameters"]);
        for (key, op) in item.as_mapping().unwrap() {
            let key = key.as_str().unwrap();
            if !["get", "put", "post", "delete", "patch"].contains(&key) {
                continue;
            }
            let mut params = shared.clone();
            params.extend(parameters(&spec, &op["parameters"]));
            out.push(Operation {
                method: Method::from_bytes(key.to_uppercase().as_bytes()).unwrap(),
                path: path.as_str().unwrap().to_owned(),
                open: op
                    .get("security")
                    .and_then(|s| s.as_sequence())
                    .is_some_and(|s| s.is_empty()),
                parameters: params,
                has_body: op.get("requestBody").is_some(),
            });
        }
    }
    out
}
