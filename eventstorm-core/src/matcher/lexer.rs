//! Tokens of the matcher grammar.

use super::ParseError;

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Token {
    /// A run of `[A-Za-z0-9_.:/*?+-]`: a type pattern, a field path, a keyword or a number.
    Word(String),
    /// A quoted string, escapes resolved.
    Str(String),
    Op(&'static str),
    LParen,
    RParen,
    LBracket,
    RBracket,
    Comma,
    End,
}

impl Token {
    pub(crate) fn describe(&self) -> String {
        match self {
            Token::Word(w) => format!("`{w}`"),
            Token::Str(s) => format!("string {s:?}"),
            Token::Op(op) => format!("`{op}`"),
            Token::LParen => "`(`".into(),
            Token::RParen => "`)`".into(),
            Token::LBracket => "`[`".into(),
            Token::RBracket => "`]`".into(),
            Token::Comma => "`,`".into(),
            Token::End => "end of input".into(),
        }
    }
}

/// A token and the byte offset where it starts.
pub(crate) type Spanned = (Token, usize);

fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | ':' | '/' | '*' | '?' | '-' | '+')
}

pub(crate) fn tokenize(input: &str) -> Result<Vec<Spanned>, ParseError> {
    let mut tokens = Vec::new();
    let mut chars = input.char_indices().peekable();
    while let Some(&(at, c)) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        let two = input.get(at..at + 2).unwrap_or("");
        let op2 = ["==", "!=", "<=", ">=", "=~", "&&", "||"]
            .into_iter()
            .find(|op| *op == two);
        if let Some(op) = op2 {
            chars.next();
            chars.next();
            tokens.push((Token::Op(op), at));
            continue;
        }
        let single = match c {
            '(' => Some(Token::LParen),
            ')' => Some(Token::RParen),
            '[' => Some(Token::LBracket),
            ']' => Some(Token::RBracket),
            ',' => Some(Token::Comma),
            '<' => Some(Token::Op("<")),
            '>' => Some(Token::Op(">")),
            '!' => Some(Token::Op("!")),
            _ => None,
        };
        if let Some(token) = single {
            chars.next();
            tokens.push((token, at));
            continue;
        }
        if c == '"' || c == '\'' {
            chars.next();
            let mut value = String::new();
            let mut closed = false;
            while let Some((_, ch)) = chars.next() {
                if ch == c {
                    closed = true;
                    break;
                }
                if ch == '\\' {
                    match chars.next() {
                        Some((_, 'n')) => value.push('\n'),
                        Some((_, 't')) => value.push('\t'),
                        Some((_, 'r')) => value.push('\r'),
                        Some((_, e @ ('\\' | '"' | '\''))) => value.push(e),
                        // Any other escape is kept as written, so that regular
                        // expressions read naturally: "^m1\." is `^m1\.`.
                        Some((_, other)) => {
                            value.push('\\');
                            value.push(other);
                        }
                        None => break,
                    }
                } else {
                    value.push(ch);
                }
            }
            if !closed {
                return Err(ParseError::new(
                    input,
                    at,
                    format!("a closing {c}"),
                    "end of input",
                ));
            }
            tokens.push((Token::Str(value), at));
            continue;
        }
        if is_word_char(c) {
            let mut end = at;
            while let Some(&(pos, ch)) = chars.peek() {
                if !is_word_char(ch) {
                    break;
                }
                end = pos + ch.len_utf8();
                chars.next();
            }
            tokens.push((Token::Word(input[at..end].to_string()), at));
            continue;
        }
        return Err(ParseError::new(
            input,
            at,
            "a field, a value, an operator or a parenthesis",
            format!("{c:?}"),
        ));
    }
    tokens.push((Token::End, input.len()));
    Ok(tokens)
}
