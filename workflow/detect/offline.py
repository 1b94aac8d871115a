"""Ultralytics without the network and without writing beside other stages' files: call
`offline_environment` before importing ultralytics, `disable_label_cache` before it reads labels.
Every command that runs an ultralytics model does both (workflow.detect.train,
workflow.report.quality).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from workflow.core import io


def disable_label_cache() -> None:
    """Keep ultralytics from reading or writing `labels.cache` beside each label folder.

    Those folders belong to the tiling and inpainting stages (a cache written there would change
    their outputs after their rules finished), and trainings running side by side would write
    the same file. The labels are parsed anew by each training instead.
    """
    import ultralytics.data.dataset as dataset

    def no_cache(path):
        raise FileNotFoundError(f"label cache {path} is not used")

    def keep_in_memory(prefix, path, x, version):
        x["version"] = version  # what the labels loader expects of a cache, written or not

    dataset.load_dataset_cache_file = no_cache
    dataset.save_dataset_cache_file = keep_in_memory


def offline_environment(config_dir: str | os.PathLike) -> Path:
    """Point ultralytics at a local config folder with a font; call before importing it.

    Ultralytics downloads Arial.ttf into $YOLO_CONFIG_DIR/Ultralytics when it plots; no network
    here, so matplotlib's DejaVuSans.ttf is copied under that name (plots stay off anyway).
    """
    import matplotlib

    config_dir = Path(config_dir).resolve()
    os.environ["YOLO_OFFLINE"] = "1"
    os.environ["YOLO_CONFIG_DIR"] = str(config_dir)
    font = config_dir / "Ultralytics" / "Arial.ttf"
    if not font.exists():
        source = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
        if not source.exists():
            raise FileNotFoundError(f"no font to copy for ultralytics: {source} is missing")
        with io.atomic_path(font) as tmp:
            shutil.copyfile(source, tmp)
    return font
