//! Reading a `--plot` picture back (feature `testing`): the integration tests of both
//! binary crates parse the SVG with an XML parser and take the plotted points from its
//! `<metadata>`, and the texts drawn (captions, axis labels, legends) from its `<text>`s.

use std::path::Path;

use serde_json::Value;

use super::METADATA_ID;

/// A parsed `--plot` file.
#[derive(Debug)]
pub struct PlotFile {
    /// The figure as plotted: `title`, `subtitle`, `panels[]` with `title`, `x`,
    /// `y_label`, `series[]` (`name`, `kind`, `points`), `markers[]` (`name`, `at`).
    pub figure: Value,
    /// Every text drawn, trimmed, in document order.
    pub texts: Vec<String>,
}

impl PlotFile {
    /// Reads and parses `path`; panics with the reason when it is not an SVG picture.
    pub fn read(path: &Path) -> Self {
        let svg = std::fs::read_to_string(path)
            .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        Self::parse(&svg)
    }

    /// Parses SVG text; panics when it is not XML with an `<svg>` root and our metadata.
    pub fn parse(svg: &str) -> Self {
        let doc = roxmltree::Document::parse(svg).unwrap_or_else(|e| panic!("not XML: {e}"));
        assert!(doc.root_element().has_tag_name("svg"), "root is not <svg>");
        let meta = doc
            .descendants()
            .find(|n| n.has_tag_name("metadata") && n.attribute("id") == Some(METADATA_ID))
            .expect("a <metadata id=\"listenlab-plot\"> element");
        let figure = serde_json::from_str(meta.text().unwrap_or_default())
            .unwrap_or_else(|e| panic!("metadata is not JSON: {e}"));
        let texts = doc
            .descendants()
            .filter(|n| n.has_tag_name("text"))
            .filter_map(|n| n.text())
            .map(|t| t.trim().to_owned())
            .collect();
        Self { figure, texts }
    }

    /// The panel captioned `title` exactly, or the first whose caption starts with it.
    pub fn panel(&self, title: &str) -> &Value {
        let panels = self.figure["panels"].as_array().expect("panels");
        panels
            .iter()
            .find(|p| p["title"] == title)
            .or_else(|| {
                panels
                    .iter()
                    .find(|p| p["title"].as_str().is_some_and(|t| t.starts_with(title)))
            })
            .unwrap_or_else(|| panic!("no panel '{title}' in {:?}", self.titles()))
    }

    /// The captions of the panels.
    pub fn titles(&self) -> Vec<String> {
        self.figure["panels"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| p["title"].as_str().unwrap_or_default().to_owned())
            .collect()
    }

    /// The points of series `name` in `panel`: `[x, y]` pairs.
    pub fn points(panel: &Value, name: &str) -> Vec<[f64; 2]> {
        let series = panel["series"]
            .as_array()
            .and_then(|s| s.iter().find(|s| s["name"] == name))
            .unwrap_or_else(|| panic!("no series '{name}' in {panel}"));
        serde_json::from_value(series["points"].clone()).expect("points are [x, y] pairs")
    }

    /// The instants of marker row `name` in `panel`.
    pub fn markers(panel: &Value, name: &str) -> Vec<f64> {
        let row = panel["markers"]
            .as_array()
            .and_then(|m| m.iter().find(|m| m["name"] == name))
            .unwrap_or_else(|| panic!("no marker row '{name}' in {panel}"));
        serde_json::from_value(row["at"].clone()).expect("instants")
    }

    /// True when some drawn text is exactly `text`.
    pub fn has_text(&self, text: &str) -> bool {
        self.texts.iter().any(|t| t == text)
    }
}
