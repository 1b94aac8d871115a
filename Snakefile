# Synthetic planes by diffusion inpainting, for limited-data detection (see README.md).
#
# results/
#   index/       scene and object tables, split, summary.json         (rules/scenes.smk)
#   tiles/       crops/ background/ detect/{train,val,test}/ manifests (rules/tiles.smk)
#   bank/        SAM/GrabCut masks, Canny edges, contact sheet         (rules/bank.smk)
#   diffusion/   base, fine-tuned models, size classifier, cherry-picker (rules/diffusion.smk)
#   inpaint/     synthetic planes on background tiles, per set/chunk   (rules/inpaint.smk)
#   copy_paste/  the control: real bank planes pasted on background tiles (rules/copy_paste.smk)
#   datasets/    one YOLO dataset per experiment                       (rules/datasets.smk)
#   detect/      {arch}/{experiment}/seed{seed}/ trainings and metrics (rules/detect.smk)
#   selection/   sets taken from synthetic sets: combined, gated by a baseline detector (rules/selection.smk)
#   report/      AP tables and plots                                   (rules/report.smk)
# resources/     the generated demo scenes (demo/, the only folder a rule writes outside results/)
#
# Each rules/<stage>.smk loads its stage's params module (workflow/<stage>/params.py: the config
# keys its jobs read) and runs the stage's commands; the rule files are included in pipeline
# order, so that a rule names an earlier stage's files as `rules.<rule>.output.<name>`. The
# selected sets come after detection: the gate reads a baseline training, and the experiments
# drawing from a selected set train after it.
from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


include: "rules/validate.smk"
include: "rules/common.smk"
include: "rules/scenes.smk"
include: "rules/tiles.smk"
include: "rules/bank.smk"
include: "rules/diffusion.smk"
include: "rules/inpaint.smk"
include: "rules/copy_paste.smk"
include: "rules/datasets.smk"
include: "rules/detect.smk"
include: "rules/selection.smk"
include: "rules/report.smk"


rule all:
    default_target: True
    input:
        get_final_outputs(),
