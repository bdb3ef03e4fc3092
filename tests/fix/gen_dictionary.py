"""Generate ``boomnet/fix/_dict44.py`` (group layouts, data fields) from QuickFIX's FIX44.xml.

Run ``python -m tests.fix.gen_dictionary [FIX44.xml]``. The generated module is committed; the
test ``test_dictionary_matches_quickfix`` regenerates it in memory and compares, so the layouts
boomnet uses are the ones the reference engine's data dictionary states.
"""

from __future__ import annotations

import os
import sys
import xml.etree.ElementTree as ET

#: message types whose repeating groups boomnet knows (admin + market data + order entry)
MSG_TYPES = ["0", "1", "2", "3", "4", "5", "A", "V", "W", "X", "Y", "D", "8", "F", "G", "9", "j"]


def default_xml() -> str:
    return os.path.join(sys.prefix, "share", "quickfix", "FIX44.xml")


def _layout(root: ET.Element) -> dict[str, object]:
    fields = {f.get("name"): int(f.get("number", "0")) for f in root.find("fields")}  # type: ignore[union-attr]
    types = {f.get("name"): f.get("type") for f in root.find("fields")}  # type: ignore[union-attr]
    components = {c.get("name"): c for c in root.find("components")}  # type: ignore[union-attr]

    def members(node: ET.Element) -> list[tuple[str, ET.Element]]:
        out: list[tuple[str, ET.Element]] = []
        for child in node:
            if child.tag == "component":
                out.extend(members(components[child.get("name")]))
            else:
                out.append((child.tag, child))
        return out

    def group(node: ET.Element) -> tuple[int, int, tuple[int, ...], dict[int, object]]:
        count = fields[node.get("name")]
        items = members(node)
        tags: list[int] = []
        nested: dict[int, object] = {}
        for kind, child in items:
            tags.append(fields[child.get("name")])
            if kind == "group":
                sub = group(child)
                nested[sub[0]] = sub
                tags.extend(all_tags(sub))
        return count, fields[items[0][1].get("name")], tuple(sorted(set(tags))), nested

    def all_tags(g: tuple[int, int, tuple[int, ...], dict[int, object]]) -> list[int]:
        return list(g[2])

    def groups_of(node: ET.Element) -> dict[int, object]:
        out: dict[int, object] = {}
        for kind, child in members(node):
            if kind == "group":
                g = group(child)
                out[g[0]] = g
        return out

    msgs = {m.get("msgtype"): m for m in root.find("messages")}  # type: ignore[union-attr]
    result: dict[str, object] = {"header": groups_of(root.find("header"))}  # type: ignore[arg-type]
    for t in MSG_TYPES:
        result[t] = groups_of(msgs[t])
    data: dict[int, int] = {}
    for name, typ in types.items():
        if typ != "LENGTH" or name == "BodyLength":
            continue
        base = name[: -len("Length")] if name.endswith("Length") else name[: -len("Len")]
        if base in fields and types[base] == "DATA":
            data[fields[name]] = fields[base]
    result["data"] = dict(sorted(data.items()))
    return result


def render(xml_path: str) -> str:
    layout = _layout(ET.parse(xml_path).getroot())
    lines = [
        '"""FIX 4.4 group layouts and data fields, generated from QuickFIX\'s FIX44.xml by',
        "``tests/fix/gen_dictionary.py`` (do not edit by hand).",
        "",
        "``GROUPS[msg_type][count_tag] = (count_tag, delimiter_tag, member_tags, nested_groups)``;",
        "``GROUPS['header']`` holds the standard header's groups. ``DATA_FIELDS[length_tag] = data_tag``.",
        '"""',
        "",
        "from __future__ import annotations",
        "",
        "from typing import Any",
        "",
        "GROUPS: dict[str, dict[int, Any]] = {",
    ]
    for key, value in layout.items():
        if key == "data":
            continue
        lines.append(f"    {key!r}: {value!r},")
    lines.append("}")
    lines.append("")
    lines.append(f"DATA_FIELDS: dict[int, int] = {layout['data']!r}")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    path = sys.argv[1] if len(sys.argv) > 1 else default_xml()
    out = os.path.join(os.path.dirname(__file__), "..", "..", "boomnet", "fix", "_dict44.py")
    with open(out, "w") as f:
        f.write(render(path))
    print("wrote", os.path.normpath(out))
