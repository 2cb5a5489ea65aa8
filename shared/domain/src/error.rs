//! Errors as one line for a log or a terminal.

/// An error and its sources joined by `": "`, each said once: a source whose text the line
/// already holds is skipped (thiserror variants often quote their source in their own message,
/// so printing the whole chain would repeat it).
pub fn describe(error: &(dyn std::error::Error + 'static)) -> String {
    let mut line = String::new();
    let mut next = Some(error);
    while let Some(e) = next {
        let text = e.to_string();
        if !line.contains(&text) {
            if !line.is_empty() {
                line.push_str(": ");
            }
            line.push_str(&text);
        }
        next = e.source();
    }
    line
}

#[cfg(test)]
mod tests {
    use super::describe;

    #[derive(Debug)]
    struct Wrapper(std::io::Error);
    impl std::fmt::Display for Wrapper {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "model files: {}", self.0)
        }
    }
    impl std::error::Error for Wrapper {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn each_cause_is_said_once() {
        let e = Wrapper(std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"));
        assert_eq!(describe(&e), "model files: no such file");
    }
}
