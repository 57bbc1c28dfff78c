"""docs/deploy.md's parameters table, from template.yaml (run by scripts/docs-parameters).

template.yaml uses CloudFormation's short tags (!Ref, !Sub, !If), so it is read with cfn-lint's loader,
pinned in requirements-dev.txt, rather than a plain YAML parser.
"""

import difflib
import sys
from pathlib import Path

from cfnlint.decode import cfn_yaml

TEMPLATE = Path("template.yaml")
DOC = Path("docs/deploy.md")
BEGIN = "<!-- parameters:begin -->"
END = "<!-- parameters:end -->"


def cell(text: str) -> str:
    """One table cell: one line, pipes escaped, no raw HTML (`<region>` would vanish on GitHub)."""
    text = " ".join(str(text).split())
    return text.replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


def code(value: str) -> str:
    """A value as inline code, fenced with more backticks than it holds."""
    value = " ".join(value.split())
    fence = "`"
    while fence in value:
        fence += "`"
    pad = " " if value.startswith("`") or value.endswith("`") else ""
    value = value.replace("|", "\\|")
    return f"{fence}{pad}{value}{pad}{fence}"


def default(parameter: dict) -> str:
    if "Default" not in parameter:
        return "required"
    value = parameter["Default"]
    if isinstance(value, bool):
        value = "true" if value else "false"
    value = str(value)
    return "empty" if value == "" else code(value)


def table() -> str:
    parameters = cfn_yaml.load(str(TEMPLATE)).get("Parameters", {})
    lines = [
        f"Generated from `template.yaml` by `scripts/docs-parameters`; `scripts/test` fails when it differs "
        f"({len(parameters)} parameters).",
        "",
        "| parameter | type | default | description |",
        "|---|---|---|---|",
    ]
    for name, parameter in parameters.items():
        lines.append(
            f"| `{name}` | {parameter.get('Type', '')} | {default(parameter)} | "
            f"{cell(parameter.get('Description', ''))} |"
        )
    return "\n".join(lines) + "\n"


def block(body: str) -> str:
    return f"{BEGIN}\n\n{body}\n{END}"


def current(doc: str) -> tuple[int, int]:
    start, end = doc.find(BEGIN), doc.find(END)
    if start < 0 or end < start:
        sys.exit(f"{DOC}: no {BEGIN} … {END} block")
    return start, end + len(END)


def main(args: list[str]) -> int:
    if args not in ([], ["--check"], ["--print"]):
        print("usage: scripts/docs-parameters [--check | --print]", file=sys.stderr)
        return 2
    body = table()
    if args == ["--print"]:
        sys.stdout.write(body)
        return 0
    doc = DOC.read_text()
    start, end = current(doc)
    wanted = block(body)
    if doc[start:end] == wanted:
        return 0
    if args == ["--check"]:
        sys.stdout.writelines(
            difflib.unified_diff(
                doc[start:end].splitlines(keepends=True),
                wanted.splitlines(keepends=True),
                f"{DOC} (as written)",
                f"{DOC} (from {TEMPLATE})",
            )
        )
        print(f"\n{DOC}'s parameters table differs from {TEMPLATE}: run scripts/docs-parameters", file=sys.stderr)
        return 1
    DOC.write_text(doc[:start] + wanted + doc[end:])
    print(f"{DOC}: parameters table written ({TEMPLATE})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
