"""Print the shell command of a README code block marked `<!-- NAME -->` (the fenced block right
after the marker), so that CI runs the README's command word for word:

    python3 .ci/readme_command.py README.md test-command
"""

import re
import sys
from pathlib import Path


def marked_command(text: str, name: str) -> str:
    m = re.search(rf"<!-- {re.escape(name)} -->\s*\n```(?:bash|sh)?\n(.*?)\n```", text, re.S)
    if not m:
        raise SystemExit(f"readme_command: error: no code block after <!-- {name} -->")
    return m.group(1).strip()


if __name__ == "__main__":
    print(marked_command(Path(sys.argv[1]).read_text(encoding="utf-8"), sys.argv[2]))
