//! Which tenant a syslog message speaks for: none (events keep what the
//! parser found), a fixed tenant per listener, or a token carried in an
//! RFC 5424 structured-data element (`[meniscus tenant="acme" token="..."]`)
//! and checked against the listener's tokens.

use std::borrow::Cow;

use bson::RawBsonRef;
use eventstorm_core::auth::{AuthError, TokenStore};
use eventstorm_core::event::{BodyWriter, EventHead};

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
    /// Sets the tenant of the event being written (`head`, `body`, as
    /// [`Parser::parse_into`](crate::parse::Parser::parse_into) left them),
    /// or says why the message is refused. The element with the token is
    /// removed from the body, so the token is never stored or forwarded.
    pub(crate) fn apply<'a>(
        &'a self,
        head: &mut EventHead<'a>,
        body: &mut BodyWriter,
    ) -> Result<(), Refusal> {
        match self {
            Tenancy::Open => Ok(()),
            Tenancy::Fixed(tenant) => match head.tenant.as_deref() {
                Some(claimed) if claimed != tenant => Err(Refusal::TenantMismatch(format!(
                    "the message claims tenant {claimed:?}, this listener's tenant is {tenant:?}"
                ))),
                _ => {
                    head.tenant = Some(Cow::Borrowed(tenant.as_str()));
                    Ok(())
                }
            },
            Tenancy::Tokens { element, store } => {
                let (claimed, token) = take_element(body, element)?;
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
                head.tenant = Some(Cow::Owned(tenant));
                Ok(())
            }
        }
    }
}

/// Removes `[element ...]` from `body.structured_data` (and
/// `structured_data` when nothing else is left) and returns its `tenant` and
/// `token` parameters.
fn take_element(
    body: &mut BodyWriter,
    element: &str,
) -> Result<(Option<String>, Option<String>), Refusal> {
    let missing = || {
        Refusal::Unauthorized(format!(
            "no [{element} tenant=\"...\" token=\"...\"] structured-data element \
             (an RFC 5424 message is needed)"
        ))
    };
    let path = ["structured_data", element];
    let params = body.get_document(&path).ok_or_else(missing)?;
    let one = |name: &str| -> Result<Option<String>, Refusal> {
        match params.get(name) {
            Ok(None) => Ok(None),
            Ok(Some(RawBsonRef::String(value))) => Ok(Some(value.to_owned())),
            _ => Err(Refusal::Unauthorized(format!(
                "the [{element} ...] element has `{name}` more than once"
            ))),
        }
    };
    let found = (one("tenant")?, one("token")?);
    body.remove(&path);
    if body
        .get_document(&path[..1])
        .is_some_and(|sd| sd.is_empty())
    {
        body.remove(&path[..1]);
    }
    Ok(found)
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
