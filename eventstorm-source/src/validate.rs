//! Range checks of numeric settings, shared by the sources' configs.

use crate::error::{Error, Result};

/// `Ok` when `min <= value <= max`, else a configuration error at `key`.
pub(crate) fn in_range<T>(key: &str, value: T, min: T, max: T) -> Result<()>
where
    T: PartialOrd + std::fmt::Display,
{
    if value < min || value > max {
        return Err(Error::config(
            key,
            format!("expected {min} to {max}, got {value}"),
        ));
    }
    Ok(())
}
