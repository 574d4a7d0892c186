//! Row types and ranges shared by every persistence engine.

use std::fmt;

/// A commit timestamp: nanoseconds since the Unix epoch, strictly increasing across commits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(pub u64);

impl Timestamp {
    /// The smallest timestamp; no commit carries it.
    pub const MIN: Timestamp = Timestamp(0);
    /// The largest timestamp; a read at `MAX` sees everything committed.
    pub const MAX: Timestamp = Timestamp(u64::MAX);

    /// The next timestamp.
    pub fn succ(self) -> Timestamp {
        Timestamp(self.0.checked_add(1).expect("timestamp overflow"))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The number of a table, as embedded in document IDs (user tables start at 10001).
pub type TableNumber = u32;

/// The 16 random bytes that, with the table number, identify a document.
pub type InternalId = [u8; 16];

/// Identifies one index of one table. Assigned by `hull-db`; opaque here.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IndexId(pub u32);

/// A document's identity inside the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DocumentKey {
    /// The table the document belongs to.
    pub table: TableNumber,
    /// The document's internal id.
    pub id: InternalId,
}

/// One revision of one document in the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DocumentRow {
    /// The commit timestamp of this revision.
    pub ts: Timestamp,
    /// Which document.
    pub key: DocumentKey,
    /// The document as opaque text (Convex JSON), or `None` when this revision deletes it.
    pub value: Option<String>,
    /// The timestamp of the previous revision of the same document, `None` for an insert.
    pub prev_ts: Option<Timestamp>,
}

/// One change to one key of one index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexRow {
    /// The index.
    pub index: IndexId,
    /// The encoded index key (opaque bytes, ordered bytewise).
    pub key: Vec<u8>,
    /// The commit timestamp of the change.
    pub ts: Timestamp,
    /// The document the key points at from `ts` on, or `None` (a tombstone) when it stops
    /// pointing at any. A live row's document has a revision at exactly `ts`.
    pub document: Option<DocumentKey>,
}

/// A visible index entry, joined with the document revision it points at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexEntry {
    /// The encoded index key.
    pub key: Vec<u8>,
    /// The document revision (never a deletion); `document.ts` is the index row's ts.
    pub document: DocumentRow,
}

/// The rows of one or more commits, written atomically.
#[derive(Clone, Debug, Default)]
pub struct WriteBatch {
    /// New document revisions.
    pub documents: Vec<DocumentRow>,
    /// New index rows.
    pub index_rows: Vec<IndexRow>,
    /// Globals to set (key, JSON text), overwriting earlier values.
    pub globals: Vec<(String, String)>,
}

/// Scan direction over index keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Order {
    /// Ascending key order.
    Asc,
    /// Descending key order.
    Desc,
}

/// A half-open interval of index keys: `start <= key < end` (no `end` means unbounded).
///
/// Every range the query language can express is one such interval, because every byte string
/// `k` has the successor `k ++ [0]`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyRange {
    /// Inclusive lower bound.
    pub start: Vec<u8>,
    /// Exclusive upper bound; `None` is +infinity.
    pub end: Option<Vec<u8>>,
}

impl KeyRange {
    /// Every key.
    pub fn all() -> KeyRange {
        KeyRange { start: Vec::new(), end: None }
    }

    /// Exactly the key `key`.
    pub fn exact(key: &[u8]) -> KeyRange {
        KeyRange { start: key.to_vec(), end: Some(successor(key)) }
    }

    /// All keys that start with `prefix`.
    pub fn prefix(prefix: &[u8]) -> KeyRange {
        KeyRange { start: prefix.to_vec(), end: prefix_end(prefix) }
    }

    /// The one key this range holds, when it is exactly `[k, k ++ [0])` (a point read: engines
    /// answer it with one seek instead of a scan).
    pub fn single_key(&self) -> Option<&[u8]> {
        match &self.end {
            Some(end) if end.len() == self.start.len() + 1 && end.starts_with(&self.start) && end.last() == Some(&0) => Some(&self.start),
            _ => None,
        }
    }

    /// True when no key lies in the range.
    pub fn is_empty(&self) -> bool {
        matches!(&self.end, Some(end) if end.as_slice() <= self.start.as_slice())
    }

    /// True when `key` lies in the range.
    pub fn contains(&self, key: &[u8]) -> bool {
        key >= self.start.as_slice() && self.end.as_deref().is_none_or(|end| key < end)
    }

    /// The part of this range not yet visited by a scan in `order` whose last examined key
    /// was `last`.
    pub fn after(&self, last: &[u8], order: Order) -> KeyRange {
        match order {
            Order::Asc => KeyRange { start: successor(last), end: self.end.clone() },
            Order::Desc => KeyRange { start: self.start.clone(), end: Some(last.to_vec()) },
        }
    }
}

/// The smallest byte string greater than `key`.
pub fn successor(key: &[u8]) -> Vec<u8> {
    let mut next = Vec::with_capacity(key.len() + 1);
    next.extend_from_slice(key);
    next.push(0);
    next
}

/// The smallest byte string greater than every string starting with `prefix`, or `None` when
/// there is none (the prefix is empty or all `0xFF`).
pub fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xFF {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

/// One page of an index scan.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ScanPage {
    /// Visible entries, in scan order.
    pub entries: Vec<IndexEntry>,
    /// `None` when the range is exhausted; otherwise the last key examined.
    pub resume_after: Option<Vec<u8>>,
}
