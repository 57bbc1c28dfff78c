"""template.yaml for a release: each function's CodeUri is its zip under functions/<arch>/ and the architecture
is <arch>, so that `sam deploy --template-file` uploads the zips and compiles nothing.
Usage: release-template.py <arm64|x86_64> template.yaml > template-<arch>.yaml

Edited as text, not re-serialised: the template keeps its comments and CloudFormation's short tags."""

import re
import sys

arch, path = sys.argv[1], sys.argv[2]
lines = open(path).read().split("\n")

# The binary of each resource (its Metadata's BuildProperties: Binary), then where its Properties start.
resource = None
binaries = {}
properties_at = {}
for index, line in enumerate(lines):
    top = re.match(r"^  ([A-Za-z0-9]+):\s*$", line)
    if top:
        resource = top.group(1)
    binary = re.match(r"^        Binary: (\S+)\s*$", line)
    if binary and resource:
        binaries[resource] = binary.group(1)
    if line == "    Properties:" and resource:
        properties_at[resource] = index

missing = sorted(set(binaries) - set(properties_at))
if missing:
    sys.exit(f"release-template: no Properties for {missing}")
for resource in sorted(binaries, key=lambda r: properties_at[r], reverse=True):
    lines.insert(properties_at[resource] + 1, f"      CodeUri: functions/{arch}/{binaries[resource]}.zip")

text = "\n".join(lines)
if "    Architectures: [arm64]" not in text:
    sys.exit("release-template: Globals' Architectures: [arm64] not found")
text = text.replace("    Architectures: [arm64]", f"    Architectures: [{arch}]", 1)
sys.stdout.write(text)
