//! Recursive-descent parser for the matcher grammar (see the module docs).

use super::lexer::{Spanned, Token, tokenize};
use super::{CmpOp, Condition, Expr, Literal, Matcher, ParseError, TypePattern};

pub(crate) fn parse(input: &str) -> Result<Matcher, ParseError> {
    let tokens = tokenize(input)?;
    let mut parser = Parser {
        input,
        tokens,
        pos: 0,
        depth: 0,
    };
    let types = parser.type_patterns()?;
    let condition = if parser.eat_word("where") {
        Some(parser.expr()?)
    } else {
        None
    };
    parser.expect_end()?;
    Ok(Matcher::from_parts(types, condition))
}

/// Parses just an expression (the `where` part), for the table form.
pub(crate) fn parse_expr(input: &str) -> Result<Expr, ParseError> {
    let tokens = tokenize(input)?;
    let mut parser = Parser {
        input,
        tokens,
        pos: 0,
        depth: 0,
    };
    let expr = parser.expr()?;
    parser.expect_end()?;
    Ok(expr)
}

struct Parser<'a> {
    input: &'a str,
    tokens: Vec<Spanned>,
    pos: usize,
    /// Nesting of `not` and parentheses, bounded by [`MAX_DEPTH`].
    depth: usize,
}

/// The deepest nesting of `not` and parentheses accepted: the parser, `Display`
/// and evaluation recurse, and a hostile input must not overflow the stack.
pub(crate) const MAX_DEPTH: usize = 64;

const KEYWORDS: [&str; 9] = [
    "where", "and", "or", "not", "in", "exists", "true", "false", "null",
];

impl Parser<'_> {
    fn peek(&self) -> &Token {
        self.tokens.get(self.pos).map_or(&Token::End, |(t, _)| t)
    }

    fn offset(&self) -> usize {
        self.tokens
            .get(self.pos)
            .map_or(self.input.len(), |(_, at)| *at)
    }

    fn bump(&mut self) -> Token {
        let token = self.peek().clone();
        if self.pos < self.tokens.len() {
            self.pos += 1;
        }
        token
    }

    fn error(&self, expected: &str) -> ParseError {
        ParseError::new(self.input, self.offset(), expected, self.peek().describe())
    }

    fn eat_word(&mut self, word: &str) -> bool {
        if matches!(self.peek(), Token::Word(w) if w.eq_ignore_ascii_case(word)) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn eat(&mut self, token: &Token) -> bool {
        if self.peek() == token {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect_end(&self) -> Result<(), ParseError> {
        match self.peek() {
            Token::End => Ok(()),
            _ => Err(self.error("`and`, `or` or end of input")),
        }
    }

    fn type_patterns(&mut self) -> Result<Vec<TypePattern>, ParseError> {
        let mut patterns = Vec::new();
        loop {
            match self.peek().clone() {
                Token::Word(w) if !w.eq_ignore_ascii_case("where") => {
                    let at = self.offset();
                    let pattern = TypePattern::parse(&w).map_err(|problem| {
                        // Point at the offending character, not the word's start.
                        let bad = w.find(|c: char| !super::pattern::is_pattern_char(c));
                        ParseError::new(
                            self.input,
                            at + bad.unwrap_or(0),
                            "an event type pattern",
                            problem,
                        )
                    })?;
                    self.pos += 1;
                    patterns.push(pattern);
                    if !self.eat(&Token::Comma) {
                        return match self.peek() {
                            Token::End => Ok(patterns),
                            Token::Word(w) if w.eq_ignore_ascii_case("where") => Ok(patterns),
                            _ => Err(self.error("`,`, `where` or end of input after a type pattern (conditions go after `where`)")),
                        };
                    }
                }
                Token::End if patterns.is_empty() => return Ok(patterns),
                Token::Word(_) if patterns.is_empty() => return Ok(patterns),
                _ => return Err(self.error("an event type pattern such as `compute.instance.*`")),
            }
        }
    }

    fn expr(&mut self) -> Result<Expr, ParseError> {
        let mut terms = vec![self.and_expr()?];
        while self.eat_word("or") || self.eat(&Token::Op("||")) {
            terms.push(self.and_expr()?);
        }
        Ok(if terms.len() == 1 {
            terms.pop().unwrap_or(Expr::Any(Vec::new()))
        } else {
            Expr::Any(terms)
        })
    }

    fn and_expr(&mut self) -> Result<Expr, ParseError> {
        let mut terms = vec![self.unary()?];
        while self.eat_word("and") || self.eat(&Token::Op("&&")) {
            terms.push(self.unary()?);
        }
        Ok(if terms.len() == 1 {
            terms.pop().unwrap_or(Expr::All(Vec::new()))
        } else {
            Expr::All(terms)
        })
    }

    fn unary(&mut self) -> Result<Expr, ParseError> {
        let nests = matches!(self.peek(), Token::LParen | Token::Op("!"))
            || matches!(self.peek(), Token::Word(w) if w.eq_ignore_ascii_case("not"));
        if nests && self.depth >= MAX_DEPTH {
            return Err(self.error(&format!(
                "a condition nested at most {MAX_DEPTH} deep (`not` and parentheses)"
            )));
        }
        if self.eat_word("not") || self.eat(&Token::Op("!")) {
            self.depth += 1;
            let inner = self.unary();
            self.depth -= 1;
            return Ok(Expr::Not(Box::new(inner?)));
        }
        if self.eat(&Token::LParen) {
            self.depth += 1;
            let inner = self.expr();
            self.depth -= 1;
            let inner = inner?;
            if !self.eat(&Token::RParen) {
                return Err(self.error("`)`"));
            }
            return Ok(inner);
        }
        if self.eat_word("exists") {
            if !self.eat(&Token::LParen) {
                return Err(self.error("`(` after `exists`"));
            }
            let path = self.path()?;
            if !self.eat(&Token::RParen) {
                return Err(self.error("`)`"));
            }
            return Ok(Expr::Cond(Condition::Exists(path)));
        }
        self.comparison()
    }

    fn path(&mut self) -> Result<String, ParseError> {
        match self.peek().clone() {
            Token::Word(w)
                if is_path(&w) && !KEYWORDS.contains(&w.to_ascii_lowercase().as_str()) =>
            {
                self.pos += 1;
                Ok(w)
            }
            _ => Err(self.error("a field path such as `tenant` or `body.flavor`")),
        }
    }

    fn comparison(&mut self) -> Result<Expr, ParseError> {
        let path = self.path()?;
        if self.eat_word("in") {
            if !self.eat(&Token::LBracket) {
                return Err(self.error("`[` after `in`"));
            }
            // At least one value: an empty list would never match, which is
            // certainly not what was meant.
            let mut values = Vec::new();
            loop {
                values.push(self.literal()?);
                if self.eat(&Token::RBracket) {
                    break;
                }
                if !self.eat(&Token::Comma) {
                    return Err(self.error("`,` or `]`"));
                }
            }
            return Ok(Expr::Cond(Condition::In(path, values)));
        }
        let op = match self.peek() {
            Token::Op("=~") => {
                self.pos += 1;
                let at = self.offset();
                let Token::Str(pattern) = self.bump() else {
                    self.pos -= 1;
                    return Err(self.error("a quoted regular expression after `=~`"));
                };
                let regex = regex::Regex::new(&pattern).map_err(|e| {
                    // A syntax error prints on several lines (the pattern, a
                    // caret, the problem): keep the problem, so the message
                    // keeps its own caret under the input.
                    let message = e.to_string();
                    let problem = message.lines().last().unwrap_or_default();
                    let problem = problem.trim().trim_start_matches("error: ");
                    ParseError::new(
                        self.input,
                        at,
                        "a valid regular expression",
                        format!("{pattern:?}: {problem}"),
                    )
                })?;
                return Ok(Expr::Cond(Condition::Regex(path, super::Regex(regex))));
            }
            Token::Op("==") => CmpOp::Eq,
            Token::Op("!=") => CmpOp::Ne,
            Token::Op("<") => CmpOp::Lt,
            Token::Op("<=") => CmpOp::Le,
            Token::Op(">") => CmpOp::Gt,
            Token::Op(">=") => CmpOp::Ge,
            _ => {
                return Err(
                    self.error("a comparison after the field: ==, !=, <, <=, >, >=, =~ or in")
                );
            }
        };
        self.pos += 1;
        let value = self.literal()?;
        Ok(Expr::Cond(Condition::Compare(path, op, value)))
    }

    fn literal(&mut self) -> Result<Literal, ParseError> {
        let literal = match self.peek().clone() {
            Token::Str(s) => Literal::Str(s),
            Token::Word(w) => match w.to_ascii_lowercase().as_str() {
                "true" => Literal::Bool(true),
                "false" => Literal::Bool(false),
                "null" => Literal::Null,
                _ => {
                    if let Ok(i) = w.parse::<i64>() {
                        Literal::Int(i)
                    } else if let Some(f) = w.parse::<f64>().ok().filter(|f| f.is_finite()) {
                        Literal::Float(f)
                    } else {
                        return Err(
                            self.error("a value: a quoted string, a number, true, false or null")
                        );
                    }
                }
            },
            _ => return Err(self.error("a value: a quoted string, a number, true, false or null")),
        };
        self.pos += 1;
        Ok(literal)
    }
}

/// Whether `word` is usable as a field path in the string grammar (so that a
/// matcher built from a table prints as text that parses back).
pub(crate) fn is_field_path(word: &str) -> bool {
    is_path(word) && !KEYWORDS.contains(&word.to_ascii_lowercase().as_str())
}

fn is_path(word: &str) -> bool {
    !word.is_empty()
        && word.split('.').all(|segment| {
            !segment.is_empty()
                && segment
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == ':')
        })
        && !word.starts_with(|c: char| c.is_ascii_digit() || c == '-')
}
