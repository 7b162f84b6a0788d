//! Porchlight: a resident-controlled home security hub. Cameras are recorded at home, and nothing
//! leaves the house unless a sharing policy the resident chose says so.
//!
//! The binary (`bin/porchlight/`) parses the command line and calls [`run::run`], the one wiring point.
//! ARCHITECTURE.md maps the tasks and channels to these modules.
#![forbid(unsafe_code)]
#![forbid(clippy::print_stdout, clippy::print_stderr)]

pub mod api;
pub mod api_client;
pub mod audit;
pub mod backoff;
pub mod bus;
pub mod cameras;
pub mod config;
pub mod digest;
pub mod evidence;
pub mod files;
pub mod health;
pub mod http;
pub mod keys;
pub mod logging;
pub mod markup;
pub mod metrics;
pub mod mode;
pub mod mqtt;
pub mod onvif;
pub mod policy;
pub mod privacy;
pub mod recording;
pub mod relay;
pub mod reload;
pub mod requests;
pub mod restream;
pub mod rtp;
pub mod run;
pub mod sdnotify;
pub mod secret;
pub mod stills;
pub mod throttle;
pub mod tls;
pub mod transparency;
pub mod web;
