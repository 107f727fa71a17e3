//! The service dependency graph: learned from client-side metrics (the
//! caller's `peer_service` label) and from configuration.

use std::collections::BTreeSet;

use serde::Serialize;

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Graph {
    /// (caller, callee)
    edges: BTreeSet<(String, String)>,
}

impl Graph {
    pub fn add(&mut self, caller: &str, callee: &str) {
        if caller != callee && !self.edges.contains(&(caller.to_owned(), callee.to_owned())) {
            self.edges.insert((caller.to_owned(), callee.to_owned()));
        }
    }

    pub fn callees<'a>(&'a self, service: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.edges
            .iter()
            .filter(move |(caller, _)| caller == service)
            .map(|(_, callee)| callee.as_str())
    }

    pub fn callers<'a>(&'a self, service: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.edges
            .iter()
            .filter(move |(_, callee)| callee == service)
            .map(|(caller, _)| caller.as_str())
    }

    pub fn calls(&self, caller: &str, callee: &str) -> bool {
        self.edges.contains(&(caller.to_owned(), callee.to_owned()))
    }

    /// Directly connected either way.
    pub fn adjacent(&self, a: &str, b: &str) -> bool {
        self.calls(a, b) || self.calls(b, a)
    }

    pub fn edges(&self) -> impl Iterator<Item = (&str, &str)> {
        self.edges.iter().map(|(a, b)| (a.as_str(), b.as_str()))
    }

    pub fn len(&self) -> usize {
        self.edges.len()
    }

    pub fn is_empty(&self) -> bool {
        self.edges.is_empty()
    }
}
