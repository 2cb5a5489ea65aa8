//! Labelled text in CSV files with a header row.

use crate::{AiError, Result};
use std::path::Path;

#[derive(Debug, Clone, Default)]
pub struct Dataset {
    pub texts: Vec<String>,
    /// Present when a label column was asked for.
    pub labels: Option<Vec<String>>,
}

impl Dataset {
    /// Reads `text_col` (and `label_col`, when given) from a CSV file with a header.
    pub fn from_csv(path: &Path, text_col: &str, label_col: Option<&str>) -> Result<Self> {
        let mut reader = csv::Reader::from_path(path)?;
        let headers = reader.headers()?.clone();
        let column = |name: &str| {
            headers.iter().position(|h| h.trim() == name).ok_or_else(|| {
                AiError::Data(format!(
                    "{}: no column '{name}' (columns: {})",
                    path.display(),
                    headers.iter().collect::<Vec<_>>().join(", ")
                ))
            })
        };
        let text_at = column(text_col)?;
        let label_at = label_col.map(column).transpose()?;
        let mut data = Dataset { texts: Vec::new(), labels: label_at.map(|_| Vec::new()) };
        for (line, record) in reader.records().enumerate() {
            let record = record?;
            let field = |at: usize| {
                record.get(at).map(str::to_string).ok_or_else(|| {
                    AiError::Data(format!("{}: row {} has no column {}", path.display(), line + 2, at + 1))
                })
            };
            data.texts.push(field(text_at)?);
            if let (Some(at), Some(labels)) = (label_at, data.labels.as_mut()) {
                labels.push(field(at)?.trim().to_string());
            }
        }
        Ok(data)
    }
}
