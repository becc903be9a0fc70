//! The topic exchange: binding patterns in a persistent word trie, and the matcher.
//!
//! Semantics are RabbitMQ's: keys and patterns split on `.` into words, every dot separates
//! two words (so `a..b`, `.a` and `a.` contain empty words) except that the empty string has
//! no words at all; `*` matches exactly one word and `#` zero or more.
//!
//! Each node has literal children (a persistent map keyed by the word), one `*` child, one `#`
//! child and the destinations of the patterns that end there. Consecutive `#` words are
//! stored as one (`#.#` matches exactly what `#` matches), which keeps the matcher from
//! re-walking the same sub-trie once per `#`; the binding itself keeps its original key.

use crate::dest::{Dest, DestSet};
use crate::pmap::{Key, PMap};
use std::collections::HashSet;
use std::sync::Arc;

/// One pattern word after parsing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Word<'a> {
    Lit(&'a [u8]),
    Star,
    Hash,
}

/// Splits a binding pattern, collapsing runs of `#`.
pub(crate) fn parse_pattern(pattern: &[u8]) -> Vec<Word<'_>> {
    let mut words = Vec::new();
    for w in split_words(pattern) {
        let word = match w {
            b"*" => Word::Star,
            b"#" => Word::Hash,
            lit => Word::Lit(lit),
        };
        if word == Word::Hash && words.last() == Some(&Word::Hash) {
            continue;
        }
        words.push(word);
    }
    words
}

/// RabbitMQ's word split: `""` has no words, otherwise every `.` separates two words.
pub(crate) fn split_words(key: &[u8]) -> impl Iterator<Item = &[u8]> {
    let none = key.is_empty();
    key.split(|&b| b == b'.').filter(move |_| !none)
}

/// A trie node. Cloning is shallow (all children are shared).
pub(crate) struct TopicNode<Q> {
    words: PMap<Key, Arc<TopicNode<Q>>>,
    star: Option<Arc<TopicNode<Q>>>,
    hash: Option<Arc<TopicNode<Q>>>,
    dests: DestSet<Q>,
}

impl<Q> Default for TopicNode<Q> {
    fn default() -> Self {
        TopicNode {
            words: PMap::default(),
            star: None,
            hash: None,
            dests: DestSet::default(),
        }
    }
}

impl<Q: Clone> Clone for TopicNode<Q> {
    fn clone(&self) -> Self {
        TopicNode {
            words: self.words.clone(),
            star: self.star.clone(),
            hash: self.hash.clone(),
            dests: self.dests.clone(),
        }
    }
}

impl<Q: Clone> TopicNode<Q> {
    fn is_empty(&self) -> bool {
        self.dests.is_empty() && self.words.is_empty() && self.star.is_none() && self.hash.is_none()
    }

    /// Adds `dest` at the end of the pattern's path, creating nodes as needed.
    pub(crate) fn insert(&mut self, words: &[Word<'_>], dest: &Dest<Q>) {
        let Some((first, rest)) = words.split_first() else {
            self.dests.add(dest);
            return;
        };
        let child = match *first {
            Word::Star => self.star.get_or_insert_with(Default::default),
            Word::Hash => self.hash.get_or_insert_with(Default::default),
            Word::Lit(w) => {
                if !self.words.contains_key(w) {
                    self.words.insert(Key::new(w), Arc::default());
                }
                self.words.get_mut(w).expect("just inserted")
            }
        };
        Arc::make_mut(child).insert(rest, dest);
    }

    /// Removes one binding's worth of `dest_key` at the end of the path, pruning nodes that
    /// become empty. Returns false if the path does not exist.
    pub(crate) fn remove(&mut self, words: &[Word<'_>], dest_key: u64) -> bool {
        let Some((first, rest)) = words.split_first() else {
            self.dests.remove(dest_key);
            return true;
        };
        match *first {
            Word::Star => remove_child(&mut self.star, rest, dest_key),
            Word::Hash => remove_child(&mut self.hash, rest, dest_key),
            Word::Lit(w) => {
                let Some(child) = self.words.get_mut(w) else {
                    return false;
                };
                let node = Arc::make_mut(child);
                let found = node.remove(rest, dest_key);
                if node.is_empty() {
                    self.words.remove(w);
                }
                found
            }
        }
    }

    /// Calls `emit` with the destination set of every pattern that matches `key`. A set can
    /// be reported more than once (e.g. `#.a.#` against `a.a`); the caller dedups queues.
    #[inline]
    pub(crate) fn matches<'a>(
        &'a self,
        key: &[u8],
        memo: &mut HashSet<(usize, usize)>,
        emit: &mut impl FnMut(&'a DestSet<Q>),
    ) {
        let start = if key.is_empty() { key.len() + 1 } else { 0 };
        let mut m = Matcher {
            key,
            end: key.len() + 1,
            memo,
            hash_depth: 0,
        };
        m.walk(self, start, emit);
    }
}

fn remove_child<Q: Clone>(
    slot: &mut Option<Arc<TopicNode<Q>>>,
    rest: &[Word<'_>],
    dest_key: u64,
) -> bool {
    let Some(child) = slot.as_mut() else {
        return false;
    };
    let node = Arc::make_mut(child);
    let found = node.remove(rest, dest_key);
    if node.is_empty() {
        *slot = None;
    }
    found
}

/// One walk over the trie. Positions are byte offsets of the next word's start in `key`;
/// `end` (one past the last byte) means no words are left.
struct Matcher<'k, 'm> {
    key: &'k [u8],
    end: usize,
    /// `(node address, position)` states already expanded under nested `#`s.
    memo: &'m mut HashSet<(usize, usize)>,
    hash_depth: u32,
}

impl Matcher<'_, '_> {
    /// The word at `pos` and the position after it.
    #[inline]
    fn word_at(&self, pos: usize) -> (&[u8], usize) {
        let rest = &self.key[pos..];
        match rest.iter().position(|&b| b == b'.') {
            Some(dot) => (&rest[..dot], pos + dot + 1),
            None => (rest, self.end),
        }
    }

    fn walk<'a, Q: Clone>(
        &mut self,
        node: &'a TopicNode<Q>,
        pos: usize,
        emit: &mut impl FnMut(&'a DestSet<Q>),
    ) {
        // Under two or more `#` expansions the same (node, position) can be reached along
        // many paths (`#.a.#.a.#` against `a.a.a...`); expanding it once keeps the walk
        // polynomial. A single `#` (the common `audit.#`) never pays for the set.
        if self.hash_depth >= 2 && !self.memo.insert((std::ptr::from_ref(node) as usize, pos)) {
            return;
        }
        if pos == self.end {
            if !node.dests.is_empty() {
                emit(&node.dests);
            }
            if let Some(h) = &node.hash {
                self.hash_depth += 1;
                self.walk(h, pos, emit);
                self.hash_depth -= 1;
            }
            return;
        }
        let (word, next) = self.word_at(pos);
        if let Some(child) = node.words.get(word) {
            self.walk(child, next, emit);
        }
        if let Some(star) = &node.star {
            self.walk(star, next, emit);
        }
        if let Some(h) = &node.hash {
            // `#` takes zero words, then one, two... up to all that are left.
            self.hash_depth += 1;
            let mut p = pos;
            loop {
                self.walk(h, p, emit);
                if p == self.end {
                    break;
                }
                p = self.word_at(p).1;
            }
            self.hash_depth -= 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitting_follows_rabbitmq() {
        let split = |k: &str| {
            split_words(k.as_bytes())
                .map(|w| String::from_utf8(w.to_vec()).unwrap())
                .collect::<Vec<_>>()
        };
        assert_eq!(split(""), Vec::<String>::new());
        assert_eq!(split("a"), vec!["a"]);
        assert_eq!(split("a..b"), vec!["a", "", "b"]);
        assert_eq!(split("."), vec!["", ""]);
        assert_eq!(split("a."), vec!["a", ""]);
    }

    #[test]
    fn hash_runs_collapse_and_wildcards_parse() {
        assert_eq!(
            parse_pattern(b"a.#.#.*.#"),
            vec![Word::Lit(b"a"), Word::Hash, Word::Star, Word::Hash]
        );
        assert_eq!(parse_pattern(b"#.#.#"), vec![Word::Hash]);
        assert_eq!(
            parse_pattern(b"a*.b#"),
            vec![Word::Lit(b"a*"), Word::Lit(b"b#")]
        );
    }
}
