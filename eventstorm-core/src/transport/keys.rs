//! How [`PublishConfig`](super::PublishConfig) and
//! [`ReceiveConfig`](super::ReceiveConfig) read their keys, so that they
//! work both as a table of their own and flattened into a wrapper's table.
//!
//! Each holds the shared [`EndpointConfig`](super::EndpointConfig) as a
//! field. Read with `#[serde(flatten)]`, the endpoint's keys would pass
//! through serde's buffer: a wrong value or an unknown key would then be
//! reported at the table instead of at the key, and a config that flattens
//! another cannot itself be flattened into a wrapper with
//! `deny_unknown_fields` (a router's `[[inputs]]`, a subscriber: the wrapper
//! would reject `bind` as unknown). So [`socket_config!`] declares, beside
//! each config, a private struct with every key side by side (the
//! endpoint's and the side's own): serde reads that one, `deny_unknown_fields`
//! and errors placed at their key as for any flat table, and it is turned
//! into the config. Writing a config flattens the endpoint as usual.

/// Declares a socket configuration: a public struct with an `endpoint:
/// EndpointConfig` field followed by the fields given, `Serialize` (the
/// endpoint flattened) and `Deserialize` through a private flat struct
/// `$keys` with the endpoint's keys and the given ones.
///
/// The endpoint's fields are named here once for both sides; a field added
/// to `EndpointConfig` without being added here fails to compile.
macro_rules! socket_config {
    (
        $(#[$meta:meta])*
        pub struct $name:ident read as $keys:ident {
            $(#[$endpoint_meta:meta])*
            pub endpoint: EndpointConfig,
            $(
                $(#[$field_meta:meta])*
                pub $field:ident: $ty:ty,
            )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
        pub struct $name {
            $(#[$endpoint_meta])*
            #[serde(flatten)]
            pub endpoint: EndpointConfig,
            $(
                $(#[$field_meta])*
                pub $field: $ty,
            )+
        }

        /// Every key of the config side by side, as serde reads them.
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields, default)]
        struct $keys {
            bind: Vec<String>,
            connect: Vec<String>,
            hwm: i32,
            security: $crate::transport::SecurityConfig,
            $($field: $ty,)+
        }

        impl Default for $keys {
            fn default() -> Self {
                let config = $name::default();
                let $crate::transport::EndpointConfig {
                    bind,
                    connect,
                    hwm,
                    security,
                } = config.endpoint;
                $keys {
                    bind,
                    connect,
                    hwm,
                    security,
                    $($field: config.$field,)+
                }
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let keys = $keys::deserialize(deserializer)?;
                Ok($name {
                    endpoint: $crate::transport::EndpointConfig {
                        bind: keys.bind,
                        connect: keys.connect,
                        hwm: keys.hwm,
                        security: keys.security,
                    },
                    $($field: keys.$field,)+
                })
            }
        }
    };
}
pub(crate) use socket_config;
