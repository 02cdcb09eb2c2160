"""What both benchmarks share: percentiles, the machine, writing results."""
import json
import os
import platform
import subprocess
import time
from pathlib import Path

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def percentile(ordered, fraction):
    """Nearest-rank percentile of an already sorted list (None if empty)."""
    if not ordered:
        return None
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def machine():
    """What the figures were measured on."""
    model = ""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "cpu_model": model,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "kernel": platform.release(),
        "load_average_at_start": [round(value, 2) for value in os.getloadavg()],
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def source_state(paths=("device", "host")):
    """The commit measured, and which files under paths differ from it (uncommitted work)."""
    root = Path(__file__).resolve().parent.parent

    def git(*args):
        try:
            done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return ""
        return done.stdout.rstrip() if done.returncode == 0 else ""

    changed = [line for line in git("status", "--porcelain", "--", *paths).split("\n") if line.strip()]
    return {"commit": git("rev-parse", "--short", "HEAD").strip() or None,
            "uncommitted_files": sorted(line[3:] for line in changed)}


def markdown_table(headers, rows):
    """A GitHub Markdown table; None cells print as a dash."""
    def cell(value):
        if value is None:
            return "-"
        if isinstance(value, float):
            return "%.3g" % value if abs(value) < 100 else "%.0f" % value
        return str(value)

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(value) for value in row) + " |" for row in rows]
    return "\n".join(lines)


def write_results(name, data, markdown):
    """Write results/<name>.json and results/<name>.md; return both paths."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    json_path = RESULTS_DIR / ("%s.json" % name)
    md_path = RESULTS_DIR / ("%s.md" % name)
    json_path.write_text(json.dumps(data, indent=2) + "\n")
    md_path.write_text(markdown.rstrip() + "\n")
    return json_path, md_path
