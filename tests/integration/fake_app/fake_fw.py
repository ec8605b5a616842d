"""Stand-in firmware: 1 KiB of bytes 0..255 repeated, as Intel HEX at the given base address."""

import sys

from intelhex import IntelHex

base, out = int(sys.argv[1], 0), sys.argv[2]
ih = IntelHex()
ih.puts(base, bytes(i % 256 for i in range(1024)))
ih.write_hex_file(out)
