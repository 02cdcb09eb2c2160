"""The boards in boards/: find, load and check them by id or by path."""
import json
from pathlib import Path

from host.boards import pins, schema

BOARDS_DIR = Path(__file__).resolve().parents[2] / "boards"


def load_file(path):
    """Read, parse and pin-check one board file; ValueError names the file, field and reason."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except OSError as error:
        raise ValueError("board file %s: %s" % (path, error.strerror or error))
    except ValueError as error:
        raise ValueError("board file %s is not valid JSON: %s" % (path, error))
    board = schema.parse(data, "board file %s" % path.name)
    if board.id != path.stem:
        raise ValueError("board %s: field 'id' must match the file name %s" % (board.id, path.name))
    pins.check(board)
    return board


def board_ids(directory=BOARDS_DIR):
    """Ids of the board files in the directory, sorted."""
    return sorted(path.stem for path in Path(directory).glob("*.json"))


def load(name, directory=BOARDS_DIR):
    """A board by id (boards/<id>.json) or by path to a .json file."""
    if name.endswith(".json") or "/" in name:
        return load_file(name)
    path = Path(directory) / (name + ".json")
    if not path.exists():
        raise ValueError("no board %r (known: %s; or give a path to a board file)"
                         % (name, ", ".join(board_ids(directory))))
    return load_file(path)


def load_all(directory=BOARDS_DIR):
    """Every board file in the directory, checked."""
    return [load_file(Path(directory) / (board_id + ".json")) for board_id in board_ids(directory)]
