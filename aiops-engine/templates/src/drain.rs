//! Drain (He et al., ICWS 2017), streaming, with the semantics of drain3:
//! a fixed-depth prefix tree keyed by token count, then leading tokens
//! (values go down a `<*>` branch), then a similarity search among the few
//! templates in the leaf. Unlike drain3, a line joins a template only
//! where their words agree: values and dotted names may differ, words may
//! not (see [`crate::plain`] for which token is which). Bounded: templates
//! are evicted least recently seen first, exemplars and line length are
//! capped.

use std::hash::BuildHasher;
use std::sync::Arc;

use foldhash::fast::FixedState;
use hashbrown::HashMap;
use serde::{Deserialize, Serialize};

use crate::extract::Preprocessor;
use crate::id::TemplateId;
use crate::level::Level;
use crate::mask::MaskConfig;
use crate::plain::{Kind, Written, kind_of};

/// The wildcard that replaces the tokens where a template's lines differ.
pub const WILDCARD: &str = "<*>";

/// Hash maps keyed by text seen in logs: a fixed seed keeps iteration order,
/// and so every decision, the same from run to run.
pub(crate) type Map<K, V> = HashMap<K, V, FixedState>;

pub(crate) fn new_map<K, V>() -> Map<K, V> {
    HashMap::with_hasher(FixedState::with_seed(0x5eed_7e57_a1b2_c3d4))
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MinerConfig {
    /// Tree depth as drain3 counts it: root, token-count layer, `depth - 3`
    /// leading-token layers, leaf. At least 3.
    pub depth: usize,
    /// Share of a template's non-wildcard tokens a line must equal to join
    /// it; a differing word refuses the template whatever the share.
    pub sim_threshold: f64,
    /// Children per tree node before new tokens share the `<*>` branch.
    pub max_children: usize,
    /// Templates kept per miner; beyond it the least recently seen goes.
    pub max_templates: usize,
    /// Raw lines kept per template (the first ones).
    pub max_exemplars: usize,
    /// Bytes kept of each exemplar.
    pub max_exemplar_len: usize,
    /// Bytes of a line that are processed; the rest is cut off and counted.
    pub max_line_len: usize,
    /// Tokens of a line's mined text that are kept; the rest is cut off.
    pub max_tokens: usize,
    pub masks: MaskConfig,
}

impl Default for MinerConfig {
    fn default() -> Self {
        MinerConfig {
            depth: 4,
            sim_threshold: 0.4,
            max_children: 100,
            max_templates: 1000,
            max_exemplars: 3,
            max_exemplar_len: 512,
            max_line_len: 8192,
            max_tokens: 512,
            masks: MaskConfig::default(),
        }
    }
}

impl MinerConfig {
    fn token_layers(&self) -> usize {
        self.depth.max(3) - 3
    }
}

/// Counters a miner keeps about itself.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct MinerStats {
    pub lines: u64,
    /// Lines cut to `max_line_len` bytes or `max_tokens` tokens.
    pub truncated_lines: u64,
    pub templates_created: u64,
    pub templates_evicted: u64,
    /// Times a template gained a wildcard.
    pub generalisations: u64,
}

/// What mining one line found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Observation {
    pub template_id: TemplateId,
    pub template: Arc<str>,
    /// The line made a template that did not exist (or had been evicted).
    pub is_new: bool,
    /// The caller's level if given, else the line's, else `Unknown`.
    pub level: Level,
    /// Lines the template has matched, this one included.
    pub count: u64,
}

#[derive(Clone, Debug)]
pub(crate) struct Cluster {
    pub id: TemplateId,
    /// Tokens joined by single spaces; tokens never contain spaces.
    pub text: Arc<str>,
    /// Byte ranges of the tokens in `text`.
    pub spans: Vec<(u32, u32)>,
    /// Bit `i` set: token `i` (of the first 64) is a `key=value`; lets the
    /// match skip the other-field test for plain words.
    pub keyed: u64,
    /// Bit `i` set: token `i` (of the first 64) is a word, which a line
    /// must match exactly (see [`word_tokens`]).
    pub words: u64,
    /// The tree keys below the token-count node that lead to this template.
    pub path: Vec<Box<str>>,
    pub leaf: u32,
    pub count: u64,
    pub first_seen_ns: i64,
    pub last_seen_ns: i64,
    /// The miner's line sequence number when last matched: the LRU key.
    pub last_used: u64,
    /// The most severe level among its lines.
    pub level: Level,
    pub exemplars: Vec<Box<str>>,
}

/// Which of the first 64 tokens are words (see [`Cluster::words`]); past
/// 64, [`kind_of`] decides token by token.
pub(crate) fn word_tokens(text: &str, spans: &[(u32, u32)]) -> u64 {
    let mut mask = 0u64;
    for (i, &(s, e)) in spans.iter().take(64).enumerate() {
        if kind_of(&text.as_bytes()[s as usize..e as usize]) == Kind::Word {
            mask |= 1 << i;
        }
    }
    mask
}

/// Which of the first 64 tokens are `key=value` (see [`Cluster::keyed`]);
/// tokens past 64 are always tested.
pub(crate) fn keyed_tokens(text: &str, spans: &[(u32, u32)]) -> u64 {
    let mut mask = 0u64;
    for (i, &(s, e)) in spans.iter().enumerate() {
        if i >= 64 {
            mask |= 1 << 63;
            break;
        }
        if key_prefix(&text[s as usize..e as usize]).is_some() {
            mask |= 1 << i;
        }
    }
    mask
}

impl Cluster {
    /// Whether token `i` may be a `key=value`.
    #[inline]
    fn may_be_keyed(&self, i: usize) -> bool {
        self.keyed & (1 << i.min(63)) != 0
    }

    #[inline]
    fn token(&self, i: usize) -> &str {
        let (s, e) = self.spans[i];
        &self.text[s as usize..e as usize]
    }

    /// The token as bytes: no char-boundary checks in the matching loop.
    #[inline]
    fn token_bytes(&self, i: usize) -> &[u8] {
        let (s, e) = self.spans[i];
        &self.text.as_bytes()[s as usize..e as usize]
    }
}

#[derive(Debug, Default)]
struct Node {
    children: Map<Box<str>, u32>,
    clusters: Vec<u32>,
    /// Renewed whenever the node gains a child, or the templates in the
    /// leaf or their texts change: a [`Fit`] remembered under another
    /// version may be wrong. Versions are never reused, not even by the
    /// nodes of a rebuilt tree, which reuse the old nodes' numbers.
    version: u64,
}

/// A line, or a line's tokens, found to fit a template as it is: the same
/// line (the same tokens) finds the same template for as long as the nodes
/// on its way down the tree keep their children (children are only ever
/// added) and the leaf its templates, whatever other nodes do.
/// Remembering fits spares, for a line seen before, the tokenizer, the
/// tree walk and the leaf scan, and for a line that repeats a statement
/// with other values, the walk and the scan; together they are most lines.
#[derive(Clone, Copy, Debug)]
struct Fit {
    /// Ranges in [`Fits`]' buffers: the line or the tokens' text, the token
    /// spans (none for a line), and the nodes passed on the way down, the
    /// leaf last, with their versions.
    text: (u32, u32),
    spans: (u32, u32),
    path: (u32, u32),
    slot: u32,
    /// Of a line: the level it names and whether its tokens were cut.
    level: Option<Level>,
    cut: bool,
}

/// What is remembered: whole lines or their tokens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum By {
    Line,
    Tokens,
}

/// Remembered [`Fit`]s, their parts kept back to back in shared buffers
/// so that remembering one allocates nothing.
#[derive(Debug)]
struct Fits {
    /// By a hash of the text (and token count); a fit whose hash another
    /// took is simply not found.
    lines: Map<u64, Fit>,
    tokens: Map<u64, Fit>,
    /// Hashes of lines that fitted once: a line is remembered when it
    /// fits again, so that lines seen once, often most, cost no copy.
    once: Map<u64, ()>,
    text: String,
    spans: Vec<(u32, u32)>,
    path: Vec<(u32, u64)>,
    /// Off only in tests, which compare mining with and without.
    enabled: bool,
}

/// Fits remembered at most, and bytes of their text; past either they are
/// forgotten all at once (a bound, not an eviction policy: forgetting only
/// costs time).
const MAX_FITS: usize = 2048;
const MAX_FIT_BYTES: usize = 256 << 10;
const FIT_BYTES_AT_FIRST: usize = 16 << 10;

#[inline]
fn range((s, e): (u32, u32)) -> std::ops::Range<usize> {
    s as usize..e as usize
}

impl Fits {
    fn new() -> Fits {
        Fits {
            lines: new_map(),
            tokens: new_map(),
            once: new_map(),
            text: String::new(),
            spans: Vec::new(),
            path: Vec::new(),
            enabled: true,
        }
    }

    fn map(&self, by: By) -> &Map<u64, Fit> {
        match by {
            By::Line => &self.lines,
            By::Tokens => &self.tokens,
        }
    }

    fn key(&self, text: &str, spans: &[(u32, u32)]) -> u64 {
        self.lines.hasher().hash_one((text, spans.len()))
    }

    /// The fit remembered for this text and spans.
    fn get(&self, by: By, key: u64, text: &str, spans: &[(u32, u32)]) -> Option<&Fit> {
        if !self.enabled {
            return None;
        }
        let fit = self.map(by).get(&key)?;
        let same = self.text.get(range(fit.text)) == Some(text)
            && self.spans.get(range(fit.spans)) == Some(spans);
        same.then_some(fit)
    }

    /// Whether a line with this hash fitted before; notes that it did.
    fn fitted_before(&mut self, key: u64) -> bool {
        if self.once.len() >= MAX_FITS {
            self.once.clear();
        }
        self.once.insert(key, ()).is_some()
    }

    fn path(&self, fit: &Fit) -> &[(u32, u64)] {
        self.path.get(range(fit.path)).unwrap_or_default()
    }

    /// Remembers a fit; `fit`'s ranges are filled in here.
    fn insert(
        &mut self,
        (by, key): (By, u64),
        (text, spans): (&str, &[(u32, u32)]),
        path: &[(u32, u64)],
        mut fit: Fit,
    ) {
        let full = self.lines.len().max(self.tokens.len()) >= MAX_FITS
            || self.spans.len() + spans.len() > MAX_FIT_BYTES / 8;
        if full || self.text.len() + text.len() > MAX_FIT_BYTES {
            self.lines.clear();
            self.tokens.clear();
            self.text.clear();
            self.spans.clear();
            self.path.clear();
        }
        if self.text.capacity() == 0 {
            // past the doublings from a few bytes at once: they cost
            // copies and page faults early in every miner's life
            self.text.reserve(FIT_BYTES_AT_FIRST);
            self.spans.reserve(FIT_BYTES_AT_FIRST / 64);
            self.path.reserve(FIT_BYTES_AT_FIRST / 256);
        }
        // the bounds above keep every offset far below 4 GiB
        let at = self.text.len() as u32;
        self.text.push_str(text);
        fit.text = (at, self.text.len() as u32);
        let at = self.spans.len() as u32;
        self.spans.extend_from_slice(spans);
        fit.spans = (at, self.spans.len() as u32);
        let at = self.path.len() as u32;
        self.path.extend_from_slice(path);
        fit.path = (at, self.path.len() as u32);
        match by {
            By::Line => self.lines.insert(key, fit),
            By::Tokens => self.tokens.insert(key, fit),
        };
    }
}

/// A read-only view of one template.
#[derive(Clone, Copy, Debug)]
pub struct TemplateInfo<'a> {
    pub id: TemplateId,
    pub template: &'a Arc<str>,
    pub count: u64,
    pub level: Level,
    pub first_seen_ns: i64,
    pub last_seen_ns: i64,
    pub exemplars: &'a [Box<str>],
}

/// A line being mined, as it is remembered when it fits.
#[derive(Clone, Copy)]
struct Seen<'a> {
    line: &'a str,
    key: u64,
    /// The level the line names.
    level: Option<Level>,
    /// Its tokens were cut to `max_tokens`.
    cut: bool,
}

/// A line's tokens as mined: the text, the tokens' ranges in it and, for
/// a plain line, the kinds the tokenizer gave them.
#[derive(Clone, Copy)]
struct LineTokens<'a> {
    content: &'a str,
    spans: &'a [(u32, u32)],
    kinds: Option<&'a [Written]>,
}

impl<'a> LineTokens<'a> {
    #[inline]
    fn tok(&self, i: usize) -> &'a str {
        let (s, e) = self.spans[i];
        &self.content[s as usize..e as usize]
    }

    /// Whether token `i` is a word; the tokenizer's kinds, where it gave
    /// them, spare a second look at the token's bytes.
    #[inline]
    fn is_word(&self, i: usize) -> bool {
        match self.kinds {
            Some(k) => k[i].drain_kind() == Kind::Word,
            None => kind_of(self.tok(i).as_bytes()) == Kind::Word,
        }
    }
}

/// Per-line buffers, reused.
#[derive(Debug, Default)]
struct Scratch {
    pre: Preprocessor,
    content: String,
    spans: Vec<(u32, u32)>,
}

/// One service's template miner.
#[derive(Debug)]
pub struct Miner {
    pub(crate) service: Arc<str>,
    pub(crate) cfg: MinerConfig,
    nodes: Vec<Node>,
    /// Token count to the node for lines of that many tokens.
    roots: Map<u32, u32>,
    pub(crate) clusters: Vec<Option<Cluster>>,
    free: Vec<u32>,
    by_id: Map<TemplateId, u32>,
    pub(crate) seq: u64,
    pub(crate) stats: MinerStats,
    /// The last node version given out (see [`Node::version`]).
    versions: u64,
    fits: Fits,
    /// The path of the line being mined, reused.
    walked: Vec<(u32, u64)>,
    /// Boxed so that taking it out for a line moves a pointer, not the
    /// buffers' headers (a few hundred bytes, twice per line).
    scratch: Option<Box<Scratch>>,
}

impl Miner {
    pub fn new(service: &str, cfg: MinerConfig) -> Miner {
        Miner {
            service: Arc::from(service),
            cfg,
            nodes: Vec::new(),
            roots: new_map(),
            clusters: Vec::new(),
            free: Vec::new(),
            by_id: new_map(),
            seq: 0,
            stats: MinerStats::default(),
            versions: 0,
            fits: Fits::new(),
            walked: Vec::new(),
            scratch: None,
        }
    }

    pub fn service(&self) -> &str {
        &self.service
    }

    pub fn config(&self) -> &MinerConfig {
        &self.cfg
    }

    pub fn stats(&self) -> &MinerStats {
        &self.stats
    }

    /// Live templates.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    pub fn get(&self, id: TemplateId) -> Option<TemplateInfo<'_>> {
        let slot = *self.by_id.get(&id)?;
        self.clusters[slot as usize].as_ref().map(info)
    }

    /// Live templates, in no particular order.
    pub fn templates(&self) -> impl Iterator<Item = TemplateInfo<'_>> {
        self.clusters.iter().flatten().map(info)
    }

    /// Mines one line seen at `ts_ns`. `level`, when the caller knows it
    /// (Loki structured metadata or labels), wins over the line's own.
    pub fn observe(&mut self, ts_ns: i64, level: Option<Level>, line: &str) -> Observation {
        self.stats.lines += 1;
        self.seq += 1;
        let long = line.len() > self.cfg.max_line_len;
        let line = if long {
            cut(line, self.cfg.max_line_len)
        } else {
            line
        };
        let line_key = self.fits.key(line, &[]);
        if let Some(fit) = self.remembered(By::Line, line_key, line, &[]) {
            if long || fit.cut {
                self.stats.truncated_lines += 1;
            }
            let level = level.or(fit.level).unwrap_or_default();
            return self.count_in(fit.slot, false, ts_ns, level, line);
        }
        // The buffers leave `self` for the call so that tokens (slices of
        // them) and the tree can be used together; taking them is free.
        let mut scratch = self.scratch.take().unwrap_or_default();
        let (found, _) = scratch.pre.content_tokens(
            line,
            &self.cfg.masks,
            &mut scratch.content,
            &mut scratch.spans,
        );
        let cut_tokens = scratch.spans.len() > self.cfg.max_tokens;
        if cut_tokens {
            let end = match self.cfg.max_tokens.checked_sub(1) {
                Some(last) => scratch.spans[last].1 as usize,
                None => 0,
            };
            scratch.spans.truncate(self.cfg.max_tokens);
            scratch.content.truncate(end);
        }
        if long || cut_tokens {
            self.stats.truncated_lines += 1;
        }
        let kinds = scratch.pre.token_kinds();
        let kinds = (kinds.len() >= scratch.spans.len() && !kinds.is_empty())
            .then(|| &kinds[..scratch.spans.len()]);
        let seen = Seen {
            line,
            key: line_key,
            level: found,
            cut: cut_tokens,
        };
        let level = level.or(found).unwrap_or_default();
        let tokens = LineTokens {
            content: &scratch.content,
            spans: &scratch.spans,
            kinds,
        };
        let obs = self.mine(ts_ns, level, seen, tokens);
        self.scratch = Some(scratch);
        obs
    }

    fn mine(
        &mut self,
        ts_ns: i64,
        level: Level,
        seen: Seen<'_>,
        tokens: LineTokens<'_>,
    ) -> Observation {
        let tok = |i: usize| tokens.tok(i);
        let is_word = |i: usize| tokens.is_word(i);
        let (content, spans) = (tokens.content, tokens.spans);
        let found = self.find(seen, tokens);
        let slot = match found {
            Some((slot, true)) => slot,
            Some((slot, false)) => {
                self.update(slot, spans.len(), tok);
                slot
            }
            None => {
                let plain = tokens.kinds.is_some();
                self.create(ts_ns, (content, spans), tok, is_word, plain)
            }
        };
        self.count_in(slot, found.is_none(), ts_ns, level, seen.line)
    }

    /// drain3's tree search and fast match, or what they found before for
    /// the same tokens; remembers what fits as it is.
    fn find(&mut self, seen: Seen<'_>, tokens: LineTokens<'_>) -> Option<(u32, bool)> {
        let tok = |i: usize| tokens.tok(i);
        let is_word = |i: usize| tokens.is_word(i);
        let (content, spans) = (tokens.content, tokens.spans);
        let key = self.fits.key(content, spans);
        let mut walked = std::mem::take(&mut self.walked);
        let found = match self.remembered(By::Tokens, key, content, spans) {
            Some(fit) => {
                walked.clear();
                walked.extend_from_slice(self.fits.path(&fit));
                Some((fit.slot, true))
            }
            None => {
                let found = self
                    .search_leaf(spans.len(), tok, is_word, &mut walked)
                    .and_then(|leaf| self.best_match(leaf, spans.len(), tok, is_word));
                if let Some((slot, true)) = found {
                    let fit = self.fit(slot, None, false);
                    self.fits
                        .insert((By::Tokens, key), (content, spans), &walked, fit);
                }
                found
            }
        };
        // a line is remembered once it fits a second time: most lines that
        // fit once never come again
        if let Some((slot, true)) = found
            && self.fits.fitted_before(seen.key)
        {
            let fit = self.fit(slot, seen.level, seen.cut);
            self.fits
                .insert((By::Line, seen.key), (seen.line, &[]), &walked, fit);
        }
        self.walked = walked;
        found
    }

    /// A fit to remember, its ranges yet to be filled in.
    fn fit(&self, slot: u32, level: Option<Level>, cut: bool) -> Fit {
        Fit {
            text: (0, 0),
            spans: (0, 0),
            path: (0, 0),
            slot,
            level,
            cut,
        }
    }

    /// Counts a line in the template in `slot`.
    fn count_in(
        &mut self,
        slot: u32,
        is_new: bool,
        ts_ns: i64,
        level: Level,
        line: &str,
    ) -> Observation {
        let seq = self.seq;
        let max_ex = self.cfg.max_exemplars;
        let max_ex_len = self.cfg.max_exemplar_len;
        let Some(c) = self
            .clusters
            .get_mut(slot as usize)
            .and_then(Option::as_mut)
        else {
            // Cannot happen: a slot just found or made is live. Answer
            // something harmless rather than panic in the ingest path.
            return Observation {
                template_id: TemplateId(0),
                template: Arc::from(""),
                is_new: false,
                level,
                count: 0,
            };
        };
        c.count += 1;
        c.last_seen_ns = c.last_seen_ns.max(ts_ns);
        c.first_seen_ns = c.first_seen_ns.min(ts_ns);
        c.last_used = seq;
        c.level = c.level.max(level);
        if c.exemplars.len() < max_ex {
            c.exemplars.push(Box::from(cut(line, max_ex_len)));
        }
        Observation {
            template_id: c.id,
            template: Arc::clone(&c.text),
            is_new,
            level,
            count: c.count,
        }
    }

    /// The fit remembered for this line or these tokens, if nothing that
    /// decided it has changed since.
    fn remembered(&self, by: By, key: u64, text: &str, spans: &[(u32, u32)]) -> Option<Fit> {
        let fit = self.fits.get(by, key, text, spans)?;
        let path = self.fits.path(fit);
        let current = !path.is_empty()
            && path.iter().all(|&(node, version)| {
                self.nodes
                    .get(node as usize)
                    .is_some_and(|n| n.version == version)
            });
        current.then_some(*fit)
    }

    /// Marks a node changed (see [`Fit`]).
    fn touch(&mut self, node: u32) {
        self.versions += 1;
        if let Some(n) = self.nodes.get_mut(node as usize) {
            n.version = self.versions;
        }
    }

    /// drain3's tree_search: follow the token, else `<*>`, else give up.
    /// `walked` gets the nodes passed, the leaf last, with their versions.
    fn search_leaf<'t>(
        &self,
        n: usize,
        tok: impl Fn(usize) -> &'t str,
        is_word: impl Fn(usize) -> bool,
        walked: &mut Vec<(u32, u64)>,
    ) -> Option<u32> {
        walked.clear();
        let mut node = *self.roots.get(&(n as u32))?;
        walked.push((node, self.nodes[node as usize].version));
        for d in 0..self.cfg.token_layers().min(n) {
            let children = &self.nodes[node as usize].children;
            let key = tree_key_of(tok(d), is_word(d));
            node = match children.get(key) {
                Some(&c) => c,
                None => *children.get(WILDCARD)?,
            };
            walked.push((node, self.nodes[node as usize].version));
        }
        Some(node)
    }

    /// drain3's fast_match: the most similar template in the leaf, ties to
    /// the one with more wildcards, if similar enough.
    /// Also says whether the line fits the template as it is.
    fn best_match<'t>(
        &self,
        leaf: u32,
        n: usize,
        tok: impl Fn(usize) -> &'t str,
        is_word: impl Fn(usize) -> bool,
    ) -> Option<(u32, bool)> {
        let mut best: Option<(u32, usize, usize)> = None;
        // which of the line's tokens are words, looked at only where a
        // template differs, and once
        let mut looked = 0u64;
        let mut line_words = 0u64;
        for &slot in &self.nodes[leaf as usize].clusters {
            let Some(c) = self.clusters[slot as usize].as_ref() else {
                continue;
            };
            if c.spans.len() != n {
                continue;
            }
            let mut same = 0;
            let mut params = 0;
            let mut refused = false;
            for i in 0..n {
                match matches(c.token_bytes(i), tok(i).as_bytes()) {
                    Match::Param => params += 1,
                    Match::Same => same += 1,
                    Match::Differs => {
                        // `a=1` against `b=1`: another field, so another
                        // statement, however similar the rest; `a=1`
                        // against `a=2`: the same field
                        if c.may_be_keyed(i)
                            && let (Some(a), Some(b)) = (key_prefix(c.token(i)), key_prefix(tok(i)))
                        {
                            if a != b {
                                refused = true;
                                break;
                            }
                            continue;
                        }
                        // a word is the statement's own text: where one
                        // differs, so does the statement; values and
                        // dotted names may differ
                        let word = if i < 64 {
                            let bit = 1u64 << i;
                            if looked & bit == 0 {
                                looked |= bit;
                                if is_word(i) {
                                    line_words |= bit;
                                }
                            }
                            (c.words | line_words) & bit != 0
                        } else {
                            kind_of(c.token_bytes(i)) == Kind::Word || is_word(i)
                        };
                        if word {
                            refused = true;
                            break;
                        }
                    }
                }
            }
            if refused {
                continue;
            }
            if best.is_none_or(|(_, bs, bp)| same > bs || (same == bs && params > bp)) {
                best = Some((slot, same, params));
            }
        }
        let (slot, same, params) = best?;
        // the share of the template's own text the line has: its
        // wildcards say nothing either way
        let constants = n - params;
        let sim = if constants == 0 {
            1.0
        } else {
            same as f64 / constants as f64
        };
        (sim >= self.cfg.sim_threshold).then_some((slot, same + params == n))
    }

    /// Replaces the tokens where the line differs by `<*>`; the id stays.
    fn update<'t>(&mut self, slot: u32, n: usize, tok: impl Fn(usize) -> &'t str) {
        let Some(c) = self.clusters[slot as usize].as_mut() else {
            return;
        };
        let differs =
            (0..n).any(|i| matches(c.token_bytes(i), tok(i).as_bytes()) == Match::Differs);
        if !differs {
            return;
        }
        let mut text = String::with_capacity(c.text.len());
        let mut spans = Vec::with_capacity(n);
        for i in 0..n {
            if i > 0 {
                text.push(' ');
            }
            let t = c.token(i);
            let s = text.len() as u32;
            if matches(t.as_bytes(), tok(i).as_bytes()) == Match::Differs {
                // `key=a` and `key=b` become `key=<*>`: the field's name
                // still says what varies.
                match (key_prefix(t), key_prefix(tok(i))) {
                    (Some(a), Some(b)) if a == b => {
                        text.push_str(a);
                        text.push_str(WILDCARD);
                    }
                    _ => text.push_str(WILDCARD),
                }
            } else {
                text.push_str(t);
            }
            spans.push((s, text.len() as u32));
        }
        c.keyed = keyed_tokens(&text, &spans);
        c.words = word_tokens(&text, &spans);
        c.text = Arc::from(text);
        c.spans = spans;
        let leaf = c.leaf;
        self.touch(leaf);
        self.stats.generalisations += 1;
    }

    fn create<'t>(
        &mut self,
        ts_ns: i64,
        (content, spans): (&str, &[(u32, u32)]),
        tok: impl Fn(usize) -> &'t str,
        is_word: impl Fn(usize) -> bool,
        plain: bool,
    ) -> u32 {
        if self.by_id.len() >= self.cfg.max_templates.max(1) {
            self.evict_lru();
        }
        if self.nodes.len() > self.node_budget() {
            self.rebuild_tree();
        }
        let path = self.choose_path(spans.len(), tok, &is_word);
        let text: Arc<str> = Arc::from(content);
        let mut salt = 0;
        let id = loop {
            let id = TemplateId::derive(&self.service, &text, salt);
            if !self.by_id.contains_key(&id) {
                break id;
            }
            salt += 1;
        };
        let cluster = Cluster {
            id,
            text,
            spans: spans.to_vec(),
            keyed: if plain {
                // a plain line is split at `=`: none of its tokens is a
                // `key=value`
                debug_assert_eq!(keyed_tokens(content, spans) & !(1 << 63), 0);
                u64::from(spans.len() > 64) << 63
            } else {
                keyed_tokens(content, spans)
            },
            // the line's own kinds: the template is the line
            words: (0..spans.len().min(64))
                .filter(|&i| is_word(i))
                .fold(0, |m, i| m | 1 << i),
            path,
            leaf: 0,
            count: 0,
            first_seen_ns: ts_ns,
            last_seen_ns: ts_ns,
            last_used: self.seq,
            level: Level::Unknown,
            exemplars: Vec::new(),
        };
        self.stats.templates_created += 1;
        self.insert(cluster)
    }

    /// Puts a cluster in a slot and in the tree along its recorded path.
    pub(crate) fn insert(&mut self, mut cluster: Cluster) -> u32 {
        let slot = match self.free.pop() {
            Some(s) => s,
            None => {
                self.clusters.push(None);
                (self.clusters.len() - 1) as u32
            }
        };
        let n = cluster.spans.len() as u32;
        let mut node = match self.roots.get(&n) {
            Some(&r) => r,
            None => {
                let r = self.new_node();
                self.roots.insert(n, r);
                r
            }
        };
        for key in &cluster.path {
            node = match self.nodes[node as usize].children.get(key.as_ref()) {
                Some(&c) => c,
                None => {
                    let c = self.new_node();
                    self.nodes[node as usize].children.insert(key.clone(), c);
                    self.touch(node);
                    c
                }
            };
        }
        self.nodes[node as usize].clusters.push(slot);
        self.touch(node);
        cluster.leaf = node;
        self.by_id.insert(cluster.id, slot);
        self.clusters[slot as usize] = Some(cluster);
        slot
    }

    fn new_node(&mut self) -> u32 {
        self.versions += 1;
        self.nodes.push(Node {
            version: self.versions,
            ..Node::default()
        });
        (self.nodes.len() - 1) as u32
    }

    /// drain3's add_seq_to_prefix_tree, deciding the keys only: the token
    /// itself while the node has room, `<*>` for values (see [`tree_key_of`])
    /// and once the node is full.
    fn choose_path<'t>(
        &self,
        n: usize,
        tok: impl Fn(usize) -> &'t str,
        is_word: impl Fn(usize) -> bool,
    ) -> Vec<Box<str>> {
        let layers = self.cfg.token_layers().min(n);
        let mut path: Vec<Box<str>> = Vec::with_capacity(layers);
        let mut node = self.roots.get(&(n as u32)).copied();
        for d in 0..layers {
            let t = tok(d);
            let children = node.map(|n| &self.nodes[n as usize].children);
            let len = children.map_or(0, |c| c.len());
            let has = |k: &str| children.is_some_and(|c| c.contains_key(k));
            let key: &str = if tree_key_of(t, is_word(d)) == WILDCARD {
                WILDCARD
            } else if has(t) {
                t
            } else if has(WILDCARD) {
                if len < self.cfg.max_children {
                    t
                } else {
                    WILDCARD
                }
            } else if len + 1 < self.cfg.max_children {
                t
            } else {
                WILDCARD
            };
            path.push(Box::from(key));
            node = node.and_then(|n| self.nodes[n as usize].children.get(key).copied());
        }
        path
    }

    fn evict_lru(&mut self) {
        let victim = self
            .clusters
            .iter()
            .enumerate()
            .filter_map(|(i, c)| c.as_ref().map(|c| (c.last_used, i)))
            .min();
        let Some((_, slot)) = victim else { return };
        if let Some(c) = self.clusters[slot].take() {
            self.nodes[c.leaf as usize]
                .clusters
                .retain(|&s| s as usize != slot);
            self.touch(c.leaf);
            self.by_id.remove(&c.id);
            self.free.push(slot as u32);
            self.stats.templates_evicted += 1;
        }
    }

    /// Eviction leaves tree nodes without templates behind; past this many
    /// nodes the tree is rebuilt from the live templates.
    fn node_budget(&self) -> usize {
        (self.cfg.token_layers() + 1) * self.cfg.max_templates.max(1) * 2 + 64
    }

    /// Rebuilds the tree from live templates, leaf by leaf in the old order,
    /// so that ties between equally similar templates break the same way.
    pub(crate) fn rebuild_tree(&mut self) {
        let order = self.leaf_order();
        let mut clusters = std::mem::take(&mut self.clusters);
        self.nodes.clear();
        self.roots.clear();
        self.free.clear();
        self.by_id.clear();
        for slot in order {
            if let Some(c) = clusters[slot as usize].take() {
                self.insert(c);
            }
        }
    }

    /// Live slots, grouped by leaf, each leaf in its match order.
    pub(crate) fn leaf_order(&self) -> Vec<u32> {
        self.nodes
            .iter()
            .flat_map(|n| n.clusters.iter().copied())
            .collect()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Match {
    Same,
    /// A wildcard, or a `key=<*>` with the same key.
    Param,
    Differs,
}

/// How a template token compares with a line's token.
#[inline]
fn matches(template: &[u8], token: &[u8]) -> Match {
    if template == token {
        return Match::Same;
    }
    if template == WILDCARD.as_bytes() {
        return Match::Param;
    }
    if let Some(key) = template.strip_suffix(WILDCARD.as_bytes())
        && key.ends_with(b"=")
        && token.starts_with(key)
    {
        return Match::Param;
    }
    Match::Differs
}

/// The branch a token takes in the tree: its own for a word (`is_word`:
/// [`kind_of`] says so), `<*>` for a value (a mask, a dotted name,
/// anything with a digit), so that lines starting with different values
/// meet in one leaf. An empty token (the value of a bare `x =`) is no
/// word: a branch must have a name, or a snapshot could not be restored.
#[inline]
fn tree_key_of(token: &str, is_word: bool) -> &str {
    if !is_word || token.is_empty() || token.bytes().any(|b| b.is_ascii_digit()) {
        WILDCARD
    } else {
        token
    }
}

/// `key=` of a `key=value` token, if it is one.
fn key_prefix(token: &str) -> Option<&str> {
    // tokens are short: a loop beats a call to memchr
    let eq = token.bytes().position(|c| c == b'=')?;
    (eq > 0).then(|| &token[..=eq])
}

fn info(c: &Cluster) -> TemplateInfo<'_> {
    TemplateInfo {
        id: c.id,
        template: &c.text,
        count: c.count,
        level: c.level,
        first_seen_ns: c.first_seen_ns,
        last_seen_ns: c.last_seen_ns,
        exemplars: &c.exemplars,
    }
}

/// The longest prefix of `s` of at most `max` bytes that ends on a char boundary.
pub(crate) fn cut(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn miner() -> Miner {
        Miner::new("svc", MinerConfig::default())
    }

    #[test]
    fn variables_join_one_template() {
        let mut m = miner();
        let a = m.observe(1, None, "user 12 logged in from 10.0.0.1 session sess-1234");
        let b = m.observe(
            2,
            None,
            "user 4711 logged in from 192.168.1.20 session sess-99a8",
        );
        assert!(a.is_new);
        assert!(!b.is_new);
        assert_eq!(a.template_id, b.template_id);
        assert_eq!(&*b.template, "user <NUM> logged in from <IP> session <ID>");
        assert_eq!(b.count, 2);
        assert_eq!(m.len(), 1);
    }

    #[test]
    fn different_statements_differ() {
        let mut m = miner();
        let a = m.observe(1, None, "connection opened to database");
        let b = m.observe(2, None, "cache miss for key");
        let c = m.observe(3, None, "connection closed by peer after 12ms");
        let d = m.observe(4, None, "disk full on volume");
        let ids = [a.template_id, b.template_id, c.template_id, d.template_id];
        for i in 0..ids.len() {
            for j in i + 1..ids.len() {
                assert_ne!(ids[i], ids[j], "{i} {j}");
            }
        }
        assert!(a.is_new && b.is_new && c.is_new && d.is_new);
    }

    #[test]
    fn generalisation_keeps_the_id() {
        let mut m = miner();
        let a = m.observe(1, None, "connected to db.alpha.internal on port eth");
        let b = m.observe(2, None, "connected to db.beta.internal on port eth");
        assert_eq!(a.template_id, b.template_id);
        assert!(!b.is_new);
        assert_eq!(&*b.template, "connected to <*> on port eth");
        assert_eq!(
            a.template_id,
            TemplateId::derive("svc", "connected to db.alpha.internal on port eth", 0)
        );
        assert_eq!(m.stats().generalisations, 1);
        let c = m.observe(3, None, "connected to db.gamma.internal on port eth");
        assert_eq!(c.template_id, a.template_id);
        assert_eq!(m.stats().generalisations, 1);
    }

    /// A word is the statement's own text: lines that differ in one are
    /// other statements, however alike the rest (drain3 would merge
    /// `resumed` and `paused` here).
    #[test]
    fn a_differing_word_is_another_statement() {
        let mut m = miner();
        let a = m.observe(1, None, "vm 5 resumed after 12 ms on host hv-01.example");
        let b = m.observe(2, None, "vm 6 paused after 80 ms on host hv-02.example");
        assert_ne!(a.template_id, b.template_id);
        assert_eq!(&*a.template, "vm <NUM> resumed after <NUM> on host <ID>");
        let c = m.observe(3, None, "vm 7 resumed after 3 ms on host hv-03.example");
        assert_eq!(c.template_id, a.template_id);
    }

    #[test]
    fn field_values_generalise_under_their_key() {
        let mut m = miner();
        let a = m.observe(
            1,
            None,
            r#"{"message":"charge created","fields":{"brand":"visa","amount":5}}"#,
        );
        let b = m.observe(
            2,
            None,
            r#"{"message":"charge created","fields":{"brand":"amex","amount":7}}"#,
        );
        assert_eq!(a.template_id, b.template_id);
        assert_eq!(&*b.template, "charge created amount=<NUM> brand=<*>");
        // Other fields are another statement, however similar the rest.
        let c = m.observe(
            3,
            None,
            r#"{"message":"charge created","fields":{"bank":"x","amount":7}}"#,
        );
        assert_ne!(c.template_id, a.template_id);
        assert_eq!(&*c.template, "charge created amount=<NUM> bank=x");
        // A free-text value is one token: its wording may vary.
        let e1 = m.observe(
            5,
            None,
            r#"{"message":"charge failed","fields":{"error":"card declined"}}"#,
        );
        let e2 = m.observe(
            6,
            None,
            r#"{"message":"charge failed","fields":{"error":"the bank did not answer in time"}}"#,
        );
        assert_eq!(e1.template_id, e2.template_id);
        assert_eq!(&*e2.template, "charge failed error=<*>");
        let d = m.observe(
            4,
            None,
            r#"{"message":"charge created","fields":{"reason":"x","amount":7,"extra":1}}"#,
        );
        assert_ne!(d.template_id, a.template_id);
    }

    #[test]
    fn first_token_with_digits_goes_to_wildcard_branch() {
        let mut m = miner();
        let a = m.observe(1, None, "worker-17 joined the ring");
        let b = m.observe(2, None, "worker-18 joined the ring");
        assert_eq!(a.template_id, b.template_id);
        assert_eq!(&*b.template, "<ID> joined the ring");
    }

    fn corpus() -> Vec<String> {
        let mut lines = Vec::new();
        for i in 0..300 {
            lines.push(match i % 6 {
                0 => format!("user {i} logged in from 10.0.0.{}", i % 250),
                1 => format!("cache {} for key k{i}x", if i % 4 == 1 { "hit" } else { "miss" }),
                2 => format!("worker {} finished job in {}ms", ["alpha", "beta", "gamma"][i % 3], i * 3),
                3 => format!("request {} failed with status {}", i, 500 + i % 4),
                4 => format!("{{\"level\":\"warn\",\"message\":\"slow query\",\"fields\":{{\"ms\":{i},\"table\":\"t{}\"}}}}", i % 3),
                _ => format!("shutting down shard {} of {}", i % 7, ["east", "west"][i % 2]),
            });
        }
        lines
    }

    fn run(m: &mut Miner, lines: &[String], t0: i64) -> Vec<(TemplateId, bool)> {
        lines
            .iter()
            .enumerate()
            .map(|(i, l)| {
                let o = m.observe(t0 + i as i64, None, l);
                (o.template_id, o.is_new)
            })
            .collect()
    }

    #[test]
    fn same_lines_same_ids_twice() {
        let lines = corpus();
        let first = run(&mut miner(), &lines, 0);
        let second = run(&mut miner(), &lines, 0);
        assert_eq!(first, second);
        assert!(first.iter().filter(|(_, new)| *new).count() >= 6);
    }

    #[test]
    fn snapshot_restore_continues_with_the_same_ids() {
        let lines = corpus();
        let (head, tail) = lines.split_at(150);
        let mut straight = miner();
        run(&mut straight, head, 0);
        let expected = run(&mut straight, tail, 1000);

        let mut before = miner();
        run(&mut before, head, 0);
        let json = serde_json::to_string(&before.snapshot()).unwrap();
        let snap: crate::MinerSnapshot = serde_json::from_str(&json).unwrap();
        let mut after = Miner::restore(snap).unwrap();
        assert_eq!(after.len(), before.len());
        assert_eq!(after.stats(), before.stats());
        let got = run(&mut after, tail, 1000);
        assert_eq!(got, expected);
        assert_eq!(after.snapshot(), straight.snapshot());
    }

    #[test]
    fn restore_refuses_bad_snapshots() {
        let mut m = miner();
        m.observe(1, None, "hello world");
        let mut snap = m.snapshot();
        snap.version = 99;
        assert!(matches!(
            Miner::restore(snap),
            Err(crate::RestoreError::Version(99))
        ));
        let mut snap = m.snapshot();
        let t = snap.templates[0].clone();
        snap.templates.push(t);
        let err = Miner::restore(snap).unwrap_err();
        assert!(err.to_string().contains("twice"), "{err}");
        let mut snap = m.snapshot();
        snap.templates[0].path.push("extra".into());
        assert!(matches!(
            Miner::restore(snap),
            Err(crate::RestoreError::BadPath(_))
        ));
    }

    /// Lines of a few statements with varying values, repeated lines,
    /// words that generalise, JSON lines and overlong lines.
    fn varied_corpus(n: usize) -> Vec<String> {
        let mut lines = Vec::new();
        let mut x = 7u64;
        for i in 0..n {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let r = (x >> 33) as usize;
            // a word of its own, so that its lines take a branch of their own
            let word: String = [r % 26, r / 26 % 26, r / 676 % 26]
                .iter()
                .map(|&l| char::from(b'a' + l as u8))
                .collect();
            lines.push(match r % 12 {
                0 => format!("user {} logged in from 10.0.{}.{}", r % 50, r % 3, r % 7),
                1 => format!("cache {} for key k{}", ["hit", "miss"][r % 2], r % 4),
                2 => "heartbeat ok".to_string(),
                3 => format!("connected to db.{}.internal on port eth", ["a", "b", "c"][r % 3]),
                4 => format!("worker-{} state:{} took {} ms", r % 9, ["RUNNING", "DONE"][r % 2], r % 100),
                5 => format!("{{\"level\":\"warn\",\"message\":\"slow query\",\"fields\":{{\"ms\":{},\"table\":\"t{}\"}}}}", r % 90, r % 3),
                6 => format!("shard {} of {} {}", r % 7, ["east", "west"][r % 2], "x ".repeat(r % 5)),
                7 => format!("job {} <HEX> {} done", r % 13, ["a.b.c", "d.e.f"][r % 2]),
                8 => format!("{} {}", "t".repeat(1 + r % 3), "z ".repeat(600)),
                9 => format!("ERROR {} failed: {}", ["read", "write", "sync"][r % 3], i % 4),
                10 => format!("{word} {}", "y ".repeat(r % 7)),
                _ => format!("a=1 b={} msg=\"m {}\"", r % 5, r % 2),
            });
        }
        lines
    }

    /// Remembered fits only save work: mining with them gives what mining
    /// without them gives, through evictions, tree rebuilds and
    /// generalisations.
    #[test]
    fn remembered_fits_change_nothing() {
        for max_templates in [3, 8, 1000] {
            let cfg = MinerConfig {
                max_templates,
                max_tokens: 40,
                ..MinerConfig::default()
            };
            let mut with = Miner::new("svc", cfg.clone());
            let mut without = Miner::new("svc", cfg);
            without.fits.enabled = false;
            for (i, line) in varied_corpus(3000).iter().enumerate() {
                let a = with.observe(i as i64, None, line);
                let b = without.observe(i as i64, None, line);
                assert_eq!(a, b, "line {i}: {line}");
            }
            assert_eq!(with.snapshot(), without.snapshot());
            assert!(with.stats().templates_evicted > 0 || max_templates == 1000);
        }
    }

    /// A line that fitted one template fits another, first in the leaf,
    /// once a generalisation makes the two as similar to it.
    #[test]
    fn a_generalisation_outdates_what_was_remembered() {
        let script = [
            "a x.y.z c 7",
            // `b` is a word where the first has a dotted name: a template
            "a b c 7",
            "a b c 7",
            "a b c 7",
            // the first becomes `a <*> c <NUM>`
            "a m.n.o c 7",
            "a b c 7",
            "a b c 7",
            // the second becomes `a b c <*>`: as similar to `a b c 7` as
            // the first, which wins the tie
            "a b c x.y.z",
            "a b c 7",
        ];
        let mut with = miner();
        let mut without = miner();
        without.fits.enabled = false;
        let mut ids = Vec::new();
        for (i, line) in script.iter().enumerate() {
            let a = with.observe(i as i64, None, line);
            let b = without.observe(i as i64, None, line);
            assert_eq!(a, b, "{line}");
            ids.push(a.template_id);
        }
        assert_eq!(ids[8], ids[0]);
        assert_eq!(ids[6], ids[1]);
    }

    /// A line that fitted a template down the `<*>` branch goes down its
    /// own branch once its first word has one, whatever was remembered.
    #[test]
    fn a_new_branch_outdates_what_was_remembered() {
        let script = [
            "5 foo bar",
            // a dotted name is no word: `<NUM>` becomes `<*>`
            "x.y.z foo bar",
            // fits `<*> foo bar` down the `<*>` branch, twice: remembered
            "zed foo bar",
            "zed foo bar",
            // makes a `zed` branch beside `<*>`
            "zed qq rr",
            // down the `zed` branch now, where nothing fits
            "zed foo bar",
        ];
        let mut with = miner();
        let mut without = miner();
        without.fits.enabled = false;
        let mut news = Vec::new();
        for (i, line) in script.iter().enumerate() {
            let a = with.observe(i as i64, None, line);
            let b = without.observe(i as i64, None, line);
            assert_eq!(a, b, "{line}");
            news.push(a.is_new);
        }
        assert_eq!(news, [true, false, false, false, true, true]);
    }

    #[test]
    fn eviction_keeps_the_bound_and_the_recent() {
        let cfg = MinerConfig {
            max_templates: 5,
            ..MinerConfig::default()
        };
        let mut m = Miner::new("svc", cfg);
        let keep = m.observe(0, None, "heartbeat ok");
        for n in 1..=20 {
            // different token counts never share a template
            let line = "word ".repeat(n);
            m.observe(n as i64, None, &line);
            m.observe(n as i64, None, "heartbeat ok");
            assert!(m.len() <= 5);
        }
        assert_eq!(m.len(), 5);
        assert_eq!(m.stats().templates_evicted, 16);
        assert!(
            m.get(keep.template_id).is_some(),
            "a busy template survives"
        );
        // An evicted template comes back with the same id.
        let again = m.observe(99, None, "word");
        assert!(again.is_new);
        assert_eq!(again.template_id, TemplateId::derive("svc", "word", 0));
        // The tree is pruned now and then; results do not change.
        for n in 0..5000 {
            m.observe(
                100 + n,
                None,
                &format!("{} x", "y ".repeat((n % 40) as usize)),
            );
        }
        assert!(m.nodes.len() <= m.node_budget() + 64);
    }

    #[test]
    fn exemplars_and_truncation_are_bounded() {
        let cfg = MinerConfig {
            max_exemplar_len: 16,
            max_line_len: 64,
            ..MinerConfig::default()
        };
        let mut m = Miner::new("svc", cfg);
        let mut id = None;
        for i in 0..10 {
            id = Some(
                m.observe(i, None, &format!("request {i} done é{}", "z".repeat(100)))
                    .template_id,
            );
        }
        let t = m.get(id.unwrap()).unwrap();
        assert_eq!(t.exemplars.len(), 3);
        assert!(t.exemplars.iter().all(|e| e.len() <= 16));
        assert_eq!(&*t.exemplars[0], "request 0 done ");
        assert_eq!(m.stats().truncated_lines, 10);
        assert_eq!(t.count, 10);
    }

    #[test]
    fn caller_level_wins() {
        let mut m = miner();
        let o = m.observe(1, Some(Level::Error), r#"{"level":"info","message":"x"}"#);
        assert_eq!(o.level, Level::Error);
        let o = m.observe(2, None, r#"{"level":"info","message":"x"}"#);
        assert_eq!(o.level, Level::Info);
        let o = m.observe(3, None, "no level here");
        assert_eq!(o.level, Level::Unknown);
        assert_eq!(m.get(o.template_id).unwrap().level, Level::Unknown);
    }

    #[test]
    fn empty_and_blank_lines() {
        let mut m = miner();
        let a = m.observe(1, None, "");
        let b = m.observe(2, None, "   \t ");
        assert_eq!(a.template_id, b.template_id);
        assert_eq!(&*a.template, "");
        let snap = m.snapshot();
        let r = Miner::restore(snap).unwrap();
        assert_eq!(r.len(), 1);
    }
}
