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
    """Deduplicated strings (names first), laid out as one text in which each
    string is a slice: a string inside another takes no bytes of its own, and
    the rest are chained on their longest overlaps."""

    def __init__(self):
        self.index = {}
        self.items = []

    def add(self, text):
        if text not in self.index:
            self.index[text] = len(self.items)
            self.items.append(text)
        return self.index[text]

    def layout(self):
        """The text and, for every string, its (offset, byte length)."""
        data = sorted({t.encode("utf-8") for t in self.items}, key=lambda b: (-len(b), b))
        kept, seen = [], b""
        for b in data:
            if b and b not in seen:
                kept.append(b)
                seen += b"\0" + b
        # Greedy chaining: join the pair with the longest suffix/prefix overlap first.
        nxt, prv = {}, {}
        head = {i: i for i in range(len(kept))}  # chain head of each string
        longest = max((len(b) for b in kept), default=0)
        for k in range(longest - 1, 0, -1):
            starts = {}
            for j, b in enumerate(kept):
                if j not in prv and len(b) > k:
                    starts.setdefault(b[:k], []).append(j)
            for i, b in enumerate(kept):
                if i in nxt or len(b) <= k:
                    continue
                for j in starts.get(b[-k:], []):
                    if j in prv or head_of(head, i) == j:
                        continue
                    nxt[i], prv[j] = (j, k), i
                    head[j] = head_of(head, i)
                    break
        text = bytearray()
        for i in range(len(kept)):
            if i in prv:
                continue
            text += kept[i]
            while i in nxt:
                i, k = nxt[i]
                text += kept[i][k:]
        text = bytes(text)
        slices = []
        for t in self.items:
            b = t.encode("utf-8")
            slices.append((text.find(b) if b else 0, len(b)))
        return text.decode("utf-8"), slices


def head_of(head, i):
    while head[i] != i:
        head[i] = head[head[i]]
        i = head[i]
    return i


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


def leb128(n):
    """Unsigned LEB128: seven bits a byte, low first, the high bit meaning more."""
    out = []
    while True:
        byte = n & 0x7F
        n >>= 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return out


def range_bound(value, unbounded):
    """0 for no bound, else 1 + the zigzag code of the value."""
    if value == unbounded:
        return 0
    return 1 + (2 * value if value >= 0 else -2 * value - 1)


def bits_for(count):
    """Bits that hold every index below `count`."""
    return max(1, (count - 1).bit_length())


def packed(values, width):
    """Values as `width`-byte little-endian groups, and 3 bytes of padding so
    that the decoder reads every row as one 32-bit word."""
    out = []
    for v in values:
        assert 0 <= v < 1 << (8 * width), (v, width)
        out.extend((v >> (8 * i)) & 0xFF for i in range(width))
    return out + [0, 0, 0]


def emit(root, stats, model_name, out_path, layout=None):
    """Writes the tables of one model with the field widths of `layout`;
    without one, returns the widths this model needs instead."""
    pool = Pool()
    constraints = Dedup()
    constraint_bytes = [0]  # offset 0 is never a record: a class's 0 means none
    enum_sets = {}
    enum_values = []
    nodes = []

    def add_names(node):
        pool.add(node.name)
        for child in node.params + node.objects:
            add_names(child)

    # Names first, so that node rows need only as many bits as there are names.
    add_names(root)
    name_count = len(pool.items)

    def constraint_of(node):
        syn = node.syntax
        if syn is None:
            return 0
        enum = None
        if syn.enums:
            key = tuple(syn.enums)
            if key not in enum_sets:
                enum_sets[key] = (len(enum_values), len(syn.enums))
                enum_values.extend(pool.add(v) for v in syn.enums)
            enum = enum_sets[key]
        default = None if node.default is None else pool.add(node.default)
        # Maximum lengths are stored as is, 0 meaning none: a maxLength of 0
        # would allow only the empty string and no model uses it.
        assert syn.max_len != 0 and syn.list_max_len != 0, node.name
        fields = [syn.min_len or None, syn.max_len, syn.list_max_len,
                  tuple(syn.ranges) or None, enum, default]
        if all(f is None for f in fields):
            return 0
        key = tuple(fields)
        if key not in constraints.index:
            record = [sum(1 << i for i, f in enumerate(fields) if f is not None)]
            for f in fields[:3]:
                if f is not None:
                    record += leb128(f)
            if fields[3]:
                record += leb128(len(fields[3]))
                for lo, hi in fields[3]:
                    record += leb128(range_bound(lo, I128_MIN)) + leb128(range_bound(hi, I128_MAX))
            if enum:
                record += leb128(enum[0]) + leb128(enum[1])
            if default is not None:
                record += leb128(default)
            constraints.index[key] = len(constraint_bytes)
            constraint_bytes.extend(record)
        return constraints.index[key]

    classes = Dedup()
    objects = []

    def walk(node):
        class_index = classes.add((node.flags | (node.kind << 4), constraint_of(node)))
        row = [pool.index[node.name], node.kind != KIND_PARAM, class_index]
        nodes.append(row)
        if node.kind != KIND_PARAM:
            row[2] = len(objects)
            objects.append([0, class_index])
            obj = objects[-1]
        for child in node.params:
            walk(child)
        for child in node.objects:
            walk(child)
        if node.kind != KIND_PARAM:
            obj[0] = len(nodes)

    walk(root)
    assert len(nodes) <= 0xFFFF and len(classes.items) <= 0xFFFF
    assert len(constraint_bytes) <= 0xFFFF and len(pool.items) <= 0xFFFF

    text, slices = pool.layout()
    needs = {
        "offset_bits": bits_for(len(text.encode("utf-8")) + 1),
        "len_bits": bits_for(max(n for _, n in slices) + 1),
        "name_bits": bits_for(name_count),
        "payload_bits": bits_for(max(len(classes.items), len(objects))),
        "end_bits": bits_for(len(nodes) + 1),
        "class_bits": bits_for(len(classes.items)),
        "constraint_bits": bits_for(len(constraint_bytes)),
    }
    if layout is None:
        return needs
    offset_bits, name_bits, end_bits = (layout["offset_bits"], layout["name_bits"],
                                        layout["end_bits"])
    string_bytes = (offset_bits + layout["len_bits"] + 7) // 8
    node_bytes = (name_bits + 1 + layout["payload_bits"] + 7) // 8
    object_bytes = (end_bits + layout["class_bits"] + 7) // 8
    flag_bits = 11
    class_bytes = (flag_bits + layout["constraint_bits"] + 7) // 8
    assert max(string_bytes, node_bytes, object_bytes, class_bytes) <= 4, layout
    assert all(flags < 1 << flag_bits for flags, _ in classes.items)
    strings = [off | n << offset_bits for off, n in slices]
    node_values = [name | is_object << name_bits | payload << (name_bits + 1)
                   for name, is_object, payload in nodes]

    def arr(name, ty, items, per_line):
        lines = [f"pub static {name}: [{ty}; {len(items)}] = ["]
        for i in range(0, len(items), per_line):
            lines.append("    " + " ".join(f"{x}," for x in items[i:i + per_line]))
        lines.append("];")
        return "\n".join(lines)

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
        f"pub const NODE_COUNT: usize = {len(nodes)};",
        f"pub const NODE_BYTES: usize = {node_bytes};",
        f"pub const NAME_BITS: u32 = {name_bits};",
        f"pub const STRING_BYTES: usize = {string_bytes};",
        f"pub const STRING_OFFSET_BITS: u32 = {offset_bits};",
        f"pub const OBJECT_BYTES: usize = {object_bytes};",
        f"pub const END_BITS: u32 = {end_bits};",
        f"pub const CLASS_BYTES: usize = {class_bytes};",
        "",
        "pub static POOL: &str = " + rust_str(text) + ";",
        arr("STRINGS", "u8", packed(strings, string_bytes), 24),
        arr("NODES", "u8", packed(node_values, node_bytes), 24),
        arr("OBJECTS", "u8", packed([end | c << end_bits for end, c in objects], object_bytes), 24),
        arr("CLASSES", "u8", packed([f | c << flag_bits for f, c in classes.items], class_bytes), 24),
        arr("CONSTRAINTS", "u8", constraint_bytes, 24),
        arr("ENUM_VALUES", "u16", enum_values, 16),
        "",
    ]
    with open(out_path, "w", encoding="utf-8") as f:
        f.write("\n".join(out))
    sizes = {
        "pool": len(text.encode("utf-8")),
        "strings": len(strings) * string_bytes,
        "nodes": len(nodes) * node_bytes,
        "objects": len(objects) * object_bytes,
        "classes": len(classes.items) * class_bytes,
        "constraints": len(constraint_bytes),
        "enum values": len(enum_values) * 2,
    }
    print(f"{out_path}: {len(nodes)} nodes, {len(pool.items)} strings, "
          f"{len(classes.items)} classes, {len(constraints.index)} constraints, objects {stats['objects']} "
          f"(tables {stats['tables']}), params {stats['params']} (rw {stats['writable']}); bytes "
          + ", ".join(f"{k} {v}" for k, v in sizes.items()) + f", total {sum(sizes.values())}")


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
    models = []
    for file_name, module in MODELS:
        doc = ET.parse(os.path.join(spec_dir, file_name)).getroot()
        model_elem = children(doc, "model")[0]
        root, stats = build_tree(model_elem, Model(doc))
        models.append((root, stats, model_elem.get("name"), os.path.join(out_dir, module + ".rs")))
    # One layout for all models, so the decoder's field widths are constants.
    layout = {}
    for model in models:
        for field, bits in emit(*model).items():
            layout[field] = max(bits, layout.get(field, 0))
    for model in models:
        emit(*model, layout)


if __name__ == "__main__":
    main()
