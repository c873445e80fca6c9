//! Which tenant a syslog message speaks for: none (events keep what the
//! parser found), a fixed tenant per listener, or a token carried in an
//! RFC 5424 structured-data element (`[meniscus tenant="acme" token="..."]`)
//! and checked against the listener's tokens.

use bson::Bson;
use eventstorm_core::Event;
use eventstorm_core::auth::{AuthError, TokenStore};

/// How a listener finds the tenant of its messages.
#[derive(Debug)]
pub(crate) enum Tenancy {
    /// Events keep the tenant the parser found (if any).
    Open,
    /// Every event gets this tenant; an event whose parser found another
    /// is refused.
    Fixed(String),
    /// Every message carries `[element tenant="..." token="..."]`.
    Tokens {
        /// The SD-ID of the element.
        element: String,
        /// The tokens it is checked against.
        store: TokenStore,
    },
}

/// Why a message was refused.
#[derive(Debug)]
pub(crate) enum Refusal {
    /// No element, no token, a wrong token, or an element naming another
    /// tenant than its token's.
    Unauthorized(String),
    /// The parser found a tenant other than the listener's fixed one.
    TenantMismatch(String),
}

impl Tenancy {
    /// Sets the event's tenant, or says why the message is refused. The
    /// element with the token is removed from the event, so the token is
    /// never stored or forwarded.
    pub(crate) fn apply(&self, event: &mut Event) -> Result<(), Refusal> {
        match self {
            Tenancy::Open => Ok(()),
            Tenancy::Fixed(tenant) => match event.tenant() {
                Some(claimed) if claimed != tenant => Err(Refusal::TenantMismatch(format!(
                    "the message claims tenant {claimed:?}, this listener's tenant is {tenant:?}"
                ))),
                _ => {
                    event.set_tenant(tenant.as_str());
                    Ok(())
                }
            },
            Tenancy::Tokens { element, store } => {
                let (claimed, token) = take_element(event, element)?;
                let tenant = store.verify(token.as_deref()).map_err(|e| {
                    Refusal::Unauthorized(match e {
                        AuthError::Missing => {
                            format!("the [{element} ...] element has no `token` parameter")
                        }
                        other => other.to_string(),
                    })
                })?;
                if let Some(claimed) = claimed
                    && claimed != tenant
                {
                    return Err(Refusal::Unauthorized(format!(
                        "the [{element} ...] element names tenant {claimed:?} but its token is another tenant's"
                    )));
                }
                event.set_tenant(tenant);
                Ok(())
            }
        }
    }
}

/// Removes `[element ...]` from `body.structured_data` (and
/// `structured_data` when nothing else is left) and returns its `tenant` and
/// `token` parameters.
fn take_element(
    event: &mut Event,
    element: &str,
) -> Result<(Option<String>, Option<String>), Refusal> {
    let missing = || {
        Refusal::Unauthorized(format!(
            "no [{element} tenant=\"...\" token=\"...\"] structured-data element \
             (an RFC 5424 message is needed)"
        ))
    };
    let body = event.body_mut();
    let Ok(sd) = body.get_document_mut("structured_data") else {
        return Err(missing());
    };
    let Some(params) = sd.remove(element) else {
        return Err(missing());
    };
    if sd.is_empty() {
        body.remove("structured_data");
    }
    let Bson::Document(params) = params else {
        return Err(missing());
    };
    let one = |name: &str| -> Result<Option<String>, Refusal> {
        match params.get(name) {
            None => Ok(None),
            Some(Bson::String(value)) => Ok(Some(value.clone())),
            Some(_) => Err(Refusal::Unauthorized(format!(
                "the [{element} ...] element has `{name}` more than once"
            ))),
        }
    };
    Ok((one("tenant")?, one("token")?))
}

/// An SD-NAME (RFC 5424): 1 to 32 printable ASCII characters other than
/// `=`, space, `]` and `"`.
pub(crate) fn check_sd_name(name: &str) -> Result<(), String> {
    let valid = (1..=32).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_graphic() && !b"=]\"".contains(&b));
    if valid {
        Ok(())
    } else {
        Err(format!(
            "expected an RFC 5424 SD-ID (1 to 32 printable ASCII characters, no `=`, `]`, `\"` \
             or space) such as \"meniscus\", got {name:?}"
        ))
    }
}
