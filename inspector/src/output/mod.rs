//! What the CLI writes: text, JSON and Markdown renderings of the analysis.

pub mod reconstruct;
