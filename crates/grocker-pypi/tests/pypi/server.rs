//! Index fixtures on grocker-testkit's `ScriptedServer`: fixed routes with their own
//! Content-Type (PEP 691 negotiation needs it), redirects, a switch to ignore `Range`, and a log
//! of every request with the headers that matter here.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use grocker_testkit::{Reply, ScriptedServer};

#[derive(Clone)]
enum Route {
    Body { content_type: String, body: Vec<u8> },
    Redirect(String),
}

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct Logged {
    pub path: String,
    pub range: Option<String>,
    pub accept: Option<String>,
    pub authorization: Option<String>,
    pub status: u16,
    /// Body bytes sent back.
    pub sent: usize,
}

#[derive(Default)]
struct Routes {
    routes: Mutex<HashMap<String, Route>>,
    ignore_ranges: AtomicBool,
}

pub struct Server {
    server: ScriptedServer,
    routes: Arc<Routes>,
}

impl Server {
    pub fn start() -> Server {
        let routes = Arc::new(Routes::default());
        let shared = Arc::clone(&routes);
        let server = ScriptedServer::start(move |request| {
            let route = shared.routes.lock().unwrap().get(&request.path).cloned();
            match route {
                None => Reply::Full {
                    status: 404,
                    headers: vec![],
                    body: b"not found\n".to_vec(),
                },
                Some(Route::Redirect(to)) => Reply::Redirect(301, to),
                Some(Route::Body { content_type, body })
                    if shared.ignore_ranges.load(Ordering::SeqCst) =>
                {
                    Reply::Typed(content_type, body)
                }
                Some(Route::Body { content_type, body }) => Reply::Ranged(Some(content_type), body),
            }
        });
        Server { server, routes }
    }

    /// `http://127.0.0.1:PORT` (no trailing slash).
    pub fn url(&self) -> String {
        self.server.url()
    }

    pub fn add(&self, path: &str, content_type: &str, body: impl Into<Vec<u8>>) {
        let route = Route::Body {
            content_type: content_type.into(),
            body: body.into(),
        };
        self.routes
            .routes
            .lock()
            .unwrap()
            .insert(path.into(), route);
    }

    pub fn redirect(&self, path: &str, location: &str) {
        let route = Route::Redirect(location.into());
        self.routes
            .routes
            .lock()
            .unwrap()
            .insert(path.into(), route);
    }

    /// Answer every request with the whole file, as servers without range support do.
    pub fn ignore_ranges(&self, ignore: bool) {
        self.routes.ignore_ranges.store(ignore, Ordering::SeqCst);
    }

    pub fn log(&self) -> Vec<Logged> {
        self.server
            .exchanges()
            .into_iter()
            .map(|e| Logged {
                range: e.request.header("range").map(str::to_owned),
                accept: e.request.header("accept").map(str::to_owned),
                authorization: e.request.header("authorization").map(str::to_owned),
                path: e.request.path,
                status: e.status.unwrap_or(0),
                sent: e.sent,
            })
            .collect()
    }

    pub fn clear_log(&self) {
        self.server.clear();
    }
}
