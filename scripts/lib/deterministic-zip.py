"""A Lambda zip of one bootstrap binary that is the same bytes for the same binary: a fixed timestamp and mode,
no extra fields. Usage: deterministic-zip.py <bootstrap> <out.zip>"""

import sys
import zipfile

source, target = sys.argv[1], sys.argv[2]
entry = zipfile.ZipInfo("bootstrap", date_time=(1980, 1, 1, 0, 0, 0))
entry.external_attr = 0o100755 << 16
entry.create_system = 3
entry.compress_type = zipfile.ZIP_DEFLATED
with open(source, "rb") as binary, zipfile.ZipFile(target, "w") as archive:
    archive.writestr(entry, binary.read(), compresslevel=9)
