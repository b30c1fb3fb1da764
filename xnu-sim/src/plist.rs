//! The subset of XML property lists an Info.plist uses: dict, array, string, integer, true, false.

/// A property-list value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    /// `<dict>`: keys in document order.
    Dict(Vec<(String, Value)>),
    /// `<array>`.
    Array(Vec<Value>),
    /// `<string>`, with the five XML entities decoded.
    String(String),
    /// `<integer>`.
    Integer(i64),
    /// `<true/>` or `<false/>`.
    Bool(bool),
}

impl Value {
    /// The value under `key` when `self` is a dictionary.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Dict(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The string, when `self` is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }
}

/// Parses the document's top-level value (inside `<plist>`).
pub fn parse(text: &str) -> Result<Value, String> {
    let mut parser = Parser { rest: text };
    loop {
        let tag = parser.next_tag()?;
        if tag.starts_with("plist") {
            break;
        }
    }
    parser.value()
}

struct Parser<'a> {
    rest: &'a str,
}

impl Parser<'_> {
    /// The next element tag's inside (`dict`, `/dict`, `true/`), skipping `<?..?>`, `<!..>` and text.
    fn next_tag(&mut self) -> Result<String, String> {
        loop {
            let start = self.rest.find('<').ok_or("unexpected end of plist")?;
            let end = self.rest[start..].find('>').ok_or("unterminated tag")? + start;
            let tag = self.rest[start + 1..end].trim().to_string();
            self.rest = &self.rest[end + 1..];
            if !tag.starts_with('?') && !tag.starts_with('!') {
                return Ok(tag);
            }
        }
    }

    fn text_until(&mut self, closing: &str) -> Result<String, String> {
        let end = self
            .rest
            .find(closing)
            .ok_or_else(|| format!("missing {closing}"))?;
        let raw = &self.rest[..end];
        self.rest = &self.rest[end + closing.len()..];
        Ok(raw
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&apos;", "'")
            .replace("&amp;", "&"))
    }

    fn value(&mut self) -> Result<Value, String> {
        let tag = self.next_tag()?;
        self.value_for(&tag)
    }

    fn value_for(&mut self, tag: &str) -> Result<Value, String> {
        match tag {
            "dict" => {
                let mut entries = Vec::new();
                loop {
                    match self.next_tag()?.as_str() {
                        "/dict" => return Ok(Value::Dict(entries)),
                        "key" => {
                            let key = self.text_until("</key>")?;
                            entries.push((key, self.value()?));
                        }
                        other => return Err(format!("<{other}> where a <key> belongs")),
                    }
                }
            }
            "dict/" => Ok(Value::Dict(Vec::new())),
            "array" => {
                let mut items = Vec::new();
                loop {
                    let tag = self.next_tag()?;
                    if tag == "/array" {
                        return Ok(Value::Array(items));
                    }
                    items.push(self.value_for(&tag)?);
                }
            }
            "array/" => Ok(Value::Array(Vec::new())),
            "string" => Ok(Value::String(self.text_until("</string>")?)),
            "string/" => Ok(Value::String(String::new())),
            "integer" => {
                let text = self.text_until("</integer>")?;
                let text = text.trim();
                let parsed = match text.strip_prefix("0x") {
                    Some(hex) => i64::from_str_radix(hex, 16),
                    None => text.parse(),
                };
                parsed
                    .map(Value::Integer)
                    .map_err(|e| format!("integer {text:?}: {e}"))
            }
            "true/" => Ok(Value::Bool(true)),
            "false/" => Ok(Value::Bool(false)),
            other => Err(format!("unsupported plist element <{other}>")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_nested_values() {
        let doc = r#"<?xml version="1.0"?><!DOCTYPE plist><plist version="1.0"><dict>
            <key>a</key><string>x &amp; y</string><key>n</key><integer>64</integer>
            <key>d</key><dict><key>t</key><true/><key>f</key><false/></dict>
            <key>l</key><array><integer>0x10</integer><string/></array></dict></plist>"#;
        let v = parse(doc).unwrap();
        assert_eq!(v.get("a").and_then(Value::as_str), Some("x & y"));
        assert_eq!(v.get("n"), Some(&Value::Integer(64)));
        assert_eq!(
            v.get("d").and_then(|d| d.get("f")),
            Some(&Value::Bool(false))
        );
        assert_eq!(
            v.get("l"),
            Some(&Value::Array(vec![
                Value::Integer(16),
                Value::String(String::new())
            ]))
        );
    }

    #[test]
    fn refuses_malformed_documents() {
        assert!(parse("<plist><dict><string>x</string></dict></plist>").is_err());
        assert!(parse("<plist><dict><key>a</key>").is_err());
        assert!(parse("<plist><date>2020</date></plist>").is_err());
    }
}
