//! # eventstorm-router
//!
//! Routes events between ZeroMQ publishers and subscribers, with no broker:
//! one or more inputs (XSUB, bound or connected), one or more named outputs
//! (XPUB), and an ordered list of rules in between.
//!
//! - **Forwarding without re-encoding**: the body bytes travel as received;
//!   only the fields a rule needs are read.
//! - **Subscription propagation**: what subscribers of the outputs ask for is
//!   sent upstream (narrowed to what the rules can send to each output), so
//!   filtering happens at the source; it is sent again when a peer reconnects.
//! - **Rules and transforms**: matcher → outputs, `continue` or stop, a default
//!   output, per-rule set/remove/rename/tenant/sample ([`Rules`], an
//!   [`EventRouter`](eventstorm_core::EventRouter)).
//! - **Loss accounting per hop**: each output stamps its own publisher id and
//!   per-type sequence, and sends sequence marks, so subscribers count losses
//!   exactly through any number of routers.
//! - **Observable**: counters per input, output and rule, a periodic stats
//!   line, optional stats events of type [`STATS_TYPE`].
//!
//! ```
//! use eventstorm_router::{RouterConfig, RouterRuntime};
//!
//! let config = RouterConfig::from_toml_str(r#"
//!     [router]
//!     name = "edge"
//!     default_output = "central"
//!
//!     [[inputs]]
//!     name = "apps"
//!     bind = ["tcp://127.0.0.1:*"]
//!
//!     [[outputs]]
//!     name = "central"
//!     bind = ["tcp://127.0.0.1:*"]
//!
//!     [[outputs]]
//!     name = "billing"
//!     bind = ["tcp://127.0.0.1:*"]
//!     mode = "block"
//!
//!     [[rules]]
//!     match = "compute.instance.*, volume.*"
//!     outputs = ["billing", "central"]
//!     transform.remove = ["body.password"]
//! "#, "edge.toml")?;
//! let router = RouterRuntime::new(&zmq::Context::new(), &config)?.start()?;
//! println!("apps publish to {:?}", router.endpoints().input("apps"));
//! println!("{}", router.shutdown()?);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod config;
mod error;
mod input;
mod output;
pub mod rules;
mod runtime;
mod stats;
pub mod transform;

pub use config::{
    DeliveryMode, InputConfig, OutputConfig, RouterConfig, RouterSettings, RuleConfig,
    TenantBinding, TransformConfig,
};
pub use error::{Error, Result};
pub use eventstorm_core::config::ConfigError;
pub use output::OutputCounters;
pub use rules::Rules;
pub use runtime::{Endpoints, RouterHandle, RouterRuntime};
pub use stats::{RuntimeCounters, STATS_TYPE};

/// A commented configuration with every key at its default, as printed by
/// `eventstorm-router --print-default-config`.
pub const DEFAULT_CONFIG: &str = include_str!("default-config.toml");
