//! `VecMap` and `VecSet`: a map and a set kept as vectors sorted by key, for the small maps and sets of the daemon.
//!
//! It iterates in key order like `BTreeMap`, with the same method names, but
//! each key and value type costs a few hundred bytes of code instead of the
//! several kilobytes a `BTreeMap` instantiation brings into the static binary.
//! Lookups are binary searches; inserts and removals shift the vector, which is
//! cheap for the tens to hundreds of entries these maps hold.

use std::borrow::Borrow;

/// A map sorted by key; see the module documentation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VecMap<K, V> {
    entries: Vec<(K, V)>,
}

impl<K, V> Default for VecMap<K, V> {
    fn default() -> Self {
        VecMap {
            entries: Vec::new(),
        }
    }
}

impl<K: Ord, V> VecMap<K, V> {
    pub fn new() -> Self {
        VecMap::default()
    }

    fn find<Q>(&self, key: &Q) -> Result<usize, usize>
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        self.entries.binary_search_by(|(k, _)| k.borrow().cmp(key))
    }

    pub fn get<Q>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        let at = self.find(key).ok()?;
        self.entries.get(at).map(|(_, v)| v)
    }

    pub fn get_mut<Q>(&mut self, key: &Q) -> Option<&mut V>
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        let at = self.find(key).ok()?;
        self.entries.get_mut(at).map(|(_, v)| v)
    }

    pub fn contains_key<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        self.find(key).is_ok()
    }

    /// The entries from `start` (included) on, in key order: `BTreeMap::range(start..)`.
    pub fn range_from<Q>(&self, start: &Q) -> impl Iterator<Item = (&K, &V)>
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        let at = self.entries.partition_point(|(k, _)| k.borrow() < start);
        self.entries
            .get(at..)
            .unwrap_or(&[])
            .iter()
            .map(|(k, v)| (k, v))
    }

    /// Sets `key` to `value`; the value it had, if any.
    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        match self.find(&key) {
            Ok(at) => self
                .entries
                .get_mut(at)
                .map(|(_, v)| std::mem::replace(v, value)),
            Err(at) => {
                self.entries.insert(at, (key, value));
                None
            }
        }
    }

    pub fn remove<Q>(&mut self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        let at = self.find(key).ok()?;
        Some(self.entries.remove(at).1)
    }

    /// The value of `key`, first set to `make()` if there is none.
    pub fn get_or_insert_with(&mut self, key: K, make: impl FnOnce() -> V) -> &mut V {
        let at = match self.find(&key) {
            Ok(at) => at,
            Err(at) => {
                self.entries.insert(at, (key, make()));
                at
            }
        };
        // In bounds: `at` was just found or inserted.
        let (_, value) = &mut self.entries[at];
        value
    }
}

impl<K, V> VecMap<K, V> {
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn clear(&mut self) {
        self.entries.clear();
    }

    /// Entries in key order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (&K, &V)> + ExactSizeIterator {
        self.entries.iter().map(|(k, v)| (k, v))
    }

    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&K, &mut V)> {
        self.entries.iter_mut().map(|(k, v)| (&*k, v))
    }

    pub fn keys(&self) -> impl DoubleEndedIterator<Item = &K> {
        self.entries.iter().map(|(k, _)| k)
    }

    pub fn values(&self) -> impl DoubleEndedIterator<Item = &V> {
        self.entries.iter().map(|(_, v)| v)
    }

    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut V> {
        self.entries.iter_mut().map(|(_, v)| v)
    }

    pub fn into_keys(self) -> impl Iterator<Item = K> {
        self.entries.into_iter().map(|(k, _)| k)
    }

    /// Keeps the entries for which `keep` says so.
    pub fn retain(&mut self, mut keep: impl FnMut(&K, &mut V) -> bool) {
        self.entries.retain_mut(|(k, v)| keep(k, v));
    }
}

/// A set sorted by key, like `BTreeSet`; see the module documentation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VecSet<T> {
    map: VecMap<T, ()>,
}

impl<T> Default for VecSet<T> {
    fn default() -> Self {
        VecSet {
            map: VecMap::default(),
        }
    }
}

impl<T: Ord> VecSet<T> {
    pub fn new() -> Self {
        VecSet::default()
    }

    /// Adds `item`; `false` if it was there already.
    pub fn insert(&mut self, item: T) -> bool {
        self.map.insert(item, ()).is_none()
    }

    pub fn contains<Q>(&self, item: &Q) -> bool
    where
        T: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        self.map.contains_key(item)
    }

    /// Removes `item`; `false` if it was not there.
    pub fn remove<Q>(&mut self, item: &Q) -> bool
    where
        T: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        self.map.remove(item).is_some()
    }
}

impl<T> VecSet<T> {
    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Items in order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &T> {
        self.map.keys()
    }

    /// Keeps the items for which `keep` says so.
    pub fn retain(&mut self, mut keep: impl FnMut(&T) -> bool) {
        self.map.retain(|item, _| keep(item));
    }
}

impl<'a, T> IntoIterator for &'a VecSet<T> {
    type Item = &'a T;
    type IntoIter = std::iter::Map<std::slice::Iter<'a, (T, ())>, fn(&'a (T, ())) -> &'a T>;

    fn into_iter(self) -> Self::IntoIter {
        self.map.entries.iter().map(|(item, _)| item)
    }
}

impl<K: Ord, V> FromIterator<(K, V)> for VecMap<K, V> {
    /// Like `BTreeMap`: of equal keys, the last value wins.
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut entries: Vec<(K, V)> = iter.into_iter().collect();
        // Stable: equal keys stay in arrival order, and the last one is kept.
        entries.sort_by(|(a, _), (b, _)| a.cmp(b));
        entries.reverse();
        entries.dedup_by(|(a, _), (b, _)| a == b);
        entries.reverse();
        VecMap { entries }
    }
}

impl<K, V> IntoIterator for VecMap<K, V> {
    type Item = (K, V);
    type IntoIter = std::vec::IntoIter<(K, V)>;

    fn into_iter(self) -> Self::IntoIter {
        self.entries.into_iter()
    }
}

impl<'a, K, V> IntoIterator for &'a VecMap<K, V> {
    type Item = (&'a K, &'a V);
    type IntoIter = std::iter::Map<std::slice::Iter<'a, (K, V)>, fn(&'a (K, V)) -> (&'a K, &'a V)>;

    fn into_iter(self) -> Self::IntoIter {
        self.entries.iter().map(|(k, v)| (k, v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_keys_sorted_and_unique() {
        let mut map = VecMap::new();
        assert_eq!(map.insert("b".to_string(), 2), None);
        assert_eq!(map.insert("a".to_string(), 1), None);
        assert_eq!(map.insert("c".to_string(), 3), None);
        assert_eq!(map.insert("b".to_string(), 20), Some(2));
        assert_eq!(map.keys().collect::<Vec<_>>(), ["a", "b", "c"]);
        assert_eq!(map.get("b"), Some(&20));
        assert!(map.contains_key("c") && !map.contains_key("d"));
        *map.get_or_insert_with("d".to_string(), || 0) += 4;
        *map.get_or_insert_with("a".to_string(), || 0) += 10;
        assert_eq!(map.values().copied().collect::<Vec<_>>(), [11, 20, 3, 4]);
        let from_b: Vec<_> = map.range_from("b").map(|(k, _)| k.as_str()).collect();
        assert_eq!(from_b, ["b", "c", "d"]);
        assert_eq!(map.range_from("bb").count(), 2);
        assert_eq!(map.remove("b"), Some(20));
        assert_eq!(map.remove("b"), None);
        map.retain(|_, v| *v > 3);
        assert_eq!(
            map.into_iter().collect::<Vec<_>>(),
            [("a".to_string(), 11), ("d".to_string(), 4)]
        );
    }

    #[test]
    fn sets_keep_items_sorted_and_unique() {
        let mut set = VecSet::new();
        assert!(set.insert("b".to_string()));
        assert!(set.insert("a".to_string()));
        assert!(!set.insert("b".to_string()));
        assert!(set.contains("a") && !set.contains("c"));
        assert_eq!(set.iter().collect::<Vec<_>>(), ["a", "b"]);
        assert!(set.remove("a") && !set.remove("a"));
        set.retain(|item| item != "b");
        assert!(set.is_empty());
    }

    #[test]
    fn collects_like_a_btree_map() {
        let map: VecMap<u32, &str> = [(3, "x"), (1, "y"), (3, "z"), (2, "w")]
            .into_iter()
            .collect();
        let pairs: Vec<_> = map.iter().map(|(k, v)| (*k, *v)).collect();
        assert_eq!(pairs, [(1, "y"), (2, "w"), (3, "z")]);
    }
}
