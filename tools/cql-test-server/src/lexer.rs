//! A tiny CQL tokenizer, just enough to rewrite statements before kassandra parses them.

/// What kind of token this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Identifier or keyword (quoted lower-case identifiers are unquoted).
    Word,
    /// A `'string'` literal, kept verbatim.
    Str,
    /// Number, blob, uuid or any other unquoted literal.
    Num,
    /// A bind marker: `?` or `:name`.
    Marker,
    /// Punctuation or operator (`(`, `,`, `>=`, ...).
    Punct,
    /// A quoted identifier that has to stay quoted.
    Quoted,
}

/// One token with the whitespace information needed to print the statement again.
#[derive(Debug, Clone)]
pub(crate) struct Token {
    pub(crate) kind: Kind,
    pub(crate) text: String,
    pub(crate) space_before: bool,
}

impl Token {
    /// Whether this is the keyword or identifier `word` (case-insensitive).
    pub(crate) fn is(&self, word: &str) -> bool {
        self.kind == Kind::Word && self.text.eq_ignore_ascii_case(word)
    }

    /// Whether this is the punctuation `p`.
    pub(crate) fn is_punct(&self, p: &str) -> bool {
        self.kind == Kind::Punct && self.text == p
    }
}

fn is_uuid_at(chars: &[char], i: usize) -> bool {
    const GROUPS: [usize; 5] = [8, 4, 4, 4, 12];
    let mut pos = i;
    for (n, len) in GROUPS.iter().enumerate() {
        for _ in 0..*len {
            match chars.get(pos) {
                Some(c) if c.is_ascii_hexdigit() => pos += 1,
                _ => return false,
            }
        }
        if n < 4 {
            if chars.get(pos) != Some(&'-') {
                return false;
            }
            pos += 1;
        }
    }
    !chars
        .get(pos)
        .is_some_and(|c| c.is_ascii_alphanumeric() || *c == '_')
}

/// Splits a CQL statement into tokens. Comments become whitespace.
pub(crate) fn tokenize(input: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = input.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    let mut space = false;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        let start = i;
        let kind;
        if c.is_whitespace() {
            space = true;
            i += 1;
            continue;
        } else if (c == '-' && next == Some('-')) || (c == '/' && next == Some('/')) {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
            space = true;
            continue;
        } else if c == '/' && next == Some('*') {
            i += 2;
            while i < chars.len() && !(chars[i] == '*' && chars.get(i + 1) == Some(&'/')) {
                i += 1;
            }
            if i >= chars.len() {
                return Err("unterminated comment".to_owned());
            }
            i += 2;
            space = true;
            continue;
        } else if c == '\'' || c == '"' {
            i += 1;
            loop {
                match chars.get(i) {
                    None => return Err("unterminated quoted string or identifier".to_owned()),
                    Some(&q) if q == c && chars.get(i + 1) == Some(&c) => i += 2,
                    Some(&q) if q == c => break,
                    Some(_) => i += 1,
                }
            }
            i += 1;
            kind = if c == '\'' { Kind::Str } else { Kind::Quoted };
        } else if is_uuid_at(&chars, i) {
            i += 36;
            kind = Kind::Num;
        } else if c.is_ascii_alphabetic() || c == '_' {
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            kind = Kind::Word;
        } else if c.is_ascii_digit() || (c == '-' && next.is_some_and(|n| n.is_ascii_digit())) {
            i += 1;
            while i < chars.len()
                && (chars[i].is_ascii_alphanumeric()
                    || chars[i] == '.'
                    || ((chars[i] == '-' || chars[i] == '+')
                        && chars[i - 1].eq_ignore_ascii_case(&'e')))
            {
                i += 1;
            }
            kind = Kind::Num;
        } else if c == '?' {
            i += 1;
            kind = Kind::Marker;
        } else if c == ':' && next.is_some_and(|n| n.is_ascii_alphabetic() || n == '_') {
            i += 1;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            kind = Kind::Marker;
        } else {
            i += 1;
            if matches!(c, '<' | '>' | '!') && next == Some('=') {
                i += 1;
            }
            kind = Kind::Punct;
        }
        let mut text: String = chars[start..i].iter().collect();
        let mut kind = kind;
        if kind == Kind::Quoted {
            let inner = &text[1..text.len() - 1];
            let simple = inner.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
                && inner
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
            if simple {
                text = inner.to_owned();
                kind = Kind::Word;
            }
        }
        tokens.push(Token {
            kind,
            text,
            space_before: space,
        });
        space = false;
    }
    Ok(tokens)
}

/// Prints tokens back, normalising whitespace to single spaces and keywords to upper
/// case (kassandra's parser only knows some keywords in upper case); type names
/// followed by `<` are printed in lower case, as kassandra expects.
pub(crate) fn render(tokens: &[Token]) -> String {
    let mut out = String::new();
    for (i, token) in tokens.iter().enumerate() {
        if token.space_before && i > 0 {
            out.push(' ');
        }
        if token.kind == Kind::Word {
            let before_generic = tokens.get(i + 1).is_some_and(|t| t.is_punct("<"));
            if before_generic {
                out.push_str(&token.text.to_ascii_lowercase());
            } else {
                out.push_str(&token.text.to_ascii_uppercase());
            }
        } else {
            out.push_str(&token.text);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{Kind, render, tokenize};

    #[test]
    fn round_trip() {
        let t = tokenize("select  \"ks\".t from x where a>=? and b = 'it''s' -- c\n").unwrap();
        assert_eq!(render(&t), "SELECT KS.T FROM X WHERE A>=? AND B = 'it''s'");
        assert_eq!(t[9].kind, Kind::Marker);
    }

    #[test]
    fn uuid_and_types() {
        let t = tokenize("ab09bec0-e68e-48d9-a5f8-97e6fb4c9b47 map<text, int> -5 1e-3").unwrap();
        assert_eq!(t[0].kind, Kind::Num);
        assert_eq!(
            render(&t),
            "ab09bec0-e68e-48d9-a5f8-97e6fb4c9b47 map<TEXT, INT> -5 1e-3"
        );
    }
}
