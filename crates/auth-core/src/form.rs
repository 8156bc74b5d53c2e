//! The one parser of `application/x-www-form-urlencoded` bodies, for the token endpoint,
//! `/login` and the CSRF form field.

use std::collections::HashMap;

/// The form media type.
pub(crate) const FORM_TYPE: &str = "application/x-www-form-urlencoded";

/// Whether a `Content-Type` value names a form (parameters such as `charset` ignored).
pub(crate) fn is_form(content_type: Option<&str>) -> bool {
    content_type
        .and_then(|ct| ct.split(';').next())
        .is_some_and(|ct| ct.trim().eq_ignore_ascii_case(FORM_TYPE))
}

/// Why a body could not be read as a form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FormError {
    /// Not `application/x-www-form-urlencoded`.
    NotForm,
    /// Larger than the caller's limit.
    TooLarge,
    /// A parameter the caller reads was sent more than once (its name, sanitised).
    Repeated(String),
}

/// A parsed form: each parameter's first value, and which names were repeated.
#[derive(Debug, Default)]
pub(crate) struct Form {
    fields: HashMap<String, String>,
    repeated: Vec<String>,
}

impl Form {
    /// Checks the content type and size (`limit` bytes), then parses.
    pub(crate) fn parse(
        content_type: Option<&str>,
        body: &[u8],
        limit: usize,
    ) -> Result<Self, FormError> {
        if !is_form(content_type) {
            return Err(FormError::NotForm);
        }
        if body.len() > limit {
            return Err(FormError::TooLarge);
        }
        Ok(Self::from_body(body))
    }

    /// Parses a body already known to be a form within its limit.
    pub(crate) fn from_body(body: &[u8]) -> Self {
        let mut form = Form::default();
        for (name, value) in form_urlencoded::parse(body) {
            if form.fields.contains_key(name.as_ref()) {
                if !form.repeated.iter().any(|r| r == name.as_ref()) {
                    form.repeated.push(name.into_owned());
                }
            } else {
                form.fields.insert(name.into_owned(), value.into_owned());
            }
        }
        form
    }

    /// The first repeated parameter of any name (RFC 6749 §3.2 refuses them all).
    pub(crate) fn any_repeated(&self) -> Result<(), FormError> {
        match self.repeated.first() {
            Some(name) => Err(FormError::Repeated(sanitize(name))),
            None => Ok(()),
        }
    }

    /// The value of `name`: `Ok(None)` when absent, an error when repeated.
    pub(crate) fn field(&self, name: &str) -> Result<Option<&str>, FormError> {
        if self.repeated.iter().any(|r| r == name) {
            return Err(FormError::Repeated(sanitize(name)));
        }
        Ok(self.fields.get(name).map(String::as_str))
    }
}

/// Parameter names are echoed in error descriptions: keep them short and printable.
fn sanitize(name: &str) -> String {
    name.chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .take(32)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_type_parameters_are_ignored() {
        assert!(is_form(Some(
            "Application/X-WWW-Form-Urlencoded; charset=utf-8"
        )));
        assert!(!is_form(Some("application/json")));
        assert!(!is_form(None));
    }

    #[test]
    fn limits_and_repeats() {
        assert_eq!(
            Form::parse(Some(FORM_TYPE), b"a=1", 2).err(),
            Some(FormError::TooLarge)
        );
        assert_eq!(
            Form::parse(Some("text/plain"), b"a=1", 10).err(),
            Some(FormError::NotForm)
        );
        let form = Form::from_body(b"a=1&b=2&a=3&x%0A%E2%82%AC=1&x%0A%E2%82%AC=2");
        assert_eq!(form.field("b"), Ok(Some("2")));
        assert_eq!(form.field("c"), Ok(None));
        assert_eq!(form.field("a"), Err(FormError::Repeated("a".into())));
        assert_eq!(form.any_repeated(), Err(FormError::Repeated("a".into())));
        let odd = Form::from_body(b"x%0A%E2%82%AC=1&x%0A%E2%82%AC=2");
        assert_eq!(odd.any_repeated(), Err(FormError::Repeated("x".into())));
    }
}
