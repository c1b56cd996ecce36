#!/usr/bin/env python3
"""Generate compact Rust schema tables from the Broadband Forum data model XML.

Usage: python3 tools/gen_datamodel.py SPEC_DIR OUT_DIR

Reads tr-181-2-19-1-cwmp-full.xml and tr-098-1-8-0-full.xml from SPEC_DIR and
writes OUT_DIR/tr181.rs and OUT_DIR/tr098.rs. Items with status "deleted" or
"obsoleted" are dropped; descriptions are not kept. The tables are decoded by
src/datamodel/schema.rs, which documents their layout.
"""
import os
import sys
import xml.etree.ElementTree as ET

MODELS = [
    ("tr-181-2-19-1-cwmp-full.xml", "tr181"),
    ("tr-098-1-8-0-full.xml", "tr098"),
]
# Base type codes; the order is the one schema.rs decodes.
TYPES = ["string", "int", "unsignedInt", "long", "unsignedLong",
         "boolean", "dateTime", "base64", "hexBinary"]
TYPE_TAGS = set(TYPES) | {"decimal"}
DROPPED = {"deleted", "obsoleted"}
KIND_PARAM, KIND_OBJECT, KIND_TABLE, KIND_INSTANCE = 0, 1, 2, 3
NOTIFY = {None: 0, "normal": 0, "forceEnabled": 1, "forceDefaultEnabled": 2, "canDeny": 3}
I128_MIN, I128_MAX = -(1 << 127), (1 << 127) - 1


def local(tag):
    return tag.rsplit("}", 1)[-1]


def children(elem, name):
    return [c for c in elem if local(c.tag) == name]


def current(elem):
    return elem.get("status") not in DROPPED


class Syntax:
    def __init__(self):
        self.base = "string"
        self.is_list = False
        self.min_len = None
        self.max_len = None
        self.list_max_len = None
        self.ranges = []
        self.enums = []

    def copy(self):
        other = Syntax()
        other.__dict__.update({k: (list(v) if isinstance(v, list) else v)
                               for k, v in self.__dict__.items()})
        return other

    def apply_facets(self, elem, in_list=False):
        """Applies the size/range/enumeration children of `elem`; a derived
        definition replaces the facets it restates."""
        sizes = children(elem, "size")
        if sizes:
            if in_list:
                self.list_max_len = max_of(sizes, "maxLength")
            else:
                self.max_len = max_of(sizes, "maxLength")
                mins = [int(s.get("minLength")) for s in sizes if s.get("minLength")]
                self.min_len = min(mins) if mins else None
        ranges = children(elem, "range")
        if ranges:
            self.ranges = [(int(r.get("minInclusive", I128_MIN)),
                            int(r.get("maxInclusive", I128_MAX))) for r in ranges]
        enums = [e.get("value") for e in children(elem, "enumeration") if current(e)]
        if enums:
            self.enums = enums


def max_of(sizes, attr):
    values = [int(s.get(attr)) for s in sizes if s.get(attr)]
    return max(values) if values else None


class Model:
    def __init__(self, root):
        self.datatypes = {d.get("name"): d for d in children(root, "dataType")}
        self.resolved = {}

    def datatype(self, name):
        if name in self.resolved:
            return self.resolved[name]
        dt = self.datatypes[name]
        if dt.get("base"):
            syn = self.datatype(dt.get("base")).copy()
        else:
            syn = Syntax()
        self.apply_body(syn, dt)
        self.resolved[name] = syn
        return syn

    def apply_body(self, syn, elem):
        """Applies a <syntax> or <dataType> body: list, type element, facets."""
        syn.apply_facets(elem)
        for child in elem:
            tag = local(child.tag)
            if tag == "list":
                syn.is_list = True
                syn.apply_facets(child, in_list=True)
            elif tag in TYPE_TAGS:
                syn.base = tag if tag in TYPES else "string"
                syn.apply_facets(child)
            elif tag == "dataType" and child.get("ref"):
                ref = self.datatype(child.get("ref"))
                keep_list = syn.is_list, syn.list_max_len
                syn.__dict__.update(ref.copy().__dict__)
                if keep_list[0]:
                    syn.is_list, syn.list_max_len = keep_list
                syn.apply_facets(child)

    def syntax(self, param):
        syn = Syntax()
        body = children(param, "syntax")
        if body:
            self.apply_body(syn, body[0])
        return syn


class Pool:
    """Deduplicated strings, stored as one text with an offset table."""

    def __init__(self):
        self.index = {}
        self.items = []

    def add(self, text):
        if text not in self.index:
            self.index[text] = len(self.items)
            self.items.append(text)
        return self.index[text]


class Dedup:
    def __init__(self):
        self.index = {}
        self.items = []

    def add(self, item):
        if item not in self.index:
            self.index[item] = len(self.items)
            self.items.append(item)
        return self.index[item]


class Node:
    def __init__(self, name, kind, parent):
        self.name = name
        self.kind = kind
        self.parent = parent
        self.flags = 0
        self.syntax = None
        self.default = None
        self.params = []
        self.objects = []


def build_tree(model_elem, model):
    by_path = {}
    root = None
    stats = {"objects": 0, "tables": 0, "params": 0, "writable": 0}

    def ensure(path_segments):
        """The node of an object path (segments without the trailing dot)."""
        nonlocal root
        key = tuple(path_segments)
        if key in by_path:
            return by_path[key]
        if len(path_segments) == 1:
            node = Node(path_segments[0], KIND_OBJECT, None)
            root = node
        else:
            parent = ensure(path_segments[:-1])
            last = path_segments[-1]
            if last == "{i}":
                parent.kind = KIND_TABLE
                kind = KIND_INSTANCE
            else:
                kind = KIND_OBJECT
            node = Node(last, kind, parent)
            parent.objects.append(node)
        by_path[key] = node
        return node

    for obj in children(model_elem, "object"):
        if not current(obj):
            continue
        segs = obj.get("name").rstrip(".").split(".")
        node = ensure(segs)
        writable = obj.get("access") == "readWrite"
        if node.kind == KIND_INSTANCE:
            stats["tables"] += 1
            node.flags |= writable << 6
            node.parent.flags |= writable << 6
        stats["objects"] += 1
        for param in children(obj, "parameter"):
            if not current(param):
                continue
            p = Node(param.get("name"), KIND_PARAM, node)
            p.syntax = model.syntax(param)
            rw = param.get("access") == "readWrite"
            stats["params"] += 1
            stats["writable"] += rw
            p.flags |= TYPES.index(p.syntax.base)
            p.flags |= rw << 6
            p.flags |= (param.get("forcedInform") == "true") << 7
            p.flags |= NOTIFY[param.get("activeNotify")] << 8
            p.flags |= p.syntax.is_list << 10
            body = children(param, "syntax")
            for d in (children(body[0], "default") if body else []):
                if d.get("type") in ("object", "factory", None) and p.default is None:
                    p.default = d.get("value")
            node.params.append(p)
    return root, stats


def emit(root, stats, model_name, out_path):
    pool = Pool()
    constraints = Dedup()
    range_sets = Dedup()
    ranges = Dedup()
    enum_sets = Dedup()
    enum_values = []
    rows = []

    def constraint_of(node):
        syn = node.syntax
        if syn is None:
            return 0
        range_idx = 0
        if syn.ranges:
            idxs = [ranges.add(r) for r in syn.ranges]
            range_idx = range_sets.add((idxs[0], len(idxs), tuple(idxs))) + 1
        enum_idx = 0
        if syn.enums:
            key = tuple(syn.enums)
            if key not in enum_sets.index:
                start = len(enum_values)
                enum_values.extend(pool.add(v) for v in syn.enums)
                enum_sets.index[key] = len(enum_sets.items)
                enum_sets.items.append((start, len(syn.enums)))
            enum_idx = enum_sets.index[key] + 1
        default_idx = 0 if node.default is None else pool.add(node.default) + 1
        # Maximum lengths are stored as is, 0 meaning none: a maxLength of 0
        # would allow only the empty string and no model uses it.
        assert syn.max_len != 0 and syn.list_max_len != 0, node.name
        rec = (syn.min_len or 0, syn.max_len or 0, syn.list_max_len or 0,
               range_idx, enum_idx, default_idx)
        assert all(0 <= x <= 0xFFFF for x in rec), (node.name, rec)
        if rec == (0, 0, 0, 0, 0, 0):
            return 0
        return constraints.add(rec) + 1

    classes = Dedup()

    def walk(node):
        name = pool.add(node.name)
        class_key = (node.flags | (node.kind << 4), constraint_of(node))
        row = [name, classes.add(class_key), 0]
        rows.append(row)
        for child in node.params:
            walk(child)
        for child in node.objects:
            walk(child)
        row[2] = len(rows)

    walk(root)
    assert len(rows) < 0xFFFF and len(pool.items) < 0xFFFF
    assert len(classes.items) < 0xFFFF and len(constraints.items) < 0xFFFF

    text = "".join(pool.items)
    offsets = [0]
    for item in pool.items:
        offsets.append(offsets[-1] + len(item.encode("utf-8")))
    # Offsets are stored modulo 65536; POOL_PAGES lists, for every further
    # 64 KiB of pool text, the first offset index at or past it.
    pages = []
    for page in range(1, offsets[-1] // 0x10000 + 1):
        pages.append(next(i for i, off in enumerate(offsets) if off >= page * 0x10000))
    range_set_rows = [(s, n) for (s, n, _) in range_sets.items]

    def arr(name, ty, items, per_line):
        lines = [f"pub static {name}: [{ty}; {len(items)}] = ["]
        for i in range(0, len(items), per_line):
            lines.append("    " + " ".join(f"{x}," for x in items[i:i + per_line]))
        lines.append("];")
        return "\n".join(lines)

    def tup(xs):
        return "[" + ", ".join(str(x) for x in xs) + "]"

    out = [
        f"//! Generated schema tables of {model_name} by tools/gen_datamodel.py; do not edit.",
        "//!",
        "//! Derived from Broadband Forum data model XML (BSD-3-Clause, Copyright (c)",
        "//! Broadband Forum); descriptions are not included. Layout: see schema.rs.",
        f"//! Objects {stats['objects']} (multi-instance {stats['tables']}),"
        f" parameters {stats['params']} (readWrite {stats['writable']}).",
        "",
        "#![cfg_attr(rustfmt, rustfmt_skip)]",
        "",
        f"pub const OBJECT_COUNT: usize = {stats['objects']};",
        f"pub const TABLE_COUNT: usize = {stats['tables']};",
        f"pub const PARAMETER_COUNT: usize = {stats['params']};",
        f"pub const WRITABLE_PARAMETER_COUNT: usize = {stats['writable']};",
        "",
        "pub static POOL: &str = " + rust_str(text) + ";",
        arr("POOL_OFFSETS", "u16", [off & 0xFFFF for off in offsets], 16),
        arr("POOL_PAGES", "u16", pages, 16),
        arr("NODES", "[u16; 3]", [tup(r) for r in rows], 8),
        arr("CLASSES", "[u16; 2]", [tup(c) for c in classes.items], 8),
        arr("CONSTRAINTS", "[u16; 6]", [tup(c) for c in constraints.items], 4),
        arr("RANGE_SETS", "[u16; 2]", [tup(r) for r in range_set_rows], 8),
        arr("RANGES", "[i128; 2]", [tup(fmt_range(r)) for r in ranges.items], 3),
        arr("ENUM_SETS", "[u16; 2]", [tup(e) for e in enum_sets.items], 8),
        arr("ENUM_VALUES", "u16", enum_values, 16),
        "",
    ]
    with open(out_path, "w", encoding="utf-8") as f:
        f.write("\n".join(out))
    print(f"{out_path}: {len(rows)} nodes, {len(pool.items)} strings, "
          f"{len(classes.items)} classes, {len(constraints.items)} constraints, objects {stats['objects']} "
          f"(tables {stats['tables']}), params {stats['params']} (rw {stats['writable']})")


def fmt_range(r):
    lo, hi = r
    return ("i128::MIN" if lo == I128_MIN else str(lo), "i128::MAX" if hi == I128_MAX else str(hi))


def rust_str(text):
    out = ['"']
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ord(ch) < 0x20:
            out.append(f"\\u{{{ord(ch):x}}}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    spec_dir, out_dir = sys.argv[1], sys.argv[2]
    os.makedirs(out_dir, exist_ok=True)
    for file_name, module in MODELS:
        doc = ET.parse(os.path.join(spec_dir, file_name)).getroot()
        model_elem = children(doc, "model")[0]
        model = Model(doc)
        root, stats = build_tree(model_elem, model)
        emit(root, stats, model_elem.get("name"), os.path.join(out_dir, module + ".rs"))


if __name__ == "__main__":
    main()
