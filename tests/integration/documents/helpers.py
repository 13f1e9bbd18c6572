import io
import os

from PIL import Image

from faxd.config import Config
from faxd.documents import DocumentPipeline


def make_pipeline(tmp_path, **settings):
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    config = Config.load(path=None, env={}, home=str(tmp_path / "home"), **settings)
    return DocumentPipeline(config, tmpdir=str(work)), work


def frames(tiff: bytes) -> list[Image.Image]:
    im = Image.open(io.BytesIO(tiff))
    out = []
    for i in range(im.n_frames):
        im.seek(i)
        out.append(im.convert("1").copy())
    return out


def child_processes() -> list[int]:
    """PIDs of live (non-zombie) children of this process."""
    me = str(os.getpid())
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[1] == me and fields[0] != "Z":
            out.append(int(pid))
    return out


def black_ratio(im: Image.Image, box=None) -> float:
    region = im.crop(box) if box else im
    hist = region.convert("L").histogram()
    return hist[0] / max(1, sum(hist))
